"""The loss, gradient and Jacobian over chunks of the points equal the one-piece ones (issue 26).

A chunk is a contiguous share of every point set with global indices (as a data-parallel
shard), its own terms and the whole counts; a step frees one chunk's graph before the next.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from pinn_gelu import load_problem
from pinn_gelu.cli import main
from pinn_gelu.collocation import chunk_collocation
from pinn_gelu.loss import ChunkedLoss, Loss, canonical_order
from pinn_gelu.training import Trainer
from pinn_gelu.training.setup import (
    CPU_CHUNK_BYTES,
    MAX_CHUNKS,
    MIN_CHUNK_POINTS,
    assemble,
    build_loss,
    check_step_memory,
    chunk_count,
)

from .conftest import PROBLEMS

SMALL = ["training.dtype=float64"]

#: (problem, overrides): plain, a system with traction, observations and unknowns, exact
#: conditions (a trial function), an enrichment, a per-point weight, time.
CASES = [
    ("poisson_2d", ["training.points.interior=150", "training.points.boundary=60"]),
    ("elasticity_plate", ["training.points.interior=120", "training.points.boundary=80"]),
    ("plate_inverse", ["training.points.interior=120", "training.points.boundary=80"]),
    ("coefficient_inverse", ["training.points.interior=120", "training.points.boundary=40"]),
    ("annulus_laplace", ["training.points.interior=120", "training.points.boundary=60"]),
    (
        "lshape_poisson",
        [
            "training.points.interior=150",
            "training.points.boundary=60",
            "reference.finite_element.size=0.2",  # a coarse reference: only the loss is compared
        ],
    ),
    (
        "poisson_2d",
        [
            "training.points.interior=150",
            "training.points.boundary=60",
            "training.weights.pde=(x**2 + y**2)/(x**2 + y**2 + 0.04)",
        ],
    ),
    ("heat_1d", ["training.points.interior=150", "training.points.boundary=60"]),
]


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach(), b.detach()
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-300))


@pytest.mark.parametrize(
    ("name", "overrides"), CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)]
)
@pytest.mark.parametrize("chunks", [2, 5])
def test_chunked_loss_gradient_residuals_and_jacobian_equal_the_one_piece_ones(
    name, overrides, chunks
):
    problem = load_problem(PROBLEMS / f"{name}.yaml", [*SMALL, *overrides])
    parts = assemble(problem)
    whole = parts.objective
    assert isinstance(whole, Loss)  # a small problem is one chunk by default
    chunked = build_loss(problem, parts.model, parts.points, parts.engine, chunks=chunks)
    assert isinstance(chunked, ChunkedLoss) and chunked.chunks == chunks
    assert chunked.counts == whole.counts and chunked.names == whole.names
    params = [p for p in parts.model.parameters() if p.requires_grad]
    with torch.no_grad():  # move off the initial state, so that every term is nonzero
        for p in params:
            p.add_(0.01 * torch.randn_like(p, generator=torch.Generator().manual_seed(1)))
    total, terms = whole.value_and_gradient(params)
    gradient = torch.cat([p.grad.reshape(-1) for p in params])
    total_c, terms_c = chunked.value_and_gradient(params)
    gradient_c = torch.cat([p.grad.reshape(-1) for p in params])
    assert _relative(total_c, total) <= 1e-13
    assert _relative(terms_c, terms) <= 1e-13
    assert _relative(gradient_c, gradient) <= 1e-13
    value, value_terms = chunked.value()
    assert _relative(value, total) <= 1e-13 and _relative(value_terms, terms) <= 1e-13
    # the chunks' rows come in the canonical order of their keys: the one piece's, sorted
    order = canonical_order(whole.row_keys())
    r, jac = whole.jacobian()
    r_c, jac_c = chunked.jacobian()
    assert r_c.shape == r.shape and jac_c.shape == jac.shape
    assert _relative(r_c, r[order]) <= 1e-13 and _relative(jac_c, jac[order]) <= 1e-13
    assert _relative(chunked.residuals(), whole.residuals()[order]) <= 1e-13
    assert torch.equal(chunked.row_keys(), whole.row_keys()[order])


def test_chunks_partition_every_point_set_with_global_indices():
    problem = load_problem(
        PROBLEMS / "plate_inverse.yaml",
        [*SMALL, "training.points.interior=101", "training.points.boundary=43"],
    )
    points = problem.collocation(torch.float64)
    chunks = chunk_collocation(points, 4)
    assert chunk_collocation(points, 1) == [points]
    for place in ["interior", "boundary", *points.data]:
        index = torch.cat([c.global_index(place) for c in chunks])
        assert torch.equal(index.sort().values, torch.arange(points.on(place).shape[0]))
        sizes = [c.on(place).shape[0] for c in chunks]
        assert max(sizes) - min(sizes) <= len(points.sides) if place == "boundary" else 1
        for c in chunks:
            assert torch.equal(c.on(place), points.on(place)[c.global_index(place)])
    for c in chunks:  # each side's rows: a share of that side, normals alongside
        assert set(c.sides) == set(points.sides)
        assert torch.equal(c.normals, points.normals[c.global_index("boundary")])
    # the chunks' indices are views of one whole index, not a whole index each (1,024 chunks
    # of a million points held 8 GB of copies of it)
    for place in ["interior", *points.data]:
        storages = {c.global_index(place).untyped_storage().data_ptr() for c in chunks}
        assert len(storages) == 1, place
    with pytest.raises(ValueError, match="at least 1"):
        chunk_collocation(points, 0)


def test_training_in_chunks_follows_the_one_piece_run():
    overrides = [
        *SMALL,
        "training.points.interior=200",
        "training.points.boundary=80",
        "training.schedule=adam,gauss_newton",
        "training.adam.steps=30",
        "training.gauss_newton.steps=3",
        "network.width=12",
        "network.depth=2",
    ]
    one = Trainer(load_problem(PROBLEMS / "poisson_2d.yaml", overrides), progress=False)
    problem = load_problem(PROBLEMS / "poisson_2d.yaml", [*overrides, "training.step_memory=1"])
    split = Trainer(problem, progress=False)
    assert one.chunks == 1 and split.chunks == 280 // MIN_CHUNK_POINTS
    a, b = one.run(), split.run()
    assert "chunks of" in b.derivatives
    pairs = list(zip(a.history, b.history, strict=True))
    adam = [(r["loss"], s["loss"]) for r, s in pairs if r["phase"] == "adam"]
    assert len(adam) == 30 and all(abs(x - y) <= 1e-12 * abs(x) for x, y in adam)
    # Gauss–Newton at damping 1e-8 magnifies rounding by up to P/damping (LeastSquares)
    newton = [(r["loss"], s["loss"]) for r, s in pairs if r["phase"] == "gauss_newton"]
    assert len(newton) == 3 and all(abs(x - y) <= 1e-4 * abs(x) for x, y in newton)
    assert newton[-1][1] < adam[-1][1] / 2


def test_chunk_count_follows_the_setting_the_limit_and_the_floor():
    problem = load_problem(PROBLEMS / "poisson_2d.yaml", SMALL)
    points = problem.training.points.interior + problem.training.points.boundary
    assert chunk_count(problem, CPU_CHUNK_BYTES) == 1
    assert chunk_count(problem, 10 * CPU_CHUNK_BYTES + 1) == 11  # auto on the CPU
    stated = dataclasses.replace(
        problem, training=dataclasses.replace(problem.training, step_memory=2**20)
    )
    assert chunk_count(stated, 5 * 2**20) == 5
    assert chunk_count(stated, 2**40) == points // MIN_CHUNK_POINTS  # the floor of a chunk
    many = dataclasses.replace(
        stated,
        training=dataclasses.replace(
            stated.training,
            points=dataclasses.replace(stated.training.points, interior=200_000),
        ),
    )
    assert chunk_count(many, 2**40) == MAX_CHUNKS  # and the most chunks of a step
    limited = dataclasses.replace(
        stated, limits=dataclasses.replace(problem.limits, max_tensor_bytes=2**19)
    )
    assert chunk_count(limited, 5 * 2**20) == 10  # never over max_tensor_bytes
    causal = load_problem(PROBLEMS / "allen_cahn.yaml", SMALL)
    assert causal.training.causal.slabs and chunk_count(causal, 2**40) == 1


def test_a_large_step_is_chunked_and_check_says_so(capsys):
    problem = load_problem(PROBLEMS / "poisson_2d.yaml", ["training.points.interior=200000"])
    peak, chunks = check_step_memory(problem)
    assert chunks == -(-peak // CPU_CHUNK_BYTES) > 1
    args = ["check", str(PROBLEMS / "poisson_2d.yaml"), "--set", "training.points.interior=200000"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert f"in {chunks} chunks of ≈" in out


@pytest.mark.parametrize(
    ("name", "overrides"), CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)]
)
def test_the_loss_at_many_parameter_vectors_in_one_pass_is_the_loss_at_each(name, overrides):
    problem = load_problem(PROBLEMS / f"{name}.yaml", [*SMALL, *overrides])
    parts = assemble(problem)
    params = [p for p in parts.model.parameters() if p.requires_grad]
    start = torch.cat([p.detach().reshape(-1) for p in params])
    step = 0.05 * torch.randn_like(start, generator=torch.Generator().manual_seed(2))
    flats = torch.stack([start + 0.5**i * step for i in range(4)])
    chunked = build_loss(problem, parts.model, parts.points, parts.engine, chunks=3)
    batched = parts.objective.values_at(flats)
    batched_chunks = chunked.values_at(flats)
    for row, row_chunks, flat in zip(batched, batched_chunks, flats, strict=True):
        with torch.no_grad():
            for p, piece in zip(params, flat.split([p.numel() for p in params]), strict=True):
                p.copy_(piece.view_as(p))
        total, terms = parts.objective.value()
        expected = torch.cat([total.reshape(1), terms])
        assert _relative(row, expected) <= 1e-13
        assert _relative(row_chunks, expected) <= 1e-13


def test_solve_in_chunks_says_so_and_writes_its_run(tmp_path, capsys):
    out = tmp_path / "run"
    sets = [
        "training.step_memory=1",
        "training.points.interior=300",
        "training.points.boundary=80",
        "training.adam.steps=20",
        "training.gauss_newton.steps=2",
    ]
    args = ["solve", str(PROBLEMS / "poisson_2d.yaml"), "--out", str(out), "--quiet"]
    args += [item for s in sets for item in ("--set", s)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "memory      the loss in 5 chunks of ≤ 60 interior points" in printed
    metrics = (out / "metrics.json").read_text(encoding="utf-8")
    assert "the loss in 5 chunks" in metrics
    assert (out / "model.pt").exists() and (out / "history.csv").exists()


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("training.step_memory=-1", "training.step_memory: expected a whole number in [0, "),
        ("training.step_memory=abc", "training.step_memory: expected a whole number in [0, "),
        ("training.capture=maybe", "training.capture: expected true or false, got 'maybe'"),
        ("training.gauss_newton.momentum=1", "training.gauss_newton.momentum: expected a number"),
        (
            "training.gauss_newton.line_search_pass=fast",
            "training.gauss_newton.line_search_pass: expected one of: auto, batched, sequential",
        ),
    ],
)
def test_issue_26_settings_out_of_bounds_exit_2_naming_the_key(setting, message, capsys):
    assert main(["check", str(PROBLEMS / "poisson_2d.yaml"), "--set", setting]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.splitlines()) == 1


def test_the_jacobian_does_not_depend_on_its_batches_of_per_sample_gradients():
    # CUDA takes ~1 GiB batches (jacobian_chunk), the CPU 1024 entries: the same matrix
    problem = load_problem(PROBLEMS / "elasticity_plate.yaml", [*SMALL, *CASES[1][1]])
    loss = assemble(problem).objective
    r, jac = loss.jacobian()
    for chunk in (7, 100_000):
        r_c, jac_c = loss.jacobian(chunk=chunk)
        assert torch.equal(r_c, r) and _relative(jac_c, jac) <= 1e-13
