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
from .render import (
    SignatureBlock,
    date_line,
    field_box,
    field_state,
    find_fonts,
    number_line,
    organisation_appearance,
    render_pdf,
    sign_pdf,
    signer_appearance,
    text_fields,
    unsigned_before,
    write_pdf,
)
from .stamps import (
    NUMBER_FIELD,
    ORGANISATION_FIELD,
    SIGNER_FIELD,
    SealLook,
    SignatureLook,
    iso_vn,
    read_png,
)

__all__ = [
    "NUMBER_FIELD",
    "ORGANISATION_FIELD",
    "SIGNER_FIELD",
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
    "SealLook",
    "Section",
    "Signatory",
    "SignatureBlock",
    "SignatureLook",
    "Urgency",
    "YamlSyntaxError",
    "date_line",
    "field_box",
    "field_state",
    "find_fonts",
    "iso_vn",
    "load",
    "load_plan",
    "load_report",
    "number_line",
    "organisation_appearance",
    "parse",
    "read_png",
    "render_pdf",
    "sign_pdf",
    "signer_appearance",
    "text_fields",
    "unsigned_before",
    "write_pdf",
]
