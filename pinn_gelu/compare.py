"""Fair comparison of activations on one problem: same points, budget and initial scheme.

Every (activation, seed) pair is trained with otherwise identical settings: the problem file with
its overrides, then ``network.activation`` and ``training.seed`` set per run. A seed fixes the
collocation points and the initial-weight stream for every activation alike. Runs go one after
another or in parallel processes (``jobs``); each run uses ``threads`` torch threads, and for the
same ``threads`` the results are bit-identical whatever ``jobs`` is (CPU reductions depend on the
thread count, not on the process).

The result, :class:`Comparison`, has the runs and a summary per activation (median, min and max
relative L2 error per field over seeds, median wall time), and writes ``comparison.json``,
``comparison.md`` and ``comparison.png``.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pinn_gelu.activations import ActivationSpec
from pinn_gelu.config import DTYPES
from pinn_gelu.metrics import build_evaluator
from pinn_gelu.problem_file import load_problem
from pinn_gelu.training import ActivationOrderWarning, train

__all__ = ["Comparison", "compare", "split_specs"]

_MAX_CURVE_POINTS = 400


def split_specs(text: str) -> list[str]:
    """Split ``"gelu(alpha=0.5),gelu,relu"`` at the commas outside parentheses.

    >>> split_specs("gelu(alpha=0.5), gelu ,relu")
    ['gelu(alpha=0.5)', 'gelu', 'relu']

    Raises:
        ValueError: on unbalanced parentheses or an empty item.
    """
    items: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise ValueError(f"unbalanced parentheses in {text!r}")
        if char == "," and depth == 0:
            items.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    if depth != 0:
        raise ValueError(f"unbalanced parentheses in {text!r}")
    items.append("".join(current).strip())
    if any(not item for item in items):
        raise ValueError(f"empty item in {text!r}")
    return items


@dataclass
class Comparison:
    """The runs of a comparison and their summary per activation."""

    problem: str
    activations: list[str]
    seeds: list[int]
    overrides: list[str]
    threads: int
    runs: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, dict[str, Any]]:
        """Per activation: median, min and max relative L2 per field; median wall time."""
        result: dict[str, dict[str, Any]] = {}
        for activation in self.activations:
            runs = [r for r in self.runs if r["activation"] == activation]
            fields = list(runs[0]["relative_l2"]) if runs else []
            result[activation] = {
                "relative_l2": {
                    name: {
                        "median": statistics.median(r["relative_l2"][name] for r in runs),
                        "min": min(r["relative_l2"][name] for r in runs),
                        "max": max(r["relative_l2"][name] for r in runs),
                    }
                    for name in fields
                },
                "median_wall_time_s": statistics.median(r["wall_time_s"] for r in runs),
                "runs": len(runs),
                "failed": sum(r["status"] != "completed" for r in runs),
            }
        return result

    def to_json(self) -> dict[str, Any]:
        """The content of comparison.json (loss curves left out)."""
        return {
            "problem": self.problem,
            "activations": self.activations,
            "seeds": self.seeds,
            "overrides": self.overrides,
            "threads_per_run": self.threads,
            "runs": [{k: v for k, v in r.items() if k != "curve"} for r in self.runs],
            "summary": self.summary(),
        }

    def markdown(self) -> str:
        """A table readable in a terminal and on GitHub."""
        summary = self.summary()
        fields = next((list(s["relative_l2"]) for s in summary.values() if s["relative_l2"]), [])
        seeds = ", ".join(map(str, self.seeds))
        lines = [
            f"Activation comparison on `{self.problem}` (seeds {seeds}; relative L2 error: "
            "median [min, max] over seeds)",
            "",
            "| activation | " + " | ".join(fields) + " | median time (s) |",
            "|---|" + "---|" * len(fields) + "---|",
        ]
        for activation, s in summary.items():
            cells = [
                f"{e['median']:.2e} [{e['min']:.2e}, {e['max']:.2e}]"
                for e in s["relative_l2"].values()
            ]
            note = f" ({s['failed']} failed)" if s["failed"] else ""
            lines.append(
                f"| {activation}{note} | "
                + " | ".join(cells)
                + f" | {s['median_wall_time_s']:.1f} |"
            )
        return "\n".join(lines) + "\n"


def _run(task: Mapping[str, Any]) -> dict[str, Any]:
    """One (activation, seed) training run; executed here or in a worker process."""
    import warnings

    import torch

    torch.set_num_threads(task["threads"])
    problem = load_problem(task["path"], task["overrides"], limits=task["limits"])
    with warnings.catch_warnings():
        # the order warning is printed once per activation by the caller
        warnings.simplefilter("ignore", ActivationOrderWarning)
        result = train(
            problem,
            progress=task["progress"],
            reference=task["reference"],
            label=f"{task['activation']} seed {task['seed']}",
        )
    steps = np.array([r["step"] for r in result.history], dtype=float)
    losses = np.array([r["loss"] for r in result.history], dtype=float)
    keep = np.unique(np.linspace(0, len(steps) - 1, min(len(steps), _MAX_CURVE_POINTS)).astype(int))
    return {
        "activation": task["activation"],
        "seed": task["seed"],
        "relative_l2": result.relative_l2,
        "wall_time_s": result.wall_time_s,
        "final_loss": result.final_loss,
        "steps": result.steps,
        "status": result.status,
        "message": result.message,
        "curve": {"step": steps[keep].tolist(), "loss": losses[keep].tolist()}
        if len(steps)
        else {},
    }


def compare(
    path: str | Path,
    activations: Sequence[str],
    seeds: Sequence[int],
    *,
    overrides: Sequence[str] = (),
    jobs: int = 1,
    threads: int | None = None,
    limits: Any = None,
    progress: bool = True,
    on_run: Callable[[dict[str, Any]], None] | None = None,
) -> Comparison:
    """Train every (activation, seed) pair of a problem file and collect the results.

    Args:
        path: the problem file.
        activations: activation specs, e.g. ``["gelu", "gelu(alpha=4)", "relu"]``.
        seeds: seeds; each fixes points and initial weights for all activations alike.
        overrides: ``KEY=VALUE`` overrides applied to every run (a reduced budget, say).
        jobs: parallel worker processes (1: in this process, one run after another).
        threads: torch threads per run (default: cores // jobs, at least 1).
        limits: :class:`~pinn_gelu.config.Limits` for reading the file.
        progress: show which run is going and how far.
        on_run: called with each finished run's record (for progress lines).
    """
    from tqdm import tqdm

    specs = [ActivationSpec.parse(a).spec for a in activations]
    threads = threads or max(1, (os.cpu_count() or 1) // max(1, jobs))
    base = load_problem(path, overrides, limits=limits)
    # an FD reference is solved once here and handed to every run
    reference = None
    if not base.exact and base.reference is not None:
        evaluator = build_evaluator(base, DTYPES[base.training.dtype], "cpu")
        if evaluator is not None:
            reference = {k: v.numpy() for k, v in evaluator.reference.items()}
    comparison = Comparison(base.name, specs, list(seeds), list(overrides), threads)
    tasks = [
        {
            "path": str(path),
            "overrides": [*overrides, f"network.activation={spec}", f"training.seed={seed}"],
            "activation": spec,
            "seed": seed,
            "threads": threads,
            "limits": limits,
            "reference": reference,
            "progress": False,
        }
        for spec in specs
        for seed in seeds
    ]
    records: dict[tuple[str, int], dict[str, Any]] = {}
    with tqdm(
        total=len(tasks), desc="runs", unit="run", disable=not progress, dynamic_ncols=True
    ) as bar:
        if jobs <= 1:
            import torch

            before = torch.get_num_threads()
            try:
                for task in tasks:
                    bar.set_postfix_str(f"{task['activation']} seed {task['seed']}")
                    record = _run({**task, "progress": progress})
                    records[(record["activation"], record["seed"])] = record
                    bar.update(1)
                    if on_run:
                        on_run(record)
            finally:
                torch.set_num_threads(before)
        else:
            context = multiprocessing.get_context("spawn")
            with concurrent.futures.ProcessPoolExecutor(jobs, mp_context=context) as pool:
                futures = [pool.submit(_run, task) for task in tasks]
                bar.set_postfix_str(f"{jobs} in parallel")
                for future in concurrent.futures.as_completed(futures):
                    record = future.result()
                    records[(record["activation"], record["seed"])] = record
                    bar.set_postfix_str(f"done: {record['activation']} seed {record['seed']}")
                    bar.update(1)
                    if on_run:
                        on_run(record)
    comparison.runs = [records[(t["activation"], t["seed"])] for t in tasks]
    return comparison
