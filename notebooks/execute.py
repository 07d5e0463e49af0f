"""Execute the notebooks in place and stamp them with the code their outputs came from.

    python notebooks/execute.py                 # every notebook here (after any library change)
    python notebooks/execute.py notebooks/03_poisson_pinn.ipynb

The stored outputs are then exactly those of the stored code and of the library beside it: each
code cell records the SHA-256 of the source it was executed from
(``metadata.pinn_gelu.source_sha256``) and the notebook the SHA-256 of the library's source and
the shipped problem files (``metadata.pinn_gelu.library_sha256``, :func:`library_hash`). The
kernels import the library of this checkout (its root is put first on PYTHONPATH). The test
suite fails if a cell's source no longer matches its stamp, if the library or a problem file
changed since the notebook ran, or if the cells were not run top to bottom.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TIMEOUT_S = 900
#: The one line that re-executes every notebook, quoted by the staleness test.
COMMAND = "python notebooks/execute.py"


def source_hash(source: str) -> str:
    """SHA-256 of a cell's source, the stamp stored with its outputs."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


def library_files() -> list[Path]:
    """What a notebook's outputs depend on besides its cells: pinn_gelu/**/*.py, problems/*.yaml."""
    return sorted([*(ROOT / "pinn_gelu").rglob("*.py"), *(ROOT / "problems").glob("*.yaml")])


def library_hash() -> str:
    """SHA-256 over the relative path and bytes of every file of :func:`library_files`."""
    digest = hashlib.sha256()
    for path in library_files():
        digest.update(path.relative_to(ROOT).as_posix().encode("utf-8") + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def execute(path: Path, *, stamp: bool = True) -> nbformat.NotebookNode:
    """Run a notebook top to bottom in its own folder; stamp and save it when ``stamp``."""
    paths = [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    os.environ["PYTHONPATH"] = os.pathsep.join(paths)  # the kernel inherits it
    library = library_hash()
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    if stamp:
        if library_hash() != library:
            raise RuntimeError(f"{path.name}: the library changed while it ran; run it again")
        notebook.metadata.setdefault("pinn_gelu", {})["library_sha256"] = library
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
