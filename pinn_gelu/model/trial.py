"""Trial functions: what wraps the network, u(x) = g(x) + φ(x) ⊙ N(x).

The network N is what trains; the trial function is how its outputs become the solution. The
identity (g = 0, φ = 1) is the plain PINN. An :class:`Affine` trial with g a smooth extension of
boundary values and φ a function that vanishes on those boundaries imposes the values exactly
(Lagaris et al. 1998; Sukumar & Srivastava 2022, "Exact imposition of boundary conditions with
distance functions in physics-informed deep neural networks", CMAME 389:114333).

g and φ are functions of the coordinates only: their derivatives are exact (nested autograd on
x) and do not depend on the trainable parameters, so the derivative engines compose them with
the network's by the Leibniz rule (:mod:`pinn_gelu.derivatives.compose`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

__all__ = ["Affine", "Identity", "Positive", "Trial"]

#: A function of the points (n, d) → (n, m), differentiable in x.
PointFunction = Callable[[Tensor], Tensor]


class Trial(nn.Module):
    """u = trial(x, N(x)): see the module docstring. Subclasses define :meth:`forward`."""

    #: The name in :data:`TRIALS`.
    name = ""

    def forward(self, x: Tensor, network_value: Tensor) -> Tensor:
        """U at points x (n, d) from the network's outputs there (n, m) → (n, m)."""
        raise NotImplementedError


class Identity(Trial):
    """u = N(x): the plain PINN, whose boundary conditions are loss terms."""

    name = "identity"

    def forward(self, x: Tensor, network_value: Tensor) -> Tensor:
        """The value u = N."""
        return network_value


class Affine(Trial):
    """u = g(x) + φ(x) ⊙ N(x), per output, with g and φ smooth functions of the points.

    Args:
        offset: g, (n, d) → (n, m); None for g = 0.
        factor: φ, (n, d) → (n, m).
    """

    name = "affine"

    def __init__(self, factor: PointFunction, offset: PointFunction | None = None) -> None:
        super().__init__()
        self.factor = factor
        self.offset = offset

    def forward(self, x: Tensor, network_value: Tensor) -> Tensor:
        """The value u = g + φ ⊙ N."""
        u = self.factor(x) * network_value
        return u if self.offset is None else u + self.offset(x)


class Positive(Trial):
    """u_k = exp(N_k) for the chosen outputs k, u_k = N_k for the others.

    A coefficient field identified from data (a(x) in −∇·(a∇u) = f) that must stay positive is
    carried by its logarithm, as a positive unknown constant is (:mod:`pinn_gelu.model.unknowns`):
    smooth, never clamped, and with every derivative of a given by Faà di Bruno's formula from
    those of N (:func:`pinn_gelu.derivatives.compose.exponentiate`).

    Args:
        columns: the output columns that are positive.
    """

    name = "positive"

    def __init__(self, columns: tuple[int, ...]) -> None:
        super().__init__()
        self.columns = tuple(columns)

    def forward(self, x: Tensor, network_value: Tensor) -> Tensor:
        """The value: exp of the chosen columns (the others are not exponentiated at all)."""
        parts = [
            network_value[:, k : k + 1].exp() if k in self.columns else network_value[:, k : k + 1]
            for k in range(network_value.shape[1])
        ]
        return torch.cat(parts, 1)
