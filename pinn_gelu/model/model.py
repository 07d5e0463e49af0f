"""The model: one ``nn.Module`` per problem that owns everything trainable.

    u(x) = trial(x, N(x)),   trainable: the network N's weights and the named unknown scalars.

Optimisers, the Gauss–Newton Jacobian, the data-parallel all-reduce, checkpoints, ``model.pt``
and :func:`pinn_gelu.load_run` see this module and nothing else: whatever it holds trains,
travels and is saved alike. The derivative engines (:mod:`pinn_gelu.derivatives`) compute the
fields of u, composing the network's derivatives with the trial function's where they can.
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor, nn

from pinn_gelu.model.networks import MLP
from pinn_gelu.model.trial import Identity, Trial

__all__ = ["Model"]


class Model(nn.Module):
    """The trainable model of a problem: see the module docstring.

    Args:
        network: the network N (an :class:`~pinn_gelu.model.networks.MLP`, or any module
            mapping (n, d) → (n, m)).
        trial: what wraps it (default: the identity, u = N).
        unknowns: named trainable scalars (none yet; the inverse problems fill them), as raw
            parameter values.

    Shapes: ``forward`` maps (n, d) → (n, m).
    """

    def __init__(
        self,
        network: nn.Module,
        trial: Trial | None = None,
        unknowns: Mapping[str, nn.Parameter] | None = None,
    ) -> None:
        super().__init__()
        self.network = network
        self.trial = trial if trial is not None else Identity()
        self.unknowns = nn.ParameterDict(dict(unknowns or {}))

    def forward(self, x: Tensor) -> Tensor:
        """u(x), (n, d) → (n, m)."""
        return self.trial(x, self.network(x))

    @property
    def wraps(self) -> bool:
        """Whether a trial function other than the identity wraps the network."""
        return not isinstance(self.trial, Identity)

    def config(self) -> dict[str, object]:
        """Plain data from which the model's structure is rebuilt (with the problem)."""
        network = self.network.config() if isinstance(self.network, MLP) else {}
        return {"network": network, "trial": self.trial.name, "unknowns": list(self.unknowns)}
