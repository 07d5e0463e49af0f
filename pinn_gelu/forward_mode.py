"""Exact second derivatives of an MLP by forward propagation (the "forward Laplacian").

Nested reverse mode computes Δu with one backward pass per input dimension through a graph that
already holds a backward pass: tens of forward-pass equivalents per training step. Propagating
the value, the Jacobian and the Laplacian (or the Hessian) forward through the layers computes
the same quantities exactly in one structured pass (Li et al. 2023, "Forward Laplacian",
arXiv:2307.08214).

For a pre-activation z = W h + b and h' = σ(z), with J^z_i = ∂z/∂x_i and so on::

    J^{h'}_i   = σ'(z) ⊙ J^z_i
    Δh'        = σ'(z) ⊙ Δz + σ''(z) ⊙ Σ_i (J^z_i)²
    H^{h'}_ij  = σ'(z) ⊙ H^z_ij + σ''(z) ⊙ J^z_i ⊙ J^z_j

and through a linear layer every quantity is multiplied by W (only the value gets b). The input
map ξ = s ⊙ x + c of :class:`~pinn_gelu.networks.MLP` makes ∂z/∂x_i = s_i W[:, i] at the first
layer, constant in x, and its second derivatives zero. σ' and σ'' come from the activation's
closed forms (:meth:`~pinn_gelu.activations.Activation.derivatives`).

Shapes inside: value (N, w); Jacobian (d, N, w); Laplacian (N, w); Hessian (P, N, w) with the
P = d(d+1)/2 pairs i ≤ j. Each kind of channel goes through its own matrix product (one
stacked product plus slicing is slower: the slices' backward passes fill zero buffers).
"""

from __future__ import annotations

from typing import cast

import torch
from torch import Tensor, nn

from .fields import Fields, need_rank
from .networks import MLP

__all__ = ["forward_fields", "supports_forward"]


def supports_forward(network: nn.Module) -> bool:
    """Whether :func:`forward_fields` can handle this network (a library MLP)."""
    return isinstance(network, MLP)


def _pairs(d: int, device: torch.device) -> tuple[Tensor, Tensor]:
    """Row and column indices of the P = d(d+1)/2 pairs i ≤ j."""
    rows, cols = torch.triu_indices(d, d, device=device)
    return rows, cols


def _pair_lookup(d: int, device: torch.device) -> Tensor:
    """For each (i, j) of a d×d matrix, flattened, the index of its pair (min, max)."""
    rows, cols = _pairs(d, device)
    lookup = torch.empty(d, d, dtype=torch.long, device=device)
    index = torch.arange(rows.numel(), device=device)
    lookup[rows, cols] = index
    lookup[cols, rows] = index
    return lookup.reshape(-1)


def _linear(channels: Tensor, weight: Tensor) -> Tensor:
    """(C, N, w_in) → (C, N, w_out): one matrix product over all channels, no bias."""
    c, n, w = channels.shape
    return (channels.reshape(c * n, w) @ weight.T).reshape(c, n, weight.shape[0])


def forward_fields(network: nn.Module, x: Tensor, need: str) -> Fields:
    """Fields of an MLP at points x (N, d) by forward propagation; see the module docstring.

    Exact: agrees with :func:`~pinn_gelu.derivatives.autograd_fields` to rounding (tested to
    1e-10 in float64). The results keep the graph to the network's parameters.
    """
    if not isinstance(network, MLP):
        raise TypeError(f"forward mode needs a pinn_gelu MLP, got {type(network).__name__}")
    rank = need_rank(need)
    if rank == 0:
        return Fields(network(x))
    x = x.detach()
    n, d = x.shape
    first = cast(nn.Linear, network.hidden[0])
    z = first(network.normalise(x))
    jac = (first.weight * network.input_scale).T.unsqueeze(1)  # (d, 1, w): constant in x
    lap: Tensor | None = None
    hess: Tensor | None = None
    rows, cols = _pairs(d, x.device) if rank == 3 else (None, None)
    order = 1 if rank == 1 else 2
    for layer in [*network.hidden[1:], network.output]:
        sigma = network.activation.derivatives(z, order)
        weight = layer.weight
        if rank == 2:
            new_lap = sigma[2] * (jac * jac).sum(0)
            if lap is not None:
                new_lap = new_lap + sigma[1] * lap
            lap = new_lap @ weight.T
        elif rank == 3:
            new_hess = sigma[2] * jac[rows] * jac[cols]
            if hess is not None:
                new_hess = new_hess + sigma[1] * hess
            hess = _linear(new_hess, weight)
        jac = _linear(sigma[1] * jac, weight)
        z = torch.nn.functional.linear(sigma[0], weight, layer.bias)
    fields = Fields(z, jac.permute(1, 2, 0))
    if rank == 2:
        fields.laplacian = lap
    elif rank == 3 and hess is not None:
        m = z.shape[1]
        fields.hessian = hess.permute(1, 2, 0)[:, :, _pair_lookup(d, x.device)].reshape(n, m, d, d)
        fields.laplacian = torch.diagonal(fields.hessian, dim1=2, dim2=3).sum(-1)
    return fields
