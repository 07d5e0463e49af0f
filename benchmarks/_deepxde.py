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
    done = subprocess.run(
        [str(python), str(script), str(threads), str(adam_steps), str(lbfgs_steps)],
        capture_output=True,
        text=True,
        env={**os.environ, "DDEBACKEND": "pytorch"},
        check=False,
    )
    if done.returncode != 0:
        print(done.stderr[-2000:])
        raise SystemExit("the DeepXDE run failed")
    return json.loads(done.stdout.strip().splitlines()[-1])


if __name__ == "__main__":  # a quick check of the environment: python benchmarks/_deepxde.py
    print(json.dumps(run_deepxde(1, adam_steps=50, lbfgs_steps=50))[:300])
