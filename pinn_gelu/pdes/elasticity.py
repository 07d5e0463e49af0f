"""Linear elasticity in 2D (small strain, isotropic): equilibrium ∇·σ + f = 0.

Strain and stress (Hooke's law)::

    ε = ½(∇u + ∇uᵀ),   σ = λ tr(ε) I + 2μ ε

in plane strain with the Lamé parameters (λ, μ); in plane stress λ is replaced by
λ* = 2λμ/(λ + 2μ). From Young's modulus E and Poisson's ratio ν: λ = Eν/((1+ν)(1−2ν)),
μ = E/(2(1+ν)).

Two formulations (``formulation:``):

- ``displacement``: the network outputs u = (ux, uy); the interior term ``pde`` is the
  Navier–Cauchy equation μΔu + (λ+μ)∇(∇·u) + f = 0, second order in u.
- ``mixed``: the network outputs (ux, uy, sxx, syy, sxy); the terms are ``equilibrium``
  ∂_j σ_ij + f_i = 0 (first order in σ) and ``constitutive`` σ − C:ε(u) = 0 (first order in u),
  as in Haghighat et al. 2021 (Comput. Methods Appl. Mech. Eng. 379:113741).

Boundary terms: ``displacement`` u_i − g_i and ``traction`` (σ·n)_i − t_i with n the outward
normal, per component; a component no condition fixes is traction-free (t_i = 0).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from pinn_gelu.collocation import Collocation
from pinn_gelu.expressions import Expression
from pinn_gelu.fields import Engine, Fields
from pinn_gelu.pdes.conditions import BoundaryTargets, boundary_targets, values_at
from pinn_gelu.problem import FLUX_WEIGHT, VALUE_WEIGHT, Problem, Term
from pinn_gelu.schema import Section, compile_expression, join

__all__ = ["LinearElasticity", "lame_from_young", "parse", "stress_from_gradient"]

FORMULATIONS = ("displacement", "mixed")


def lame_from_young(youngs_modulus: float, poisson_ratio: float) -> tuple[float, float]:
    """(λ, μ) from E and ν: λ = Eν/((1+ν)(1−2ν)), μ = E/(2(1+ν)).

    >>> lame_from_young(2.5, 0.25)
    (1.0, 1.0)
    """
    e, nu = youngs_modulus, poisson_ratio
    return e * nu / ((1 + nu) * (1 - 2 * nu)), e / (2 * (1 + nu))


def stress_from_gradient(gradient: Tensor, lam: float, mu: float) -> Tensor:
    """σ = λ tr(ε) I + 2μ ε from ∇u.

    Shapes: (N, 2, 2) with [n, k, j] = ∂u_k/∂x_j → (N, 3) as (σxx, σyy, σxy).
    """
    exx, eyy = gradient[:, 0, 0], gradient[:, 1, 1]
    exy = 0.5 * (gradient[:, 0, 1] + gradient[:, 1, 0])
    trace = exx + eyy
    return torch.stack([lam * trace + 2 * mu * exx, lam * trace + 2 * mu * eyy, 2 * mu * exy], 1)


def traction(stress: Tensor, normals: Tensor) -> Tensor:
    """T = σ·n: stress (N, 3) as (σxx, σyy, σxy), normals (N, 2) → (N, 2)."""
    sxx, syy, sxy = stress[:, 0], stress[:, 1], stress[:, 2]
    nx, ny = normals[:, 0], normals[:, 1]
    return torch.stack([sxx * nx + sxy * ny, sxy * nx + syy * ny], 1)


#: A material constant: a number, or the name of an unknown (identified with the solution).
Modulus = float | str


@dataclass(frozen=True)
class Material:
    """The elastic constants as given: (λ, μ) or (E, ν), each a number or an unknown's name.

    :meth:`lame` gives the (λ, μ) of the 2D law (λ* = 2λμ/(λ + 2μ) in plane stress) from the
    unknowns' current values, as tensors with their graph when an unknown is involved.
    """

    given: str  # "lame" or "young"
    first: Modulus
    second: Modulus
    plane: str

    @property
    def unknowns(self) -> tuple[str, ...]:
        """The unknowns' names it reads."""
        return tuple(v for v in (self.first, self.second) if isinstance(v, str))

    def lame(self, unknowns: Mapping[str, Tensor] | None = None) -> tuple[Any, Any]:
        """(λ, μ) of the 2D law."""

        def value(v: Modulus) -> Any:
            if isinstance(v, str):
                if not unknowns or v not in unknowns:
                    raise RuntimeError(f"the unknown {v!r} has no value here")
                return unknowns[v]
            return v

        a, b = value(self.first), value(self.second)
        lam, mu = (a, b) if self.given == "lame" else lame_from_young(a, b)
        if self.plane == "stress":
            lam = 2 * lam * mu / (lam + 2 * mu)
        return lam, mu


@dataclass(frozen=True)
class LinearElasticity:
    """2D linear elasticity: material, body force, formulation.

    Attributes:
        material: the elastic constants (numbers or unknowns).
        plane: ``strain`` or ``stress``.
        body_force: (f_x, f_y).
        formulation: ``displacement`` or ``mixed``.
    """

    material: Material
    plane: str
    body_force: tuple[Expression, Expression]
    formulation: str = "displacement"
    kind = "linear_elasticity"
    solution_fields = ("ux", "uy", "sxx", "syy", "sxy")
    boundary_kinds = {"displacement": 2, "traction": 2}  # noqa: RUF012 (read-only by convention)
    boundary_components = ("ux", "uy")
    default_condition = ("traction", 0.0)
    free_boundary = False
    allows_time = False

    @property
    def lam(self) -> float:
        """λ of the 2D law (λ* in plane stress), when the material is known."""
        return float(self.material.lame()[0])

    @property
    def mu(self) -> float:
        """The shear modulus μ, when the material is known."""
        return float(self.material.lame()[1])

    @property
    def order(self) -> int:
        """2 for the displacement (Navier–Cauchy) form, 1 for the mixed form."""
        return 2 if self.formulation == "displacement" else 1

    @property
    def outputs(self) -> tuple[str, ...]:
        """Network outputs: u, or u and σ."""
        return ("ux", "uy") if self.formulation == "displacement" else self.solution_fields

    @property
    def term_names(self) -> tuple[str, ...]:
        """Loss terms of the formulation."""
        interior = (
            ("pde",) if self.formulation == "displacement" else ("equilibrium", "constitutive")
        )
        return (*interior, "displacement", "traction")

    @property
    def default_weights(self) -> Mapping[str, float]:
        """Value conditions 100; traction and the constitutive law 10 (see problem.py)."""
        return {"displacement": VALUE_WEIGHT, "traction": FLUX_WEIGHT, "constitutive": FLUX_WEIGHT}

    def _forces(self, problem: Problem, points: Tensor) -> Callable[[Fields], Tensor]:
        """f(x) at the points, as a function of the fields' unknowns (fixed unless it reads any)."""
        parts = [values_at(problem, f, points) for f in self.body_force]
        fixed = torch.stack([p.fixed for p in parts], 1)
        if not any(p.parts for p in parts):
            return lambda fields: fixed
        return lambda fields: torch.stack([p.at(fields.unknowns) for p in parts], 1)

    def terms(self, problem: Problem, points: Collocation) -> list[Term]:
        """Interior terms of the formulation and the boundary terms, on these points."""
        lame = self.material.lame
        force = self._forces(problem, points.interior)
        terms: list[Term] = []
        if self.formulation == "displacement":

            def navier(fields: Fields) -> Tensor:
                lam, mu = lame(fields.unknowns)
                hess = fields.require_hessian()  # [n, k, i, j] = ∂²u_k/∂x_i∂x_j
                grad_div = hess[:, 0, 0, :] + hess[:, 1, 1, :]
                return mu * fields.require_laplacian() + (lam + mu) * grad_div + force(fields)

            terms.append(Term("pde", "interior", "hessian", navier))
        else:

            def equilibrium(fields: Fields) -> Tensor:
                g = fields.require_gradient()
                divergence = torch.stack([g[:, 2, 0] + g[:, 4, 1], g[:, 4, 0] + g[:, 3, 1]], 1)
                return divergence + force(fields)

            def constitutive(fields: Fields) -> Tensor:
                lam, mu = lame(fields.unknowns)
                g = fields.require_gradient()
                return fields.value[:, 2:5] - stress_from_gradient(g[:, :2, :], lam, mu)

            terms.append(Term("equilibrium", "interior", "gradient", equilibrium))
            terms.append(Term("constitutive", "interior", "gradient", constitutive))
        fixed = boundary_targets(problem, points, "displacement")
        if fixed is not None:
            terms.append(
                Term("displacement", "boundary", "value", _displacement(fixed), fixed.rows)
            )
        loaded = boundary_targets(problem, points, "traction")
        if loaded is not None:
            terms.append(self._traction_term(loaded, points.normals[loaded.rows]))
        return terms

    def _traction_term(self, targets: BoundaryTargets, normals: Tensor) -> Term:
        rows, components, values = targets.rows, targets.components, targets.values
        index = torch.arange(rows.numel(), device=rows.device)
        lame = self.material.lame
        if self.formulation == "displacement":

            def from_gradient(fields: Fields) -> Tensor:
                lam, mu = lame(fields.unknowns)
                stress = stress_from_gradient(fields.require_gradient()[rows, :2, :], lam, mu)
                return traction(stress, normals)[index, components] - values.at(fields.unknowns)

            return Term("traction", "boundary", "gradient", from_gradient, rows)

        def from_outputs(fields: Fields) -> Tensor:
            target = values.at(fields.unknowns)
            return traction(fields.value[rows, 2:5], normals)[index, components] - target

        return Term("traction", "boundary", "value", from_outputs, rows)

    def solution(self, network: nn.Module, x: Tensor, engine: Engine) -> dict[str, Tensor]:
        """Displacements and stresses at x: the network's σ (mixed) or C:ε(u) (displacement)."""
        if self.formulation == "mixed":
            values = network(x)
            return {name: values[:, k] for k, name in enumerate(self.solution_fields)}
        fields = engine(network, x, "gradient")
        values = getattr(network, "unknown_values", None)
        lam, mu = self.material.lame(values() if values is not None else None)
        stress = stress_from_gradient(fields.require_gradient(), lam, mu)
        names = self.solution_fields
        return {
            names[0]: fields.value[:, 0],
            names[1]: fields.value[:, 1],
            **{names[2 + k]: stress[:, k] for k in range(3)},
        }

    def describe(self) -> str:
        """The equations with the material."""
        law = "λ*" if self.plane == "stress" else "λ"
        m = self.material
        if m.unknowns:
            names = ("λ", "μ") if m.given == "lame" else ("E", "ν")
            material = ", ".join(
                f"{n} = {v} (unknown)" if isinstance(v, str) else f"{n} = {v:g}"
                for n, v in zip(names, (m.first, m.second), strict=True)
            )
        else:
            material = f"{law} = {self.lam:g}, μ = {self.mu:g}"
        return (
            f"linear elasticity ({self.formulation} form, plane {self.plane}): ∇·σ + f = 0, "
            f"{material}, f = ({self.body_force[0].source}, {self.body_force[1].source})"
        )


def _displacement(targets: BoundaryTargets) -> Callable[[Fields], Tensor]:
    rows, components, values = targets.rows, targets.components, targets.values

    def residual(fields: Fields) -> Tensor:
        return fields.value[rows, components] - values.at(fields.unknowns)

    return residual


def _constant(section: Section, key: str, value: object) -> float:
    expression = compile_expression(value, join(section.key, key), section.context)
    if expression.unknowns:
        raise section.error(
            key, f"name the unknown alone ({key}: {expression.unknowns[0]}), not in an expression"
        )
    if expression.constant is None:
        raise section.error(key, "a material constant must not depend on x or y")
    return expression.constant


def _modulus(section: Section, key: str, need: str) -> Modulus:
    """A constant, or the name of an unknown whose map keeps it where it must be.

    ``need``: ``positive`` (E, μ, λ) or ``ratio`` (ν: bounds inside (−1, 0.5)).
    """
    value = section.raw(key)
    unknowns = section.context.unknowns
    if not (isinstance(value, str) and value.strip() in unknowns):
        return _constant(section, key, value)
    name = value.strip()
    spec = section.context.unknown_specs[name]
    if need == "positive" and spec.transform != "positive":
        raise section.error(key, f"the unknown {name!r} must be declared positive: true here")
    if need == "ratio" and not (
        spec.transform == "bounds" and spec.lower >= -1 and spec.upper <= 0.5
    ):
        raise section.error(
            key, f"the unknown {name!r} needs bounds inside [-1, 0.5], e.g. bounds: [0, 0.5]"
        )
    return name


def parse(section: Section) -> LinearElasticity:
    """Read the ``pde`` section of ``kind: linear_elasticity``."""
    if len(section.context.variables) != 2:
        raise section.error(
            "kind",
            f"linear elasticity is two-dimensional, but the domain has "
            f"{len(section.context.variables)} dimension(s)",
        )
    formulation = section.string("formulation", "displacement", choices=FORMULATIONS)
    plane = section.string("plane", "strain", choices=("strain", "stress"))
    has_lame, has_young = section.has("lame"), section.has("youngs_modulus")
    section.has("poisson_ratio")
    if has_lame == has_young:
        raise section.error(
            None,
            "give the material either as lame: {lambda: …, mu: …} or as youngs_modulus "
            "and poisson_ratio (exactly one of the two)",
        )
    if has_lame:
        lame = section.section("lame")
        lam = _modulus(lame, "lambda", "positive")
        mu = _modulus(lame, "mu", "positive")
        lame.finish()
        if isinstance(mu, float) and mu <= 0:
            raise lame.error("mu", f"the shear modulus μ must be positive, got {mu:g}")
        if isinstance(lam, float) and isinstance(mu, float) and lam + mu <= 0:
            raise lame.error("lambda", f"λ + μ must be positive (got λ = {lam:g}, μ = {mu:g})")
        material = Material("lame", lam, mu, plane)
    else:
        e = _modulus(section, "youngs_modulus", "positive")
        nu = _modulus(section, "poisson_ratio", "ratio")
        if isinstance(e, float) and e <= 0:
            raise section.error("youngs_modulus", f"must be positive, got {e:g}")
        if isinstance(nu, float) and not -1 < nu < 0.5:
            raise section.error(
                "poisson_ratio", f"must lie in (-1, 0.5) (0.5 is incompressible), got {nu:g}"
            )
        material = Material("young", e, nu, plane)
    forces = section.raw("body_force", ["0", "0"])
    if not isinstance(forces, list) or len(forces) != 2:
        raise section.expected("body_force", "a list of 2 expressions [fx, fy]", forces)
    body_force = (
        section.expression("body_force[0]", forces[0]),
        section.expression("body_force[1]", forces[1]),
    )
    section.finish()
    return LinearElasticity(material, plane, body_force, formulation)
