"""Compose a plan or report for sending: YAML -> numbered, signed PDF and edXML envelope.

The office's own data decide what the content alone cannot: the organisation directory
(every recipient's OrganId must be in it when the document is queued; a preview needs no
directory), the outgoing register (a number is used once per
issuer, notation and year; a blank number takes the next free one when the document is
queued), and the office's signer (the same key signs the PDF and the envelope).

Numbers are taken in the register (``store.register``) by :func:`compose_and_queue`, one
insert under the register's key, so several processes queuing at once never take the same
number; :func:`compose_file` alone only checks a number given in the YAML.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from .. import edxml, signing
from ..compose import ContentError, Plan, Report, load, render_pdf
from ..compose.envelope import check_number, number_used, to_document
from ..compose.load import Fill, locate
from ..store import Database, directory
from ..store import outbox as outbox_store
from ..store import register as register_store
from ._office import Office
from .sending import queue_message

__all__ = ["Composed", "Queued", "compose_and_queue", "compose_file", "numbers_used"]


@dataclass(frozen=True)
class Composed:
    """A composed document: its content (numbered), the PDF and the edXML bytes."""

    content: Plan | Report
    pdf: bytes
    message: edxml.Document
    data: bytes
    #: A preview of a document without a number: neither the PDF nor the envelope signed,
    #: the envelope for reading only (it cannot be queued).
    preview: bool = False


@dataclass(frozen=True)
class Queued:
    """A composed document in the outbox, with the number the register gave it."""

    composed: Composed
    outbox_id: int
    #: False when the same bytes were queued before.
    new: bool


def _queued_numbers(conn: Any, issuer: str, notation: str | None, year: int) -> set[int]:
    """Numbers the issuer's queued documents carry in ``year`` (of ``notation``, or all):
    the register does not hold those queued without composing (``edoc send``)."""
    found: set[int] = set()
    for text in outbox_store.document_ids(conn, issuer):
        try:
            parsed = edxml.DocumentId.parse(text)
        except edxml.IdentifierError:
            continue
        if parsed.date.year != year or not parsed.number.isdigit():
            continue
        if notation is None or parsed.notation == notation:
            found.add(int(parsed.number))
    return found


#: The one rule an unnumbered preview breaks: the number is taken when it is queued.
_CODE_NUMBER: Final = "/edXML/edXMLEnvelope/edXMLHeader/MessageHeader/Code/CodeNumber"


def write_unnumbered(document: edxml.Document) -> bytes:
    """The bytes of a preview envelope that has no number yet: every rule of the strict
    writer holds but the missing CodeNumber (EdxmlWriteError naming any other). Such an
    envelope is for reading, never for queuing: the strict reader refuses it."""
    errors = [
        f for f in edxml.check(document, strict=True)
        if f.severity is edxml.Severity.ERROR and f.path != _CODE_NUMBER
    ]
    if errors:
        raise edxml.EdxmlWriteError(errors)
    return edxml.write(document, check=False)


def numbers_used(db: Database, issuer: str, year: int, notation: str | None = None) -> set[str]:
    """Numbers the issuer already used in ``year``: in its register and on its queued
    documents (of ``notation``, when given: each notation has its own sequence)."""
    with db.engine.connect() as conn:
        used = _queued_numbers(conn, issuer, notation, year)
        if notation is not None:
            used |= register_store.numbers_taken(conn, issuer, notation, year)
    return {str(n) for n in used}


def _load_checked(
    path: Path, *, db: Database, office_id: str | None, queuing: bool, fill: Fill | None = None
) -> tuple[Plan | Report, dict[str, str]]:
    """The content at ``path`` and the directory, with the issuer checked; when
    ``queuing``, every recipient's OrganId too (a preview needs no directory: README's
    tour on a fresh machine)."""
    content = load(path, fill=fill)
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
    if queuing:
        # Checked before a number is taken; each unknown recipient named at its line.
        empty = (
            ("; danh bạ còn trống: chạy tiến trình nền (edoc daemon run) để tải danh bạ",
             "; the directory is empty: run the daemon (edoc daemon run) to fetch it")
            if not known else ("", "")
        )
        problems = [
            dataclasses.replace(
                locate(path, ("recipients", index, "organ_id")),
                code="no-directory" if not known else "unknown-recipient",
                vi=f"Mã định danh {r.organ_id} ({r.name}) không có trong danh bạ cơ quan của "
                f"trục{empty[0]}",
                en=f"OrganId {r.organ_id} ({r.name}) is not in the axis's organisation "
                f"directory{empty[1]}",
            )
            for index, r in enumerate(content.recipients)
            if r.organ_id is not None and r.organ_id not in known
        ]
        if problems:
            raise ContentError(problems, source=str(path))
    return content, known


def _render(
    content: Plan | Report,
    path: Path,
    known: dict[str, str],
    *,
    signer: signing.Signer | None,
    now: dt.datetime,
    attach_source: bool,
    queuing: bool,
) -> Composed:
    """The PDF and the envelope. Queuing, every recipient's OrganId must be in the
    directory; a preview names a recipient the directory lacks as the YAML does, and one
    without a number is written unnumbered and unsigned (a signature on a document that
    will still change proves nothing)."""
    directory = known
    if not queuing:
        directory = {r.organ_id: known.get(r.organ_id, r.name)
                     for r in content.recipients if r.organ_id is not None}
    preview = content.number is None and not queuing
    if preview:
        signer = None
    pdf = render_pdf(content, signer=signer)
    source_yaml = path.read_bytes() if attach_source else None
    message = to_document(
        content, directory=directory, pdf=pdf, source_yaml=source_yaml, now=now, source=path,
        unnumbered=preview,
    )
    if preview:
        return Composed(content, pdf, message, write_unnumbered(message), preview=True)
    data = edxml.write(message)
    if signer is not None:
        data = signing.sign(data, signer)
    return Composed(content, pdf, message, data)


def compose_file(
    path: Path,
    *,
    db: Database,
    office_id: str | None,
    signer: signing.Signer | None,
    now: dt.datetime,
    attach_source: bool = False,
    fill: Fill | None = None,
) -> Composed:
    """Load, check, render, wrap and sign the plan or report at ``path``, without queuing.

    A number given in the YAML is checked against the register (read only: it is taken for
    good when the document is queued); a blank number stays blank, and the result is a
    preview: unnumbered, unsigned, for reading (:func:`compose_and_queue` takes the next).
    Recipients are not checked against the directory here (it may be empty on a machine
    not yet connected): :func:`compose_and_queue` checks them. The YAML goes with the
    envelope only with ``attach_source``. ``fill`` completes the content before it is
    validated (the e-governance figures a report cites). Raises InputError/ContentError
    (YAML line and column) for anything wrong in the file, including a number already used.
    """
    content, known = _load_checked(path, db=db, office_id=office_id, queuing=False,
                                   fill=fill)
    used = numbers_used(db, content.issuer.organ_id, content.date.year, content.notation)
    check_number(content, used, source=path)
    return _render(content, path, known, signer=signer, now=now, attach_source=attach_source,
                   queuing=False)


def compose_and_queue(
    office: Office,
    path: Path,
    *,
    now: dt.datetime | None = None,
    attach_source: bool = False,
    fill: Fill | None = None,
) -> Queued:
    """Compose the document at ``path``, number it from the register, sign it with the
    office's signer and put it in the outbox: the one door for ``compose --queue``.

    The number (the YAML's, or the next free one of the issuer's notation and year) is
    taken in the register first, in its own short transaction, so that rendering and
    signing hold no lock; if they or the queuing fail, the number is given back. A crash
    in between leaves the number taken but unused (a gap the register shows with its
    DocumentId), never the same number on two documents. Raises ContentError (YAML line
    and column) for a number already used or a recipient missing from the directory, and
    what :func:`compose_file` raises. The YAML is attached only with ``attach_source``.
    """
    now = now or office.clock()
    content, known = _load_checked(path, db=office.db, office_id=office.office_id,
                                   queuing=True, fill=fill)
    issuer, notation, year = content.issuer.organ_id, content.notation, content.date.year
    asked = int(content.number) if content.number else None

    def document_id(number: int) -> str:
        return str(content.model_copy(update={"number": str(number)}).document_id())

    with office.db.transaction() as conn:
        try:
            number = register_store.reserve(
                conn,
                office_id=issuer,
                notation=notation,
                year=year,
                number=asked,
                document_id=document_id,
                now=now,
                also_used=_queued_numbers(conn, issuer, notation, year),
            )
        except register_store.NumberTakenError:
            raise number_used(content, source=path) from None
    numbered = content.model_copy(update={"number": str(number)})
    try:
        composed = _render(numbered, path, known, signer=office.signer, now=now,
                           attach_source=attach_source, queuing=True)
        outbox_id, new = queue_message(office, composed.data, composed=True)
    except BaseException:
        with office.db.transaction() as conn:
            register_store.release(
                conn, office_id=issuer, notation=notation, year=year, number=number
            )
        raise
    return Queued(composed, outbox_id, new)
