"""Execute the notebooks in place and stamp each code cell with the hash of its source.

    python notebooks/execute.py                 # every notebook here
    python notebooks/execute.py notebooks/03_poisson_pinn.ipynb

The stored outputs are then exactly those of the stored code: each code cell records the
SHA-256 of the source it was executed from (``metadata.pinn_gelu.source_sha256``), and the test
suite fails if a stored cell's source no longer matches its stamp (a cell edited after its
outputs were made) or if the cells were not run top to bottom.
"""

from __future__ import annotations

import hashlib
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
TIMEOUT_S = 900


def source_hash(source: str) -> str:
    """SHA-256 of a cell's source, the stamp stored with its outputs."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


def execute(path: Path, *, stamp: bool = True) -> nbformat.NotebookNode:
    """Run a notebook top to bottom in its own folder; stamp and save it when ``stamp``."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    if stamp:
        for cell in notebook.cells:
            if cell.cell_type == "code":
                cell.metadata.setdefault("pinn_gelu", {})["source_sha256"] = source_hash(
                    cell.source
                )
        nbformat.write(notebook, path)
    return notebook


def main() -> None:
    """Execute and stamp the notebooks named on the command line, or all of them."""
    paths = [Path(p) for p in sys.argv[1:]] or sorted(HERE.glob("[0-9][0-9]_*.ipynb"))
    for path in paths:
        started = time.perf_counter()
        execute(path)
        print(f"{path.name}: executed and stamped in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
