"""The model: one ``nn.Module`` per problem that owns everything trainable.

    u(x) = trial(x, N(x)) + Σ_k λ_k s_k(x) e_(m_k),
    trainable: the network N's weights and the named unknown scalars (λ among them).

The last sum is the enrichment (:mod:`pinn_gelu.model.enrichment`; none by default).

Optimisers, the Gauss–Newton Jacobian, the data-parallel all-reduce, checkpoints, ``model.pt``
and :func:`pinn_gelu.load_run` see this module and nothing else: whatever it holds trains,
travels and is saved alike. The derivative engines (:mod:`pinn_gelu.derivatives`) compute the
fields of u, composing the network's derivatives with the trial function's where they can.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from pinn_gelu.model.enrichment import Basis, Enrichment, enrichment_matrix
from pinn_gelu.model.networks import MLP
from pinn_gelu.model.trial import Identity, Trial
from pinn_gelu.model.unknowns import Unknown, build_unknowns, unknown_values

__all__ = ["Model"]


class Model(nn.Module):
    """The trainable model of a problem: see the module docstring.

    Args:
        network: the network N (an :class:`~pinn_gelu.model.networks.MLP`, or any module
            mapping (n, d) → (n, m)).
        trial: what wraps it (default: the identity, u = N).
        unknowns: the unknown constants of an inverse problem, by name
            (:mod:`pinn_gelu.model.unknowns`): each becomes a raw trainable number θ in
            ``model.unknowns``, read as λ = g(θ) by :meth:`unknown_values`.
        enrichment: functions added to the outputs, each with an unknown as its coefficient
            (:mod:`pinn_gelu.model.enrichment`).

    Shapes: ``forward`` maps (n, d) → (n, m).
    """

    def __init__(
        self,
        network: nn.Module,
        trial: Trial | None = None,
        unknowns: Mapping[str, Unknown] | None = None,
        enrichment: Sequence[Enrichment] = (),
    ) -> None:
        super().__init__()
        self.network = network
        self.trial = trial if trial is not None else Identity()
        self.specs: dict[str, Unknown] = dict(unknowns or {})
        reference = next(network.parameters(), None)
        dtype = reference.dtype if reference is not None else None
        self.unknowns = nn.ParameterDict(
            build_unknowns(self.specs, dtype or torch.get_default_dtype())
        )
        self.enrichment = tuple(enrichment)
        missing = [e.coefficient for e in self.enrichment if e.coefficient not in self.specs]
        if missing:
            raise ValueError(f"the enrichment's coefficients {missing} are not unknowns")
        #: The enrichment's functions s_k, (n, d) → (n, K) (None without enrichment).
        self.basis = Basis(self.enrichment) if self.enrichment else None

    def unknown_values(self) -> dict[str, Tensor]:
        """λ = g(θ) of every unknown, with the graph to θ (empty for a forward problem)."""
        return unknown_values(dict(self.unknowns), self.specs)

    def enrichment_matrix(self, outputs: int) -> Tensor:
        """M (outputs, K), M[m_k, k] = λ_k: the enrichment adds s(x) Mᵀ to u."""
        return enrichment_matrix(self.enrichment, self.unknown_values(), outputs)

    def forward(self, x: Tensor) -> Tensor:
        """u(x), (n, d) → (n, m)."""
        u = self.trial(x, self.network(x))
        if self.basis is None:
            return u
        return u + self.basis(x) @ self.enrichment_matrix(u.shape[1]).T

    @property
    def wraps(self) -> bool:
        """Whether anything (a trial function other than the identity, an enrichment) wraps N."""
        return not isinstance(self.trial, Identity) or self.basis is not None

    def config(self) -> dict[str, object]:
        """Plain data from which the model's structure is rebuilt (with the problem)."""
        network = self.network.config() if isinstance(self.network, MLP) else {}
        return {"network": network, "trial": self.trial.name, "unknowns": list(self.unknowns)}
