"""Network outputs and their input derivatives at points: what PDE residuals are built from.

A PDE term states what it needs, one of :data:`NEEDS` in increasing cost:

- ``value``: u (N, m)
- ``gradient``: u and its Jacobian ∂u_k/∂x_i, (N, m, d)
- ``laplacian``: u, the Jacobian and Δu_k, (N, m)
- ``hessian``: u, the Jacobian, the Hessians ∂²u_k/∂x_i∂x_j, (N, m, d, d), and their traces

and a derivative engine computes it: :func:`autograd_fields` by nested reverse mode (the
reference, for any network), :func:`func_fields` by torch.func transforms (an independent
cross-check), or :func:`pinn_gelu.forward_mode.forward_fields` by propagating derivatives
forward through an :class:`~pinn_gelu.networks.MLP` (exact, and about twice as fast as nested
autograd eagerly, three times compiled). :func:`select_engine` picks one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from . import operators

__all__ = ["NEEDS", "Engine", "Fields", "autograd_fields", "func_fields", "select_engine"]

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
    return fields


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
    return fields


def select_engine(network: nn.Module, choice: str) -> tuple[Engine, str]:
    """The engine for ``choice`` (auto | autograd | forward) and a line saying which and why.

    ``auto`` takes forward mode when the network is a library MLP (whose layers and activation
    derivatives are known) and falls back to autograd otherwise.

    Raises:
        ValueError: if forward mode is asked for a network that does not support it.
    """
    from .forward_mode import forward_fields, supports_forward

    if choice == "autograd":
        return autograd_fields, "autograd (nested reverse mode), as configured"
    if choice == "func":
        return func_fields, "torch.func (vmap of jacrev and hessian), as configured"
    if choice not in ("auto", "forward"):
        raise ValueError(
            f"unknown derivatives choice {choice!r} (expected auto, autograd, forward)"
        )
    if supports_forward(network):
        why = "as configured" if choice == "forward" else "chosen automatically"
        return forward_fields, f"forward mode (exact forward-propagated derivatives), {why}"
    if choice == "forward":
        raise ValueError(
            f"forward-mode derivatives need a pinn_gelu MLP, got {type(network).__name__}"
        )
    return (
        autograd_fields,
        f"autograd (nested reverse mode): {type(network).__name__} does not support forward mode",
    )
