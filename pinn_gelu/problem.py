"""The validated problem: what a problem file means, as typed objects.

A :class:`Problem` holds the PDE (an object of :mod:`pinn_gelu.pdes`), the domain, the boundary
conditions, the optional exact solution and reference, and the network, training and validation
settings. It is built by :func:`pinn_gelu.problem_file.load_problem` and never holds raw dicts.

Boundary conditions are resolved per side and per component: a later entry of ``boundary``
overrides an earlier one where both set the same component on the same side. A side that no
entry covers gets the PDE's default condition (traction-free for elasticity), is an error
(Poisson, where every side needs a condition) or stays free (``kind: equations``).
``equation`` entries (residuals that must vanish on their sides) do not override: all apply.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, cast

import torch
from torch import Tensor, nn

from pinn_gelu.causal import CausalResidual, slab_index
from pinn_gelu.collocation import Collocation, sample_collocation
from pinn_gelu.config import Limits, NetworkConfig, TrainingConfig, ValidationConfig
from pinn_gelu.errors import GeometryError, ProblemFileError
from pinn_gelu.expressions import Expression, Residual, evaluate_checked, point_text
from pinn_gelu.fields import Engine, Fields
from pinn_gelu.geometry.box import Box
from pinn_gelu.geometry.domain import Domain, RegionDomain
from pinn_gelu.model.enrichment import Enrichment
from pinn_gelu.model.exact import exact_trial
from pinn_gelu.model.model import Model
from pinn_gelu.model.trial import Positive, Trial
from pinn_gelu.model.unknowns import Unknown
from pinn_gelu.observations import Observations

__all__ = ["PDE", "BoundaryCondition", "Problem", "ReferenceConfig", "Term"]


@dataclass(frozen=True)
class BoundaryCondition:
    """One condition of one ``boundary`` entry.

    Attributes:
        sides: the sides it applies to.
        kind: dirichlet, neumann (Poisson); displacement, traction (elasticity); equation.
        values: one expression per component, None where the entry leaves a component free;
            for ``equation``, the residuals that must vanish.
        key: where it was written, such as ``boundary[1].dirichlet``, for messages.
        exact: imposed exactly by the trial function (``exact: true``), not by a loss term.
    """

    sides: tuple[str, ...]
    kind: str
    values: tuple[Expression | Residual | None, ...]
    key: str
    exact: bool = False


@dataclass(frozen=True)
class ReferenceConfig:
    """``reference:``: validate against a computed solution.

    Attributes:
        points: ``finite_difference: {points: 129}``, nodes per dimension on a box.
        method: ``finite_difference`` (boxes) or ``finite_element`` (2D regions).
        size: ``finite_element: {size: H}``, the mesh size; None: the method's default.
    """

    points: int = 129
    method: str = "finite_difference"
    size: float | None = None


@dataclass(frozen=True)
class Term:
    """One loss term: the mean square of ``residual(fields)`` over its points.

    A residual is *pointwise*: its entry ``[k, ...]`` depends only on the fields at one point,
    ``rows[k]`` of the point set (the k-th point itself when ``rows`` is None). The loss does not
    need this; the Gauss–Newton Jacobian (:meth:`pinn_gelu.loss.Loss.jacobian`) is built from it.

    Attributes:
        name: the term's name in the loss history and in ``training.weights``.
        on: which points it is evaluated on: ``interior`` or ``boundary``.
        need: what it needs of the network (one of :data:`pinn_gelu.fields.NEEDS`).
        residual: Fields at those points → residual tensor (n, ...) (any trailing shape).
        rows: (n,) the point of each leading residual index; None: row k is point k.
    """

    name: str
    on: str
    need: str
    residual: Callable[[Fields], Tensor]
    rows: Tensor | None = None


class _Weighted:
    """A residual scaled per row: fields → √w[k]·r[k, ...] (see :meth:`Problem.terms`)."""

    def __init__(self, residual: Callable[[Fields], Tensor], scale: Tensor) -> None:
        self.residual = residual
        self.scale = scale

    def __call__(self, fields: Fields) -> Tensor:
        values = self.residual(fields)
        return values * self.scale.reshape(-1, *([1] * (values.dim() - 1)))


class PDE(Protocol):
    """What a PDE kind provides (see :mod:`pinn_gelu.pdes`); class attributes satisfy it."""

    @property
    def kind(self) -> str:
        """The ``pde.kind`` name."""
        ...

    @property
    def order(self) -> int:
        """Highest derivative order in the residual."""
        ...

    @property
    def outputs(self) -> tuple[str, ...]:
        """Network outputs, in order."""
        ...

    @property
    def solution_fields(self) -> tuple[str, ...]:
        """Fields that can be validated (keys allowed under ``exact``)."""
        ...

    @property
    def boundary_kinds(self) -> Mapping[str, int]:
        """Condition kinds a boundary entry may use, and the number of components of each."""
        ...

    @property
    def boundary_components(self) -> tuple[str, ...]:
        """Names of the components a boundary condition sets (u; or ux, uy)."""
        ...

    @property
    def default_condition(self) -> tuple[str, float] | None:
        """Condition of a component that no entry sets, as (kind, value), or None: see below."""
        ...

    @property
    def free_boundary(self) -> bool:
        """Whether a side may have no condition (else a missing one is an error)."""
        ...

    @property
    def allows_time(self) -> bool:
        """Whether the domain may have a time interval."""
        ...

    @property
    def term_names(self) -> tuple[str, ...]:
        """Names of all loss terms it can produce (keys allowed under ``training.weights``)."""
        ...

    @property
    def default_weights(self) -> Mapping[str, float]:
        """Weights of the terms that ``training.weights`` does not name (absent: 1)."""
        ...

    def terms(self, problem: Problem, points: Collocation) -> list[Term]:
        """The loss terms on these collocation points (targets evaluated once, here)."""
        ...

    def solution(self, network: nn.Module, x: Tensor, engine: Engine) -> dict[str, Tensor]:
        """The solution fields at points x (N, d), each (N,)."""
        ...

    def describe(self) -> str:
        """One line on the equation and its parameters."""
        ...


#: Default weights of the boundary terms, chosen by ``python benchmarks/gauss_newton.py
#: defaults`` (every shipped problem without its training section; see the README): conditions
#: on values 100, on fluxes (and the mixed form's constitutive law) 10, the PDE 1. The error of a
#: PINN follows its boundary misfit, which an unweighted loss leaves large.
VALUE_WEIGHT, FLUX_WEIGHT = 100.0, 10.0


@dataclass(frozen=True, kw_only=True)
class Problem:
    """A validated problem, ready to train.

    ``source`` is the problem file's data as run (every ``--set`` override applied), plain data:
    what a run directory stores (``problem.yaml``, ``model.pt``, checkpoints), so that the run
    describes itself and :func:`pinn_gelu.load_run` rebuilds the problem from it alone.
    """

    name: str
    path: str
    pde: PDE
    domain: Domain
    boundary: tuple[BoundaryCondition, ...]
    exact: Mapping[str, Expression] = field(default_factory=dict)
    reference: ReferenceConfig | None = None
    parameters: Mapping[str, float] = field(default_factory=dict)
    #: The unknown constants of an inverse problem (:mod:`pinn_gelu.model.unknowns`), by name.
    unknowns: Mapping[str, Unknown] = field(default_factory=dict)
    #: Functions added to the fields with trained coefficients (their unknowns are in
    #: :attr:`unknowns`): :mod:`pinn_gelu.model.enrichment`.
    enrichment: tuple[Enrichment, ...] = ()
    #: Observation data (``data:``), one loss term each.
    observations: tuple[Observations, ...] = ()
    network: NetworkConfig = field(default_factory=NetworkConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    limits: Limits = field(default_factory=Limits)
    source: Mapping[str, Any] = field(default_factory=dict)
    #: What the reader chose for the file, by key, with the reason (``training.schedule: auto``).
    decisions: Mapping[str, str] = field(default_factory=dict)
    #: What the reader accepted but the user should know (``check`` and ``solve`` say it).
    cautions: tuple[str, ...] = ()

    def trial(self) -> Trial | None:
        """What wraps the network (None: u = N).

        u = g̃ + φ·N where conditions are exact (:mod:`pinn_gelu.model.distance`), or exp of the
        fields declared ``positive`` (a file cannot ask for both: the parser refuses it).
        """
        parts = self.exact_parts()
        if any(parts):
            return exact_trial(cast(Box | RegionDomain, self.domain), parts)
        positive = getattr(self.pde, "positive", ())
        if not positive:
            return None
        return Positive(tuple(self.pde.outputs.index(name) for name in positive))

    def model(self, network: nn.Module) -> Model:
        """The trainable model around a network: trial function, unknowns and enrichment."""
        return Model(network, self.trial(), unknowns=self.unknowns, enrichment=self.enrichment)

    def weight(self, term: str) -> float:
        """w_t of a loss term: ``training.weights``, else the PDE kind's default, else 1.

        A weight given as an expression is a weight per point, folded into the term's residual
        by :meth:`terms`; w_t is then 1.
        """
        for o in self.observations:
            if term == o.place:
                return o.weight
        if term in self.training.weights:
            value = self.training.weights[term]
            return 1.0 if isinstance(value, Expression) else float(value)
        return float(self.pde.default_weights.get(term, 1.0))

    def terms(self, points: Collocation) -> list[Term]:
        """The PDE kind's loss terms on ``points``, with the weights per point folded in.

        A term t weighted by an expression w(x) in ``training.weights`` contributes
        (1/n_t) Σ_k w(x_k) r_t,k², so its residual becomes √w(x_k)·r_t,k: the loss, the
        weighted residual vector and the Gauss–Newton Jacobian (:mod:`pinn_gelu.loss`) all
        follow from it, on any shard of the points. w is evaluated once, here.

        Raises:
            ProblemFileError: naming ``training.weights.<term>`` where w is not finite or not
                in [0, 1e12] at one of the term's points.
        """
        terms = self._causal(self.pde.terms(self, points), points)
        for o in self.observations:
            rows = points.global_index(o.place)
            terms.append(Term(o.place, o.place, o.need, o.misfit(points.on(o.place), rows)))
        out = []
        for term in terms:
            weight = self.training.weights.get(term.name)
            if not isinstance(weight, Expression):
                out.append(term)
                continue
            where = points.on(term.on)
            if term.rows is not None:
                where = where[term.rows.to(where.device)]
            out.append(
                replace(
                    term,
                    residual=_Weighted(
                        term.residual, self._point_weights(weight, where, term.name)
                    ),
                )
            )
        return out

    def _causal(self, terms: list[Term], points: Collocation) -> list[Term]:
        """The interior terms with causal weights (``training.causal``; :mod:`pinn_gelu.causal`)."""
        causal = self.training.causal
        if not causal.slabs or not getattr(self.domain, "time", False):
            return terms
        interval = self.domain.bounds[-1]
        slab = slab_index(points.interior[:, -1], interval, causal.slabs)
        return [
            replace(t, residual=CausalResidual(t.residual, slab, causal.slabs, causal.epsilon))
            if t.on == "interior" and t.rows is None
            else t
            for t in terms
        ]

    def _point_weights(self, weight: Expression, points: Tensor, name: str) -> Tensor:
        """√w at points, checked to be finite (as every expression) and in [0, 1e12]."""
        values = evaluate_checked(weight, points, self.path)
        bad = (values < 0) | (values > 1e12)
        if bool(bad.any()):
            at = point_text(self.domain.variables, points[bad][0].tolist())
            raise ProblemFileError(
                self.path,
                f"training.weights.{name}",
                f"{weight.source!r} is {values[bad][0].item():.6g} at ({at}); a weight must be "
                f"a finite number in [0, 1e12] at every point ({int(bad.sum())} of "
                f"{points.shape[0]} are not)",
            )
        return values.sqrt()

    def collocation(self, dtype: torch.dtype, device: torch.device | str = "cpu") -> Collocation:
        """The problem's collocation points, drawn from ``training.seed`` (the whole set).

        Raises:
            ProblemFileError: naming ``domain`` where the region cannot be sampled (an interior
                that is a tiny fraction of its bounding box, a part with no surviving stretch).
        """
        try:
            points = sample_collocation(
                self.domain,
                self.training.points,
                self.training.seed,
                dtype=dtype,
                device=device,
                sides=self.boundary_sides,
            )
        except GeometryError as err:
            raise ProblemFileError(self.path, "domain", str(err)) from None
        points.data = {
            o.place: torch.as_tensor(o.points, dtype=dtype, device=device)
            for o in self.observations
        }
        return points

    def boundary_value(
        self,
        value: Expression | float,
        side: str,
        points: Tensor,
        normals: Tensor | None = None,
    ) -> Tensor:
        """A boundary entry's value at points (N, d) of ``side`` → (N,), checked finite.

        Boundary values are expressions of the coordinates and of the outward normal
        (``nx``, ``ny``, ``nz``), so that a flux can be written as ∇u·n on a curved part: the
        normals are the collocation points' exact ones when given, else the domain's at
        ``points`` (:meth:`~pinn_gelu.geometry.domain.Domain.outward_normals`).
        """
        inputs = self.boundary_inputs(value, side, points, normals)
        return evaluate_checked(value, inputs, self.path)

    def boundary_inputs(
        self,
        value: Expression | float,
        side: str,
        points: Tensor,
        normals: Tensor | None = None,
    ) -> Tensor:
        """The columns a boundary value reads: the points, and their normals (expressions)."""
        if not isinstance(value, Expression):  # a constant (a default condition): no normals
            return points
        if normals is None:
            found = self.domain.outward_normals(side, points.detach().cpu().double().numpy())
            normals = torch.as_tensor(found, dtype=points.dtype, device=points.device)
        return torch.cat([points, normals[:, : self.domain.spatial_dimension]], 1)

    @property
    def order(self) -> int:
        """The highest derivative order of the PDE and of the boundary equations."""
        orders = [self.pde.order]
        for condition in self.boundary:
            orders += [v.order for v in condition.values if isinstance(v, Residual)]
        return max(orders)

    @property
    def boundary_sides(self) -> tuple[str, ...]:
        """The sides whose conditions are loss terms: they get collocation points.

        Every side unless the PDE allows free sides, less those whose every condition the
        trial function imposes exactly (``exact: true``).
        """
        soft = self.resolved_boundary(soft=True)
        equations = {side for side, _ in self.equations()}
        return tuple(
            side
            for side in self.domain.sides
            if side in equations or any(entry is not None for entry in soft[side])
        )

    def equations(self) -> list[tuple[str, Residual]]:
        """The boundary residuals of ``equation`` entries, as (side, residual), entry order."""
        return [
            (side, value)
            for condition in self.boundary
            if condition.kind == "equation"
            for value in condition.values
            if isinstance(value, Residual)
            for side in condition.sides
        ]

    def fixed_boundary(self) -> dict[str, list[tuple[str, Expression | float]]]:
        """:meth:`resolved_boundary` for a PDE without free sides (every entry is set)."""
        fixed: dict[str, list[tuple[str, Expression | float]]] = {}
        for side, per_component in self.resolved_boundary().items():
            fixed[side] = []
            for entry in per_component:
                if entry is None:
                    raise RuntimeError(f"side {side} has a free component")
                fixed[side].append(entry)
        return fixed

    def resolved_boundary(
        self, soft: bool = False
    ) -> dict[str, list[tuple[str, Expression | float] | None]]:
        """For each side, per component, the (kind, value) that applies.

        The last entry setting a component on a side wins; a component no entry sets gets the
        PDE's default condition, or None where the PDE allows free sides. Sides in the
        domain's order; ``equation`` entries are not here (:meth:`equations`). ``soft``: leave
        out (None) what the trial function imposes exactly: the loss terms' view.
        """
        chosen, exact = self._chosen()
        resolved: dict[str, list[tuple[str, Expression | float] | None]] = {}
        for side, per_component in chosen.items():
            resolved[side] = []
            for k, found in enumerate(per_component):
                entry: tuple[str, Expression | float] | None = found
                if entry is None and not self.pde.free_boundary:
                    if self.pde.default_condition is None:
                        raise RuntimeError(f"side {side} has no boundary condition")
                    entry = self.pde.default_condition
                resolved[side].append(None if soft and (side, k) in exact else entry)
        return resolved

    def _chosen(
        self,
    ) -> tuple[dict[str, list[tuple[str, Expression] | None]], set[tuple[str, int]]]:
        """The last entry's (kind, value) per side and component, and the exact (side, k)."""
        components = len(self.pde.boundary_components)
        chosen: dict[str, list[tuple[str, Expression] | None]] = {
            side: [None] * components for side in self.domain.sides
        }
        exact: set[tuple[str, int]] = set()
        for condition in self.boundary:
            if condition.kind == "equation":
                continue
            for side in condition.sides:
                for k, value in enumerate(condition.values):
                    if isinstance(value, Expression):
                        chosen[side][k] = (condition.kind, value)
                        (exact.add if condition.exact else exact.discard)((side, k))
        return chosen, exact

    def exact_parts(self) -> list[list[tuple[str, Expression]]]:
        """Per output component, the (side, value) that the trial function imposes exactly."""
        chosen, exact = self._chosen()
        parts: list[list[tuple[str, Expression]]] = [[] for _ in self.pde.boundary_components]
        for side, k in sorted(exact, key=lambda e: (self.domain.sides.index(e[0]), e[1])):
            entry = chosen[side][k]
            if entry is not None:
                parts[k].append((side, entry[1]))
        return parts
