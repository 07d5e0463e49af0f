"""``solve --nproc N``: check here, then run the same command in N processes under torchrun."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from collections.abc import Sequence

import torch

from pinn_gelu.cli.common import check_run_directory, load, solve_overrides
from pinn_gelu.errors import UsageError
from pinn_gelu.runs.rundir import RunLock

__all__ = ["launch"]


def launch(args: argparse.Namespace) -> int:
    """``solve --nproc N``: check the file and the run directory here, then run torchrun.

    The same command without ``--nproc`` runs in N processes under ``torch.distributed.run
    --standalone`` (a rendezvous on this machine); each gets ``--threads`` threads (default
    cores/N). Its exit code is torchrun's: 0, or 1 when a rank failed (its message above).
    """
    cores = os.cpu_count() or 1
    if not 1 <= args.nproc <= cores:
        raise UsageError(
            f"--nproc {args.nproc}: expected a number of processes in [1, {cores}] (the cores "
            "of this machine; for more, run torchrun across machines)"
        )
    if int(os.environ.get("WORLD_SIZE", "1") or 1) > 1:
        raise UsageError("--nproc inside a torchrun job would start processes per rank; drop it")
    problem = load(args, solve_overrides(args))
    directory = check_run_directory(args, problem)
    # locked by another solve, or not writable: say so here, before torchrun starts the ranks
    with RunLock(directory, "--resume" if args.resume else "--out"):
        pass
    if problem.training.device == "cuda":
        if torch.cuda.device_count() < args.nproc:
            raise UsageError(
                f"--nproc {args.nproc}: training.device is cuda, but torch sees "
                f"{torch.cuda.device_count()} CUDA device(s) (one per process)"
            )
    threads = args.threads or max(1, (os.cpu_count() or 1) // args.nproc)
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={args.nproc}",
        "-m",
        "pinn_gelu",
        *_without_nproc(args.argv),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    print(
        f"launching   {args.nproc} processes × {threads} threads: torchrun --standalone", flush=True
    )
    received: list[int] = []
    # torchrun in its own session: a signal reaches it once, from here (a terminal's Ctrl-C
    # would otherwise reach it twice), and its agent passes it on to every rank
    with subprocess.Popen(command, env=env, start_new_session=True) as process:

        def forward(number: int, frame: object) -> None:
            received.append(number)
            process.send_signal(number)

        previous = {n: signal.signal(n, forward) for n in (signal.SIGINT, signal.SIGTERM)}
        try:
            code = process.wait()
        finally:
            for number, old in previous.items():
                signal.signal(number, old)
    # torchrun ends with 1 when it was signalled; say what a single process would
    return 128 + received[0] if received and code else code


def _without_nproc(argv: Sequence[str]) -> list[str]:
    """The command line without ``--nproc N`` (or ``--nproc=N``)."""
    out, skip = [], False
    for item in argv:
        if skip:
            skip = False
        elif item == "--nproc":
            skip = True
        elif not item.startswith("--nproc="):
            out.append(item)
    return out
