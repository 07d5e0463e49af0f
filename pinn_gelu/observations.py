"""Observation data: measured values of the solution (or of expressions of it) at points.

One :class:`Observations` per data file of a problem's ``data:`` section (read and checked by
:mod:`pinn_gelu.problem_file.data_files`). Each becomes one loss term, ``data_<name>``, the mean
squared misfit of its n points and q quantities, divided by the noise variance σ² when the file
states one:

    L_data = w · (1/(n·q)) Σ_k Σ_j ((Q_j(u)(x_k) − y_kj) / σ)²,

so that with σ given and w = 1 a fit down to the noise makes the term about 1. A quantity Q_j is
a field (``u``) or a residual expression of the fields (``d(ux, x)`` for a strain gauge, ``dn(u)``
is not available: observations carry no normals), compiled by
:func:`pinn_gelu.expressions.parse_residual`; unknown constants may appear in it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from pinn_gelu.expressions import Residual
from pinn_gelu.fields import need_rank

__all__ = ["Observations", "data_place"]


def data_place(name: str) -> str:
    """The point-set name of a data file's points (``data_<name>``, also its loss term's)."""
    return f"data_{name}"


@dataclass(frozen=True, eq=False)
class Observations:
    """One data file, validated.

    Attributes:
        name: the term's name is ``data_<name>``.
        file: the file as the problem file names it.
        points: (n, d) coordinates, in the domain's variable order.
        values: (n, q) observed values, one column per quantity.
        quantities: the quantities' column names.
        residuals: what each quantity is, as a function of the fields.
        noise: σ, the noise standard deviation (None: not stated, the misfit is not scaled).
        weight: w of the term.
    """

    name: str
    file: str
    points: np.ndarray
    values: np.ndarray
    quantities: tuple[str, ...]
    residuals: tuple[Residual, ...]
    noise: float | None
    weight: float

    @property
    def place(self) -> str:
        """The point set (and loss term) name."""
        return data_place(self.name)

    @property
    def need(self) -> str:
        """What the quantities need of the network."""
        return max((r.need for r in self.residuals), key=need_rank)

    def misfit(self, points: Tensor, rows: Tensor) -> Callable[[Any], Tensor]:
        """The term's residual on this shard's points: fields → (n, q) scaled misfits.

        Args:
            points: (n, d) this shard's data points.
            rows: (n,) their index in the whole file.
        """
        observed = torch.as_tensor(self.values, dtype=points.dtype, device=points.device)
        observed = observed[rows.to(points.device)]
        bound = [r.bind(points) for r in self.residuals]
        scale = 1.0 / self.noise if self.noise else 1.0

        def residual(fields: Any) -> Tensor:
            predicted = torch.cat([f(fields)[:, None] for f in bound], 1)
            return (predicted - observed) * scale

        return residual
