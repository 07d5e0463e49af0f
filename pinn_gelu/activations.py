"""Activation functions, their closed-form derivatives, and their smoothness.

GELU (Hendrycks & Gimpel 2016, arXiv:1606.08415) is GELU(z) = z·Φ(z), with Φ the standard normal
CDF and φ its density: the input times the probability that a unit Gaussian stays below it. Its
derivatives are closed forms in Φ and φ::

    GELU'(z)   = Φ(z) + z φ(z)
    GELU''(z)  = φ(z) (2 − z²)
    GELU'''(z) = φ(z) (z³ − 4z)
    GELU⁗(z)  = φ(z) (7z² − z⁴ − 4)

so a GELU network is C∞ and its second derivatives, which a second-order PDE residual needs, are
non-zero. ReLU's second derivative is zero almost everywhere: a ReLU network has a zero Laplacian
wherever it is defined, and a Poisson residual cannot train it.

Every activation takes a temperature ``alpha`` > 0 and computes σ_α(z) = σ(αz), so that
σ_α⁽ᵏ⁾(z) = αᵏ σ⁽ᵏ⁾(αz). For GELU, σ_α(z) = (αz)Φ(αz) → α·ReLU(z) as α → ∞, and ≈ αz/2 as α → 0.
Specs are written ``gelu``, ``gelu(alpha=4)``. :meth:`ActivationSpec.parse` reads one once (the
problem file's ``network.activation`` is parsed into an :class:`ActivationSpec` with the rest of
the file); the spec then travels as that object, and :meth:`ActivationSpec.module` builds the
layer. :func:`parse_activation` does both in one call.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "ACTIVATIONS",
    "Activation",
    "ActivationKind",
    "ActivationSpec",
    "order_warning",
    "parse_activation",
]

_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_GELU_TANH_K = math.sqrt(2.0 / math.pi)
_GELU_TANH_A = 0.044715

# A base function returns [σ(z), σ'(z), ..., σ⁽ⁿ⁾(z)] for n ≤ 4 (n = 0, ..., 4).
_Derivatives = Callable[[Tensor, int], list[Tensor]]


def _gelu(z: Tensor, n: int) -> list[Tensor]:
    cdf = 0.5 * (1.0 + torch.special.erf(z * _SQRT_HALF))
    out = [z * cdf]
    if n >= 1:
        pdf = _INV_SQRT_2PI * torch.exp(-0.5 * z * z)
        out.append(cdf + z * pdf)
        if n >= 2:
            z2 = z * z
            out.append(pdf * (2.0 - z2))
            if n >= 3:
                out.append(pdf * z * (z2 - 4.0))
                if n >= 4:
                    out.append(pdf * (7.0 * z2 - z2 * z2 - 4.0))
    return out


def _gelu_tanh(z: Tensor, n: int) -> list[Tensor]:
    # σ = ½ z (1 + tanh u), u = k (z + a z³)
    u = _GELU_TANH_K * (z + _GELU_TANH_A * z**3)
    t = torch.tanh(u)
    out = [0.5 * z * (1.0 + t)]
    if n >= 1:
        sech2 = 1.0 - t * t
        du = _GELU_TANH_K * (1.0 + 3.0 * _GELU_TANH_A * z * z)
        out.append(0.5 * (1.0 + t) + 0.5 * z * sech2 * du)
        if n >= 2:
            d2u = 6.0 * _GELU_TANH_K * _GELU_TANH_A * z
            out.append(sech2 * du + 0.5 * z * sech2 * (d2u - 2.0 * t * du * du))
    if n >= 3:  # exact, by forward-mode products of the closed-form second derivative
        out.extend(_higher_by_jvp(lambda w: _gelu_tanh(w, 2)[2], z, n - 2))
    return out


def _higher_by_jvp(function: Callable[[Tensor], Tensor], z: Tensor, count: int) -> list[Tensor]:
    """[f'(z), …, f⁽ᶜᵒᵘⁿᵗ⁾(z)] of an elementwise f by nested ``torch.func.jvp`` (exact)."""
    from torch.func import jvp

    out: list[Tensor] = []
    current = function
    for _ in range(count):

        def derivative(w: Tensor, f: Callable[[Tensor], Tensor] = current) -> Tensor:
            return jvp(f, (w,), (torch.ones_like(w),))[1]

        out.append(derivative(z))
        current = derivative
    return out


def _tanh(z: Tensor, n: int) -> list[Tensor]:
    t = torch.tanh(z)
    out = [t]
    if n >= 1:
        sech2 = 1.0 - t * t
        out.append(sech2)
        if n >= 2:
            out.append(-2.0 * t * sech2)
            if n >= 3:
                out.append(sech2 * (6.0 * t * t - 2.0))
                if n >= 4:
                    out.append(sech2 * t * (16.0 - 24.0 * t * t))
    return out


def _sin(z: Tensor, n: int) -> list[Tensor]:
    s = torch.sin(z)
    out = [s]
    if n >= 1:
        out.append(torch.cos(z))
        if n >= 2:
            out.append(-s)
            if n >= 3:
                out.append(-out[1])
                if n >= 4:
                    out.append(s)
    return out


def _silu(z: Tensor, n: int) -> list[Tensor]:
    s = torch.sigmoid(z)
    out = [z * s]
    if n >= 1:
        ds = s * (1.0 - s)
        out.append(s + z * ds)
        if n >= 2:
            out.append(ds * (2.0 + z * (1.0 - 2.0 * s)))
            if n >= 3:  # (z s)⁽ⁿ⁾ = z s⁽ⁿ⁾ + n s⁽ⁿ⁻¹⁾
                d2s = ds * (1.0 - 2.0 * s)
                d3s = ds * (1.0 - 6.0 * s + 6.0 * s * s)
                out.append(z * d3s + 3.0 * d2s)
                if n >= 4:
                    d4s = d2s * (1.0 - 12.0 * s + 12.0 * s * s)
                    out.append(z * d4s + 4.0 * d3s)
    return out


def _softplus(z: Tensor, n: int) -> list[Tensor]:
    out = [_softplus_forward(z)]
    if n >= 1:
        s = torch.sigmoid(z)
        out.append(s)
        if n >= 2:
            ds = s * (1.0 - s)
            out.append(ds)
            if n >= 3:
                out.append(ds * (1.0 - 2.0 * s))
                if n >= 4:
                    out.append(ds * (1.0 - 6.0 * s + 6.0 * s * s))
    return out


def _softplus_forward(z: Tensor) -> Tensor:
    # torch's default threshold (20) switches to the identity with a kink of e⁻²⁰ ≈ 2e-9 in the
    # derivative; at 40 the kink (e⁻⁴⁰ ≈ 4e-18) is below float64 rounding.
    return F.softplus(z, threshold=40.0)


def _relu(z: Tensor, n: int) -> list[Tensor]:
    out = [torch.relu(z)]
    if n >= 1:
        out.append((z > 0).to(z.dtype))
        out.extend(torch.zeros_like(z) for _ in range(2, n + 1))
    return out


@dataclass(frozen=True)
class ActivationKind:
    """A registered activation.

    Attributes:
        name: the spec name.
        smoothness: how many times σ is continuously differentiable (math.inf for C∞).
        vanishing_order: the lowest derivative order that is zero almost everywhere (None if
            none is): a PDE of that order or higher cannot train the network's residual.
        derivatives: closed forms of σ, σ', …, σ⁗.
        module: the torch function used for the plain forward pass (fast path).
    """

    name: str
    smoothness: float
    vanishing_order: int | None
    derivatives: _Derivatives
    module: Callable[[Tensor], Tensor]


#: The registry: spec name → kind.
ACTIVATIONS: Mapping[str, ActivationKind] = {
    kind.name: kind
    for kind in (
        ActivationKind("gelu", math.inf, None, _gelu, F.gelu),  # z·Φ(z), exact erf form
        ActivationKind(  # ½z(1 + tanh(√(2/π)(z + 0.044715z³)))
            "gelu_tanh",
            math.inf,
            None,
            _gelu_tanh,
            lambda z: F.gelu(z, approximate="tanh"),
        ),
        ActivationKind("tanh", math.inf, None, _tanh, torch.tanh),
        ActivationKind("sin", math.inf, None, _sin, torch.sin),
        ActivationKind("silu", math.inf, None, _silu, F.silu),  # z·sigmoid(z)
        ActivationKind("softplus", math.inf, None, _softplus, _softplus_forward),  # log(1 + eᶻ)
        ActivationKind("relu", 0, 2, _relu, torch.relu),  # max(0, z)
    )
}

_ALPHA_RANGE = (1e-3, 1e3)


class Activation(nn.Module):
    """σ_α(z) = σ(αz) as a module, with closed-form derivatives for forward-mode operators.

    Args:
        kind: the registered activation.
        alpha: the temperature α > 0 (1 gives the plain activation).
    """

    def __init__(self, kind: ActivationKind, alpha: float = 1.0) -> None:
        super().__init__()
        self.kind = kind
        self.alpha = float(alpha)

    @property
    def spec(self) -> str:
        """The canonical spec string: ``gelu``, ``gelu(alpha=4)``."""
        if self.alpha == 1.0:
            return self.kind.name
        return f"{self.kind.name}(alpha={self.alpha:g})"

    def forward(self, z: Tensor) -> Tensor:
        """σ(αz), elementwise."""
        if self.alpha == 1.0:
            return self.kind.module(z)
        return self.kind.module(self.alpha * z)

    def derivatives(self, z: Tensor, n: int) -> list[Tensor]:
        """[σ_α(z), σ_α'(z), …, σ_α⁽ⁿ⁾(z)] for n ≤ 4, elementwise, by closed forms."""
        if not 0 <= n <= 4:
            raise ValueError(f"closed-form derivatives are available up to order 4, got {n}")
        if self.alpha == 1.0:
            return self.kind.derivatives(z, n)
        values = self.kind.derivatives(self.alpha * z, n)
        return [v * self.alpha**k if k else v for k, v in enumerate(values)]

    def extra_repr(self) -> str:
        """The spec, shown in the module's repr."""
        return self.spec


@dataclass(frozen=True)
class ActivationSpec:
    """A parsed activation spec: a registered name and the temperature α of σ_α(z) = σ(αz).

    Parsed once (:meth:`parse`) and passed as is; ``str(spec)`` is the canonical text and
    :meth:`module` builds the layer.

    >>> spec = ActivationSpec.parse(" gelu( alpha = 4.0 ) ")
    >>> spec, str(spec), spec.kind.smoothness
    (ActivationSpec(name='gelu', alpha=4.0), 'gelu(alpha=4)', inf)

    Raises:
        ValueError: for an unregistered name or an α outside [1e-3, 1e3].
    """

    name: str
    alpha: float = 1.0

    def __post_init__(self) -> None:
        if self.name not in ACTIVATIONS:
            raise ValueError(
                f"unknown activation {self.name!r} (expected one of: "
                f"{', '.join(sorted(ACTIVATIONS))})"
            )
        if not _ALPHA_RANGE[0] <= self.alpha <= _ALPHA_RANGE[1]:
            raise ValueError(
                f"activation {self.name!r}: alpha must be a number in [{_ALPHA_RANGE[0]:g}, "
                f"{_ALPHA_RANGE[1]:g}]"
            )

    @property
    def kind(self) -> ActivationKind:
        """The registered activation."""
        return ACTIVATIONS[self.name]

    @property
    def spec(self) -> str:
        """The canonical spec text: ``gelu``, ``gelu(alpha=4)``."""
        return self.name if self.alpha == 1.0 else f"{self.name}(alpha={self.alpha:g})"

    def __str__(self) -> str:
        return self.spec

    def module(self) -> Activation:
        """A new layer computing σ_α."""
        return Activation(self.kind, self.alpha)

    @classmethod
    def parse(cls, spec: object) -> ActivationSpec:
        """Read a spec: a registered name, optionally ``name(alpha=α)`` (an ``ast`` whitelist).

        >>> ActivationSpec.parse("gelu2")
        Traceback (most recent call last):
        ...
        ValueError: unknown activation 'gelu2' (expected one of: gelu, gelu_tanh, relu, silu, \
sin, softplus, tanh)

        Raises:
            ValueError: for an unknown name, an unknown or out-of-range parameter, or bad
                syntax.
        """
        if isinstance(spec, ActivationSpec):
            return spec
        if not isinstance(spec, str):
            raise ValueError(f"expected a non-empty string, got {_describe(spec)}")
        invalid = f"invalid activation spec {spec[:100]!r} (expected e.g. gelu or gelu(alpha=4))"
        if not spec.strip() or len(spec) > 100:
            raise ValueError(invalid)
        try:
            node = ast.parse(spec.strip(), mode="eval").body
        except (SyntaxError, ValueError, RecursionError):
            raise ValueError(invalid) from None
        if isinstance(node, ast.Name):
            name, keywords, positional = node.id, [], []
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            name, keywords, positional = node.func.id, node.keywords, node.args
        else:
            raise ValueError(invalid)
        if name not in ACTIVATIONS:
            return cls(name)  # raises the unknown-name error
        if positional:
            raise ValueError(f"activation {spec!r}: parameters are named, as in {name}(alpha=4)")
        alpha = 1.0
        for keyword in keywords:
            if keyword.arg != "alpha":
                raise ValueError(
                    f"activation {spec!r}: unknown parameter {keyword.arg!r} (expected: alpha)"
                )
            value = _number(keyword.value)
            if value is None or not _ALPHA_RANGE[0] <= value <= _ALPHA_RANGE[1]:
                raise ValueError(
                    f"activation {spec!r}: alpha must be a number in [{_ALPHA_RANGE[0]:g}, "
                    f"{_ALPHA_RANGE[1]:g}]"
                )
            alpha = value
        return cls(name, alpha)


def parse_activation(spec: str | ActivationSpec) -> Activation:
    """Build an activation layer from its spec (:meth:`ActivationSpec.parse`, then ``module``).

    >>> parse_activation("gelu(alpha=4)").spec
    'gelu(alpha=4)'

    Raises:
        ValueError: as :meth:`ActivationSpec.parse`.
    """
    return ActivationSpec.parse(spec).module()


def _describe(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _number(node: ast.AST) -> float | None:
    if not isinstance(node, ast.Constant):
        return None
    value = node.value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def order_warning(
    activation: Activation | ActivationSpec, pde_order: int, pde_name: str
) -> str | None:
    """The warning for a PDE whose order the activation cannot represent, or None.

    A PDE of ``pde_order`` cannot train a network whose activation has a derivative of that
    order that vanishes almost everywhere (ReLU and any second-order PDE).

    >>> order_warning(parse_activation("relu"), 2, "poisson") is not None
    True
    >>> order_warning(parse_activation("gelu"), 2, "poisson") is None
    True
    """
    vanishing = activation.kind.vanishing_order
    if vanishing is None or pde_order < vanishing:
        return None
    return (
        f"activation '{activation.spec}' has a zero derivative of order {vanishing} almost "
        f"everywhere, and the {pde_name} residual needs derivatives of order {pde_order}: the "
        f"network's order-{pde_order} derivatives vanish at every collocation point, so the PDE "
        "residual term gives no gradient and cannot be trained; only the boundary terms will "
        "be. Use a smooth activation (gelu, tanh, sin, silu, softplus) to solve this problem."
    )
