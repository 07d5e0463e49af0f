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
    blocks = row_blocks(text, [label_of(row[0]) for row in rows[2:]])
    checked = 0
    for row in rows[2:]:
        # a number belongs to its row: it is in the lines of the results file that carry the
        # row's label (the whole file where a label is not printed there, such as "gelu, 0")
        block = blocks.get(label_of(row[0]), text)
        for cell in row[1:]:
            for number in NUMBER.findall(cell):
                assert appears(number, block), f"{number} ({row[0]}) is not in its row of {source}"
                checked += 1
            # and to its column: a number named in the cell (ux 8.26e-5) by a name the row
            # prints (not a word such as "in") is named so there too
            for name, number in NAMED.findall(cell):
                if re.search(rf"(?<!\w){re.escape(name)}(?!\w)", block) is None:
                    continue
                pair = rf"(?<!\w){re.escape(name)}\W{{0,3}}{re.escape(number)}(?![\d])"
                assert re.search(pair, block), f"{name} {number} ({row[0]}) not so in {source}"
    assert checked >= len(rows) - 2


NAMED = re.compile(r"(?<![\w.])([A-Za-zσ][\w]*)\s+([-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?)(?![\w])")


def label_of(cell: str) -> str:
    """A row's label as the results file prints it: no Markdown emphasis, code or links."""
    return re.sub(r"[`*\[\]]|\(http.*?\)", "", cell).strip()


def row_blocks(text: str, labels: list[str]) -> dict[str, str]:
    """Per label printed in ``text``: the lines of its rows (from each line that names it to the
    next line naming another label), joined; labels not printed are left out."""
    lines = text.splitlines()
    named = {
        label: [i for i, line in enumerate(lines) if label and label in line] for label in labels
    }
    blocks = {}
    for label, starts in named.items():
        others = sorted(i for other, found in named.items() if other != label for i in found)
        pieces = []
        for start in starts:
            stop = min((i for i in others if i > start), default=len(lines))
            pieces.append("\n".join(lines[start:stop]))
        if pieces:
            blocks[label] = "\n".join(pieces)
    return blocks


def test_a_number_moved_to_another_row_or_column_is_caught() -> None:
    text = (
        "kirsch_plate  ux 8.26e-05, uy 2.18e-04\nannulus_laplace  u 2.38e-06\ncavity u 2.43e-05\n"
    )
    blocks = row_blocks(text, ["kirsch_plate", "annulus_laplace", "cavity"])
    assert appears("2.18e-04", blocks["kirsch_plate"])
    assert not appears("2.43e-05", blocks["annulus_laplace"])  # the cavity's error
    swapped = NAMED.findall("ux 2.18e-04, uy 8.26e-05")
    assert not all(re.search(rf"{n}\W{{0,3}}{v}", blocks["kirsch_plate"]) for n, v in swapped)


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
    imports = re.search(r"^from _record import (.+)$", script.read_text(encoding="utf-8"), re.M)
    assert imports and "record" in [n.strip() for n in imports.group(1).split(",")]


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
