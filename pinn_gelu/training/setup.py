"""Assembling a run: the model, its collocation points, the loss, the evaluator, the checks.

Everything a run needs before its first step is built here, once, by :func:`assemble`; the
driver (:mod:`pinn_gelu.training.driver`) then only loops. Each scheduled optimiser checks here,
before any training, that it can run at this size (:meth:`Optimiser.check_resources
<pinn_gelu.optimisers.base.Optimiser.check_resources>`: Gauss–Newton's Jacobian against
``max_gauss_newton_bytes``).
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from pinn_gelu.activations import order_warning
from pinn_gelu.collocation import Collocation, chunk_collocation, shard_collocation
from pinn_gelu.config import DTYPES
from pinn_gelu.derivatives import func_fields, select_engine
from pinn_gelu.distributed import SINGLE, Group
from pinn_gelu.errors import ProblemFileError
from pinn_gelu.expressions import point_text
from pinn_gelu.fields import Engine, need_rank
from pinn_gelu.loss import ChunkedLoss, Loss, Objective
from pinn_gelu.metrics import Evaluator, build_evaluator
from pinn_gelu.model.embeddings import Chain, Periodic
from pinn_gelu.model.model import Model
from pinn_gelu.model.networks import build_network
from pinn_gelu.optimisers import OPTIMISERS, Resources
from pinn_gelu.problem import Problem
from pinn_gelu.training.adaptive import most_interior
from pinn_gelu.training.memory import PEAK_FACTOR, PROBE_POINTS, step_bytes

__all__ = [
    "ActivationOrderWarning",
    "Assembly",
    "assemble",
    "build_loss",
    "build_model",
    "check_step_memory",
    "chunk_count",
]

#: Step memory of one chunk on the CPU (``training.step_memory: 0``): a 50×4 poisson_2d step in
#: float32 costs 6.7 µs a point at 20,000 points (about 390 MiB) and 25 µs at 200,000 (one
#: thread; most of it the page faults of arrays too large for the allocator to keep).
CPU_CHUNK_BYTES = 256 * 2**20
#: Fewest collocation points a chunk holds (smaller chunks would cost more than they save).
MIN_CHUNK_POINTS = PROBE_POINTS
#: Most chunks a step is split into (each chunk builds its own terms once, before training).
MAX_CHUNKS = 1024


class ActivationOrderWarning(UserWarning):
    """The activation cannot represent the PDE's derivatives (ReLU on a second-order PDE)."""


@dataclass
class Assembly:
    """What a run trains and measures with.

    Attributes:
        model: the trainable model, on the run's device and dtype.
        points: this rank's collocation points.
        whole: every rank's (the whole set; ``points`` itself in a single process).
        objective: the loss on them.
        evaluator: the validation grid and reference (rank 0 only; None elsewhere).
        engine: the derivative engine, and ``engine_note`` why it was chosen.
        warnings: warnings issued while assembling.
        chunks: how many chunks of the points a step is evaluated in.
    """

    model: Model
    points: Collocation
    whole: Collocation
    objective: Objective
    evaluator: Evaluator | None
    engine: Engine
    engine_note: str
    dtype: torch.dtype
    device: torch.device
    warnings: list[str]
    chunks: int = 1


def build_model(problem: Problem, dtype: torch.dtype = torch.float64) -> Model:
    """The problem's model, initialised reproducibly from ``training.seed``."""
    network = build_network(
        problem.network,
        problem.domain.bounds,
        len(problem.pde.outputs),
        seed=problem.training.seed,
        dtype=dtype,
        activation=problem.network.activation.module(),
        periodic=problem.domain.periodic,
    )
    return problem.model(network)


def _given_model(problem: Problem, model: nn.Module) -> Model:
    """A model passed in by the caller, wrapped as the problem's, or refused where it cannot be.

    A bare network gets the problem's trial function and unknowns (so exact conditions and
    positive fields hold as they would for a built one); a periodic problem needs the periodic
    embedding in the network itself, and a :class:`Model` must carry the problem's trial.
    """
    trial = problem.trial()
    periodic = problem.domain.periodic
    network = model.network if isinstance(model, Model) else model
    if periodic and not isinstance(getattr(network, "embedding", None), Periodic | Chain):
        raise ValueError(
            "the problem is periodic (domain.periodic): pass a network built with "
            "build_network(..., periodic=...) or let train build it"
        )
    if not isinstance(model, Model):
        return problem.model(model)
    wanted = trial.name if trial is not None else "identity"
    if model.trial.name != wanted:
        raise ValueError(
            f"the model's trial function is {model.trial.name!r}, the problem's {wanted!r}"
        )
    if model.enrichment != problem.enrichment:
        raise ValueError("the model's enrichment is not the problem's: build it with problem.model")
    return model


def assemble(
    problem: Problem,
    model: nn.Module | None = None,
    *,
    reference: Mapping[str, np.ndarray] | None = None,
    group: Group = SINGLE,
) -> Assembly:
    """Build the model (or take ``model``; a bare network is wrapped), points, loss, evaluator.

    Raises:
        ProblemFileError: a scheduled optimiser cannot run at this size.
        RuntimeError: ``training.device`` is cuda and torch sees no CUDA device.
    """
    cfg = problem.training
    dtype = DTYPES[cfg.dtype]
    device = torch.device(cfg.device)
    if device.type == "cuda" and group.active:
        device = torch.device("cuda", group.local_rank)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("training.device is cuda, but torch sees no CUDA device")
    if model is None:
        model = build_model(problem, dtype)
    else:
        model = _given_model(problem, model)
    model = model.to(device=device, dtype=dtype)
    engine, engine_note = select_engine(model, cfg.derivatives)
    _, chunks = check_step_memory(problem, model, engine, group)
    # every rank draws the same global set, then keeps its shard
    whole = problem.collocation(dtype, device)
    points = shard_collocation(whole, group)
    objective = build_loss(problem, model, points, engine, group, chunks)
    _check_resources(problem, objective, model)
    evaluator = build_evaluator(problem, dtype, device, reference) if group.is_main else None
    messages = list(problem.cautions)
    message = order_warning(problem.network.activation, problem.order, problem.pde.kind)
    if message:
        messages.append(message)
        warnings.warn(message, ActivationOrderWarning, stacklevel=3)
    return Assembly(
        model,
        points,
        whole,
        objective,
        evaluator,
        engine,
        engine_note,
        dtype,
        device,
        messages,
        chunks,
    )


def build_loss(
    problem: Problem,
    model: Model,
    points: Collocation,
    engine: Engine,
    group: Group = SINGLE,
    chunks: int = 1,
) -> Objective:
    """The problem's loss on (this rank's share of) ``points``, in ``chunks`` chunks of them."""
    pieces = []
    for part in chunk_collocation(points, chunks):
        terms = problem.terms(part)
        weights = [problem.weight(t.name) for t in terms]
        compile = problem.training.compile and chunks == 1
        piece_group = group if chunks == 1 else SINGLE
        pieces.append(Loss(model, terms, part, engine, weights, compile=compile, group=piece_group))
        check_enrichment_points(problem, model, part, pieces[-1].needs)
    if chunks == 1:
        return pieces[0]
    loss = ChunkedLoss(pieces, points, group)
    size = -(-points.interior.shape[0] // chunks)
    loss.compile_note = f"the loss in {chunks} chunks of ≤ {size:,} interior points"
    if problem.training.compile:
        loss.compile_note += " (torch.compile not used: it compiles one set of points)"
    return loss


def chunk_count(problem: Problem, peak: int, device: torch.device | str = "cpu") -> int:
    """How many chunks a step on the problem's points is evaluated in (``step_memory``).

    ``peak``: the step's memory on all of its points (:func:`check_step_memory`). The budget
    of a chunk is ``training.step_memory``, else (auto) half the free memory of a CUDA device
    or :data:`CPU_CHUNK_BYTES`, at most ``max_tensor_bytes``; a chunk keeps at least
    :data:`MIN_CHUNK_POINTS` points, and a step has at most :data:`MAX_CHUNKS` chunks.
    Causal weights need every point of a slab: one chunk.
    """
    cfg = problem.training
    if cfg.causal.slabs and getattr(problem.domain, "time", False):
        return 1
    budget = cfg.step_memory
    if not budget:
        device = torch.device(device)
        if device.type == "cuda" and torch.cuda.is_available():
            budget = torch.cuda.mem_get_info(device)[0] // 2
        else:
            budget = CPU_CHUNK_BYTES
    budget = min(budget, problem.limits.max_tensor_bytes)
    points = most_interior(cfg) + cfg.points.boundary
    most = max(1, min(points // MIN_CHUNK_POINTS, MAX_CHUNKS))
    return int(min(max(1, -(-peak // budget)), most))


def check_enrichment_file(problem: Problem) -> None:
    """``check``'s view of :func:`check_enrichment_points`: the points ``solve`` samples."""
    if not problem.enrichment:
        return
    dtype = DTYPES[problem.training.dtype]
    points = problem.collocation(dtype)
    needs: dict[str, str] = {}
    for term in problem.terms(points):
        needs[term.on] = max(needs.get(term.on, "value"), term.need, key=need_rank)
    check_enrichment_points(problem, build_model(problem, dtype), points, needs)


def check_enrichment_points(
    problem: Problem, model: Model, points: Collocation, needs: Mapping[str, str]
) -> None:
    """Refuse points where an enrichment function or a derivative the terms need is not finite.

    s = r^(2/3)·… has infinite derivatives at r = 0: a collocation point there would make the
    loss NaN at the first step. Named with the key, the derivative and a point.
    """
    if model.basis is None:
        return
    for place, need in needs.items():
        x = points.on(place)
        fields = func_fields(model.basis, x, need)
        for channel in ("value", "gradient", "laplacian", "hessian", "third", "fourth"):
            values = getattr(fields, channel)
            if values is None:
                continue
            bad = ~torch.isfinite(values.reshape(values.shape[0], values.shape[1], -1)).all(2)
            for k, term in enumerate(model.enrichment):
                if bool(bad[:, k].any()):
                    at = point_text(problem.domain.variables, x[bad[:, k]][0].tolist())
                    raise ProblemFileError(
                        problem.path,
                        f"enrichment.{term.coefficient}.function",
                        f"its {channel} is not finite at {int(bad[:, k].sum())} of {x.shape[0]} "
                        f"{place} points (for example at {at}): move the singularity out of the "
                        "points (another seed or sampler) or use a smoother function",
                    )


def check_step_memory(
    problem: Problem,
    model: nn.Module | None = None,
    engine: Engine | None = None,
    group: Group = SINGLE,
) -> tuple[int, int]:
    """(peak bytes of one training step on all points, measured; chunks it is evaluated in).

    Refused where a chunk (:func:`chunk_count`) would need more than ``max_tensor_bytes``.
    Builds the problem's model and engine when not given (``pinn-gelu check``).

    Raises:
        ProblemFileError: naming ``training.points``, with the estimate and the limit.
    """
    dtype = DTYPES[problem.training.dtype]
    if model is None:
        model = build_model(problem, dtype)
    if engine is None:
        engine, _ = select_engine(model, problem.training.derivatives)
    grown = _grown(problem)
    adaptive = " (with the points training.adaptive adds)" if grown is not problem else ""
    problem = grown
    saved = step_bytes(problem, model, engine, dtype) / group.size
    peak = int(PEAK_FACTOR * saved)
    limit = problem.limits.max_tensor_bytes
    device = next(model.parameters()).device
    chunks = chunk_count(problem, peak, device)
    if peak / chunks > limit:
        points = problem.training.points.interior + problem.training.points.boundary
        split = f" in {chunks:,} chunks of {peak / chunks / 2**30:.1f} GiB" if chunks > 1 else ""
        raise ProblemFileError(
            problem.path,
            "training.points",
            f"one training step on {points:,} points{adaptive} would need about "
            f"{peak / 2**30:.1f} GiB{split} "
            f"({PEAK_FACTOR:g} × the {saved / 2**30:.2f} GiB its gradient keeps, measured on "
            f"{PROBE_POINTS} points), over the limit of {limit / 2**30:.1f} GiB "
            "(max_tensor_bytes): use fewer points or a smaller network, or raise the limit "
            "with --limit max_tensor_bytes=N",
        )
    return peak, chunks


def _grown(problem: Problem) -> Problem:
    """The problem with as many interior points as its run will hold at most (adaptive points)."""
    most = most_interior(problem.training)
    if most == problem.training.points.interior:
        return problem
    points = dataclasses.replace(problem.training.points, interior=most)
    return dataclasses.replace(
        problem, training=dataclasses.replace(problem.training, points=points)
    )


def _check_resources(problem: Problem, objective: Objective, model: nn.Module) -> None:
    """Refuse, before any training, a phase whose optimiser cannot run at this size.

    Adaptive points that a run adds later count: each adds the rows of the interior terms.
    """
    interior = problem.training.points.interior
    per_point = sum(
        n for t, n in zip(objective.terms, objective.counts, strict=True) if t.on == "interior"
    ) / max(interior, 1)
    added = round(per_point * (most_interior(problem.training) - interior))
    device = next(model.parameters()).device
    free = torch.cuda.mem_get_info(device)[0] if device.type == "cuda" else None
    need = Resources(
        rows=sum(objective.counts) + added,  # over all ranks
        parameters=sum(p.numel() for p in model.parameters() if p.requires_grad),
        limits=problem.limits,
        free_bytes=free,
    )
    for name in problem.training.schedule:
        config = problem.training.phases[name]
        reason = OPTIMISERS[name].check_resources(config, need) if config.steps else None
        if reason:
            raise ProblemFileError(problem.path, f"training.{name}", reason)
