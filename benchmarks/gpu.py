"""One short run on one GPU: the step table, shipped problems end to end, Gauss–Newton at P ≈ 10⁴.

    python benchmarks/gpu.py                       # on CUDA: results/gpu-<card>.json and .txt
    python benchmarks/gpu.py --dry-run             # on the CPU, every size / 100: checks the
                                                   # script end to end (results/gpu-dry-run.*)

(a) One Adam training step (residual + loss + backward + update) of poisson_2d on a 50×4
network: nested autograd, forward mode, forward mode replayed as a CUDA graph
(``training.capture``) and forward mode compiled, × 2·10³ … 10⁷ interior points (in chunks
where ``training.step_memory: auto`` asks for them), × float32 and float64. The mean of the
repeats after warm-up, queued back to back as a run queues them, the device synchronised at
both ends; the peak device memory of a step (``torch.cuda.max_memory_allocated`` after a reset;
on the CPU: not measured). A size that runs out of memory, or whose warm-up exceeds the case's
time, is recorded as such, and the path's larger sizes are skipped.

(b) The shipped poisson_2d, elasticity_plate and helmholtz_2d end to end on the device, with
their own settings: relative L2 error and training time.

(c) Gauss–Newton on a 50×4 network (P = 7851) on poisson_2d with 20,000 interior points
(20,400 rows): seconds per step, the median over the steps of a short run (from the history's
``time_s``), float64.

(d) A line search's 12 trial losses, in one batched pass and one after another
(``benchmarks/line_search.py`` on the device).

The whole run is meant to fit in 8 minutes of an H200; ``--budget`` (seconds) stops starting
new cases once spent, and says which were skipped. Issue 26 states the targets this measures.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from pathlib import Path

import torch
from _record import record
from line_search import SIZES as LINE_SEARCH_SIZES
from line_search import measure as line_search

from pinn_gelu import load_problem, train
from pinn_gelu.config import Limits
from pinn_gelu.training import Trainer

ROOT = Path(__file__).resolve().parents[1]
POISSON = ROOT / "problems" / "poisson_2d.yaml"
PATHS = {
    "nested autograd": ["training.derivatives=autograd"],
    "forward mode": ["training.derivatives=forward"],
    "forward captured": ["training.derivatives=forward", "training.capture=true"],
    "forward compiled": ["training.derivatives=forward", "training.compile=true"],
}
#: Steps before timing: compilation, the allocator, first launches, and the capture (which
#: records at step WARMUP + 1).
WARM_STEPS = 6
SIZES = [2_000, 20_000, 200_000, 1_000_000, 10_000_000]
SHIPPED = ["poisson_2d", "elasticity_plate", "helmholtz_2d"]
#: Bounds raised for the largest sizes (a problem file cannot raise them; a benchmark may).
LIMITS = Limits(
    max_points=20_000_000,
    max_tensor_bytes=120 * 2**30,
    max_gauss_newton_bytes=40 * 2**30,
    max_grid_points=4_000_000,
)


def synchronise(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def adam(trainer: Trainer):
    """The run's Adam phase, to take steps with (its numbers stay on the device)."""
    return trainer._current_optimiser("adam", trainer.problem.training.phases["adam"])


def step_case(path: str, points: int, dtype: str, device: str, repeats: int) -> dict:
    """Median ms of a step and its peak memory (GiB), or why it was not measured."""
    overrides = [
        *PATHS[path],
        "network.width=50",
        "network.depth=4",
        f"training.points.interior={points}",
        f"training.dtype={dtype}",
        f"training.device={device}",
        "training.schedule=adam",
    ]
    row: dict = {"path": path, "points": points, "dtype": dtype}
    try:
        trainer = Trainer(load_problem(POISSON, overrides, limits=LIMITS), progress=False)
        optimiser = adam(trainer)
        for k in range(1, WARM_STEPS + 1):
            optimiser.step(k, 1.0)
        synchronise(device)
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        # queued back to back, as the driver queues them (it reads every 25 steps on CUDA):
        # the mean over the repeats, the device synchronised at both ends
        started = time.perf_counter()
        for k in range(WARM_STEPS + 1, WARM_STEPS + repeats + 1):
            optimiser.step(k, 1.0)
        synchronise(device)
        row["ms"] = (time.perf_counter() - started) / repeats * 1e3
        if device == "cuda":
            row["peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
        row["chunks"] = trainer.chunks
        row["compile_note"] = trainer.objective.compile_note
        row["capture_note"] = getattr(optimiser, "note", "")
    except torch.OutOfMemoryError:
        row["skipped"] = "out of device memory"
    except Exception as err:  # a size the library refuses (its bounds), reported as it says
        row["skipped"] = f"{type(err).__name__}: {str(err).splitlines()[0][:160]}"
    finally:
        if device == "cuda":
            torch.cuda.empty_cache()
    return row


def shipped(name: str, device: str, scale: float) -> dict:
    """A shipped problem end to end on the device (``scale`` < 1 shortens it: dry runs)."""
    overrides = [f"training.device={device}"]
    problem = load_problem(ROOT / "problems" / f"{name}.yaml", overrides)
    if scale < 1:
        phases = {
            f"training.{phase}.steps={max(1, int(problem.training.phases[phase].steps * scale))}"
            for phase in problem.training.schedule
        }
        problem = load_problem(ROOT / "problems" / f"{name}.yaml", [*overrides, *phases])
    result = train(problem, progress=False)
    return {
        "problem": name,
        "relative_l2": result.relative_l2,
        "wall_time_s": result.wall_time_s,
        "steps": sum(result.phase_steps.values()),
    }


def gauss_newton(device: str, points: int, steps: int) -> dict:
    """Seconds per Gauss–Newton step on a 50×4 network, float64."""
    overrides = [
        "network.width=50",
        "network.depth=4",
        f"training.points.interior={points}",
        "training.dtype=float64",
        f"training.device={device}",
        "training.adam.steps=0",
        f"training.gauss_newton.steps={steps}",
        "validation.every=0",
    ]
    trainer = Trainer(load_problem(POISSON, overrides, limits=LIMITS), progress=False)
    result = trainer.run()
    times = [float(r["time_s"]) for r in result.history if r.get("phase") == "gauss_newton"]
    per_step = [b - a for a, b in itertools.pairwise(times)]
    rows = sum(trainer.objective.counts)
    parameters = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    return {
        "rows": rows,
        "parameters": parameters,
        "steps": len(times),
        "s_per_step": statistics.median(per_step) if per_step else None,
        "relative_l2": result.relative_l2,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="CPU, sizes / 100, few repeats")
    parser.add_argument("--budget", type=float, default=420.0, help="seconds for all cases")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    device = "cpu" if args.dry_run else "cuda"
    if device == "cuda" and not torch.cuda.is_available():
        parser.error("torch sees no CUDA device (use --dry-run to check the script on the CPU)")
    scale = 0.01 if args.dry_run else 1.0
    repeats = 3 if args.dry_run else args.repeats
    card = torch.cuda.get_device_name(0) if device == "cuda" else "cpu (dry run)"
    started = time.perf_counter()
    lines = [f"device: {card}; budget {args.budget:g} s"]
    skipped: list[str] = []

    def spent() -> bool:
        return time.perf_counter() - started > args.budget

    steps: list[dict] = []
    lines.append("(a) one step of poisson_2d, 50×4: ms (peak GiB)")
    for dtype in ("float32", "float64"):
        for path in PATHS:
            too_big = False
            for points in sorted({max(200, int(size * scale)) for size in SIZES}):
                if too_big or spent():
                    skipped.append(f"step {path} {dtype} {points}")
                    continue
                row = step_case(path, points, dtype, device, repeats)
                steps.append(row)
                too_big = "skipped" in row
                shown = (
                    row["skipped"]
                    if too_big
                    else f"{row['ms']:.3f} ms"
                    + (f" ({row['peak_gib']:.2f} GiB)" if "peak_gib" in row else "")
                    + (f", {row['chunks']} chunks" if row["chunks"] > 1 else "")
                    + (" [not captured]" if "not captured" in row["capture_note"] else "")
                )
                lines.append(f"  {dtype:<8} {path:<17} {points:>10,} points  {shown}")
                print(lines[-1], flush=True)
    ends: list[dict] = []
    lines.append("(b) shipped problems end to end")
    for name in SHIPPED:
        if spent():
            skipped.append(f"shipped {name}")
            continue
        row = shipped(name, device, scale)
        ends.append(row)
        errors = ", ".join(f"{k} {v:.2e}" for k, v in row["relative_l2"].items())
        lines.append(f"  {name:<17} {errors}  {row['wall_time_s']:.1f} s, {row['steps']} steps")
        print(lines[-1], flush=True)
    newton = None
    if spent():
        skipped.append("gauss_newton")
    else:
        newton = gauss_newton(device, max(200, int(20_000 * scale)), 3 if args.dry_run else 20)
        per = newton["s_per_step"]
        lines.append(
            f"(c) Gauss–Newton, 50×4 (P = {newton['parameters']}), {newton['rows']} rows: "
            + (f"{per * 1e3:.1f} ms a step" if per is not None else "fewer than 2 steps")
        )
        print(lines[-1], flush=True)
    searches: list[dict] = []
    if spent():
        skipped.append("line search")
    else:
        lines.append("(d) a line search's 12 trial losses: batched pass / one after another")
        for label in LINE_SEARCH_SIZES:
            row = line_search(label, device, 2 if args.dry_run else 5)
            searches.append(row)
            lines.append(
                f"  {label:<32} {row['batched_ms']:.2f} ms / {row['sequential_ms']:.2f} ms"
            )
            print(lines[-1], flush=True)
    if skipped:
        lines.append(f"not run (budget or an earlier size too big): {'; '.join(skipped)}")
    lines.append(f"total {time.perf_counter() - started:.1f} s")
    name = "gpu-dry-run" if args.dry_run else "gpu-" + card.split()[-1].lower()
    record(
        name,
        {
            "device": card,
            "steps": steps,
            "shipped": ends,
            "gauss_newton": newton,
            "line_search": searches,
            "skipped": skipped,
        },
        "\n".join(lines) + "\n",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
