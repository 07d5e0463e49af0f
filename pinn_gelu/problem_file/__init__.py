"""Problem files: YAML text → checked keys → a validated :class:`~pinn_gelu.problem.Problem`.

A problem file is untrusted text. It is read with :func:`yaml.safe_load` only (no tags that build
Python objects), its size and the sizes of its lists are bounded, every key is checked against
the keys this version knows, every expression is parsed by the whitelist of
:mod:`pinn_gelu.expressions`, and everything a file can make expensive is bounded by
:class:`~pinn_gelu.config.Limits`. Any problem raises :class:`~pinn_gelu.errors.ProblemFileError`
naming the file, the key path and what was expected; nothing is trained or written before the
whole file has been validated.

The format (v1)::

    name: poisson-2d-sine                 # optional; default: file stem
    pde: {kind: poisson, source: "2*pi**2*sin(pi*x)*sin(pi*y)"}
    domain: {rectangle: [[0, 1], [0, 1]]}
    boundary:
      - {on: all, dirichlet: "0"}
    exact: {u: "sin(pi*x)*sin(pi*y)"}
    parameters: {}
    network: {activation: gelu, width: 50, depth: 4}
    training: {points: {interior: 2000, boundary: 400}, adam: {steps: 5000}, seed: 0}

See ``problems/README.md`` for every key with its type, default and bound.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pinn_gelu.config import Limits
from pinn_gelu.problem import Problem
from pinn_gelu.problem_file.overrides import apply_overrides
from pinn_gelu.problem_file.parse import parse_problem
from pinn_gelu.problem_file.read import MAX_FILE_BYTES, read_yaml

__all__ = ["MAX_FILE_BYTES", "apply_overrides", "load_problem", "parse_problem", "read_yaml"]


def load_problem(
    path: str | Path,
    overrides: Sequence[str] = (),
    *,
    limits: Limits | None = None,
) -> Problem:
    """Read, override and validate a problem file.

    Args:
        path: the YAML file.
        overrides: ``KEY=VALUE`` strings, such as ``training.adam.steps=500``, applied to the
            file's data before validation (values are read as YAML scalars).
        limits: bounds on what the file may ask for.

    Raises:
        ProblemFileError: the file cannot be read or is invalid.
        UsageError: an override is malformed.
    """
    data = read_yaml(path)
    data = apply_overrides(data, overrides)
    return parse_problem(data, str(path), limits=limits)
