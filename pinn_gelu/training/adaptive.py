"""Adaptive collocation: interior points moved to where the PDE residual is large.

Uniform points spend most of a network's fit where the solution is easy; a shock or a front
then holds the error. Wu, Zhu, Tan, Kartha & Lu (2023, "A comprehensive study of non-adaptive
and residual-based adaptive sampling for physics-informed neural networks", CMAME 403, 115671)
draw points with the density

    p(x) ∝ ε(x)^k / E[ε^k] + c,

ε(x) the magnitude of the PDE residual at x. Every ``training.adaptive.every`` steps a fresh
candidate set S (``candidates`` points, drawn from the domain by the problem's sampler) is
scored, ε(x) = (Σ_t w_t r_t(x)²)^½ over the interior (PDE) terms t with their weights w_t, and
points are drawn from S without replacement with probabilities p. The methods
(:data:`ADAPTIVE`, ``training.adaptive.method``):

- ``rar_d`` (residual-based adaptive refinement with distribution): the ``add`` drawn points join
  the interior set, which grows; Wu et al. recommend k = 2, c = 0.
- ``rad`` (residual-based adaptive distribution): the whole interior set is redrawn, its size
  kept; Wu et al. recommend k = 1, c = 1.

Reproducible: refinement r (1, 2, …) draws its candidates and its choice from streams of
``numpy.random.SeedSequence([seed, r])``, so the points follow from the seed and the network at
that step. The interior set and r are part of the training state (snapshots, checkpoints), so a
resumed run continues with the points it had and repeats the later refinements bit for bit.

In a data-parallel run every rank draws the same candidates, scores its shard of them, and the
scores are gathered (:meth:`~pinn_gelu.distributed.Group.gather_rows`): every rank then makes
the same choice and keeps its shard of the new set.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from pinn_gelu.collocation import Collocation, shard_collocation
from pinn_gelu.config import AdaptiveConfig, TrainingConfig
from pinn_gelu.distributed import Group
from pinn_gelu.fields import Engine, need_rank
from pinn_gelu.problem import Problem

__all__ = [
    "ADAPTIVE",
    "AdaptivePoints",
    "Method",
    "Refiner",
    "choose",
    "most_interior",
    "residual_magnitude",
]

#: Candidates scored at once (their fields are held without a graph, a chunk at a time).
CHUNK = 4096
#: Salt of the refinements' seed streams (apart from the collocation points' streams).
_SALT = 0xADA97


@dataclass(frozen=True)
class Method:
    """An adaptive method: how many points a refinement draws, and what it does with them.

    Attributes:
        name: the ``training.adaptive.method`` name.
        draws: (config, interior points now) → points to draw from the candidates.
        combine: (interior now, drawn) → the new interior set.
        grows: points the set gains per refinement, given the config (for the bounds).
    """

    name: str
    draws: Callable[[AdaptiveConfig, int], int]
    combine: Callable[[Tensor, Tensor], Tensor]
    grows: Callable[[AdaptiveConfig], int]


#: The adaptive methods, by ``training.adaptive.method``.
ADAPTIVE: Mapping[str, Method] = {
    "rar_d": Method(
        "rar_d",
        draws=lambda config, current: config.add,
        combine=lambda current, drawn: torch.cat([current, drawn]),
        grows=lambda config: config.add,
    ),
    "rad": Method(
        "rad",
        draws=lambda config, current: current,
        combine=lambda current, drawn: drawn,
        grows=lambda config: 0,
    ),
}


def refinements(training: TrainingConfig, steps: int | None = None) -> int:
    """How many refinements a run of ``steps`` steps (default: the whole schedule) makes."""
    every = training.adaptive.every
    if not every:
        return 0
    if steps is None:
        phases = training.phases
        steps = sum(phases[name].steps for name in training.schedule if name in phases)
    return steps // every


def most_interior(training: TrainingConfig) -> int:
    """The most interior points a run holds: the initial ones and what refinements add."""
    config = training.adaptive
    grows = ADAPTIVE[config.method].grows(config)
    return training.points.interior + grows * refinements(training)


def choose(scores: np.ndarray, count: int, k: float, c: float, rng: np.random.Generator) -> Any:
    """Indices of ``count`` of the scores' points, drawn without replacement with p ∝ ε^k/E + c.

    A score set that is all zero (a network that solves the PDE at every candidate) has no
    density to follow: the draw is then uniform.
    """
    weights = np.power(np.abs(scores), k)
    mean = weights.mean()
    weights = weights / mean + c if mean > 0 and np.isfinite(mean) else np.ones_like(weights)
    if not np.all(np.isfinite(weights)):  # a residual that overflows ε^k: rank by it instead
        weights = np.where(np.isfinite(weights), 0.0, 1.0) + 1e-300
    positive = int(np.count_nonzero(weights))
    if positive < count:  # c = 0 and too few points with a residual: fill up uniformly
        weights = weights + weights.max() * 1e-12 + 1e-300
    return rng.choice(scores.shape[0], size=count, replace=False, p=weights / weights.sum())


def residual_magnitude(problem: Problem, model: nn.Module, engine: Engine, x: Tensor) -> Tensor:
    """ε(x) = (Σ_t w_t r_t(x)²)^½ over the problem's interior (PDE) terms, (n,), no graph."""
    empty = x[:0]
    sides = dict.fromkeys(problem.domain.sides, (0, 0))  # no boundary points: empty terms
    points = Collocation(interior=x, boundary=empty, normals=empty, sides=sides)
    terms = [t for t in problem.pde.terms(problem, points) if t.on == "interior" and t.rows is None]
    need = max((t.need for t in terms), key=need_rank, default="value")
    fields = engine(model, x, need)
    values = getattr(model, "unknown_values", None)
    fields.unknowns = values() if values is not None and getattr(model, "specs", None) else None
    total = x.new_zeros(x.shape[0])
    for term in terms:
        residual = term.residual(fields).detach()
        total += problem.weight(term.name) * residual.reshape(x.shape[0], -1).square().sum(1)
    return total.sqrt()


class Refiner:
    """The refinements of one run: when they fall, and the new interior set of each.

    Args:
        problem: the problem (its ``training.adaptive`` is on).
        group: the processes of a data-parallel run.
    """

    def __init__(self, problem: Problem, group: Group) -> None:
        self.problem = problem
        self.config = problem.training.adaptive
        self.method = ADAPTIVE[self.config.method]
        self.group = group

    def due(self, step: int) -> bool:
        """Whether a refinement follows global step ``step``."""
        return bool(self.config.every) and step % self.config.every == 0

    def refine(
        self, model: nn.Module, engine: Engine, current: Tensor, number: int
    ) -> tuple[Tensor, dict[str, float]]:
        """The interior set after refinement ``number`` (1, 2, …), and what to record of it.

        ``current``: the whole interior set now (every rank's). Returns the whole new set and
        the history's columns: ``adaptive_points`` (its size), ``adaptive_residual_mean`` and
        ``adaptive_residual_max`` (ε over the candidates).
        """
        problem, config = self.problem, self.config
        streams = np.random.SeedSequence([problem.training.seed, _SALT, number]).spawn(2)
        seed = int(streams[0].generate_state(1)[0])
        candidates, _, _, _ = problem.domain.sample(
            config.candidates, 0, problem.training.points.sampler, seed, ()
        )
        x = torch.as_tensor(candidates, dtype=current.dtype, device=current.device)
        start, stop = self.group.shard(x.shape[0])
        mine = [  # in chunks: the candidates' fields need no more memory than a training step's
            residual_magnitude(problem, model, engine, x[a : min(a + CHUNK, stop)])
            for a in range(start, stop, CHUNK)
        ]
        scores = self.group.gather_rows(torch.cat(mine) if mine else x.new_zeros(0))
        values = scores.double().cpu().numpy()
        count = min(self.method.draws(config, current.shape[0]), x.shape[0])
        chosen = choose(values, count, config.k, config.c, np.random.default_rng(streams[1]))
        index = torch.as_tensor(np.sort(chosen), device=x.device)
        new = self.method.combine(current, x[index])
        return new, {
            "adaptive_points": float(new.shape[0]),
            "adaptive_residual_mean": float(values.mean()),
            "adaptive_residual_max": float(values.max()),
        }


class AdaptivePoints:
    """A run's interior set under refinement: its part of the training state.

    Args:
        problem: the problem (its ``training.adaptive`` is on).
        whole: the run's whole point set (every rank's) as drawn.
        group: the processes of a data-parallel run.
    """

    def __init__(self, problem: Problem, whole: Collocation, group: Group) -> None:
        self.refiner = Refiner(problem, group)
        self.whole = whole
        self.group = group
        #: Refinements made so far.
        self.refinements = 0

    @property
    def points(self) -> Collocation:
        """This rank's share of the current set."""
        return shard_collocation(self.whole, self.group)

    def due(self, step: int) -> bool:
        """Whether a refinement follows global step ``step``."""
        return self.refiner.due(step)

    def refine(self, model: nn.Module, engine: Engine) -> dict[str, float]:
        """Make the next refinement; the history columns it leaves (see :meth:`Refiner.refine`)."""
        self.refinements += 1
        interior, columns = self.refiner.refine(
            model, engine, self.whole.interior, self.refinements
        )
        self.whole = dataclasses.replace(self.whole, interior=interior)
        return columns

    def state(self) -> dict[str, Any]:
        """The refinements made and the interior set, for snapshots and checkpoints."""
        interior = self.whole.interior.detach().cpu()
        return {"adaptive": {"refinements": self.refinements, "interior": interior}}

    def load(self, state: Mapping[str, Any]) -> bool:
        """Restore :meth:`state`'s ``adaptive`` entry; whether the interior set changed."""
        interior = state["interior"].to(self.whole.interior)
        self.refinements = int(state["refinements"])
        if torch.equal(interior, self.whole.interior):
            return False
        self.whole = dataclasses.replace(self.whole, interior=interior)
        return True
