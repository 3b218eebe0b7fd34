"""Executes notebooks headless (what CI does), failing on the first cell that raises.

    WAKUSIM_RUN=DIR WAKUSIM_SWEEP=DIR python notebooks/execute.py OUTDIR notebooks/*.ipynb

The executed copies, with outputs, go to OUTDIR; the committed notebooks stay clean.
"""

import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for path in map(Path, sys.argv[2:]):
        nb = nbformat.read(path, as_version=4)
        NotebookClient(
            nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
        ).execute()
        nbformat.write(nb, out / path.name)
        print(f"notebooks: {path} executed -> {out / path.name}")


if __name__ == "__main__":
    main()
