"""Derivative engines: how a network's Fields (:mod:`pinn_gelu.fields`) are computed.

:data:`ENGINES` lists them: ``autograd`` by nested reverse mode
(:func:`~pinn_gelu.derivatives.autograd.autograd_fields`, the reference, for any network),
``func`` by torch.func transforms (:func:`~pinn_gelu.derivatives.func.func_fields`, an
independent cross-check), ``forward`` by propagating derivatives forward through the model
(:func:`~pinn_gelu.derivatives.forward.forward_fields`: exact, and about twice as fast as nested
autograd eagerly, three times compiled). ``auto`` (the default) takes forward mode where the
model supports it. :func:`select_engine` picks one; it is the only place an engine is chosen.
"""

from __future__ import annotations

from torch import nn

from pinn_gelu.derivatives.autograd import autograd_fields
from pinn_gelu.derivatives.forward import forward_fields, forward_support
from pinn_gelu.derivatives.func import func_fields
from pinn_gelu.fields import Engine

__all__ = [
    "CHOICES",
    "ENGINES",
    "autograd_fields",
    "forward_fields",
    "func_fields",
    "select_engine",
]


#: The engines by ``training.derivatives`` name (``auto`` is a choice, not an engine).
ENGINES: dict[str, Engine] = {
    "forward": forward_fields,
    "autograd": autograd_fields,
    "func": func_fields,
}
_DESCRIPTIONS = {
    "forward": "forward mode (exact forward-propagated derivatives)",
    "autograd": "autograd (nested reverse mode)",
    "func": "torch.func (vmap of jacrev and hessian)",
}
#: The values ``training.derivatives`` accepts.
CHOICES = ("auto", *ENGINES)


def select_engine(model: nn.Module, choice: str) -> tuple[Engine, str]:
    """The engine for ``choice`` (one of :data:`CHOICES`) and a line saying which and why.

    ``auto`` takes forward mode when the model supports it (a library MLP, wrapped in a trial
    function that has a composition rule) and otherwise autograd, saying why: never a silent
    fallback.

    Raises:
        ValueError: for an unknown choice, or forward mode for a model that lacks it.
    """
    if choice not in CHOICES:
        raise ValueError(
            f"unknown derivatives choice {choice!r} (expected one of: {', '.join(CHOICES)})"
        )
    reason = forward_support(model)
    if choice == "auto":
        if reason is None:
            return forward_fields, f"{_DESCRIPTIONS['forward']}, chosen automatically"
        return autograd_fields, f"{_DESCRIPTIONS['autograd']}: no forward mode, {reason}"
    if choice == "forward" and reason is not None:
        raise ValueError(f"forward-mode derivatives are not available: {reason}")
    return ENGINES[choice], f"{_DESCRIPTIONS[choice]}, as configured"
