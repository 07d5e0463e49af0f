"""Fields through a trial function: u = g + φ ⊙ N by the Leibniz rule (and an enrichment's sum).

The network's fields N come from an engine (forward mode); φ's and g's from torch.func
transforms on the points (they depend on x only, not on the parameters; torch.func composes
with the per-sample transforms of the Gauss–Newton Jacobian, where nested autograd would not).
Per output and every multi-index α (the sorted tuple of the columns it differentiates in,
:func:`pinn_gelu.fields.multi_indices`),

    ∂_α (φ N) = Σ_{S ⊆ positions of α} ∂_{α_S} φ · ∂_{α∖S} N           (general Leibniz rule)

so ∂_i(φN) = φ_i N + φ N_i, ∂_ij(φN) = φ_ij N + φ_i N_j + φ_j N_i + φ N_ij, and the Laplacian
Δ(φN) = Δφ N + 2 ∇φ·∇N + φ ΔN when only traces are needed. Exact: it agrees with nested
autograd through the whole model to rounding (tests/test_model.py).
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

import torch
from torch import Tensor

from pinn_gelu.derivatives.func import func_fields
from pinn_gelu.fields import Fields, multi_indices, need_rank, set_partitions
from pinn_gelu.model.trial import Affine, Identity, Positive, Trial

__all__ = [
    "COMPOSABLE",
    "add",
    "basis_fields",
    "enrich",
    "exponentiate",
    "mix",
    "multiply",
    "through",
]

#: The derivative order each need holds in full (a Laplacian need holds traces only).
_ORDER = {"value": 0, "gradient": 1, "hessian": 2, "third": 3, "fourth": 4}


def _channels(fields: Fields, order: int, d: int) -> dict[tuple[int, ...], Tensor]:
    """Every derivative up to ``order`` as (n, m), by sorted multi-index (``()``: the value)."""
    return {
        key: fields.value if not key else fields.derivative(key)
        for n in range(order + 1)
        for key in (multi_indices(d, n) if n else ((),))
    }


def _assemble(channels: dict[tuple[int, ...], Tensor], order: int, d: int) -> Fields:
    """Fields in the layout of the engines from channels by multi-index."""
    value = channels[()]
    fields = Fields(value)
    if order >= 1:
        fields.gradient = torch.stack([channels[(i,)] for i in range(d)], dim=2)
    if order >= 2:
        rows = [
            torch.stack([channels[(min(i, j), max(i, j))] for j in range(d)], dim=2)
            for i in range(d)
        ]
        fields.hessian = torch.stack(rows, dim=2)  # (n, m, d, d)
        fields.laplacian = torch.diagonal(fields.hessian, dim1=2, dim2=3).sum(-1)
    for n, name in ((3, "third"), (4, "fourth")):
        if order >= n:
            setattr(fields, name, torch.stack([channels[k] for k in multi_indices(d, n)], dim=2))
    return fields


def multiply(factor: Fields, network: Fields, need: str) -> Fields:
    """The fields of φ ⊙ N from those of φ and of N, both computed for ``need``."""
    d = network.require_gradient().shape[2] if need_rank(need) >= 1 else 0
    if need == "laplacian":
        fg, ng = factor.require_gradient(), network.require_gradient()
        fields = Fields(
            factor.value * network.value,
            fg * network.value[:, :, None] + factor.value[:, :, None] * ng,
        )
        fields.laplacian = (
            factor.require_laplacian() * network.value
            + 2.0 * (fg * ng).sum(-1)
            + factor.value * network.require_laplacian()
        )
        return fields
    order = _ORDER[need]
    a, b = _channels(factor, order, d), _channels(network, order, d)
    out: dict[tuple[int, ...], Tensor] = {}
    for key in a:
        positions = range(len(key))
        total = a[()] * b[key]  # the split that gives every derivative to N
        for size in range(1, len(key) + 1):
            for chosen in combinations(positions, size):
                left = tuple(key[p] for p in chosen)
                right = tuple(key[p] for p in positions if p not in chosen)
                total = total + a[left] * b[right]
        out[key] = total
    return _assemble(out, order, d)


def add(offset: Fields, fields: Fields, need: str) -> Fields:
    """The fields of g + u: channel by channel."""
    total = Fields(offset.value + fields.value)
    for name in ("gradient", "laplacian", "hessian", "third", "fourth"):
        a, b = getattr(offset, name), getattr(fields, name)
        if a is not None and b is not None:
            setattr(total, name, a + b)
    return total


def exponentiate(network: Fields, columns: tuple[int, ...], need: str) -> Fields:
    """The fields of u with u_k = exp(N_k) for k in ``columns`` (the others unchanged).

    Faà di Bruno's formula for f = exp (every derivative of f is f): for a multi-index α,

        ∂_α e^N = e^N Σ_{partitions π of the positions of α} Π_{B ∈ π} ∂_{α_B} N,

    so ∂_i e^N = e^N N_i, ∂_ij e^N = e^N (N_ij + N_i N_j), Δ e^N = e^N (ΔN + |∇N|²).
    """
    chosen = list(columns)
    sub = Fields(network.value[:, chosen])
    for name in ("gradient", "laplacian", "hessian", "third", "fourth"):
        value = getattr(network, name)
        if value is not None:
            setattr(sub, name, value[:, chosen])
    e = sub.value.exp()
    if need == "laplacian":
        g = sub.require_gradient()
        out = Fields(e, e[:, :, None] * g)
        out.laplacian = e * (sub.require_laplacian() + (g * g).sum(-1))
    else:
        d = sub.require_gradient().shape[2] if need_rank(need) >= 1 else 0
        order = _ORDER[need]
        n = _channels(sub, order, d)
        channels: dict[tuple[int, ...], Tensor] = {}
        for key in n:
            total = torch.zeros_like(e) if key else torch.ones_like(e)
            for partition in set_partitions(tuple(range(len(key)))) if key else []:
                product = torch.ones_like(e)
                for block in partition:
                    product = product * n[tuple(sorted(key[p] for p in block))]
                total = total + product
            channels[key] = e * total
        out = _assemble(channels, order, d)
    merged = Fields(_merge(network.value, out.value, chosen))
    for name in ("gradient", "laplacian", "hessian", "third", "fourth"):
        whole, part = getattr(network, name), getattr(out, name)
        if whole is not None and part is not None:
            setattr(merged, name, _merge(whole, part, chosen))
    return merged


def _merge(whole: Tensor, part: Tensor, columns: list[int]) -> Tensor:
    """``whole`` with its columns ``columns`` (dim 1) taken from ``part``, in that order."""
    pieces = [
        part[:, columns.index(k) : columns.index(k) + 1] if k in columns else whole[:, k : k + 1]
        for k in range(whole.shape[1])
    ]
    return torch.cat(pieces, 1)


#: Point sets whose φ, g (and s) fields are kept: every chunk of a chunked loss
#: (:mod:`pinn_gelu.loss.chunked`) is one, so they are many.
KEPT_POINT_SETS = 512


def _point_fields(trial: object, which: str, x: Tensor, need: str, keep: bool = True) -> Fields:
    """φ's or g's (or an enrichment's s) fields at x, kept for each point set seen.

    They depend on the points only, and the collocation points do not change between steps (a
    measured poisson_2d loss evaluation took 31 ms with them recomputed, 4.9 ms without a trial).

    Not kept inside a torch.func transform (the per-sample Jacobian), whose tensors are bound
    to it, nor when x's values may have changed (its version counter).
    """
    function = getattr(trial, which)
    wrapped = torch._C._functorch.is_functorch_wrapped_tensor(x)
    if not keep or wrapped or x.requires_grad or x.is_inference():
        return func_fields(function, x, need)
    cache: dict[tuple[str, str, int], tuple[Tensor, int, Fields]] = trial.__dict__.setdefault(
        "_fields_cache", {}
    )
    key = (which, need, id(x))  # one entry per point set: each chunk of the points has its own
    kept = cache.get(key)
    if kept is not None and kept[0] is x and kept[1] == x._version:
        return kept[2]
    with torch.no_grad():
        fields = func_fields(function, x, need)
    if len(cache) >= KEPT_POINT_SETS:
        cache.clear()
    cache[key] = (x, x._version, fields)
    return fields


def through(trial: Trial, x: Tensor, network: Fields, need: str, keep: bool = True) -> Fields:
    """The fields of u = trial(x, N) from the network's fields N at points x (n, d).

    ``keep``: keep φ's and g's fields for these points (the collocation points; not points seen
    once, which would evict them).
    """
    if isinstance(trial, Identity):
        return network
    if isinstance(trial, Affine):
        fields = multiply(_point_fields(trial, "factor", x, need, keep), network, need)
        if trial.offset is not None:
            fields = add(_point_fields(trial, "offset", x, need, keep), fields, need)
        return fields
    if isinstance(trial, Positive):
        return exponentiate(network, trial.columns, need)
    raise TypeError(f"no forward-mode rule for the trial function {type(trial).__name__}")


def mix(basis: Fields, matrix: Tensor) -> Fields:
    """The fields of s(x) Mᵀ from those of s (n, K, …) and M (m, K): channel by channel."""
    out = Fields(torch.einsum("mk,nk...->nm...", matrix, basis.value))
    for name in ("gradient", "laplacian", "hessian", "third", "fourth"):
        value = getattr(basis, name)
        if value is not None:
            setattr(out, name, torch.einsum("mk,nk...->nm...", matrix, value))
    return out


def enrich(model: Any, x: Tensor, fields: Fields, need: str, keep: bool = True) -> Fields:
    """The fields of u + Σ_k λ_k s_k e_(m_k) (:mod:`pinn_gelu.model.enrichment`) from u's.

    The s_k's fields are taken once per point set (``keep``, as φ's and g's); λ keeps its graph.
    """
    if getattr(model, "basis", None) is None:
        return fields
    basis = basis_fields(model, x, need, keep)
    return add(mix(basis, model.enrichment_matrix(fields.value.shape[1])), fields, need)


def basis_fields(model: Any, x: Tensor, need: str, keep: bool = True) -> Fields:
    """The fields of an enrichment's functions s_k at x, (n, K, …), kept for these points."""
    return _point_fields(model, "basis", x, need, keep)


#: The trial functions that :func:`through` composes (others are differentiated by autograd).
COMPOSABLE: tuple[type[Trial], ...] = (Identity, Affine, Positive)
