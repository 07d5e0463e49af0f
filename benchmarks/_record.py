"""Where every benchmark's output goes: benchmarks/results/<name>.json and <name>.txt.

Each benchmark script builds its rows as plain data and its table as text, then calls
:func:`record`, which prints the table and writes both files with the circumstances of the run
(command, date, machine, cores, torch version and thread count, library commit). The README's
measured tables name the file they come from (``<!-- from benchmarks/results/<name>.txt -->``)
and tests/test_readme_numbers.py checks every number in them against that file.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def _commit() -> str | None:
    try:
        run = subprocess.run(
            ["git", "-C", str(ROOT), "describe", "--always", "--dirty", "--abbrev=12"],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return None
    return run.stdout.strip() or None


#: The commit when the benchmark started: the code it runs (the tree may move on meanwhile).
STARTED_AT = _commit()


def circumstances() -> dict[str, Any]:
    """The command, date, machine and software a result was measured with."""
    return {
        "command": " ".join(["python", *[Path(sys.argv[0]).as_posix(), *sys.argv[1:]]]),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
        },
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "commit": STARTED_AT,
    }


def header(info: dict[str, Any]) -> str:
    """The human-readable first lines of a results table."""
    machine = info["machine"]
    return (
        f"# {info['command']}\n"
        f"# {info['date']}, {machine['processor']}, {machine['cores']} cores, "
        f"{machine['platform']}\n"
        f"# python {info['python']}, torch {info['torch']}, {info['threads']} threads, "
        f"pinn_gelu commit {info['commit']}\n"
    )


def record(name: str, data: dict[str, Any], table: str, quiet: bool = False) -> tuple[Path, Path]:
    """Print ``table`` and write benchmarks/results/<name>.json and .txt; return their paths.

    With ``quiet``, write without printing (a long benchmark saving what it has so far).

    ``data`` holds every measured number (rows as dicts); the JSON file is ``data`` plus the
    circumstances, the text file the header plus ``table`` exactly as printed.
    """
    info = circumstances()
    RESULTS.mkdir(parents=True, exist_ok=True)
    json_path, text_path = RESULTS / f"{name}.json", RESULTS / f"{name}.txt"
    json_path.write_text(
        json.dumps({"benchmark": name, **info, **data}, indent=2) + "\n", encoding="utf-8"
    )
    text = header(info) + table.rstrip("\n") + "\n"
    text_path.write_text(text, encoding="utf-8")
    if quiet:
        return json_path, text_path
    print(text, end="")
    print(f"written: {json_path.relative_to(ROOT)}, {text_path.relative_to(ROOT)}")
    return json_path, text_path


def merged(names: list[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]], str]:
    """The rows of results files written by separate processes, their circumstances, and a
    note naming them: what a benchmark's ``--merge`` records as one table."""
    rows: list[dict[str, Any]] = []
    sources = []
    for part in names:
        data = json.loads((RESULTS / f"{part}.json").read_text(encoding="utf-8"))
        rows += data["rows"]
        sources.append({k: data[k] for k in ("command", "date", "commit", "threads")})
    pairs = zip(names, sources, strict=True)
    note = "merged from " + ", ".join(f"{n}.json ({s['date']})" for n, s in pairs)
    return rows, sources, note


def run_lines(rows: list[dict[str, Any]], columns: list[tuple[str, int]]) -> list[str]:
    """A table of solve runs: the named columns, the relative L2 error (or ``failed``) and the
    time, then each failed run's error message on its own line."""
    head = " ".join(f"{name:<{width}}" for name, width in columns)
    lines = [f"{head} {'relative L2':>12} {'time_s':>8}"]
    for row in rows:
        error = row.get("relative_l2")
        shown = f"{error:12.3e}" if isinstance(error, float) else f"{'failed':>12}"
        cells = " ".join(f"{row[name]!s:<{width}}" for name, width in columns)
        lines.append(f"{cells} {shown} {row.get('wall_time_s', 0):8.1f}")
        if "error" in row:
            lines.append(f"    {row['error']}")
    return lines
