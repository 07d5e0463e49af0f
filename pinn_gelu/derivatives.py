"""Derivative engines: how a network's Fields (:mod:`pinn_gelu.fields`) are computed.

:data:`ENGINES` lists them: ``autograd`` by nested reverse mode (:func:`autograd_fields`, the
reference, for any network), ``func`` by torch.func transforms (:func:`func_fields`, an
independent cross-check), ``forward`` by propagating derivatives forward through an
:class:`~pinn_gelu.networks.MLP` (:func:`pinn_gelu.forward_mode.forward_fields`: exact, and about
twice as fast as nested autograd eagerly, three times compiled). ``auto`` (the default) takes
forward mode where the network supports it. :func:`select_engine` picks one.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from . import operators
from .fields import Engine, Fields, multi_indices, need_rank
from .forward_mode import forward_fields, supports_forward

__all__ = ["CHOICES", "ENGINES", "autograd_fields", "func_fields", "select_engine"]


def autograd_fields(network: nn.Module, x: Tensor, need: str) -> Fields:
    """Fields by nested reverse-mode autograd (:mod:`pinn_gelu.operators`), for any network.

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


def func_fields(network: nn.Module, x: Tensor, need: str) -> Fields:
    """Fields by torch.func transforms: ``vmap(jacrev(f))`` and ``vmap(hessian(f))`` per point.

    A third, independent path (composable function transforms instead of graph-level autograd),
    used to cross-check the other two; differentiable with respect to the network's parameters.
    """
    from torch.func import hessian, jacrev, vmap

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
        from torch.func import jacfwd

        third = jacfwd(hessian(single))
        for n, function in ((3, third), (4, jacfwd(third))):
            if n > rank - 1:
                break
            full = vmap(function)(x)  # (N, m, d, ..., d)
            keys = multi_indices(x.shape[1], n)
            picked = torch.stack([full[(slice(None), slice(None), *key)] for key in keys], 2)
            setattr(fields, "third" if n == 3 else "fourth", picked)
    return fields


#: The engines by ``training.derivatives`` name (``auto`` is a choice, not an engine).
ENGINES: dict[str, Engine] = {
    "forward": forward_fields,
    "autograd": autograd_fields,
    "func": func_fields,
}
_DESCRIPTIONS = {
    "forward": "forward mode (exact forward-propagated derivatives)",
    "autograd": "autograd (nested reverse mode)",
    "func": "torch.func (vmap of jacrev and hessian)",
}
#: The values ``training.derivatives`` accepts.
CHOICES = ("auto", *ENGINES)


def select_engine(network: nn.Module, choice: str) -> tuple[Engine, str]:
    """The engine for ``choice`` (one of :data:`CHOICES`) and a line saying which and why.

    ``auto`` takes forward mode when the network is a library MLP (whose layers and activation
    derivatives are known) and falls back to autograd otherwise.

    Raises:
        ValueError: for an unknown choice, or forward mode for a network that lacks it.
    """
    if choice not in CHOICES:
        raise ValueError(
            f"unknown derivatives choice {choice!r} (expected one of: {', '.join(CHOICES)})"
        )
    if choice == "auto":
        if supports_forward(network):
            return forward_fields, f"{_DESCRIPTIONS['forward']}, chosen automatically"
        return (
            autograd_fields,
            f"{_DESCRIPTIONS['autograd']}: {type(network).__name__} does not support forward mode",
        )
    if choice == "forward" and not supports_forward(network):
        raise ValueError(
            f"forward-mode derivatives need a pinn_gelu MLP, got {type(network).__name__}"
        )
    return ENGINES[choice], f"{_DESCRIPTIONS[choice]}, as configured"
