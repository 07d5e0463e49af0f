"""Finite-element references on 2D regions with scikit-fem: P2 triangles, curved boundaries.

The mesh (:func:`~pinn_gelu.geometry.mesh.mesh_region`) becomes a quadratic, isoparametric
``skfem.MeshTri2`` whose boundary midside nodes are the exact midpoints of their boundary curves
(on a circle, on the circle), so the geometry error is O(H⁴) rather than the O(H²) of straight
chords that stalls P2 errors near 1e-4 (PITFALLS.md: the Kirsch plate). The unknowns are
P2 Lagrange (``skfem.ElementTriP2``) on that mesh; errors converge as O(H³) in L2 for smooth
solutions.

- :func:`solve_poisson`: −Δu = f with u = g on Dirichlet parts and ∂u/∂n = h on Neumann parts
  (n the region's outward normal); parts named in neither are ∂u/∂n = 0.
- :func:`solve_elasticity`: ∇·σ + f = 0, σ = λ tr(ε) I + 2μ ε, ε = ½(∇u + ∇uᵀ), in the
  conventions of :mod:`pinn_gelu.pdes.elasticity` (λ is λ* = 2λμ/(λ + 2μ) in plane stress, see
  :func:`plane_lame`). Per part and per component: a displacement u_c = g_c, or else the traction
  (σ·n)_c = t_c, zero when not given (a free component is traction-free).

Boundary data are callables of the coordinate arrays, ``g(x, y) -> values`` (numpy, any shape),
so compiled problem-file expressions can be passed later. The result evaluates the solution (and
in elasticity the stresses) at any points of the region by locating each point's curved element
(Newton on the isoparametric map) and summing the element's basis functions there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import skfem
from scipy.spatial import cKDTree
from skfem.helpers import dot
from skfem.models.elasticity import linear_elasticity
from skfem.models.poisson import laplace

from pinn_gelu.errors import GeometryError
from pinn_gelu.geometry.mesh import TriangleMesh

__all__ = [
    "FEMSolution",
    "Field",
    "plane_lame",
    "quadratic_mesh",
    "solve_elasticity",
    "solve_poisson",
]

#: Boundary or source data: f(x, y) on numpy arrays of coordinates, same shape out.
Field = Callable[[np.ndarray, np.ndarray], np.ndarray]
#: Quadrature order of the load and error integrals (exact for degree-8 polynomials).
INTORDER = 8


def plane_lame(youngs_modulus: float, poisson_ratio: float, plane: str) -> tuple[float, float]:
    """(λ, μ) of the 2D law from E and ν: λ = Eν/((1+ν)(1−2ν)), μ = E/(2(1+ν)), λ* in stress.

    >>> plane_lame(2.5, 0.25, "strain"), plane_lame(2.5, 0.25, "stress")
    ((1.0, 1.0), (0.6666666666666666, 1.0))
    """
    if plane not in ("strain", "stress"):
        raise ValueError(f"unknown plane {plane!r} (expected one of: strain, stress)")
    e, nu = youngs_modulus, poisson_ratio
    lam, mu = e * nu / ((1 + nu) * (1 - 2 * nu)), e / (2 * (1 + nu))
    return (2 * lam * mu / (lam + 2 * mu), mu) if plane == "stress" else (lam, mu)


def quadratic_mesh(mesh: TriangleMesh) -> tuple[skfem.MeshTri2, np.ndarray]:
    """The isoparametric P2 mesh, and the skfem facet index of each boundary edge (K,).

    Boundary midside nodes move to ``mesh.edge_midpoints`` (exact on curves).
    """
    linear = skfem.MeshTri1(mesh.nodes.T.copy(), mesh.triangles.T.copy())
    quadratic = skfem.MeshTri2.from_mesh(linear)
    n_nodes = mesh.nodes.shape[0]
    keys = np.sort(quadratic.facets, axis=0)
    lookup = {(int(a), int(b)): f for f, (a, b) in enumerate(keys.T)}
    edges = np.sort(mesh.boundary_edges, axis=1)
    facets = np.array([lookup[(int(a), int(b))] for a, b in edges], dtype=np.int64)
    doflocs = quadratic.doflocs.copy()
    chords = mesh.nodes[edges].mean(axis=1)
    if not np.allclose(doflocs[:, n_nodes + facets].T, chords):
        raise RuntimeError("unexpected midside-node numbering in skfem.MeshTri2")
    doflocs[:, n_nodes + facets] = mesh.edge_midpoints.T
    return skfem.MeshTri2(doflocs, quadratic.t), facets


@dataclass(frozen=True, eq=False)
class FEMSolution:
    """A P2 solution on an isoparametric mesh.

    Attributes:
        mesh: the skfem ``MeshTri2``.
        basis: the scalar P2 ``CellBasis`` on it.
        fields: field name → P2 coefficients in ``basis`` numbering: ``u`` (Poisson) or
            ``ux``, ``uy`` (elasticity); the value at ``nodes[i]`` is ``fields[name][i]``.
        lame: (λ, μ) for elasticity (stresses are then evaluated too), else None.
    """

    mesh: skfem.MeshTri2
    basis: skfem.CellBasis
    fields: Mapping[str, np.ndarray]
    lame: tuple[float, float] | None = None
    _tree: cKDTree = field(init=False, repr=False)

    def __post_init__(self) -> None:
        centroids = self.mesh.doflocs[:, self.mesh.t].mean(axis=1).T
        object.__setattr__(self, "_tree", cKDTree(centroids))

    @property
    def nodes(self) -> np.ndarray:
        """P2 node coordinates (N, 2): vertices, then edge midpoints (exact on curves)."""
        return self.basis.doflocs.T

    def l2_error(self, exact: Mapping[str, Field]) -> tuple[float, float]:
        """(‖u_h − u‖, ‖u‖) in L2 over the (curved) mesh, summed over the fields given.

        Integrated with quadrature of order :data:`INTORDER` on each curved element.
        """
        names = list(exact)

        fields = {n: self.basis.interpolate(self.fields[n]) for n in names}
        error = sum(self._integral(n, exact[n], fields[n], True) for n in names)
        size = sum(self._integral(n, exact[n], fields[n], False) for n in names)
        return float(np.sqrt(error)), float(np.sqrt(size))

    def _integral(
        self, name: str, exact: Field, interpolated: skfem.DiscreteField, error: bool
    ) -> float:
        @skfem.Functional
        def square(w: skfem.DiscreteField) -> np.ndarray:
            value = exact(w.x[0], w.x[1])
            return (w["uh"] - value) ** 2 if error else value**2

        return float(square.assemble(self.basis, uh=interpolated))

    def evaluate(self, points: np.ndarray, tolerance: float = 1e-6) -> dict[str, np.ndarray]:
        """Fields (and in elasticity σxx, σyy, σxy) at points (P, 2) → name: (P,).

        ``tolerance``: how far outside its nearest element (in the element's reference
        coordinates, about distance / element size) a point may lie; it is then evaluated by
        that element's polynomial (points on a curved boundary between the mesh's nodes).

        Raises:
            ValueError: for a point outside the mesh (farther than ``tolerance``).
        """
        points = np.asarray(points, dtype=float)
        cells, reference = self._locate(points, tolerance)
        values: dict[str, np.ndarray] = {}
        gradients: dict[str, np.ndarray] = {}
        dofs = self.basis.element_dofs[:, cells]
        for name in self.fields:
            values[name] = np.zeros(points.shape[0])
            gradients[name] = np.zeros((2, points.shape[0]))
        for k in range(self.basis.Nbfun):
            phi = self.basis.elem.gbasis(self.basis.mapping, reference, k, tind=cells)[0]
            for name, coefficients in self.fields.items():
                c = coefficients[dofs[k]]
                values[name] += c * np.asarray(phi)[:, 0]
                gradients[name] += c * phi.grad[:, :, 0]
        if self.lame is not None:
            lam, mu = self.lame
            gx, gy = gradients["ux"], gradients["uy"]
            trace = gx[0] + gy[1]
            values["sxx"] = lam * trace + 2 * mu * gx[0]
            values["syy"] = lam * trace + 2 * mu * gy[1]
            values["sxy"] = mu * (gx[1] + gy[0])
        return values

    def _locate(self, points: np.ndarray, tolerance: float) -> tuple[np.ndarray, np.ndarray]:
        """Element of each point and its reference coordinates (2, P, 1)."""
        count = min(8, self.mesh.t.shape[1])
        _, candidates = self._tree.query(points, count)
        candidates = candidates.reshape(points.shape[0], count)
        x = np.repeat(points, count, axis=0).T[:, :, None]
        tind = candidates.ravel()
        mapping = self.basis.mapping
        corners = self.mesh.doflocs[:, self.mesh.t[:3, tind]]  # (2, 3, P·count)
        a, b, c = corners[:, 0], corners[:, 1], corners[:, 2]
        jac = np.stack([b - a, c - a], axis=1)  # (2, 2, Q)
        rhs = x[:, :, 0] - a
        det = jac[0, 0] * jac[1, 1] - jac[0, 1] * jac[1, 0]
        ref = np.stack(
            [
                (jac[1, 1] * rhs[0] - jac[0, 1] * rhs[1]) / det,
                (-jac[1, 0] * rhs[0] + jac[0, 0] * rhs[1]) / det,
            ]
        )[:, :, None]
        for _ in range(12):
            residual = x - mapping.F(ref, tind)
            ref = ref + np.einsum("ijkl,jkl->ikl", mapping.invDF(ref, tind), residual)
            ref = np.clip(ref, -1.0, 2.0)
        miss = np.linalg.norm((x - mapping.F(ref, tind))[:, :, 0], axis=0)
        margin = np.minimum(np.minimum(ref[0, :, 0], ref[1, :, 0]), 1 - ref[0, :, 0] - ref[1, :, 0])
        margin = np.where(miss < 1e-10, margin, -np.inf).reshape(points.shape[0], count)
        best = margin.argmax(axis=1)
        if np.any(margin.max(axis=1) < -tolerance):
            worst = int(np.argmin(margin.max(axis=1)))
            raise ValueError(f"point {points[worst].tolist()} lies outside the mesh")
        chosen = np.arange(points.shape[0]) * count + best
        return tind[chosen], ref[:, chosen, :]


def _facets_of(
    mesh: TriangleMesh, facets: np.ndarray, parts: Mapping[str, object], what: str
) -> dict[str, np.ndarray]:
    """The skfem facets of each named part; GeometryError for a name the mesh does not have."""
    out = {}
    for name in parts:
        if name not in mesh.part_names:
            valid = ", ".join(mesh.part_names)
            raise GeometryError(
                f"{what}: unknown boundary part {name!r} (expected one of: {valid})"
            )
        out[name] = facets[mesh.edge_part == mesh.part_names.index(name)]
    return out


def _facet_dofs(
    basis: skfem.CellBasis, facets: np.ndarray, component: int
) -> tuple[np.ndarray, np.ndarray]:
    """Dofs of one component on facets (vertices and midsides) and their locations (2, n)."""
    vertices = np.unique(basis.mesh.facets[:, facets])
    dofs = np.concatenate(
        [basis.nodal_dofs[component, vertices], basis.facet_dofs[component, facets]]
    )
    where = basis.doflocs[:, dofs]
    return dofs, where


def solve_poisson(
    mesh: TriangleMesh,
    source: Field,
    dirichlet: Mapping[str, Field],
    neumann: Mapping[str, Field] | None = None,
) -> FEMSolution:
    """−Δu = f with u = g on Dirichlet parts and ∂u/∂n = h on Neumann parts, P2.

    Args:
        mesh: a mesh of the region.
        source: f(x, y).
        dirichlet: part name → g(x, y).
        neumann: part name → h(x, y); parts in neither mapping get ∂u/∂n = 0.

    Returns:
        The solution, field ``u``.
    """
    neumann = dict(neumann or {})
    both = sorted(set(dirichlet) & set(neumann))
    if both:
        raise GeometryError(
            f"boundary part {both[0]!r} has both a Dirichlet and a Neumann condition"
        )
    quadratic, facets = quadratic_mesh(mesh)
    basis = skfem.Basis(quadratic, skfem.ElementTriP2(), intorder=INTORDER)
    matrix = laplace.assemble(basis)

    @skfem.LinearForm
    def load(v: skfem.DiscreteField, w: skfem.DiscreteField) -> np.ndarray:
        return source(w.x[0], w.x[1]) * v

    rhs = load.assemble(basis)
    for name, facet_set in _facets_of(mesh, facets, neumann, "neumann").items():
        flux = neumann[name]
        facet_basis = skfem.FacetBasis(quadratic, basis.elem, facets=facet_set, intorder=INTORDER)

        @skfem.LinearForm
        def boundary_flux(v: skfem.DiscreteField, w: skfem.DiscreteField) -> np.ndarray:
            return flux(w.x[0], w.x[1]) * v  # noqa: B023 (assembled before the next loop turn)

        rhs += boundary_flux.assemble(facet_basis)
    u = np.zeros(basis.N)
    fixed = []
    for name, facet_set in _facets_of(mesh, facets, dirichlet, "dirichlet").items():
        dofs, where = _facet_dofs(basis, facet_set, 0)
        u[dofs] = dirichlet[name](where[0], where[1])
        fixed.append(dofs)
    constrained = np.unique(np.concatenate(fixed)).astype(int) if fixed else np.zeros(0, int)
    u = skfem.solve(*skfem.condense(matrix, rhs, x=u, D=constrained))
    return FEMSolution(quadratic, basis, {"u": u})


ComponentData = tuple[Field | None, Field | None]


def solve_elasticity(
    mesh: TriangleMesh,
    lam: float,
    mu: float,
    *,
    displacement: Mapping[str, ComponentData],
    traction: Mapping[str, ComponentData] | None = None,
    body_force: tuple[Field, Field] | None = None,
) -> FEMSolution:
    """2D linear elasticity in displacement form, P2: ∇·σ + f = 0.

    Args:
        mesh: a mesh of the region.
        lam: λ of the 2D law (λ* in plane stress; see :func:`plane_lame`).
        mu: the shear modulus μ.
        displacement: part name → (g_x, g_y); None leaves that component free.
        traction: part name → (t_x, t_y); a component neither fixed nor given is traction-free.
        body_force: (f_x, f_y), default zero.

    Returns:
        The solution, fields ``ux`` and ``uy``; :meth:`FEMSolution.evaluate` adds the stresses.

    Raises:
        GeometryError: for unknown part names, or a component both fixed and loaded on a part.
    """
    traction = dict(traction or {})
    for name in set(displacement) & set(traction):
        for c in range(2):
            if displacement[name][c] is not None and traction[name][c] is not None:
                raise GeometryError(
                    f"boundary part {name!r}: component {'xy'[c]} has both a displacement and "
                    "a traction"
                )
    quadratic, facets = quadratic_mesh(mesh)
    element = skfem.ElementVector(skfem.ElementTriP2())
    basis = skfem.Basis(quadratic, element, intorder=INTORDER)
    scalar = skfem.Basis(quadratic, skfem.ElementTriP2(), intorder=INTORDER)
    matrix = linear_elasticity(lam, mu).assemble(basis)
    rhs = np.zeros(basis.N)
    if body_force is not None:
        fx, fy = body_force

        @skfem.LinearForm
        def load(v: skfem.DiscreteField, w: skfem.DiscreteField) -> np.ndarray:
            return fx(w.x[0], w.x[1]) * v[0] + fy(w.x[0], w.x[1]) * v[1]

        rhs += load.assemble(basis)
    for name, facet_set in _facets_of(mesh, facets, traction, "traction").items():
        force = tuple(f if f is not None else _zero for f in traction[name])
        facet_basis = skfem.FacetBasis(quadratic, element, facets=facet_set, intorder=INTORDER)

        @skfem.LinearForm
        def loading(v: skfem.DiscreteField, w: skfem.DiscreteField) -> np.ndarray:
            x, y = w.x[0], w.x[1]
            return dot(np.stack([force[0](x, y), force[1](x, y)]), v)  # noqa: B023

        rhs += loading.assemble(facet_basis)
    u = np.zeros(basis.N)
    fixed = []
    for name, facet_set in _facets_of(mesh, facets, displacement, "displacement").items():
        for c, value in enumerate(displacement[name]):
            if value is not None:
                dofs, where = _facet_dofs(basis, facet_set, c)
                u[dofs] = value(where[0], where[1])
                fixed.append(dofs)
    constrained = np.unique(np.concatenate(fixed)).astype(int) if fixed else np.zeros(0, int)
    u = skfem.solve(*skfem.condense(matrix, rhs, x=u, D=constrained))
    components = {}
    for c, name in enumerate(("ux", "uy")):
        values = np.zeros(scalar.N)
        values[scalar.nodal_dofs[0]] = u[basis.nodal_dofs[c]]
        values[scalar.facet_dofs[0]] = u[basis.facet_dofs[c]]
        components[name] = values
    return FEMSolution(quadratic, scalar, components, (lam, mu))


def _zero(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.zeros_like(x)
