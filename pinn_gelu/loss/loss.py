"""The PINN loss: terms on collocation points, their weights, and the weighted residual vector.

The loss is a weighted sum of mean squared residuals (Raissi et al. 2019),

    L(θ) = Σ_t w_t · (1/n_t) Σ_k r_t,k(θ)²,

one term t per PDE residual and per boundary-condition kind (``pde``, ``dirichlet``, …) with
weights w_t from ``training.weights`` (default: the PDE kind's, ``Problem.weight``) and n_t
residual entries. Stacking the scaled entries √(w_t/n_t)·r_t,k gives the **weighted residual
vector** r(θ) ∈ ℝᴺ with L = ‖r‖²; its Jacobian J = ∂r/∂θ (N × P) is what Gauss–Newton steps
solve with (:mod:`pinn_gelu.optimisers.gauss_newton`).

J is built per residual entry from the pointwise structure of the terms (:class:`Term`): entry k
of term t depends only on the network's fields F (value, gradient, Laplacian, Hessian entries)
at one point x_p(k), so by the chain rule

    ∂r_k/∂θ = Σ_c (∂r_k/∂F_c) · ∂F_c(x_p(k); θ)/∂θ.

The coefficients a_k,c = ∂r_k/∂F_c come from one forward-mode product (``torch.func.jvp``) of the
residual per field channel c, valid for nonlinear residuals too (they are taken at the current
fields); the second factor is a per-sample gradient, ``vmap(grad(Σ_c a_k,c F_c))`` over the
entries, in chunks, so the cost is about one batched backward pass per N rows and the memory
N·P numbers for J itself.

In a data-parallel run (:mod:`pinn_gelu.distributed`) each rank holds a shard of the points; n_t
is the term's **global** count, so the ranks' sums add up to L, and :meth:`Loss.value` and
:meth:`Loss.value_and_gradient` return the global loss (and gradient), identical on every rank.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import functional_call, grad, jvp, vmap

from pinn_gelu.collocation import Collocation
from pinn_gelu.derivatives import func_fields
from pinn_gelu.derivatives.compose import basis_fields
from pinn_gelu.derivatives.forward import forward_fields, supports_forward
from pinn_gelu.distributed import SINGLE, Group
from pinn_gelu.fields import Engine, Fields, need_rank
from pinn_gelu.loss.jacobian import (
    CHANNELS,
    Fielder,
    enrichment_columns,
    jacobian_chunk,
    pulled_back,
)
from pinn_gelu.problem import Term

__all__ = ["Loss", "canonical_order", "reduce_gradient"]


class Loss:
    """The loss of a network on a problem's collocation points.

    Args:
        network: the network u(x; θ).
        terms: the problem's loss terms on ``points``.
        points: the collocation points.
        engine: the derivative engine that computes Fields.
        weights: w_t per term, in the order of ``terms``.
        compile: compile the evaluation with ``torch.compile`` (falls back to eager mode, and
            says so in :attr:`compile_note`, where compilation fails).
        group: the processes of a data-parallel run (``points`` is then this rank's shard).
    """

    def __init__(
        self,
        network: nn.Module,
        terms: list[Term],
        points: Collocation,
        engine: Engine,
        weights: list[float],
        *,
        compile: bool = False,
        group: Group = SINGLE,
    ) -> None:
        self.network = network
        self.terms = terms
        self.points = points
        self.engine = engine
        self.weights = weights
        self.needs: dict[str, str] = {}
        for term in terms:
            current = self.needs.get(term.on, "value")
            self.needs[term.on] = max(current, term.need, key=need_rank)
        self.group = group
        self._weights = torch.tensor(
            weights, dtype=points.interior.dtype, device=points.interior.device
        )
        with torch.no_grad():
            fields = self.fields()
            local = [float(t.residual(fields[t.on]).numel()) for t in terms]
        self._local_counts = [int(n) for n in local]
        counts = group.all_reduce(torch.tensor(local, dtype=torch.float64, device=group.device))
        #: n_t: residual entries of each term over all ranks.
        self.counts = [int(c) for c in counts.tolist()]
        self._counts = torch.tensor(
            [max(c, 1) for c in self.counts], dtype=self._weights.dtype, device=self._weights.device
        )
        self._compiled: Callable[[], tuple[Tensor, Tensor]] | None = None
        self._compile_checked = False
        self.compile_note = ""
        if compile:
            self.compile_note = "compiled with torch.compile"
            try:
                self._compiled = torch.compile(self.eager, dynamic=False)
            except Exception as err:  # torch.compile unavailable on this platform
                self.compile_note = f"torch.compile unavailable ({type(err).__name__}); eager mode"

    @property
    def names(self) -> list[str]:
        """The term names, in order."""
        return [t.name for t in self.terms]

    def fields(self) -> dict[str, Fields]:
        """The Fields each point set needs, computed once per set, with the unknowns' values."""
        unknowns = self.unknown_values()
        out = {}
        for place, need in self.needs.items():
            fields = self.engine(self.network, self.points.on(place), need)
            fields.unknowns = unknowns
            out[place] = fields
        return out

    def unknown_values(self) -> dict[str, Tensor] | None:
        """λ of the model's unknown constants (None: a forward problem)."""
        values = getattr(self.network, "unknown_values", None)
        return values() if values is not None and getattr(self.network, "specs", None) else None

    def __call__(self) -> tuple[Tensor, Tensor]:
        """(weighted total L, unweighted mean squares per term as one tensor), with the graph.

        In a data-parallel run these are this rank's shares (Σ_k r_t,k² / n_t over its points);
        :meth:`value` and :meth:`value_and_gradient` give the global values.

        With ``compile`` the first call compiles :meth:`eager`; if that fails, the eager
        function is used from then on and :attr:`compile_note` says why.
        """
        if self._compiled is None:
            return self.eager()
        if self._compile_checked:
            return self._compiled()
        try:
            result = self._compiled()
        except Exception as err:  # any compiler failure: fall back, and report it
            reason = str(err).strip().splitlines()[0][:160] if str(err).strip() else ""
            self.compile_note = f"torch.compile failed ({type(err).__name__}: {reason}); eager mode"
            self._compiled = None
            return self.eager()
        self._compile_checked = True
        return result

    def eager(self) -> tuple[Tensor, Tensor]:
        """The loss without compilation: see :meth:`__call__`."""
        fields = self.fields()
        sums = torch.stack([t.residual(fields[t.on]).square().sum() for t in self.terms])
        parts = sums / self._counts
        return (parts * self._weights).sum(), parts

    def values_at(self, flats: Tensor) -> Tensor:
        """(B, 1 + T): this rank's (L, terms) at B parameter vectors at once, without a graph.

        Row b is :meth:`eager` with the trainable parameters (``network.parameters()`` order,
        flattened) set to ``flats[b]``: one batched pass (``torch.func.vmap`` over
        ``functional_call``), as a Gauss–Newton line search evaluates its step lengths. In a
        data-parallel run, the terms are this rank's shares (sum them over the ranks).

        Raises:
            RuntimeError: (or any error of torch.func) where a term cannot be batched; the
                caller evaluates one vector after another instead.
        """
        trainable = [(n, p) for n, p in self.network.named_parameters() if p.requires_grad]
        sizes = [p.numel() for _, p in trainable]
        module = _Evaluation(self)

        def one(flat: Tensor) -> Tensor:
            values = {
                f"network.{name}": piece.view_as(p)
                for (name, p), piece in zip(trainable, flat.split(sizes), strict=True)
            }
            return functional_call(module, values, ())

        with torch.no_grad():
            return vmap(one)(flats)

    def value(self) -> tuple[Tensor, Tensor]:
        """(L, terms) over all ranks, without a graph."""
        with torch.no_grad():
            total, parts = self()
        if self.group.active:
            parts = self.group.all_reduce(parts.detach().clone())
            total = (parts * self._weights).sum()
        return total.detach(), parts.detach()

    def value_and_gradient(self, params: list[nn.Parameter]) -> tuple[Tensor, Tensor]:
        """(L, terms) over all ranks, with ∂L/∂θ in the parameters' ``.grad``.

        In a data-parallel run the gradients and the terms travel in one flat buffer through
        one ``all_reduce``, so every rank ends with the same bits.
        """
        for p in params:
            p.grad = None
        total, parts = self()
        total.backward()
        return reduce_gradient(self.group, params, total.detach(), parts.detach(), self._weights)

    def count_over(self, counts: list[int]) -> None:
        """Take n_t from a whole of which these points are a part (a chunk of the points).

        The loss is then this part's share, Σ_k r_t,k² / n_t over its points, as a rank's is.
        """
        if len(counts) != len(self.terms):
            raise ValueError(f"counts: expected {len(self.terms)}, got {len(counts)}")
        self.counts = [int(c) for c in counts]
        self._counts = torch.tensor(
            [max(c, 1) for c in self.counts], dtype=self._weights.dtype, device=self._weights.device
        )

    def residuals(self) -> Tensor:
        """The weighted residual vector r (N,): √(w_t/n_t)·r_t per term, stacked; L = ‖r‖².

        In a data-parallel run, this rank's rows of it.
        """
        fields = self.fields()
        pieces = []
        for term, weight, count in zip(self.terms, self.weights, self.counts, strict=True):
            values = term.residual(fields[term.on]).reshape(-1)
            pieces.append(values * math.sqrt(weight / max(count, 1)))
        return torch.cat(pieces)

    def jacobian(self, chunk: int | None = None) -> tuple[Tensor, Tensor]:
        """(r (N,), J = ∂r/∂θ (N, P)) at the current parameters, detached.

        P counts the network's trainable parameters in ``network.parameters()`` order. See the
        module docstring for the method; the result equals the dense Jacobian of
        :meth:`residuals` to rounding (tested). ``chunk``: residual entries per batch of
        per-sample gradients (default :func:`jacobian_chunk`).
        """
        trainable = [(n, p) for n, p in self.network.named_parameters() if p.requires_grad]
        if chunk is None:
            size = sum(p.numel() for _, p in trainable)
            chunk = jacobian_chunk(trainable[0][1].device, size, trainable[0][1].element_size())
        # the network's columns come from per-sample gradients of the fields; an unknown's
        # (the columns after them, in the model's parameter order) from ∂r/∂λ·dλ/dθ
        params = {f"network.{n}": p.detach() for n, p in trainable if not n.startswith("unknowns.")}
        unknowns = self.unknown_values() or {}
        unknowns = {name: value.detach() for name, value in unknowns.items()}
        model: Any = self.network
        slopes = {name: model.specs[name].slope(model.unknowns[name]) for name in unknowns}
        order = [n.removeprefix("unknowns.") for n, _ in trainable if n.startswith("unknowns.")]
        # the per-sample transforms need an engine made of torch.func-compatible operations
        engine = forward_fields if supports_forward(self.network) else func_fields
        # a trial function's own derivatives (φ, g: torch.func) are taken once per entry, not
        # inside the per-sample transform: the per-sample gradients are the bare network's
        through_trial = engine is forward_fields and getattr(model, "wraps", False)
        with torch.no_grad():
            fields = self.fields()
        rows_r, rows_j = [], []
        for term, weight, count in zip(self.terms, self.weights, self.counts, strict=True):
            place = fields[term.on]
            tensors = {c: getattr(place, c) for c in CHANNELS if getattr(place, c) is not None}
            names = list(tensors)
            known = len(names)

            def residual(
                *values: Tensor, term: Term = term, names: list[str] = names, known: int = known
            ) -> Tensor:
                channels = dict(zip(names, values[:known], strict=True))
                lam = dict(zip(order, values[known:], strict=True)) or None
                return term.residual(Fields(**channels, unknowns=lam)).reshape(-1)

            primals = (*(tensors[n] for n in names), *(unknowns[n] for n in order))
            value = residual(*primals)
            scale = math.sqrt(weight / max(count, 1))
            if value.numel() == 0:  # no rows of this term in this shard
                rows_r.append(value)
                width = sum(p.numel() for p in params.values()) + len(order)
                rows_j.append(value.new_zeros((0, width)))
                continue
            # a[k, c] = ∂r_k/∂F_c at the point of entry k, one jvp per field channel c, then
            # ∂r_k/∂λ_j, one jvp per unknown (a scalar for every entry)
            sizes = [t[0].numel() if t.dim() else 1 for t in primals]
            columns = []
            for which, size in enumerate(sizes):
                for c in range(size):
                    # contiguous zeros (zeros_like keeps a permuted layout, and then the
                    # reshaped view below would be a copy)
                    tangents = tuple(
                        torch.zeros(t.shape, dtype=t.dtype, device=t.device) for t in primals
                    )
                    if tangents[which].dim():
                        tangents[which].view(tangents[which].shape[0], -1)[:, c] = 1.0
                    else:
                        tangents[which].fill_(1.0)
                    columns.append(jvp(residual, primals, tangents)[1])
            coefficients = torch.stack(columns, 1)  # (n_entries, C + unknowns)
            by_unknown = coefficients[:, coefficients.shape[1] - len(order) :]
            coefficients = coefficients[:, : coefficients.shape[1] - len(order)]
            points = self.points.on(term.on)
            index = term.rows if term.rows is not None else torch.arange(points.shape[0])
            per_row = value.numel() // max(index.numel(), 1)
            entry_points = points[index.to(points.device).repeat_interleave(per_row)]
            if getattr(model, "basis", None) is not None:
                basis = basis_fields(model, points, self.needs[term.on])  # kept per point set
                rows = index.to(points.device).repeat_interleave(per_row)
                by_unknown = by_unknown + enrichment_columns(
                    model, basis, rows, names, coefficients, order, place.value.shape[1]
                )
            fielder = Fielder(self.network, engine, self.needs[term.on])
            if through_trial:  # a·F(u) = (∂F(u)/∂F(N))ᵀa · F(N): fold the trial into a
                fielder = Fielder(model.network, engine, self.needs[term.on])
                coefficients = pulled_back(
                    model.trial, fielder, entry_points, coefficients, self.needs[term.on]
                )
            used = (coefficients.abs().amax(0) > 0).nonzero().squeeze(1)

            def weighted(
                p: dict[str, Tensor],
                x: Tensor,
                a: Tensor,
                used: Tensor = used,
                fielder: Fielder = fielder,
            ) -> Tensor:
                return (functional_call(fielder, p, (x[None],))[0][used] * a).sum()

            per_sample = vmap(grad(weighted), in_dims=(None, 0, 0))
            a_used = coefficients[:, used]
            # the bare network's parameters are named without the model's "network." prefix
            inner = {
                (n.removeprefix("network.") if through_trial else n): v for n, v in params.items()
            }
            blocks = []
            for start in range(0, value.numel(), chunk):
                stop = start + chunk
                g = per_sample(inner, entry_points[start:stop], a_used[start:stop])
                blocks.append(torch.cat([g[n].reshape(g[n].shape[0], -1) for n in inner], 1))
            lam_columns = [by_unknown[:, j] * slopes[name] for j, name in enumerate(order)]
            block = torch.cat([torch.cat(blocks), *(c[:, None] for c in lam_columns)], 1)
            rows_r.append(value * scale)
            rows_j.append(block * scale)
        return torch.cat(rows_r), torch.cat(rows_j)

    def row_keys(self) -> Tensor:
        """(N, 3) integer keys of the rows of :meth:`residuals` and :meth:`jacobian`.

        Row k's key is (term, index of its point in the whole point set, occurrence of that
        point in the term so far: the component). Sorting by the keys puts the rows of any
        shard, gathered from the ranks, in one canonical order, so a data-parallel run builds
        the very matrix a single process builds (:mod:`pinn_gelu.optimisers.gauss_newton`).
        """
        keys = []
        for t, (term, count) in enumerate(zip(self.terms, self._local_counts, strict=True)):
            index = self.points.global_index(term.on)
            local = term.rows if term.rows is not None else torch.arange(index.shape[0])
            local = local.to(index.device)
            per_row = count // max(local.numel(), 1)
            point = index[local].repeat_interleave(per_row)
            ordered, order = torch.sort(point, stable=True)
            occurrence = torch.empty_like(point)
            occurrence[order] = torch.arange(point.numel(), device=point.device) - (
                torch.searchsorted(ordered, ordered)
            )
            keys.append(torch.stack([torch.full_like(point, t), point, occurrence], 1))
        return torch.cat(keys) if keys else torch.zeros((0, 3), dtype=torch.long)


def reduce_gradient(
    group: Group, params: list[nn.Parameter], total: Tensor, parts: Tensor, weights: Tensor
) -> tuple[Tensor, Tensor]:
    """(L, terms) over all ranks, the parameters' ``.grad`` summed over them in place.

    In a data-parallel run the gradients and the terms travel in one flat buffer through one
    ``all_reduce``, so every rank ends with the same bits; in one process, nothing moves.
    """
    if not group.active:
        return total, parts
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = group.all_reduce(torch.cat([*(g.reshape(-1) for g in grads), parts]))
    start = 0
    for p in params:
        p.grad = flat[start : start + p.numel()].view_as(p).clone()
        start += p.numel()
    parts = flat[start:]
    return (parts * weights).sum(), parts.clone()


def canonical_order(keys: Tensor) -> Tensor:
    """The permutation that sorts rows by their keys (term, point, occurrence)."""
    order = torch.argsort(keys[:, 2], stable=True)
    order = order[torch.argsort(keys[order, 1], stable=True)]
    return order[torch.argsort(keys[order, 0], stable=True)]


class _Evaluation(nn.Module):
    """A loss as a module of its network's parameters: () → (L, terms…), for vmap."""

    def __init__(self, loss: Loss) -> None:
        super().__init__()
        self.network = loss.network
        self.loss = loss

    def forward(self) -> Tensor:
        total, parts = self.loss.eager()
        return torch.cat([total.reshape(1), parts])
