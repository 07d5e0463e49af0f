"""Causal weights for evolution problems: later times count once earlier ones are resolved.

A PINN for u_t = F(u) can lower its residual at late times with a solution that is wrong at
early ones, and information flows forward in time only. Wang, Sankaran & Perdikaris (2022,
"Respecting causality is all you need for training physics-informed neural networks",
arXiv:2203.07404) split the interior points into M time slabs and weigh slab i's mean squared
residual L_i by

    w_i = exp(−ε Σ_{j<i} L_j),

held constant while differentiating (w_1 = 1): a slab counts fully only once every earlier
slab's residual is small. ε sets how small (jaxpi: ε = 1 … 100, raised during training).

Here the weights fold into the residual, r_k → √w_{s(k)}·r_k for a point k in slab s(k), and
are recomputed from the current residual at every evaluation, so every optimiser sees them:
Adam and L-BFGS minimise the weighted loss, and a Gauss–Newton step solves the weighted least
squares of the current weights (it does not differentiate them, as the definition asks; the
weights of the next step follow from its result). In a data-parallel run each rank weighs its
own shard's slabs (the slab means are not exchanged): a well-defined loss, not the one process's.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from pinn_gelu.fields import Fields

__all__ = ["CausalResidual", "slab_index"]


def slab_index(t: Tensor, interval: tuple[float, float], slabs: int) -> Tensor:
    """The slab of each time, 0 … M − 1, for M equal slabs of the interval."""
    t0, t1 = interval
    return ((t - t0) / (t1 - t0) * slabs).floor().clamp(0, slabs - 1).long()


class CausalResidual:
    """fields → √w_{s(k)}·r_k with w from the current slab losses (see the module docstring).

    Args:
        residual: the term's residual, one row (or one row of components) per interior point.
        slab: the slab of each of those points.
        slabs: M.
        epsilon: ε.
    """

    def __init__(
        self, residual: Callable[[Fields], Tensor], slab: Tensor, slabs: int, epsilon: float
    ) -> None:
        self.residual = residual
        self.slab = slab
        self.slabs = slabs
        self.epsilon = epsilon
        self.counts = torch.bincount(slab, minlength=slabs).clamp(min=1)

    def weights(self, values: Tensor) -> Tensor:
        """w_i from residual values (detached), (M,)."""
        squares = values.detach().reshape(values.shape[0], -1).square().sum(1)
        sums = squares.new_zeros(self.slabs).index_add_(0, self.slab.to(squares.device), squares)
        losses = sums / self.counts.to(sums)
        earlier = torch.cumsum(losses, 0) - losses
        return torch.exp(-self.epsilon * earlier)

    def __call__(self, fields: Fields) -> Tensor:
        """The weighted residual."""
        values = self.residual(fields)
        scale = self.weights(values).sqrt()[self.slab.to(values.device)]
        return values * scale.reshape(-1, *([1] * (values.dim() - 1)))
