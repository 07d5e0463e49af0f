"""Why ReLU fails on second-order PDEs, measured: per-term gradients of the loss.

A ReLU network is piecewise linear in its input, so every second derivative of its output is
zero wherever it is defined, which is at every collocation point with probability 1. For
Poisson's equation the residual is then r = −Δu − f = −f: it does not depend on the parameters
θ, and ∂/∂θ mean(r²) = 0 exactly. Gradient descent never sees the PDE; only the boundary terms
train the network. A first-order residual (the mixed elasticity formulation: ∇·σ + f and
σ − C:ε(u)) needs only first derivatives, which ReLU has, so it is not blocked in this way.
"""

from __future__ import annotations

import torch
from torch import nn

from pinn_gelu.config import DTYPES
from pinn_gelu.derivatives import select_engine
from pinn_gelu.fields import need_rank
from pinn_gelu.problem import Problem
from pinn_gelu.training.setup import build_model

__all__ = ["term_gradient_norms"]


def term_gradient_norms(
    problem: Problem, network: nn.Module | None = None, *, derivatives: str = "auto"
) -> dict[str, float]:
    """‖∂L_t/∂θ‖₂ for each loss term t of a problem, at the network's parameters.

    Args:
        problem: the problem (its points, seed and network settings are used).
        network: the network to examine (default: built and initialised from the problem).
        derivatives: the derivative engine (``auto``, ``autograd`` or ``forward``).

    Returns:
        term name → Euclidean norm of the gradient of its mean squared residual with respect
        to all network parameters (0.0 exactly when the term does not depend on them).
    """
    dtype = DTYPES[problem.training.dtype]
    if network is None:
        network = build_model(problem, dtype)
    engine, _ = select_engine(network, derivatives)
    points = problem.collocation(dtype)
    terms = problem.terms(points)
    needs: dict[str, str] = {}
    for term in terms:
        needs[term.on] = max(needs.get(term.on, "value"), term.need, key=need_rank)
    params = list(network.parameters())
    norms = {}
    for term in terms:
        fields = engine(network, points.on(term.on), needs[term.on])
        loss = term.residual(fields).square().mean()
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        squares = [g.square().sum() for g in grads if g is not None]
        norms[term.name] = float(torch.stack(squares).sum().sqrt()) if squares else 0.0
    return norms
