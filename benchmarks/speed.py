"""Side-by-side speed of the derivative paths, and time to accuracy against DeepXDE.

    python benchmarks/speed.py --deepxde        # (a) and (b): installs deepxde==1.15.0 into
                                                #   benchmarks/.deepxde-venv (once) and races it
    python benchmarks/speed.py                  # (a) only
    python benchmarks/speed.py --dtype float64  # (a) in float64

Writes benchmarks/results/speed.json and .txt (speed-float64.* for --dtype float64); the
README's step and race tables come from speed.txt.

(a) The time of one training step (residual + loss + backward) for nested autograd, torch.func,
forward mode and forward mode compiled, on poisson_2d (2000 interior points, width 50, depth 4),
a 3D Poisson problem and displacement-form elasticity: the median of many repeats after
warm-up, all in this one process, with ratios to nested autograd. The first call of each path
is timed too: for the compiled path it is the compilation, cold by default (torch's compile
cache is pointed at an empty temporary folder; ``--warm-cache`` keeps the user's cache). Peak
memory of a step is the growth of the process's peak resident set during one step (Linux:
/proc/self/clear_refs resets the peak), the median of several steps.

(b) Wall time until the relative L2 error on poisson_2d falls to 1e-3: the library's default
path with the shipped settings against DeepXDE 1.15 (PyTorch backend, its own virtual
environment) with the same network, points, precision, loss weights and optimiser schedule.
DeepXDE is a measurement peer only, not a dependency. The step of our run at which the error
first reached 1e-3 (validated every 50 steps) is recorded too.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from _deepxde import run_deepxde
from _record import record

from pinn_gelu import load_problem
from pinn_gelu.training import Trainer

ROOT = Path(__file__).resolve().parents[1]
CASES = {
    "poisson_2d": ("poisson_2d.yaml", []),
    "poisson_3d": ("poisson_3d.yaml", ["training.points.boundary=400"]),
    "elasticity (displacement)": ("elasticity_plate.yaml", []),
}
COMMON = ["training.points.interior=2000", "network.width=50", "network.depth=4"]
PATHS = {
    "nested autograd": ["training.derivatives=autograd"],
    "torch.func": ["training.derivatives=func"],
    "forward mode": ["training.derivatives=forward"],
    "forward compiled": ["training.derivatives=forward", "training.compile=true"],
}
#: (b): DeepXDE's schedule, stated (poisson_2d.yaml itself ships Adam then Gauss–Newton on 20×3)
RACE = [
    "network.width=50",
    "network.depth=4",
    "training.points.interior=2000",
    "training.points.boundary=400",
    "training.schedule=adam,lbfgs",
    "training.adam.steps=1000",
    "training.adam.lr=0.002",
    "training.lbfgs.steps=2500",
    "training.dtype=float64",
]
VARIANTS = {  # (b): the same schedule as DeepXDE's, with and without torch.compile; then the
    # shipped file's own settings (another schedule: not a like-for-like row)
    "pinn_gelu (forward mode)": RACE,
    "pinn_gelu (compile: true)": [*RACE, "training.compile=true"],
    "pinn_gelu (shipped: 20×3, Adam + Gauss–Newton)": [],
}


def _rss_kib(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field):
                return int(line.split()[1])
    raise RuntimeError(field)


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def _step(trainer: Trainer) -> None:
    trainer.model.zero_grad(set_to_none=True)
    total, _ = trainer.objective()  # with the graph (trainer.loss() gives values only)
    total.backward()


def peak_growth_mib(trainer: Trainer, samples: int = 5) -> float | None:
    """Median growth of the peak resident set during one step, in MiB (Linux only).

    The benchmark runs with glibc's mmap threshold pinned at 64 KiB (MALLOC_MMAP_THRESHOLD_),
    so every tensor larger than that is mapped on allocation and unmapped when freed: the
    resident set follows live tensor memory and its peak during a step is the step's peak.
    """
    growth = []
    for _ in range(samples):
        if not _reset_peak():
            return None
        before = _rss_kib("VmRSS:")
        _step(trainer)
        growth.append((_rss_kib("VmHWM:") - before) / 1024)
    return statistics.median(growth)


def step_table(repeats: int, dtype: str) -> tuple[list[dict], list[str]]:
    memories = memory_table(dtype)
    rows: list[dict] = []
    lines = [
        f"(a) one training step (residual + loss + backward), {dtype}: median of {repeats} "
        "rounds after warm-up, the paths interleaved in each round (so that drift of a shared "
        "machine hits all alike); speed-up = nested autograd time / path time"
    ]
    header = (
        f"{'case':<27} {'path':<18} {'ms/step':>8} {'speed-up':>9} {'first call s':>13} "
        f"{'peak MiB':>9} {'memory ratio':>13}"
    )
    lines += [header, "-" * len(header)]
    for case, (file, extra) in CASES.items():
        trainers, first = {}, {}
        for path, settings in PATHS.items():
            overrides = [*COMMON, *extra, *settings, f"training.dtype={dtype}"]
            trainer = Trainer(load_problem(ROOT / "problems" / file, overrides), progress=False)
            started = time.perf_counter()
            _step(trainer)  # compiles, for the compiled path
            first[path] = time.perf_counter() - started
            for _ in range(5):
                _step(trainer)
            trainers[path] = trainer
        times: dict[str, list[float]] = {path: [] for path in trainers}
        for _ in range(repeats):
            for path, trainer in trainers.items():
                started = time.perf_counter()
                _step(trainer)
                times[path].append(time.perf_counter() - started)
        memory = memories.get(case, {})
        base_time = statistics.median(times["nested autograd"])
        base_memory = memory.get("nested autograd")
        for path, trainer in trainers.items():
            seconds = statistics.median(times[path])
            mem = memory.get(path)
            mem_text = f"{mem:9.1f}" if mem is not None else f"{'n/a':>9}"
            ratio = f"{mem / base_memory:13.2f}" if mem and base_memory else f"{'n/a':>13}"
            note = f"  ({trainer.compile_note})" if "failed" in trainer.compile_note else ""
            lines.append(
                f"{case:<27} {path:<18} {seconds * 1e3:8.2f} {base_time / seconds:8.2f}× "
                f"{first[path]:13.2f} {mem_text} {ratio}{note}"
            )
            print(lines[-1], flush=True)
            rows.append(
                {
                    "case": case,
                    "path": path,
                    "ms_per_step": seconds * 1e3,
                    "speed_up": base_time / seconds,
                    "first_call_s": first[path],
                    "peak_mib": mem,
                    "memory_ratio": mem / base_memory if mem and base_memory else None,
                    "compile_note": trainer.compile_note,
                    "times_s": times[path],
                }
            )
    return rows, lines


def time_to_accuracy(threads: int) -> tuple[list[dict], list[str]]:
    lines = [
        "(b) wall time until relative L2 ≤ 1e-3 on poisson_2d (same network 2-50×4-1, 2000 + "
        "400 Sobol points, float64, weights 1:100, Adam 1000 steps at 2e-3 then L-BFGS 2500)"
    ]
    ours: dict[str, tuple[float | None, float, float]] = {}
    steps: dict[str, int | None] = {}
    for label, settings in VARIANTS.items():
        problem = load_problem(
            ROOT / "problems" / "poisson_2d.yaml", ["validation.every=50", *settings]
        )
        trainer = Trainer(problem, progress=False)
        result = trainer.run()
        if "eager" in trainer.compile_note:  # compilation unavailable or failed: say so
            label = f"{label} [{trainer.compile_note}]"
        first = next(
            (
                r
                for r in result.history
                if isinstance(error := r.get("error_u"), float) and error <= 1e-3
            ),
            None,
        )
        reached = float(first["time_s"]) if first is not None else None
        steps[label] = int(first["step"]) if first is not None else None
        ours[label] = (reached, result.relative_l2["u"], result.wall_time_s)
    theirs = run_deepxde(threads)
    # the same reading as ours: the first validation (every 50 steps) at or below 1e-3
    theirs_reached = next((t for t, e in theirs["curve"] if e <= 1e-3), None)
    lines.append(
        f"{'':<28} {'seconds to 1e-3':>16} {'final error':>12} {'total s':>9} {'ratio':>7} "
        f"{'step at 1e-3':>13}"
    )
    table = [
        *ours.items(),
        ("DeepXDE 1.15", (theirs_reached, theirs["relative_l2"]["u"], theirs["wall_time_s"])),
    ]
    rows = []
    for label, (reached, final, total) in table:
        ratio = reached / theirs_reached if reached and theirs_reached else None
        shown = reached if reached is not None else float("nan")
        step = steps.get(label)
        ratio_text = f"{ratio:.2f}" if ratio is not None else "n/a"
        step_text = str(step) if step is not None else ""
        lines.append(
            f"{label:<28} {shown:16.1f} {final:12.2e} {total:9.1f} {ratio_text:>7} {step_text:>13}"
        )
        rows.append(
            {
                "label": label,
                "seconds_to_1e-3": reached,
                "step_at_1e-3": step,
                "final_error": final,
                "total_s": total,
                "ratio_to_deepxde": ratio,
            }
        )
    lines.append("ratio = seconds to 1e-3 / DeepXDE's; step at 1e-3: validated every 50 steps")
    return rows, lines


def memory_table(dtype: str) -> dict[str, dict[str, float | None]]:
    """Peak growth per case and path, measured in a subprocess with the mmap threshold pinned
    (which slows allocation-heavy paths, so timings are taken without it)."""
    if not sys.platform.startswith("linux"):
        return {}
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}
    run = subprocess.run(
        [sys.executable, __file__, "--memory-only", "--dtype", dtype],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return json.loads(run.stdout.strip().splitlines()[-1])


def measure_memory(dtype: str) -> None:
    results: dict[str, dict[str, float | None]] = {}
    for case, (file, extra) in CASES.items():
        results[case] = {}
        for path, settings in PATHS.items():
            overrides = [*COMMON, *extra, *settings, f"training.dtype={dtype}"]
            trainer = Trainer(load_problem(ROOT / "problems" / file, overrides), progress=False)
            for _ in range(3):
                _step(trainer)
            results[case][path] = peak_growth_mib(trainer)
    print(json.dumps(results))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--deepxde", action="store_true", help="also run (b) against DeepXDE")
    parser.add_argument("--skip-steps", action="store_true", help="only (b)")
    parser.add_argument(
        "--warm-cache", action="store_true", help="keep torch's compile cache (first call warm)"
    )
    parser.add_argument("--memory-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_only:
        measure_memory(args.dtype)
        return
    if not args.warm_cache:  # time a cold compile: torch's caches in an empty folder
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="pinn_gelu_inductor_")
    threads = torch.get_num_threads()
    data: dict[str, object] = {"dtype": args.dtype, "repeats": args.repeats}
    data["compile_cache"] = "user's (warm)" if args.warm_cache else "empty (cold)"
    lines: list[str] = []
    if not args.skip_steps:
        data["steps"], part = step_table(args.repeats, args.dtype)
        lines += part
    if args.deepxde:
        data["race"], part = time_to_accuracy(threads)
        lines += ["", *part]
    name = "speed" if args.dtype == "float32" else f"speed-{args.dtype}"
    record(name, data, "\n".join(lines))


if __name__ == "__main__":
    main()
