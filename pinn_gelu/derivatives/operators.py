"""Differential operators on network outputs with respect to their inputs, by nested autograd.

This is the reference path: obviously correct, and general (any differentiable function of the
points). Every operator keeps the graph (``create_graph=True``), so its result can be
differentiated again, by a higher operator or by the optimiser's backward pass. Shapes are
checked at the boundary of every operator, never broadcast silently (NeuroDiffEq #44, #63).

Conventions: ``x`` is the points tensor (N, d) with ``requires_grad=True``; a scalar field is
(N, 1), a vector field (N, k).

>>> import torch
>>> x = torch.tensor([[1.0, 2.0]], dtype=torch.float64, requires_grad=True)
>>> u = x[:, :1] ** 2 * x[:, 1:]            # u = x² y
>>> laplacian(u, x)                         # Δu = 2y
tensor([[4.]], dtype=torch.float64, grad_fn=<AddBackward0>)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["divergence", "gradient", "hessian", "jacobian", "laplacian", "partial"]


def _check_points(x: Tensor) -> None:
    if x.ndim != 2:
        raise ValueError(f"points must have shape (N, d), got {tuple(x.shape)}")
    if not x.requires_grad:
        raise ValueError("points must have requires_grad=True to be differentiated against")


def _check_scalar(u: Tensor, x: Tensor, name: str = "u") -> None:
    if u.shape != (x.shape[0], 1):
        raise ValueError(
            f"{name} must be a scalar field of shape (N, 1) = ({x.shape[0]}, 1), "
            f"got {tuple(u.shape)}"
        )


def _grad(u: Tensor, x: Tensor) -> Tensor:
    """∂(Σ_n u_n)/∂x with the graph kept: since u_n depends on x_n only, this is ∇u per point.

    A u that does not depend on x (a constant network output) has a zero gradient.
    """
    if not u.requires_grad:
        return torch.zeros_like(x)
    (g,) = torch.autograd.grad(
        u, x, grad_outputs=torch.ones_like(u), create_graph=True, allow_unused=True
    )
    return torch.zeros_like(x) if g is None else g


def gradient(u: Tensor, x: Tensor) -> Tensor:
    """∇u = (∂u/∂x_1, …, ∂u/∂x_d): u (N, 1), x (N, d) → (N, d)."""
    _check_points(x)
    _check_scalar(u, x)
    return _grad(u, x)


def jacobian(v: Tensor, x: Tensor) -> Tensor:
    """J_ij = ∂v_i/∂x_j: v (N, k), x (N, d) → (N, k, d)."""
    _check_points(x)
    if v.ndim != 2 or v.shape[0] != x.shape[0]:
        raise ValueError(f"v must have shape (N, k) with N = {x.shape[0]}, got {tuple(v.shape)}")
    return torch.stack([_grad(v[:, i : i + 1], x) for i in range(v.shape[1])], dim=1)


def divergence(v: Tensor, x: Tensor) -> Tensor:
    """∇·v = Σ_i ∂v_i/∂x_i: v (N, d), x (N, d) → (N, 1)."""
    _check_points(x)
    if v.shape != x.shape:
        raise ValueError(f"v must have the shape of x, {tuple(x.shape)}, got {tuple(v.shape)}")
    total = torch.zeros_like(v[:, :1])
    for i in range(x.shape[1]):
        total = total + _grad(v[:, i : i + 1], x)[:, i : i + 1]
    return total


def laplacian(u: Tensor, x: Tensor) -> Tensor:
    """Δu = Σ_i ∂²u/∂x_i²: u (N, 1), x (N, d) → (N, 1).

    One backward pass for ∇u, then one per dimension: the diagonal of the Hessian only.
    """
    _check_points(x)
    _check_scalar(u, x)
    g = _grad(u, x)
    total = torch.zeros_like(u)
    for i in range(x.shape[1]):
        total = total + _grad(g[:, i : i + 1], x)[:, i : i + 1]
    return total


def hessian(u: Tensor, x: Tensor) -> Tensor:
    """H_ij = ∂²u/∂x_i∂x_j: u (N, 1), x (N, d) → (N, d, d)."""
    _check_points(x)
    _check_scalar(u, x)
    g = _grad(u, x)
    return torch.stack([_grad(g[:, i : i + 1], x) for i in range(x.shape[1])], dim=1)


def partial(u: Tensor, x: Tensor, axes: Sequence[int]) -> Tensor:
    """The mixed partial derivative ∂ⁿu/∂x_{a_1}…∂x_{a_n} for ``axes = (a_1, …, a_n)``.

    u (N, 1), x (N, d) → (N, 1). ``axes=()`` gives u itself; ``axes=(0, 0, 1, 1)`` gives
    ∂⁴u/∂x²∂y². Each order is one backward pass, so order n costs n passes.
    """
    _check_points(x)
    _check_scalar(u, x)
    for axis in axes:
        if not 0 <= axis < x.shape[1]:
            raise ValueError(f"axis {axis} out of range for {x.shape[1]}-dimensional points")
        u = _grad(u, x)[:, axis : axis + 1]
    return u
