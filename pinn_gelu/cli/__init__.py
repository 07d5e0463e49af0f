"""The command line: ``pinn-gelu solve | check``.

Exit codes: 0 success; 2 invalid problem file or arguments (one line on stderr naming the file,
the key and what was expected; nothing written); 1 training failed (a non-finite loss, say).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import signal
import sys
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

from pinn_gelu import __version__
from pinn_gelu.config import LIMIT_CEILINGS, Limits
from pinn_gelu.errors import PinnGeluError, ProblemFileError, UsageError, one_line, printable
from pinn_gelu.expressions import Expression
from pinn_gelu.problem import Problem
from pinn_gelu.problem_file import apply_overrides, parse_problem, read_yaml

#: A second stop signal this soon after the first is the same request (data-parallel runs).
SIGNAL_REPEAT_GRACE_S = 2.0

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``pinn-gelu``."""
    parser = _Parser(
        prog="pinn-gelu",
        description="Solve PDEs with physics-informed GELU networks, from YAML problem files.",
    )
    parser.add_argument("--version", action="version", version=f"pinn_gelu {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def problem_arguments(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("file", help="the YAML problem file")
        sub.add_argument(
            "--set",
            dest="overrides",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="override a key of the file, e.g. --set training.adam.steps=500 (repeatable)",
        )
        sub.add_argument(
            "--limit",
            dest="limits",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help="raise a bound on what the file may ask for, e.g. --limit max_points=2000000",
        )

    solve = commands.add_parser("solve", help="train a PINN for a problem file and write a run")
    problem_arguments(solve)
    solve.add_argument("--out", help="run directory (default: runs/<problem name>)")
    solve.add_argument("--activation", help="activation spec, e.g. gelu, tanh, gelu(alpha=4)")
    solve.add_argument("--seed", type=int, help="seed for weights and points")
    solve.add_argument("--device", choices=("cpu", "cuda"), help="torch device")
    solve.add_argument("--dtype", choices=("float32", "float64"), help="floating-point precision")
    solve.add_argument("--force", action="store_true", help="overwrite a finished run directory")
    solve.add_argument(
        "--resume",
        metavar="DIR",
        help="continue the stopped run in DIR from its checkpoint (same problem file)",
    )
    solve.add_argument(
        "--threads",
        type=int,
        help="torch threads (default: OMP_NUM_THREADS if set, else min(cores, 4)); use 1 when "
        "several runs share a machine",
    )
    solve.add_argument("--quiet", action="store_true", help="no progress bars")
    solve.add_argument("--no-plots", action="store_true", help="skip solution.png and loss.png")
    solve.add_argument(
        "--nproc",
        type=int,
        metavar="N",
        help="train data-parallel on N processes of this machine (torchrun --standalone "
        "--nproc-per-node=N; gloo on CPU, NCCL with one GPU per process); --threads is then "
        "per process, default cores/N",
    )

    check = commands.add_parser("check", help="validate a problem file and summarise it")
    problem_arguments(check)

    compare = commands.add_parser(
        "compare", help="train several activations and seeds on one problem and compare them"
    )
    problem_arguments(compare)
    compare.add_argument(
        "--activations",
        default="gelu,tanh,sin,silu,softplus,relu",
        help="comma-separated activation specs, e.g. 'gelu(alpha=0.5),gelu,gelu(alpha=4),relu'",
    )
    compare.add_argument("--seeds", default="0", help="comma-separated seeds, e.g. 0,1,2")
    compare.add_argument("--out", help="output directory (default: runs/<name>_compare)")
    compare.add_argument("--jobs", type=int, default=1, help="parallel processes (default 1)")
    compare.add_argument(
        "--threads",
        type=int,
        help="torch threads per run (default: cores // jobs); results are bit-identical for "
        "the same --threads whatever --jobs is",
    )
    compare.add_argument("--force", action="store_true", help="overwrite a finished comparison")
    compare.add_argument("--quiet", action="store_true", help="no progress display")

    reference = commands.add_parser(
        "reference",
        help="compute and plot the reference solution (finite differences on boxes, finite "
        "elements on 2D regions)",
    )
    problem_arguments(reference)
    reference.add_argument("--out", help="output directory (default: runs/<name>_reference)")
    reference.add_argument(
        "--points",
        type=int,
        help="finite differences (boxes): nodes per dimension (default: the file's, else 129)",
    )
    reference.add_argument(
        "--size",
        type=float,
        help="finite elements (2D regions): mesh size H (default: the file's, else diameter/100)",
    )
    return parser


def _limits(items: Sequence[str]) -> Limits:
    values: dict[str, Any] = {}
    fields = Limits.__dataclass_fields__
    for item in items:
        name, _, text = item.partition("=")
        if name not in fields:
            raise UsageError(
                f"--limit {printable(repr(item[:80]))}: unknown limit (expected one of: "
                f"{', '.join(fields)})"
            )
        kind = float if fields[name].type in ("float", float) else int
        shown = printable(repr(item if len(item) <= 80 else item[:77] + "..."))
        try:
            value = kind(text)
        except ValueError:
            whole = "a whole number" if kind is int else "a number"
            raise UsageError(f"--limit {shown}: expected {whole}") from None
        if not math.isfinite(value) or value <= 0:
            raise UsageError(f"--limit {shown}: expected a finite number > 0")
        ceiling = LIMIT_CEILINGS.get(name)
        if ceiling is not None and value > ceiling:
            raise UsageError(
                f"--limit {shown}: at most {ceiling} (Python's recursion bound; no --limit can "
                "raise it further)"
            )
        values[name] = value
    return Limits(**values)


def load(args: argparse.Namespace, extra: Sequence[str] = ()) -> tuple[Problem, dict[str, Any]]:
    """Read, override and validate the problem file of a command; (problem, data as run)."""
    data = read_yaml(args.file)
    data = apply_overrides(data, [*extra, *args.overrides])
    problem = parse_problem(data, args.file, limits=_limits(args.limits))
    return problem, data


def _solve_overrides(args: argparse.Namespace) -> list[str]:
    overrides = []
    if args.activation is not None:
        overrides.append(f"network.activation={args.activation}")
    if args.seed is not None:
        if args.seed < 0:
            raise UsageError("--seed must be ≥ 0")
        overrides.append(f"training.seed={args.seed}")
    if args.device is not None:
        overrides.append(f"training.device={args.device}")
    if args.dtype is not None:
        overrides.append(f"training.dtype={args.dtype}")
    return overrides


def _phase_text(training: Any, name: str) -> str:
    """One phase of the schedule in the summary: ``adam 1000 steps (lr 0.002)``."""
    config = getattr(training, name)
    if config.steps == 0:
        return f"{name} skipped"
    if name == "adam":
        return f"adam {config.steps} steps (lr {config.lr:g})"
    return f"{name} {config.steps} {'iterations' if name == 'lbfgs' else 'steps'}"


def _weight_text(problem: Problem, term: str) -> str:
    """``100``, or a weight per point's expression in quotes."""
    value = problem.training.weights.get(term)
    if isinstance(value, Expression):
        return repr(value.source)
    return f"{problem.weight(term):g}"


def describe_problem(problem: Problem) -> str:
    """A readable summary of a validated problem."""
    t, n = problem.training, problem.network
    lines = [
        f"problem     {problem.name}  ({problem.path})",
        f"equation    {problem.pde.describe()}",
        *_domain_lines(problem),
        "boundary",
    ]
    components = problem.pde.boundary_components
    equations = problem.equations()
    for side, conditions in problem.resolved_boundary().items():
        parts = [
            f"{name + ': ' if len(components) > 1 else ''}{entry[0]} "
            f"{getattr(entry[1], 'source', entry[1])}"
            for name, entry in zip(components, conditions, strict=True)
            if entry is not None
        ]
        parts += [f"equation {r.source} = 0" for s, r in equations if s == side]
        if not parts:
            parts = ["no condition"]
        lines.append(f"  {_part_label(problem, side):<6}    {'; '.join(parts)}")
    if problem.exact:
        exact = "; ".join(f"{k} = {v.source}" for k, v in problem.exact.items())
        lines.append(f"exact       {exact}")
    if problem.reference is not None and problem.reference.method == "finite_element":
        size = problem.reference.size
        lines.append(
            "reference   finite elements (P2), mesh size "
            + (f"{size:g}" if size is not None else "default (diameter / 100)")
        )
    elif problem.reference is not None:
        lines.append(
            f"reference   finite differences, {problem.reference.points} points per dimension"
        )
    lines += [
        f"network     {n.activation}, width {n.width}, depth {n.depth}, init {n.init}, "
        f"outputs {', '.join(problem.pde.outputs)}",
        f"points      {t.points.interior} interior, {t.points.boundary} boundary "
        f"({t.points.sampler})",
        f"training    {', '.join(_phase_text(t, name) for name in t.schedule)}; "
        f"{t.dtype} on {t.device}; seed {t.seed}",
        "weights     "
        + ", ".join(f"{name} {_weight_text(problem, name)}" for name in problem.pde.term_names),
    ]
    return "\n".join(lines)


def _domain_lines(problem: Problem) -> list[str]:
    """The domain in the summary: a box's bounds, or a region's shapes and expression."""
    from pinn_gelu.geometry.domain import RegionDomain

    domain = problem.domain
    bounds = " × ".join(f"[{a:g}, {b:g}]" for a, b in domain.bounds)
    variables = ", ".join(domain.variables)
    if not isinstance(domain, RegionDomain):
        return [f"domain      {bounds}  (variables {variables})"]
    measure = {1: "length", 2: "area", 3: "volume"}[domain.dimension]
    lines = [
        f"domain      region {domain.region.expression!r} in {bounds}  (variables {variables}; "
        f"{measure} {domain.volume:.6g})",
        "shapes",
    ]
    for name, shape in domain.region.shapes.items():
        lines.append(f"  {name:<6}    {_shape_text(shape)}")
    return lines


def _shape_text(shape: Any) -> str:
    """``rectangle [0, 4] × [0, 4]``, ``disk centre (0, 0), radius 1``, ``polygon, 6 vertices``."""
    from pinn_gelu.geometry.primitives import Disk, Polygon

    if isinstance(shape, Disk):
        centre = ", ".join(f"{c:g}" for c in shape.center)
        kind = "disk" if shape.dimension == 2 else "ball"
        return f"{kind} centre ({centre}), radius {shape.radius:g}"
    if isinstance(shape, Polygon):
        return (
            f"polygon, {len(shape.vertices)} vertices (edges edge0 … edge{len(shape.vertices) - 1})"
        )
    return "rectangle " + " × ".join(f"[{a:g}, {b:g}]" for a, b in shape.bounds)


def _part_label(problem: Problem, side: str) -> str:
    """A box's side as is; a region's part with its measure on the region's boundary."""
    from pinn_gelu.geometry.domain import RegionDomain

    domain = problem.domain
    if not isinstance(domain, RegionDomain):
        return side
    word = {1: "point", 2: "length", 3: "area"}[domain.dimension]
    return f"{side} ({word} {domain.side_measure(side):.4g})"


def _print_warning(
    message: Warning | str, category: type[Warning], *args: object, **kw: object
) -> None:
    print(f"warning: {message}", file=sys.stderr)


def _check_output(directory: Path, force: bool) -> str | None:
    """Refuse an output directory that a new run must not write; its run status (None: none).

    Writes nothing: called before the lock is taken and again under it.
    """
    from pinn_gelu.runs.rundir import foreign_entries, run_status

    if directory.exists() and not directory.is_dir():
        raise UsageError(f"--out {directory}: exists and is not a directory")
    status = run_status(directory)
    if status is None:
        found = foreign_entries(directory)
        if found:
            raise UsageError(
                f"--out {directory}: not empty and not a pinn_gelu run directory (it holds "
                f"{printable(found[0])!r}{' and more' if len(found) > 1 else ''}); choose a new "
                "or empty directory"
            )
        return None
    if not force:
        if status == "completed":
            raise UsageError(
                f"{directory} holds a finished run; use --force to overwrite it or --out for "
                "another directory"
            )
        raise UsageError(
            f"{directory} holds a {status} run; continue it with --resume {directory}, or start "
            "over with --force"
        )
    return status


def _check_resumable(directory: Path, data: dict[str, Any]) -> Path:
    from pinn_gelu.checkpoints import RESUMABLE_CHANGES, read_checkpoint, resume_conflicts
    from pinn_gelu.runs.rundir import run_status

    checkpoint = directory / "checkpoint.pt"
    if not checkpoint.is_file():
        raise UsageError(f"--resume {directory}: no checkpoint.pt there, nothing to resume")
    if run_status(directory) == "completed":
        raise UsageError(f"--resume {directory}: that run is already finished")
    try:
        stored = read_checkpoint(checkpoint)["problem"]
    except Exception as err:  # any unreadable checkpoint is a usage error, not a traceback
        raise UsageError(f"--resume {directory}: {one_line(err)}") from None
    if not isinstance(stored, dict):
        raise UsageError(f"--resume {directory}: checkpoint.pt: 'problem' is not a mapping")
    changed = resume_conflicts(stored, data)
    if changed:
        raise UsageError(
            f"--resume {directory}: the problem differs from the checkpoint's at "
            f"{printable(changed[0])} (only {', '.join(RESUMABLE_CHANGES)} may change)"
        )
    return checkpoint


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


def cmd_check(args: argparse.Namespace) -> int:
    """``pinn-gelu check FILE``: validate and summarise."""
    problem, _ = load(args)
    from pinn_gelu.activations import order_warning

    evaluate_inputs(problem)
    print(printable(describe_problem(problem)))
    message = order_warning(problem.network.activation, problem.order, problem.pde.kind)
    if message:
        print(f"warning: {message}", file=sys.stderr)
    print("ok: the problem file is valid")
    return EXIT_OK


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


def evaluate_inputs(problem: Problem, *, evaluator: bool = True) -> None:
    """Evaluate every expression where ``solve`` evaluates it, without training.

    The collocation points are sampled as ``solve`` samples them and the loss targets computed
    on them (a source infinite at a boundary point is refused here, as there), then the
    validation grid and its reference values (``evaluator``).

    Raises:
        ProblemFileError: an expression is not finite at some point.
    """
    from pinn_gelu.collocation import sample_collocation
    from pinn_gelu.config import DTYPES
    from pinn_gelu.metrics import build_evaluator

    dtype = DTYPES[problem.training.dtype]
    points = sample_collocation(
        problem.domain,
        problem.training.points,
        problem.training.seed,
        dtype=dtype,
        device="cpu",
        sides=problem.boundary_sides,
    )
    problem.terms(points)
    if evaluator:
        build_evaluator(problem, dtype, "cpu")


def cmd_solve(args: argparse.Namespace) -> int:
    """``pinn-gelu solve FILE``: train, validate, write the run directory.

    The run directory is locked for the whole run. ``--force`` over an existing run writes the
    new run beside it (a staging directory inside it) and moves it over the old run's files only
    when it has ended; nothing of the old run is touched before.
    """
    if args.threads is not None and not 1 <= args.threads <= 1024:
        raise UsageError(f"--threads {args.threads}: expected a number of threads in [1, 1024]")
    if args.nproc is not None:
        return _launch(args)
    set_threads(args.threads)
    problem, data = load(args, _solve_overrides(args))
    from pinn_gelu.distributed import from_environment

    group = from_environment(problem.training.device)
    if not group.active:
        return _solve_on_main_rank(args, problem, data, group)
    code = (
        _solve_on_main_rank(args, problem, data, group)
        if group.is_main
        else _solve_on_other_rank(args, problem, data, group)
    )
    group.close()  # reached by every rank: the ranks' runs end alike
    # Everything is written and closed. Leave without the interpreter's teardown: in about 1
    # of 8 two-rank runs on CPU, a C++ thread left by torch.distributed aborted the process
    # during finalisation ("terminate called without an active exception", SIGABRT), after
    # the barrier and destroy_process_group, turning a finished run into a failed job.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _check_run_directory(args: argparse.Namespace, problem: Problem, data: Any) -> Path:
    """The run directory of ``solve``, checked: resumable with ``--resume``, else writable."""
    if args.resume:
        directory = Path(args.resume)
        if args.out and Path(args.out) != directory:
            raise UsageError("--out and --resume name different directories")
        _check_resumable(directory, data)
    else:
        directory = Path(args.out) if args.out else Path("runs") / problem.name
        _check_output(directory, args.force)
    return directory


def _solve_on_main_rank(args: argparse.Namespace, problem: Problem, data: Any, group: Any) -> int:
    """Rank 0 (or the only process): check and lock the run directory, train, write."""
    directory = _check_run_directory(args, problem, data)
    import torch

    if problem.training.device == "cuda" and not torch.cuda.is_available():
        raise ProblemFileError(
            problem.path, "training.device", "cuda requested, but torch sees no CUDA device"
        )
    from pinn_gelu.runs.rundir import RunLock, make_staging, remove_staging

    print(printable(describe_problem(problem)), flush=True)
    if group.active:
        print(f"processes   {group.size} (data-parallel, rank 0 writes)", flush=True)
    with RunLock(directory, "--resume" if args.resume else "--out"):
        staging = None
        if args.resume:
            checkpoint = _check_resumable(directory, data)  # again, under the lock
        elif _check_output(directory, args.force) is not None:
            staging = make_staging(directory)
            checkpoint = staging / "checkpoint.pt"
        else:
            checkpoint = directory / "checkpoint.pt"
        try:
            code = _train_and_write(args, problem, data, directory, checkpoint, staging, group)
        finally:
            if staging is not None and staging.exists():
                remove_staging(staging)  # refused or failed before the swap: the old run stays
    return code


def _train_and_write(
    args: argparse.Namespace,
    problem: Problem,
    data: dict[str, Any],
    directory: Path,
    checkpoint: Path,
    staging: Path | None,
    group: Any = None,
) -> int:
    from pinn_gelu.distributed import SINGLE
    from pinn_gelu.runs.rundir import replace_run
    from pinn_gelu.runs.writers import write_run
    from pinn_gelu.training import Trainer

    if args.resume:
        try:
            trainer = Trainer.resume(
                problem,
                checkpoint,
                progress=not args.quiet,
                problem_data=data,
                group=group or SINGLE,
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
            problem,
            progress=not args.quiet,
            checkpoint=checkpoint,
            problem_data=data,
            group=group or SINGLE,
        )
    print(f"derivatives {trainer.engine_note}", flush=True)
    with _stop_on_signals(trainer, distributed=trainer.group.active):
        result = trainer.run()
    reference = trainer.evaluator.source if trainer.evaluator is not None else None
    written = write_run(
        staging or directory,
        problem,
        data,
        result,
        reference=reference,
        plots=not args.no_plots,
        evaluator=trainer.evaluator,
    )
    if staging is not None:
        replace_run(directory, staging)
    print(f"status      {result.status}: {printable(result.message)}")
    for event in result.events:
        print(f"event       {printable(event)}")
    for name, value in result.relative_l2.items():
        print(f"error       relative L2 of {name} = {value:.3e}  (against the {reference})")
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


def _solve_on_other_rank(args: argparse.Namespace, problem: Problem, data: Any, group: Any) -> int:
    """A rank other than 0 of a data-parallel run: train its shard, write nothing, say nothing.

    Rank 0 checks the run directory, holds its lock and writes every file; the ranks' decisions
    (phases, stops, rollbacks) are identical, so they end together.
    """
    from pinn_gelu.training import Trainer

    if args.resume:
        checkpoint = _check_resumable(Path(args.resume), data)
        trainer = Trainer.resume(
            problem, checkpoint, progress=False, problem_data=data, group=group
        )
    else:
        trainer = Trainer(problem, progress=False, problem_data=data, group=group)
    with _stop_on_signals(trainer, distributed=True):
        result = trainer.run()
    if result.status == "interrupted":
        return 128 + (result.signal or signal.SIGINT)
    return EXIT_FAILED if result.status == "failed" else EXIT_OK


def _launch(args: argparse.Namespace) -> int:
    """``solve --nproc N``: check the file and the run directory here, then run torchrun.

    The same command without ``--nproc`` runs in N processes under ``torch.distributed.run
    --standalone`` (a rendezvous on this machine); each gets ``--threads`` threads (default
    cores/N). Its exit code is torchrun's: 0, or 1 when a rank failed (its message above).
    """
    import subprocess

    cores = os.cpu_count() or 1
    if not 1 <= args.nproc <= cores:
        raise UsageError(
            f"--nproc {args.nproc}: expected a number of processes in [1, {cores}] (the cores "
            "of this machine; for more, run torchrun across machines)"
        )
    if int(os.environ.get("WORLD_SIZE", "1") or 1) > 1:
        raise UsageError("--nproc inside a torchrun job would start processes per rank; drop it")
    problem, data = load(args, _solve_overrides(args))
    _check_run_directory(args, problem, data)
    if problem.training.device == "cuda":
        import torch

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


def cmd_reference(args: argparse.Namespace) -> int:
    """``pinn-gelu reference FILE``: the reference solution, its plot and its error.

    The method is the domain's (:func:`~pinn_gelu.reference.method_for`): finite differences on
    boxes, finite elements on 2D regions.
    """
    problem, _ = load(args)
    from pinn_gelu.reference import method_for

    try:
        method = method_for(problem.domain, problem.pde.kind)
    except ValueError as err:
        raise ProblemFileError(problem.path, "domain", str(err)) from None
    if method.name == "finite_element":
        return _fem_reference(args, problem)
    if args.size is not None:
        raise UsageError("--size is the mesh size of a finite-element reference (regions only)")
    if args.points is not None and not 3 <= args.points <= 100_000:
        raise UsageError("--points must be between 3 and 100000")
    points = args.points or (problem.reference.points if problem.reference else 129)
    unknowns = points**problem.domain.dimension
    if unknowns > problem.limits.max_fd_unknowns:
        raise UsageError(
            f"--points {points} gives {unknowns} unknowns, over the limit of "
            f"{problem.limits.max_fd_unknowns} (raise it with --limit max_fd_unknowns=N)"
        )
    directory = Path(args.out) if args.out else Path("runs") / f"{problem.name}_reference"
    from pinn_gelu.reference import solve_reference
    from pinn_gelu.runs.writers import write_reference

    evaluate_inputs(problem, evaluator=False)
    try:
        solution = solve_reference(problem, points)
    except ValueError as err:
        raise ProblemFileError(problem.path, "reference.finite_difference", str(err)) from None
    import numpy as np

    for name, values in solution.fields.items():
        if not np.isfinite(values).all():
            raise ProblemFileError(
                problem.path,
                "pde",
                f"the finite-difference solution of {name} is not finite at "
                f"{int((~np.isfinite(values)).sum())} nodes (an expression is infinite or too "
                "large on the grid); nothing written",
            )
    summary = write_reference(directory, problem, solution)
    grid = "×".join([str(points)] * problem.domain.dimension)
    print(
        f"finite differences on {grid} nodes: {summary['unknowns']} unknowns, solved in "
        f"{summary['solve_time_s']:.2f} s"
    )
    return _report_reference(directory, summary)


def _report_reference(directory: Path, summary: Mapping[str, Any]) -> int:
    """The errors against the exact solution and the files written, after a reference solve."""
    for name, value in summary["relative_l2_vs_exact"].items():
        print(f"error       relative L2 of {name} against the exact solution = {value:.3e}")
    written = sorted(
        p.name for p in directory.iterdir() if p.name.startswith(("reference", "deform"))
    )
    print(f"written     {directory}/ ({', '.join(written)})")
    return EXIT_OK


def _fem_reference(args: argparse.Namespace, problem: Problem) -> int:
    """The finite-element half of ``pinn-gelu reference``."""
    if args.points is not None:
        raise UsageError("--points is for finite differences; a region takes --size H")
    if args.size is not None and not (math.isfinite(args.size) and args.size > 0):
        raise UsageError("--size must be a positive number")
    directory = Path(args.out) if args.out else Path("runs") / f"{problem.name}_reference"
    from pinn_gelu.errors import GeometryError
    from pinn_gelu.reference import solve_reference
    from pinn_gelu.runs.writers import write_fem_reference

    evaluate_inputs(problem, evaluator=False)
    try:
        solution = solve_reference(problem, args.size)
    except (ValueError, GeometryError) as err:
        raise ProblemFileError(problem.path, "reference.finite_element", str(err)) from None
    summary = write_fem_reference(directory, problem, solution)
    print(
        f"finite elements (P2) on {summary['triangles']} triangles, H = {summary['size']:.3g}: "
        f"{summary['unknowns']} unknowns, solved in {summary['solve_time_s']:.2f} s"
    )
    return _report_reference(directory, summary)


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(item) for item in text.split(",")]
    except ValueError:
        raise UsageError(f"--seeds {text!r}: expected whole numbers separated by commas") from None
    if any(seed < 0 for seed in seeds) or len(set(seeds)) != len(seeds):
        raise UsageError(f"--seeds {text!r}: expected distinct seeds ≥ 0")
    return seeds


def cmd_compare(args: argparse.Namespace) -> int:
    """``pinn-gelu compare FILE``: every (activation, seed), then a table and a figure."""
    from pinn_gelu.activations import ActivationSpec, order_warning
    from pinn_gelu.compare import compare, split_specs

    try:
        specs = split_specs(args.activations)
        activations = [ActivationSpec.parse(spec) for spec in specs]
    except ValueError as err:
        raise UsageError(f"--activations: {err}") from None
    seeds = _seeds(args.seeds)
    if args.jobs < 1 or (args.threads is not None and args.threads < 1):
        raise UsageError("--jobs and --threads must be at least 1")
    problem, _ = load(args)
    if len({a.spec for a in activations}) != len(activations):
        raise UsageError(f"--activations {args.activations!r}: an activation is listed twice")
    directory = Path(args.out) if args.out else Path("runs") / f"{problem.name}_compare"
    if (directory / "comparison.json").exists() and not args.force:
        raise UsageError(
            f"{directory} holds a finished comparison; use --force to overwrite it or --out"
        )
    for activation in activations:
        message = order_warning(activation, problem.order, problem.pde.kind)
        if message:
            print(f"warning: {message}", file=sys.stderr)
    from pinn_gelu.runs.writers import write_comparison

    comparison = compare(
        args.file,
        [a.spec for a in activations],
        seeds,
        overrides=args.overrides,
        jobs=args.jobs,
        threads=args.threads,
        limits=_limits(args.limits),
        progress=not args.quiet,
    )
    written = write_comparison(directory, comparison)
    print(comparison.markdown())
    print(f"written     {directory}/ ({', '.join(p.name for p in written)})")
    failed = sum(r["status"] != "completed" for r in comparison.runs)
    return EXIT_OK if failed == 0 else EXIT_FAILED


COMMANDS = {
    "solve": cmd_solve,
    "check": cmd_check,
    "compare": cmd_compare,
    "reference": cmd_reference,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``pinn-gelu`` and ``python -m pinn_gelu``; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _print_warning
            return COMMANDS[args.command](args)
    except (ProblemFileError, UsageError) as err:
        print(f"pinn-gelu: error: {printable(str(err))}", file=sys.stderr)
        return EXIT_USAGE
    except PinnGeluError as err:
        print(f"pinn-gelu: error: {printable(str(err))}", file=sys.stderr)
        return EXIT_FAILED
