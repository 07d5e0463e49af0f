"""The ``enrichment:`` section: known functions added to a field, each with a trained coefficient.

    enrichment:
      k1:                                   # λ's name: an unknown, trained and reported
        function: "(x**2 + y**2)**(1/3)*sin(2/3*(atan2(x - y, -x - y) + 3*pi/4))"
        field: u                            # default: the problem's only field
        initial: 0                          # λ's starting value (default 0)

u = N + λ·s (:mod:`pinn_gelu.model.enrichment`). Each entry's name is its coefficient's, an
unknown constant with the keys of ``unknowns:`` (``initial`` defaulting to 0, ``scale``,
``positive``, ``bounds``, ``truth``: :mod:`pinn_gelu.problem_file.unknowns`). ``function`` is an
expression of the domain's variables (``atan2(y, x)`` gives angles; put its branch cut outside
the domain). Refused: a field that is positive (u = exp N) or has exact conditions (the added
term would break them), a periodic domain (the function would have to be periodic), and a
function that reads an unknown.
"""

from __future__ import annotations

from pinn_gelu.errors import ProblemFileError
from pinn_gelu.model.enrichment import Enrichment
from pinn_gelu.model.unknowns import Unknown
from pinn_gelu.problem import Problem
from pinn_gelu.problem_file.unknowns import check_name, parse_unknown
from pinn_gelu.schema import Section

__all__ = ["MAX_ENRICHMENT", "check_enriched_fields", "parse_enrichment"]

#: Most enrichment functions in one problem.
MAX_ENRICHMENT = 8
_KEYS = ("function", "field")


def parse_enrichment(
    section: Section, fields: tuple[str, ...], taken: dict[str, str], *, periodic: bool = False
) -> tuple[tuple[Enrichment, ...], dict[str, Unknown]]:
    """Read ``enrichment:``: the terms, and their coefficients as unknowns by name.

    Args:
        section: the section (an empty mapping when the file has none).
        fields: the problem's output fields, in column order.
        taken: names already in use (parameters, unknowns, fields), with what each is.
        periodic: the domain has periodic axes.
    """
    data = section.data
    if not data:
        return (), {}
    if len(data) > MAX_ENRICHMENT:
        raise section.error(None, f"at most {MAX_ENRICHMENT} functions, got {len(data)}")
    if periodic:
        raise section.error(
            None, "not available on a periodic domain (the functions would have to be periodic)"
        )
    terms: list[Enrichment] = []
    unknowns: dict[str, Unknown] = {}
    for name in data:
        check_name(section, name, taken, "a coefficient's name must be an identifier such as k1")
        entry = section.section(name)
        function = entry.expression("function")
        if function.unknowns:
            raise entry.error(
                "function", f"may not read the unknown '{function.unknowns[0]}': λ multiplies it"
            )
        if entry.has("field"):
            field = entry.string("field", choices=fields)
        elif len(fields) == 1:
            field = fields[0]
        else:
            raise entry.error("field", f"missing: which field it is added to ({', '.join(fields)})")
        coefficient = Section({"initial": 0, **entry.data}, entry.key, entry.context)
        coefficient.known.extend(_KEYS)
        unknowns[name] = parse_unknown(coefficient, name)
        terms.append(Enrichment(name, fields.index(field), function))
    return tuple(terms), unknowns


def check_enriched_fields(problem: Problem) -> None:
    """Refuse an enrichment of a positive field or of one with exact conditions."""
    parts = problem.exact_parts()
    positive = getattr(problem.pde, "positive", ())
    for term in problem.enrichment:
        field = problem.pde.outputs[term.column]
        key = f"enrichment.{term.coefficient}.field"
        if field in positive:
            raise ProblemFileError(
                problem.path, key, f"{field} is positive (u = exp N): λ·s would not keep it so"
            )
        if term.column < len(parts) and parts[term.column]:
            sides = ", ".join(dict.fromkeys(side for side, _ in parts[term.column]))
            raise ProblemFileError(
                problem.path,
                key,
                f"{field} has exact conditions (on {sides}): λ·s would break them; impose them "
                "with a loss term (no exact: true) to enrich this field",
            )
