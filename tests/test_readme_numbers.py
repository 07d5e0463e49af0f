"""Every number in the README's measured tables comes from a stored results file.

Each measured table in README.md is preceded by ``<!-- from benchmarks/results/NAME -->``; every
number in its cells (the first column, the row's label, aside) must appear in that file exactly
as printed. A table whose benchmark has not been (re)run is marked
``<!-- pending benchmarks/results/NAME -->`` instead: then the file must be absent and no table
may follow, so the README quotes no number without a source, and once the benchmark has written
the file this test fails until the table is filled in from it. No training: reads files only.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from .conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
MARKER = re.compile(r"^<!-- (from|pending) (benchmarks/results/\S+) -->$", re.MULTILINE)
NUMBER = re.compile(r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?(?![\w])")
MARKERS = MARKER.findall(README)


def table_after(position: int) -> list[list[str]]:
    """The rows (cells split on |) of the Markdown table starting after ``position``."""
    lines = README[position:].splitlines()[1:]
    while lines and not lines[0].strip():
        lines.pop(0)
    rows = []
    for line in lines:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def appears(number: str, text: str) -> bool:
    return re.search(rf"(?<![\d.]){re.escape(number)}(?![\d])", text) is not None


def test_the_readme_names_the_sources_of_its_measured_tables() -> None:
    sources = {path for _, path in MARKERS}
    assert {
        "benchmarks/results/relu_failure_comparison.md",
        "benchmarks/results/speed.txt",
        "benchmarks/results/fd_timing.txt",
        "benchmarks/results/accuracy.txt",
        "benchmarks/results/gelu_temperature_comparison.md",
    } <= sources
    # every table in the README is either a measured one with a source or carries no numbers
    # outside its first column that a reader could take for a measurement
    for match in re.finditer(r"^\|.*\|\n\|[-| ]+\|\n", README, re.MULTILINE):
        before = README[: match.start()].rstrip("\n").splitlines()[-1]
        if MARKER.match(before) is None:
            numbers = [
                n
                for row in table_after(match.start() - 1)[2:]
                for cell in row[1:]
                for n in NUMBER.findall(cell)
            ]
            assert not numbers, f"a README table without a source quotes {numbers}"


@pytest.mark.parametrize(
    ("kind", "source", "position"),
    [(m.group(1), m.group(2), m.start()) for m in MARKER.finditer(README)],
    ids=lambda v: v if isinstance(v, str) and "/" in v else "",
)
def test_every_number_of_a_measured_table_is_in_its_results_file(
    kind: str, source: str, position: int
) -> None:
    path = ROOT / source
    rows = table_after(position)
    if kind == "pending":
        assert not path.exists(), (
            f"{source} exists now: fill in the README table it is marked pending for, and "
            f"change its marker to <!-- from {source} -->"
        )
        assert not rows, f"a table follows the pending marker for {source}"
        return
    assert path.is_file(), f"{source} is named by the README but missing"
    assert len(rows) >= 3, f"no table after the marker for {source}"
    text = path.read_text(encoding="utf-8")
    checked = 0
    for row in rows[2:]:
        for cell in row[1:]:
            for number in NUMBER.findall(cell):
                assert appears(number, text), f"{number} ({row[0]}) is not in {source}"
                checked += 1
    assert checked >= len(rows) - 2


def test_every_results_text_has_its_json_and_circumstances() -> None:
    # files written by benchmarks/_record.py: the table beside the full output
    for text in (ROOT / "benchmarks" / "results").glob("*.txt"):
        if not text.read_text(encoding="utf-8").startswith("# python benchmarks/"):
            continue  # written before benchmarks/_record.py (speed.txt until it is re-run)
        data = json.loads(text.with_suffix(".json").read_text(encoding="utf-8"))
        assert {"command", "date", "machine", "torch", "threads", "commit"} <= set(data)
        assert data["machine"]["cores"] >= 1


@pytest.mark.parametrize(
    "script", sorted((ROOT / "benchmarks").glob("[a-z]*.py")), ids=lambda p: p.stem
)
def test_every_benchmark_records_its_output(script: Path) -> None:
    assert "from _record import record" in script.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "retracted",
    [
        "129 s",  # poisson_2d wall time, never stored
        "202 s",
        "96 s",
        "27 s",  # cold compile, never stored
        "about 25 s",
        "at step 1100",  # never stored; speed.py now records the step
        "395 s",  # DeepXDE figures "from the issue tracker", no public source
        "337 s",
        "issue tracker",
        "χ ≈ 1.144",  # the variance map's slope, not Schoenholz et al.'s χ₁
    ],
)
def test_retracted_figures_stay_out_of_the_readme(retracted: str) -> None:
    assert retracted not in README
