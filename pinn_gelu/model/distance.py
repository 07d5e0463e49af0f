"""Approximate distance functions and boundary-data extensions for exact Dirichlet conditions.

A condition u = g on boundary parts Γ₁ … Γ_p is imposed exactly by the trial function
u = g̃ + φ·N (:class:`~pinn_gelu.model.trial.Affine`), where φ vanishes on every Γ_i and is
positive inside, and g̃ equals g_i on Γ_i (Sukumar & Srivastava 2022, "Exact imposition of
boundary conditions with distance functions in physics-informed deep neural networks", CMAME
389:114333; Rvachev's R-functions).

- Each part's distance d_i ≥ 0 is exact up to a constant: a box side's distance to its plane
  in units of the box's length along that axis, d = (x − a)/(b − a) for x_min, (b − x)/(b − a)
  for x_max, (t − t₀)/(t₁ − t₀) for the initial time — the units of the network's input ξ, so
  that N stays of the solution's size on a box of any shape (with physical distances, a short
  time interval made N ten times the solution and training slow; measured on the heat problem
  of tests/test_exact_conditions.py: 2.0e-1 against 4.7e-4 after the same steps).
- They are joined by the R-equivalence of order m = 1,

      φ = (Σ_i 1/d_i)⁻¹ = Π_i d_i / Σ_j Π_{i≠j} d_i,

  which is 0 on every part, positive inside, and *normalised to first order*: near Γ_i away
  from the others φ = d_i + O(d_i²), so its normal derivative is d_i's there.
- The data are extended by transfinite (inverse-distance) interpolation,

      g̃ = Σ_i w_i g_i,   w_i = d_i⁻¹ / Σ_j d_j⁻¹ = Π_{j≠i} d_j / Σ_k Π_{j≠k} d_j,

  so g̃ = g_i on Γ_i; where one expression serves every part it is g itself.

On a region (2D) the parts' distances are Sukumar & Srivastava's (their §4): a straight part,
the segment [a, b] of length L and centre c, has the *trimmed* distance

    f = ((x − a) × (b − a))/L,   t = ((L/2)² − |x − c|²)/L,
    d = √(f² + ((√(t² + f⁴) − t)/2)²),

zero on the segment only (beyond its ends t < 0 and d = |t| on its line), smooth off it and
≈ |f| near it; a whole circle of radius R has d = ±(R² − |x − c|²)/(2R), the sign positive on
the region's side. Both are normalised to first order.

The known difficulty: where two parts meet (a corner, the initial time at a wall), φ and w are
only continuous — their second derivatives grow like 1/r near the junction (r the distance to
it), and a second-order residual there sees large terms. No collocation point lies exactly on
a junction (interior points are open-box draws), data consistent at a junction (g_i = g_j
there, as the problem requires for a continuous solution) keep g̃ bounded, and the measured
effect is in the benchmarks (benchmarks/exact_conditions.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

__all__ = ["circle_distance", "r_equivalence", "segment_distance", "transfinite"]


def _products_without_each(distances: Sequence[Tensor]) -> list[Tensor]:
    """[Π_{i≠j} d_i for each j] (each (n,)), without dividing by a distance."""
    ones = torch.ones_like(distances[0])
    out = []
    for j in range(len(distances)):
        product = ones
        for i, d in enumerate(distances):
            if i != j:
                product = product * d
        out.append(product)
    return out


def r_equivalence(distances: Sequence[Tensor]) -> Tensor:
    """φ = Π d_i / Σ_j Π_{i≠j} d_i: zero on every part, ≈ d_i near part i alone.

    Where two parts meet (a corner: the sum vanishes too) φ is 0, its limit.
    """
    if len(distances) == 1:
        return distances[0]
    others = _products_without_each(distances)
    product = others[0] * distances[0]
    total = torch.stack(others).sum(0)
    junction = total == 0
    return torch.where(junction, 0.0, product / torch.where(junction, 1.0, total))


def transfinite(values: Sequence[Callable[[], Tensor]], distances: Sequence[Tensor]) -> Tensor:
    """g̃ = Σ_i w_i g_i with w_i = Π_{j≠i} d_j / Σ_k Π_{j≠k} d_j (g_i evaluated lazily).

    Where two parts meet the weights are 0/0: g̃ is then the mean of the g_i of the parts
    that meet there (equal for data consistent at the junction).
    """
    if len(values) == 1:
        return values[0]()
    others = _products_without_each(distances)
    total = torch.stack(others).sum(0)
    junction = total == 0
    evaluated = [g() for g in values]
    blend = sum((w * g for w, g in zip(others, evaluated, strict=True)), torch.zeros_like(total))
    on = [(d == 0).to(total.dtype) for d in distances]
    count = torch.stack(on).sum(0)
    mean = sum((m * g for m, g in zip(on, evaluated, strict=True)), torch.zeros_like(total))
    return torch.where(
        junction,
        mean / torch.where(count == 0, 1.0, count),
        blend / torch.where(junction, 1.0, total),
    )


def segment_distance(a: Sequence[float], b: Sequence[float], x: Tensor) -> Tensor:
    """The trimmed distance (see the module) from points x (n, 2) to the segment [a, b]."""
    ax, ay = float(a[0]), float(a[1])
    dx, dy = float(b[0]) - ax, float(b[1]) - ay
    length = (dx * dx + dy * dy) ** 0.5
    cx, cy = ax + dx / 2, ay + dy / 2
    f = ((x[:, 0] - ax) * dy - (x[:, 1] - ay) * dx) / length
    t = ((length / 2) ** 2 - (x[:, 0] - cx) ** 2 - (x[:, 1] - cy) ** 2) / length
    g = ((t.square() + f**4).sqrt() - t) / 2
    return (f.square() + g.square()).sqrt()


def circle_distance(center: Sequence[float], radius: float, sign: float, x: Tensor) -> Tensor:
    """sign·(R² − |x − c|²)/(2R): zero on the circle, ≈ the distance near it (any dimension)."""
    square = sum(
        ((x[:, i] - float(c)) ** 2 for i, c in enumerate(center)), torch.zeros_like(x[:, 0])
    )
    return sign * (radius**2 - square) / (2 * radius)
