"""Adaptive collocation (RAR-D, RAD): the density, the refinements, their state and bounds."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pinn_gelu import load_problem
from pinn_gelu.checkpoints import read_checkpoint, write_checkpoint
from pinn_gelu.cli import main
from pinn_gelu.derivatives import autograd_fields
from pinn_gelu.training import Trainer, build_model
from pinn_gelu.training.adaptive import choose, most_interior, residual_magnitude

from .conftest import PROBLEMS, interrupted_and_resumed

POISSON = str(PROBLEMS / "poisson_2d.yaml")
SMALL = [
    "network.width=8",
    "network.depth=2",
    "training.points.interior=60",
    "training.points.boundary=40",
    "training.schedule=adam,gauss_newton",
    "training.adam.steps=20",
    "training.gauss_newton.steps=6",
    "training.checkpoint_every=4",
    "training.adaptive.every=5",
    "training.adaptive.candidates=300",
    "training.adaptive.add=10",
    "validation.every=0",
]


def small(*more: str):
    return load_problem(POISSON, [*SMALL, *more])


def test_choose_follows_the_density_and_is_reproducible() -> None:
    scores = np.array([0.0] * 50 + [1.0] * 40 + [3.0] * 10)
    # c = 0: only points with a residual are drawn
    chosen = choose(scores, 30, 2.0, 0.0, np.random.default_rng(1))
    assert len(set(chosen.tolist())) == 30 and min(chosen) >= 50
    again = choose(scores, 30, 2.0, 0.0, np.random.default_rng(1))
    assert np.array_equal(chosen, again)
    # p ∝ ε^k/E[ε^k] + c: the frequencies of single draws, over many seeds
    counts = np.zeros(100)
    for seed in range(4000):
        counts[choose(scores, 1, 1.0, 1.0, np.random.default_rng(seed))] += 1
    p = scores / scores.mean() + 1.0
    p /= p.sum()
    for group in (slice(0, 50), slice(50, 90), slice(90, 100)):
        expected = p[group].sum()
        assert counts[group].sum() / 4000 == pytest.approx(expected, abs=0.03)
    # more points asked than have a residual (c = 0): the rest are drawn, not an error
    assert len(set(choose(scores, 60, 2.0, 0.0, np.random.default_rng(0)).tolist())) == 60
    # all zero: uniform
    assert len(choose(np.zeros(20), 5, 2.0, 0.0, np.random.default_rng(0))) == 5


def test_the_residual_magnitude_is_the_weighted_pde_residual() -> None:
    problem = small()
    model = build_model(problem)
    x = torch.rand(25, 2, dtype=torch.float64)
    got = residual_magnitude(problem, model, autograd_fields, x)
    xg = x.clone().requires_grad_(True)
    u = model(xg)[:, 0]
    (g,) = torch.autograd.grad(u.sum(), xg, create_graph=True)
    lap = sum(torch.autograd.grad(g[:, i].sum(), xg, retain_graph=True)[0][:, i] for i in range(2))
    f = 2 * torch.pi**2 * torch.sin(torch.pi * x[:, 0]) * torch.sin(torch.pi * x[:, 1])
    weight = problem.weight("pde")
    expected = (weight * (-lap - f) ** 2).sqrt().detach()
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)


def test_rar_d_adds_points_where_the_residual_is_large_and_records_it() -> None:
    trainer = Trainer(small(), progress=False)
    result = trainer.run()
    assert result.status == "completed"
    assert trainer.adaptive is not None and trainer.adaptive.refinements == 5  # 26 steps, every 5
    interior = trainer.adaptive.whole.interior
    assert interior.shape == (60 + 5 * 10, 2)
    assert torch.equal(interior[:60], trainer.adaptive.points.interior[:60])
    assert trainer.objective.points.interior.shape[0] == 110  # the loss trains on them
    recorded = [r for r in result.history if "adaptive_points" in r]
    assert [r["step"] for r in recorded] == [5, 10, 15, 20, 25]
    assert [r["adaptive_points"] for r in recorded] == [70, 80, 90, 100, 110]
    assert all(r["adaptive_residual_max"] >= r["adaptive_residual_mean"] > 0 for r in recorded)
    # the added points lie where the residual is larger than at typical candidates
    model, engine = trainer.model, trainer.engine
    added = residual_magnitude(trainer.problem, model, engine, interior[60:]).mean()
    uniform = residual_magnitude(trainer.problem, model, engine, interior[:60]).mean()
    assert float(added) > float(uniform)
    # reproducible from the seed
    again = Trainer(small(), progress=False)
    again.run()
    assert torch.equal(again.adaptive.whole.interior, interior)


def test_rad_redraws_the_interior_and_keeps_its_size() -> None:
    trainer = Trainer(small("training.adaptive.method=rad"), progress=False)
    before = trainer.adaptive.whole.interior.clone()
    trainer.run()
    after = trainer.adaptive.whole.interior
    assert after.shape == before.shape
    assert not torch.equal(after, before)


def test_resume_with_adaptive_points_is_bit_for_bit(tmp_path) -> None:
    problem = small()
    # stopped at step 12: after two refinements, before three more (in Adam and Gauss–Newton)
    reference, resumed = interrupted_and_resumed(problem, tmp_path / "checkpoint.pt", 12)
    for a, b in zip(resumed.model.parameters(), reference.model.parameters(), strict=True):
        assert torch.equal(a, b)
    assert [r["loss"] for r in resumed.history] == [r["loss"] for r in reference.history]
    keys = [r.get("adaptive_points") for r in reference.history]
    assert [r.get("adaptive_points") for r in resumed.history] == keys
    # the resumption is an event, not a rollback
    assert resumed.events[-1].startswith("resumed at step 12") and "rollback" not in resumed.message


def test_loading_an_earlier_state_returns_to_its_points() -> None:
    trainer = Trainer(small(), progress=False)
    initial = trainer.state()  # what a snapshot before the first refinement holds
    before = trainer.adaptive.whole.interior.clone()
    trainer.run()
    assert trainer.adaptive.whole.interior.shape[0] == 110
    trainer.load_state(initial)
    assert torch.equal(trainer.adaptive.whole.interior, before)
    assert trainer.adaptive.refinements == 0
    assert trainer.objective.points.interior.shape[0] == 60


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda a: a.update(interior=a["interior"] * float("nan")), "adaptive.interior: expected"),
        (lambda a: a.update(interior=a["interior"][:, :1]), "adaptive.interior: expected a"),
        (lambda a: a.update(interior=a["interior"] * 1e300), "inside the domain's bounding box"),
        (lambda a: a.update(refinements=10**6), "adaptive.refinements: expected"),
        (lambda a: a.pop("interior"), "adaptive: expected"),
    ],
)
def test_a_tampered_adaptive_state_is_refused(tmp_path, change, words) -> None:
    problem = small("training.adam.steps=12", "training.gauss_newton.steps=0")
    checkpoint = tmp_path / "checkpoint.pt"
    Trainer(problem, progress=False, checkpoint=checkpoint).run()
    content = read_checkpoint(checkpoint)
    change(content["adaptive"])
    write_checkpoint(checkpoint, content)
    with pytest.raises(ValueError, match=words):
        Trainer.resume(problem, checkpoint, progress=False)


def test_the_most_interior_points_count_the_refinements() -> None:
    problem = small()
    assert most_interior(problem.training) == 60 + (26 // 5) * 10
    assert most_interior(small("training.adaptive.method=rad").training) == 60
    assert most_interior(small("training.adaptive.every=0").training) == 60


@pytest.mark.parametrize(
    ("override", "key", "words"),
    [
        ("training.adaptive.every=-1", "training.adaptive.every", "[0, 10000000]"),
        ("training.adaptive.method=greedy", "training.adaptive.method", "rar_d"),
        ("training.adaptive.candidates=0", "training.adaptive.candidates", "[1, 1000000]"),
        ("training.adaptive.k=11", "training.adaptive.k", "10"),
        ("training.adaptive.c=-1", "training.adaptive.c", "[0, 1e+06]"),
        ("training.adaptive.add=600000", "training.adaptive.add", "over the limit of 1000000"),
        ("training.adaptive.add=400", "training.adaptive.candidates", "fewer than the 400"),
        ("training.adaptive.method=rad", "training.adaptive.candidates", "rad redraws them all"),
    ],
)
def test_malformed_adaptive_keys_exit_2(capsys, override, key, words) -> None:
    few = "training.adaptive.candidates=50" if "rad" in override else ""
    arguments = [a for o in [*SMALL, override, few] if o for a in ("--set", o)]
    assert main(["check", POISSON, *arguments]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"{key}: " in err and words in err, err


def test_a_run_with_adaptive_points_draws_where_they_went(tmp_path) -> None:
    out = tmp_path / "run"
    arguments = [a for o in SMALL for a in ("--set", o)]
    assert main(["solve", POISSON, *arguments, "--out", str(out), "--quiet"]) == 0
    assert (out / "points.png").stat().st_size > 10_000
    plain = tmp_path / "plain"
    arguments += ["--set", "training.adaptive.every=0"]
    assert main(["solve", POISSON, *arguments, "--out", str(plain), "--quiet"]) == 0
    assert not (plain / "points.png").exists()


def test_check_says_what_the_refinements_do(capsys) -> None:
    arguments = [a for o in SMALL for a in ("--set", o)]
    assert main(["check", POISSON, *arguments]) == 0
    out = capsys.readouterr().out
    assert (
        "adaptive    rar_d every 5 steps: 10 points drawn from 300 candidates by their residual "
        "(k 2, c 0); at most 110 interior points"
    ) in out


def test_candidates_are_scored_in_chunks_with_the_same_choice(monkeypatch) -> None:
    whole = Trainer(small(), progress=False)
    whole.run()
    monkeypatch.setattr("pinn_gelu.training.adaptive.CHUNK", 7)
    chunked = Trainer(small(), progress=False)
    chunked.run()
    assert torch.equal(chunked.adaptive.whole.interior, whole.adaptive.whole.interior)
    recorded = [r["adaptive_residual_mean"] for r in whole.history if "adaptive_points" in r]
    again = [r["adaptive_residual_mean"] for r in chunked.history if "adaptive_points" in r]
    assert again == pytest.approx(recorded, rel=1e-12)
