"""The deformed body of an elasticity solution, coloured by von Mises stress, peak marked.

On a box the grid is moved; on a 2D region the region's triangulation
(:func:`~pinn_gelu.runs.plots.region_canvas`), so a deformed hole stays smooth. The displacement
is scaled to a tenth of the body's size, and the scale is printed on the figure.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.tri import Triangulation

from pinn_gelu.geometry.domain import RegionDomain
from pinn_gelu.problem import Problem
from pinn_gelu.runs.plots import Canvas

__all__ = ["deformation_figure", "extra_figures", "region_deformation_figure", "von_mises"]


def deformation_figure(
    problem: Problem,
    shape: tuple[int, ...],
    values: Mapping[str, np.ndarray],
    title: str = "",
    lines: int = 21,
) -> Figure:
    """The deformed body: grid lines moved by the scaled displacement, coloured by von Mises stress.

    The scale makes the largest displacement 10% of the body's larger side (stated in the title).
    The undeformed outline is drawn in grey. Plane von Mises stress:
    σ_vm = √(σxx² − σxx σyy + σyy² + 3 σxy²).
    """
    (x0, x1), (y0, y1) = problem.domain.bounds
    ux, uy = values["ux"].reshape(shape), values["uy"].reshape(shape)
    scale = _displacement_scale(problem, ux, uy)
    gx, gy = np.meshgrid(
        np.linspace(x0, x1, shape[0]), np.linspace(y0, y1, shape[1]), indexing="ij"
    )
    dx, dy = gx + scale * ux, gy + scale * uy
    figure = Figure(figsize=(6.4, 5.4), layout="constrained")
    ax = figure.subplots()
    stress = von_mises(values)
    if stress is not None:
        stress = stress.reshape(shape)
        mesh = ax.pcolormesh(dx, dy, stress, shading="gouraud", cmap="plasma")
        figure.colorbar(mesh, ax=ax, label="von Mises stress")
        _mark_peak(
            ax,
            np.stack([gx.ravel(), gy.ravel()], 1),
            np.stack([dx.ravel(), dy.ravel()], 1),
            stress.ravel(),
        )
    step_x = max(1, (shape[0] - 1) // (lines - 1))
    step_y = max(1, (shape[1] - 1) // (lines - 1))
    for i in range(0, shape[0], step_x):
        ax.plot(dx[i, :], dy[i, :], color="black", lw=0.5)
    for j in range(0, shape[1], step_y):
        ax.plot(dx[:, j], dy[:, j], color="black", lw=0.5)
    ax.plot([x0, x1, x1, x0, x0], [y0, y0, y1, y1, y0], color="grey", ls="--", lw=1)
    _label_deformation(ax, title or problem.name, scale)
    return figure


def _displacement_scale(problem: Problem, ux: np.ndarray, uy: np.ndarray) -> float:
    """The factor that draws the largest displacement at 10% of the bounding box's larger side."""
    (x0, x1), (y0, y1) = problem.domain.bounds
    largest = float(np.sqrt(ux**2 + uy**2).max()) if ux.size else 0.0
    return 0.1 * max(x1 - x0, y1 - y0) / largest if largest > 0 else 1.0


def von_mises(values: Mapping[str, np.ndarray]) -> np.ndarray | None:
    """Plane von Mises stress √(σxx² − σxx σyy + σyy² + 3 σxy²); None without the stresses."""
    if not all(k in values for k in ("sxx", "syy", "sxy")):
        return None
    sxx, syy, sxy = (values[k] for k in ("sxx", "syy", "sxy"))
    return np.sqrt(sxx**2 - sxx * syy + syy**2 + 3 * sxy**2)


def _label_deformation(ax: Axes, title: str, scale: float) -> None:
    ax.set_aspect("equal")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(f"{title}: deformed shape (displacement × {scale:.3g})", fontsize=10)


def _mark_peak(ax: Axes, points: np.ndarray, drawn: np.ndarray, von_mises: np.ndarray) -> None:
    """Mark the largest von Mises stress where it is drawn; the legend gives its value and place."""
    k = int(np.nanargmax(von_mises))
    x, y = (round(float(c), 4) + 0.0 for c in points[k])  # 5e-10 → 0, not "5e-10"
    ax.plot(
        *drawn[k],
        linestyle="none",
        marker="o",
        ms=8,
        mfc="none",
        mec="cyan",
        mew=1.8,
        label=f"max σ_vm = {von_mises[k]:.3g} at ({x:.3g}, {y:.3g})",
    )
    ax.legend(loc="best", fontsize=8, framealpha=0.85)


def extra_figures(
    problem: Problem, canvas: Canvas, values: Mapping[str, np.ndarray], title: str = ""
) -> dict[str, Figure]:
    """Figures particular to a PDE kind: the deformed shape for elasticity; none otherwise."""
    if {"ux", "uy"} <= set(values) and canvas.triangles is not None:
        return {"deformation.png": region_deformation_figure(problem, canvas, values, title)}
    if {"ux", "uy"} <= set(values) and problem.domain.dimension == 2:
        return {"deformation.png": deformation_figure(problem, canvas.shape, values, title)}
    return {}


def region_deformation_figure(
    problem: Problem,
    canvas: Canvas,
    values: Mapping[str, np.ndarray],
    title: str = "",
) -> Figure:
    """The deformed region: its canvas (:func:`region_canvas`) moved by the scaled displacement.

    ``values`` are given at ``canvas.points``. The triangles are coloured by the plane von Mises
    stress σ_vm = √(σxx² − σxx σyy + σyy² + 3 σxy²) where the stresses are given, and its
    largest value is marked (at the top of the Kirsch plate's hole: 3S); the undeformed
    outline is drawn dashed in grey, the deformed boundary in black. The scale makes the
    largest displacement 10% of the bounding box's larger side (stated in the title).
    """
    domain = problem.domain
    assert canvas.triangles is not None and isinstance(domain, RegionDomain)  # the caller checked
    points, ux, uy = canvas.points, values["ux"], values["uy"]
    scale = _displacement_scale(problem, ux, uy)
    moved = points + scale * np.stack([ux, uy], axis=1)
    triangulation = Triangulation(moved[:, 0], moved[:, 1], canvas.triangles)
    figure = Figure(figsize=(6.4, 5.4), layout="constrained")
    ax = figure.subplots()
    stress = von_mises(values)
    if stress is not None:
        mesh = ax.tripcolor(triangulation, stress, shading="gouraud", cmap="plasma")
        figure.colorbar(mesh, ax=ax, label="von Mises stress")
        _mark_peak(ax, points, moved, stress)
    else:
        ax.triplot(triangulation, color="black", lw=0.2)
    triangles = canvas.triangles
    sides = np.sort(
        np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]]), 1
    )
    unique, counts = np.unique(sides, axis=0, return_counts=True)
    boundary = unique[counts == 1]  # edges of one triangle: the deformed outline
    if boundary.size:
        segments = moved[boundary]
        ax.plot(segments[:, :, 0].T, segments[:, :, 1].T, color="black", lw=0.8)
    for line in domain.outline():
        ax.plot(line[:, 0], line[:, 1], color="grey", ls="--", lw=1)
    _label_deformation(ax, title or problem.name, scale)
    return figure
