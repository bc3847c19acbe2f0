"""Small builders of valid messages for tests (the hypothesis strategies cover the rest)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from edoc_exchange import edxml

COMMUNE = "000.12.05.H38"
DISTRICT = "000.00.05.H38"


def organization(organ_id: str, name: str) -> edxml.OrganizationInfo:
    return edxml.OrganizationInfo(organ_id=organ_id, organ_name=name)


def document(**overrides: Any) -> edxml.Document:
    """A valid plan from the commune to the district, with one small attachment."""
    fields: dict[str, Any] = {
        "sender": organization(COMMUNE, "UBND xã Nậm Khánh"),
        "recipients": [organization(DISTRICT, "UBND huyện Bắc Hà")],
        "document_id": f"{COMMUNE},2026/11/20,12/KH-UBND",
        "code": edxml.Code(number="12", notation="KH-UBND"),
        "promulgation": edxml.PromulgationInfo(place="Nậm Khánh", date=dt.date(2026, 11, 20)),
        "document_type": edxml.DocumentType(type="1", type_name="Kế hoạch"),
        "subject": "Kế hoạch cải thiện chỉ số PAPI năm 2026",
        "signer": edxml.SignerInfo(
            competence="TM. ỦY BAN NHÂN DÂN", position="CHỦ TỊCH", full_name="Lý Văn B"
        ),
        "trace": [
            edxml.TraceHeader(
                organ_id=COMMUNE, timestamp=dt.datetime(2026, 11, 20, 8, 0, tzinfo=edxml.VN_TZ)
            )
        ],
        "attachments": [
            edxml.Attachment(
                content_id="cid:plan-1",
                name="ke-hoach.pdf",
                content_type="application/pdf",
                data=b"%PDF-1.7 test\n" * 20,
            )
        ],
    }
    fields.update(overrides)
    return edxml.Document(**fields)


def status(code: str = "01", **overrides: Any) -> edxml.StatusMessage:
    """A status message from the district answering the plan."""
    fields: dict[str, Any] = {
        "sender": organization(DISTRICT, "UBND huyện Bắc Hà"),
        "response_for": edxml.ResponseFor(
            organ_id=COMMUNE,
            code="12/KH-UBND",
            promulgation_date=dt.date(2026, 11, 20),
            document_id=f"{COMMUNE},2026/11/20,12/KH-UBND",
        ),
        "status_code": code,
        "description": "Đã đến",
        "timestamp": dt.datetime(2026, 11, 20, 9, 0, tzinfo=edxml.VN_TZ),
    }
    fields.update(overrides)
    return edxml.StatusMessage(**fields)


def document_bytes(**overrides: Any) -> bytes:
    return edxml.write(document(**overrides))
