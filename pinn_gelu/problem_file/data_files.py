"""The ``data:`` section: observation files, read as untrusted input.

    data:
      - file: sensors.csv          # relative to the problem file; .csv or .npz
        noise: 0.01                # optional: the noise standard deviation σ
        weight: 1                  # optional: the term's weight (default 1)
        name: sensors              # optional: the term is data_<name> (default: the file stem)
        quantities:                # optional: columns that are expressions of the fields
          strain: "d(ux, x)"

A CSV file has a header row naming its columns; an NPZ file holds one 1D array per column. The
columns are the domain's variables (x, y, z, t, as the domain has them: all of them) and the
observed quantities: a field's name, or a name defined under ``quantities``. Every file is
checked before anything is trained: a regular file (no link, device or directory) of at most
:data:`MAX_DATA_BYTES`, at most ``max_points`` rows, finite numbers only, columns known and
complete, every point inside the domain (a point outside is refused with its row). Errors name
the problem file, the key (``data[0].file``) and, for the data file's content, the file, row
and column.
"""

from __future__ import annotations

import csv
import io
import math
import re
import stat
import zipfile
from pathlib import Path

import numpy as np

from pinn_gelu.errors import ProblemFileError, describe
from pinn_gelu.geometry.domain import Domain, RegionDomain
from pinn_gelu.observations import Observations
from pinn_gelu.pdes.equations import parse_point_residual
from pinn_gelu.schema import Context, Section, checked_number, join

__all__ = ["MAX_DATA_BYTES", "MAX_DATA_FILES", "parse_data"]

#: Largest data file (CSV text or NPZ archive, and each array in it once uncompressed).
MAX_DATA_BYTES = 64 * 2**20
#: Most data files, and most quantities in one.
MAX_DATA_FILES = 16
MAX_QUANTITIES = 16
#: CSV rows converted to a numpy block at a time.
CSV_BLOCK = 65536
#: Points may lie this far outside the domain (relative to its size) and still count as inside.
OUTSIDE_TOLERANCE = 1e-9
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,31}$")


def parse_data(
    raw: object, context: Context, domain: Domain, fields: tuple[str, ...]
) -> tuple[Observations, ...]:
    """Read every entry of ``data:`` (``raw``, the section's value) and its file."""
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_DATA_FILES:
        raise ProblemFileError(
            context.path,
            "data",
            f"expected a list of 1 to {MAX_DATA_FILES} data files, got {describe(raw)}",
        )
    out: list[Observations] = []
    for i, entry in enumerate(raw):
        item = Section(entry, join("data", i), context)
        observations = _entry(item, domain, fields)
        if any(o.name == observations.name for o in out):
            raise item.error(
                "name", f"two data files are named {observations.name!r}: give each its own name"
            )
        out.append(observations)
    return tuple(out)


def _entry(section: Section, domain: Domain, fields: tuple[str, ...]) -> Observations:
    context = section.context
    given = section.raw("file")
    if not isinstance(given, str) or not given or len(given) > 1000 or "\0" in given:
        raise section.expected(
            "file", "a path to a .csv or .npz file, relative to the problem file", given
        )
    path = (Path(context.path).parent / given) if not Path(given).is_absolute() else Path(given)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".npz"):
        raise section.expected("file", "a .csv or .npz file", given)
    name = section.raw("name", _stem(path))
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise section.expected("name", "an identifier of at most 32 characters, e.g. sensors", name)
    noise = None
    if section.has("noise"):
        noise = checked_number(
            section.raw("noise"),
            None,
            1e30,
            0.0,
            lambda w: section.expected("noise", w, section.raw("noise")),
        )
    weight = checked_number(
        section.raw("weight", 1.0),
        0.0,
        1e12,
        None,
        lambda w: section.expected("weight", w, section.raw("weight")),
    )
    quantities = section.section("quantities", {})
    defined: dict[str, object] = dict(quantities.data)
    section.finish()
    if len(defined) > MAX_QUANTITIES:
        raise quantities.error(None, f"at most {MAX_QUANTITIES} quantities")
    for q in defined:
        if not _NAME.fullmatch(q) or q in fields or q in domain.variables:
            raise quantities.error(
                q, "a quantity's name must be an identifier other than a field or variable"
            )

    def fail(reason: str) -> ProblemFileError:
        return ProblemFileError(context.path, join(section.key, "file"), f"{given}: {reason}")

    columns = _read(path, suffix, context.limits.max_points, fail)
    variables = domain.variables
    names = list(columns)
    missing = [v for v in variables if v not in columns]
    if missing:
        raise fail(
            f"no column {missing[0]!r} (the columns must include the domain's variables "
            f"{', '.join(variables)})"
        )
    observed = [c for c in names if c not in variables]
    for c in observed:
        if c not in fields and c not in defined:
            raise fail(
                f"column {c!r} is neither a variable ({', '.join(variables)}), a field "
                f"({', '.join(fields)}) nor a quantity defined under quantities"
            )
    if not observed:
        raise fail(
            f"no observed column (expected a field such as {fields[0]!r} or a defined quantity)"
        )
    unused = [q for q in defined if q not in observed]
    if unused:
        raise quantities.error(unused[0], f"no column {unused[0]!r} in {given}")
    # a field's own column cannot fail to parse; a defined quantity's errors name its key
    residuals = [parse_point_residual(quantities, c, defined.get(c, c), fields) for c in observed]
    points = np.stack([columns[v] for v in variables], 1)
    _check_inside(points, domain, fail)
    values = np.stack([columns[c] for c in observed], 1)
    return Observations(
        name=name,
        file=given,
        points=points,
        values=values,
        quantities=tuple(observed),
        residuals=tuple(residuals),
        noise=noise,
        weight=weight,
    )


def _stem(path: Path) -> str:
    stem = re.sub(r"[^A-Za-z0-9_]", "_", path.stem)[:32] or "data"
    return stem if not stem[0].isdigit() else f"d{stem[:31]}"


def _read(path: Path, suffix: str, max_rows: int, fail) -> dict[str, np.ndarray]:
    """The file's columns, by name, as float64 arrays of one length."""
    try:
        info = path.lstat()
    except OSError as err:
        raise fail(f"cannot be read ({err.strerror or type(err).__name__})") from None
    if not stat.S_ISREG(info.st_mode):
        raise fail("is not a regular file (links, directories and devices are refused)")
    if info.st_size > MAX_DATA_BYTES:
        raise fail(f"{info.st_size:,} bytes, more than the limit of {MAX_DATA_BYTES:,}")
    try:
        content = path.read_bytes()
    except OSError as err:
        raise fail(f"cannot be read ({err.strerror or type(err).__name__})") from None
    if len(content) > MAX_DATA_BYTES:
        raise fail(f"more than {MAX_DATA_BYTES:,} bytes")
    columns = _csv(content, max_rows, fail) if suffix == ".csv" else _npz(content, max_rows, fail)
    return columns


def _csv(content: bytes, max_rows: int, fail) -> dict[str, np.ndarray]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise fail("is not UTF-8 text") from None
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        raise fail("is empty (expected a header row naming the columns)") from None
    names = [h.strip() for h in header]
    _check_names(names, fail)
    # rows gathered in numpy blocks: 8 bytes a number, not a Python float's 32
    blocks: list[np.ndarray] = []
    rows: list[list[float]] = []
    count = 0
    try:
        for line, row in enumerate(reader, start=2):
            if not row or all(not cell.strip() for cell in row):
                continue
            if len(row) != len(names):
                raise fail(f"row {line}: {len(row)} values, expected {len(names)} (one per column)")
            if count >= max_rows:
                raise fail(f"more than {max_rows:,} rows (max_points)")
            values = []
            for cell, name in zip(row, names, strict=True):
                try:
                    number = float(cell)
                except ValueError:
                    raise fail(
                        f"row {line}, column {name!r}: {cell.strip()[:40]!r} is not a number"
                    ) from None
                if not math.isfinite(number):
                    raise fail(f"row {line}, column {name!r}: {cell.strip()[:40]!r} is not finite")
                values.append(number)
            rows.append(values)
            count += 1
            if len(rows) == CSV_BLOCK:
                blocks.append(np.asarray(rows, dtype=np.float64))
                rows = []
    except csv.Error as err:
        raise fail(f"is not valid CSV ({err})") from None
    if not count:
        raise fail("has no data rows")
    table = np.concatenate([*blocks, np.asarray(rows, dtype=np.float64).reshape(-1, len(names))])
    return {name: table[:, k] for k, name in enumerate(names)}


def _npz(content: bytes, max_rows: int, fail) -> dict[str, np.ndarray]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
        members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        raise fail("is not an NPZ archive") from None
    if len(members) > 64:
        raise fail(f"{len(members)} arrays, more than 64")
    unpacked = sum(member.file_size for member in members)
    if unpacked > MAX_DATA_BYTES:
        raise fail(f"its arrays are {unpacked:,} bytes uncompressed, more than {MAX_DATA_BYTES:,}")
    for member in members:
        if member.file_size > MAX_DATA_BYTES:
            raise fail(
                f"array {member.filename[:60]!r} is {member.file_size:,} bytes uncompressed, "
                f"more than {MAX_DATA_BYTES:,}"
            )
    try:
        with np.load(io.BytesIO(content), allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as err:
        raise fail(f"cannot be read as NPZ without pickles ({type(err).__name__})") from None
    names = list(arrays)
    _check_names(names, fail)
    length = None
    columns: dict[str, np.ndarray] = {}
    for name, array in arrays.items():
        if (
            array.dtype.kind not in "fiu"
            or array.ndim not in (1, 2)
            or (array.ndim == 2 and array.shape[1] != 1)
        ):
            raise fail(
                f"array {name!r}: expected a 1D array of numbers, got {array.dtype} of shape "
                f"{array.shape}"
            )
        array = array.reshape(-1).astype(np.float64)
        if length is None:
            length = array.shape[0]
        if array.shape[0] != length:
            raise fail(f"array {name!r} has {array.shape[0]} values, the others {length}")
        bad = ~np.isfinite(array)
        if bad.any():
            raise fail(f"array {name!r}, row {int(np.argmax(bad))}: not finite")
        columns[name] = array
    if not length:
        raise fail("has no data rows")
    if length > max_rows:
        raise fail(f"{length:,} rows, more than {max_rows:,} (max_points)")
    return columns


def _check_names(names: list[str], fail) -> None:
    if len(names) > 4 + MAX_QUANTITIES:
        raise fail(f"{len(names)} columns, more than {4 + MAX_QUANTITIES}")
    for name in names:
        if not _NAME.fullmatch(name):
            raise fail(f"column name {name[:40]!r} is not an identifier such as x or u")
    seen = set()
    for name in names:
        if name in seen:
            raise fail(f"column {name!r} appears twice")
        seen.add(name)


def _check_inside(points: np.ndarray, domain: Domain, fail) -> None:
    """Refuse a point outside the domain's box (and its region), naming its row."""
    bounds = np.asarray(domain.bounds)
    size = bounds[:, 1] - bounds[:, 0]
    slack = OUTSIDE_TOLERANCE * size
    outside = ((points < bounds[:, 0] - slack) | (points > bounds[:, 1] + slack)).any(1)
    if isinstance(domain, RegionDomain) and not outside.any():
        spatial = domain.spatial_dimension
        outside = ~domain.contains(points[:, :spatial])
    if outside.any():
        k = int(np.argmax(outside))
        at = ", ".join(f"{v}={c:.6g}" for v, c in zip(domain.variables, points[k], strict=True))
        raise fail(
            f"data row {k + 1} (at {at}) lies outside the domain; {int(outside.sum())} of "
            f"{len(points)} points do"
        )
