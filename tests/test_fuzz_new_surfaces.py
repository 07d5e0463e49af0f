"""Fuzzing the surfaces of the last release (issue 25): shapes, regions, residual expressions and
the fields of a checkpoint. Each generated input is accepted or refused cleanly: exit code 2 with
one line naming the file, no traceback, within the time bound of :mod:`tests.test_fuzz`; a
checkpoint field is accepted or refused with one ValueError line before anything trains.
"""

from __future__ import annotations

import copy
import math
import tempfile
from pathlib import Path

import torch
import yaml
from hypothesis import example, given
from hypothesis import strategies as st

from pinn_gelu import load_problem
from pinn_gelu.checkpoints import read_checkpoint
from pinn_gelu.training import Trainer

from .conftest import VALID
from .test_fuzz import CHECKPOINT_VALUES, FUZZ, WORKDIR, check_cleanly
from .test_tampered_checkpoints import interrupted

NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.sampled_from(["3e-1", "1e300", "-1e-300", "nan", ".inf", "0x10", "1_000", "", "x"]),
)
POINTS = st.lists(st.lists(NUMBERS, min_size=0, max_size=4), min_size=0, max_size=7)
SHAPES = st.one_of(
    st.builds(
        lambda c, r: {"disk": {"center": c, "radius": r}}, st.lists(NUMBERS, max_size=3), NUMBERS
    ),
    st.builds(lambda b: {"rectangle": b}, POINTS),
    st.builds(lambda v: {"polygon": v}, POINTS),
    st.builds(
        lambda c, r: {"ball": {"center": c, "radius": r}}, st.lists(NUMBERS, max_size=4), NUMBERS
    ),
    st.dictionaries(
        st.sampled_from(["disk", "rectangle", "polygon", "ball", "x"]), NUMBERS, max_size=2
    ),
)
NAMES = st.sampled_from(["a", "b", "hole", "lambda", "__class__", "a.b", "x y", "é", ""])
PLATE_WITH_HOLE = {
    "a": {"rectangle": [[0, 1], [0, 1]]},
    "hole": {"disk": {"center": [0.5, 0.5], "radius": 0.2}},
}
REGION_TOKENS = st.sampled_from(
    ["a", "b", "hole", "+", "-", "&", "|", "*", "(", ")", "~", "a()", "1", "'a'", " ", "a.x", "[a]"]
)


def region_file(shapes: dict, region: str) -> str:
    data = {
        "name": "fuzz",
        "pde": {"kind": "poisson", "source": "1"},
        "domain": {"shapes": shapes, "region": region},
        "boundary": [{"on": "all", "dirichlet": "0"}],
        "network": {"width": 4, "depth": 1},
        "training": {"points": {"interior": 32, "boundary": 16}, "adam": {"steps": 1}},
        "validation": {"grid": 16},
    }
    return yaml.safe_dump(data, allow_unicode=True)


@FUZZ
@given(
    st.dictionaries(NAMES, SHAPES, min_size=1, max_size=3),
    st.lists(REGION_TOKENS, min_size=1, max_size=12).map("".join),
)
@example(PLATE_WITH_HOLE, "a - hole")
@example({"a": {"disk": {"center": [1e300, 0], "radius": 1e300}}}, "a")
@example({"a": {"polygon": [[0, 0], [1e-300, 0], [0, 1e-300]]}}, "a")
def test_random_shapes_and_regions_are_accepted_or_refused_cleanly(shapes, region) -> None:
    check_cleanly(region_file(shapes, region))


RESIDUAL_TOKENS = st.sampled_from(
    [
        "u",
        "v",
        "x",
        "t",
        "d(u, x)",
        "d(u, x, x)",
        "d(u, t)",
        "dn(u)",
        "d(",
        "dn(",
        "u,",
        "x)",
        "d(u, x, x, x, x, x, x, x, x)",
        "d(v, x)",
        "d(u, u)",
        "d(x, x)",
        "+",
        "-",
        "*",
        "/",
        "**",
        "(",
        ")",
        "sin(",
        "nx",
        "1",
        "1e308",
        "0",
        " ",
        ",",
        "d(u)",
        "d(u, 1)",
        "d(u, x, t)",
    ]
)


@FUZZ
@given(st.lists(RESIDUAL_TOKENS, min_size=1, max_size=14).map("".join), st.booleans())
@example("d(u, t) - d(u, x, x)", False)
@example("dn(u) - u", True)
def test_random_residuals_are_accepted_or_refused_cleanly(residual: str, on_boundary: bool) -> None:
    boundary = [{"on": "all", "dirichlet": "0"}]
    equations = ["d(u, t) - d(u, x, x)"]
    if on_boundary:
        boundary = [{"on": "x_min", "equation": residual}, {"on": "all", "dirichlet": "0"}]
    else:
        equations = [residual]
    data = {
        "name": "fuzz",
        "pde": {"kind": "equations", "fields": ["u"], "equations": equations},
        "domain": {"rectangle": [[0, 1]], "time": [0, 1]},
        "boundary": boundary,
        "network": {"width": 4, "depth": 1},
        "training": {"points": {"interior": 16, "boundary": 8}, "adam": {"steps": 1}},
    }
    check_cleanly(yaml.safe_dump(data))


def _interrupted_checkpoint() -> tuple[Path, list[str], dict]:
    root = Path(tempfile.mkdtemp(dir=WORKDIR))
    path = root / "problem.yaml"
    path.write_text(yaml.safe_dump(VALID))
    overrides = ["training.adam.steps=12", "training.lbfgs.steps=4"]
    interrupted(load_problem(path, overrides), root, stop_at=13)
    return path, overrides, read_checkpoint(root / "checkpoint.pt")


_CHECKPOINT: list[tuple[Path, list[str], dict]] = []
STATE_KEYS = st.sampled_from(
    [
        "phase",
        "phase_step",
        "step",
        "history",
        "events",
        "phase_steps",
        "stop_reasons",
        "rollbacks",
        "lr_scale",
        "elapsed_s",
        "torch_rng",
        "optimizer",
        "schedule",
        "optimizer.torch",
        "optimizer.progress",
        "optimizer.torch.state",
        "optimizer.torch.param_groups",
        "optimizer.progress.best",
        "optimizer.progress.losses",
    ]
)


@FUZZ
@given(STATE_KEYS, st.one_of(CHECKPOINT_VALUES, st.just(torch.zeros(3)), st.just(math.nan)))
def test_checkpoint_fields_are_accepted_or_refused_with_one_line(key, value) -> None:
    if not _CHECKPOINT:
        _CHECKPOINT.append(_interrupted_checkpoint())
    path, overrides, content = _CHECKPOINT[0]
    content = copy.deepcopy(content)
    node = content
    *parents, last = key.split(".")
    for name in parents:
        node = node[name]
    node[last] = value
    checkpoint = Path(tempfile.mkdtemp(dir=WORKDIR)) / "checkpoint.pt"
    torch.save(content, checkpoint)
    problem = load_problem(path, overrides)
    try:
        trainer = Trainer.resume(problem, checkpoint, progress=False)
    except ValueError as err:
        assert "\n" not in str(err).strip() and str(checkpoint) in str(err), err
    else:  # accepted: then it must train on from there
        trainer.run_phase(trainer.phase) if trainer.phase != "done" else None
