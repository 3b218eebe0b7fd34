//! Writing result files: deterministic number formatting, CSV encoding and atomic writes.
//!
//! Every result file is written whole to a temporary file in the same directory, flushed to
//! disk (`fsync`) and renamed over its final name, so a reader (or a resumed sweep) sees either
//! the previous file or the complete new one, never a partial file. Temporary names start with
//! `.` and end with `.tmp`; a crash can leave one behind, which nothing reads.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Formats a float the same way on every machine: Rust's shortest representation that reads
/// back to the same value (`0.1`, `12.5`, `3`), switching to exponent form (`1.5e-7`, `2e20`)
/// below 1e-6 and from 1e16 on; `NaN`, `inf` and `-inf` for the non-finite values (pandas reads
/// all of these).
pub fn fmt_f64(x: f64) -> String {
    if x.is_nan() {
        return "NaN".to_owned();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    if x == 0.0 {
        return "0".to_owned();
    }
    let a = x.abs();
    if !(1e-6..1e16).contains(&a) {
        format!("{x:e}")
    } else {
        format!("{x}")
    }
}

/// Encodes a CSV file: a header and rows, comma-separated, `\n` line ends, fields quoted only
/// when needed.
pub fn csv_bytes<S: AsRef<str>>(header: &[S], rows: &[Vec<String>]) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    // Writing to a Vec cannot fail.
    w.write_record(header.iter().map(|s| s.as_ref()))
        .expect("write to memory");
    for r in rows {
        w.write_record(r).expect("write to memory");
    }
    w.into_inner().expect("flush to memory")
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to `path` atomically (temporary file, fsync, rename, directory fsync).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_with(path, |w| w.write_all(bytes))
}

/// Writes to `path` atomically what `fill` writes. If `fill` fails, the temporary file is
/// removed and `path` is left as it was.
pub fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
    // Unique among processes (pid), threads (counter) and hosts sharing a file system (the
    // clock's nanoseconds).
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let tmp = dir.join(format!(
        ".{}.{}-{}-{nanos}.tmp",
        name.to_string_lossy(),
        std::process::id(),
        TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut f = File::create(&tmp)?;
        {
            let mut buf = io::BufWriter::new(&mut f);
            fill(&mut buf)?;
            buf.flush()?;
        }
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    // Make the rename itself durable. Opening a directory for fsync works on Unix; elsewhere
    // it may fail, which is harmless.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_format_the_same_everywhere() {
        assert_eq!(fmt_f64(3.0), "3");
        assert_eq!(fmt_f64(0.1), "0.1");
        assert_eq!(fmt_f64(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(fmt_f64(12.5), "12.5");
        assert_eq!(fmt_f64(-0.0), "0");
        assert_eq!(fmt_f64(1.5e-7), "1.5e-7");
        assert_eq!(fmt_f64(2e20), "2e20");
        assert_eq!(fmt_f64(123456.789), "123456.789");
        assert_eq!(fmt_f64(f64::NAN), "NaN");
        assert_eq!(fmt_f64(f64::NEG_INFINITY), "-inf");
        // Reads back exactly.
        for x in [0.1, 1.0 / 3.0, 1e-9, 6.02e23, 1e16, 9.999e15] {
            assert_eq!(fmt_f64(x).parse::<f64>().unwrap(), x);
        }
    }

    #[test]
    fn csv_quotes_only_when_needed() {
        let b = csv_bytes(&["a", "b"], &[vec!["1".into(), "x,y".into()]]);
        assert_eq!(String::from_utf8(b).unwrap(), "a,b\n1,\"x,y\"\n");
    }

    #[test]
    fn atomic_write_leaves_no_partial_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("summary.csv");
        // A write that fails half-way leaves neither the target nor a temporary file.
        let err = write_atomic_with(&path, |w| {
            w.write_all(b"run_id,seed\n")?;
            Err(io::Error::other("disk full"))
        });
        assert!(err.is_err());
        assert!(!path.exists());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
        // A failed rewrite keeps the previous complete file.
        write_atomic(&path, b"old\n").unwrap();
        let _ = write_atomic_with(&path, |w| {
            w.write_all(b"new but cut")?;
            Err(io::Error::other("killed"))
        });
        assert_eq!(fs::read(&path).unwrap(), b"old\n");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        write_atomic(&path, b"new\n").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new\n");
    }
}
