"""Reading a problem file: bounded, regular files only, ``yaml.safe_load``, no duplicate keys.

A problem file is untrusted text. It is read with :func:`yaml.safe_load` only (no tags that build
Python objects), and its size, structure and nesting are bounded before the YAML parser sees it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import yaml

from pinn_gelu.errors import ProblemFileError, describe
from pinn_gelu.schema import join

__all__ = ["MAX_FILE_BYTES", "parse_yaml_text", "read_yaml"]

#: Largest problem file read, in bytes (the shipped files are under 3 KB).
MAX_FILE_BYTES = 64 * 1024
#: Bounds checked on the raw text before YAML parsing, which in pure Python costs about 40 µs
#: per token and grows quadratically with bracket nesting: real files use under 200 structural
#: characters and a nesting depth of 3.
MAX_STRUCTURE = 4000
MAX_NESTING = 32


def read_yaml(path: str | Path) -> dict[str, Any]:
    """The file's top-level mapping, read with ``yaml.safe_load`` within the size bound."""
    shown = str(path)
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; only regular files are read
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as err:
        raise ProblemFileError(shown, "", f"cannot read the file ({err.strerror or err})") from None
    try:
        mode = os.fstat(descriptor).st_mode
        if not stat.S_ISREG(mode):
            os.close(descriptor)
            raise ProblemFileError(shown, "", f"not a regular file ({_file_type(mode)})")
        with os.fdopen(descriptor, "rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as err:
        raise ProblemFileError(shown, "", f"cannot read the file ({err.strerror or err})") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ProblemFileError(shown, "", f"file larger than {MAX_FILE_BYTES // 1024} KiB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ProblemFileError(shown, "", f"not UTF-8 text (byte {err.start})") from None
    return parse_yaml_text(text, shown)


def _file_type(mode: int) -> str:
    kinds = {
        stat.S_ISDIR: "a directory",
        stat.S_ISFIFO: "a FIFO",
        stat.S_ISCHR: "a character device",
        stat.S_ISBLK: "a block device",
        stat.S_ISSOCK: "a socket",
    }
    return next((name for test, name in kinds.items() if test(mode)), "not a plain file")


def _check_shape(text: str, shown: str) -> None:
    """Refuse text whose YAML would be slow to parse, before parsing it."""
    structure = sum(text.count(c) for c in ",[]{}:\n")
    if structure > MAX_STRUCTURE:
        raise ProblemFileError(
            shown, "", f"too many YAML items ({structure} separators; at most {MAX_STRUCTURE})"
        )
    depth = deepest = 0
    for char in text:
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    if deepest > MAX_NESTING:
        raise ProblemFileError(
            shown, "", f"nested deeper than {MAX_NESTING} levels of brackets ({deepest})"
        )


def parse_yaml_text(text: str, shown: str) -> dict[str, Any]:
    """``yaml.safe_load`` with its failures turned into one-line problem-file errors."""
    _check_shape(text, shown)
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = (err.problem or err.context or "invalid YAML").strip()
        raise ProblemFileError(shown, "", f"not valid YAML: {what}{where}") from None
    except yaml.YAMLError as err:
        raise ProblemFileError(shown, "", f"not valid YAML: {str(err).splitlines()[0]}") from None
    except RecursionError:
        raise ProblemFileError(shown, "", "not valid YAML: nested too deeply") from None
    except (ValueError, TypeError, OverflowError, AttributeError, IndexError, KeyError) as err:
        # PyYAML's constructors raise these for some malformed input (found by fuzzing:
        # "!!float inf\n&a [1, 2]" raises ValueError); it is still invalid YAML, not a crash
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ProblemFileError(shown, "", f"not valid YAML: {first[:120]}") from None
    if data is None:
        raise ProblemFileError(shown, "", "the file is empty (expected a mapping with pde, ...)")
    _check_duplicate_keys(text, shown)
    if not isinstance(data, dict):
        raise ProblemFileError(shown, "", f"expected a mapping at the top, got {describe(data)}")
    return _restore_on_keys(data, shown)


def _check_duplicate_keys(text: str, shown: str) -> None:
    """Refuse a mapping that gives a key twice (YAML would silently keep the last one).

    Reads the node graph (``yaml.compose``: no Python object is built) once more; each node is
    visited once, so aliases cannot make the walk expensive.
    """
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, str]] = [(root, "")] if root is not None else []
    while stack:
        node, key = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            names: set[object] = set()
            for name_node, value in node.value:
                name = name_node.value if isinstance(name_node, yaml.ScalarNode) else id(name_node)
                if name in names and name_node.tag != "tag:yaml.org,2002:merge":
                    where = f" at line {name_node.start_mark.line + 1}"
                    raise ProblemFileError(
                        shown,
                        join(key, str(name)) if isinstance(name, str) else key,
                        f"the key is given twice{where} (YAML would keep only the last)",
                    )
                names.add(name)
                child = join(key, name) if isinstance(name, str) else key
                stack.append((value, child))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, join(key, i)) for i, item in enumerate(node.value))


def _restore_on_keys(data: dict[str, Any], shown: str) -> dict[str, Any]:
    """YAML 1.1 (PyYAML's safe_load) reads the bare key ``on`` as the boolean true: take it back.

    ``boundary: [{on: all, ...}]`` arrives as ``[{True: "all", ...}]``; in boundary entries the
    key is read as ``on`` again, so the documented format works with ``yaml.safe_load`` alone.
    """
    entries = data.get("boundary")
    if not isinstance(entries, list):
        return data
    restored: list[Any] = []
    for index, entry in enumerate(entries):
        if isinstance(entry, dict) and True in entry:
            if "on" in entry:
                raise ProblemFileError(shown, f"boundary[{index}]", "the key 'on' is given twice")
            entry = {("on" if key is True else key): value for key, value in entry.items()}
        restored.append(entry)
    return {**data, "boundary": restored}
