"""A damped Gauss–Newton (Levenberg–Marquardt) phase on the weighted residual vector.

With r(θ) ∈ ℝᴺ the weighted residual vector of the loss (L = ‖r‖², :mod:`pinn_gelu.loss`) and
J = ∂r/∂θ ∈ ℝᴺˣᴾ its Jacobian, one step solves

    δ = −(JᵀJ + λI)⁻¹ Jᵀr            in parameter space (P × P), when P ≤ N,
    δ = −Jᵀ(JJᵀ + λI)⁻¹ r            in sample space (N × N), when N < P,

the same vector (push-through identity), by a Cholesky factorisation in float64, falling back to
an eigendecomposition that drops the null space when the damped Gram matrix is not numerically
positive definite. λ = damping · ‖J‖²_F / P is relative to the mean squared column norm of J.
The step length is the best of η = 1, ½, ¼, … (``line_search`` of them), as in the energy
natural gradient of Müller & Zeinhofer (2023, "Achieving high accuracy with PINNs via energy
natural gradient descent", ICML), which is this method for a linear PDE: there JᵀJ is the Gram
matrix of the energy inner product. For a nonlinear residual it is Gauss–Newton (the residual's
second derivatives are left out of the curvature), not Newton's method.

Damping adapts as in Levenberg–Marquardt: after an accepted step by the rule of
``damping_rule`` (:mod:`pinn_gelu.optimisers.damping`), multiplied by 10 (and the step solved
again, without a new Jacobian) when no step length lowers the loss. The phase ends early when λ
would exceed 1 (relative) with still no decrease: the loss is then at the limit of the
precision or of the model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from pinn_gelu.config import option
from pinn_gelu.distributed import SINGLE, Group
from pinn_gelu.errors import one_line
from pinn_gelu.loss import canonical_order
from pinn_gelu.optimisers.base import Context, Optimiser, Resources, Step
from pinn_gelu.optimisers.damping import DAMPING_RULES, MAX_DAMPING

__all__ = ["GaussNewton", "GaussNewtonConfig", "LeastSquares", "gauss_newton_direction"]


@dataclass(frozen=True, kw_only=True)
class GaussNewtonConfig:
    """Gauss–Newton phase: ``training.gauss_newton:`` section (Levenberg–Marquardt damping).

    Each step solves (JᵀJ + λI) δ = −Jᵀr for the weighted residual vector r and its Jacobian J
    (in parameter space when there are fewer parameters than residual rows, else in sample
    space), then takes the best of the step lengths η = 1, ½, ¼, … (``line_search`` of them).
    """

    steps: int = option(200, "Gauss–Newton steps", min=0, limit="max_steps")
    damping: float = option(
        1e-8,
        "initial damping λ, relative to the mean squared column norm of J (adapted after each "
        "step by damping_rule; multiplied by 10 when no step length lowers the loss)",
        min_exclusive=0.0,
        max=1.0,
    )
    damping_rule: str = option(
        "classic",
        "how an accepted step changes the damping: classic (divided by 3 after a full step, "
        "else unchanged), marquardt (divided by 3 after every accepted step), gain (by the gain "
        "ratio of the full step, Nielsen's rule)",
        choices=tuple(DAMPING_RULES),
    )
    line_search: int = option(
        12, "step lengths tried per step: η = 2⁻ᵏ, k = 0 … line_search − 1", min=1, max=60
    )
    solve: str = option(
        "auto",
        "where the linear system is solved: auto (the smaller of parameter and sample space), "
        "parameter (P×P), sample (N×N)",
        choices=("auto", "parameter", "sample"),
    )
    momentum: float = option(
        0.0,
        "SPRING momentum μ of ENGD-W (Guzmán-Cordero, Dangel, Goldshlager & Zeinhofer 2025; "
        "Goldshlager et al. 2024): each step solves min ‖Jφ − r‖² + λ‖φ − μφ_prev‖² "
        "instead of λ‖φ‖², so that it keeps part of the previous step (0: Gauss–Newton)",
        min=0.0,
        max=0.999,
    )
    line_search_pass: str = option(
        "auto",
        "how the line search evaluates its step lengths: batched (all in one vectorised pass, "
        "torch.func.vmap; falls back, and says so, where a term cannot be batched), "
        "sequential (one after another), auto (batched on CUDA; sequential on the CPU, where "
        "the batched pass measured 1.3-2.3× slower: benchmarks/line_search.py)",
        choices=("auto", "batched", "sequential"),
    )


def gauss_newton_direction(r: Tensor, jac: Tensor, damping: float, space: str = "auto") -> Tensor:
    """δ = −(JᵀJ + λI)⁻¹Jᵀr with λ = damping·‖J‖²_F/P, in float64.

    Args:
        r: (N,) residual vector.
        jac: (N, P) its Jacobian.
        damping: λ relative to the mean squared column norm of J.
        space: ``parameter`` (P × P system), ``sample`` (N × N) or ``auto`` (the smaller).

    Returns:
        (P,) the step, float64.
    """
    return LeastSquares(r, jac, space).direction(damping)


class LeastSquares:
    """The linearised least-squares problem min ‖r + Jδ‖² + λ‖δ‖² of one step, ready to solve.

    The Gram matrix is formed once and solved for any damping. In a data-parallel run each rank
    holds its rows of r and J: in parameter space JᵀJ and Jᵀr are summed over the ranks (P² + P
    numbers), in sample space the rows are gathered in the canonical order of
    :meth:`~pinn_gelu.loss.Loss.row_keys` (every rank then holds all of J, row for row as one
    process holds it). Every rank ends with the same system and the same δ. A small damping
    makes the solve ill-conditioned (‖G‖/λ up to P/damping), so rounding-level differences in G
    (a sum split over ranks, or over threads) grow by up to that factor in δ: with the default
    1e-8 a single process run with 2 threads instead of 1 ends ~1e-8 away from itself (measured
    on a 151-parameter network), and so does a data-parallel run.

    Args:
        r: (N,) this rank's residual rows.
        jac: (N, P) their Jacobian.
        space: ``parameter``, ``sample`` or ``auto`` (the smaller system over all ranks).
        group: the processes of the run.
    """

    def __init__(
        self,
        r: Tensor,
        jac: Tensor,
        space: str = "auto",
        group: Group = SINGLE,
        keys: Tensor | None = None,
    ) -> None:
        r, jac = r.double(), jac.double()
        p = jac.shape[1]
        rows = int(group.sum(float(jac.shape[0])))
        self.space = ("parameter" if p <= rows else "sample") if space == "auto" else space
        self.p = p
        if self.space == "parameter":
            self.gram = group.all_reduce(jac.T @ jac)
            self.gradient = group.all_reduce(jac.T @ r)  # Jᵀr = ½∇L
            self.loss = group.sum(float(r.square().sum()))
            self.norm = float(self.gram.diagonal().sum())  # ‖J‖²_F = tr JᵀJ
        else:
            self.r, self.jac = group.gather_rows(r), group.gather_rows(jac)
            if keys is not None:  # the rows in one order whatever the number of ranks
                order = canonical_order(group.gather_rows(keys))
                self.r, self.jac = self.r[order], self.jac[order]
            self.gram = self.jac @ self.jac.T
            self.gradient = self.jac.T @ self.r
            self.loss = float(self.r.square().sum())
            self.norm = float(self.jac.square().sum())

    def direction(self, damping: float, prior: Tensor | None = None) -> Tensor:
        """δ for λ = damping·‖J‖²_F/P (float64, (P,)).

        With ``prior`` = μφ_(k−1) (SPRING's momentum), δ = −φ for the φ that minimises
        ‖Jφ − r‖² + λ‖φ − μφ_(k−1)‖²: φ = μφ_(k−1) + (JᵀJ + λI)⁻¹Jᵀ(r − Jμφ_(k−1)), in either
        space by the push-through identity.
        """
        lam = max(damping * self.norm / max(self.p, 1), torch.finfo(torch.float64).tiny)
        if prior is None:
            if self.space == "parameter":
                return -_solve_spd(self.gram, self.gradient, lam)
            return -(self.jac.T @ _solve_spd(self.gram, self.r, lam))
        prior = prior.double()
        if self.space == "parameter":
            return -(prior + _solve_spd(self.gram, self.gradient - self.gram @ prior, lam))
        return -(prior + self.jac.T @ _solve_spd(self.gram, self.r - self.jac @ prior, lam))

    def predicted_decrease(self, step: Tensor) -> float:
        """‖r‖² − ‖r + Jδ‖² = −(2δᵀJᵀr + ‖Jδ‖²): the decrease the linear model promises."""
        step = step.double()
        if self.space == "parameter":
            curvature = float(step @ (self.gram @ step))
        else:
            curvature = float((self.jac @ step).square().sum())
        return -(2.0 * float(step @ self.gradient) + curvature)


def _solve_spd(gram: Tensor, rhs: Tensor, lam: float) -> Tensor:
    """(G + λI)⁻¹ rhs for a symmetric positive semi-definite G: Cholesky, else eigenvalues."""
    system = gram + lam * torch.eye(gram.shape[0], dtype=gram.dtype, device=gram.device)
    factor, info = torch.linalg.cholesky_ex(system)
    if int(info) == 0:
        return torch.cholesky_solve(rhs[:, None], factor)[:, 0]
    values, vectors = torch.linalg.eigh(system)
    keep = values > values.max() * torch.finfo(values.dtype).eps * values.numel()
    inverse = torch.where(keep, 1.0 / values, torch.zeros_like(values))
    return vectors @ (inverse * (vectors.T @ rhs))


class GaussNewton(Optimiser):
    """The ``gauss_newton`` phase: see the module docstring."""

    Config = GaussNewtonConfig

    def __init__(self, config: GaussNewtonConfig, context: Context) -> None:
        super().__init__(config, context)
        self.damping = config.damping
        self.growth = 2.0  # ν of the gain rule: the factor of the next increase
        self.rule = DAMPING_RULES[config.damping_rule]
        cuda = context.params[0].device.type == "cuda"
        mode = config.line_search_pass
        self.batched = mode == "batched" or (mode == "auto" and cuda)
        #: How the line search ran when not as configured (a batched pass that fell back).
        self.note = ""
        #: φ of the last accepted step, for the momentum (None: none yet, or no momentum).
        self.previous: Tensor | None = None

    @classmethod
    def check_resources(cls, config: GaussNewtonConfig, need: Resources) -> str | None:
        """Whether the Jacobian (rows × P) and the smaller Gram matrix fit in memory.

        They must fit max_gauss_newton_bytes, and on CUDA three quarters of the device's free
        memory (the rest is for the step).
        """
        size = min(need.rows, need.parameters)
        needed = 8 * (need.rows * need.parameters + size * size)
        limit = need.limits.max_gauss_newton_bytes
        if need.free_bytes is not None and needed > 0.75 * need.free_bytes:
            return (
                f"the Jacobian ({need.rows} residual rows × {need.parameters} parameters) and its "
                f"{size}×{size} Gram matrix need {needed:,} bytes in float64, more than three "
                f"quarters of the {need.free_bytes:,} bytes free on the device: use fewer points "
                "or a smaller network"
            )
        if needed <= limit:
            return None
        return (
            f"the Jacobian ({need.rows} residual rows × {need.parameters} parameters) and its "
            f"{size}×{size} Gram matrix need {needed:,} bytes, over the limit of "
            f"{limit:,} (max_gauss_newton_bytes): use fewer points or a smaller network, "
            "or raise the limit with --limit max_gauss_newton_bytes=N"
        )

    def _flat(self) -> Tensor:
        return torch.cat([p.detach().reshape(-1) for p in self.context.params])

    def _set(self, flat: Tensor) -> None:
        with torch.no_grad():
            start = 0
            for p in self.context.params:
                p.copy_(flat[start : start + p.numel()].view_as(p))
                start += p.numel()

    def _losses_at(self, points: list[Tensor]) -> list[tuple[float, list[float]]]:
        """(L, terms) at each parameter vector, read from the device in one transfer.

        Batched (``line_search_pass``): one vectorised pass over all the vectors; else one
        vector after another. The same numbers to rounding (tested).
        """
        if self.batched:
            try:
                return self._batched_losses_at(points)
            except Exception as err:  # a term torch.func cannot batch: one after another
                self.batched = False
                self.note = (
                    f"line search one step length after another: the batched pass failed "
                    f"({type(err).__name__}: {one_line(err)[:120]})"
                )
        values = []
        for flat in points:
            self._set(flat)
            with torch.no_grad():
                total, parts = self.context.evaluate()
            values.append(torch.cat([total.reshape(1), parts]))
        numbers = torch.stack(values).tolist()  # the line search's one synchronisation
        return [(row[0], row[1:]) for row in numbers]

    def _batched_losses_at(self, points: list[Tensor]) -> list[tuple[float, list[float]]]:
        loss = self.context.loss
        rows = loss.values_at(torch.stack(points))
        parts = rows[:, 1:]
        if loss.group.active:
            parts = loss.group.all_reduce(parts.contiguous())
        weights = torch.as_tensor(loss.weights, dtype=parts.dtype, device=parts.device)
        numbers = torch.cat([(parts * weights).sum(1, keepdim=True), parts], 1).tolist()
        return [(row[0], row[1:]) for row in numbers]

    def step(self, k: int, lr_scale: float) -> Step:
        """One damped Gauss–Newton step with its line search; the loss is at the new point."""
        cfg = self.config
        r, jac = self.context.loss.jacobian()
        loss = self.context.loss
        system = LeastSquares(r, jac, cfg.solve, loss.group, loss.row_keys())
        del r, jac
        current = system.loss
        grad_max = 2.0 * float(system.gradient.abs().max()) if system.gradient.numel() else 0.0
        start = self._flat()
        with torch.no_grad():  # the terms for the record: values only, no graph
            start_parts = self.context.evaluate()[1].tolist()
        self.context.accept(current, start_parts, grad_max)
        lengths = [lr_scale * 0.5**i for i in range(cfg.line_search)]
        prior = None if self.previous is None else cfg.momentum * self.previous
        while True:
            exact = system.direction(self.damping, prior)
            direction = exact.to(start.dtype)
            losses = self._losses_at([start + eta * direction for eta in lengths])
            trials = list(zip(losses, lengths, strict=True))
            (best, parts), eta = min(trials, key=lambda t: t[0][0])
            if best < current:
                self._set(start + eta * direction)
                predicted = system.predicted_decrease(lengths[0] * direction)
                full = trials[0][0][0]
                ratio = (current - full) / predicted if predicted > 0 else -1.0
                self.damping, self.growth = self.rule(
                    self.damping, self.growth, ratio, eta == lengths[0]
                )
                extra = {"grad_max": grad_max, "damping": self.damping, "step_length": eta}
                if cfg.momentum:
                    self.previous = -exact
                return Step(best, parts, extra)
            if self.damping * 10.0 > MAX_DAMPING:
                self._set(start)
                extra = {"grad_max": grad_max, "damping": self.damping, "step_length": 0.0}
                reason = (
                    f"no decrease of the loss at step {k} (loss {current:.3e}) for any step "
                    f"length down to {lengths[-1]:.1e}, even at damping {self.damping:.1e}: the "
                    "limit of the precision or of the network"
                )
                return Step(current, start_parts, extra, reason)
            self.damping *= 10.0

    def state_dict(self) -> dict[str, Any]:
        """The current damping, the gain rule's growth factor, and the momentum's last φ."""
        state: dict[str, Any] = {"damping": self.damping, "growth": self.growth}
        if self.previous is not None:
            state["previous"] = self.previous.detach().cpu().clone()
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore the damping (and the growth factor: 2 in checkpoints written before it)."""
        damping, growth = state["damping"], state.get("growth", 2.0)
        bounds = (("damping", damping, 0.0, MAX_DAMPING), ("growth", growth, 1.0, 2.0**30))
        for name, value, low, high in bounds:
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not (number and low < value <= high):
                shown = repr(value)[:40] if number else type(value).__name__
                raise ValueError(f"{name}: expected a number in ({low:g}, {high:g}], got {shown}")
        self.damping, self.growth = float(damping), float(growth)
        previous = state.get("previous")
        if previous is not None:
            size = sum(p.numel() for p in self.context.params)
            if not isinstance(previous, Tensor) or tuple(previous.shape) != (size,):
                raise ValueError(f"previous: expected a tensor of shape ({size},)")
            if previous.dtype != torch.float64 or not bool(torch.isfinite(previous).all()):
                raise ValueError("previous: expected finite float64 numbers")
            self.previous = previous.to(self.context.params[0].device)
