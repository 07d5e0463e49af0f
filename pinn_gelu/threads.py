"""How many threads torch uses for one run: a default that serves a machine shared by runs."""

from __future__ import annotations

import contextlib
import os

__all__ = ["default_threads", "set_threads"]


def default_threads() -> int:
    """Torch threads of one ``solve`` unless ``--threads`` or ``OMP_NUM_THREADS`` says otherwise.

    At most 4: the networks of problem files (tens of neurons, thousands of points) gain little
    from more, and every thread more makes runs sharing a machine oversubscribe its cores
    (OpenMP spin-waiting made two solves on 2 cores each ~30× slower). ``--threads 1`` for runs
    sharing a machine; ``benchmarks/threads.py`` measures the choice.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(cores, 4))


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
