"""The reference engine: a network's Fields by nested reverse-mode autograd, for any network.

One backward pass per input dimension for the Jacobian, one more per (output, dimension) for
second derivatives (:mod:`pinn_gelu.derivatives.operators`), and one more per distinct lower
derivative for third and fourth orders. Slow, but obviously correct: the oracle the other
engines are tested against.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from pinn_gelu.derivatives import operators
from pinn_gelu.fields import Fields, multi_indices, need_rank

__all__ = ["autograd_fields"]


def autograd_fields(network: nn.Module, x: Tensor, need: str) -> Fields:
    """Fields by nested reverse-mode autograd (:mod:`~pinn_gelu.derivatives.operators`).

    The points are detached and marked ``requires_grad``; the results keep the graph, so the
    loss built from them can be back-propagated to the network's parameters.
    """
    rank = need_rank(need)
    if rank == 0:
        return Fields(network(x))
    x = x.detach().requires_grad_(True)
    u = network(x)
    fields = Fields(u, operators.jacobian(u, x))
    if rank == 1:
        return fields
    columns = [u[:, k : k + 1] for k in range(u.shape[1])]
    if rank == 2:
        fields.laplacian = torch.cat([operators.laplacian(c, x) for c in columns], dim=1)
        return fields
    fields.hessian = torch.stack([operators.hessian(c, x) for c in columns], dim=1)
    fields.laplacian = torch.diagonal(fields.hessian, dim1=2, dim2=3).sum(-1)
    if rank >= 4:
        _autograd_higher(fields, x, rank - 1)
    return fields


def _autograd_higher(fields: Fields, x: Tensor, order: int) -> None:
    """Third (and fourth) derivatives: one more reverse pass per distinct lower derivative."""
    hessian = fields.require_hessian()
    d, m = x.shape[1], hessian.shape[1]
    lower = {
        (k, key): hessian[:, k, key[0], key[1]] for k in range(m) for key in multi_indices(d, 2)
    }
    for n in range(3, order + 1):
        grads: dict[tuple[int, tuple[int, ...]], Tensor] = {}
        channel = []
        for k in range(m):
            entries = []
            for key in multi_indices(d, n):
                head = (k, key[:-1])
                if head not in grads:
                    grads[head] = operators.jacobian(lower[head][:, None], x)[:, 0, :]
                entries.append(grads[head][:, key[-1]])
            channel.append(torch.stack(entries, dim=1))
        stacked = torch.stack(channel, dim=1)  # (N, m, P_n)
        lower = {
            (k, key): stacked[:, k, p]
            for k in range(m)
            for p, key in enumerate(multi_indices(d, n))
        }
        setattr(fields, "third" if n == 3 else "fourth", stacked)
