"""The PINN loss, on one set of points or over chunks of them.

:mod:`pinn_gelu.loss.loss` evaluates it on one set of points, :mod:`pinn_gelu.loss.chunked`
over chunks of them (memory bounded by a chunk). Both give the same loss, gradient, weighted
residual vector and Gauss–Newton Jacobian; optimisers see either as an :data:`Objective`.
"""

from __future__ import annotations

from pinn_gelu.loss.chunked import ChunkedLoss
from pinn_gelu.loss.loss import Loss, canonical_order, reduce_gradient

__all__ = ["ChunkedLoss", "Loss", "Objective", "canonical_order", "reduce_gradient"]

#: What optimisers, the driver and the uncertainty estimate work with.
Objective = Loss | ChunkedLoss
