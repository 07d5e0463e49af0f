"""The weighted residual vector, its Jacobian, the Gauss–Newton step, and the phase in training."""

from __future__ import annotations

import itertools
import signal

import pytest
import torch
from torch.nn.utils.stateless import _reparametrize_module

from pinn_gelu import load_problem, train
from pinn_gelu.checkpoints import read_checkpoint
from pinn_gelu.cli import main
from pinn_gelu.optimisers.gauss_newton import _solve_spd, gauss_newton_direction
from pinn_gelu.problem import Term
from pinn_gelu.training import Trainer

from .conftest import PROBLEMS

SMALL = [
    "network.width=8",
    "network.depth=2",
    "training.points.interior=24",
    "training.points.boundary=12",
    "training.dtype=float64",
]


def dense_jacobian(trainer: Trainer) -> torch.Tensor:
    """∂r/∂θ by torch.autograd.functional.jacobian: slow, obviously correct."""
    network = trainer.model
    names = [n for n, _ in network.named_parameters()]

    def residuals(*params: torch.Tensor) -> torch.Tensor:
        with _reparametrize_module(network, dict(zip(names, params, strict=True))):
            return trainer.objective.residuals()

    blocks = torch.autograd.functional.jacobian(
        residuals, tuple(p.detach() for p in network.parameters())
    )
    return torch.cat([b.reshape(b.shape[0], -1) for b in blocks], 1)


@pytest.mark.parametrize(
    ("name", "weights"),
    [
        ("poisson_2d", []),
        ("poisson_mixed", []),
        ("elasticity_plate", []),
        ("elasticity_plate_mixed", []),
        # weights per point, on a term with one row per point and on one with two per point
        ("poisson_2d", ["training.weights.pde=0.5 + x*y", "training.weights.dirichlet=1 + x"]),
        ("elasticity_plate", ["training.weights.traction=2 + y"]),
    ],
)
def test_jacobian_equals_the_dense_jacobian_of_the_residual_vector(name, weights):
    trainer = Trainer(load_problem(PROBLEMS / f"{name}.yaml", [*SMALL, *weights]), progress=False)
    r, jac = trainer.objective.jacobian(chunk=7)  # a chunk that splits the terms unevenly
    total, _ = trainer.loss()
    # L = ‖r‖² by construction; float64 sums of ~100 terms: 1e-12 relative
    assert float(r.square().sum()) == pytest.approx(total.item(), rel=1e-12)
    reference = dense_jacobian(trainer)
    assert jac.shape == reference.shape
    # float64, the same operations in another order: rounding only (measured ≤ 7e-16)
    assert float((jac - reference).abs().max()) <= 1e-12 * float(reference.abs().max())


def test_jacobian_of_a_nonlinear_residual():
    trainer = Trainer(load_problem(PROBLEMS / "poisson_2d.yaml", SMALL), progress=False)
    pde = trainer.terms[0]
    # u·Δu + exp(−u): nonlinear in the fields, still pointwise
    trainer.objective.terms[0] = Term(
        "pde",
        "interior",
        "laplacian",
        lambda f: f.value[:, 0] * f.require_laplacian()[:, 0] + torch.exp(-f.value[:, 0]),
    )
    assert pde is not trainer.terms[0]
    _, jac = trainer.objective.jacobian()
    reference = dense_jacobian(trainer)
    assert float((jac - reference).abs().max()) <= 1e-12 * float(reference.abs().max())


def test_step_equals_a_dense_solve_and_both_spaces_agree():
    generator = torch.Generator().manual_seed(0)
    for n, p in [(30, 12), (12, 30)]:
        jac = torch.randn(n, p, generator=generator, dtype=torch.float64)
        r = torch.randn(n, generator=generator, dtype=torch.float64)
        damping = 1e-3
        lam = damping * float(jac.square().sum()) / p
        dense = -torch.linalg.solve(
            jac.T @ jac + lam * torch.eye(p, dtype=torch.float64), jac.T @ r
        )
        parameter = gauss_newton_direction(r, jac, damping, "parameter")
        sample = gauss_newton_direction(r, jac, damping, "sample")
        scale = float(dense.abs().max())
        # well-conditioned 30×12 systems in float64: rounding ~1e-14; the issue asks 1e-10
        assert float((parameter - dense).abs().max()) <= 1e-10 * scale
        assert float((sample - dense).abs().max()) <= 1e-10 * scale


def test_singular_system_falls_back_to_the_pseudo_inverse():
    gram = torch.tensor([[1.0, 1.0], [1.0, 1.0]], dtype=torch.float64)  # PSD, rank one
    rhs = torch.tensor([1.0, 3.0], dtype=torch.float64)
    assert int(torch.linalg.cholesky_ex(gram).info) != 0  # so the eigenvalue path runs
    solution = _solve_spd(gram, rhs, 0.0)
    # the minimum-norm least-squares solution: pinv(G) rhs = (rhs·1/4)(1, 1) = (1, 1)
    expected = torch.linalg.pinv(gram) @ rhs
    assert torch.allclose(solution, expected, rtol=1e-12, atol=1e-14)


def test_rank_deficient_jacobian_gives_a_finite_least_squares_step():
    jac = torch.zeros(10, 4, dtype=torch.float64)
    jac[:, 0] = 1.0  # rank one: JᵀJ is singular, only the damping keeps the system definite
    r = torch.ones(10, dtype=torch.float64)
    for space in ("parameter", "sample"):
        step = gauss_newton_direction(r, jac, 1e-300, space)
        assert torch.isfinite(step).all()
        # the least-squares step along the only determined direction: δ₀ = −1 (r = −J δ)
        assert float(step[0]) == pytest.approx(-1.0, rel=1e-9)
        assert float(step[1:].abs().max()) == 0.0


@pytest.mark.parametrize(
    ("name", "factor"),
    # measured last/first loss over the five steps after 30 Adam steps, these tiny settings:
    # poisson_2d ~0.1; the elasticity plates, far from a solution a 114-parameter network can
    # reach, decrease slowly (elasticity_plate 1020 → 1012)
    [("poisson_2d", 0.3), ("elasticity_plate", 1.0), ("elasticity_plate_mixed", 1.0)],
)
def test_gauss_newton_phase_decreases_the_loss(name, factor):
    extra = ["training.schedule=adam,gauss_newton", "training.adam.steps=30"]
    problem = load_problem(
        PROBLEMS / f"{name}.yaml", [*SMALL, *extra, "training.gauss_newton.steps=5"]
    )
    result = train(problem, progress=False)
    assert result.status == "completed"
    steps = [r for r in result.history if r["phase"] == "gauss_newton"]
    assert len(steps) == 5
    before = [r for r in result.history if r["phase"] == "adam"][-1]["loss"]
    assert steps[-1]["loss"] < factor * before
    # every step lowers the loss (the line search accepts only a decrease)
    assert steps[0]["loss"] < before
    assert all(b["loss"] < a["loss"] for a, b in itertools.pairwise(steps))
    assert {"damping", "step_length", "grad_max"} <= set(steps[0])


def test_resume_across_adam_to_gauss_newton_is_exact(write, valid, tmp_path):
    extra = [
        "training.schedule=adam,gauss_newton",
        "training.adam.steps=20",
        "training.gauss_newton.steps=8",
        "training.checkpoint_every=5",
    ]
    problem = load_problem(write(valid), extra)
    reference = Trainer(problem, progress=False).run()
    assert reference.phase_steps == {"adam": 20, "gauss_newton": 8}
    for stop in (20, 24):
        checkpoint = tmp_path / f"checkpoint{stop}.pt"
        first = Trainer(problem, progress=False, checkpoint=checkpoint)
        original = first._after_step

        def after(phase_step, first=first, original=original, stop=stop):
            if first.step == stop:
                first.request_stop(signal.SIGINT)
            original(phase_step)

        first._after_step = after  # type: ignore[method-assign]
        assert first.run().status == "interrupted"
        assert read_checkpoint(checkpoint)["step"] == stop
        resumed = Trainer.resume(problem, checkpoint, progress=False).run()
        assert resumed.phase_steps == {"adam": 20, "gauss_newton": 8}
        for a, b in zip(resumed.model.parameters(), reference.model.parameters(), strict=True):
            assert torch.equal(a, b)
        assert [r["loss"] for r in resumed.history] == [r["loss"] for r in reference.history]


def test_schedule_orders_the_phases_and_zero_steps_skip(write, valid):
    valid["training"]["schedule"] = ["gauss_newton", "adam"]
    valid["training"]["gauss_newton"] = {"steps": 3}
    result = train(load_problem(write(valid), ["training.lbfgs.steps=0"]), progress=False)
    assert [r["phase"] for r in result.history] == ["gauss_newton"] * 3 + ["adam"] * 20
    assert list(result.stop_reasons) == ["gauss_newton", "adam"]
    valid["training"]["gauss_newton"] = {"steps": 0}
    result = train(load_problem(write(valid)), progress=False)
    assert result.stop_reasons["gauss_newton"] == "skipped"
    assert result.phase_steps == {"adam": 20}


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("training.gauss_newton.steps=-1", "training.gauss_newton.steps: expected"),
        (
            "training.gauss_newton.stepz=3",
            "training.gauss_newton.stepz: unknown key (expected one of: steps, damping",
        ),
        ("training.schedule=adam,adam", "training.schedule[1]: 'adam' is listed twice"),
        ("training.schedule=adam,newton", "training.schedule[1]: expected one of: adam, lbfgs"),
        ("training.gauss_newton.solve=qr", "training.gauss_newton.solve: expected one of"),
        ("training.gauss_newton.damping=0", "training.gauss_newton.damping: expected"),
    ],
)
def test_bad_gauss_newton_settings_exit_2(write, valid, capsys, setting, message):
    assert main(["check", str(write(valid)), "--set", setting]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_gauss_newton_memory_is_bounded_before_training(write, valid, tmp_path, capsys):
    out = tmp_path / "run"
    args = ["solve", str(write(valid)), "--out", str(out), "--quiet"]
    extra = [
        "--set",
        "training.schedule=adam,gauss_newton",
        "--limit",
        "max_gauss_newton_bytes=1000",
    ]
    assert main([*args, *extra]) == 2
    err = capsys.readouterr().err
    assert "training.gauss_newton: the Jacobian (" in err
    assert "over the limit of 1,000 (max_gauss_newton_bytes)" in err
    assert "max_gauss_newton_bytes" in err
    assert not (out / "metrics.json").exists()


def test_the_python_api_refuses_to_resume_a_different_problem(write, valid, tmp_path):
    extra = ["training.adam.steps=10", "training.lbfgs.steps=0", "training.checkpoint_every=5"]
    problem = load_problem(write(valid), extra)
    checkpoint = tmp_path / "checkpoint.pt"
    Trainer(problem, progress=False, checkpoint=checkpoint).run()
    longer = load_problem(write(valid), [*extra, "training.adam.steps=20"])
    Trainer.resume(longer, checkpoint, progress=False)  # a budget: allowed
    other = load_problem(write(valid), [*extra, "pde.source=1"])
    with pytest.raises(ValueError, match=r"differs from the checkpoint's at pde\.source"):
        Trainer.resume(other, checkpoint, progress=False)


def test_check_summarises_the_schedule_in_order(write, valid, capsys):
    valid["training"]["schedule"] = ["gauss_newton", "adam", "lbfgs"]
    valid["training"]["lbfgs"] = {"steps": 0}
    assert main(["check", str(write(valid))]) == 0
    out = capsys.readouterr().out
    assert "training    gauss_newton 200 steps, adam 20 steps (lr 0.002), lbfgs skipped;" in out
