"""What ``pinn-gelu check`` shows and does: a problem's summary, and the dry run of its inputs.

:func:`describe_problem` says in words what a validated problem means (equation, domain, each
side's condition, network, schedule, weights); :func:`dry_run` evaluates every expression where
``solve`` evaluates it, so that a file ``check`` accepts is not refused by ``solve``.
"""

from __future__ import annotations

from typing import Any

from pinn_gelu.config import DTYPES, TrainingConfig
from pinn_gelu.expressions import Expression
from pinn_gelu.geometry.domain import RegionDomain
from pinn_gelu.geometry.primitives import Disk, Polygon
from pinn_gelu.metrics import build_evaluator
from pinn_gelu.optimisers import OPTIMISERS
from pinn_gelu.problem import Problem
from pinn_gelu.reference import METHODS
from pinn_gelu.training.adaptive import most_interior

__all__ = ["describe_problem", "dry_run"]


def _phase_text(training: TrainingConfig, name: str) -> str:
    """One phase of the schedule in the summary, in its optimiser's words."""
    return OPTIMISERS[name].describe(name, training.phases[name])


def _weight_text(problem: Problem, term: str) -> str:
    """``100``, or a weight per point's expression in quotes."""
    value = problem.training.weights.get(term)
    if isinstance(value, Expression):
        return repr(value.source)
    return f"{problem.weight(term):g}"


def describe_problem(problem: Problem) -> str:
    """A readable summary of a validated problem."""
    t, n = problem.training, problem.network
    lines = [
        f"problem     {problem.name}  ({problem.path})",
        f"equation    {problem.pde.describe()}",
        *_domain_lines(problem),
        "boundary",
    ]
    components = problem.pde.boundary_components
    equations = problem.equations()
    soft = problem.resolved_boundary(soft=True)
    for side, conditions in problem.resolved_boundary().items():
        parts = [
            f"{name + ': ' if len(components) > 1 else ''}{entry[0]} "
            f"{getattr(entry[1], 'source', entry[1])}"
            f"{' (exact: u = g + φ·N)' if soft[side][k] is None else ''}"
            for k, (name, entry) in enumerate(zip(components, conditions, strict=True))
            if entry is not None
        ]
        parts += [f"equation {r.source} = 0" for s, r in equations if s == side]
        if not parts:
            parts = ["no condition"]
        lines.append(f"  {_part_label(problem, side):<6}    {'; '.join(parts)}")
    if problem.exact:
        exact = "; ".join(f"{k} = {v.source}" for k, v in problem.exact.items())
        lines.append(f"exact       {exact}")
    coefficients = {e.coefficient for e in problem.enrichment}
    for e in problem.enrichment:
        u = problem.unknowns[e.coefficient]
        lines.append(
            f"enrichment  {problem.pde.outputs[e.column]} += {e.coefficient}·s, "
            f"s = {e.function.source}  ({e.coefficient} trained from {u.initial:g})"
        )
    for name, u in problem.unknowns.items():
        if name in coefficients:
            continue
        constraint = {
            "free": f"free, scale {u.scale:g}",
            "positive": f"positive (λ = {u.scale:g}·exp(θ))",
            "bounds": f"in ({u.lower:g}, {u.upper:g})",
        }[u.transform]
        truth = "" if u.truth is None else f"; truth {u.truth:g}"
        lines.append(f"unknown     {name}: initial {u.initial:g}, {constraint}{truth}")
    for o in problem.observations:
        ranges = ", ".join(
            f"{v} ∈ [{o.points[:, k].min():.4g}, {o.points[:, k].max():.4g}]"
            for k, v in enumerate(problem.domain.variables)
        )
        observed = ", ".join(
            f"{q}{'' if q == r.source else f' = {r.source}'} ∈ [{o.values[:, j].min():.4g}, "
            f"{o.values[:, j].max():.4g}]"
            for j, (q, r) in enumerate(zip(o.quantities, o.residuals, strict=True))
        )
        noise = f"noise σ = {o.noise:g}" if o.noise else "noise not stated"
        lines.append(
            f"data        {o.place}: {o.file}, {len(o.points)} rows; {ranges}; {observed}; "
            f"{noise}; weight {o.weight:g}"
        )
    if problem.reference is not None:
        reference = METHODS[problem.reference.method].summary(problem.reference)
        lines.append(f"reference   {reference}")
    lines += [
        f"network     {n.activation}, width {n.width}, depth {n.depth}, init {n.init}, "
        f"outputs {', '.join(problem.pde.outputs)}",
        f"points      {t.points.interior} interior, "
        + (
            f"{t.points.boundary} boundary "
            if problem.boundary_sides
            else "no boundary points (no side has a loss term) "
        )
        + f"({t.points.sampler})",
        f"training    {', '.join(_phase_text(t, name) for name in t.schedule)}; "
        f"{t.dtype} on {t.device}; seed {t.seed}",
        *(
            f"            {key.split('.')[-1]}: auto → {why}"
            for key, why in problem.decisions.items()
        ),
        *_refinements(t),
        "weights     "
        + ", ".join(
            f"{name} {_weight_text(problem, name)}"
            for name in [*problem.pde.term_names, *(o.place for o in problem.observations)]
        ),
    ]
    return "\n".join(lines)


def _domain_lines(problem: Problem) -> list[str]:
    """The domain in the summary: a box's bounds, or a region's shapes and expression."""
    domain = problem.domain
    bounds = " × ".join(f"[{a:g}, {b:g}]" for a, b in domain.bounds)
    variables = ", ".join(domain.variables)
    if not isinstance(domain, RegionDomain):
        periodic = [domain.variables[i] for i in domain.periodic]
        exact = f"; periodic in {', '.join(periodic)}, exactly" if periodic else ""
        return [f"domain      {bounds}  (variables {variables}{exact})"]
    measure = {1: "length", 2: "area", 3: "volume"}[domain.dimension]
    lines = [
        f"domain      region {domain.region.expression!r} in {bounds}  (variables {variables}; "
        f"{measure} {domain.volume:.6g})",
        "shapes",
    ]
    for name, shape in domain.region.shapes.items():
        lines.append(f"  {name:<6}    {_shape_text(shape)}")
    return lines


def _shape_text(shape: Any) -> str:
    """``rectangle [0, 4] × [0, 4]``, ``disk centre (0, 0), radius 1``, ``polygon, 6 vertices``."""
    if isinstance(shape, Disk):
        centre = ", ".join(f"{c:g}" for c in shape.center)
        kind = "disk" if shape.dimension == 2 else "ball"
        return f"{kind} centre ({centre}), radius {shape.radius:g}"
    if isinstance(shape, Polygon):
        return (
            f"polygon, {len(shape.vertices)} vertices (edges edge0 … edge{len(shape.vertices) - 1})"
        )
    return "rectangle " + " × ".join(f"[{a:g}, {b:g}]" for a, b in shape.bounds)


def _part_label(problem: Problem, side: str) -> str:
    """A box's side as is; a region's part with its measure on the region's boundary."""
    domain = problem.domain
    if not isinstance(domain, RegionDomain):
        return side
    word = {1: "point", 2: "length", 3: "area"}[domain.dimension]
    return f"{side} ({word} {domain.side_measure(side):.4g})"


def dry_run(problem: Problem, *, evaluator: bool = True) -> None:
    """Evaluate every expression where ``solve`` evaluates it, without training.

    The collocation points are sampled as ``solve`` samples them and the loss targets computed
    on them (a source infinite at a boundary point is refused here, as there), then the
    validation grid and its reference values (``evaluator``).

    Raises:
        ProblemFileError: an expression is not finite at some point.
    """
    dtype = DTYPES[problem.training.dtype]
    points = problem.collocation(dtype)
    problem.terms(points)
    if evaluator:
        build_evaluator(problem, dtype, "cpu")


def _refinements(training: TrainingConfig) -> list[str]:
    """The causal weights' and the adaptive points' lines, where they are on."""
    lines = []
    if training.causal.slabs:
        causal = training.causal
        lines.append(f"causal      {causal.slabs} time slabs, ε = {causal.epsilon:g}")
    adaptive = training.adaptive
    if adaptive.every:
        drawn = "every interior point" if adaptive.method == "rad" else f"{adaptive.add} points"
        lines.append(
            f"adaptive    {adaptive.method} every {adaptive.every} steps: {drawn} drawn from "
            f"{adaptive.candidates} candidates by their residual (k {adaptive.k:g}, c "
            f"{adaptive.c:g}); at most {most_interior(training)} interior points"
        )
    return lines
