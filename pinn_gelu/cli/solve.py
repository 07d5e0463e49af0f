"""``pinn-gelu solve FILE``: train, validate, write the run directory (or resume one)."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from pinn_gelu.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    check_run_directory,
    load,
    problem_arguments,
    solve_overrides,
)
from pinn_gelu.cli.launch import launch
from pinn_gelu.distributed import SINGLE, from_environment
from pinn_gelu.errors import ProblemFileError, UsageError, one_line, printable
from pinn_gelu.problem import Problem
from pinn_gelu.problem_file.describe import describe_problem
from pinn_gelu.runs.rundir import (
    RunLock,
    check_output,
    check_resumable,
    make_staging,
    remove_staging,
    replace_run,
)
from pinn_gelu.runs.writers import RUN_FILES, write_run
from pinn_gelu.threads import governor_for, set_threads
from pinn_gelu.training import Trainer

__all__ = ["HELP", "add_arguments", "run"]

HELP = "train a PINN for a problem file and write a run"
#: A second stop signal this soon after the first is the same request (data-parallel runs).
SIGNAL_REPEAT_GRACE_S = 2.0


def parameter_text(name: str, estimate: dict) -> str:
    """``a = 0.3987 ± 0.0021 (truth 0.4, 0.33 % off)``, or the reason there is no ± ."""
    value = estimate["value"]
    stderr = estimate.get("stderr")
    text = f"{name} = {value:.6g}" + (f" ± {stderr:.2g}" if stderr is not None else "")
    if estimate.get("truth") is not None:
        off = estimate.get("relative_error")
        text += f"  (truth {estimate['truth']:g}" + (
            f", {100 * off:.2g} % off)" if off is not None else ")"
        )
    if estimate.get("note"):
        text += f"; {estimate['note']}"
    return text


def add_arguments(sub: argparse.ArgumentParser) -> None:
    """The arguments of ``solve``."""
    problem_arguments(sub)
    sub.add_argument("--out", help="run directory (default: runs/<problem name>)")
    sub.add_argument("--activation", help="activation spec, e.g. gelu, tanh, gelu(alpha=4)")
    sub.add_argument("--seed", type=int, help="seed for weights and points")
    sub.add_argument("--device", choices=("cpu", "cuda"), help="torch device")
    sub.add_argument("--dtype", choices=("float32", "float64"), help="floating-point precision")
    sub.add_argument("--force", action="store_true", help="overwrite a finished run directory")
    sub.add_argument(
        "--resume",
        metavar="DIR",
        help="continue the stopped run in DIR from its checkpoint (same problem file)",
    )
    sub.add_argument(
        "--threads",
        type=int,
        help="torch threads, fixed for the run (default: OMP_NUM_THREADS if set, else "
        "min(cores, 4), dropping to 1 while the machine's cores are all busy)",
    )
    sub.add_argument("--quiet", action="store_true", help="no progress bars")
    sub.add_argument("--no-plots", action="store_true", help="skip solution.png and loss.png")
    sub.add_argument(
        "--nproc",
        type=int,
        metavar="N",
        help="train data-parallel on N processes of this machine (torchrun --standalone "
        "--nproc-per-node=N; gloo on CPU, NCCL with one GPU per process); --threads is then "
        "per process, default cores/N",
    )


def run(args: argparse.Namespace) -> int:
    """``pinn-gelu solve FILE``: train, validate, write the run directory.

    The run directory is locked for the whole run. ``--force`` over an existing run writes the
    new run beside it (a staging directory inside it) and moves it over the old run's files only
    when it has ended; nothing of the old run is touched before.
    """
    if args.threads is not None and not 1 <= args.threads <= 1024:
        raise UsageError(f"--threads {args.threads}: expected a number of threads in [1, 1024]")
    if args.nproc is not None:
        return launch(args)
    set_threads(args.threads)
    problem = load(args, solve_overrides(args))
    group = from_environment(problem.training.device)
    if group.is_main:
        for caution in problem.cautions:
            print(f"warning: {caution}", file=sys.stderr)
    if not group.active:
        return _solve_on_main_rank(args, problem, group)
    code = (
        _solve_on_main_rank(args, problem, group)
        if group.is_main
        else _solve_on_other_rank(args, problem, group)
    )
    group.close()  # reached by every rank: the ranks' runs end alike
    # Everything is written and closed. Leave without the interpreter's teardown: in about 1
    # of 8 two-rank runs on CPU, a C++ thread left by torch.distributed aborted the process
    # during finalisation ("terminate called without an active exception", SIGABRT), after
    # the barrier and destroy_process_group, turning a finished run into a failed job.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _solve_on_main_rank(args: argparse.Namespace, problem: Problem, group: Any) -> int:
    """Rank 0 (or the only process): check and lock the run directory, train, write."""
    directory = check_run_directory(args, problem)
    if problem.training.device == "cuda" and not torch.cuda.is_available():
        raise ProblemFileError(
            problem.path, "training.device", "cuda requested, but torch sees no CUDA device"
        )
    print(printable(describe_problem(problem)), flush=True)
    if group.active:
        print(f"processes   {group.size} (data-parallel, rank 0 writes)", flush=True)
    with RunLock(directory, "--resume" if args.resume else "--out"):
        staging = None
        if args.resume:
            checkpoint = check_resumable(directory, problem.source)  # again, under the lock
        elif check_output(directory, args.force, RUN_FILES) is not None:
            staging = make_staging(directory)
            checkpoint = staging / "checkpoint.pt"
        else:
            checkpoint = directory / "checkpoint.pt"
        try:
            code = _train_and_write(args, problem, directory, checkpoint, staging, group)
        finally:
            if staging is not None and staging.exists():
                remove_staging(staging)  # refused or failed before the swap: the old run stays
    return code


def _train_and_write(
    args: argparse.Namespace,
    problem: Problem,
    directory: Path,
    checkpoint: Path,
    staging: Path | None,
    group: Any = None,
) -> int:
    if args.resume:
        try:
            trainer = Trainer.resume(
                problem, checkpoint, progress=not args.quiet, group=group or SINGLE
            )
        except (ProblemFileError, UsageError):
            raise
        except Exception as err:  # a checkpoint that does not fit its problem
            raise UsageError(
                f"--resume {directory}: checkpoint.pt does not fit its problem ({one_line(err)})"
            ) from None
        print(f"resuming    step {trainer.step} ({trainer.phase})")
    else:
        trainer = Trainer(
            problem, progress=not args.quiet, checkpoint=checkpoint, group=group or SINGLE
        )
    print(f"derivatives {trainer.engine_note}", flush=True)
    if trainer.chunks > 1:  # how a step holds its memory (training.step_memory)
        print(f"memory      {trainer.compile_note}", flush=True)
    governor = governor_for(args.threads) if not trainer.group.active else None
    if governor is not None:  # the default thread count follows the machine's load
        trainer.on_step.append(governor.check)
    with _stop_on_signals(trainer, distributed=trainer.group.active):
        result = trainer.run()
    reference = trainer.evaluator.source if trainer.evaluator is not None else None
    written = write_run(
        staging or directory,
        problem,
        result,
        reference=reference,
        plots=not args.no_plots,
        evaluator=trainer.evaluator,
    )
    if staging is not None:
        replace_run(directory, staging, RUN_FILES)
    print(f"status      {result.status}: {printable(result.message)}")
    for event in result.events:
        print(f"event       {printable(event)}")
    for name, value in result.relative_l2.items():
        print(f"error       relative L2 of {name} = {value:.3e}  (against the {reference})")
    coefficients = {e.coefficient for e in problem.enrichment}
    for name, estimate in result.parameters.items():
        label = "enrichment" if name in coefficients else "unknown"
        print(f"{label:<11} {parameter_text(name, estimate)}")
    print(f"time        {result.wall_time_s:.1f} s, {result.steps} steps")
    print(f"written     {directory}/ ({', '.join(p.name for p in written)}, checkpoint.pt)")
    if result.status == "interrupted":
        print(
            f"resume with: pinn-gelu solve {args.file} --resume {directory}"
            + "".join(f" --set {o}" for o in args.overrides),
            file=sys.stderr,
        )
        return 128 + (result.signal or signal.SIGINT)
    if result.status == "failed":
        print(
            f"pinn-gelu: training failed: {printable(result.message)} (see {directory}/error.txt)",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return EXIT_OK


def _solve_on_other_rank(args: argparse.Namespace, problem: Problem, group: Any) -> int:
    """A rank other than 0 of a data-parallel run: train its shard, write nothing, say nothing.

    Rank 0 checks the run directory, holds its lock and writes every file; the ranks' decisions
    (phases, stops, rollbacks) are identical, so they end together.
    """
    if args.resume:
        checkpoint = check_resumable(Path(args.resume), problem.source)
        trainer = Trainer.resume(problem, checkpoint, progress=False, group=group)
    else:
        trainer = Trainer(problem, progress=False, group=group)
    with _stop_on_signals(trainer, distributed=True):
        result = trainer.run()
    if result.status == "interrupted":
        return 128 + (result.signal or signal.SIGINT)
    return EXIT_FAILED if result.status == "failed" else EXIT_OK


@contextlib.contextmanager
def _stop_on_signals(trainer: Any, distributed: bool = False) -> Iterator[None]:
    """SIGINT/SIGTERM: stop after the current step with a checkpoint; a second one exits now.

    Exiting at once cannot corrupt the last checkpoint: checkpoints are replaced atomically.
    In a data-parallel run one Ctrl-C reaches a process twice (from the terminal, and forwarded
    by torchrun's agent): a repeat within :data:`SIGNAL_REPEAT_GRACE_S` is the same request.
    """
    names = {int(signal.SIGINT): "SIGINT (Ctrl-C)", int(signal.SIGTERM): "SIGTERM"}
    first: list[float] = []

    def handler(number: int, frame: object) -> None:
        if trainer.stop_signal is not None:
            if distributed and time.monotonic() - first[0] < SIGNAL_REPEAT_GRACE_S:
                return
            os._exit(128 + number)
        first.append(time.monotonic())
        trainer.request_stop(number)
        if not trainer.group.is_main:
            return  # rank 0 says it
        print(
            f"\n{names.get(number, number)}: stopping after this step and writing a checkpoint "
            "(again to exit at once)",
            file=sys.stderr,
        )

    previous = {number: signal.signal(number, handler) for number in names}
    try:
        yield
    finally:
        for number, old in previous.items():
            signal.signal(number, old)
