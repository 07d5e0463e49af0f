"""The region expression language, parsed with :mod:`ast` against a whitelist, never evaluated.

Shape names joined by ``+`` (union), ``-`` (difference), ``&`` (intersection) and parentheses.

:func:`parse_region_text` turns the text into a :class:`Node` tree, bounded by
:class:`RegionLimits` (characters, syntax-tree nodes, nesting depth); every refusal names the
column. The geometry of the tree is :mod:`pinn_gelu.geometry.csg`'s.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TypeVar

from pinn_gelu.errors import GeometryError, describe
from pinn_gelu.geometry.primitives import Shape

__all__ = ["Node", "RegionLimits", "parse_region_text"]

_OPERATORS = {ast.Add: "+", ast.Sub: "-", ast.BitAnd: "&"}
_HINTS = {
    ast.BitOr: "'|' is not allowed (use + for a union)",
    ast.Mult: "'*' is not allowed (use & for an intersection)",
}

T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class RegionLimits:
    """Bounds on a region expression: characters, syntax-tree nodes, nesting depth."""

    max_length: int = 1000
    max_nodes: int = 200
    max_depth: int = 50


@dataclass(frozen=True)
class Node:
    """A region expression tree: a shape name (op ``""``) or ``left op right``."""

    op: str
    name: str = ""
    left: Node | None = None
    right: Node | None = None

    def fold(self, leaf: Callable[[str], T], combine: Mapping[str, Callable[[T, T], T]]) -> T:
        """The tree evaluated bottom-up: ``leaf(name)`` at shapes, ``combine[op]`` at operators."""
        if not self.op:
            return leaf(self.name)
        assert self.left is not None and self.right is not None  # built so by the parser
        return combine[self.op](self.left.fold(leaf, combine), self.right.fold(leaf, combine))

    def names(self) -> Iterator[str]:
        """The shape names at the leaves, left to right (a shape used twice appears twice)."""
        if not self.op:
            yield self.name
            return
        assert self.left is not None and self.right is not None
        yield from self.left.names()
        yield from self.right.names()


def parse_region_text(
    text: object, shapes: Mapping[str, Shape], limits: RegionLimits, key: str
) -> Node:
    """The tree of a region expression over ``shapes``; GeometryError (at ``key``) if refused."""
    if not isinstance(text, str):
        raise GeometryError(
            f"expected a region expression such as 'a - b', got {describe(text)}", key
        )
    if len(text) > limits.max_length:
        raise GeometryError(f"region longer than {limits.max_length} characters ({len(text)})", key)
    if not text.strip():
        raise GeometryError("the region expression is empty", key)
    for name in shapes:
        if not name.isidentifier():
            raise GeometryError(f"shape name {describe(name)} is not an identifier", key)

    def fail(reason: str, node: ast.AST | None = None, column: int | None = None) -> GeometryError:
        if node is not None:
            column = getattr(node, "col_offset", -1) + 1
        where = f" at column {column}" if column else ""
        shown = text if len(text) <= 80 else text[:77] + "..."
        return GeometryError(f"{reason}{where} in {shown!r}", key)

    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as err:
        raise fail(f"invalid syntax ({err.msg})", column=err.offset) from None
    except (ValueError, RecursionError, MemoryError) as err:
        raise fail(f"cannot parse the region ({type(err).__name__})") from None
    count = 0
    stack: list[tuple[ast.AST, int]] = [(tree.body, 0)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > limits.max_nodes:
            raise fail(f"region has more than {limits.max_nodes} parts")
        if depth > limits.max_depth:
            raise fail(f"region nested deeper than {limits.max_depth} levels")
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))

    def build(node: ast.AST) -> Node:
        if isinstance(node, ast.Name):
            if node.id not in shapes:
                known = ", ".join(shapes) or "none defined"
                raise fail(f"unknown shape '{node.id}' (expected one of: {known})", node)
            return Node("", node.id)
        if isinstance(node, ast.BinOp):
            op = _OPERATORS.get(type(node.op))
            if op is None:
                hint = _HINTS.get(
                    type(node.op),
                    f"operator '{type(node.op).__name__}' is not allowed (use + for a union, "
                    "- for a difference, & for an intersection)",
                )
                raise fail(hint, node)
            return Node(op, left=build(node.left), right=build(node.right))
        if isinstance(node, ast.Constant):
            raise fail("numbers and strings are not allowed (name shapes)", node)
        if isinstance(node, ast.Call):
            raise fail("calls are not allowed", node)
        if isinstance(node, ast.Attribute):
            raise fail("attribute access is not allowed", node)
        if isinstance(node, ast.UnaryOp):
            raise fail("unary operators are not allowed", node)
        raise fail(f"'{type(node).__name__}' is not allowed in a region", node)

    return build(tree.body)
