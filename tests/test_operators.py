"""Differential operators against closed forms (float64), orders 1 to 4."""

import itertools

import pytest
import torch

from pinn_gelu.derivatives.operators import (
    divergence,
    gradient,
    hessian,
    jacobian,
    laplacian,
    partial,
)

from .closed_forms import CATALOGUE, Separable

# float64, a few hundred flops per value, values of order 10: 1e-11 absolute is ~1000 ulp.
ATOL = 1e-11


def points(d: int, n: int = 64, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, d, generator=g, dtype=torch.float64) * 2 - 1).requires_grad_(True)


@pytest.mark.parametrize("u", CATALOGUE, ids=lambda u: u.name)
def test_gradient_laplacian_hessian(u: Separable) -> None:
    x = points(u.dimension)
    value = u.value(x)
    d = u.dimension
    expected_grad = torch.cat([u.derivative(x, u.axes_to_orders([i])) for i in range(d)], dim=1)
    torch.testing.assert_close(gradient(value, x), expected_grad, atol=ATOL, rtol=0)
    expected_hess = torch.stack(
        [
            torch.cat([u.derivative(x, u.axes_to_orders([i, j])) for j in range(d)], dim=1)
            for i in range(d)
        ],
        dim=1,
    )
    torch.testing.assert_close(hessian(value, x), expected_hess, atol=ATOL, rtol=0)
    expected_lap = sum(u.derivative(x, u.axes_to_orders([i, i])) for i in range(d))
    torch.testing.assert_close(laplacian(value, x), expected_lap, atol=ATOL, rtol=0)


@pytest.mark.parametrize("u", CATALOGUE, ids=lambda u: u.name)
@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_partial_derivatives_up_to_fourth_order(u: Separable, order: int) -> None:
    x = points(u.dimension)
    value = u.value(x)
    for axes in itertools.product(range(u.dimension), repeat=order):
        expected = u.derivative(x, u.axes_to_orders(axes))
        torch.testing.assert_close(partial(value, x, axes), expected, atol=1e-10, rtol=0)


def test_biharmonic_of_a_polynomial() -> None:
    # Δ²(x⁴ + x²y² + y⁴) = 24 + 8 + 24 = 56 at every point
    x = points(2)
    u = x[:, :1] ** 4 + x[:, :1] ** 2 * x[:, 1:] ** 2 + x[:, 1:] ** 4
    bi = sum(partial(u, x, (i, i, j, j)) for i in range(2) for j in range(2))
    torch.testing.assert_close(bi, torch.full_like(bi, 56.0), atol=1e-10, rtol=0)


def test_divergence_and_jacobian_of_a_vector_field() -> None:
    # v = (x²y, sin(y) + x): ∇·v = 2xy + cos(y); J = [[2xy, x²], [1, cos y]]
    x = points(2)
    xx, yy = x[:, :1], x[:, 1:]
    v = torch.cat([xx**2 * yy, torch.sin(yy) + xx], dim=1)
    torch.testing.assert_close(divergence(v, x), 2 * xx * yy + torch.cos(yy), atol=ATOL, rtol=0)
    expected = torch.stack(
        [torch.cat([2 * xx * yy, xx**2], 1), torch.cat([torch.ones_like(xx), torch.cos(yy)], 1)], 1
    )
    torch.testing.assert_close(jacobian(v, x), expected, atol=ATOL, rtol=0)


def test_laplacian_of_each_component_separately() -> None:
    # PINA #379: a vector field's Laplacian must be taken per component
    x = points(2)
    u1 = torch.sin(x[:, :1]) * x[:, 1:] ** 2
    u2 = x[:, :1] ** 3
    torch.testing.assert_close(laplacian(u1, x), -u1 + 2 * torch.sin(x[:, :1]), atol=ATOL, rtol=0)
    torch.testing.assert_close(laplacian(u2, x), 6 * x[:, :1], atol=ATOL, rtol=0)


def test_a_constant_field_has_zero_derivatives() -> None:
    x = points(2)
    u = torch.ones(x.shape[0], 1, dtype=x.dtype) * 3.0
    assert torch.equal(gradient(u, x), torch.zeros_like(x))
    assert torch.equal(laplacian(u, x), torch.zeros_like(u))


def test_results_can_be_differentiated_again_with_respect_to_parameters() -> None:
    # gradcheck: the Laplacian of u = sin(w·x) keeps a correct graph to w
    x = points(2, n=8)

    def lap_of(w: torch.Tensor) -> torch.Tensor:
        u = torch.sin(x @ w)
        return laplacian(u, x)

    w = torch.tensor([[0.7], [-1.1]], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lap_of, (w,))
    assert torch.autograd.gradgradcheck(lap_of, (w,))


@pytest.mark.parametrize(
    "bad",
    [
        lambda x: gradient(x[:, 0], x),  # (N,) instead of (N, 1)
        lambda x: laplacian(torch.cat([x, x], 1)[:, :2], x),  # (N, 2) is not scalar
        lambda x: divergence(x[:, :1], x),  # wrong width
        lambda x: partial(x[:, :1], x, (5,)),  # axis out of range
    ],
)
def test_shapes_are_checked_not_broadcast(bad) -> None:
    with pytest.raises(ValueError):
        bad(points(2))


def test_points_must_require_grad() -> None:
    x = torch.rand(4, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match="requires_grad"):
        laplacian(x[:, :1] ** 2, x)
