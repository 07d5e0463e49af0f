"""``--set KEY=VALUE``: dotted-key overrides applied to a problem file's data before validation."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import yaml

from pinn_gelu.errors import UsageError

__all__ = ["apply_overrides"]

_SEGMENT = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def apply_overrides(data: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Set dotted keys: ``training.adam.steps=500``, ``boundary[0].dirichlet=1``.

    Values are read as YAML scalars (``500`` is an int, ``1e-3`` a float, ``sin(x)`` a string).
    Missing mappings on the way are created. The data is copied, not changed in place, and the
    mappings and lists on the key's path are copied each time: a node that a YAML alias shares
    changes only where the key points.

    >>> apply_overrides({"a": {"b": 1}}, ["a.b=2", "c.d=x"])
    {'a': {'b': 2}, 'c': {'d': 'x'}}
    """
    import copy

    data = copy.deepcopy(data)
    for override in overrides:
        key, sep, text = override.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(
                f"--set {override!r}: expected KEY=VALUE, e.g. training.adam.steps=500"
            )
        segments = _split_key(key, override)
        try:
            value = yaml.safe_load(text) if text.strip() else ""
        except (yaml.YAMLError, ValueError, TypeError, OverflowError, RecursionError):
            # ValueError: an integer of more than 4300 digits (found by fuzzing)
            shown = override if len(override) <= 80 else override[:77] + "..."
            raise UsageError(f"--set {shown!r}: the value is not a YAML scalar") from None
        if isinstance(value, (dict, list)):
            raise UsageError(f"--set {override!r}: the value must be a scalar, not a collection")
        _set(data, segments, value, override)
    return data


def _split_key(key: str, override: str) -> list[str | int]:
    segments: list[str | int] = []
    position = 0
    for match in _SEGMENT.finditer(key):
        if match.start() != position and key[position : match.start()] != ".":
            raise UsageError(f"--set {override!r}: malformed key {key!r}")
        name, index = match.groups()
        segments.append(int(index) if index is not None else int(name) if name.isdigit() else name)
        position = match.end()
    if position != len(key) or not segments:
        raise UsageError(f"--set {override!r}: malformed key {key!r}")
    return segments


def _set(data: Any, segments: list[str | int], value: object, override: str) -> None:
    node = data
    for depth, segment in enumerate(segments):
        last = depth == len(segments) - 1
        if isinstance(segment, int):
            if not isinstance(node, list) or not 0 <= segment < len(node):
                raise UsageError(f"--set {override!r}: no list entry [{segment}] to set")
            if last:
                node[segment] = value
            else:
                node[segment] = _unshared(node[segment])
                node = node[segment]
            continue
        if not isinstance(node, dict):
            raise UsageError(f"--set {override!r}: {segment!r} is not inside a mapping")
        if last:
            node[segment] = value
        else:
            if node.get(segment) is None:
                node[segment] = {}
            node[segment] = _unshared(node[segment])
            node = node[segment]


def _unshared(node: Any) -> Any:
    """A shallow copy of a mapping or list (a YAML alias may share it), else the value."""
    if isinstance(node, dict):
        return dict(node)
    if isinstance(node, list):
        return list(node)
    return node
