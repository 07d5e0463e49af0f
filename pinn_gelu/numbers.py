"""Numbers as a problem file writes them: one reader for every number of the file.

PyYAML follows YAML 1.1, which reads ``1e-3`` (no dot) as a string; YAML 1.2 reads it as a
float. :func:`yaml12_number` gives every part of the file (configuration, expressions, shapes)
the YAML 1.2 reading.
"""

from __future__ import annotations

import re

__all__ = ["yaml12_number"]

# A float literal as YAML 1.2 reads it (PyYAML, YAML 1.1, reads "1e-3" without a dot as a string)
_YAML12_FLOAT = re.compile(r"^[-+]?(\d[\d_]*\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def yaml12_number(value: object) -> object:
    """A string that YAML 1.2 reads as a float (``1e-3``) as that float; anything else as is.

    PyYAML follows YAML 1.1, which needs a dot in a float (``1.0e-3``): numbers are numbers
    everywhere in a problem file, whichever way they are written.

    >>> yaml12_number("1e-3"), yaml12_number("x")
    (0.001, 'x')
    """
    if isinstance(value, str) and len(value) < 400 and _YAML12_FLOAT.match(value.strip()):
        return float(value)
    return value
