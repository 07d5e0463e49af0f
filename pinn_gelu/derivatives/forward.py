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
map ξ = s ⊙ x + c of :class:`~pinn_gelu.model.networks.MLP` makes ∂z/∂x_i = s_i W[:, i] at the first
layer, constant in x, and its second derivatives zero. σ' and σ'' come from the activation's
closed forms (:meth:`~pinn_gelu.activations.Activation.derivatives`).

Shapes inside: value (N, w); Jacobian (d, N, w); Laplacian (N, w); Hessian (P, N, w) with the
P = d(d+1)/2 pairs i ≤ j. Each kind of channel goes through its own matrix product (one
stacked product plus slicing is slower: the slices' backward passes fill zero buffers).

Third and fourth derivatives (needs ``third`` and ``fourth``) are propagated the same way, as
*jets*: every distinct derivative ∂_α h of order 1 ≤ |α| ≤ K, α a sorted multi-index. Through
σ, by the multivariate Faà di Bruno formula (Hardy 2006, "Combinatorics of partial
derivatives", Electron. J. Combin. 13:R1),

    ∂_α σ(z) = Σ_π σ⁽|π|⁾(z) ⊙ Π_{B ∈ π} ∂_{α_B} z,

the sum running over the set partitions π of the positions of α (1, 2, 5 and 15 of them for
orders 1 to 4; equal terms are merged and counted once with their multiplicity). For order 2
this is the Hessian rule above.
"""

from __future__ import annotations

from functools import lru_cache
from typing import cast

import torch
from torch import Tensor, nn

from pinn_gelu.derivatives.compose import COMPOSABLE, enrich, through
from pinn_gelu.fields import Fields, multi_indices, need_rank, set_partitions
from pinn_gelu.model.model import Model
from pinn_gelu.model.networks import MLP

__all__ = ["forward_fields", "forward_support", "supports_forward"]


def forward_support(model: nn.Module) -> str | None:
    """Why :func:`forward_fields` cannot handle this model, or None when it can.

    It handles a library MLP, and a :class:`~pinn_gelu.model.model.Model` whose network is one
    and whose trial function has a composition rule (:mod:`pinn_gelu.derivatives.compose`).
    """
    network = model.network if isinstance(model, Model) else model
    if not isinstance(network, MLP):
        return f"{type(network).__name__} is not a pinn_gelu MLP"
    if isinstance(model, Model) and type(model.trial) not in COMPOSABLE:
        return f"the trial function {type(model.trial).__name__} has no forward-mode rule"
    return None


def supports_forward(model: nn.Module) -> bool:
    """Whether :func:`forward_fields` can handle this model (see :func:`forward_support`)."""
    return forward_support(model) is None


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


def forward_fields(model: nn.Module, x: Tensor, need: str) -> Fields:
    """Fields of a model or an MLP at points x (N, d) by forward propagation.

    The network's fields are propagated through its layers (see the module docstring), then
    through the model's trial function (:func:`pinn_gelu.derivatives.compose.through`), plus its
    enrichment's (:func:`~pinn_gelu.derivatives.compose.enrich`). Exact:
    agrees with :func:`~pinn_gelu.derivatives.autograd_fields` to rounding (tested to 1e-10 in
    float64). The results keep the graph to the model's parameters.
    """
    reason = forward_support(model)
    if reason is not None:
        raise TypeError(f"forward mode cannot differentiate this model: {reason}")
    if isinstance(model, Model):
        fields = through(model.trial, x, _mlp_fields(cast(MLP, model.network), x, need), need)
        return enrich(model, x, fields, need)
    return _mlp_fields(cast(MLP, model), x, need)


def _mlp_fields(network: MLP, x: Tensor, need: str) -> Fields:
    """Fields of an MLP by forward propagation through its layers."""
    rank = need_rank(need)
    if rank == 0:
        return Fields(network(x))
    if rank >= 4:
        return _jet_fields(network, x, rank - 1)
    x = x.detach()
    n, d = x.shape
    first = cast(nn.Linear, network.hidden[0])
    rows, cols = _pairs(d, x.device) if rank == 3 else (None, None)
    lap: Tensor | None = None
    hess: Tensor | None = None
    if network.embedding is None:
        z = first(network.normalise(x))
        jac = (first.weight * network.input_scale).T.unsqueeze(1)  # (d, 1, w): constant in x
    else:  # z = W γ(ξ(x)) + b: γ's derivatives (closed form) start the propagation
        jet = network.embedding_jet(x, 1 if rank == 1 else 2)
        zero = torch.zeros_like(jet[()])
        z = first(jet[()])
        jac = _linear(torch.stack([jet.get((i,), zero) for i in range(d)]), first.weight)
        if rank == 2:
            lap = sum((jet.get((i, i), zero) for i in range(d)), zero) @ first.weight.T
        elif rank == 3 and rows is not None and cols is not None:
            pairs = [jet.get((int(i), int(j)), zero) for i, j in zip(rows, cols, strict=True)]
            hess = _linear(torch.stack(pairs), first.weight)
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


@lru_cache(maxsize=16)
def _jet_rules(
    dimension: int, order: int
) -> tuple[tuple[tuple[int, ...], ...], tuple[tuple[tuple[int, int, tuple[int, ...]], ...], ...]]:
    """The jet's multi-indices (orders 1..K) and, per index, its Faà di Bruno terms.

    A term is (derivative of σ, multiplicity, channels of the blocks' derivatives of z).
    """
    keys = tuple(k for n in range(1, order + 1) for k in multi_indices(dimension, n))
    position = {k: i for i, k in enumerate(keys)}
    rules = []
    for key in keys:
        merged: dict[tuple[int, tuple[int, ...]], int] = {}
        for partition in set_partitions(tuple(range(len(key)))):
            blocks = tuple(
                sorted(position[tuple(sorted(key[p] for p in block))] for block in partition)
            )
            merged[(len(partition), blocks)] = merged.get((len(partition), blocks), 0) + 1
        rules.append(tuple((n, count, blocks) for (n, blocks), count in merged.items()))
    return keys, tuple(rules)


def _jet_fields(network: MLP, x: Tensor, order: int) -> Fields:
    """Fields with every derivative up to ``order`` (3 or 4), by propagating jets."""
    x = x.detach()
    n, d = x.shape
    keys, rules = _jet_rules(d, order)
    first = cast(nn.Linear, network.hidden[0])
    channels: list[Tensor | None]
    if network.embedding is None:
        z = first(network.normalise(x))
        scaled = (first.weight * network.input_scale).T  # (d, w): ∂z/∂x_i, constant in x
        # channel c holds ∂_{keys[c]} z; None is an exact zero (the first layer is affine in x)
        channels = [scaled[key[0]].expand(n, -1) if len(key) == 1 else None for key in keys]
    else:  # every derivative of γ(ξ(x)) (closed form) through the first layer
        jet = network.embedding_jet(x, order)
        z = first(jet[()])
        channels = [jet[key] @ first.weight.T if key in jet else None for key in keys]
    for layer in [*network.hidden[1:], network.output]:
        sigma = network.activation.derivatives(z, order)
        weight = layer.weight
        activated = []
        for rule in rules:
            total: Tensor | None = None
            for derivative, count, blocks in rule:
                factors = [channels[b] for b in blocks]
                term = sigma[derivative]
                for factor in factors:
                    if factor is None:
                        break
                    term = term * factor
                else:
                    if count != 1:
                        term = term * count
                    total = term if total is None else total + term
                    continue
            activated.append(total if total is not None else torch.zeros_like(z))
        stacked = _linear(torch.stack(activated), weight)
        channels = list(stacked.unbind(0))
        z = torch.nn.functional.linear(sigma[0], weight, layer.bias)
    index = {key: c for c, key in enumerate(keys)}

    def gather(wanted: tuple[tuple[int, ...], ...]) -> Tensor:
        return torch.stack([cast(Tensor, channels[index[k]]) for k in wanted], dim=2)

    fields = Fields(z, gather(multi_indices(d, 1)))
    pairs = gather(multi_indices(d, 2))  # (N, m, P)
    fields.hessian = pairs[:, :, _pair_lookup(d, x.device)].reshape(n, z.shape[1], d, d)
    fields.laplacian = torch.diagonal(fields.hessian, dim1=2, dim2=3).sum(-1)
    fields.third = gather(multi_indices(d, 3))
    if order >= 4:
        fields.fourth = gather(multi_indices(d, 4))
    return fields
