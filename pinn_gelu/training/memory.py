"""The memory a training step holds, measured on a probe before any training.

A step evaluates every loss term on every collocation point and keeps, for the gradient, every
tensor autograd saves: for a k-th order residual, each layer's jets (the value and the
derivatives it carries, Faà di Bruno's products of them, the activation's derivatives up to
order k) for each of the ``depth`` layers, for each term. A count from the network's size
alone (points × width × derivative channels, :func:`pinn_gelu.problem_file.checks.
check_memory`) misses most of it: for u_t + Δ²u in 3D + time it said 560 MB at 20,000 points
where 4,000 points already used 6.2 GB.

So the run measures instead of counting: :func:`step_bytes` evaluates the loss and its gradient
on a probe of :data:`PROBE_POINTS` points drawn like the run's (same domain, sampler, terms,
network and engine), sums the bytes of the distinct storages autograd saves
(:func:`torch.autograd.graph.saved_tensors_hooks`; the parameters, saved by every layer but not
per point, are left out) and scales the sum to the run's points: every saved tensor has one row
per point. torch.func (``training.derivatives: func``) refuses saved-tensor hooks: its probe
measures the same derivatives by the path ``auto`` would take (forward mode on the library's
networks), an estimate of the same order (see the README's step table).

The peak of a step is larger than what it saves (transient products of the jets):
:data:`PEAK_FACTOR` times, measured. The probe costs one step on 64 points (0.2 s for that
fourth-order example in forward mode; nested autograd, for which it is expensive, takes about a
minute there, and would need 30 GiB for 1,000 points).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn

from pinn_gelu.derivatives import autograd_fields, select_engine
from pinn_gelu.fields import Engine
from pinn_gelu.loss import Loss
from pinn_gelu.problem import Problem

__all__ = ["PEAK_FACTOR", "PROBE_POINTS", "step_bytes"]

#: Points of the probe (interior, boundary and each data file's rows in the run's proportion).
PROBE_POINTS = 64
#: Peak memory of a step over the bytes it saves: measured 1.44 (1,000 points) and 1.54 (4,000)
#: for u_t + Δ²u in 3D + time on a 50×4 network in forward mode (peak resident-set growth).
PEAK_FACTOR = 1.6


def step_bytes(problem: Problem, model: nn.Module, engine: Engine, dtype: torch.dtype) -> int:
    """The bytes autograd saves for one step on all of the problem's points (an estimate)."""
    config = problem.training.points
    rows = [len(o.points) for o in problem.observations]
    total = config.interior + config.boundary + sum(rows)
    share = min(1.0, PROBE_POINTS / total)
    interior = max(1, round(config.interior * share))
    boundary = round(config.boundary * share)
    kept = [max(1, round(n * share)) for n in rows]  # every data file's share, one row at least
    probe_points = dataclasses.replace(config, interior=interior, boundary=boundary)
    probe = dataclasses.replace(
        problem,
        training=dataclasses.replace(problem.training, points=probe_points),
        observations=tuple(
            dataclasses.replace(o, points=o.points[:k], values=o.values[:k])
            for o, k in zip(problem.observations, kept, strict=True)
        ),
    )
    device = next(model.parameters()).device
    points = probe.collocation(dtype, device)
    terms = probe.terms(points)
    loss = Loss(model, terms, points, engine, [probe.weight(t.name) for t in terms])
    params = [p for p in model.parameters() if p.requires_grad]
    try:
        saved = _saved_bytes(lambda: loss.value_and_gradient(params), params)
    except RuntimeError as err:
        if "saved tensor hooks" not in str(err):
            raise
        # torch.func refuses saved-tensor hooks: measure the same derivatives by the library's
        # own path, forward mode where the model has it (else nested autograd)
        other, _ = select_engine(model, "auto")
        loss = Loss(model, terms, points, other, [probe.weight(t.name) for t in terms])
        try:
            saved = _saved_bytes(lambda: loss.value_and_gradient(params), params)
        except RuntimeError as again:  # a trial function's φ, g by torch.func: nested autograd
            if "saved tensor hooks" not in str(again):
                raise
            weights = [probe.weight(t.name) for t in terms]
            loss = Loss(model, terms, points, autograd_fields, weights)
            saved = _saved_bytes(lambda: loss.value_and_gradient(params), params)
    for p in params:
        p.grad = None
    return int(saved * total / (interior + boundary + sum(kept)))


def _saved_bytes(step: Any, params: list[nn.Parameter]) -> int:
    """Bytes of the distinct storages autograd saves while ``step()`` runs, parameters excluded."""
    excluded = {p.untyped_storage().data_ptr() for p in params}
    seen: set[int] = set()
    total = 0

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        nonlocal total
        storage = tensor.untyped_storage()
        pointer = storage.data_ptr()
        if pointer not in excluded and pointer not in seen:
            seen.add(pointer)
            total += storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        step()
    return total
