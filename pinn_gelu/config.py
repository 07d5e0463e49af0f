"""Configuration: one frozen dataclass per problem-file section, with all defaults and bounds.

Each field's metadata carries what the problem-file reader needs to validate it and what the key
reference (``problems/README.md``) documents: a one-line ``doc``, and where they apply ``min``,
``max``, ``choices`` (or the ``registry`` they come from, which the reader holds: configuration
imports no registry) and ``unit``. A problem file states only what differs from the defaults.
The bounds on what a file can make expensive (points, network size, steps) live in
:class:`Limits`; they can be raised from Python or the command line, never from the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from pinn_gelu.activations import ActivationSpec
from pinn_gelu.expressions import Expression, ExpressionLimits

__all__ = [
    "DTYPES",
    "LIMIT_CEILINGS",
    "Limits",
    "NetworkConfig",
    "PointsConfig",
    "TrainingConfig",
    "ValidationConfig",
]


#: Floating-point precisions by ``training.dtype`` name.
DTYPES = {"float32": torch.float32, "float64": torch.float64}


def option(default: Any, doc: str, **meta: Any) -> Any:
    """A dataclass field with its documentation and bounds in the metadata."""
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda: type(default)(default), metadata={"doc": doc, **meta})
    return field(default=default, metadata={"doc": doc, **meta})


#: Bounds of :class:`Limits` that no ``--limit`` may exceed: deeper expressions would exhaust
#: Python's recursion bound (1000 frames) when compiled or evaluated.
LIMIT_CEILINGS = {"max_expression_depth": 200}


@dataclass(frozen=True, kw_only=True)
class Limits:
    """Bounds on what a problem file may ask for; exceeded bounds are errors naming the key.

    They guard against files that would take hours or all memory by accident or on purpose.
    Raise them from Python (``load_problem(path, limits=Limits(...))``) or with
    ``pinn-gelu solve --limit max_points=2000000``; a problem file cannot change them.
    """

    max_points: int = option(1_000_000, "collocation points in one set (interior or boundary)")
    max_width: int = option(4096, "neurons per hidden layer")
    max_depth: int = option(64, "hidden layers")
    max_parameters: int = option(50_000_000, "trainable network parameters")
    max_steps: int = option(10_000_000, "optimiser steps in one phase")
    max_grid_points: int = option(4_000_000, "points of the validation grid, all dimensions")
    max_fd_unknowns: int = option(5_000_000, "unknowns of a finite-difference reference")
    max_expression_length: int = option(1000, "characters in one expression")
    max_expression_nodes: int = option(500, "syntax-tree nodes in one expression")
    max_expression_depth: int = option(50, "nesting depth of one expression")
    max_gauss_newton_bytes: int = option(
        4 * 2**30,
        "bytes of the Gauss–Newton Jacobian (residual rows × parameters × 8) and its Gram matrix",
    )
    max_exponent: float = option(64.0, "magnitude of a constant exponent in a**b")
    max_constant: float = option(1e100, "magnitude of any constant (folded sub-expression)")
    max_tensor_bytes: int = option(
        4 * 2**30,
        "bytes of memory one training step may need: checked from the problem file (points × "
        "network width × derivative channels × bytes per number, one layer) and, before "
        "training, measured on a probe of 64 points and scaled",
    )

    def expressions(self) -> ExpressionLimits:
        """The expression-language bounds these limits imply."""
        return ExpressionLimits(
            max_length=self.max_expression_length,
            max_nodes=self.max_expression_nodes,
            max_depth=self.max_expression_depth,
            max_exponent=self.max_exponent,
            max_magnitude=self.max_constant,
        )


@dataclass(frozen=True, kw_only=True)
class NetworkConfig:
    """The multilayer perceptron: ``network:`` section."""

    activation: ActivationSpec = option(
        ActivationSpec("gelu"),
        "activation spec: a name, optionally with parameters, e.g. gelu, tanh, gelu(alpha=4)",
        parse=ActivationSpec.parse,
    )
    width: int = option(
        50,
        "neurons per hidden layer (20 where training.schedule: auto picks Gauss–Newton)",
        min=1,
        limit="max_width",
    )
    depth: int = option(
        4,
        "number of hidden layers (3 where training.schedule: auto picks Gauss–Newton)",
        min=1,
        limit="max_depth",
    )
    init: str = option(
        "glorot",
        "weight initialisation (fixed_point: pre-activations of second moment 1 for points "
        "over the domain: 3/fan_in in the first layer, σ_w²/fan_in with σ_w² = 1/E[σ(z)²], "
        "z ~ N(0,1), after it; slightly unstable for GELU, see pinn_gelu.model.networks)",
        registry="initialisers",
    )
    fourier_features: int = option(
        0,
        "random Fourier features of the inputs, [cos 2πBξ, sin 2πBξ] with B (m × d) ~ N(0, σ²) "
        "drawn from training.seed (Tancik et al. 2020); m, 0 for none",
        min=0,
        max=1024,
    )
    fourier_scale: float = option(
        1.0,
        "σ of the Fourier features' frequencies (per unit of ξ ∈ [−1, 1]); at most 1e4 (the "
        "features of larger ones are noise at any float precision)",
        min=0.0,
        max=1e4,
    )
    periodic_harmonics: int = option(
        1,
        "K of the periodic embedding of domain.periodic axes: cos(kπξ), sin(kπξ), k = 1..K",
        min=1,
        max=64,
    )

    def __post_init__(self) -> None:
        # From Python, NetworkConfig(activation="tanh") is parsed here, once, like the file's.
        object.__setattr__(self, "activation", ActivationSpec.parse(self.activation))


@dataclass(frozen=True, kw_only=True)
class PointsConfig:
    """Collocation points: ``training.points:`` section."""

    interior: int = option(2000, "collocation points inside the domain", min=1, limit="max_points")
    boundary: int = option(
        400,
        "collocation points on the boundary, shared by the sides in proportion to their size "
        "(in 1D each side is one point)",
        min=0,
        limit="max_points",
    )
    sampler: str = option(
        "sobol",
        "how points are drawn (sobol: scrambled Sobol sequence)",
        registry="samplers",
    )


@dataclass(frozen=True, kw_only=True)
class CausalConfig:
    """Causal weights of an evolution problem's interior terms: ``training.causal:`` section."""

    slabs: int = option(
        0,
        "time slabs M of the causal weights w_i = exp(−ε Σ_{j<i} L_j) (Wang, Sankaran & "
        "Perdikaris 2022); 0: off. Needs domain.time",
        min=0,
        max=1024,
    )
    epsilon: float = option(1.0, "ε of the causal weights", min=0.0, max=1e6)


@dataclass(frozen=True, kw_only=True)
class AdaptiveConfig:
    """Residual-based adaptive collocation: ``training.adaptive:`` section."""

    every: int = option(
        0,
        "steps between refinements of the interior points by their residual (Wu et al. 2023); "
        "0: off",
        min=0,
        max=10_000_000,
    )
    method: str = option(
        "rar_d",
        "rar_d: add training.adaptive.add points drawn from the candidates with probability "
        "p ∝ ε^k/mean(ε^k) + c (ε: the PDE residual's magnitude); rad: redraw every interior "
        "point that way",
        registry="adaptive",
    )
    candidates: int = option(
        10_000,
        "candidate points drawn afresh (from training.seed and the refinement's number) at each "
        "refinement, where the residual is evaluated",
        min=1,
        limit="max_points",
    )
    add: int = option(200, "points added per refinement (rar_d)", min=1, limit="max_points")
    k: float = option(
        2.0,
        "exponent k of ε in p (Wu et al. recommend k = 2, c = 0 for rar_d; k = 1, c = 1 for rad)",
        min=0.0,
        max=10.0,
    )
    c: float = option(0.0, "constant c of p (c > 0 keeps some uniform draws)", min=0.0, max=1e6)


@dataclass(frozen=True, kw_only=True)
class TrainingConfig:
    """Training: ``training:`` section."""

    points: PointsConfig = option(PointsConfig(), "collocation points (section)")
    phases: dict[str, Any] = option(
        {},
        "each optimiser's section, by name (training.adam, training.lbfgs, …): filled by the "
        "problem-file reader from the optimisers' registry",
        sections="optimisers",
    )
    schedule: tuple[str, ...] = option(
        ("auto",),
        "the optimiser phases in order, each at most once (a phase with steps: 0 is skipped); "
        "auto: Adam then Gauss–Newton on a 20×3 network where one Gauss–Newton step is "
        "affordable, else Adam then L-BFGS on 50×4 (a file that configures only one of "
        "training.lbfgs and training.gauss_newton gets that one; a stated network size is "
        "kept); `pinn-gelu check` says which and why",
        registry="optimisers",
        auto=True,
    )
    causal: CausalConfig = option(CausalConfig(), "causal weights (section)")
    adaptive: AdaptiveConfig = option(AdaptiveConfig(), "adaptive collocation points (section)")
    seed: int = option(0, "fixes initial weights and every sampled point", min=0, max=2**32 - 1)
    dtype: str = option(
        "float64",
        "floating-point precision of everything (float32: faster steps, a less accurate end "
        "on most problems; see the README's table of defaults)",
        choices=tuple(DTYPES),
    )
    device: str = option("cpu", "torch device", choices=("cpu", "cuda"))
    weights: dict[str, float | Expression] = option(
        {},
        "weight per loss term, by term name (pde, dirichlet, neumann, ...); a term not named "
        "here gets its PDE kind's default: 100 for conditions on values (dirichlet, "
        "displacement), 10 for conditions on fluxes (neumann, traction) and the mixed "
        "form's constitutive law, 1 for the PDE. An expression of the coordinates is a "
        "weight per point (in [0, 1e12] at every point of the term), multiplying the "
        "squared residual there, e.g. sqrt((x**2 + y**2)/(x**2 + y**2 + 0.04)) to let a residual "
        "that no smooth function meets near a re-entrant corner count less",
        min=0.0,
        max=1e12,
        expressions=True,
    )
    derivatives: str = option(
        "auto",
        "how PDE derivatives are computed (auto: forward mode where the network supports it; "
        "autograd: nested reverse mode; func: torch.func transforms)",
        registry="derivatives",
    )
    compile: bool = option(
        False,
        "compile the loss with torch.compile (cheaper steps after a one-off compilation in "
        "the first step; benchmarks/speed.py measures both, see benchmarks/results/; falls "
        "back to eager mode, and says so, where it fails)",
    )
    capture: bool = option(
        False,
        "replay each Adam step as one CUDA graph (CUDA only: one launch per step instead of "
        "hundreds; the first 3 steps run eagerly; falls back to eager steps, and says why in "
        "the run's events, where capture is not possible)",
    )
    step_memory: int = option(
        0,
        "bytes one chunk of a training step may hold: the loss, its gradient and the "
        "Gauss–Newton Jacobian are evaluated over chunks of the points, one chunk at a time "
        "(the same numbers to rounding), so that a step's memory is that of one chunk (0: auto, "
        "half the free device memory on CUDA, 256 MiB on the CPU, where a step on large arrays "
        "costs more per point; never over max_tensor_bytes). A causal problem is not chunked",
        min=0,
        max=2**50,
    )
    checkpoint_every: int = option(
        1000,
        "steps between checkpoints of a run directory (0: only at the end of each phase)",
        min=0,
        max=10_000_000,
    )
    on_nonfinite: str = option(
        "stop",
        "what a non-finite loss or gradient does: stop (keep the last good state, exit 1) or "
        "rollback (restore the last good state, halve the learning rate, go on)",
        choices=("stop", "rollback"),
    )
    max_rollbacks: int = option(3, "rollbacks allowed before stopping", min=0, max=100)

    def __getattr__(self, name: str) -> Any:
        """An optimiser's section by its name: ``training.adam`` is ``training.phases['adam']``."""
        phases = self.__dict__.get("phases", {})
        if name in phases:
            return phases[name]
        raise AttributeError(f"training has no section {name!r}")


@dataclass(frozen=True, kw_only=True)
class ValidationConfig:
    """Validation against the exact or reference solution: ``validation:`` section."""

    grid: int = option(
        0,
        "points per dimension of the evaluation grid (0: 1001 in 1D, 101 in 2D, 31 in 3D, 15 in "
        "4D)",
        min=0,
    )
    every: int = option(
        500, "steps between error evaluations during training (0: only at the end)", min=0
    )
    per_phase: int = option(
        10,
        "error evaluations at least per phase, so that a short phase (200 Gauss–Newton steps) "
        "draws its error curve too: a phase of n steps is validated every min(every, ⌈n / "
        "per_phase⌉) steps (0: every steps only)",
        min=0,
        max=10_000,
    )

    def cadence(self, steps: int) -> int:
        """Steps between error evaluations in a phase of ``steps`` steps (0: only at its end).

        >>> ValidationConfig().cadence(300), ValidationConfig().cadence(5000)
        (30, 500)
        >>> ValidationConfig(every=0, per_phase=0).cadence(300)
        0
        """
        cadences = [
            c for c in (self.every, -(-steps // self.per_phase) if self.per_phase else 0) if c
        ]
        return min(cadences, default=0)

    def grid_points(self, dimension: int) -> int:
        """Points per dimension for a domain of this dimension."""
        if self.grid:
            return self.grid
        return {1: 1001, 2: 101, 3: 31, 4: 15}[dimension]
