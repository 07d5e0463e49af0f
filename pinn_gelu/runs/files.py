"""Writing one output file: atomically, as PNG, text or JSON (no NaN: JSON has none)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pinn_gelu.checkpoints import atomic_write

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["json_safe", "save_figure", "write_json", "write_text"]


def save_figure(path: str | Path, figure: Figure) -> None:
    """Atomically write a figure as PNG."""
    atomic_write(path, lambda handle: figure.savefig(handle, format="png", dpi=110))


def write_text(path: str | Path, text: str) -> None:
    """Atomically write UTF-8 text."""
    atomic_write(path, lambda handle: handle.write(text.encode("utf-8")))


def write_json(path: str | Path, content: Any) -> None:
    """Atomically write indented JSON, non-finite numbers as null."""
    write_text(path, json.dumps(json_safe(content), indent=2) + "\n")


def json_safe(value: Any) -> Any:
    """Non-finite floats become null: JSON has no NaN or Infinity."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value
