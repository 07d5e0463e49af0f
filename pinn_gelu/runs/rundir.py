"""Run directories: which files are ours, the lock that one writer holds, and the safe swap.

A run directory belongs to the user as much as to us: it may hold their notes beside our outputs.
The rules that keep their data safe:

- only the names a run writes (:data:`pinn_gelu.runs.writers.RUN_FILES`) are ever replaced or
  removed, and only in a directory that already holds a run of ours (:func:`run_status`); a
  non-empty directory without one is refused;
- one process at a time writes a run directory: :class:`RunLock` holds an exclusive ``flock`` on
  ``.pinn-gelu.lock`` (with the owner's pid inside, for the message) for the whole solve; the
  kernel releases it when the process dies, so a lock file left by a killed run is stale and is
  taken over;
- ``--force`` writes the new run into a staging directory created by this process inside the run
  directory, and :func:`replace_run` moves it over the old run's files only once the new run has
  ended: a new run refused or killed on the way leaves the old one intact.

Temporary files of interrupted atomic writes (``.NAME.XXXX.tmp``) are never removed here: only the
process that created one removes it (:func:`~pinn_gelu.checkpoints.atomic_write` does, on failure).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from pinn_gelu.checkpoints import RESUMABLE_CHANGES, read_checkpoint, resume_conflicts
from pinn_gelu.errors import UsageError, one_line, printable

__all__ = [
    "LOCK_NAME",
    "STAGING_PREFIX",
    "RunLock",
    "foreign_entries",
    "make_staging",
    "remove_staging",
    "replace_run",
    "run_status",
]

#: Bytes of ``metrics.json`` read to find a run's status (a larger file is not ours).
MAX_METRICS_BYTES = 1_000_000
#: The lock file of a run directory.
LOCK_NAME = ".pinn-gelu.lock"
#: Prefix of the staging directories of ``--force`` runs.
STAGING_PREFIX = ".pinn-gelu-new-"
_STATUSES = ("completed", "failed", "interrupted")


def run_status(directory: str | Path) -> str | None:
    """Status of the run in a directory: completed, failed, interrupted; None if there is none.

    A checkpoint without readable metrics (a run killed before it could write them, or a
    ``metrics.json`` that is not what we write) counts as interrupted: it can be resumed.
    """
    directory = Path(directory)
    metrics = directory / "metrics.json"
    if metrics.is_file() and not metrics.is_symlink():
        try:  # at most a megabyte is read: ours are a few kilobytes, a larger one is not ours
            with metrics.open("rb") as handle:
                raw = handle.read(MAX_METRICS_BYTES + 1)
            content = json.loads(raw) if len(raw) <= MAX_METRICS_BYTES else None
        except (OSError, ValueError, RecursionError):
            content = None
        status = content.get("status") if isinstance(content, dict) else None
        if status in _STATUSES:
            return str(status)
    if (directory / "checkpoint.pt").is_file():
        return "interrupted"
    return None


def foreign_entries(directory: str | Path) -> list[str]:
    """Names in a directory other than our lock file and staging directories, sorted."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    return sorted(
        entry.name
        for entry in directory.iterdir()
        if entry.name != LOCK_NAME and not entry.name.startswith(STAGING_PREFIX)
    )


class RunLock:
    """An exclusive lock on a run directory, held from ``__enter__`` to ``__exit__``.

    Creates the directory (and missing parents) when needed, which also proves that it can be
    written before anything is computed; on exit removes the lock file, and the directories it
    created if they are still empty (a refused run leaves nothing behind).

    Raises:
        UsageError: another process holds the lock, or the directory cannot be written.
    """

    def __init__(self, directory: str | Path, option: str = "--out") -> None:
        self.directory = Path(directory)
        self.option = option
        self.created: list[Path] = []
        self._descriptor: int | None = None

    def __enter__(self) -> RunLock:
        self._make_directories()
        try:
            self._acquire()
        except BaseException:
            self._remove_created()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._descriptor is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.directory / LOCK_NAME)
            os.close(self._descriptor)  # closing releases the flock
            self._descriptor = None
        self._remove_created()

    def _make_directories(self) -> None:
        missing = []
        for path in (self.directory, *self.directory.parents):
            if path.exists() or path.is_symlink():
                break
            missing.append(path)
        for path in reversed(missing):
            try:
                path.mkdir()
            except FileExistsError:
                continue
            except OSError as err:
                self._remove_created()
                raise self._cannot_write(err) from None
            self.created.append(path)
        if not self.directory.is_dir():
            raise UsageError(f"{self.option} {self.directory}: exists and is not a directory")

    def _remove_created(self) -> None:
        for path in reversed(self.created):
            with contextlib.suppress(OSError):
                path.rmdir()  # only if still empty
        self.created = []

    def _cannot_write(self, err: OSError) -> UsageError:
        return UsageError(
            f"{self.option} {self.directory}: cannot write there ({err.strerror or err})"
        )

    def _acquire(self) -> None:
        path = self.directory / LOCK_NAME
        for _ in range(100):  # retried only when another process replaced the lock file
            try:
                descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
            except OSError as err:
                raise self._cannot_write(err) from None
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as err:
                owner = _read_pid(descriptor)
                os.close(descriptor)
                if err.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise self._cannot_write(err) from None
                who = f"pid {owner}" if owner else "another process"
                raise UsageError(
                    f"{self.option} {self.directory}: in use by another pinn-gelu process "
                    f"({who}, lock {LOCK_NAME}); wait for it to finish or choose another "
                    "directory"
                ) from None
            # the holder before us may have removed the file after we opened it: the lock must
            # be on the file that is at the path now
            try:
                same = os.fstat(descriptor).st_ino == os.stat(path).st_ino
            except OSError:
                same = False
            if same:
                os.ftruncate(descriptor, 0)
                os.write(descriptor, f"{os.getpid()}\n".encode())
                self._descriptor = descriptor
                return
            os.close(descriptor)
        raise UsageError(f"{self.option} {self.directory}: could not take the lock {LOCK_NAME}")


def _read_pid(descriptor: int) -> int | None:
    try:
        text = os.pread(descriptor, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() and len(text) < 12 else None


def make_staging(directory: str | Path) -> Path:
    """A new, empty staging directory inside ``directory``, created by this process."""
    return Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-", dir=directory))


def remove_staging(staging: Path) -> None:
    """Remove a staging directory made by :func:`make_staging` in this process."""
    if staging.name.startswith(STAGING_PREFIX):
        shutil.rmtree(staging, ignore_errors=True)


def replace_run(directory: str | Path, staging: Path, names: Sequence[str]) -> None:
    """Move the new run in ``staging`` over the old run in ``directory``.

    ``names`` are the files a run writes (:data:`pinn_gelu.runs.writers.RUN_FILES`, last the
    one that marks a run as complete). Those of them that the new run did not write (an old
    ``error.txt``, plots skipped this time) are removed first; every other name in the directory
    is left alone. Each file is replaced atomically, in the order of ``names``.
    """
    directory = Path(directory)
    for name in names:
        old = directory / name
        if not (staging / name).exists() and (old.is_file() or old.is_symlink()):
            old.unlink()
    for name in names:
        if (staging / name).exists():
            os.replace(staging / name, directory / name)
    remove_staging(staging)


def check_output(directory: Path, force: bool, names: Sequence[str] = ()) -> str | None:
    """Refuse an output directory that a new run must not write; its run status (None: none).

    ``names`` are the files the run will write there (:data:`pinn_gelu.runs.writers.RUN_FILES`):
    one that exists and is not a regular file (a directory named ``history.csv``) is refused
    now, not after the training. Writes nothing: called before the lock is taken and again
    under it.
    """
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"--out {directory}: exists and is not a directory")
    for name in names:
        path = directory / name
        if (path.exists() or path.is_symlink()) and not path.is_file():
            raise UsageError(
                f"--out {directory}: {name} exists and is not a regular file, so the run could "
                "not write it; move it away first"
            )
    status = run_status(directory)
    if status is None:
        found = foreign_entries(directory)
        if found:
            raise UsageError(
                f"--out {directory}: not empty and not a pinn_gelu run directory (it holds "
                f"{printable(found[0])!r}{' and more' if len(found) > 1 else ''}); choose a new "
                "or empty directory"
            )
        return None
    if not force:
        if status == "completed":
            raise UsageError(
                f"{directory} holds a finished run; use --force to overwrite it or --out for "
                "another directory"
            )
        raise UsageError(
            f"{directory} holds a {status} run; continue it with --resume {directory}, or start "
            "over with --force"
        )
    return status


def check_resumable(directory: Path, data: Mapping[str, Any]) -> Path:
    """The checkpoint of a stopped run that ``data`` (the problem as run now) may resume."""
    checkpoint = directory / "checkpoint.pt"
    if not checkpoint.is_file():
        raise UsageError(f"--resume {directory}: no checkpoint.pt there, nothing to resume")
    if run_status(directory) == "completed":
        raise UsageError(f"--resume {directory}: that run is already finished")
    try:
        stored = read_checkpoint(checkpoint)["problem"]
    except Exception as err:  # any unreadable checkpoint is a usage error, not a traceback
        raise UsageError(f"--resume {directory}: {one_line(err)}") from None
    if not isinstance(stored, dict):
        raise UsageError(f"--resume {directory}: checkpoint.pt: 'problem' is not a mapping")
    changed = resume_conflicts(stored, data)
    if changed:
        raise UsageError(
            f"--resume {directory}: the problem differs from the checkpoint's at "
            f"{printable(changed[0])} (only {', '.join(RESUMABLE_CHANGES)} may change)"
        )
    return checkpoint
