"""Enrichment: known functions added to the solution with trained coefficients.

    u_m(x) = trial(x, N(x))_m + Σ_{k: field k = m} λ_k · s_k(x),

each s_k a function of the coordinates written in the problem file (``enrichment:``), each λ_k
an unknown constant (:mod:`pinn_gelu.model.unknowns`, ``free``, starting at 0 unless the file
says otherwise): trained with the network by every optimiser, saved in checkpoints, reported with
its standard error.

What it is for: a solution with a singular part that no smooth network represents. At a
re-entrant corner of interior angle ω, the solution of a Poisson problem behaves as
u ≈ λ·r^(π/ω) sin(πθ/ω) (θ from one edge), whose second derivatives grow as r^(π/ω − 2) and
are not square-integrable for ω > π: a smooth network leaves a residual at the corner that no
training removes. With that function in the trial space the network represents the rest,
u − λ·s, which is smoother, and λ (the generalised stress intensity factor) is identified.
This is the singular function method of finite elements (Fix, Gulati & Wakoff 1973, "On the use
of singular functions with finite element approximations", J. Comput. Phys. 13:209; Strang &
Fix 1973, ch. 8) applied to the PINN's trial space.

The fields of u add those of λ_k·s_k channel by channel; the s_k's are functions of x alone and
are differentiated once per point set (:mod:`pinn_gelu.derivatives.compose`), and λ's column of
the Gauss–Newton Jacobian is Σ_c (∂r/∂F_c)·F_c(s_k) (:mod:`pinn_gelu.loss`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from pinn_gelu.expressions import Expression

__all__ = ["Basis", "Enrichment", "enrichment_matrix"]


@dataclass(frozen=True)
class Enrichment:
    """One term λ·s(x) added to an output.

    Attributes:
        coefficient: the name of λ (an unknown of the problem).
        column: the output (field component) it is added to.
        function: s, an expression of the domain's variables.
    """

    coefficient: str
    column: int
    function: Expression


class Basis:
    """The functions s_k at points: (n, d) → (n, K), column k = s_k."""

    def __init__(self, terms: Sequence[Enrichment]) -> None:
        self.terms = tuple(terms)

    def __call__(self, x: Tensor) -> Tensor:
        """s_k(x) for every k, (n, d) → (n, K)."""
        return torch.cat([t.function(x) for t in self.terms], 1)


def enrichment_matrix(
    terms: Sequence[Enrichment], values: Mapping[str, Tensor], outputs: int
) -> Tensor:
    """M (outputs, K) with M[column_k, k] = λ_k, so that u += s(x) Mᵀ (with the graph to λ)."""
    lam = torch.stack([values[t.coefficient].reshape(()) for t in terms])
    rows = torch.tensor([t.column for t in terms], device=lam.device)
    cols = torch.arange(len(terms), device=lam.device)
    return lam.new_zeros(outputs, len(terms)).index_put((rows, cols), lam)
