"""The observation files of the shipped inverse problems, from exact solutions and seeded noise.

    python problems/data/generate.py            # rewrites every file below

Each dataset samples a known solution at seeded points and adds seeded Gaussian noise of a
stated standard deviation, so that the files (and the benchmarks that identify the unknowns
from them) are reproducible. ``--seed`` draws another noise realisation (benchmarks/inverse.py
uses it for its coverage count); the shipped files use seed 0.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def heat_sensors(seed: int = 0, noise: float = 0.01) -> tuple[np.ndarray, list[str]]:
    """u_t = a·u_xx on [0, 1] × [0, 1], a = 0.4, u = exp(−aπ²t)·sin(πx): 5 sensors × 20 times.

    The sensors sit at x = 0.1, 0.3, 0.5, 0.7, 0.9 and read at t = 0.05, 0.10, …, 1.00.
    """
    a = 0.4
    x, t = np.meshgrid([0.1, 0.3, 0.5, 0.7, 0.9], np.linspace(0.05, 1.0, 20), indexing="ij")
    x, t = x.ravel(), t.ravel()
    u = np.exp(-a * np.pi**2 * t) * np.sin(np.pi * x)
    u = u + noise * np.random.default_rng(seed).standard_normal(u.shape)
    return np.stack([x, t, u], 1), ["x", "t", "u"]


def kirsch_displacement(x: np.ndarray, y: np.ndarray, e: float, nu: float) -> tuple:
    """The Kirsch plate's displacement (plane strain, S = 1, a = 1; kirsch_plate.yaml's exact)."""
    mu, kappa, a, s = e / (2 * (1 + nu)), 3 - 4 * nu, 1.0, 1.0
    r2 = x**2 + y**2
    ux = (s * a / (8 * mu)) * (
        (kappa + 1) * x / a
        + 2 * a * ((1 + kappa) * x / r2 + (x**3 - 3 * x * y**2) / r2**2)
        - 2 * a**3 * (x**3 - 3 * x * y**2) / r2**3
    )
    uy = (s * a / (8 * mu)) * (
        (kappa - 3) * y / a
        + 2 * a * ((1 - kappa) * y / r2 + (3 * x**2 * y - y**3) / r2**2)
        - 2 * a**3 * (3 * x**2 * y - y**3) / r2**3
    )
    return ux, uy


def plate_dic(seed: int = 0, noise: float = 0.01) -> tuple[np.ndarray, list[str]]:
    """The Kirsch plate (E = 2.6, ν = 0.3): ux, uy at 100 points, as digital image correlation.

    Points uniform in the quarter plate [0, 4]² minus the unit disk (seeded; the same points for
    every noise seed), Gaussian noise of standard deviation ``noise`` × max |u| on each
    component (noise seeded by ``seed``).
    """
    rng = np.random.default_rng(12345)
    points = rng.uniform(0, 4, (400, 2))
    points = points[np.hypot(points[:, 0], points[:, 1]) > 1.05][:100]
    x, y = points[:, 0], points[:, 1]
    ux, uy = kirsch_displacement(x, y, 2.6, 0.3)
    scale = noise * max(np.abs(ux).max(), np.abs(uy).max())
    eps = np.random.default_rng(seed).standard_normal((2, len(x)))
    return np.stack([x, y, ux + scale * eps[0], uy + scale * eps[1]], 1), ["x", "y", "ux", "uy"]


def coefficient_u(seed: int = 0, noise: float = 0.1) -> tuple[np.ndarray, list[str]]:
    """The u = sin(πx) sin(πy) of −∇·(a∇u) = f on [0, 1]², a = 1/(1 + x² + y² + (x−1)² + (y−1)²).

    PINNacle's PInv setting; f (in coefficient_inverse.yaml) derived with sympy from u and a.
    u at 2,500 uniform random points (the same points for every seed) with Gaussian noise of
    standard deviation ``noise``.
    """
    points = np.random.default_rng(54321).uniform(0, 1, (2500, 2))
    x, y = points[:, 0], points[:, 1]
    u = np.sin(np.pi * x) * np.sin(np.pi * y)
    u = u + noise * np.random.default_rng(seed).standard_normal(u.shape)
    return np.stack([x, y, u], 1), ["x", "y", "u"]


def burgers_cole_hopf(x: np.ndarray, t: np.ndarray, nu: float = 0.01 / np.pi, h: float = 2e-4):
    """u(x, t) of u_t + u u_x = ν u_xx, u(x, 0) = −sin(πx), by the Cole–Hopf transformation.

    u = ∫ (η/t) φ(x − η) G(η) dη / ∫ φ(x − η) G(η) dη with G = exp(−η²/(4νt)) and
    φ(y) = exp(−(cos πy − 1)/(2πν)), by the trapezoidal rule of step ``h`` over |η| ≤ 12√(4νt)
    (beyond it the integrand is below e⁻⁴⁴ of its peak), with the exponents shifted by their
    maximum. The rule converges spectrally: halving h from 4e-4 to 1e-4 changes u by 1e-14 on
    200 random points (``python problems/data/generate.py --check``). The solution is odd in x
    and keeps u(±1, t) = 0 (the boundary conditions of Raissi et al. 2019).
    """
    x, t = np.asarray(x, float), np.asarray(t, float)
    out = -np.sin(np.pi * x)
    for k in np.flatnonzero(t > 0):
        w = np.sqrt(4 * nu * t[k])
        eta = np.arange(-12 * w, 12 * w + h / 2, h)
        exponent = -(eta**2) / (4 * nu * t[k]) - (np.cos(np.pi * (x[k] - eta)) - 1) / (
            2 * np.pi * nu
        )
        f = np.exp(exponent - exponent.max())
        out[k] = np.sum(eta / t[k] * f) / np.sum(f)
    return out


def burgers_samples(seed: int = 0, noise: float = 0.0) -> tuple[np.ndarray, list[str]]:
    """2,000 samples of Burgers' u at uniform random (x, t) ∈ [−1, 1] × [0, 1] (Raissi's setting).

    The points are fixed; ``noise`` adds Gaussian noise of that fraction of the samples' standard
    deviation (Raissi et al. 2019 use 1 %), seeded by ``seed``.
    """
    rng = np.random.default_rng(2019)
    x, t = rng.uniform(-1, 1, 2000), rng.uniform(0, 1, 2000)
    u = burgers_cole_hopf(x, t)
    u = u + noise * u.std() * np.random.default_rng(seed).standard_normal(u.shape)
    return np.stack([x, t, u], 1), ["x", "t", "u"]


def allen_cahn_etdrk4(
    n: int = 512, dt: float = 1e-3, times: np.ndarray | None = None, contour: int = 32
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """u(x, t) of u_t = 1e-4 u_xx − 5u³ + 5u, periodic on [−1, 1], u(x, 0) = x² cos(πx).

    The benchmark of jaxpi, PirateNets and SOAP (and DeepXDE's Allen–Cahn with periodic data),
    solved by Fourier collocation in x (n points, wavenumbers πk) and ETDRK4 in t (Cox &
    Matthews 2002, with Kassam & Trefethen 2005's contour integrals for the coefficients, M =
    ``contour`` points): u_t = Lu + N(u), L = −1e-4 k², N(u) = 5u − 5u³. Fourth order in dt
    (``python problems/data/generate.py --check`` and tests/test_references.py show it),
    and in x second order only: the initial value's slope jumps at x = ±1 (2 against −2), a
    kink that Fourier series resolve at O(n⁻²) (halving the spacing divides the change by 4;
    n = 2048 is within about 1e-5). Returns x (n,), the times (default 201 in [0, 1]), u
    (times, n).
    """
    times = np.linspace(0.0, 1.0, 201) if times is None else np.asarray(times, float)
    x = -1.0 + 2.0 * np.arange(n) / n
    k = np.pi * np.fft.fftfreq(n, d=1.0 / n)
    lin = -1e-4 * k**2
    e, e2 = np.exp(dt * lin), np.exp(dt * lin / 2)
    roots = np.exp(1j * np.pi * (np.arange(1, contour + 1) - 0.5) / contour)
    lr = dt * lin[:, None] + roots[None, :]
    q = dt * np.real(np.mean((np.exp(lr / 2) - 1) / lr, axis=1))
    f1 = dt * np.real(np.mean((-4 - lr + np.exp(lr) * (4 - 3 * lr + lr**2)) / lr**3, axis=1))
    f2 = dt * np.real(np.mean((2 + lr + np.exp(lr) * (-2 + lr)) / lr**3, axis=1))
    f3 = dt * np.real(np.mean((-4 - 3 * lr - lr**2 + np.exp(lr) * (4 - lr)) / lr**3, axis=1))

    def nonlinear(v: np.ndarray) -> np.ndarray:
        u = np.real(np.fft.ifft(v))
        return np.fft.fft(5 * u - 5 * u**3)

    v = np.fft.fft(x**2 * np.cos(np.pi * x))
    out = np.empty((len(times), n))
    t, index = 0.0, 0
    steps = round(float(times[-1]) / dt)
    for step in range(steps + 1):
        while index < len(times) and abs(times[index] - t) < dt / 2:
            out[index] = np.real(np.fft.ifft(v))
            index += 1
        if step == steps:
            break
        nv = nonlinear(v)
        a = e2 * v + q * nv
        na = nonlinear(a)
        b = e2 * v + q * na
        nb = nonlinear(b)
        c = e2 * a + q * (2 * nb - nv)
        nc = nonlinear(c)
        v = e * v + nv * f1 + 2 * (na + nb) * f2 + nc * f3
        t = (step + 1) * dt
    if index != len(times):
        raise ValueError("the output times must be multiples of dt in [0, the last time]")
    return x, times, out


DATASETS = {
    "heat_sensors": heat_sensors,
    "plate_dic": plate_dic,
    "coefficient_u": coefficient_u,
    "burgers_samples": burgers_samples,
}


def write_csv(path: Path, table: np.ndarray, names: list[str]) -> None:
    """A CSV file with a header row, numbers in full precision."""
    lines = [",".join(names)] + [",".join(f"{v:.17g}" for v in row) for row in table]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> int:
    """Write every dataset (or, with --check, show the Cole–Hopf rule's convergence)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("--check", action="store_true", help="the Cole–Hopf rule's convergence")
    args = parser.parse_args()
    if args.check:
        rng = np.random.default_rng(0)
        x, t = rng.uniform(-1, 1, 200), rng.uniform(0, 1, 200)
        fine = burgers_cole_hopf(x, t, h=1e-4)
        for h in (4e-4, 2e-4):
            change = np.abs(burgers_cole_hopf(x, t, h=h) - fine).max()
            print(f"Cole–Hopf, step {h:g}: max |u − u(step 1e-4)| = {change:.1e}")
        times = np.linspace(0, 1, 11)
        _, _, best = allen_cahn_etdrk4(512, 1.25e-4, times)
        for dt in (2e-3, 1e-3, 5e-4):
            change = np.abs(allen_cahn_etdrk4(512, dt, times)[2] - best).max()
            print(f"Allen–Cahn ETDRK4, dt {dt:g}: max |u − u(dt 1.25e-4)| = {change:.1e}")
        previous = None
        for n in (512, 1024, 2048, 4096):
            u = allen_cahn_etdrk4(n, 5e-4, times)[2][:, :: n // 512]
            if previous is not None:
                change = np.abs(u - previous).max()
                print(f"Allen–Cahn, {n // 2} against {n} points: max difference {change:.1e}")
            previous = u
        return 0
    for name, make in DATASETS.items():
        table, names = make(seed=args.seed)
        write_csv(args.out / f"{name}.csv", table, names)
        print(f"{args.out / (name + '.csv')}: {len(table)} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
