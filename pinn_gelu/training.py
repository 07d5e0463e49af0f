"""Training: the loss, Adam then L-BFGS, progress, and the result.

The loss is a weighted sum of mean squared residuals (Raissi et al. 2019),

    L(θ) = Σ_t w_t · mean_i r_t(x_i; θ)²,

one term t per PDE residual and per boundary-condition kind (``pde``, ``dirichlet``, …), with
weights from ``training.weights`` (default 1). The history records every term unweighted.

Optimisation runs Adam (``training.adam``), then L-BFGS (``training.lbfgs``,
:class:`torch.optim.LBFGS` with the strong Wolfe line search). L-BFGS runs one iteration per
call, so every iteration is recorded, and runs the requested number of iterations unless a stated
condition ends it, which the result names: the gradient tolerance, the loss-change tolerance, or
``patience`` iterations without any decrease of the loss (the line search can no longer find a
lower loss: the precision limit, for which ``dtype: float64`` is the remedy). Evaluations are
cached by parameter value, so this costs no extra forward passes.

A non-finite loss or gradient is detected at the step it appears; training stops with status
``failed``, naming the step and the term, and the network keeps its last finite parameters.
"""

from __future__ import annotations

import math
import time
import warnings
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from .activations import order_warning, parse_activation
from .collocation import Collocation, sample_collocation
from .config import LBFGSConfig
from .derivatives import Fields, need_rank, select_engine
from .metrics import Evaluator, build_evaluator
from .networks import build_network
from .problem import Problem, Term

__all__ = ["DTYPES", "ActivationOrderWarning", "TrainResult", "train"]

DTYPES = {"float32": torch.float32, "float64": torch.float64}


class ActivationOrderWarning(UserWarning):
    """The activation cannot represent the PDE's derivatives (ReLU on a second-order PDE)."""


class _NonFinite(Exception):
    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


@dataclass
class TrainResult:
    """What a training run produced.

    Attributes:
        status: ``completed`` (every phase ran to its end or to a stated tolerance) or
            ``failed`` (non-finite loss or gradient).
        message: one line on how it ended.
        network: the trained network (its last finite parameters when failed).
        history: one record per step: step, phase, loss, each term, error_<field> where measured.
        phase_steps: steps run per phase.
        stop_reasons: per phase, why it ended.
        relative_l2: final relative L2 error per field (empty without a reference).
        final_loss: final weighted loss (``loss``) and each unweighted term.
        wall_time_s: seconds for the whole run, setup and validation included.
        derivatives: which derivative engine computed the residuals, and why.
        warnings: warnings issued before training.
        activation: the activation spec.
    """

    status: str
    message: str
    network: nn.Module
    history: list[dict[str, float | str]]
    phase_steps: dict[str, int]
    stop_reasons: dict[str, str]
    relative_l2: dict[str, float]
    final_loss: dict[str, float]
    wall_time_s: float
    derivatives: str
    warnings: list[str] = field(default_factory=list)
    activation: str = ""

    @property
    def steps(self) -> int:
        """Steps of all phases together."""
        return sum(self.phase_steps.values())


class Trainer:
    """One training run of a problem: set up once, then :meth:`run`.

    Args:
        problem: the validated problem.
        network: a network to train instead of building one from ``problem.network``.
        progress: show progress bars (tqdm, on stderr).
        reference: reference values on the evaluation grid when the problem has no ``exact``.
        label: a prefix for the progress bars.
    """

    def __init__(
        self,
        problem: Problem,
        network: nn.Module | None = None,
        *,
        progress: bool = True,
        reference: Mapping[str, np.ndarray] | None = None,
        label: str = "",
    ) -> None:
        self.label = label
        self.started = time.perf_counter()
        self.problem = problem
        cfg = problem.training
        self.dtype = DTYPES[cfg.dtype]
        self.device = torch.device(cfg.device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("training.device is cuda, but torch sees no CUDA device")
        activation = parse_activation(problem.network.activation)
        if network is None:
            network = build_network(
                problem.network,
                problem.domain.bounds,
                len(problem.pde.outputs),
                seed=cfg.seed,
                dtype=self.dtype,
                activation=activation,
            )
        self.network = network.to(device=self.device, dtype=self.dtype)
        self.activation = activation.spec
        self.engine, self.engine_note = select_engine(self.network, cfg.derivatives)
        self.points: Collocation = sample_collocation(
            problem.domain, cfg.points, cfg.seed, dtype=self.dtype, device=self.device
        )
        self.terms: list[Term] = problem.pde.terms(problem, self.points)
        self.needs: dict[str, str] = {}
        for term in self.terms:
            current = self.needs.get(term.on, "value")
            self.needs[term.on] = max(current, term.need, key=need_rank)
        self.weights = [float(cfg.weights.get(t.name, 1.0)) for t in self.terms]
        self.evaluator: Evaluator | None = build_evaluator(
            problem, self.dtype, self.device, reference
        )
        self.warnings: list[str] = []
        message = order_warning(activation, problem.pde.order, problem.pde.kind)
        if message:
            self.warnings.append(message)
            warnings.warn(message, ActivationOrderWarning, stacklevel=2)
        self.progress = progress
        self.history: list[dict[str, float | str]] = []
        self.step = 0
        self.phase_steps: dict[str, int] = {}
        self.stop_reasons: dict[str, str] = {}
        self.last_errors: dict[str, float] = {}
        self._good = [p.detach().clone() for p in self.network.parameters()]

    # --- the loss -----------------------------------------------------------------------------
    def loss(self) -> tuple[Tensor, Tensor]:
        """(weighted total, unweighted mean squares per term as one tensor)."""
        fields: dict[str, Fields] = {
            place: self.engine(self.network, self.points.on(place), need)
            for place, need in self.needs.items()
        }
        parts = torch.stack([t.residual(fields[t.on]).square().mean() for t in self.terms])
        weights = torch.tensor(self.weights, dtype=parts.dtype, device=parts.device)
        return (parts * weights).sum(), parts

    def _gradient_max(self) -> Tensor:
        grads = [p.grad.abs().max() for p in self.network.parameters() if p.grad is not None]
        return torch.stack(grads).max() if grads else torch.zeros((), device=self.device)

    def _record(self, phase: str, total: float, parts: list[float], **extra: float) -> None:
        record: dict[str, float | str] = {"step": self.step, "phase": phase, "loss": total}
        record.update({t.name: v for t, v in zip(self.terms, parts, strict=True)})
        record.update(extra)
        record["time_s"] = time.perf_counter() - self.started
        self.history.append(record)

    def _check(self, total: float, parts: list[float], grad_max: float) -> None:
        if not math.isfinite(total):
            bad = [t.name for t, v in zip(self.terms, parts, strict=True) if not math.isfinite(v)]
            raise _NonFinite(f"loss term {', '.join(bad) or 'total'} is {total}")
        if not math.isfinite(grad_max):
            raise _NonFinite("the gradient of the loss is not finite")

    def _keep_good(self) -> None:
        with torch.no_grad():
            torch._foreach_copy_(self._good, [p.detach() for p in self.network.parameters()])

    def _restore_good(self) -> None:
        with torch.no_grad():
            for p, good in zip(self.network.parameters(), self._good, strict=True):
                p.copy_(good)

    def _validate(self, phase_step: int, last: bool) -> dict[str, float]:
        every = self.problem.validation.every
        if self.evaluator is None or not (last or (every and phase_step % every == 0)):
            return {}
        self.last_errors = self.evaluator.errors(self.problem, self.network, self.engine)
        return {f"error_{k}": v for k, v in self.last_errors.items()}

    def _bar(self, phase: str, total: int) -> tqdm:
        return tqdm(
            total=total,
            desc=f"{self.label} {phase}" if self.label else phase,
            disable=not self.progress,
            dynamic_ncols=True,
            mininterval=0.5,
            leave=True,
        )

    def _postfix(self, bar: tqdm, total: float) -> None:
        shown = {"loss": f"{total:.3e}"}
        for name, value in self.last_errors.items():
            shown[f"err_{name}"] = f"{value:.2e}"
        bar.set_postfix(shown, refresh=False)

    # --- phases -------------------------------------------------------------------------------
    def run_adam(self) -> None:
        """The Adam phase: ``training.adam.steps`` steps at a (decaying) learning rate."""
        cfg = self.problem.training.adam
        if cfg.steps == 0:
            return
        optimizer = torch.optim.Adam(self.network.parameters(), lr=cfg.lr)
        gamma = cfg.decay ** (1.0 / cfg.steps)
        with self._bar("adam", cfg.steps) as bar:
            for k in range(1, cfg.steps + 1):
                optimizer.zero_grad(set_to_none=True)
                total, parts = self.loss()
                total.backward()
                values = torch.cat([total.detach()[None], parts.detach(), self._gradient_max()[None]])
                numbers = values.tolist()
                self._check(numbers[0], numbers[1:-1], numbers[-1])
                self._keep_good()
                optimizer.step()
                for group in optimizer.param_groups:
                    group["lr"] *= gamma
                self.step += 1
                self.phase_steps["adam"] = k
                self._record("adam", numbers[0], numbers[1:-1], **self._validate(k, k == cfg.steps))
                if k % 25 == 0 or k == cfg.steps:
                    self._postfix(bar, numbers[0])
                bar.update(1)
        self.stop_reasons["adam"] = f"completed {cfg.steps} steps"

    def run_lbfgs(self) -> None:
        """The L-BFGS phase: one iteration per call, every iteration recorded."""
        cfg = self.problem.training.lbfgs
        if cfg.steps == 0:
            return
        params = list(self.network.parameters())
        optimizer = torch.optim.LBFGS(
            params,
            lr=cfg.lr,
            max_iter=1,
            max_eval=25,
            history_size=cfg.history_size,
            tolerance_grad=cfg.tolerance_grad,
            tolerance_change=0.0,
            line_search_fn="strong_wolfe",
        )
        cache = _EvaluationCache(params, self.loss)
        best, since_best = math.inf, 0
        losses: list[float] = []
        reason = f"completed {cfg.steps} iterations"
        with self._bar("lbfgs", cfg.steps) as bar:
            for k in range(1, cfg.steps + 1):
                optimizer.step(cache.closure)
                total, parts, grad_max = cache.current()
                self._check(total, parts, grad_max)
                self._keep_good()
                self.step += 1
                self.phase_steps["lbfgs"] = k
                losses.append(total)
                since_best = 0 if total < best else since_best + 1
                best = min(best, total)
                stop = _lbfgs_stop(cfg, k, losses, grad_max, since_best)
                self._record(
                    "lbfgs",
                    total,
                    parts,
                    grad_max=grad_max,
                    **self._validate(k, k == cfg.steps or stop is not None),
                )
                if k % 10 == 0 or stop is not None:
                    self._postfix(bar, total)
                bar.update(1)
                if stop is not None:
                    reason = stop
                    break
        self.stop_reasons["lbfgs"] = reason

    def run(self) -> TrainResult:
        """Run the phases, then measure the final loss and errors."""
        status, message = "completed", ""
        try:
            self.run_adam()
            self.run_lbfgs()
        except _NonFinite as err:
            self._restore_good()
            phase = self.history[-1]["phase"] if self.history else "adam"
            status = "failed"
            message = (
                f"non-finite values at step {self.step + 1} ({phase}): {err.what}; "
                f"the network keeps its parameters of step {self.step}"
            )
        final = self.final_loss()
        errors = (
            self.evaluator.errors(self.problem, self.network, self.engine)
            if self.evaluator is not None
            else {}
        )
        if status == "completed":
            message = "; ".join(f"{phase}: {why}" for phase, why in self.stop_reasons.items())
            message = message or "no training steps configured"
        return TrainResult(
            status=status,
            message=message,
            network=self.network,
            history=self.history,
            phase_steps=dict(self.phase_steps),
            stop_reasons=dict(self.stop_reasons),
            relative_l2=errors,
            final_loss=final,
            wall_time_s=time.perf_counter() - self.started,
            derivatives=self.engine_note,
            warnings=list(self.warnings),
            activation=self.activation,
        )

    def final_loss(self) -> dict[str, float]:
        """The loss and its unweighted terms at the current parameters."""
        with torch.enable_grad():
            total, parts = self.loss()
        values = [total.item(), *parts.detach().tolist()]
        return {"loss": values[0], **{t.name: v for t, v in zip(self.terms, values[1:], strict=True)}}


def _lbfgs_stop(
    cfg: LBFGSConfig, k: int, losses: list[float], grad_max: float, since_best: int
) -> str | None:
    """Why L-BFGS should stop after iteration k, or None to go on."""
    if grad_max <= cfg.tolerance_grad:
        return (
            f"gradient tolerance met at iteration {k}: max|∂L/∂θ| = {grad_max:.3e} ≤ "
            f"tolerance_grad = {cfg.tolerance_grad:g}"
        )
    if cfg.tolerance_change > 0 and k > cfg.patience:
        before = losses[-cfg.patience - 1]
        change = abs(before - losses[-1]) / max(abs(before), 1e-300)
        if change <= cfg.tolerance_change:
            return (
                f"loss-change tolerance met at iteration {k}: relative change {change:.3e} over "
                f"{cfg.patience} iterations ≤ tolerance_change = {cfg.tolerance_change:g}"
            )
    if since_best >= cfg.patience:
        return (
            f"no decrease of the loss in {cfg.patience} iterations (stopped at iteration {k}, "
            f"loss {min(losses):.3e}): the line search cannot reduce it further at this "
            "precision; dtype: float64 usually goes further"
        )
    return None


class _EvaluationCache:
    """The L-BFGS closure, remembering recent evaluations by exact parameter value.

    torch's LBFGS evaluates the closure at the start of every ``step`` call, at the point its
    previous line search accepted and already evaluated. Looking the parameters up among the
    last evaluations (bitwise equal: the accepted point is rebuilt by the same operations)
    saves that repeated evaluation, and gives each iteration's loss for the history.
    """

    def __init__(self, params: list[nn.Parameter], loss: Callable[[], tuple[Tensor, Tensor]]):
        self.params = params
        self.loss = loss
        self.entries: deque[tuple[Tensor, Tensor, list[Tensor], list[float]]] = deque(maxlen=32)

    def _flat(self) -> Tensor:
        return torch.cat([p.detach().reshape(-1) for p in self.params])

    def _lookup(self) -> tuple[Tensor, Tensor, list[Tensor], list[float]] | None:
        flat = self._flat()
        for entry in reversed(self.entries):
            if torch.equal(entry[0], flat):
                return entry
        return None

    def closure(self) -> Tensor:
        """Loss with gradients set on the parameters (from the cache when possible)."""
        entry = self._lookup()
        if entry is None:
            for p in self.params:
                p.grad = None
            total, parts = self.loss()
            total.backward()
            grads = [
                p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p)
                for p in self.params
            ]
            entry = (self._flat(), total.detach(), grads, parts.detach().tolist())
            self.entries.append(entry)
        else:
            for p, g in zip(self.params, entry[2], strict=True):
                p.grad = g.clone()
        return entry[1]

    def current(self) -> tuple[float, list[float], float]:
        """(loss, terms, max |gradient|) at the current parameters."""
        entry = self._lookup()
        if entry is None:
            with torch.enable_grad():
                self.closure()
            entry = self.entries[-1]
        grad_max = max((g.abs().max().item() for g in entry[2]), default=0.0)
        return entry[1].item(), entry[3], grad_max


def train(
    problem: Problem,
    network: nn.Module | None = None,
    *,
    progress: bool = True,
    reference: Mapping[str, np.ndarray] | None = None,
    label: str = "",
) -> TrainResult:
    """Train a PINN for a problem and return the result.

    Args:
        problem: from :func:`pinn_gelu.load_problem`.
        network: train this network instead of building one from ``problem.network``.
        progress: show progress bars on stderr.
        reference: reference values on the evaluation grid for problems without ``exact``.
        label: a prefix for the progress bars (the run's name in a comparison).

    Example::

        result = train(load_problem("problems/poisson_1d.yaml"))
        print(result.relative_l2["u"], result.message)
    """
    return Trainer(problem, network, progress=progress, reference=reference, label=label).run()

