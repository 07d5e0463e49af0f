"""The optimiser registry: a new optimiser is one class and one entry; every entry behaves alike."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass

import pytest
import torch

from pinn_gelu import load_problem, train
from pinn_gelu.cli import main
from pinn_gelu.config import Limits, option
from pinn_gelu.optimisers import OPTIMISERS, Context, Optimiser, Resources, Step, gradient_max


@dataclass(frozen=True, kw_only=True)
class DescentConfig:
    """Plain gradient descent: ``training.descent:`` section."""

    steps: int = option(10, "descent steps", min=0, limit="max_steps")
    lr: float = option(1e-3, "learning rate", min_exclusive=0.0, max=10.0)


class Descent(Optimiser):
    """θ ← θ − lr ∇L: written here, registered from here, touching no module of the library."""

    Config = DescentConfig

    def __init__(self, config: DescentConfig, context: Context) -> None:
        super().__init__(config, context)

    def step(self, k: int, lr_scale: float) -> Step:
        total, parts = self.context.gradient()
        values = [float(total), *parts.tolist()]
        self.context.accept(values[0], values[1:], float(gradient_max(self.context.params)))
        with torch.no_grad():
            for p in self.context.params:
                p -= self.config.lr * lr_scale * p.grad
        return Step(values[0], values[1:])


def test_an_optimiser_registered_from_a_test_is_trained_by_name(
    monkeypatch, write, valid, tmp_path, capsys
) -> None:
    monkeypatch.setitem(OPTIMISERS, "descent", Descent)
    path, out = write(valid), tmp_path / "run"
    overrides = ["--set", "training.schedule=adam,descent", "--set", "training.descent.steps=7"]
    assert main(["check", str(path), *overrides]) == 0
    assert "adam 20 steps (lr 0.002), descent 7 steps" in capsys.readouterr().out
    code = main(["solve", str(path), "--out", str(out), "--quiet", "--no-plots", *overrides])
    assert code == 0, capsys.readouterr().err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["phase_steps"] == {"adam": 20, "descent": 7}
    assert metrics["stop_reasons"]["descent"] == "completed 7 steps"
    with (out / "history.csv").open() as handle:
        rows = [r for r in csv.DictReader(handle) if r["phase"] == "descent"]
    losses = [float(r["loss"]) for r in rows]
    assert len(rows) == 7 and losses[-1] < losses[0]  # it trained
    # its section is checked like any other: an unknown key names the valid ones
    bad = ["--set", "training.descent.rate=1", "--set", "training.schedule=descent"]
    assert main(["check", str(path), *bad]) == 2
    assert "training.descent.rate: unknown key (expected one of: steps, lr)" in (
        capsys.readouterr().err
    )


def test_an_unregistered_name_lists_the_registered_ones(write, valid, capsys) -> None:
    assert main(["check", str(write(valid)), "--set", "training.schedule=descent"]) == 2
    assert "training.schedule[0]: expected one of: adam, lbfgs, gauss_newton" in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize("name", sorted(OPTIMISERS))
def test_every_registered_optimiser_trains_alone_and_resumes_its_state(name, write, valid):
    # common to every entry: a Config with steps, a summary line, a resource check, steps that
    # lower the loss of a small problem, and a state that survives a checkpoint round trip
    optimiser = OPTIMISERS[name]
    config = optimiser.Config()
    assert config.steps > 0 and optimiser.describe(name, config).startswith(name)
    small = Resources(rows=100, parameters=300, limits=Limits())
    assert optimiser.check_resources(config, small) is None
    problem = load_problem(write(valid), [f"training.schedule={name}", f"training.{name}.steps=5"])
    result = train(problem, progress=False)
    losses = [float(r["loss"]) for r in result.history]
    assert result.status == "completed" and result.phase_steps == {name: 5}
    assert losses[-1] < losses[0]


def test_gauss_newton_refuses_a_jacobian_over_its_memory_bound() -> None:
    gauss_newton = OPTIMISERS["gauss_newton"]
    need = Resources(rows=10_000, parameters=10_000, limits=Limits(max_gauss_newton_bytes=10**6))
    reason = gauss_newton.check_resources(gauss_newton.Config(), need)
    assert reason is not None and "over the limit of 1,000,000 (max_gauss_newton_bytes)" in reason
