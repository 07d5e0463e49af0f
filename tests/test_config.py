"""Configuration: the key reference in problems/README.md matches the code; limits are listed."""

import dataclasses
import typing

from pinn_gelu.config import Limits
from pinn_gelu.problem_file.keys import key_reference, sections

from .conftest import PROBLEMS

README = (PROBLEMS / "README.md").read_text(encoding="utf-8")


def test_key_reference_in_problems_readme_is_current() -> None:
    begin = README.index("<!-- keys:begin")
    begin = README.index("\n", begin) + 1
    end = README.index("<!-- keys:end -->")
    assert README[begin:end].strip() == key_reference().strip(), (
        "problems/README.md is out of date; paste the output of python -m pinn_gelu.config"
    )


def test_every_config_field_is_documented() -> None:
    for prefix, cls in sections().items():
        hints = typing.get_type_hints(cls)
        for field in dataclasses.fields(cls):
            sections_of_their_own = dataclasses.is_dataclass(hints[field.name]) or (
                "sections" in field.metadata  # one per registered optimiser, listed on its own
            )
            if not sections_of_their_own:
                assert f"`{prefix}.{field.name}`" in README, f"{prefix}.{field.name}"
    for field in dataclasses.fields(Limits):
        assert f"`{field.name}`" in README, field.name


def test_every_field_has_a_doc_line() -> None:
    for cls in [*sections().values(), Limits]:
        for field in dataclasses.fields(cls):
            assert field.metadata.get("doc"), f"{cls.__name__}.{field.name}"


def test_ci_runs_exactly_the_readme_test_command() -> None:
    from .conftest import ROOT

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = [line for line in readme.splitlines() if line.startswith("python3 -m venv")]
    assert len(commands) == 2, commands  # the main job, then the tests
    assert commands[0].endswith("pinn-gelu solve problems/poisson_2d.yaml")
    assert commands[1].endswith("python -m pytest")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert commands[1] in ci
