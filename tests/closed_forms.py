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
