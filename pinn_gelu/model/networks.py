"""Multilayer perceptrons and their initialisation.

The network is u(x) = W_L σ(… σ(W_1 ξ(x) + b_1) …) + b_L, where ξ maps the domain box affinely
onto [−1, 1]^d (ξ_i = (2x_i − a_i − b_i)/(b_i − a_i)), so that the same settings work on any box.

Initialisation schemes (:data:`INITIALISERS`), weights W ~ N(0, s²) and zero biases:

- ``glorot`` (Glorot & Bengio 2010): s² = 2/(fan_in + fan_out).
- ``he`` (He et al. 2015): s² = 2/fan_in for the hidden and output layers (ReLU's fixed point).
- ``fixed_point``: variance-preserving for the network's own activation, from the mean-field
  recursion q_next = σ_w² E[σ(√q z)²], z ~ N(0, 1) (Poole et al. 2016; Schoenholz et al. 2017).
  With no bias and q* = 1 as the fixed point, σ_w² = 1/E[σ(z)²] and s² = σ_w²/fan_in. For GELU,
  E[GELU(z)²] ≈ 0.42522 and σ_w² ≈ 2.3517; for ReLU, E = ½ and σ_w² = 2 (He). The constant is
  computed by quadrature (:func:`fixed_point_gain`), not hard-coded.

The first layer's inputs are coordinates, not activations: ξ(x) for x spread over the box,
which for uniform (or Sobol) points has E[ξ_i²] = 1/3 (:data:`INPUT_SECOND_MOMENT`). ``he`` keeps
He's s² = 1/fan_in there (first pre-activation variance ≈ 1/3). ``fixed_point`` uses
s² = 1/(fan_in E[ξ_i²]) = 3/fan_in, so that the first pre-activations already have second moment
q* = 1 for points drawn over the domain (tests/test_networks.py checks it within sampling error);
with 1/fan_in they started at ≈ 1/3 and decayed layer by layer (notebook 2 has the table).

Two slopes say how stable q* = 1 is (Schoenholz et al. 2017, with σ_w² the fixed-point gain):

- the slope of the variance map at q*, ∂q_next/∂q = σ_w² E[σ(z) σ'(z) z]
  = σ_w² E[σ'(z)² + σ(z) σ''(z)] ≈ 1.144 for GELU: deviations of the signal's variance from 1
  grow by about 14% per layer in the mean-field limit, so q* = 1 is slightly unstable (GELU acts
  like z/2 on small inputs and like ReLU on large ones, so the map grows faster than q);
- χ₁ = σ_w² E[σ'(z)²] ≈ 1.072 for GELU, the slope of the correlation map at c = 1 and the
  factor by which backpropagated gradient norms grow per layer in the mean-field limit: slightly
  above 1, just on the chaotic side of the edge of chaos.

For ReLU with He's σ_w² = 2 both are exactly 1 (marginal).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from functools import cache

import torch
from scipy import integrate
from torch import Tensor, nn

from pinn_gelu.activations import Activation, parse_activation
from pinn_gelu.config import NetworkConfig
from pinn_gelu.model.embeddings import Embedding, Jet, build_embedding, input_jet, jet_keys

__all__ = [
    "INITIALISERS",
    "INPUT_SECOND_MOMENT",
    "MLP",
    "build_network",
    "fixed_point_gain",
    "network_embedding",
    "parameter_count",
    "second_moment",
]


def second_moment(activation: Activation, q: float = 1.0) -> float:
    """E[σ(√q z)²] for z ~ N(0, 1), by adaptive quadrature (scipy.integrate.quad).

    The integrand is split at 0, where ReLU has its kink, so the quadrature converges to near
    machine precision for every registered activation.

    >>> from pinn_gelu.activations import parse_activation
    >>> round(second_moment(parse_activation("relu")), 12)
    0.5
    """
    scale = math.sqrt(q)

    def integrand(z: float) -> float:
        value = activation(torch.tensor(scale * z, dtype=torch.float64)).item()
        return value * value * math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)

    total = 0.0
    for lo, hi in ((-math.inf, 0.0), (0.0, math.inf)):
        part, _ = integrate.quad(integrand, lo, hi, epsabs=1e-14, epsrel=1e-13, limit=200)
        total += part
    return total


@cache
def _gain_for_spec(spec: str) -> float:
    return 1.0 / second_moment(parse_activation(spec))


def fixed_point_gain(activation: Activation) -> float:
    """σ_w² = 1/E[σ(z)²]: the weight variance (times fan_in) that makes q* = 1 a fixed point.

    >>> from pinn_gelu.activations import parse_activation
    >>> round(fixed_point_gain(parse_activation("gelu")), 4)
    2.3517
    """
    return _gain_for_spec(activation.spec)


#: E[ξ_i²] of the normalised inputs ξ ∈ [−1, 1]^d for points spread uniformly over the box.
INPUT_SECOND_MOMENT = 1.0 / 3.0


def _glorot(layer: int, fan_in: int, fan_out: int, activation: Activation) -> float:
    return 2.0 / (fan_in + fan_out)


def _he(layer: int, fan_in: int, fan_out: int, activation: Activation) -> float:
    return (1.0 if layer == 0 else 2.0) / fan_in


def _fixed_point(layer: int, fan_in: int, fan_out: int, activation: Activation) -> float:
    if layer == 0:  # coordinates in [−1, 1]^d: E[ξ²] = 1/3, so s² = 3/fan_in gives q = 1
        return 1.0 / (INPUT_SECOND_MOMENT * fan_in)
    return fixed_point_gain(activation) / fan_in


#: Initialisation schemes: name → variance of the weights of layer ``layer`` (0 = first).
INITIALISERS: Mapping[str, Callable[[int, int, int, Activation], float]] = {
    "glorot": _glorot,
    "he": _he,
    "fixed_point": _fixed_point,
}


class MLP(nn.Module):
    """A fully connected network from a box in R^d to R^m with a smooth activation.

    Args:
        bounds: the domain box, ((a_1, b_1), …), mapped onto [−1, 1]^d before the first layer.
        outputs: number of output fields m.
        width: neurons per hidden layer.
        depth: number of hidden layers (≥ 1).
        activation: the activation module, shared by all hidden layers.
        embedding: features γ(ξ) that the first layer reads instead of ξ
            (:mod:`pinn_gelu.model.embeddings`); None for ξ itself.

    Shapes: ``forward`` maps (N, d) → (N, m).
    """

    input_scale: Tensor
    input_shift: Tensor

    def __init__(
        self,
        bounds: Sequence[tuple[float, float]],
        outputs: int,
        width: int,
        depth: int,
        activation: Activation,
        embedding: Embedding | None = None,
    ) -> None:
        super().__init__()
        if depth < 1 or width < 1 or outputs < 1:
            raise ValueError("MLP needs depth ≥ 1, width ≥ 1 and at least one output")
        lo = torch.tensor([float(a) for a, _ in bounds], dtype=torch.float64)
        hi = torch.tensor([float(b) for _, b in bounds], dtype=torch.float64)
        dtype = torch.get_default_dtype()
        self.register_buffer("input_scale", (2.0 / (hi - lo)).to(dtype))
        self.register_buffer("input_shift", (-(hi + lo) / (hi - lo)).to(dtype))
        self._bounds = [(float(a), float(b)) for a, b in bounds]
        self.dimension = len(bounds)
        self.outputs = outputs
        self.embedding = embedding
        sizes = [embedding.features if embedding else self.dimension] + [width] * depth
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(sizes))
        self.output = nn.Linear(width, outputs)
        self.activation = activation

    def normalise(self, x: Tensor) -> Tensor:
        """ξ(x) = scale·x + shift, mapping the box onto [−1, 1]^d."""
        return x * self.input_scale + self.input_shift

    def embed(self, x: Tensor) -> Tensor:
        """What the first layer reads: γ(ξ(x)), or ξ(x) without an embedding."""
        xi = self.normalise(x)
        return xi if self.embedding is None else self.embedding(xi)

    def embedding_jet(self, x: Tensor, order: int) -> Jet:
        """Every derivative of γ(ξ(x)) of order ≤ ``order`` with respect to x (needs one)."""
        if self.embedding is None:
            raise ValueError("this network has no input embedding")
        inputs = input_jet(self.normalise(x), self.input_scale.to(x.dtype), order)
        return self.embedding.jet(inputs, jet_keys(self.dimension, order))

    def forward(self, x: Tensor) -> Tensor:
        """u(x), (N, d) → (N, m)."""
        h = self.embed(x)
        for layer in self.hidden:
            h = self.activation(layer(h))
        return self.output(h)

    def initialise(self, scheme: str, generator: torch.Generator) -> None:
        """Draw all weights from N(0, s²) of the scheme, biases zero, reproducibly."""
        if scheme not in INITIALISERS:
            raise ValueError(
                f"unknown initialisation {scheme!r} (expected one of: {', '.join(INITIALISERS)})"
            )
        variance = INITIALISERS[scheme]
        with torch.no_grad():
            for index, layer in enumerate([*self.hidden, self.output]):
                fan_out, fan_in = layer.weight.shape
                std = math.sqrt(variance(index, fan_in, fan_out, self.activation))
                noise = torch.randn(
                    layer.weight.shape, generator=generator, dtype=torch.float64
                ).to(layer.weight.dtype)
                layer.weight.copy_(noise * std)
                layer.bias.zero_()

    def config(self) -> dict[str, object]:
        """Plain-data description from which :func:`build_network` rebuilds this network."""
        return {
            "bounds": [[float(a), float(b)] for a, b in self.bounds()],
            "outputs": self.outputs,
            "width": self.hidden[0].out_features,
            "depth": len(self.hidden),
            "activation": self.activation.spec,
        }

    def bounds(self) -> list[tuple[float, float]]:
        """The domain box the input map was built for (exact, not recomputed from buffers)."""
        return list(self._bounds)


def parameter_count(
    config: NetworkConfig, dimension: int, outputs: int, periodic: Sequence[int] = ()
) -> int:
    """Trainable parameters of the MLP of this configuration, its input embedding counted.

    The first layer reads the embedding's features: d − p + 2Kp with p periodic axes and K
    harmonics, then 2m with m Fourier features.
    """
    features = dimension - len(periodic) + 2 * config.periodic_harmonics * len(periodic)
    if config.fourier_features:
        features = 2 * config.fourier_features
    w, d = config.width, config.depth
    return (features + 1) * w + (d - 1) * (w + 1) * w + (w + 1) * outputs


def network_embedding(
    config: NetworkConfig,
    dimension: int,
    periodic: Sequence[int] = (),
    generator: torch.Generator | None = None,
) -> Embedding | None:
    """The input embedding of a network of this configuration (None: it reads ξ).

    Fourier features draw their frequencies from ``generator``; a saved model's are in its
    state dict, so a model rebuilt to load one may take any generator.
    """
    return build_embedding(
        dimension,
        periodic,
        config.periodic_harmonics,
        config.fourier_features,
        config.fourier_scale,
        generator,
    )


def build_network(
    config: NetworkConfig,
    bounds: Sequence[tuple[float, float]],
    outputs: int,
    *,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
    activation: Activation | None = None,
    periodic: Sequence[int] = (),
) -> MLP:
    """Build and initialise an MLP from its configuration, reproducibly from ``seed``.

    ``periodic``: the axes along which the network is periodic (the domain's
    ``periodic``), by a periodic embedding with ``config.periodic_harmonics`` harmonics.
    """
    act = activation if activation is not None else config.activation.module()
    generator = torch.Generator().manual_seed(seed)
    embedding = network_embedding(config, len(bounds), periodic, generator)
    net = MLP(bounds, outputs, config.width, config.depth, act, embedding)
    net.initialise(config.init, generator)
    return net.to(dtype)
