"""Shared fixtures: a valid problem as data, and writing problem files."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
PROBLEMS = ROOT / "problems"

VALID = {
    "name": "tiny",
    "pde": {"kind": "poisson", "source": "pi**2*sin(pi*x)"},
    "domain": {"rectangle": [[0, 1]]},
    "boundary": [{"on": "all", "dirichlet": "0"}],
    "exact": {"u": "sin(pi*x)"},
    "network": {"width": 16, "depth": 2},
    "training": {
        "points": {"interior": 64},
        "adam": {"steps": 20},
        "lbfgs": {"steps": 10},
        "dtype": "float64",
    },
}


@pytest.fixture
def valid() -> dict:
    """A deep copy of a small valid 1D Poisson problem, as data."""
    return copy.deepcopy(VALID)


@pytest.fixture
def write(tmp_path: Path):
    """write(data or text, name) → path of a problem file in a temporary directory."""

    def _write(content, name: str = "problem.yaml") -> Path:
        path = tmp_path / name
        text = content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False)
        path.write_text(text, encoding="utf-8")
        return path

    return _write


if os.environ.get("PYTEST_XDIST_WORKER"):
    # Workers share the cores: one thread each, and for the processes they start (notebook
    # kernels, solves), or OpenMP's spin-waiting makes every one of them many times slower.
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)


def dense_jacobian(model: torch.nn.Module, loss) -> torch.Tensor:
    """∂(weighted residuals)/∂(every parameter of the model) by dense reverse-mode autograd.

    The oracle for :meth:`pinn_gelu.loss.Loss.jacobian`, in the model's parameter order.
    """
    names = [n for n, _ in model.named_parameters()]

    def residuals(*values):
        with torch.nn.utils.stateless._reparametrize_module(
            model, dict(zip(names, values, strict=True))
        ):
            return loss.residuals()

    dense = torch.autograd.functional.jacobian(residuals, tuple(model.parameters()))
    return torch.cat([d.reshape(d.shape[0], -1) for d in dense], 1)


def interrupted_and_resumed(problem, checkpoint: Path, stop_at: int):
    """(uninterrupted run, run stopped by SIGINT after step ``stop_at`` then resumed)."""
    import signal

    from pinn_gelu.training import Trainer

    reference = Trainer(problem, progress=False).run()
    first = Trainer(problem, progress=False, checkpoint=checkpoint)
    original = first._after_step

    def after(phase_step):
        if first.step == stop_at:
            first.request_stop(signal.SIGINT)
        original(phase_step)

    first._after_step = after  # type: ignore[method-assign]
    assert first.run().status == "interrupted"
    return reference, Trainer.resume(problem, checkpoint, progress=False).run()


def assert_engine_matches_autograd(model, x, engine, need, tolerance: float = 1e-10) -> None:
    """The fields of ``engine`` at x equal nested autograd's: the value to 1e-13, each
    derivative the need asks for to ``tolerance`` (and present in both)."""
    from pinn_gelu.derivatives import ENGINES, autograd_fields
    from pinn_gelu.fields import need_rank

    fields = ENGINES[engine](model, x, need)
    oracle = autograd_fields(model, x, need)
    torch.testing.assert_close(fields.value, oracle.value, rtol=0, atol=1e-13)
    for name in ["gradient", "laplacian", "hessian", "third", "fourth"][: need_rank(need)]:
        ours, theirs = getattr(fields, name), getattr(oracle, name)
        assert ours is not None and theirs is not None, name
        torch.testing.assert_close(ours, theirs, rtol=tolerance, atol=tolerance)
