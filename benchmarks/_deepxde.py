"""DeepXDE 1.15 on poisson_2d, for the races in speed.py and gauss_newton.py.

The same problem as problems/poisson_2d.yaml's former settings: a 2-50×4-1 GELU network,
2000 + 400 Sobol points, float64, loss weights 1:100, Adam at 2e-3 then L-BFGS. DeepXDE runs in
its own virtual environment (benchmarks/.deepxde-venv, made once with deepxde==1.15.0 and this
machine's torch), and reports the relative L2 error on the 101² grid every 50 epochs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / "benchmarks" / ".deepxde-venv"

SCRIPT = textwrap.dedent("""
    import json, os, sys, time
    os.environ["DDEBACKEND"] = "pytorch"
    import numpy as np, torch
    import deepxde as dde
    threads, adam_steps, lbfgs_steps = (int(a) for a in sys.argv[1:4])
    torch.set_num_threads(threads)
    dde.config.set_default_float("float64")
    dde.config.set_random_seed(0)
    started, curve = time.perf_counter(), []

    def pde(x, u):
        lap = dde.grad.hessian(u, x, i=0, j=0) + dde.grad.hessian(u, x, i=1, j=1)
        return -lap - 2 * np.pi**2 * torch.sin(np.pi * x[:, 0:1]) * torch.sin(np.pi * x[:, 1:2])

    def exact(x):
        return np.sin(np.pi * x[:, 0:1]) * np.sin(np.pi * x[:, 1:2])

    geometry = dde.geometry.Rectangle([0, 0], [1, 1])
    bc = dde.icbc.DirichletBC(geometry, lambda x: 0, lambda x, on: on)
    grid = np.stack(np.meshgrid(np.linspace(0, 1, 101), np.linspace(0, 1, 101), indexing="ij"),
                    -1).reshape(-1, 2)
    data = dde.data.PDE(geometry, pde, [bc], num_domain=2000, num_boundary=400,
                        train_distribution="Sobol", solution=exact, num_test=None)
    data.test_x, data.test_y = grid, exact(grid)
    net = dde.nn.FNN([2] + [50] * 4 + [1], "gelu", "Glorot normal")
    model = dde.Model(data, net)

    def error():
        u = model.predict(grid)
        return float(np.linalg.norm(u - exact(grid)) / np.linalg.norm(exact(grid)))

    class Watch(dde.callbacks.Callback):
        def on_epoch_end(self):
            if self.model.train_state.epoch % 50 == 0:
                curve.append((time.perf_counter() - started, error()))

    model.compile("adam", lr=2e-3, loss_weights=[1, 100])
    model.train(iterations=adam_steps, display_every=1000, callbacks=[Watch()])
    dde.optimizers.set_LBFGS_options(maxiter=lbfgs_steps)
    dde.optimizers.config.LBFGS_options["iter_per_step"] = 50
    model.compile("L-BFGS", loss_weights=[1, 100])
    model.train(display_every=50, callbacks=[Watch()])
    print(json.dumps({"relative_l2": {"u": error()}, "curve": curve,
                      "wall_time_s": time.perf_counter() - started}))
""")


def ensure_deepxde() -> Path:
    """The Python of DeepXDE's environment, made on first use."""
    python = VENV / "bin" / "python"
    if not python.exists():
        print(f"installing deepxde==1.15.0 into {VENV} (once) ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "torch==2.13.0"], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "deepxde==1.15.0"], check=True)
    return python


def run_deepxde(threads: int, adam_steps: int = 1000, lbfgs_steps: int = 2500) -> dict[str, Any]:
    """Train DeepXDE; {relative_l2: {u}, curve: [(seconds, error) every 50 epochs], wall_time_s}."""
    python = ensure_deepxde()
    script = VENV / "race_deepxde.py"
    script.write_text(SCRIPT, encoding="utf-8")
    return _run(python, script, [threads, adam_steps, lbfgs_steps], "the DeepXDE run")


def _run(python: Path, script: Path, arguments: list[int], what: str) -> dict[str, Any]:
    """Run a script in DeepXDE's environment; the JSON object of its last output line."""
    done = subprocess.run(
        [str(python), str(script), *map(str, arguments)],
        capture_output=True,
        text=True,
        env={**os.environ, "DDEBACKEND": "pytorch"},
        check=False,
    )
    if done.returncode != 0:
        print(done.stderr[-2000:])
        raise SystemExit(f"{what} failed")
    return json.loads(done.stdout.strip().splitlines()[-1])


if __name__ == "__main__":  # a quick check of the environment: python benchmarks/_deepxde.py
    print(json.dumps(run_deepxde(1, adam_steps=50, lbfgs_steps=50))[:300])


#: DeepXDE's own forward examples (examples/pinn_forward in its repository), with their
#: published settings: network, activation, initialiser, points, optimiser and steps. Each
#: reports its relative L2 error on the grid pinn_gelu validates the same problem on.
EXAMPLES = {
    "beam": """
        def ddy(x, y):
            return dde.grad.hessian(y, x)
        def pde(x, y):
            return dde.grad.hessian(ddy(x, y), x) + 1
        def exact(x):
            return -(x**4) / 24 + x**3 / 6 - x**2 / 4
        geom = dde.geometry.Interval(0, 1)
        left = lambda x, on: on and np.isclose(x[0], 0)
        right = lambda x, on: on and np.isclose(x[0], 1)
        bcs = [dde.icbc.DirichletBC(geom, lambda x: 0, left),
               dde.icbc.NeumannBC(geom, lambda x: 0, left),
               dde.icbc.OperatorBC(geom, lambda x, y, _: ddy(x, y), right),
               dde.icbc.OperatorBC(geom, lambda x, y, _: dde.grad.jacobian(ddy(x, y), x), right)]
        data = dde.data.PDE(geom, pde, bcs, num_domain=10, num_boundary=2, solution=exact,
                            num_test=100)
        net = dde.nn.FNN([1] + [20] * 3 + [1], "tanh", "Glorot uniform")
        grid = np.linspace(0, 1, 1001)[:, None]
        schedule = [("adam", 1e-3, 10000)]
    """,
    "robin_1d": """
        def pde(x, y):
            return dde.grad.hessian(y, x) - 2
        def exact(x):
            return (x + 1) ** 2
        geom = dde.geometry.Interval(-1, 1)
        bcs = [dde.icbc.DirichletBC(geom, exact, lambda x, on: on and np.isclose(x[0], -1)),
               dde.icbc.RobinBC(geom, lambda X, y: y, lambda x, on: on and np.isclose(x[0], 1))]
        data = dde.data.PDE(geom, pde, bcs, 16, 2, solution=exact, num_test=100)
        net = dde.nn.FNN([1] + [50] * 3 + [1], "tanh", "Glorot uniform")
        grid = np.linspace(-1, 1, 1001)[:, None]
        schedule = [("adam", 1e-3, 10000)]
    """,
    "heat_1d": """
        a = 0.4
        def pde(x, y):
            return dde.grad.jacobian(y, x, i=0, j=1) - a * dde.grad.hessian(y, x, i=0, j=0)
        def exact(x):
            return np.exp(-a * np.pi**2 * x[:, 1:2]) * np.sin(np.pi * x[:, 0:1])
        geom = dde.geometry.GeometryXTime(dde.geometry.Interval(0, 1),
                                          dde.geometry.TimeDomain(0, 1))
        bcs = [dde.icbc.DirichletBC(geom, lambda x: 0, lambda _, on: on),
               dde.icbc.IC(geom, lambda x: np.sin(np.pi * x[:, 0:1]), lambda _, on: on)]
        data = dde.data.TimePDE(geom, pde, bcs, num_domain=2540, num_boundary=80,
                                num_initial=160, num_test=2540)
        net = dde.nn.FNN([2] + [20] * 3 + [1], "tanh", "Glorot normal")
        axis = np.linspace(0, 1, 101)
        grid = np.stack(np.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)
        schedule = [("adam", 1e-3, 20000), ("L-BFGS", None, None)]
    """,
    "helmholtz_2d": """
        k0 = 4 * np.pi
        def pde(x, y):
            lap = dde.grad.hessian(y, x, i=0, j=0) + dde.grad.hessian(y, x, i=1, j=1)
            f = k0**2 * torch.sin(k0 * x[:, 0:1]) * torch.sin(k0 * x[:, 1:2])
            return -lap - k0**2 * y - f
        def exact(x):
            return np.sin(k0 * x[:, 0:1]) * np.sin(k0 * x[:, 1:2])
        geom = dde.geometry.Rectangle([0, 0], [1, 1])
        data = dde.data.PDE(geom, pde, [], num_domain=20**2, num_boundary=4 * 20,
                            solution=exact, num_test=60**2)
        net = dde.nn.FNN([2] + [150] * 3 + [1], "sin", "Glorot uniform")
        net.apply_output_transform(
            lambda x, y: x[:, 0:1] * (1 - x[:, 0:1]) * x[:, 1:2] * (1 - x[:, 1:2]) * y)
        axis = np.linspace(0, 1, 101)
        grid = np.stack(np.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)
        schedule = [("adam", 1e-3, 5000)]
    """,
}

EXAMPLE_SCRIPT = textwrap.dedent("""
    import json, os, sys, time
    os.environ["DDEBACKEND"] = "pytorch"
    import numpy as np, torch
    import deepxde as dde
    torch.set_num_threads(int(sys.argv[1]))
    dde.config.set_random_seed(0)
    started = time.perf_counter()
    {body}
    model = dde.Model(data, net)
    for optimiser, lr, steps in schedule:
        if lr is None:
            model.compile(optimiser)
            model.train()
        else:
            model.compile(optimiser, lr=lr)
            model.train(iterations=steps, display_every=100000)
    u = model.predict(grid)
    error = float(np.linalg.norm(u - exact(grid)) / np.linalg.norm(exact(grid)))
    print(json.dumps({{"relative_l2": {{"u": error}},
                      "wall_time_s": time.perf_counter() - started}}))
""")


def run_example(name: str, threads: int) -> dict[str, Any]:
    """Run DeepXDE's example ``name`` (a key of :data:`EXAMPLES`) with its published settings."""
    python = ensure_deepxde()
    script = VENV / f"example_{name}.py"
    body = textwrap.indent(textwrap.dedent(EXAMPLES[name]).strip(), "")
    script.write_text(EXAMPLE_SCRIPT.replace("{body}", body).replace("{{", "{").replace("}}", "}"))
    return _run(python, script, [threads], f"the DeepXDE example {name}")
