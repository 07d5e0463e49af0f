"""Checkpoints and atomic files: the resumable training state, the saved model, and their checks.

Two formats, both plain data and tensors, read with ``torch.load(..., weights_only=True)`` (a
checkpoint is data, never code):

- ``checkpoint.pt`` (:data:`CHECKPOINT_FORMAT`): the whole training state — parameters, the
  current phase and its optimiser's state, step counters, history, RNG state, elapsed time — and
  the problem data it was run with, so that a run resumes from it alone;
- ``model.pt`` (:data:`MODEL_FORMAT`): the trained model (weights and configuration) and the
  problem data, from which :func:`pinn_gelu.load_run` rebuilds the solution.

Both hold the state of the whole :class:`~pinn_gelu.model.model.Model` (keys ``network.…``, and
``unknowns.…`` where a problem has unknowns). Files of the previous formats, which held the bare
network's state, are read too: :func:`upgrade_state_dict` names their keys as the model does.

Every file is written by :func:`atomic_write` (temporary file in the same directory, fsync,
``os.replace``): a crash never leaves a half-written file, and the previous version stays intact
until the new one is complete.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import pickle
import stat
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

import torch
import yaml

__all__ = [
    "CHECKPOINT_FORMAT",
    "MODEL_FORMAT",
    "RESUMABLE_CHANGES",
    "atomic_write",
    "load_data",
    "plain_data",
    "read_checkpoint",
    "resume_conflicts",
    "upgrade_state_dict",
    "write_checkpoint",
]

CHECKPOINT_FORMAT = "pinn_gelu.checkpoint/3"
MODEL_FORMAT = "pinn_gelu.model/2"
#: Earlier formats that are still read (their state dicts hold the bare network's keys).
READABLE_FORMATS = {
    CHECKPOINT_FORMAT: (CHECKPOINT_FORMAT, "pinn_gelu.checkpoint/2"),
    MODEL_FORMAT: (MODEL_FORMAT, "pinn_gelu.model/1"),
}

#: Keys that may differ between a checkpoint's problem and the file it is resumed with: budgets
#: (the steps of any phase, ``training.*.steps``) and cadences, which do not change what has been
#: computed so far.
RESUMABLE_CHANGES = (
    "training.*.steps",
    "training.checkpoint_every",
    "training.on_nonfinite",
    "training.max_rollbacks",
    "validation.every",
    "validation.per_phase",
)


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], object]) -> None:
    """Write a file all at once: to a temporary file beside it, fsync, then ``os.replace``."""
    path = Path(path)
    descriptor, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(descriptor, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual mode
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def plain_data(value: Any) -> Any:
    """A deep copy as plain dicts, lists, strings and numbers (YAML round trip).

    Key order is kept: a parameter may refer to the ones before it.
    """
    return yaml.safe_load(yaml.safe_dump(value, sort_keys=False))


def write_checkpoint(path: str | Path, content: Mapping[str, Any]) -> None:
    """Write a training checkpoint atomically (``content`` from the trainer's state)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"format": CHECKPOINT_FORMAT, **content}
    atomic_write(path, lambda handle: torch.save(data, handle))


#: Largest checkpoint file read (a network at the default max_parameters is 400 MB in float64).
MAX_CHECKPOINT_BYTES = 4 * 2**30


def load_data(path: str | Path, expected_format: str) -> dict[str, Any]:
    """Read a file of ours with ``torch.load(weights_only=True)``, refusing anything else.

    Raises:
        ValueError: one line naming the file — not a regular file, too large, not readable by
            ``torch.load``, holding Python objects (refused by ``weights_only``, not loaded),
            or not of ``expected_format``.
    """
    refused = f"{path}: not a pinn_gelu checkpoint ({expected_format}), not loaded"
    try:
        info = os.stat(path)
    except OSError as err:
        raise ValueError(f"{path}: cannot read ({err.strerror or err})") from None
    if not stat.S_ISREG(info.st_mode):
        raise ValueError(f"{refused}: not a regular file")
    if info.st_size > MAX_CHECKPOINT_BYTES:
        raise ValueError(f"{refused}: larger than {MAX_CHECKPOINT_BYTES // 2**30} GiB")
    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        # torch's message advises weights_only=False, which would run the file's code: never
        raise ValueError(f"{refused}: it holds Python objects, not only tensors and data") from None
    except Exception as err:  # a truncated or foreign file: zip, EOF, runtime errors
        lines = str(err).strip().splitlines()
        reason = (lines[0] if lines else type(err).__name__)[:120]
        raise ValueError(f"{refused}: {reason!r}") from None
    readable = READABLE_FORMATS.get(expected_format, (expected_format,))
    if not isinstance(content, dict) or content.get("format") not in readable:
        found = content.get("format") if isinstance(content, dict) else type(content).__name__
        raise ValueError(f"{refused}: format {str(found)[:60]!r}")
    return content


def upgrade_state_dict(state: Mapping[str, Any]) -> dict[str, Any]:
    """A state dict of the model: a bare network's keys (earlier formats) become ``network.…``.

    >>> list(upgrade_state_dict({"output.bias": 0}))
    ['network.output.bias']
    >>> list(upgrade_state_dict({"network.output.bias": 0}))
    ['network.output.bias']
    """
    if any(str(key).startswith(("network.", "trial.", "unknowns.")) for key in state):
        return dict(state)
    return {f"network.{key}": value for key, value in state.items()}


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a training checkpoint safely (``weights_only=True``) and check its format."""
    return load_data(path, CHECKPOINT_FORMAT)


def resume_conflicts(stored: Any, current: Any) -> list[str]:
    """Key paths where a problem's data differs from a checkpoint's, beyond the resumable ones.

    Empty: the run can be resumed with ``current`` (see :data:`RESUMABLE_CHANGES`).
    """
    return [
        key
        for key in _differences(plain_data(current), plain_data(stored))
        if not any(fnmatch.fnmatchcase(key, allowed) for allowed in RESUMABLE_CHANGES)
    ]


def _differences(a: Any, b: Any, key: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        found = []
        for name in dict.fromkeys([*a, *b]):
            child = f"{key}.{name}" if key else str(name)
            found += _differences(a.get(name), b.get(name), child)
        return found
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [
            d
            for i, (x, y) in enumerate(zip(a, b, strict=True))
            for d in _differences(x, y, f"{key}[{i}]")
        ]
    return [] if a == b else [key]
