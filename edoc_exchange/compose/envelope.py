"""From a plan or report (and its PDF) to the edXML document that carries it.

The header is taken from the content: Code and PromulgationInfo from the number, notation,
place and date; DocumentType with TypeName "Kế hoạch"/"Báo cáo"; Subject; SignerInfo;
DueDate; Priority from the urgency; ToPlaces from every line of "Nơi nhận"; To from the
recipients that carry an OrganId, each of which must be in the organisation directory.
The PDF is attached, and the YAML it was made from when the caller passes it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Collection, Mapping
from pathlib import Path

from .. import edxml
from .errors import ContentError, Problem
from .load import locate
from .models import Plan, Report

__all__ = ["TYPE_CODE", "attachment_stem", "check_number", "number_used", "to_document"]

#: edXML DocumentType/Type written for our documents. The numeric codes are not documented
#: consistently across peers (the official samples use 1); TypeName is the reliable field.
TYPE_CODE = "1"


def _problem(
    source: Path | None, loc: tuple[str | int, ...], code: str, vi: str, en: str
) -> Problem:
    where = locate(source, loc) if source is not None else Problem("", "", None, None, "", "")
    path = where.path or ".".join(str(p) for p in loc)
    return dataclasses.replace(where, code=code, path=path, vi=vi, en=en)


def attachment_stem(document: Plan | Report) -> str:
    """A file name stem for the attachments: ``KH-UBND-2020-06-04`` (ASCII, no spaces)."""
    notation = re.sub(r"[^A-Za-z0-9-]+", "", document.notation.replace("Đ", "D").replace("đ", "d"))
    number = f"{document.number}-" if document.number else ""
    return f"{number}{notation}-{document.date.isoformat()}"


def number_used(document: Plan | Report, *, source: Path | None = None) -> ContentError:
    """The refusal of a number the issuer already used this year, at the YAML's line."""
    return ContentError(
        [
            _problem(
                source,
                ("number",),
                "number-used",
                f"Số {document.number}/{document.notation} đã được {document.issuer.name} "
                f"dùng trong năm {document.date.year}; văn bản phải có số mới",
                f"number {document.number} was already used by {document.issuer.name} in "
                f"{document.date.year} ({document.number}/{document.notation}); the document "
                "needs a new number",
            )
        ],
        source=str(source) if source else None,
    )


def check_number(
    document: Plan | Report, used: Collection[str], *, source: Path | None = None
) -> None:
    """Refuse a number the issuer already used this year (the outgoing register's rule).

    This only reads: the office takes a number for good in its register when it queues
    the document (``office.compose_and_queue``), where two processes cannot both take it.
    """
    if document.number and document.number in used:
        raise number_used(document, source=source)


def to_document(
    document: Plan | Report,
    *,
    directory: Mapping[str, str],
    pdf: bytes,
    source_yaml: bytes | None,
    now: dt.datetime,
    source: Path | None = None,
    pages: int | None = None,
    unnumbered: bool = False,
) -> edxml.Document:
    """The edXML document for ``document``; ContentError (YAML line and column) when a
    recipient's OrganId is not in ``directory`` (OrganId -> name) or nobody can receive it.
    ``source_yaml`` None leaves the YAML out (a draft issued from the pages attaches it only
    when asked). ``unnumbered`` lets a document without a number through (a preview: the
    strict writer still refuses it, ``office.write_unnumbered`` writes it for reading).
    """
    problems: list[Problem] = []
    recipients: list[edxml.OrganizationInfo] = []
    for index, recipient in enumerate(document.recipients):
        if recipient.organ_id is None:
            continue
        name = directory.get(recipient.organ_id)
        if name is None:
            problems.append(
                _problem(
                    source,
                    ("recipients", index, "organ_id"),
                    "unknown-recipient",
                    f"Mã định danh {recipient.organ_id} ({recipient.name}) không có trong danh bạ "
                    "cơ quan của trục; kiểm tra mã hoặc cập nhật danh bạ (edoc agencies)",
                    f"OrganId {recipient.organ_id} ({recipient.name}) is not in the axis's "
                    "organisation directory; check the code or refresh the directory",
                )
            )
            continue
        recipients.append(edxml.OrganizationInfo(organ_id=recipient.organ_id, organ_name=name))
    if not recipients and not problems:
        problems.append(
            _problem(
                source,
                ("recipients",),
                "no-recipient",
                "Không có nơi nhận nào có mã định danh: văn bản không thể gửi qua trục",
                "no recipient carries an OrganId: the document cannot be sent over the axis",
            )
        )
    if document.number is None and not unnumbered:
        problems.append(
            _problem(
                source,
                ("number",),
                "number-missing",
                "Văn bản chưa có số: đăng ký số (hoặc dùng --queue để lấy số tiếp theo) "
                "trước khi gửi",
                "the document has no number yet: register one (or use --queue to take the next) "
                "before sending",
            )
        )
    if problems:
        raise ContentError(problems, source=str(source) if source else None)
    issuer = document.issuer
    kind = document.kind_of
    response_for = []
    if isinstance(document, Report) and document.reports_on is not None:
        # A report answers the plan it reports on: ResponseFor links the two at the receiver.
        plan = edxml.DocumentId.parse(str(document.reports_on))
        response_for.append(
            edxml.ResponseFor(
                organ_id=str(plan.organ_id),
                code=f"{plan.number}/{plan.notation}",
                promulgation_date=plan.date,
                document_id=str(plan),
            )
        )
    stem = attachment_stem(document)
    return edxml.Document(
        sender=edxml.OrganizationInfo(
            organ_id=issuer.organ_id,
            organ_name=issuer.name,
            organization_in_charge=issuer.parent,
        ),
        recipients=recipients,
        document_id=str(document.document_id()),
        code=edxml.Code(number=document.number, notation=document.notation),
        promulgation=edxml.PromulgationInfo(
            place=document.place or issuer.place, date=document.date
        ),
        document_type=edxml.DocumentType(type=TYPE_CODE, type_name=kind.type_name),
        subject=document.subject,
        signer=edxml.SignerInfo(
            competence=document.signer.competence,
            position=document.signer.position,
            full_name=document.signer.name,
        ),
        due_date=document.due_date,
        response_for=response_for,
        other_info=edxml.OtherInfo(
            priority=document.urgency.priority,
            promulgation_amount=1,
            page_amount=pages,
        ),
        to_places=[r.name for r in document.recipients] + [f"Lưu: {document.filed}"],
        trace=[edxml.TraceHeader(organ_id=issuer.organ_id, timestamp=now)],
        business=edxml.Bussiness(
            doc_type=edxml.BusinessDocType.NEW, reason="Văn bản điện tử mới", paper=0
        ),
        attachments=[
            edxml.Attachment(
                content_id=f"cid:{stem}.pdf",
                name=f"{stem}.pdf",
                content_type="application/pdf",
                description=f"{kind.type_name}: {document.subject}"[:500],
                data=pdf,
            ),
        ]
        + (
            [
                edxml.Attachment(
                    content_id=f"cid:{stem}.yaml",
                    name=f"{stem}.yaml",
                    content_type="application/yaml",
                    description="Nội dung có cấu trúc (edoc-exchange YAML)",
                    data=source_yaml,
                )
            ]
            if source_yaml is not None
            else []
        ),
    )
