"""Notebooks are committed without outputs. `--check` fails (listing them) if any cell has
outputs or an execution count; without it, strips them in place.

    python notebooks/strip_outputs.py [--check] notebooks/*.ipynb
"""

import sys

import nbformat


def main():
    args = sys.argv[1:]
    check = "--check" in args
    paths = [a for a in args if a != "--check"]
    dirty = []
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        changed = False
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            if cell.get("outputs") or cell.get("execution_count") is not None:
                changed = True
                cell.outputs = []
                cell.execution_count = None
        if changed:
            dirty.append(path)
            if not check:
                nbformat.write(nb, path)
    if check and dirty:
        sys.exit(
            "notebooks with outputs (strip them: python notebooks/strip_outputs.py "
            + " ".join(dirty)
            + ")"
        )
    print(f"notebooks: {len(paths)} checked, {len(dirty)} {'with outputs' if check else 'stripped'}")


if __name__ == "__main__":
    main()
