"""Commune plans and reports: structured YAML in, the decree's PDF (optionally signed) out.

``load(path)`` reads a plan or report (:mod:`.models`) and raises an :class:`InputError`
placing every problem at its line and column; ``render_pdf(document)`` lays it out as
Nghị định 30/2020/NĐ-CP prescribes and, given a signer, signs it (PAdES baseline B).
``python -m edoc_exchange.compose.schema`` writes the JSON Schemas of the input (not
imported here, so that running it as a module stays clean).

This package imports ``edxml`` (identifiers), ``signing`` (the signer protocol) and the
root error only.
"""

from .errors import (
    ComposeError,
    ContentError,
    FontMissingError,
    InputError,
    Problem,
    RenderError,
    YamlSyntaxError,
)
from .load import load, load_plan, load_report, parse
from .models import (
    Block,
    Bullets,
    DimensionResult,
    DocumentKind,
    Figure,
    Indicators,
    Issuer,
    PapiDimension,
    Period,
    Plan,
    Recipient,
    Report,
    Responsibilities,
    Responsibility,
    Section,
    Signatory,
    Urgency,
)
from .render import date_line, find_fonts, number_line, render_pdf, sign_pdf, write_pdf

__all__ = [
    "Block",
    "Bullets",
    "ComposeError",
    "ContentError",
    "DimensionResult",
    "DocumentKind",
    "Figure",
    "FontMissingError",
    "Indicators",
    "InputError",
    "Issuer",
    "PapiDimension",
    "Period",
    "Plan",
    "Problem",
    "Recipient",
    "RenderError",
    "Report",
    "Responsibilities",
    "Responsibility",
    "Section",
    "Signatory",
    "Urgency",
    "YamlSyntaxError",
    "date_line",
    "find_fonts",
    "load",
    "load_plan",
    "load_report",
    "number_line",
    "parse",
    "render_pdf",
    "sign_pdf",
    "write_pdf",
]
