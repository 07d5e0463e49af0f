"""A tampered checkpoint is refused with one line before training, and nothing is written back.

Issue 25: an unknown or wrong phase, malformed optimiser state, history or counters of the wrong
type, a NaN learning-rate scale, a negative step, a history of one record referenced many times.
Each case edits one field of a real interrupted checkpoint and resumes it with ``solve --resume``.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch

from pinn_gelu import load_problem
from pinn_gelu.checkpoints import read_checkpoint, write_checkpoint
from pinn_gelu.cli import main
from pinn_gelu.training import Trainer

BUDGET = ["training.adam.steps=12", "training.lbfgs.steps=0", "training.gauss_newton.steps=6"]
SCHEDULES = {
    "adam": ["training.schedule=adam,gauss_newton", "training.checkpoint_every=0"],
    "gauss_newton": ["training.schedule=adam,gauss_newton", "training.checkpoint_every=0"],
    "lbfgs": ["training.schedule=adam,lbfgs", "training.lbfgs.steps=8"],
}


def interrupted(problem, directory, stop_at: int) -> None:
    """A run stopped after step ``stop_at``: its checkpoint in ``directory``, no metrics."""
    trainer = Trainer(problem, progress=False, checkpoint=directory / "checkpoint.pt")
    after = trainer._after_step

    def stop(phase_step: int) -> None:
        if trainer.step == stop_at:
            trainer.stop_signal = 2
        after(phase_step)

    trainer._after_step = stop  # type: ignore[method-assign]
    assert trainer.run().status == "interrupted"


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """phase → (problem file, the content of a checkpoint interrupted inside that phase)."""
    import yaml

    from .conftest import VALID

    root = tmp_path_factory.mktemp("checkpoints")
    made = {}
    for phase, settings in SCHEDULES.items():
        path = root / f"{phase}.yaml"
        path.write_text(yaml.safe_dump(VALID))
        overrides = [*BUDGET, *settings]
        problem = load_problem(path, overrides)
        directory = root / phase
        directory.mkdir()
        interrupted(problem, directory, stop_at=8 if phase == "adam" else 15)
        content = read_checkpoint(directory / "checkpoint.pt")
        assert content["phase"] == phase and content["optimizer"] is not None
        made[phase] = (path, overrides, content)
    return made


def resume(checkpoints, phase, tmp_path, tamper):
    path, overrides, content = checkpoints[phase]
    content = copy.deepcopy(content)
    tamper(content)
    run = tmp_path / "run"
    content.pop("format")
    write_checkpoint(run / "checkpoint.pt", content)
    before = (run / "checkpoint.pt").read_bytes()
    sets = [item for o in overrides for item in ("--set", o)]
    code = main(["solve", str(path), "--resume", str(run), "--quiet", "--no-plots", *sets])
    assert (run / "checkpoint.pt").read_bytes() == before  # nothing written back
    assert sorted(p.name for p in run.iterdir()) == ["checkpoint.pt"]
    return code


def test_an_untouched_checkpoint_resumes(checkpoints, tmp_path):
    for phase in SCHEDULES:
        path, overrides, content = checkpoints[phase]
        run = tmp_path / phase
        write_checkpoint(run / "checkpoint.pt", {k: v for k, v in content.items() if k != "format"})
        sets = [item for o in overrides for item in ("--set", o)]
        assert main(["solve", str(path), "--resume", str(run), "--quiet", "--no-plots", *sets]) == 0


def _set(key, value):
    return lambda content: content.__setitem__(key, value)


def _history_of_one_record(content):
    record = content["history"][0]
    content["history"] = [record] * len(content["history"])


def _history_too_long(content):
    content["history"] = content["history"] * 1000


def _nan_weight(content):
    key = next(iter(content["state_dict"]))
    content["state_dict"][key] = content["state_dict"][key].clone().fill_(math.nan)


def _adam_moment(shape):
    def tamper(content):
        content["optimizer"]["torch"]["state"][0]["exp_avg"] = torch.zeros(shape)

    return tamper


def _adam_nan_moment(content):
    state = content["optimizer"]["torch"]["state"][1]
    state["exp_avg_sq"] = state["exp_avg_sq"].clone().fill_(math.nan)


def _optimizer_entry(key, value):
    return lambda content: content["optimizer"].__setitem__(key, value)


def _lbfgs(key, value):
    return lambda content: content["optimizer"]["torch"]["state"][0].__setitem__(key, value)


def _lbfgs_progress(key, value):
    return lambda content: content["optimizer"]["progress"].__setitem__(key, value)


CASES = [
    ("adam", _set("phase", "sgd"), "phase: expected one of ['adam', 'gauss_newton', 'done']"),
    ("adam", _set("phase", 3), "phase: expected one of"),
    ("adam", _set("phase_step", -1), "phase_step: expected a whole number"),
    ("adam", _set("step", -5), "step: expected a whole number"),
    ("adam", _set("step", "8"), "step: expected a whole number in [0, "),
    ("adam", _set("step", 8.0), "step: expected a whole number"),
    ("adam", _set("lr_scale", math.nan), "lr_scale: expected a number in (0, 1], got nan"),
    ("adam", _set("lr_scale", 0.0), "lr_scale: expected a number in (0, 1]"),
    ("adam", _set("elapsed_s", -1.0), "elapsed_s: expected a number"),
    ("adam", _set("rollbacks", True), "rollbacks: expected a whole number"),
    ("adam", _set("history", {"a": 1}), "history: expected a list of at most step = 8"),
    ("adam", _history_of_one_record, "history[1]: the same record as an earlier one"),
    ("adam", _history_too_long, "history: expected a list of at most step = 8 records"),
    ("adam", _set("events", "x"), "events: expected a list"),
    ("adam", _set("phase_steps", {"sgd": 1}), "phase_steps: expected a mapping"),
    ("adam", _set("phase_steps", {"adam": -1}), "phase_steps.adam: expected a whole number"),
    ("adam", _set("stop_reasons", []), "stop_reasons: expected a mapping"),
    ("adam", _set("torch_rng", torch.zeros(3, dtype=torch.uint8)), "torch_rng: expected a"),
    ("adam", _nan_weight, "state_dict.network."),
    ("adam", _set("optimizer", {"damping": 1e-8}), "optimizer: 'torch'"),
    ("adam", _set("optimizer", "x"), "optimizer:"),
    ("adam", _adam_moment((3,)), "optimizer: torch.state.0.exp_avg: a tensor of shape (3,)"),
    ("adam", _adam_nan_moment, "optimizer: torch.state.1.exp_avg_sq: not finite"),
    ("adam", lambda c: c["optimizer"]["torch"]["state"].__setitem__(99, {}), "no parameter 99"),
    ("gauss_newton", _optimizer_entry("damping", math.nan), "optimizer: damping: expected a"),
    ("gauss_newton", _optimizer_entry("damping", -1.0), "optimizer: damping: expected a number"),
    ("gauss_newton", _optimizer_entry("damping", "1e-8"), "got str"),
    ("gauss_newton", _optimizer_entry("growth", 0.5), "optimizer: growth: expected a number"),
    ("lbfgs", _lbfgs("d", torch.zeros(2)), "optimizer: torch.state.0.d: a tensor of shape (2,)"),
    ("lbfgs", _lbfgs("old_dirs", [torch.zeros(1)] * 10_001), "a list of 10001 entries"),
    ("lbfgs", _lbfgs("t", math.inf), "optimizer: torch.state.0.t: not finite"),
    ("lbfgs", _lbfgs("n_iter", "x"), "optimizer: torch.state.0.n_iter: unexpected str"),
    ("lbfgs", _lbfgs_progress("since_best", -1), "progress.since_best"),
    ("lbfgs", _lbfgs_progress("losses", [math.nan]), "progress.losses"),
]


@pytest.mark.parametrize(("phase", "tamper", "message"), CASES)
def test_a_tampered_field_is_refused_before_training(
    checkpoints, tmp_path, capsys, phase, tamper, message
):
    assert resume(checkpoints, phase, tmp_path, tamper) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
