"""What PDE residuals are built from: network outputs and their input derivatives at points.

A leaf module: the derivative engines (:mod:`pinn_gelu.derivatives`,
:mod:`pinn_gelu.derivatives.forward`) and the PDE kinds import it; it imports nothing of ours.

A PDE term states what it needs, one of :data:`NEEDS` in increasing cost:

- ``value``: u (N, m)
- ``gradient``: u and its Jacobian ∂u_k/∂x_i, (N, m, d)
- ``laplacian``: u, the Jacobian and Δu_k, (N, m)
- ``hessian``: u, the Jacobian, the Hessians ∂²u_k/∂x_i∂x_j, (N, m, d, d), and their traces
- ``third``: all of the above and the distinct third derivatives ∂³u_k/∂x_i∂x_j∂x_l, i ≤ j ≤ l,
  (N, m, P₃) in the order of :func:`multi_indices` (P₃ = d(d+1)(d+2)/6)
- ``fourth``: all of the above and the distinct fourth derivatives, (N, m, P₄)

A derivative is named by its *multi-index*: the sorted tuple of the variables' columns it
differentiates in, so ∂³u/∂x∂y∂x is ``(0, 0, 1)`` and u itself is ``()``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from itertools import combinations, combinations_with_replacement

from torch import Tensor, nn

__all__ = [
    "MAX_ORDER",
    "NEEDS",
    "Engine",
    "Fields",
    "multi_indices",
    "need_for",
    "need_rank",
    "set_partitions",
]

#: What a term can need, cheapest first.
NEEDS = ("value", "gradient", "laplacian", "hessian", "third", "fourth")
#: The highest derivative order any engine computes.
MAX_ORDER = 4


def need_rank(need: str) -> int:
    """Position of a need in :data:`NEEDS` (a hessian includes a laplacian, and so on)."""
    return NEEDS.index(need)


def need_for(order: int) -> str:
    """The cheapest need that holds every derivative of ``order`` (0 to 4).

    >>> [need_for(k) for k in range(5)]
    ['value', 'gradient', 'hessian', 'third', 'fourth']
    """
    if not 0 <= order <= MAX_ORDER:
        raise ValueError(f"derivative order must be 0 to {MAX_ORDER}, got {order}")
    return ("value", "gradient", "hessian", "third", "fourth")[order]


@lru_cache(maxsize=64)
def multi_indices(dimension: int, order: int) -> tuple[tuple[int, ...], ...]:
    """The distinct derivatives of one order in d variables, as sorted multi-indices.

    This is the order of the last axis of :attr:`Fields.third` and :attr:`Fields.fourth`.

    >>> multi_indices(2, 3)
    ((0, 0, 0), (0, 0, 1), (0, 1, 1), (1, 1, 1))
    """
    return tuple(combinations_with_replacement(range(dimension), order))


def set_partitions(items: tuple[int, ...]) -> list[list[tuple[int, ...]]]:
    """All partitions of a tuple of positions into non-empty blocks.

    Bell-number many: 1, 2, 5, 15 for one to four positions; each block in ``items``' order.
    """
    if not items:
        return [[]]
    first, rest = items[0], items[1:]
    partitions: list[list[tuple[int, ...]]] = []
    for size in range(len(rest) + 1):
        for others in combinations(rest, size):
            block = (first, *others)
            remaining = tuple(i for i in rest if i not in others)
            partitions.extend([block, *tail] for tail in set_partitions(remaining))
    return partitions


@dataclass
class Fields:
    """Network outputs and derivatives at N points in d dimensions, m output fields."""

    value: Tensor
    gradient: Tensor | None = None
    laplacian: Tensor | None = None
    hessian: Tensor | None = None
    third: Tensor | None = None
    fourth: Tensor | None = None
    #: The unknown constants' current values λ (0-dimensional, with the graph to the trainable
    #: θ), set by the loss for the residuals that read them; None for a forward problem.
    unknowns: dict[str, Tensor] | None = None

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

    def partial(self, field: int, index: tuple[int, ...]) -> Tensor:
        """∂^|α| u_field / ∂x_α at every point, (N,), for a sorted multi-index α of order ≤ 4."""
        return self.derivative(index)[:, field]

    def derivative(self, index: tuple[int, ...]) -> Tensor:
        """∂^|α| u / ∂x_α of every field at every point, (N, m), for a sorted multi-index α."""
        order = len(index)
        if order == 0:
            return self.value
        if order == 1:
            return self.require_gradient()[:, :, index[0]]
        if order == 2:
            return self.require_hessian()[:, :, index[0], index[1]]
        channel = self.third if order == 3 else self.fourth if order == 4 else None
        if channel is None:
            raise RuntimeError(f"order-{order} derivatives were not computed")
        d = self.require_gradient().shape[2]
        return channel[:, :, multi_indices(d, order).index(index)]


#: An engine computes Fields: (network, points (N, d), need) → Fields.
Engine = Callable[[nn.Module, Tensor, str], Fields]
