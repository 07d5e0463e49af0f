"""A fingerprint of the library's behaviour, to hold a reshape of the code to "unchanged".

For every shipped problem file: the output of ``pinn-gelu check``, and a short fixed-seed
``pinn-gelu solve`` (a few steps of each phase on few points, one thread) whose history (every
column but time), final loss, errors and trained parameters (SHA-256 of their bytes) are kept
exactly. Run it before moving code and after; the fingerprints must be equal::

    python benchmarks/behaviour.py                      # → results/behaviour.json and .txt
    python benchmarks/behaviour.py --compare results/behaviour-4c2a016.json

Bitwise agreement is a property of one machine and one torch build: compare runs made here.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import hashlib
import io
import json
import sys
import tempfile
from pathlib import Path

import torch
from _record import record

ROOT = Path(__file__).resolve().parents[1]
#: A short run of every phase; validation only at the end (small grid), one thread.
SHORT = [
    "training.adam.steps=6",
    "training.lbfgs.steps=3",
    "training.gauss_newton.steps=2",
    "training.points.interior=300",
    "training.points.boundary=120",
    "validation.every=0",
    "validation.per_phase=0",  # (a key since the fingerprint of 4c2a016: validate at the end only)
]


def _cli(argv: list[str]) -> tuple[int, str, str]:
    from pinn_gelu.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exit_:
            code = int(exit_.code or 0)
    return code, out.getvalue(), err.getvalue()


def fingerprint(path: Path) -> dict[str, object]:
    """check output, and a short solve's history, metrics and parameter hash, for one file."""
    code, text, _ = _cli(["check", str(path)])
    # the checkout's own path is not behaviour: two checkouts compare equal
    text = text.replace(str(ROOT) + "/", "")
    entry: dict[str, object] = {"check_code": code, "check": text}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        argv = ["solve", str(path), "--out", str(out), "--quiet", "--no-plots", "--threads", "1"]
        for item in SHORT:
            argv += ["--set", item]
        code, _, err = _cli(argv)
        entry["solve_code"] = code
        if code != 0:
            entry["solve_error"] = err.strip().splitlines()[-1:]
            return entry
        metrics = json.loads((out / "metrics.json").read_text())
        for volatile in ("wall_time_s",):
            metrics.pop(volatile, None)
        entry["metrics"] = metrics
        with (out / "history.csv").open() as handle:
            rows = [
                {k: v for k, v in row.items() if k != "time_s"} for row in csv.DictReader(handle)
            ]
        entry["history"] = rows
        model = torch.load(out / "model.pt", weights_only=True)
        digest = hashlib.sha256()
        for name, tensor in sorted(model["state_dict"].items()):
            digest.update(name.removeprefix("network.").encode())  # names within the network
            digest.update(tensor.contiguous().numpy().tobytes())
        entry["parameters_sha256"] = digest.hexdigest()
    return entry


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compare", help="an earlier fingerprint (JSON) that this one must equal")
    parser.add_argument("files", nargs="*", help="problem files (default: every shipped one)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    files = [Path(f) for f in args.files] or sorted((ROOT / "problems").glob("*.yaml"))
    result = {}
    for path in files:
        print(f"{path.name} ...", file=sys.stderr, flush=True)
        result[path.name] = fingerprint(path)
    rows = [
        f"{name:<30} check {entry['check_code']}  solve {entry['solve_code']}  "
        f"loss {entry.get('metrics', {}).get('final_loss', {}).get('loss', float('nan')):.17g}  "
        f"parameters {str(entry.get('parameters_sha256', ''))[:16]}"
        for name, entry in result.items()
    ]
    differ: list[str] = []
    if args.compare:
        before = json.loads(Path(args.compare).read_text())
        before = before.get("problems", before)  # a results file, or a bare fingerprint
        differ = [n for n in sorted(set(before) | set(result)) if before.get(n) != result.get(n)]
        rows.append(
            f"against {args.compare}: {len(result) - len(differ)} of {len(result)} problems "
            f"identical{': ' + ', '.join(differ) + ' differ' if differ else ''}"
        )
    record("behaviour", {"problems": result, "differ": differ}, "\n".join(rows))
    return 1 if differ else 0


if __name__ == "__main__":
    raise SystemExit(main())
