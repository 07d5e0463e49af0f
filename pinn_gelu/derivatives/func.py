"""An independent engine: a network's Fields by torch.func transforms, for cross-checks."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor
from torch.func import hessian, jacfwd, jacrev, vmap

from pinn_gelu.fields import Fields, multi_indices, need_rank

__all__ = ["func_fields"]


def func_fields(network: Callable[[Tensor], Tensor], x: Tensor, need: str) -> Fields:
    """Fields by torch.func transforms: ``vmap(jacrev(f))`` and ``vmap(hessian(f))`` per point.

    A third, independent path (composable function transforms instead of graph-level autograd),
    used to cross-check the other two; differentiable with respect to the network's parameters.
    """
    rank = need_rank(need)
    value = network(x)
    if rank == 0:
        return Fields(value)
    x = x.detach()

    def single(point: Tensor) -> Tensor:
        return network(point.unsqueeze(0)).squeeze(0)

    if rank == 1:
        return Fields(value, vmap(jacrev(single))(x))
    second = vmap(hessian(single))(x)  # (N, m, d, d)
    fields = Fields(value, vmap(jacrev(single))(x), hessian=second)
    fields.laplacian = torch.diagonal(second, dim1=2, dim2=3).sum(-1)
    if rank >= 4:
        third = jacfwd(hessian(single))
        for n, function in ((3, third), (4, jacfwd(third))):
            if n > rank - 1:
                break
            full = vmap(function)(x)  # (N, m, d, ..., d)
            keys = multi_indices(x.shape[1], n)
            picked = torch.stack([full[(slice(None), slice(None), *key)] for key in keys], 2)
            setattr(fields, "third" if n == 3 else "fourth", picked)
    return fields
