"""The default thread count follows the machine's load (ThreadGovernor); a chosen one does not."""

from __future__ import annotations

import torch

from pinn_gelu.threads import ThreadGovernor, governor_for, runnable_threads


class Machine:
    """A clock and a /proc/loadavg reading that the test sets."""

    def __init__(self) -> None:
        self.now = 0.0
        self.running: int | None = 2

    def clock(self) -> float:
        return self.now

    def read(self) -> int | None:
        return self.running


def governed(machine: Machine, target: int = 2, cores: int = 2) -> ThreadGovernor:
    return ThreadGovernor(target, cores, read=machine.read, clock=machine.clock)


def ticks(governor: ThreadGovernor, machine: Machine, readings: list[int | None]) -> list:
    events = []
    for step, running in enumerate(readings, start=1):
        machine.now += 1.0
        machine.running = running
        events.append(governor.check(step))
    return events


def test_it_drops_to_one_thread_when_shared_and_returns_when_free(monkeypatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(torch, "set_num_threads", calls.append)
    machine = Machine()
    governor = governed(machine)
    # alone: its own 2 threads on 2 cores; one busy reading is not enough (patience 2)
    assert ticks(governor, machine, [2, 2, 4, 2, 2]) == [None] * 5 and calls == []
    events = ticks(governor, machine, [4, 4])
    assert events[0] is None and events[1].startswith("threads 2 → 1 at step 2: 4 runnable")
    assert calls == [1] and governor.current == 1
    # still shared (itself 1 + another run's 2): stays at one thread
    assert ticks(governor, machine, [3, 2, 3, 2]) == [None] * 4 and calls == [1]
    # the other run has ended: only itself runs
    events = ticks(governor, machine, [1, 1])
    assert events[1] is not None and "threads 1 → 2" in events[1] and "free again" in events[1]
    assert calls == [1, 2] and governor.current == 2


def test_it_reads_at_most_once_per_interval_and_not_without_a_reading(monkeypatch) -> None:
    monkeypatch.setattr(torch, "set_num_threads", lambda n: None)
    machine = Machine()
    reads = []
    governor = ThreadGovernor(
        2, 2, read=lambda: reads.append(1) or 5, clock=machine.clock, interval=1.0
    )
    for step in range(10):  # 10 steps within 0.5 s
        machine.now += 0.05
        assert governor.check(step) is None
    assert reads == []
    blind = governed(machine)
    machine.running = None  # not Linux: nothing to read
    assert ticks(blind, machine, [None] * 5) == [None] * 5 and blind.current == 2


def test_one_thread_and_a_chosen_count_are_not_governed(monkeypatch) -> None:
    machine = Machine()
    assert ticks(governed(machine, target=1), machine, [9, 9, 9]) == [None] * 3
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert governor_for(3) is None
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert governor_for(None) is None


def test_the_runnable_count_is_read_from_proc_loadavg(tmp_path, monkeypatch) -> None:
    import builtins
    import os

    if os.path.exists("/proc/loadavg"):
        assert runnable_threads() >= 1  # this test's own thread is running
    real = builtins.open
    fake = tmp_path / "loadavg"
    fake.write_text("0.52 0.80 1.10 3/412 9999\n")
    monkeypatch.setattr(
        builtins, "open", lambda f, *a, **k: real(fake if f == "/proc/loadavg" else f, *a, **k)
    )
    assert runnable_threads() == 3
    fake.write_text("garbled\n")
    assert runnable_threads() is None


def test_a_solve_with_the_default_threads_reports_what_the_governor_did(
    tmp_path, monkeypatch, capsys
) -> None:
    import json

    import pinn_gelu.threads as threads
    from pinn_gelu.cli import main

    from .conftest import PROBLEMS

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "usable_cores", lambda: 2)
    monkeypatch.setattr(threads, "runnable_threads", lambda: 7)  # a busy machine
    monkeypatch.setattr(threads.ThreadGovernor, "INTERVAL", 0.0)
    out = tmp_path / "run"
    overrides = ["training.adam.steps=5", "training.gauss_newton.steps=0"]
    arguments = [a for o in overrides for a in ("--set", o)]
    try:
        code = main(["solve", str(PROBLEMS / "poisson_2d.yaml"), *arguments, "--out", str(out)])
        assert code == 0
        assert torch.get_num_threads() == 1
        chosen = main(["solve", str(PROBLEMS / "poisson_2d.yaml"), *arguments, "--threads", "2",
                       "--out", str(tmp_path / "chosen")])  # fmt: skip
        assert chosen == 0 and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(1)
    printed = capsys.readouterr().out
    event = "threads 2 → 1 at step 2: 7 runnable threads on 2 cores (the machine is shared"
    assert printed.count(event) == 1  # the first run only
    assert any(event in e for e in json.loads((out / "metrics.json").read_text())["events"])
