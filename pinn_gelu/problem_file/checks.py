"""Checks of a parsed problem as a whole: network size, memory estimate, training keys."""

from __future__ import annotations

import math

from pinn_gelu.config import NetworkConfig, TrainingConfig
from pinn_gelu.errors import ProblemFileError, number_text
from pinn_gelu.geometry.domain import Domain
from pinn_gelu.model.networks import parameter_count
from pinn_gelu.problem import PDE
from pinn_gelu.schema import Context
from pinn_gelu.training.adaptive import most_interior, refinements

__all__ = ["check_memory", "check_network", "check_training", "derivative_channels"]


def check_network(network: NetworkConfig, domain: Domain, pde: PDE, context: Context) -> None:
    """The network's parameter count within ``max_parameters``."""
    w, d = network.width, network.depth
    periodic = domain.periodic
    count = parameter_count(network, domain.dimension, len(pde.outputs), periodic)
    if count > context.limits.max_parameters:
        raise ProblemFileError(
            context.path,
            "network",
            f"width {number_text(w)} and depth {number_text(d)} give {number_text(count)} "
            f"parameters, more than the limit of {number_text(context.limits.max_parameters)} "
            "(max_parameters)",
        )


def derivative_channels(dimension: int, order: int) -> int:
    """Numbers carried per neuron and point: the value and the derivatives the PDE needs.

    Forward mode propagates the value, the d first derivatives and, for second-order PDEs, the
    d(d+1)/2 distinct second derivatives through every layer, and so on: C(d+k−1, k)
    distinct derivatives of each order k ≤ the PDE's (an upper bound for nested autograd,
    which keeps as many intermediate tensors of the same size).

    >>> derivative_channels(2, 2), derivative_channels(1, 4)
    (6, 5)
    """
    return sum(math.comb(dimension + k - 1, k) for k in range(max(order, 1) + 1))


def check_memory(
    network: NetworkConfig,
    training: TrainingConfig,
    grid_points: int,
    domain: Domain,
    order: int,
    context: Context,
) -> None:
    """Bound the largest tensor a run allocates, estimated before anything is allocated.

    One hidden layer on the largest point set: points × width × derivative channels × bytes
    per number. Every bound on its own can be respected while the product asks for gigabytes.
    """
    size = 8 if training.dtype == "float64" else 4
    channels = derivative_channels(domain.dimension, order)
    points = training.points
    sets = [
        ("training.points.interior", most_interior(training), channels),
        ("training.adaptive.candidates", training.adaptive.candidates, channels),
        ("training.points.boundary", points.boundary, channels),
        ("validation.grid", grid_points, 1 + domain.dimension),
    ]
    limit = context.limits.max_tensor_bytes
    for key, count, carried in sets:
        estimate = count * network.width * carried * size
        if estimate > limit:
            raise ProblemFileError(
                context.path,
                key,
                f"{number_text(count)} points × network.width {number_text(network.width)} × "
                f"{carried} derivative channels × {size} bytes ({training.dtype}) need a tensor "
                f"of {_bytes_text(estimate)}, over the limit of {_bytes_text(limit)} "
                "(max_tensor_bytes; raise it with --limit max_tensor_bytes=N if you mean it)",
            )


def _bytes_text(count: int) -> str:
    if count >= 2**60:
        return f"{number_text(count)} bytes"
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} bytes"


def check_training(training: TrainingConfig, pde: PDE, context: Context) -> None:
    """Every name under ``training.weights`` is a loss term; adaptive points within bounds."""
    most = most_interior(training)
    limit = context.limits.max_points
    adaptive = training.adaptive
    if most > limit:
        raise ProblemFileError(
            context.path,
            "training.adaptive.add",
            f"{number_text(refinements(training))} refinements (one every "
            f"{number_text(adaptive.every)} steps) adding {number_text(adaptive.add)} points each "
            f"would grow the interior to {number_text(most)} points, over the limit of "
            f"{number_text(limit)} (max_points): add fewer, refine less often, or raise the limit "
            "with --limit max_points=N",
        )
    drawn = training.points.interior if adaptive.method == "rad" else adaptive.add
    if adaptive.every and adaptive.candidates < drawn:
        what = "the interior points (rad redraws them all)" if adaptive.method == "rad" else "add"
        raise ProblemFileError(
            context.path,
            "training.adaptive.candidates",
            f"{number_text(adaptive.candidates)} candidates are fewer than the "
            f"{number_text(drawn)} points each refinement draws from them without replacement "
            f"({what})",
        )
    names = pde.term_names
    for name in training.weights:
        if name not in names:
            raise ProblemFileError(
                context.path,
                f"training.weights.{name}",
                f"unknown loss term (expected one of: {', '.join(names)})",
            )
