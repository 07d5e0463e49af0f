"""What PDE residuals are built from: network outputs and their input derivatives at points.

A leaf module: the derivative engines (:mod:`pinn_gelu.derivatives`,
:mod:`pinn_gelu.forward_mode`) and the PDE kinds import it; it imports nothing of ours.

A PDE term states what it needs, one of :data:`NEEDS` in increasing cost:

- ``value``: u (N, m)
- ``gradient``: u and its Jacobian ∂u_k/∂x_i, (N, m, d)
- ``laplacian``: u, the Jacobian and Δu_k, (N, m)
- ``hessian``: u, the Jacobian, the Hessians ∂²u_k/∂x_i∂x_j, (N, m, d, d), and their traces
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor, nn

__all__ = ["NEEDS", "Engine", "Fields", "need_rank"]

#: What a term can need, cheapest first.
NEEDS = ("value", "gradient", "laplacian", "hessian")


def need_rank(need: str) -> int:
    """Position of a need in :data:`NEEDS` (a hessian includes a laplacian, and so on)."""
    return NEEDS.index(need)


@dataclass
class Fields:
    """Network outputs and derivatives at N points in d dimensions, m output fields."""

    value: Tensor
    gradient: Tensor | None = None
    laplacian: Tensor | None = None
    hessian: Tensor | None = None

    def require_gradient(self) -> Tensor:
        """The Jacobian (N, m, d); an error if it was not computed."""
        if self.gradient is None:
            raise RuntimeError("gradient was not computed: the term must declare need='gradient'")
        return self.gradient

    def require_laplacian(self) -> Tensor:
        """Δu per output (N, m); an error if it was not computed."""
        if self.laplacian is None:
            raise RuntimeError("laplacian was not computed: the term must need 'laplacian'")
        return self.laplacian

    def require_hessian(self) -> Tensor:
        """Hessians (N, m, d, d); an error if they were not computed."""
        if self.hessian is None:
            raise RuntimeError("hessian was not computed: the term must declare need='hessian'")
        return self.hessian


#: An engine computes Fields: (network, points (N, d), need) → Fields.
Engine = Callable[[nn.Module, Tensor, str], Fields]
