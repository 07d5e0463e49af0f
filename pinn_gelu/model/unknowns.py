"""Unknown constants of an inverse problem: named scalars trained with the network.

Each unknown λ is stored as a raw trainable number θ and read through a smooth map λ = g(θ), so
that a constraint holds by construction, never by clamping (a clamped parameter has a zero
gradient on the wrong side of its bound and stops moving):

- ``free``: λ = s·θ;
- ``positive``: λ = s·exp(θ) (λ > 0 for every θ);
- ``bounds`` [a, b]: λ = a + (b − a)·σ(θ), σ the logistic function (a < λ < b).

The scale s (default: |initial value|, or 1 for an initial value of 0) makes θ of order one for
any magnitude of λ, so that a modulus of 7.8e8 and a ratio of 0.3 train alike under the same
optimiser (the raw θ starts at 1, 0 and logit((λ₀ − a)/(b − a)) respectively). The chain rule
factor dλ/dθ is :meth:`Unknown.slope` (used by the Gauss–Newton Jacobian's columns).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import Tensor, nn

__all__ = ["TRANSFORMS", "Unknown", "build_unknowns", "unknown_values"]


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


@dataclass(frozen=True)
class Transform:
    """λ = forward(θ, unknown), θ₀ = start(unknown), and the constraint in words."""

    forward: Callable[[Tensor, Unknown], Tensor]
    start: Callable[[Unknown], float]
    words: str


#: The maps from the raw trainable number θ to the unknown's value λ, by name.
TRANSFORMS: Mapping[str, Transform] = {
    "free": Transform(lambda t, u: u.scale * t, lambda u: u.initial / u.scale, "any real value"),
    "positive": Transform(
        lambda t, u: u.scale * torch.exp(t), lambda u: math.log(u.initial / u.scale), "λ > 0"
    ),
    "bounds": Transform(
        lambda t, u: u.lower + (u.upper - u.lower) * torch.sigmoid(t),
        lambda u: _logit((u.initial - u.lower) / (u.upper - u.lower)),
        "a < λ < b",
    ),
}


@dataclass(frozen=True, kw_only=True)
class Unknown:
    """One unknown constant, as declared in a problem file's ``unknowns:`` section.

    Attributes:
        name: its name in expressions.
        initial: the value training starts from.
        transform: a key of :data:`TRANSFORMS`.
        scale: s of the ``free`` and ``positive`` maps.
        lower, upper: the open interval of ``bounds`` (±inf otherwise).
        truth: the true value, when known (benchmarks, tests): reported, never used to train.
    """

    name: str
    initial: float
    transform: str = "free"
    scale: float = 1.0
    lower: float = -math.inf
    upper: float = math.inf
    truth: float | None = None

    def value(self, raw: Tensor) -> Tensor:
        """λ = g(θ)."""
        return TRANSFORMS[self.transform].forward(raw, self)

    def start(self) -> float:
        """θ₀ with g(θ₀) = the initial value."""
        return TRANSFORMS[self.transform].start(self)

    def slope(self, raw: Tensor) -> Tensor:
        """dλ/dθ at θ."""
        with torch.enable_grad():
            theta = raw.detach().clone().requires_grad_(True)
            (slope,) = torch.autograd.grad(self.value(theta), theta)
        return slope


def build_unknowns(
    unknowns: Mapping[str, Unknown], dtype: torch.dtype, device: torch.device | str = "cpu"
) -> dict[str, nn.Parameter]:
    """The raw trainable numbers θ₀ of the declared unknowns, by name."""
    return {
        name: nn.Parameter(torch.tensor(u.start(), dtype=dtype, device=device))
        for name, u in unknowns.items()
    }


def unknown_values(raw: Mapping[str, Tensor], unknowns: Mapping[str, Unknown]) -> dict[str, Tensor]:
    """λ = g(θ) of every unknown (0-dimensional tensors, with the graph to θ)."""
    return {name: unknowns[name].value(raw[name]) for name in unknowns}
