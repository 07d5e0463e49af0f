"""Figures of a run, drawn on :class:`matplotlib.figure.Figure` objects (no pyplot state).

- :func:`solution_figure`: per solution field, prediction, reference and pointwise error; lines
  in 1D, colour maps in 2D, the mid-plane z = (a₃ + b₃)/2 in 3D. With time: u(x, t) as an
  image with a time axis in 1D + time; snapshots at four times in 2D (and 3D) + time.
- :func:`loss_figure`: the loss and each term against step (log scale), the phase boundary, and
  the relative L2 error where it was measured.
- :func:`~pinn_gelu.runs.deformation.extra_figures`: the deformed shape for elasticity.

A 2D region is drawn on a triangulation of the region itself (:func:`region_canvas`): nothing
is coloured outside it, and its boundary passes through points of the exact boundary.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from pinn_gelu.derivatives import select_engine
from pinn_gelu.geometry.domain import RegionDomain
from pinn_gelu.metrics import Evaluator, build_evaluator, evaluation_grid, predict
from pinn_gelu.problem import Problem

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from pinn_gelu.compare import Comparison

__all__ = ["Canvas", "field_panels", "loss_figure", "region_canvas", "solution_figure"]


@dataclass(frozen=True)
class Canvas:
    """Where a figure's values are given.

    Attributes:
        points: (K, d) the points.
        shape: the validation grid's points per dimension.
        triangles: for a 2D region, (T, 3) indices into ``points``: a triangulation of the
            region only (:func:`region_canvas`); None for a box or a 3D region, where
            ``points`` is the whole grid over the bounding box (values NaN outside a region).
    """

    points: np.ndarray
    shape: tuple[int, ...]
    triangles: np.ndarray | None = None


def region_canvas(domain: RegionDomain, points_per_dimension: int, outline: bool = True) -> Canvas:
    """A triangulation of a 2D region for drawing: grid points inside it and on its outline.

    The points are the validation grid's points in the region and, with ``outline``, points
    along the region's boundary at the grid's spacing h (grid points closer than 0.3 h to one
    are left out, so no sliver triangles); without it, exactly the validation grid's points in
    the region, in the grid's order. The Delaunay triangles whose centroid lies outside the
    region (across a hole or a re-entrant corner) are dropped, so nothing is drawn outside it,
    and the drawn boundary passes through points on the exact boundary: a curve's peak (the
    stress at the top of a hole) is drawn where it is.
    """
    from scipy.spatial import Delaunay, cKDTree

    grid, shape, mask = domain.evaluation_grid(points_per_dimension)
    points = grid[mask]
    if outline:
        (x0, x1), (y0, y1) = domain.bounds
        spacing = max(x1 - x0, y1 - y0) / (shape[0] - 1)
        edge = np.concatenate(domain.outline(per_unit=domain.region.diameter / spacing))
        edge = np.unique(edge.round(12), axis=0)  # pieces share their ends
        distance, _ = cKDTree(edge).query(points, distance_upper_bound=0.3 * spacing)
        points = np.concatenate([points[~np.isfinite(distance)], edge])
    triangles = Delaunay(points).simplices
    corners = points[triangles]
    u, v = corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]
    area = np.abs(u[:, 0] * v[:, 1] - u[:, 1] * v[:, 0])
    keep = domain.contains(corners.mean(axis=1)) & (area > 1e-12 * domain.region.diameter**2)
    return Canvas(points, shape, triangles[keep])


def grid_values(
    problem: Problem,
    network: nn.Module,
    reference: Mapping[str, np.ndarray] | None = None,
    evaluator: Evaluator | None = None,
) -> tuple[Canvas, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The canvas of a problem, and the predictions and references on it.

    The reference comes from ``evaluator`` when given (a trainer's, so nothing is solved
    again), else from ``reference`` (values at the validation grid's points in the domain) or
    the problem (:func:`~pinn_gelu.metrics.build_evaluator`). A 2D region is drawn on
    :func:`region_canvas` (with its outline when the reference can be evaluated there); a box
    or 3D region on the whole grid over its bounding box, NaN outside the region (drawn blank).
    """
    parameter = next(network.parameters())
    if evaluator is None:
        evaluator = build_evaluator(problem, parameter.dtype, parameter.device, reference)
    domain = problem.domain
    engine, _ = select_engine(network, "auto")

    def predictions(points: np.ndarray) -> dict[str, np.ndarray]:
        tensor = torch.as_tensor(points, dtype=parameter.dtype, device=parameter.device)
        values = predict(problem, network, tensor, engine)
        return {k: v.cpu().double().numpy() for k, v in values.items()}

    refs: dict[str, np.ndarray] = {}
    if isinstance(domain, RegionDomain) and domain.dimension == 2:
        n = problem.validation.grid_points(domain.dimension)
        drawn = evaluator is None or evaluator.at is not None
        canvas = region_canvas(domain, n, outline=drawn)
        if evaluator is not None:
            refs = (
                evaluator.at(canvas.points)
                if evaluator.at is not None
                else {k: v.cpu().numpy() for k, v in evaluator.reference.items()}
            )
        return canvas, predictions(canvas.points), refs
    if evaluator is None:
        inside, shape, mask = evaluation_grid(problem)
    else:
        inside, shape, mask = (
            evaluator.points.cpu().double().numpy(),
            evaluator.shape,
            evaluator.mask,
        )
        refs = {k: v.cpu().numpy() for k, v in evaluator.reference.items()}
    preds = predictions(inside)
    if mask is None:
        return Canvas(inside, shape), preds, refs
    full, _, _ = domain.evaluation_grid(shape[0])
    return Canvas(full, shape), _unmasked(preds, mask), _unmasked(refs, mask)


def _unmasked(values: Mapping[str, np.ndarray], mask: np.ndarray) -> dict[str, np.ndarray]:
    """Values at the masked points → values at every grid point, NaN outside the mask."""
    out = {}
    for name, v in values.items():
        full = np.full(mask.shape, np.nan)
        full[mask] = v
        out[name] = full
    return out


def solution_figure(
    problem: Problem,
    network: nn.Module,
    reference: Mapping[str, np.ndarray] | None = None,
    fields: Sequence[str] | None = None,
) -> Figure:
    """Prediction, reference and |error| per field (rows), on the validation grid."""
    canvas, preds, refs = grid_values(problem, network, reference)
    names = list(fields) if fields is not None else list(preds)
    return field_panels(problem, canvas, {n: preds[n] for n in names}, refs)


def field_panels(
    problem: Problem,
    canvas: Canvas,
    values: Mapping[str, np.ndarray],
    references: Mapping[str, np.ndarray],
    labels: tuple[str, str] = ("PINN", "reference"),
) -> Figure:
    """One row per field: values, reference and |values − reference| (when a reference exists).

    ``values`` and ``references`` are given at ``canvas.points``.
    """
    names = list(values)
    if problem.domain.time and problem.domain.dimension >= 3:
        return _snapshot_panels(problem, canvas.shape, values, references, labels)
    columns = 3 if references else 1
    dimension = problem.domain.dimension
    figure = Figure(figsize=(4.2 * columns, 3.4 * len(names)), layout="constrained")
    axes = np.atleast_2d(figure.subplots(len(names), columns, squeeze=False))
    for row, name in enumerate(names):
        ref = references.get(name)
        panels = [(values[name], f"{name}: {labels[0]}")]
        if ref is not None:
            panels += [
                (ref, f"{name}: {labels[1]}"),
                (np.abs(values[name] - ref), f"|error| of {name}"),
            ]
        for col, (data, title) in enumerate(panels):
            ax = axes[row, col]
            if dimension == 1:
                ax.plot(canvas.points[:, 0], data, lw=1.5)
                if ref is not None and col == 0:
                    ax.plot(canvas.points[:, 0], ref, "--", lw=1, label="reference")
                    ax.legend(loc="best", fontsize=8)
                if col == 2:
                    ax.set_yscale("log")
                ax.set_xlabel("x")
            else:
                _colour_map(figure, ax, problem, data, canvas)
            ax.set_title(title, fontsize=10)
        for col in range(len(panels), columns):
            axes[row, col].set_visible(False)
    if dimension == 3:
        mid = 0.5 * sum(problem.domain.bounds[2])
        figure.suptitle(f"{problem.name}: slice z = {mid:g}", fontsize=11)
    else:
        figure.suptitle(problem.name, fontsize=11)
    return figure


def _colour_map(
    figure: Figure, ax: Axes, problem: Problem, data: np.ndarray, canvas: Canvas
) -> None:
    """A 2D colour map: triangles over a 2D region, else the grid (for 3D the middle z slice)."""
    domain = problem.domain
    image: Any
    if canvas.triangles is not None:
        from matplotlib.tri import Triangulation

        triangulation = Triangulation(canvas.points[:, 0], canvas.points[:, 1], canvas.triangles)
        image = ax.tripcolor(triangulation, data, shading="gouraud", cmap="viridis")
    else:
        array = data.reshape(canvas.shape)
        if len(canvas.shape) == 3:
            array = array[:, :, canvas.shape[2] // 2]
        (x0, x1), (y0, y1) = domain.bounds[0], domain.bounds[1]
        image = ax.imshow(
            array.T, origin="lower", extent=(x0, x1, y0, y1), aspect="auto", cmap="viridis"
        )
    if isinstance(domain, RegionDomain) and domain.dimension == 2:
        for line in domain.outline():
            ax.plot(line[:, 0], line[:, 1], color="black", lw=0.8)
        ax.set_aspect("equal")
    ax.set_xlabel(domain.variables[0])
    ax.set_ylabel(domain.variables[1])
    figure.colorbar(image, ax=ax, shrink=0.9)


#: How many times a space-time solution is shown at.
SNAPSHOTS = 4


def _snapshot_panels(
    problem: Problem,
    shape: tuple[int, ...],
    values: Mapping[str, np.ndarray],
    references: Mapping[str, np.ndarray],
    labels: tuple[str, str],
) -> Figure:
    """2D (3D: the mid-plane z) + time: per field, the values and |error| at a few times."""
    times = np.unique(np.linspace(0, shape[-1] - 1, SNAPSHOTS).round().astype(int))
    t0, t1 = problem.domain.bounds[-1]
    rows = [(name, values[name], f"{name}: {labels[0]}") for name in values]
    rows += [
        (name, np.abs(values[name] - references[name]), f"|error| of {name}")
        for name in values
        if name in references
    ]
    figure = Figure(figsize=(3.4 * len(times), 3.0 * len(rows)), layout="constrained")
    axes = np.atleast_2d(figure.subplots(len(rows), len(times), squeeze=False))
    (x0, x1), (y0, y1) = problem.domain.bounds[0], problem.domain.bounds[1]
    for row, (_, data, title) in enumerate(rows):
        array = data.reshape(shape)
        if array.ndim == 4:  # 3D + time: the middle z plane
            array = array[:, :, shape[2] // 2, :]
        low, high = float(array.min()), float(array.max())
        for col, index in enumerate(times):
            ax = axes[row, col]
            image = ax.imshow(
                array[:, :, index].T,
                origin="lower",
                extent=(x0, x1, y0, y1),
                aspect="auto",
                cmap="viridis",
                vmin=low,
                vmax=high,
            )
            t = t0 + (t1 - t0) * index / max(shape[-1] - 1, 1)
            ax.set_title(f"{title}, t = {t:.3g}", fontsize=9)
            ax.set_xlabel("x")
            ax.set_ylabel("y")
        figure.colorbar(image, ax=axes[row, :].tolist(), shrink=0.9)
    figure.suptitle(problem.name, fontsize=11)
    return figure


def loss_figure(history: Sequence[Mapping[str, float | str]], terms: Sequence[str]) -> Figure:
    """Loss, terms and errors against step; a dotted line where L-BFGS takes over from Adam."""
    figure = Figure(figsize=(7.5, 4.2), layout="constrained")
    ax = figure.subplots()
    steps = np.array([float(r["step"]) for r in history])
    if len(steps) == 0:
        ax.text(0.5, 0.5, "no training steps", ha="center", va="center")
        return figure
    ax.semilogy(steps, [float(r["loss"]) for r in history], color="black", lw=1.6, label="loss")
    for term in terms:
        values = [float(r[term]) for r in history if term in r]
        if len(values) == len(steps):
            ax.semilogy(steps, values, lw=1.0, alpha=0.8, label=term)
    phases = [str(r["phase"]) for r in history]
    for k in range(1, len(phases)):
        if phases[k] != phases[k - 1]:
            ax.axvline(steps[k], color="grey", ls=":", lw=1)
            ax.text(
                steps[k],
                1.0,
                f" {phases[k]}",
                transform=ax.get_xaxis_transform(),
                va="top",
                fontsize=8,
                color="grey",
            )
    ax.set_xlabel("step")
    ax.set_ylabel("mean squared residual")
    errors = sorted({k for r in history for k in r if k.startswith("error_")})
    if errors:
        twin = ax.twinx()
        for name in errors:
            points = [(float(r["step"]), float(r[name])) for r in history if name in r]
            xs, ys = zip(*points, strict=True)
            twin.semilogy(xs, ys, "o--", ms=3, lw=1, label=f"relative L2 {name[6:]}")
        twin.set_ylabel("relative L2 error")
        twin.legend(loc="upper center", fontsize=8)
    ax.legend(loc="upper right", fontsize=8)
    ax.grid(True, which="both", alpha=0.25)
    return figure


def points_figure(problem: Problem, points: np.ndarray) -> Figure:
    """Where an adaptive run's interior points ended: the drawn ones and the ones it added.

    The first ``training.points.interior`` points are the initial draw under ``rar_d`` (which
    only adds); under ``rad`` every point was redrawn. A 1D problem shows their histogram; 2D
    and 3D ones their first two coordinates.
    """
    figure = Figure(figsize=(6.4, 4.8), layout="constrained")
    ax = figure.subplots()
    names = problem.domain.variables
    adaptive = problem.training.adaptive
    initial = problem.training.points.interior if adaptive.method == "rar_d" else 0
    groups = [("initial draw", points[:initial], "0.6"), ("adaptive", points[initial:], "C3")]
    for label, chunk, colour in groups:
        if not len(chunk):
            continue
        label = f"{label} ({len(chunk)})"
        if points.shape[1] == 1:
            ax.hist(chunk[:, 0], bins=60, color=colour, alpha=0.7, label=label)
        else:
            ax.scatter(chunk[:, 0], chunk[:, 1], s=2, color=colour, label=label, linewidths=0)
    ax.set_xlabel(names[0])
    ax.set_ylabel(names[1] if points.shape[1] > 1 else "points")
    ax.set_title(f"{problem.name}: interior points after {adaptive.method} refinement")
    ax.legend(loc="upper right", fontsize=8, markerscale=4)
    return figure


def parameters_figure(
    history: Sequence[Mapping[str, float | str]], parameters: Mapping[str, Mapping[str, Any]]
) -> Figure:
    """Each unknown's value against the step: its final ± 2 standard errors and its truth.

    One panel per unknown (from ``history.csv``'s ``unknown_<name>`` columns); the band is the
    final value ± 2 standard errors, drawn over the last phase; the truth, where given, dashed.
    """
    names = list(parameters)
    figure = Figure(figsize=(7.0, 2.4 * max(len(names), 1)), layout="constrained")
    axes = np.atleast_1d(figure.subplots(max(len(names), 1), 1, sharex=True, squeeze=False)[:, 0])
    steps = np.array([float(r["step"]) for r in history])
    for ax, name in zip(axes, names, strict=False):
        estimate = parameters[name]
        values = np.array([float(r[f"unknown_{name}"]) for r in history])
        ax.plot(steps, values, color="black", lw=1.4, label=f"{name}")
        value, stderr = estimate["value"], estimate.get("stderr")
        if stderr is not None and len(steps):
            last = str(history[-1]["phase"])
            start = next(float(r["step"]) for r in history if r["phase"] == last)
            ax.fill_between(
                [start, steps[-1]],
                value - 2 * stderr,
                value + 2 * stderr,
                color="tab:blue",
                alpha=0.25,
                label=f"{value:.5g} ± 2 × {stderr:.2g}",
            )
        if estimate.get("truth") is not None:
            ax.axhline(estimate["truth"], color="tab:red", ls="--", lw=1, label="truth")
        ax.set_ylabel(name)
        ax.legend(loc="best", fontsize=8)
        ax.grid(True, alpha=0.25)
    axes[-1].set_xlabel("step")
    return figure


def comparison_figure(comparison: Comparison) -> Figure:
    """The figure of an activation comparison.

    Left: relative L2 error per activation (median, bars from min to max over seeds, log scale),
    one marker per field. Right: every run's loss curve, coloured by activation.
    """
    summary = comparison.summary()
    activations = list(summary)
    fields = next((list(s["relative_l2"]) for s in summary.values() if s["relative_l2"]), [])
    figure = Figure(figsize=(12, 4.6), layout="constrained")
    left, right = figure.subplots(1, 2, width_ratios=(1, 1.3))
    colours = {a: f"C{i % 10}" for i, a in enumerate(activations)}
    width = 0.7 / max(1, len(fields))
    markers = "osD^v<>p*h"
    for k, name in enumerate(fields):
        for i, activation in enumerate(activations):
            e = summary[activation]["relative_l2"][name]
            x = i - 0.35 + width * (k + 0.5)
            left.errorbar(
                x,
                e["median"],
                yerr=[[e["median"] - e["min"]], [e["max"] - e["median"]]],
                fmt=markers[k % len(markers)],
                color=colours[activation],
                capsize=3,
                label=name if i == 0 else None,
            )
    left.set_yscale("log")
    left.set_xticks(range(len(activations)), activations, rotation=30, ha="right", fontsize=9)
    left.set_ylabel("relative L2 error (median, min–max over seeds)")
    left.grid(True, which="both", axis="y", alpha=0.3)
    if len(fields) > 1:
        left.legend(fontsize=8)
    left.set_title(f"{comparison.problem}: error per activation", fontsize=10)
    for run in comparison.runs:
        curve = run.get("curve") or {}
        if curve:
            right.semilogy(
                curve["step"], curve["loss"], color=colours[run["activation"]], lw=0.9, alpha=0.8
            )
    for activation in activations:
        right.plot([], [], color=colours[activation], label=activation)
    right.set_xlabel("step")
    right.set_ylabel("loss")
    right.set_title("loss curves (all seeds)", fontsize=10)
    right.legend(fontsize=8, ncols=2)
    right.grid(True, which="both", alpha=0.25)
    return figure
