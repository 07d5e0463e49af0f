"""The reference solvers of the evolution benchmarks converge at their stated orders."""

from __future__ import annotations

import sys

import numpy as np

from .conftest import ROOT

sys.path.insert(0, str(ROOT / "problems" / "data"))
import generate


def test_the_cole_hopf_rule_converges_to_rounding() -> None:
    rng = np.random.default_rng(1)
    x, t = rng.uniform(-1, 1, 40), rng.uniform(0.05, 1, 40)
    fine = generate.burgers_cole_hopf(x, t, h=1e-4)
    assert np.abs(generate.burgers_cole_hopf(x, t, h=4e-4) - fine).max() < 1e-12
    # and it solves the initial value problem: odd in x, zero at the walls, −sin πx at t = 0
    assert np.allclose(generate.burgers_cole_hopf(-x, t), -generate.burgers_cole_hopf(x, t))
    assert (
        np.abs(generate.burgers_cole_hopf(np.array([1.0, -1.0]), np.array([0.5, 0.5]))).max()
        < 1e-12
    )


def test_etdrk4_is_fourth_order_in_time() -> None:
    times = np.linspace(0, 0.5, 3)
    best = generate.allen_cahn_etdrk4(128, 2.5e-4, times)[2]
    errors = [
        np.abs(generate.allen_cahn_etdrk4(128, dt, times)[2] - best).max() for dt in (1e-2, 5e-3)
    ]
    order = np.log2(errors[0] / errors[1])
    assert 3.5 < order < 4.6, errors


def test_the_spatial_error_is_second_order_from_the_kink_of_the_initial_value() -> None:
    times = np.linspace(0, 0.2, 2)
    u = {
        n: generate.allen_cahn_etdrk4(n, 1e-3, times)[2][:, :: n // 512] for n in (512, 1024, 2048)
    }
    first, second = np.abs(u[512] - u[1024]).max(), np.abs(u[1024] - u[2048]).max()
    assert 3.0 < first / second < 5.0, (first, second)
    # the initial value, and periodic: u(−1) = u(1) = −1
    x, _, values = generate.allen_cahn_etdrk4(64, 1e-3, np.array([0.0]))
    assert np.allclose(values[0], x**2 * np.cos(np.pi * x), atol=1e-14)
