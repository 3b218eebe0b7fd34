//! The memory budget per node documented in docs/architecture.md ("Memory per node", measured
//! with `wakusim bench memory` at 10,000 nodes) must still hold: the same settings at 200
//! nodes give the per-node structures' figures within the stated tolerance. Run-wide rows
//! (`experiments::scale::RUN_WIDE_ROWS`: the event queue, in-flight records and so on, whose
//! share per node depends on the node count) are not held to it.

use experiments::scale::{RUN_WIDE_ROWS, memory};

/// A row may differ from its documented figure by this fraction or by [`TOLERANCE_BYTES`],
/// whichever is larger: vectors grow by doubling, so a row's capacity at 200 nodes can sit a
/// step below its mean at 10,000 (the IDONTWANT list: 1,016 against 1,312 bytes).
const TOLERANCE: f64 = 0.25;
/// See [`TOLERANCE`]: the smallest rows move by a few capacity steps of a few bytes.
const TOLERANCE_BYTES: f64 = 256.0;
/// The per-node rows together may differ from their documented sum by this fraction.
const TOLERANCE_SUM: f64 = 0.10;

/// The documented table: (structure, bytes per node).
fn documented() -> Vec<(String, f64)> {
    let doc = include_str!("../../docs/architecture.md");
    let start = doc
        .find("<!-- memory-budget -->")
        .expect("docs/architecture.md has the memory budget table");
    let end = doc[start..]
        .find("<!-- /memory-budget -->")
        .expect("the table's end marker")
        + start;
    doc[start..end]
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            // | name | bytes | items |
            // The sum and the measured peak below the rows are not structures.
            if cells.get(1)?.starts_with("**") || cells[1].starts_with("measured") {
                return None;
            }
            let bytes = cells.get(2)?.parse::<f64>().ok()?;
            Some((cells[1].to_owned(), bytes))
        })
        .collect()
}

#[test]
fn documented_memory_budget_per_node_holds() {
    let doc = documented();
    assert!(doc.len() >= 20, "the table lists every structure: {doc:?}");
    let r = memory(200, 60, 1).expect("relay-10k at 200 nodes runs");
    let (mut doc_sum, mut now_sum) = (0.0, 0.0);
    for row in &r.rows {
        let Some((_, want)) = doc.iter().find(|(n, _)| *n == row.name) else {
            panic!(
                "`{}` is not in docs/architecture.md's memory table: add its row (wakusim bench memory)",
                row.name
            );
        };
        if RUN_WIDE_ROWS.contains(&row.name.as_str()) {
            continue;
        }
        let got = row.bytes_per_node;
        let allowed = (want * TOLERANCE).max(TOLERANCE_BYTES);
        assert!(
            (got - want).abs() <= allowed,
            "`{}`: {got:.0} bytes per node, documented {want:.0} (tolerance {allowed:.0}): \
             refresh the table in docs/architecture.md with `wakusim bench memory`",
            row.name
        );
        doc_sum += want;
        now_sum += got;
    }
    for (name, _) in &doc {
        assert!(
            r.rows.iter().any(|row| row.name == *name),
            "docs/architecture.md lists `{name}`, which the budget no longer has"
        );
    }
    assert!(
        (now_sum - doc_sum).abs() <= doc_sum * TOLERANCE_SUM,
        "per-node structures: {now_sum:.0} bytes per node, documented {doc_sum:.0}"
    );
}
