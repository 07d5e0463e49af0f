"""Data-parallel training (gloo on CPU): the 2-process run is the 1-process run, split.

Every spawned process runs one torch thread (two processes with two threads each on a 2-core
machine oversubscribe badly). Ranks meet through a ``file://`` rendezvous in the library tests
and through torchrun's ``--standalone`` rendezvous in the command-line tests.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from pinn_gelu import load_problem, load_run
from pinn_gelu.checkpoints import read_checkpoint
from pinn_gelu.collocation import sample_collocation, shard_collocation
from pinn_gelu.distributed import Group
from pinn_gelu.loss import Loss, canonical_order
from pinn_gelu.training import Trainer

from .conftest import PROBLEMS, ROOT

POISSON = str(PROBLEMS / "poisson_2d.yaml")
#: poisson_2d, small: 151 parameters, 280 residual rows; Adam, then L-BFGS, then Gauss–Newton.
SMALL = [
    "network.width=10",
    "network.depth=2",
    "training.points.interior=200",
    "training.points.boundary=80",
    "training.schedule=adam,lbfgs,gauss_newton",
    "training.adam.steps=200",
    "training.lbfgs.steps=30",
    "training.gauss_newton.steps=5",
    # with the default damping (1e-8) a Gauss–Newton step amplifies rounding by ~1e8: a
    # 1-process run with 2 threads instead of 1 then differs by ~1e-8 (measured), and so does
    # any data-parallel run. At 1e-3 the comparison below measures the split itself.
    "training.gauss_newton.damping=1e-3",
    "validation.every=0",
]


def flat(network: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in network.parameters()])


def relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def _rank(
    rank: int,
    path: str,
    size: int,
    rendezvous: str,
    overrides: list[str],
    out: str,
    checkpoint: str | None,
    resume: bool,
    stop_rank0_at: int,
) -> None:
    """One rank of a library-level run: trains, saves its parameters and what it saw."""
    torch.set_num_threads(1)
    os.environ.update(WORLD_SIZE=str(size), RANK=str(rank), LOCAL_RANK=str(rank))
    from pinn_gelu.distributed import from_environment

    group = from_environment("cpu", init_method=f"file://{rendezvous}")
    problem = load_problem(path, overrides)
    if resume:
        trainer = Trainer.resume(problem, checkpoint, progress=False, group=group)
    else:
        trainer = Trainer(problem, progress=False, checkpoint=checkpoint, group=group)
    if stop_rank0_at and rank == 0:  # a signal that reaches one rank only
        after = trainer._after_step

        def signalled(phase_step: int) -> None:
            if trainer.step == stop_rank0_at:
                trainer.request_stop(15)
            after(phase_step)

        trainer._after_step = signalled  # type: ignore[method-assign]
    result = trainer.run()
    adaptive = trainer.adaptive
    saved = {"params": flat(result.model), "status": result.status, "step": trainer.step}
    if adaptive is not None:  # the whole interior set, and this rank's share of it
        saved |= {"whole": adaptive.whole.interior, "shard": trainer.points.interior}
    torch.save(saved, Path(out) / f"rank{rank}.pt")
    group.close()


def run_ranks(
    tmp_path: Path,
    name: str,
    overrides: list[str],
    size: int = 2,
    checkpoint: Path | None = None,
    resume: bool = False,
    stop_rank0_at: int = 0,
    path: str = POISSON,
) -> list[dict]:
    """Run ``size`` ranks to the end; each rank's saved parameters and status."""
    out = tmp_path / name
    out.mkdir()
    args = (
        path,
        size,
        str(out / "rendezvous"),
        overrides,
        str(out),
        checkpoint and str(checkpoint),
    )
    mp.start_processes(
        _rank, args=(*args, resume, stop_rank0_at), nprocs=size, start_method="spawn"
    )
    return [torch.load(out / f"rank{r}.pt", weights_only=True) for r in range(size)]


def one_process(overrides: list[str], path: str = POISSON) -> torch.Tensor:
    torch.set_num_threads(1)
    return flat(Trainer(load_problem(path, overrides), progress=False).run().model)


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_shards_partition_every_point_set_and_side() -> None:
    problem = load_problem(POISSON, SMALL)
    whole = sample_collocation(problem.domain, problem.training.points, 0)
    for size in (1, 2, 3, 7):
        shards = [shard_collocation(whole, Group(rank, size)) for rank in range(size)]
        interior = torch.cat([s.interior for s in shards])
        assert torch.equal(interior, whole.interior)
        for side, (start, stop) in whole.sides.items():
            pieces = [s.boundary[slice(*s.sides[side])] for s in shards]
            normals = [s.normals[slice(*s.sides[side])] for s in shards]
            assert torch.equal(torch.cat(pieces), whole.boundary[start:stop])
            assert torch.equal(torch.cat(normals), whole.normals[start:stop])
            assert max(len(p) for p in pieces) - min(len(p) for p in pieces) <= 1


@pytest.mark.parametrize(
    ("name", "weights"),
    [
        ("poisson_1d", []),
        ("elasticity_plate_mixed", []),
        ("beam", []),
        ("wave_1d", []),
        ("poisson_1d", ["training.weights.pde=1 + x", "training.weights.dirichlet=x + 1"]),
    ],
)
def test_every_shard_has_every_term_even_without_points_of_it(name: str, weights) -> None:
    """A side with fewer points than ranks leaves some shards without them: empty terms."""
    problem = load_problem(
        PROBLEMS / f"{name}.yaml",
        ["training.points.boundary=4", "training.points.interior=50", *weights],
    )
    trainer = Trainer(problem, progress=False)
    for size in (2, 3, 5):
        rows, keys = [], []
        for rank in range(size):
            shard = shard_collocation(trainer.points, Group(rank, size))
            terms = problem.terms(shard)
            assert [t.name for t in terms] == trainer.objective.names
            loss = Loss(trainer.model, terms, shard, trainer.engine, trainer.objective.weights)
            r, jac = loss.jacobian()
            assert r.shape[0] == jac.shape[0] == loss.row_keys().shape[0]
            # this loss is alone (no group): its rows carry √(w/n) of the shard's counts n
            term = loss.row_keys()[:, 0]
            local = torch.tensor([max(c, 1) for c in loss.counts], dtype=r.dtype)
            whole_counts = torch.tensor(trainer.objective.counts, dtype=r.dtype)
            rows.append(r * (local / whole_counts)[term].sqrt())
            keys.append(loss.row_keys())
        # the shards' rows, put in canonical order, are the whole problem's rows
        whole = trainer.objective.residuals()
        order = canonical_order(torch.cat(keys))
        assert torch.allclose(
            torch.cat(rows)[order],
            whole[canonical_order(trainer.objective.row_keys())],
            rtol=1e-12,
            atol=1e-14,
        )


def test_two_ranks_on_a_1d_problem_whose_sides_have_one_point(tmp_path: Path) -> None:
    path = str(PROBLEMS / "poisson_1d.yaml")
    overrides = ["training.adam.steps=100", "training.lbfgs.steps=20", "validation.every=0"]
    ranks = run_ranks(tmp_path, "two", overrides, path=path)
    assert torch.equal(ranks[0]["params"], ranks[1]["params"])
    assert relative(ranks[0]["params"], one_process(overrides, path)) <= 1e-10


@pytest.mark.parametrize("solve", ["parameter", "sample"])
def test_two_ranks_train_the_one_process_network(tmp_path: Path, solve: str) -> None:
    overrides = [*SMALL, f"training.gauss_newton.solve={solve}"]
    ranks = run_ranks(tmp_path, "two", overrides)
    assert [r["status"] for r in ranks] == ["completed", "completed"]
    assert torch.equal(ranks[0]["params"], ranks[1]["params"])  # identical on both ranks
    single = one_process(overrides)
    assert relative(ranks[0]["params"], single) <= 1e-10
    # and training moved them: the comparison is not of two initial networks
    initial = flat(Trainer(load_problem(POISSON, overrides), progress=False).model)
    assert relative(single, initial) > 1e-2


def test_two_ranks_each_in_chunks_train_the_one_process_network(tmp_path: Path) -> None:
    # every rank evaluates its shard in chunks of 64 points (the fewest): the gradient sums
    # over chunks, then over ranks; Gauss–Newton gathers the rows in the canonical order
    overrides = [*SMALL, "training.gauss_newton.solve=sample"]
    ranks = run_ranks(tmp_path, "two", [*overrides, "training.step_memory=1"])
    assert [r["status"] for r in ranks] == ["completed", "completed"]
    assert torch.equal(ranks[0]["params"], ranks[1]["params"])
    assert relative(ranks[0]["params"], one_process(overrides)) <= 1e-10


def test_adaptive_points_are_chosen_alike_and_sharded(tmp_path: Path) -> None:
    overrides = [
        *SMALL,
        "training.adam.steps=60",
        "training.lbfgs.steps=0",
        "training.adaptive.every=20",
        "training.adaptive.candidates=500",
        "training.adaptive.add=30",
    ]
    ranks = run_ranks(tmp_path, "two", overrides)
    assert torch.equal(ranks[0]["whole"], ranks[1]["whole"])
    assert ranks[0]["whole"].shape[0] == 200 + 3 * 30  # 65 steps: refinements at 20, 40, 60
    assert torch.equal(torch.cat([ranks[0]["shard"], ranks[1]["shard"]]), ranks[0]["whole"])
    torch.set_num_threads(1)
    trainer = Trainer(load_problem(POISSON, overrides), progress=False)
    trainer.run()
    assert trainer.adaptive is not None
    assert torch.equal(trainer.adaptive.whole.interior, ranks[0]["whole"])
    assert relative(ranks[0]["params"], flat(trainer.model)) <= 1e-10


def test_a_stop_on_one_rank_stops_both_and_resumes_with_any_world_size(tmp_path: Path) -> None:
    whole = run_ranks(tmp_path, "whole", SMALL)[0]["params"]
    checkpoint = tmp_path / "checkpoint.pt"
    stopped = run_ranks(tmp_path, "stopped", SMALL, checkpoint=checkpoint, stop_rank0_at=120)
    assert [(r["status"], r["step"]) for r in stopped] == [("interrupted", 120)] * 2
    assert read_checkpoint(checkpoint)["step"] == 120
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".pt") == ["checkpoint.pt"]
    resumed = run_ranks(tmp_path, "resumed", SMALL, checkpoint=checkpoint, resume=True)
    assert torch.equal(resumed[0]["params"], whole) and torch.equal(resumed[1]["params"], whole)
    # the same checkpoint resumed by one process
    problem = load_problem(POISSON, SMALL)
    alone = Trainer.resume(problem, checkpoint, progress=False).run()
    assert relative(flat(alone.model), whole) <= 1e-10


def _cli(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def test_nproc_runs_torchrun_and_writes_the_run_once(tmp_path: Path) -> None:
    sets = [item for o in SMALL for item in ("--set", o)]
    done = _cli(
        "-m", "pinn_gelu", "solve", POISSON, "--out", "run", "--nproc", "2", "--threads", "1",
        "--quiet", "--no-plots", *sets, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "processes   2 (data-parallel, rank 0 writes)" in done.stdout
    assert done.stdout.count("status      completed") == 1  # one rank speaks
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # nothing beside the run
    params = flat(load_run(tmp_path / "run").model)
    assert relative(params, one_process(SMALL)) <= 1e-10


def test_nproc_refuses_a_bad_file_before_starting_anything(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(Path(POISSON).read_text().replace("kind: poisson", "kind: poison"))
    done = _cli("-m", "pinn_gelu", "solve", str(bad), "--nproc", "2", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "pde.kind" in done.stderr
    assert "launching" not in done.stdout and not (tmp_path / "runs").exists()


CRASH = """
import os, sys
from pinn_gelu import loss
if os.environ["RANK"] == "1":
    original, calls = loss.Loss.value_and_gradient, [0]
    def broken(self, params):
        calls[0] += 1
        if calls[0] == 20:
            raise RuntimeError("injected failure on rank 1")
        return original(self, params)
    loss.Loss.value_and_gradient = broken
from pinn_gelu.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_failing_rank_ends_the_job_with_its_message_and_no_hang(tmp_path: Path) -> None:
    script = tmp_path / "crash.py"
    script.write_text(CRASH)
    sets = [item for o in SMALL for item in ("--set", o)]
    started = time.monotonic()
    done = _cli(
        "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", str(script),
        "solve", POISSON, "--out", "run", "--quiet", "--no-plots", *sets, cwd=tmp_path,
        timeout=240,
    )  # fmt: skip
    assert done.returncode == 1
    assert "injected failure on rank 1" in done.stderr
    assert time.monotonic() - started < 120


def test_ctrl_c_to_nproc_stops_every_rank_with_one_checkpoint_and_resumes(tmp_path: Path) -> None:
    sets = [item for o in SMALL for item in ("--set", o)]
    long = [*sets, "--set", "training.adam.steps=100000", "--set", "training.checkpoint_every=100"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "pinn_gelu", "solve", POISSON, "--out", "run", "--quiet"]
    with subprocess.Popen(
        [*command, "--no-plots", "--nproc", "2", "--threads", "1", *long],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        checkpoint = tmp_path / "run" / "checkpoint.pt"
        deadline = time.monotonic() + 120
        while not checkpoint.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert checkpoint.exists(), "training did not start"
        process.send_signal(2)
        out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err[-2000:]
    assert out.count("status      interrupted: interrupted by SIGINT after step") == 1
    assert err.count("stopping after this step") == 1  # rank 0 speaks
    step = read_checkpoint(checkpoint)["step"]
    assert step > 0 and f"after step {step} (adam)" in out
    # resumed on 2 processes with a budget that has been reached: the other phases run
    resumed = _cli(
        *command[1:], "--resume", "run", "--no-plots", "--nproc", "2", "--threads", "1", *sets,
        cwd=tmp_path,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"resuming    step {step} (adam)" in resumed.stdout
    assert "status      completed" in resumed.stdout


@pytest.mark.parametrize(
    ("nproc", "world", "message"),
    [
        ("0", "1", "--nproc 0: expected a number of processes in [1, "),
        ("100000", "1", "--nproc 100000: expected a number of processes in [1, "),
        ("2", "2", "--nproc inside a torchrun job"),
    ],
)
def test_nproc_out_of_bounds_is_refused_in_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
    nproc,
    world,
    message,
) -> None:
    from pinn_gelu.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WORLD_SIZE", world)
    assert main(["solve", POISSON, "--nproc", nproc]) == 2
    err = capsys.readouterr().err
    assert message in err and err.strip().count("\n") == 0
    assert list(tmp_path.iterdir()) == []


def test_nproc_onto_a_locked_out_is_refused_by_the_launcher(tmp_path: Path) -> None:
    from pinn_gelu.runs.rundir import RunLock

    out = tmp_path / "run"
    with RunLock(out):  # another solve holds it
        done = _cli(
            "-m", "pinn_gelu", "solve", POISSON, "--out", str(out), "--nproc", "2", cwd=tmp_path
        )
    assert done.returncode == 2, done.stderr
    assert "in use by another pinn-gelu process" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert "launching" not in done.stdout
