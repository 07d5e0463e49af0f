"""The automatic schedule: what a file that says nothing about its optimisers is trained with.

``training.schedule: auto`` (the default) becomes, once, while the file is parsed:

1. the phases the file configures, when it names exactly one of ``training.lbfgs`` and
   ``training.gauss_newton`` (Adam first): a file that sets ``lbfgs: {steps: 3000}`` meant
   L-BFGS;
2. otherwise Adam then Gauss–Newton, on a 20×3 network unless the file states the network's
   size, when one Gauss–Newton step is affordable: its Jacobian and Gram matrix fit
   ``max_gauss_newton_bytes`` and the Gram matrix costs at most :data:`MAX_STEP_FLOPS`
   (N·P·min(N, P) multiply-adds for N residual rows and P parameters, in the sample space when
   N < P: about 0.3 s on one core of the 2-core machine of ``benchmarks/``);
3. otherwise Adam then L-BFGS, on a 50×4 network unless the file states its size.

The rows are estimated before any point is drawn, as (interior + boundary points) × the
network's outputs (an upper bound for every shipped PDE kind), plus the observation data's
values. Why: measured on every shipped
problem with its training and network sections removed (``benchmarks/defaults.py``,
``benchmarks/results/defaults.txt``), Adam then Gauss–Newton on 20×3 beat Adam then L-BFGS on
50×4 on error and time; the README's table of defaults comes from that file. ``pinn-gelu check``
prints the choice and its reason (:attr:`Problem.decisions`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from pinn_gelu.config import Limits, NetworkConfig, TrainingConfig
from pinn_gelu.errors import number_text

__all__ = ["AUTO", "MAX_STEP_FLOPS", "Choice", "choose_schedule", "parameter_count"]

AUTO = ("auto",)
#: Most multiply-adds of one Gauss–Newton Gram matrix for the automatic schedule to choose it.
MAX_STEP_FLOPS = 2e10
#: (width, depth) of the network under each automatic schedule, when the file states neither.
SIZES = {"gauss_newton": (20, 3), "lbfgs": (50, 4)}


@dataclass(frozen=True)
class Choice:
    """The resolved schedule and network, and why, in one line for ``check``."""

    training: TrainingConfig
    network: NetworkConfig
    reason: str


def parameter_count(network: NetworkConfig, inputs: int, outputs: int) -> int:
    """Trainable parameters of a width × depth MLP.

    >>> parameter_count(NetworkConfig(width=20, depth=3), 2, 1)
    921
    """
    w, d = network.width, network.depth
    return (inputs + 1) * w + (d - 1) * (w + 1) * w + (w + 1) * outputs


def choose_schedule(
    training: TrainingConfig,
    network: NetworkConfig,
    stated: Mapping[str, Any],
    *,
    inputs: int,
    outputs: int,
    limits: Limits,
    data_rows: int = 0,
) -> Choice | None:
    """Resolve ``schedule: auto`` (None when the file names its schedule).

    Args:
        training: the parsed ``training`` section.
        network: the parsed ``network`` section.
        stated: the file's data, to see which keys it states (``training.lbfgs``,
            ``network.width``, …).
        inputs: the network's inputs (coordinates, time included).
        outputs: the network's outputs.
        limits: the run's limits (``max_gauss_newton_bytes``).
        data_rows: the residual rows of the observation data (values × quantities).
    """
    if training.schedule != AUTO:
        return None
    section = stated.get("training")
    said = set(section) if isinstance(section, dict) else set()
    net = stated.get("network")
    sized = set(net) & {"width", "depth"} if isinstance(net, dict) else set()
    configured = [name for name in ("lbfgs", "gauss_newton") if name in said]
    if len(configured) == 1:
        second = configured[0]
        reason = f"the file configures training.{second}"
    else:
        candidate = _sized(network, sized, "gauss_newton")
        second, reason = _affordable(candidate, training, inputs, outputs, limits, data_rows)
    network = _sized(network, sized, second)
    size = f"{network.width}×{network.depth} network"
    if sized != {"width", "depth"}:
        size += " (automatic)"
    return Choice(
        replace(training, schedule=("adam", second)),
        network,
        f"adam, {second} on a {size}: {reason}",
    )


def _sized(network: NetworkConfig, stated: set[str], second: str) -> NetworkConfig:
    """The network with the automatic size for ``second`` where the file states none."""
    width, depth = SIZES[second]
    return replace(
        network,
        width=network.width if "width" in stated else width,
        depth=network.depth if "depth" in stated else depth,
    )


def _affordable(
    network: NetworkConfig,
    training: TrainingConfig,
    inputs: int,
    outputs: int,
    limits: Limits,
    data_rows: int,
) -> tuple[str, str]:
    """("gauss_newton" or "lbfgs", why) for the Gauss–Newton step's memory and cost."""
    rows = (training.points.interior + training.points.boundary) * max(outputs, 1) + data_rows
    p = parameter_count(network, inputs, outputs)
    small = min(rows, p)
    needed = 8 * (rows * p + small * small)
    flops = rows * p * small
    what = f"about {number_text(rows)} residual rows × {number_text(p)} parameters"
    if needed > limits.max_gauss_newton_bytes:
        return "lbfgs", (
            f"Gauss–Newton's Jacobian ({what}) would need {needed / 2**30:.1f} GiB, over "
            "max_gauss_newton_bytes"
        )
    if flops > MAX_STEP_FLOPS:
        return "lbfgs", (
            f"one Gauss–Newton step ({what}) would cost {flops:.1e} multiply-adds, over "
            f"{MAX_STEP_FLOPS:.0e}"
        )
    return "gauss_newton", f"one Gauss–Newton step ({what}) is affordable"
