"""Closed-form functions and their derivatives: the catalogue the tests check against.

Each function is a product of one-dimensional factors, so every mixed partial derivative is the
product of the factors' derivatives, written out by hand below:

    d^m/dx^m sin(a x + c) = a^m sin(a x + c + m π/2)
    d^m/dx^m exp(b x)     = b^m exp(b x)
    d^m/dx^m x^p          = p!/(p-m)! x^(p-m)  (0 for m > p)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

# A factor: (value-and-derivative function of one coordinate) f(t, m) = d^m f / dt^m.
Factor = Callable[[Tensor, int], Tensor]


def sine(a: float, c: float = 0.0) -> Factor:
    return lambda t, m: a**m * torch.sin(a * t + c + m * math.pi / 2)


def exponential(b: float) -> Factor:
    return lambda t, m: b**m * torch.exp(b * t)


def power(p: int) -> Factor:
    def f(t: Tensor, m: int) -> Tensor:
        if m > p:
            return torch.zeros_like(t)
        return math.factorial(p) / math.factorial(p - m) * t ** (p - m)

    return f


@dataclass(frozen=True)
class Separable:
    """u(x) = Π_i f_i(x_i), with every mixed partial known in closed form."""

    name: str
    factors: Sequence[Factor]

    @property
    def dimension(self) -> int:
        return len(self.factors)

    def derivative(self, x: Tensor, orders: Sequence[int]) -> Tensor:
        """∂^{|orders|} u / Π ∂x_i^{orders[i]} at x (N, d) → (N, 1)."""
        value = torch.ones_like(x[:, :1])
        for i, f in enumerate(self.factors):
            value = value * f(x[:, i : i + 1], orders[i])
        return value

    def value(self, x: Tensor) -> Tensor:
        return self.derivative(x, [0] * self.dimension)

    def axes_to_orders(self, axes: Sequence[int]) -> list[int]:
        orders = [0] * self.dimension
        for a in axes:
            orders[a] += 1
        return orders


CATALOGUE = [
    Separable("sin(2x)", [sine(2.0)]),
    Separable("x^5", [power(5)]),
    Separable("sin(1.3x+0.2) exp(0.7y)", [sine(1.3, 0.2), exponential(0.7)]),
    Separable("x^3 y^4", [power(3), power(4)]),
    Separable("sin(x) exp(-0.5y) cos(2z)", [sine(1.0), exponential(-0.5), sine(2.0, math.pi / 2)]),
]


# --- Kirsch: an infinite plate with a circular hole under uniaxial tension (numpy) -------------


def kirsch_stress(
    x: np.ndarray, y: np.ndarray, a: float, s: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(σxx, σyy, σxy) around a traction-free hole of radius a at the origin, σxx → s far away.

    Polar components (Kirsch 1898; Timoshenko & Goodier, Theory of Elasticity, §35):
    σrr = s/2 (1 − a²/r²) + s/2 (1 − 4a²/r² + 3a⁴/r⁴) cos 2θ,
    σθθ = s/2 (1 + a²/r²) − s/2 (1 + 3a⁴/r⁴) cos 2θ,
    σrθ = −s/2 (1 + 2a²/r² − 3a⁴/r⁴) sin 2θ, rotated to Cartesian axes.
    """
    r, t = np.hypot(x, y), np.arctan2(y, x)
    q2, q4 = (a / r) ** 2, (a / r) ** 4
    srr = s / 2 * (1 - q2) + s / 2 * (1 - 4 * q2 + 3 * q4) * np.cos(2 * t)
    stt = s / 2 * (1 + q2) - s / 2 * (1 + 3 * q4) * np.cos(2 * t)
    srt = -s / 2 * (1 + 2 * q2 - 3 * q4) * np.sin(2 * t)
    c, n = np.cos(t), np.sin(t)
    sxx = srr * c**2 + stt * n**2 - 2 * srt * n * c
    syy = srr * n**2 + stt * c**2 + 2 * srt * n * c
    sxy = (srr - stt) * n * c + srt * (c**2 - n**2)
    return sxx, syy, sxy


def kirsch_displacement(
    x: np.ndarray, y: np.ndarray, a: float, s: float, lam: float, mu: float
) -> tuple[np.ndarray, np.ndarray]:
    """(ux, uy) of the Kirsch field, with κ = (λ + 3μ)/(λ + μ) (3 − 4ν in plane strain).

    ux = s a/(8μ) [(r/a)(κ + 1) cos θ + 2 (a/r)((1 + κ) cos θ + cos 3θ) − 2 (a/r)³ cos 3θ],
    uy = s a/(8μ) [(r/a)(κ − 3) sin θ + 2 (a/r)((1 − κ) sin θ + sin 3θ) − 2 (a/r)³ sin 3θ]
    (Sukumar et al. 2001, Comput. Methods Appl. Mech. Eng. 190:6183, eq. 30), in the 2D law's
    λ (λ* in plane stress); zero normal displacement on both symmetry axes. The test suite checks
    it against :func:`kirsch_stress` by finite differences.
    """
    kappa = (lam + 3 * mu) / (lam + mu)
    r, t = np.hypot(x, y), np.arctan2(y, x)
    scale = s * a / (8 * mu)
    ux = scale * (
        r / a * (kappa + 1) * np.cos(t)
        + 2 * a / r * ((1 + kappa) * np.cos(t) + np.cos(3 * t))
        - 2 * (a / r) ** 3 * np.cos(3 * t)
    )
    uy = scale * (
        r / a * (kappa - 3) * np.sin(t)
        + 2 * a / r * ((1 - kappa) * np.sin(t) + np.sin(3 * t))
        - 2 * (a / r) ** 3 * np.sin(3 * t)
    )
    return ux, uy
