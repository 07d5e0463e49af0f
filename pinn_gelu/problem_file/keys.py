"""The keys of a problem file: the registries their choices come from, and the key reference.

``problems/README.md`` holds :func:`key_reference` verbatim (a test checks it), so the reference
and the code cannot drift apart: ``python -m pinn_gelu.problem_file.keys`` prints it.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from typing import Any

from pinn_gelu.config import (
    AdaptiveConfig,
    CausalConfig,
    NetworkConfig,
    PointsConfig,
    TrainingConfig,
    ValidationConfig,
)
from pinn_gelu.derivatives import CHOICES as DERIVATIVE_CHOICES
from pinn_gelu.geometry import SAMPLERS
from pinn_gelu.model.networks import INITIALISERS
from pinn_gelu.optimisers import OPTIMISERS
from pinn_gelu.training.adaptive import ADAPTIVE

__all__ = ["REGISTRIES", "key_reference", "sections"]

#: The registries that config fields name (``registry=`` and ``sections=`` in their metadata).
REGISTRIES: Mapping[str, Mapping[str, Any]] = {
    "initialisers": INITIALISERS,
    "samplers": dict.fromkeys(SAMPLERS),
    "derivatives": dict.fromkeys(DERIVATIVE_CHOICES),
    "optimisers": OPTIMISERS,
    "adaptive": ADAPTIVE,
}


def sections() -> dict[str, type]:
    """The sections of a problem file that are config dataclasses, by key path.

    Each registered optimiser's section is one of them, read from :data:`OPTIMISERS` when
    called, so that an optimiser registered later is documented too.
    """
    return {
        "network": NetworkConfig,
        "training": TrainingConfig,
        "training.points": PointsConfig,
        "training.causal": CausalConfig,
        "training.adaptive": AdaptiveConfig,
        **{f"training.{name}": optimiser.Config for name, optimiser in OPTIMISERS.items()},
        "validation": ValidationConfig,
    }


def key_reference() -> str:
    """The Markdown table of every configurable key: type, default, bound, meaning."""
    rows = ["| key | type | default | bound | meaning |", "|---|---|---|---|---|"]
    for prefix, cls in sections().items():
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            hint = hints[f.name]
            meta = f.metadata
            if "sections" in meta or (dataclasses.is_dataclass(hint) and "parse" not in meta):
                continue
            factory = f.default_factory
            default = factory() if callable(factory) else f.default
            if isinstance(default, tuple):
                default = list(default)
            if "parse" in meta:  # a value parsed from its text: show the text
                default, hint = str(default), str
            choices = tuple(REGISTRIES[meta["registry"]]) if "registry" in meta else None
            choices = choices or meta.get("choices")
            if choices:
                bound = " \\| ".join(choices)
            elif "limit" in meta:
                bound = f"≥ {meta.get('min', 0)}, ≤ limit {meta['limit']}"
            else:
                low = (
                    f"> {meta['min_exclusive']:g}"
                    if "min_exclusive" in meta
                    else f"≥ {_number_text(meta['min'])}"
                    if "min" in meta
                    else ""
                )
                high = f"≤ {_number_text(meta['max'])}" if "max" in meta else ""
                bound = ", ".join(b for b in (low, high) if b)
            type_name = getattr(hint, "__name__", str(hint)).replace("dict", "mapping")
            type_name = "list" if typing.get_origin(hint) is tuple else type_name
            doc = meta["doc"].replace("|", "\\|")
            rows.append(f"| `{prefix}.{f.name}` | {type_name} | `{default!r}` | {bound} | {doc} |")
    return "\n".join(rows)


def _number_text(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"


if __name__ == "__main__":  # the table for problems/README.md
    print(key_reference())
