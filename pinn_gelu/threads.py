"""How many threads torch uses for one run: a default that serves a machine shared by runs."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable

__all__ = [
    "ThreadGovernor",
    "default_threads",
    "governor_for",
    "runnable_threads",
    "set_threads",
    "usable_cores",
]


def default_threads() -> int:
    """Torch threads of one ``solve`` unless ``--threads`` or ``OMP_NUM_THREADS`` says otherwise.

    At most 4: the networks of problem files (tens of neurons, thousands of points) gain little
    from more, and every thread more makes runs sharing a machine oversubscribe its cores
    (OpenMP spin-waiting made two solves on 2 cores each ~30× slower). While it runs, a solve
    with this default follows the machine's load (:class:`ThreadGovernor`);
    ``benchmarks/threads.py`` measures the choice.
    """
    return max(1, min(usable_cores(), 4))


def set_threads(threads: int | None) -> int:
    """Set torch's thread pools before any torch work; returns the intra-op thread count."""
    import torch

    if threads is None:
        if os.environ.get("OMP_NUM_THREADS", "").strip().isdigit():
            return torch.get_num_threads()  # torch already follows the environment
        threads = default_threads()
    torch.set_num_threads(threads)
    # allowed only once per process, before inter-op work; a second call (tests, a library
    # user's own setting) keeps the pool that exists
    with contextlib.suppress(RuntimeError):
        torch.set_num_interop_threads(threads)
    return threads


def runnable_threads() -> int | None:
    """Threads that are running or ready to run on the whole machine, now (Linux), else None.

    The fourth field of /proc/loadavg, ``R/T``: R counts this process's own running threads.
    """
    try:
        with open("/proc/loadavg", encoding="ascii") as handle:
            return int(handle.read().split()[3].split("/")[0])
    except (OSError, IndexError, ValueError):
        return None


class ThreadGovernor:
    """The default thread count, kept fair on a machine that other work shares.

    OpenMP's idle threads spin while they wait for their peers, so two runs with two threads each
    on 2 cores each ran 8× slower than alone (``benchmarks/results/threads-spin.txt``), where one
    thread each costs 1.25×. At the end of a step, at most every ``interval`` seconds, the
    governor reads the machine's runnable threads R (:func:`runnable_threads`): after
    ``patience`` readings in a row with R > cores it drops to one thread; with one thread, after
    ``patience`` readings in a row with R − 1 + target ≤ cores (the machine is free again) it
    returns to ``target``.

    The thread count changes a run's rounding (the order of parallel sums), so a run whose
    threads follow the load is not reproducible bit for bit from run to run: ``--threads N`` (or
    ``OMP_NUM_THREADS``) fixes N and turns the governor off.

    Args:
        target: the thread count when the machine is free.
        cores: the cores this process may use.
        read: how R is read (default :func:`runnable_threads`; a reading of None: not
            available, the governor does nothing).
        interval: seconds between readings (default :attr:`INTERVAL`).
        clock: seconds, monotonic.
    """

    #: Seconds between readings.
    INTERVAL = 0.25

    def __init__(
        self,
        target: int,
        cores: int,
        *,
        read: Callable[[], int | None] | None = None,
        interval: float | None = None,
        patience: int = 2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.target = target
        self.cores = cores
        self.read = read
        self.interval = self.INTERVAL if interval is None else interval
        self.patience = patience
        self.clock = clock
        self.current = target
        self.last = clock()
        self.streak = 0

    def check(self, step: int) -> str | None:
        """Read the load if due; change the thread count if it says so: returns the event."""
        now = self.clock()
        if self.target <= 1 or now - self.last < self.interval:
            return None
        self.last = now
        running = (self.read or runnable_threads)()
        if running is None:
            return None
        if self.current > 1:
            wanted = 1 if running > self.cores else self.current
        else:
            wanted = self.target if running - 1 + self.target <= self.cores else 1
        self.streak = self.streak + 1 if wanted != self.current else 0
        if self.streak < self.patience:
            return None
        import torch

        before, self.current, self.streak = self.current, wanted, 0
        torch.set_num_threads(wanted)
        why = "shared" if wanted < before else "free again"
        return (
            f"threads {before} → {wanted} at step {step}: {running} runnable threads on "
            f"{self.cores} cores (the machine is {why}; --threads N fixes the count)"
        )


def governor_for(threads: int | None) -> ThreadGovernor | None:
    """The governor of a run with the default thread count (None: chosen, or one thread)."""
    if threads is not None or os.environ.get("OMP_NUM_THREADS", "").strip():
        return None
    target = default_threads()
    return ThreadGovernor(target, usable_cores()) if target > 1 else None


def usable_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1
