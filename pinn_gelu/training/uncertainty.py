"""Standard errors of the identified unknowns, from the Gauss–Newton approximation at the solution.

The trained parameters θ̂ = (network weights w, unknowns' raw values φ) minimise ‖r(θ)‖², r the
weighted residual vector of :mod:`pinn_gelu.loss` (PDE, condition and data rows). Linearise at θ̂:
J = [J_w | J_φ]. Observation noise ε (y = Q(u*) + ε, independent, variance σ² per data row)
moves the data rows by δr_i = −s_i ε_i (s_i the row's scale √(w/n)/σ_file) and nothing else; the
least-squares fluctuation of φ, the network eliminated (Frisch–Waugh–Lovell), is

    δφ = −(AᵀA)⁻¹ Aᵀ δr,   A = (I − Π_w) J_φ,   Π_w the projector onto range(J_w),

so Cov(φ) = (AᵀA)⁻¹ Aᵀ V A (AᵀA)⁻¹ with V = diag(v_i), v_i = s_i²·σ_i² on data rows and 0 on the
PDE and condition rows (a sandwich: those rows are constraints, not measurements). When every
row is a data row of one variance this is the textbook s²·(AᵀA)⁻¹. σ_i² is the stated noise
variance times the reduced misfit χ²_ν = Σ((Q − y)/σ_file)² / (n_data − k), k the number of
unknowns (σ_file = 1 where no noise is stated: then σ_i² is the mean squared misfit): "s² from
the data misfit". The value's covariance is the raw one mapped by dλ/dφ (the delta method).

Assumptions, stated with every result: the noise is independent and Gaussian-like with one
variance per file up to the common factor χ²_ν; the model is exact at the truth (the PDE and the
data agree); the linearisation holds over ± 2 standard errors; the network's own degrees of
freedom are not counted in ν (the PDE constrains them). It fails, and says so instead of giving
a number, when an unknown's column lies (numerically) in the range of the network's columns
(the network can absorb its effect: not identifiable from these data), when AᵀA is singular
(unknowns that only act together), when there are no data rows, and when the Jacobian is too
large for ``max_gauss_newton_bytes``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

__all__ = ["ASSUMPTIONS", "Estimate", "covariance", "estimate_for_run", "estimate_unknowns"]

ASSUMPTIONS = (
    "Gauss–Newton linearisation at the solution; independent noise, one variance per data file "
    "up to a factor from the misfit; network eliminated (its degrees of freedom not counted)"
)
#: An unknown whose column keeps less than this fraction of its norm once the network's
#: columns are projected out is not identifiable from the data.
IDENTIFIABLE = 1e-6
#: Largest condition number of AᵀA accepted.
MAX_CONDITION = 1e12
#: Said with a standard error when a data file states no noise.
UNSTATED_NOISE = (
    "no noise stated: the variance is the data misfit's, which includes the network's own "
    "error (with clean data it measures that error, not noise)"
)
#: A reduced χ² above this, with every noise level stated, is reported as a misfit.
MISFIT_WARNING = 4.0


@dataclass(frozen=True)
class Estimate:
    """One identified unknown: its value and, where the data determine it, a standard error."""

    value: float
    stderr: float | None
    truth: float | None
    note: str
    reduced_chi2: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """metrics.json's entry: value, stderr, and truth with the relative error when known."""
        out: dict[str, Any] = {"value": self.value, "stderr": self.stderr}
        if self.reduced_chi2 is not None:
            out["reduced_chi2"] = self.reduced_chi2
        if self.truth is not None:
            out["truth"] = self.truth
            out["relative_error"] = (
                abs(self.value - self.truth) / abs(self.truth) if self.truth else None
            )
        if self.note:
            out["note"] = self.note
        return out


def covariance(j_net: Tensor, j_unknown: Tensor, variance: Tensor) -> tuple[Tensor | None, str]:
    """Cov of the unknowns' raw values (k × k), or None and why (see the module docstring).

    Args:
        j_net: (N, P) the network's columns (P may be 0).
        j_unknown: (N, k) the unknowns' columns.
        variance: (N,) v_i, the variance each row's residual gets from the noise (0: none).
    """
    a = j_unknown
    if not bool(torch.isfinite(j_net).all() and torch.isfinite(j_unknown).all()):
        return None, "not computed: the Jacobian at the solution is not finite"
    if j_net.shape[1]:
        u, s, _ = torch.linalg.svd(j_net, full_matrices=False)
        cutoff = s.max() * max(j_net.shape) * torch.finfo(j_net.dtype).eps if s.numel() else 0
        basis = u[:, s > cutoff]
        a = a - basis @ (basis.T @ a)
    kept = a.norm(dim=0) / j_unknown.norm(dim=0).clamp_min(torch.finfo(a.dtype).tiny)
    if bool((kept < IDENTIFIABLE).any()):
        k = int(torch.argmin(kept))
        return None, (
            f"not identifiable from these data: the network can absorb unknown {k}'s effect "
            f"(its Jacobian column keeps {float(kept[k]):.1e} of its norm outside the network's)"
        )
    gram = a.T @ a
    condition = torch.linalg.cond(gram)
    if not bool(torch.isfinite(condition)) or float(condition) > MAX_CONDITION:
        return None, (
            f"not identifiable separately: the unknowns act together (condition number "
            f"{float(condition):.1e} after eliminating the network)"
        )
    try:
        inverse = torch.linalg.inv(gram)
    except torch.linalg.LinAlgError:  # singular to working precision despite its condition
        return None, "not identifiable separately: the unknowns' Gram matrix is singular"
    middle = a.T @ (variance[:, None] * a)
    return inverse @ middle @ inverse, ""


def estimate_unknowns(
    objective: Any, model: Any, limit_bytes: int, noise_stated: bool = False
) -> dict[str, Estimate]:
    """The identified unknowns of a trained model, with standard errors where determined.

    Args:
        objective: the run's :class:`~pinn_gelu.loss.Loss` (one process: its rows are all rows).
        model: the trained :class:`~pinn_gelu.model.model.Model`.
        limit_bytes: ``max_gauss_newton_bytes``: the Jacobian is not built above it.
        noise_stated: every data file states its noise: a reduced χ² far above 1 then means
            that the solution does not fit the data, and the estimate says so.
    """
    specs = getattr(model, "specs", {})
    if not specs:
        return {}
    with torch.no_grad():
        values = {n: float(v) for n, v in model.unknown_values().items()}

    def result(
        note: str, stderr: dict[str, float] | None = None, chi2: float | None = None
    ) -> dict[str, Estimate]:
        return {
            n: Estimate(values[n], (stderr or {}).get(n), specs[n].truth, note, chi2) for n in specs
        }

    rows = sum(objective.counts)
    parameters = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if 8 * rows * parameters > limit_bytes:
        return result(
            f"standard error not computed: the Jacobian ({rows} × {parameters}) is over "
            "max_gauss_newton_bytes"
        )
    data = [t.name.startswith("data_") for t in objective.terms]
    if not any(data):
        return result("standard error not computed: the problem has no data")
    r, jacobian = objective.jacobian()
    order = [
        n.removeprefix("unknowns.")
        for n, _ in model.named_parameters()
        if n.startswith("unknowns.")
    ]
    k = len(order)
    j_net, j_unknown = jacobian[:, : jacobian.shape[1] - k], jacobian[:, jacobian.shape[1] - k :]
    # each data row: r_i = c·(Q − y)/σ_file with c = √(w/n); its noise variance c²·σ_file²·χ²_ν
    variance = torch.zeros_like(r)
    misfit, n_data, start = 0.0, 0, 0
    scales = []
    for term, weight, count in zip(
        objective.terms, objective.weights, objective.counts, strict=True
    ):
        stop = start + count
        if term.name.startswith("data_") and weight > 0:
            c2 = weight / max(count, 1)
            misfit += float(r[start:stop].square().sum()) / c2
            n_data += count
            scales.append((start, stop, c2))
        start = stop
    if not scales:
        return result("standard error not computed: every data term has weight 0")
    if n_data <= k:
        return result(f"standard error not computed: {n_data} data values for {k} unknowns")
    chi2 = misfit / (n_data - k)
    for a, b, c2 in scales:
        variance[a:b] = c2 * chi2
    cov, why = covariance(j_net, j_unknown, variance)
    if cov is None:
        return result(why, chi2=chi2)
    stderr = {}
    for j, name in enumerate(order):
        slope = float(specs[name].slope(model.unknowns[name]))
        stderr[name] = abs(slope) * math.sqrt(max(float(cov[j, j]), 0.0))
    note = ""
    if noise_stated and chi2 > MISFIT_WARNING:
        note = (
            f"the data misfit is {chi2:.1f} times the stated noise variance: the solution does "
            "not fit the data as well as the noise allows, and the standard error understates "
            "the uncertainty"
        )
    elif not noise_stated:
        note = UNSTATED_NOISE
    return result(note, stderr, chi2)


def estimate_for_run(
    objective: Any, problem: Any, parallel: bool, status: str
) -> dict[str, Estimate]:
    """The unknowns' estimates at the end of a run, with standard errors where computed.

    They are not computed in a data-parallel run (the Jacobian is sharded) nor for a run that
    did not complete (its parameters are not a minimiser): each estimate says why.
    """
    model = objective.network
    if parallel or status != "completed":
        note = (
            "standard error not computed in a data-parallel run"
            if parallel
            else f"standard error not computed: the run is {status}"
        )
        return {
            n: Estimate(float(v.detach()), None, model.specs[n].truth, note)
            for n, v in model.unknown_values().items()
        }
    return estimate_unknowns(
        objective,
        model,
        problem.limits.max_gauss_newton_bytes,
        noise_stated=all(o.noise for o in problem.observations),
    )
