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

from torch import Tensor, nn

__all__ = ["Affine", "Identity", "Trial"]

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
