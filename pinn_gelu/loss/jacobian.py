"""The pieces of the Gauss–Newton Jacobian that are not the loss itself.

:meth:`pinn_gelu.loss.loss.Loss.jacobian` builds J = ∂r/∂θ from per-sample gradients of the
network's fields, weighted by a_k,c = ∂r_k/∂F_c. Here: the module that flattens the fields for
``vmap`` (:class:`Fielder`), the pull-back of the coefficients through a trial function
(:func:`pulled_back`), the columns of an enrichment's coefficients (:func:`enrichment_columns`)
and the batch size of the per-sample gradients (:func:`jacobian_chunk`).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import vjp

from pinn_gelu.derivatives.compose import mix, through
from pinn_gelu.fields import Engine, Fields

__all__ = ["CHANNELS", "Fielder", "enrichment_columns", "jacobian_chunk", "pulled_back"]

#: The field channels, in the order :class:`Fielder` flattens them.
CHANNELS = ("value", "gradient", "laplacian", "hessian", "third", "fourth")
#: Residual entries per chunk of the per-sample gradients in :meth:`Loss.jacobian` on the CPU.
JACOBIAN_CHUNK = 1024
#: Bytes of per-sample gradients per chunk on CUDA, where fewer, larger batches launch fewer
#: kernels (a chunk of 1024 entries at P = 7851 is 64 MB in float64).
JACOBIAN_CHUNK_BYTES_CUDA = 2**30


def jacobian_chunk(device: torch.device, parameters: int, itemsize: int) -> int:
    """Residual entries per batch of per-sample gradients: 1024, or ~1 GiB of them on CUDA.

    >>> jacobian_chunk(torch.device("cpu"), 7851, 8), jacobian_chunk(torch.device("cuda"), 7851, 8)
    (1024, 17095)
    """
    if device.type != "cuda":
        return JACOBIAN_CHUNK
    return max(JACOBIAN_CHUNK, JACOBIAN_CHUNK_BYTES_CUDA // max(parameters * itemsize, 1))


def pulled_back(trial: Any, fielder: Fielder, x: Tensor, coefficients: Tensor, need: str) -> Tensor:
    """Coefficients on the bare network's channels: b = (∂F(u)/∂F(N))ᵀ a at each entry.

    u = trial(x, N) is a function of N's fields at the same point (the Leibniz rule of
    g + φ·N, Faà di Bruno's of exp N: :func:`pinn_gelu.derivatives.compose.through`), so
    a·∂F(u)/∂θ = b·∂F(N)/∂θ with b the vector–Jacobian product, exact for a nonlinear map too
    (taken at the current fields).
    """
    with torch.no_grad():
        network_fields = fielder.engine(fielder.network, x, need)
    names = [c for c in CHANNELS if getattr(network_fields, c) is not None]
    shapes = [getattr(network_fields, c).shape for c in names]
    flat = torch.cat([getattr(network_fields, c).reshape(x.shape[0], -1) for c in names], 1)
    sizes = [math.prod(shape[1:]) for shape in shapes]

    def fields_of_u(values: Tensor) -> Tensor:
        parts = values.split(sizes, 1)
        channels = {c: p.reshape(shape) for c, p, shape in zip(names, parts, shapes, strict=True)}
        u = through(trial, x, Fields(**channels), need, keep=False)
        out = [getattr(u, c) for c in CHANNELS]
        return torch.cat([o.reshape(x.shape[0], -1) for o in out if o is not None], 1)

    pull = vjp(fields_of_u, flat)[1]
    (pulled,) = pull(coefficients)
    return pulled


def enrichment_columns(
    model: Any,
    basis: Fields,
    rows: Tensor,
    names: list[str],
    coefficients: Tensor,
    order: list[str],
    outputs: int,
) -> Tensor:
    """∂r/∂λ through u for an enrichment's coefficients: Σ_c a_c·F_c(s_k e_(m_k)) per entry.

    u += λ_k s_k in output m_k (:mod:`pinn_gelu.model.enrichment`), so ∂F_c(u)/∂λ_k is F_c of
    s_k placed in that output. ``basis``: the s_k's fields at the point set, ``rows``: each
    entry's point; ``coefficients`` a (entries, C) are ∂r/∂F_c(u) in the channel layout
    ``names`` of u's ``outputs`` outputs. Returns (entries, len(order)), zero for the unknowns
    that are not λ's.
    """
    out = coefficients.new_zeros(rows.shape[0], len(order))
    for k, term in enumerate(model.enrichment):
        unit = coefficients.new_zeros(outputs, len(model.enrichment))
        unit[term.column, k] = 1.0
        placed = mix(basis, unit)
        parts = []
        for name in names:
            channel = getattr(placed, name)
            if channel is None:
                raise RuntimeError(f"the enrichment's fields lack the {name} channel")
            parts.append(channel[rows].reshape(rows.shape[0], -1))
        flat = torch.cat(parts, 1)
        if flat.shape[1] != coefficients.shape[1]:
            raise RuntimeError("the enrichment's fields do not match the residual's channels")
        out[:, order.index(term.coefficient)] += (coefficients * flat).sum(1)
    return out


class Fielder(nn.Module):
    """Fields at points flattened to channels (N, C) in :data:`CHANNELS` order, for vmap."""

    def __init__(self, network: nn.Module, engine: Engine, need: str) -> None:
        super().__init__()
        self.network = network
        self.engine = engine
        self.need = need

    def forward(self, x: Tensor) -> Tensor:
        """(N, C): the fields at x, channel after channel."""
        fields = self.engine(self.network, x, self.need)
        parts: list[Any] = [getattr(fields, c) for c in CHANNELS]
        return torch.cat([p.reshape(p.shape[0], -1) for p in parts if p is not None], 1)
