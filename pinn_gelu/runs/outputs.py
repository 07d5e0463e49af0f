"""The output directories of ``reference`` and ``compare``: the contract of a run directory.

``pinn-gelu reference --out D`` and ``pinn-gelu compare --out D`` write into D under the rules
that :mod:`pinn_gelu.runs.rundir` sets for ``solve``:

- **ours or refuse**: D is new, empty, or holds an output of the same kind that we wrote (its
  marker file, ``reference.json`` or ``comparison.json``, read with a byte bound, carries our
  format tag). Anything else — a user's directory, a solve run (whose ``deformation.png`` a
  reference would replace), a comparison where a reference is asked for — is refused before any
  work, naming what is there;
- **--force** to replace an output of ours; without it, one line says how;
- a name we would write that exists and is not a regular file is refused before the work;
- **the lock**: :class:`~pinn_gelu.runs.rundir.RunLock` for the whole command, so two processes
  never write one directory (and a directory ``solve`` holds is refused);
- **staging and swap**: every file is written into a staging directory inside D, and moved over
  the old output only when all are written, the marker last; a failure on the way leaves the old
  output intact and no new file behind. Only the kind's own names are replaced or removed: a
  user's notes beside them stay.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pinn_gelu.errors import UsageError, printable
from pinn_gelu.runs.rundir import (
    MAX_METRICS_BYTES,
    RunLock,
    foreign_entries,
    make_staging,
    remove_staging,
    replace_run,
)

__all__ = ["COMPARISON", "REFERENCE", "OutputKind", "owned_by", "staged_output"]


@dataclass(frozen=True)
class OutputKind:
    """What one command writes into its output directory.

    Attributes:
        name: what the output is called in messages (``reference``, ``comparison``).
        files: every name it may write, the marker last (written last, so that a directory
            with a marker holds a whole output).
        format: the tag its marker carries under ``"format"``.
        legacy_key: a key that markers written before the tag existed all have.
    """

    name: str
    files: tuple[str, ...]
    format: str
    legacy_key: str

    @property
    def marker(self) -> str:
        """The file whose content says the directory holds this kind of output."""
        return self.files[-1]


REFERENCE = OutputKind(
    "reference",
    ("reference.npz", "reference.png", "deformation.png", "reference.json"),
    "pinn_gelu.reference/1",
    "relative_l2_vs_exact",
)
COMPARISON = OutputKind(
    "comparison",
    ("comparison.md", "comparison.png", "comparison.json"),
    "pinn_gelu.comparison/1",
    "summary",
)


def owned_by(directory: Path, kind: OutputKind) -> bool:
    """Whether ``directory`` holds an output of ``kind`` that we wrote (its marker, ≤ 1 MB)."""
    marker = directory / kind.marker
    if not marker.is_file() or marker.is_symlink():
        return False
    try:
        with marker.open("rb") as handle:
            raw = handle.read(MAX_METRICS_BYTES + 1)
        content = json.loads(raw) if len(raw) <= MAX_METRICS_BYTES else None
    except (OSError, ValueError, RecursionError):
        return False
    if not isinstance(content, dict):
        return False
    return content.get("format") == kind.format or (
        "format" not in content and kind.legacy_key in content
    )


def check_destination(directory: Path, kind: OutputKind, force: bool) -> None:
    """Refuse a directory this output must not be written into (see the module docstring)."""
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"--out {directory}: exists and is not a directory")
    for name in kind.files:
        path = directory / name
        if (path.exists() or path.is_symlink()) and not (path.is_file() and not path.is_symlink()):
            raise UsageError(
                f"--out {directory}: {name} exists and is not a regular file, so the "
                f"{kind.name} could not be written; move it away first"
            )
    found = foreign_entries(directory)
    if not found:
        return
    if not owned_by(directory, kind):
        raise UsageError(
            f"--out {directory}: not empty and holds no {kind.name} of pinn_gelu (it holds "
            f"{printable(found[0])!r}{' and more' if len(found) > 1 else ''}); choose a new "
            "or empty directory"
        )
    if not force:
        raise UsageError(
            f"--out {directory}: holds a {kind.name} already; use --force to replace it or "
            "--out for another directory"
        )


@contextmanager
def staged_output(directory: Path, kind: OutputKind, force: bool) -> Iterator[Path]:
    """Claim ``directory`` for an output of ``kind``; yield the staging directory to write in.

    The destination is checked before the lock is taken and again under it; on a normal exit
    the staged files replace the old output (marker last); on an exception nothing is replaced
    and the staging directory is removed.
    """
    check_destination(directory, kind, force)
    with RunLock(directory):
        check_destination(directory, kind, force)
        staging = make_staging(directory)
        try:
            yield staging
        except BaseException:
            remove_staging(staging)
            raise
        unexpected = sorted(p.name for p in staging.iterdir() if p.name not in kind.files)
        if unexpected:  # a writer and its kind disagree: a bug, kept out of the user's directory
            remove_staging(staging)
            raise RuntimeError(f"{kind.name} wrote files it does not declare: {unexpected}")
        try:
            replace_run(directory, staging, kind.files)
        finally:  # a swap cut short leaves the old marker (moved last) and no staging behind
            remove_staging(staging)
