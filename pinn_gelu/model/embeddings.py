"""Input embeddings: features of the normalised coordinates that the first layer reads.

The network reads ξ ∈ [−1, 1]^d, the domain box mapped affinely (:class:`~pinn_gelu.model.networks.
MLP`); an embedding replaces ξ by features γ(ξ), fixed functions with no trainable parameters:

- **periodic** (:class:`Periodic`): along a periodic axis i, γ holds cos(kπξ_i) and sin(kπξ_i),
  k = 1..K, and not ξ_i itself, so that the network — and every derivative of it — is periodic
  in x_i with the box's length as period (ξ_i spans 2). The other coordinates pass through. This
  imposes a periodic condition exactly (Dong & Ni 2021, "A method for representing periodic
  functions and enforcing exactly periodic boundary conditions with deep neural networks",
  J. Comput. Phys. 435:110242; jaxpi's ``periodic embedding``).
- **Fourier features** (:class:`FourierFeatures`): γ(v) = [cos(2πBv), sin(2πBv)], B ∈ ℝ^{m×d'}
  drawn once from N(0, σ²) with the network's seed (Tancik et al. 2020, "Fourier features let
  networks learn high frequency functions in low dimensional domains", NeurIPS; Wang, Wang &
  Perdikaris 2021, CMAME 384:113938, for PINNs). σ sets the frequencies the network starts
  with: too small and it is a plain MLP, too large and it fits noise.

Both may be used together (periodic first, as jaxpi does). The derivative engines differentiate
through γ exactly. Forward mode starts the layers' propagation from γ's derivatives, which each
embedding computes in closed form as a *jet* (every derivative ∂_α of order ≤ K, α a sorted
multi-index; :meth:`Embedding.jet`): through a linear map each derivative is mapped, and through
f = cos or sin of a phase φ, by Faà di Bruno's formula,

    ∂_α f(φ) = Σ_π f⁽|π|⁾(φ) Π_{B ∈ π} ∂_{α_B} φ,      cos⁽ᵏ⁾(φ) = cos(φ + kπ/2),

the sum over the set partitions π of the positions of α. γ has no trainable parameters, so its
jet is a function of the points alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import cast

import torch
from torch import Tensor, nn

from pinn_gelu.fields import multi_indices, set_partitions

__all__ = [
    "Chain",
    "Embedding",
    "FourierFeatures",
    "Jet",
    "Periodic",
    "build_embedding",
    "input_jet",
    "jet_keys",
]

#: Derivatives of some features at n points, by sorted multi-index (``()``: the values), each
#: (n, features); a missing multi-index is an exact zero.
Jet = dict[tuple[int, ...], Tensor]


def input_jet(xi: Tensor, scale: Tensor, order: int) -> Jet:
    """The jet of ξ = s ⊙ x + c at ξ (n, d): ∂_i ξ = s_i e_i, higher derivatives zero."""
    n, d = xi.shape
    jet: Jet = {(): xi}
    for i in range(d):
        column = xi.new_zeros(n, d)
        column[:, i] = scale[i]
        jet[(i,)] = column
    return jet if order >= 1 else {(): xi}


def _linear(jet: Jet, matrix: Tensor) -> Jet:
    """The jet of A v (each derivative mapped by A, (f_out, f_in))."""
    return {key: value @ matrix.T for key, value in jet.items()}


def _trigonometric(phase: Jet, keys: tuple[tuple[int, ...], ...]) -> tuple[Jet, Jet]:
    """The jets of cos φ and sin φ from φ's, by Faà di Bruno (see the module docstring)."""
    value = phase[()]
    cosines = [torch.cos(value), -torch.sin(value), -torch.cos(value), torch.sin(value)]
    cos: Jet = {(): cosines[0]}
    sin: Jet = {(): -cosines[1]}
    for key in keys:
        total_cos: Tensor | None = None
        total_sin: Tensor | None = None
        for partition in set_partitions(tuple(range(len(key)))):
            blocks = [tuple(sorted(key[p] for p in block)) for block in partition]
            if any(block not in phase for block in blocks):
                continue  # a zero factor
            product = phase[blocks[0]]
            for block in blocks[1:]:
                product = product * phase[block]
            k = len(partition)
            c, s = cosines[k % 4] * product, cosines[(k + 3) % 4] * product  # sin = cos(· − π/2)
            total_cos = c if total_cos is None else total_cos + c
            total_sin = s if total_sin is None else total_sin + s
        if total_cos is not None and total_sin is not None:
            cos[key], sin[key] = total_cos, total_sin
    return cos, sin


def _concatenate(jets: Sequence[Jet]) -> Jet:
    """The features side by side (a zero block where one jet lacks a derivative)."""
    keys = dict.fromkeys(key for jet in jets for key in jet)
    out: Jet = {}
    for key in keys:
        parts = [jet[key] if key in jet else torch.zeros_like(jet[()]) for jet in jets]
        out[key] = torch.cat(parts, 1)
    return out


def jet_keys(dimension: int, order: int) -> tuple[tuple[int, ...], ...]:
    """The multi-indices of orders 1..K in d variables, lowest order first."""
    return tuple(k for n in range(1, order + 1) for k in multi_indices(dimension, n))


class Embedding(nn.Module):
    """γ: (n, d_in) → (n, features). Subclasses set ``features``, :meth:`forward`, :meth:`jet`."""

    features: int

    def forward(self, xi: Tensor) -> Tensor:
        """γ(ξ)."""
        raise NotImplementedError

    def jet(self, inputs: Jet, keys: tuple[tuple[int, ...], ...]) -> Jet:
        """γ's jet (derivatives ``keys``) from its inputs' jet."""
        raise NotImplementedError


class Periodic(Embedding):
    """cos(kπξ_i), sin(kπξ_i) for each periodic axis i and k = 1..K; the other ξ_j unchanged.

    Args:
        dimension: d, the number of coordinates.
        axes: the periodic axes (column indices).
        harmonics: K.
    """

    def __init__(self, dimension: int, axes: Sequence[int], harmonics: int = 1) -> None:
        super().__init__()
        self.axes = tuple(axes)
        self.others = tuple(i for i in range(dimension) if i not in self.axes)
        self.harmonics = harmonics
        self.features = len(self.others) + 2 * harmonics * len(self.axes)

    def forward(self, xi: Tensor) -> Tensor:
        """[ξ_others, cos(kπξ_axis), sin(kπξ_axis) for each axis]."""
        parts = [xi[:, list(self.others)]] if self.others else []
        # kπ in the points' precision (a stored float32 π would make the period 2(1 + 3e-8))
        k = torch.arange(1, self.harmonics + 1, dtype=xi.dtype, device=xi.device)
        for i in self.axes:
            phase = xi[:, i : i + 1] * (math.pi * k)
            parts += [torch.cos(phase), torch.sin(phase)]
        return torch.cat(parts, 1)

    def jet(self, inputs: Jet, keys: tuple[tuple[int, ...], ...]) -> Jet:
        """The same features' jet: ξ_others passed through, then cos and sin of kπξ_i."""
        value = inputs[()]
        parts: list[Jet] = []
        if self.others:
            parts.append({key: v[:, list(self.others)] for key, v in inputs.items()})
        k = torch.arange(1, self.harmonics + 1, dtype=value.dtype, device=value.device)
        for i in self.axes:
            row = value.new_zeros(self.harmonics, value.shape[1])
            row[:, i] = math.pi * k
            cos, sin = _trigonometric(_linear(inputs, row), keys)
            parts += [cos, sin]
        return _concatenate(parts)


class FourierFeatures(Embedding):
    """[cos(2πBv), sin(2πBv)], B (m, d_in) ~ N(0, σ²), drawn from ``generator``.

    B is a buffer: saved with the model, never trained.
    """

    matrix: Tensor

    def __init__(self, inputs: int, count: int, scale: float, generator: torch.Generator) -> None:
        super().__init__()
        draw = torch.randn(count, inputs, generator=generator, dtype=torch.float64) * scale
        self.register_buffer("matrix", (2 * math.pi * draw).to(torch.get_default_dtype()))
        self.features = 2 * count

    def forward(self, xi: Tensor) -> Tensor:
        """γ(v) for v = ξ (or a previous embedding's features)."""
        phase = xi @ self.matrix.to(xi.dtype).T
        return torch.cat([torch.cos(phase), torch.sin(phase)], 1)

    def jet(self, inputs: Jet, keys: tuple[tuple[int, ...], ...]) -> Jet:
        """The jets of cos and sin of the phase 2πBv (v's jet mapped by 2πB)."""
        value = inputs[()]
        return _concatenate(_trigonometric(_linear(inputs, self.matrix.to(value.dtype)), keys))


class Chain(Embedding):
    """Embeddings applied in turn."""

    def __init__(self, parts: Sequence[Embedding]) -> None:
        super().__init__()
        self.parts = nn.ModuleList(parts)
        self.features = parts[-1].features

    def forward(self, xi: Tensor) -> Tensor:
        """The last part of the previous parts."""
        for part in self.parts:
            xi = part(xi)
        return xi

    def jet(self, inputs: Jet, keys: tuple[tuple[int, ...], ...]) -> Jet:
        """Each part's jet from the previous part's."""
        for part in self.parts:
            inputs = cast(Embedding, part).jet(inputs, keys)
        return inputs


def build_embedding(
    dimension: int,
    periodic: Sequence[int] = (),
    harmonics: int = 1,
    fourier_features: int = 0,
    fourier_scale: float = 1.0,
    generator: torch.Generator | None = None,
) -> Embedding | None:
    """The embedding these settings ask for (None: the network reads ξ itself)."""
    parts: list[Embedding] = []
    inputs = dimension
    if periodic:
        parts.append(Periodic(dimension, periodic, harmonics))
        inputs = parts[-1].features
    if fourier_features:
        generator = generator if generator is not None else torch.Generator().manual_seed(0)
        parts.append(FourierFeatures(inputs, fourier_features, fourier_scale, generator))
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else Chain(parts)
