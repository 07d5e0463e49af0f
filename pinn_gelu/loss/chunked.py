"""The loss over chunks of the points: memory bounded by a chunk, whatever the point count.

The loss is a sum over residual entries, so over any partition of the points into chunks C_j,

    L = Σ_t w_t (1/n_t) Σ_k r_t,k² = Σ_j L_j,   L_j = Σ_t w_t (1/n_t) Σ_{k ∈ C_j} r_t,k²,

with n_t the count over **all** points, and ∂L/∂θ = Σ_j ∂L_j/∂θ. One chunk's graph is built,
differentiated and freed before the next (gradients accumulate in ``.grad``), so a step holds
the activations and jets of one chunk: the memory of a step on N points in k chunks is about
that of N/k points. The weighted residual vector and the Gauss–Newton Jacobian are the chunks'
rows in the canonical order of their keys (term, point, component;
:func:`~pinn_gelu.loss.loss.canonical_order`), the order in which Gauss–Newton solves a
data-parallel run's rows: term by term as in one piece, and within a term the one piece's rows
sorted by the same keys (equal to rounding, tested to 1e-13 in float64).

A chunk is built like a data-parallel rank's shard (:func:`pinn_gelu.collocation.
chunk_collocation`): a contiguous share of each point set with global indices, its own terms,
and the whole counts. In a data-parallel run each rank chunks its shard and the ranks then sum
as before. Causal weights (:mod:`pinn_gelu.causal`) are means over every point of a time slab,
so a causal problem is not chunked (:func:`pinn_gelu.training.setup.chunk_count`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from pinn_gelu.collocation import Collocation
from pinn_gelu.distributed import SINGLE, Group
from pinn_gelu.loss.loss import Loss, canonical_order, reduce_gradient
from pinn_gelu.problem import Term

__all__ = ["ChunkedLoss"]


class ChunkedLoss:
    """The loss of one :class:`Loss` per chunk of the points, summed: see the module docstring.

    Args:
        pieces: one loss per chunk, on the same network, terms (in the same order) and weights;
            their counts are replaced by the whole's.
        points: the whole (this rank's) point set.
        group: the processes of a data-parallel run.
    """

    def __init__(self, pieces: list[Loss], points: Collocation, group: Group = SINGLE) -> None:
        if not pieces:
            raise ValueError("pieces: expected at least one chunk")
        names = [p.names for p in pieces]
        if any(n != names[0] for n in names):
            raise ValueError("pieces: every chunk must have the same terms, in the same order")
        self.pieces = pieces
        self.points = points
        self.group = group
        first = pieces[0]
        self.network: nn.Module = first.network
        self.terms: list[Term] = first.terms
        self.weights = first.weights
        self.engine = first.engine
        self.needs = first.needs
        self._weights = first._weights
        local = [sum(p._local_counts[t] for p in pieces) for t in range(len(self.terms))]
        counts = group.all_reduce(torch.tensor(local, dtype=torch.float64, device=group.device))
        #: n_t: residual entries of each term over all chunks and ranks.
        self.counts = [int(c) for c in counts.tolist()]
        for piece in pieces:
            piece.count_over(self.counts)
        self.compile_note = ""

    @property
    def names(self) -> list[str]:
        """The term names, in order."""
        return self.first.names

    @property
    def first(self) -> Loss:
        """The first chunk's loss."""
        return self.pieces[0]

    @property
    def chunks(self) -> int:
        """How many chunks."""
        return len(self.pieces)

    def unknown_values(self) -> dict[str, Tensor] | None:
        """λ of the model's unknown constants (None: a forward problem)."""
        return self.first.unknown_values()

    def value(self) -> tuple[Tensor, Tensor]:
        """(L, terms) over all chunks and ranks, without a graph."""
        with torch.no_grad():
            parts = torch.stack([piece.eager()[1] for piece in self.pieces]).sum(0)
        parts = self.group.all_reduce(parts.clone()) if self.group.active else parts
        return (parts * self._weights).sum(), parts

    def values_at(self, flats: Tensor) -> Tensor:
        """(B, 1 + T) at B parameter vectors at once: the chunks' batched passes, summed."""
        parts = torch.stack([piece.values_at(flats)[:, 1:] for piece in self.pieces]).sum(0)
        return torch.cat([(parts * self._weights).sum(1, keepdim=True), parts], 1)

    def value_and_gradient(self, params: list[nn.Parameter]) -> tuple[Tensor, Tensor]:
        """(L, terms) over all chunks and ranks, with ∂L/∂θ in the parameters' ``.grad``.

        Chunk after chunk: its graph, its backward pass (the gradients add up), then the next.
        """
        for p in params:
            p.grad = None
        parts = torch.zeros_like(self._weights)
        for piece in self.pieces:
            total, piece_parts = piece()
            total.backward()
            parts = parts + piece_parts.detach()
        total = (parts * self._weights).sum()
        return reduce_gradient(self.group, params, total, parts, self._weights)

    def _order(self) -> Tensor:
        return canonical_order(torch.cat([piece.row_keys() for piece in self.pieces]))

    def residuals(self) -> Tensor:
        """The weighted residual vector r (N,), rows in canonical order."""
        rows = torch.cat([piece.residuals() for piece in self.pieces])
        return rows[self._order().to(rows.device)]

    def jacobian(self, chunk: int | None = None) -> tuple[Tensor, Tensor]:
        """(r (N,), J (N, P)), built chunk by chunk, rows in canonical order, detached."""
        options: dict[str, Any] = {} if chunk is None else {"chunk": chunk}
        order = self._order()
        place = torch.empty_like(order)  # where each chunk's row goes
        place[order] = torch.arange(order.numel(), device=order.device)
        r = jac = None
        start = 0
        for piece in self.pieces:  # one chunk's Jacobian at a time, written into place
            r_piece, j_piece = piece.jacobian(**options)
            if r is None or jac is None:
                r = r_piece.new_empty(order.numel())
                jac = j_piece.new_empty((order.numel(), j_piece.shape[1]))
            rows = place[start : start + r_piece.numel()].to(r_piece.device)
            r[rows], jac[rows] = r_piece, j_piece
            start += r_piece.numel()
        assert r is not None and jac is not None
        return r, jac

    def row_keys(self) -> Tensor:
        """(N, 3) keys of the rows of :meth:`residuals` and :meth:`jacobian` (sorted)."""
        keys = torch.cat([piece.row_keys() for piece in self.pieces])
        return keys[canonical_order(keys)]
