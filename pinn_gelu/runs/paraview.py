"""The solution as a ParaView file: ``solution.vtu`` (VTK unstructured grid, through meshio).

The points are those of the figures (:func:`~pinn_gelu.runs.plots.grid_values`): a 2D region's
triangulation (grid points inside and points on the exact outline), else the validation grid,
kept where the domain is (a 3D region's masked grid). The cells follow the grid: segments in
1D, quadrilaterals in 2D (a box, or one space dimension and time), hexahedra in 3D, the
triangles of a 2D region; in 4D (three space dimensions and time) the points alone, with the
time as a field. Each point carries every solution field, and where there is a reference
(exact or computed) ``<field>_reference`` and ``<field>_error`` (prediction − reference); an
elasticity solution also the von Mises stress ``von_mises`` (plane formula, as in the figures).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

import meshio
import numpy as np

from pinn_gelu.problem import Problem
from pinn_gelu.runs.deformation import von_mises
from pinn_gelu.runs.plots import Canvas

__all__ = ["paraview_mesh", "write_paraview"]


def _grid_cells(shape: tuple[int, ...]) -> tuple[str, np.ndarray] | None:
    """The cells of a grid whose points are ordered ``indexing='ij'``, by corner indices."""
    index = np.arange(int(np.prod(shape))).reshape(shape)
    if len(shape) == 1:
        return "line", np.stack([index[:-1], index[1:]], axis=1)
    if len(shape) == 2:
        corners = [index[:-1, :-1], index[1:, :-1], index[1:, 1:], index[:-1, 1:]]
        return "quad", np.stack([c.ravel() for c in corners], axis=1)
    if len(shape) == 3:
        face = [(0, 0), (1, 0), (1, 1), (0, 1)]  # counter-clockwise, bottom then top
        corners = [
            index[i : shape[0] - 1 + i, j : shape[1] - 1 + j, k : shape[2] - 1 + k]
            for k in (0, 1)
            for i, j in face
        ]
        return "hexahedron", np.stack([c.ravel() for c in corners], axis=1)
    return None


def paraview_mesh(
    problem: Problem,
    canvas: Canvas,
    predictions: Mapping[str, np.ndarray],
    references: Mapping[str, np.ndarray],
) -> meshio.Mesh:
    """The mesh and point data of :func:`write_paraview` (points outside the domain dropped)."""
    points = np.asarray(canvas.points, dtype=np.float64)
    d = points.shape[1]
    if canvas.triangles is not None:
        cells: list[tuple[str, np.ndarray]] = [("triangle", np.asarray(canvas.triangles))]
    else:
        grid = _grid_cells(canvas.shape) if d <= 3 else None
        cells = [grid] if grid is not None else [("vertex", np.arange(len(points))[:, None])]
    data: dict[str, np.ndarray] = {}
    for name, value in predictions.items():
        data[name] = np.asarray(value, dtype=np.float64)
        if name in references:
            data[f"{name}_reference"] = np.asarray(references[name], dtype=np.float64)
            data[f"{name}_error"] = data[name] - data[f"{name}_reference"]
    stress = von_mises(predictions)
    if stress is not None:
        data["von_mises"] = np.asarray(stress, dtype=np.float64)
    if d > 3:  # space and time: the time as a field, the space as coordinates
        data[problem.domain.variables[-1]] = points[:, -1].copy()
    inside = np.isfinite(next(iter(predictions.values()))) if predictions else None
    if inside is not None and not inside.all():  # a masked grid: keep the domain's points
        renumber = np.cumsum(inside) - 1
        cells = [
            (kind, renumber[c[inside[c].all(axis=1)]]) for kind, c in cells if kind != "vertex"
        ] or [("vertex", np.arange(int(inside.sum()))[:, None])]
        points = points[inside]
        data = {k: v[inside] for k, v in data.items()}
    coordinates = np.zeros((len(points), 3))
    coordinates[:, : min(d, 3)] = points[:, :3]
    return meshio.Mesh(coordinates, cells, point_data=data)


def write_paraview(
    path: str | Path,
    problem: Problem,
    canvas: Canvas,
    predictions: Mapping[str, np.ndarray],
    references: Mapping[str, np.ndarray],
) -> None:
    """Write ``solution.vtu`` atomically (a temporary file beside it, then ``os.replace``)."""
    path = Path(path)
    mesh = paraview_mesh(problem, canvas, predictions, references)
    descriptor, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=".vtu"
    )
    os.close(descriptor)
    try:
        meshio.write(temporary, mesh, file_format="vtu")
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
