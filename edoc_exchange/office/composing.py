"""Compose a plan or report for sending: YAML -> numbered, signed PDF and edXML envelope.

The office's own data decide what the content alone cannot: the organisation directory
(every recipient's OrganId must be in it), the outgoing register (a number is used once a
year by an issuer; a blank number takes the next free one when the document is queued),
and the office's signer (the same key signs the PDF and the envelope).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from .. import edxml, signing
from ..compose import ContentError, Plan, Problem, Report, load, render_pdf
from ..compose.envelope import check_number, to_document
from ..compose.load import locate
from ..store import Database, directory
from ..store import outbox as outbox_store

__all__ = ["Composed", "compose_file", "numbers_used"]


@dataclass(frozen=True)
class Composed:
    """A composed document: its content (numbered), the PDF and the edXML bytes."""

    content: Plan | Report
    pdf: bytes
    message: edxml.Document
    data: bytes


def numbers_used(db: Database, issuer: str, year: int) -> set[str]:
    """Numbers the issuer's outgoing documents already carry in ``year``."""
    used: set[str] = set()
    with db.engine.connect() as conn:
        ids = outbox_store.document_ids(conn, issuer)
    for text in ids:
        try:
            parsed = edxml.DocumentId.parse(text)
        except edxml.IdentifierError:
            continue
        if parsed.date.year == year and parsed.number:
            used.add(parsed.number)
    return used


def _next_number(used: set[str]) -> str:
    numbers = [int(n) for n in used if n.isdigit()]
    return str(max(numbers, default=0) + 1)


def compose_file(
    path: Path,
    *,
    db: Database,
    office_id: str | None,
    signer: signing.Signer | None,
    now: dt.datetime,
    assign_number: bool = False,
) -> Composed:
    """Load, check, number, render, wrap and sign the plan or report at ``path``.

    Raises InputError/ContentError (YAML line and column) for anything wrong in the file,
    including a recipient missing from the directory or a number already used.
    """
    content = load(path)
    if office_id is not None and content.issuer.organ_id != office_id:
        where = locate(path, ("issuer", "organ_id"))
        raise ContentError(
            [
                dataclasses.replace(
                    where,
                    code="not-this-office",
                    vi=f"Cơ quan ban hành {content.issuer.organ_id} không phải cơ quan này "
                    f"({office_id})",
                    en=f"the issuer {content.issuer.organ_id} is not this office ({office_id})",
                )
            ],
            source=str(path),
        )
    with db.engine.connect() as conn:
        known = directory.names(conn)
    if not known:
        raise ContentError(
            [
                Problem(
                    "no-directory",
                    "recipients",
                    None,
                    None,
                    "Chưa có danh bạ cơ quan: chạy tiến trình nền (edoc daemon run) để tải danh bạ",
                    "the organisation directory is empty: run the daemon (edoc daemon run) "
                    "to fetch it",
                )
            ],
            source=str(path),
        )
    used = numbers_used(db, content.issuer.organ_id, content.date.year)
    if content.number is None and assign_number:
        content = content.model_copy(update={"number": _next_number(used)})
    check_number(content, used, source=path)
    pdf = render_pdf(content, signer=signer)
    message = to_document(
        content, directory=known, pdf=pdf, source_yaml=path.read_bytes(), now=now, source=path
    )
    data = edxml.write(message)
    if signer is not None:
        data = signing.sign(data, signer)
    return Composed(content, pdf, message, data)
