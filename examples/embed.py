"""Embedding edoc-exchange in another commune tool: build, sign, verify, read a message.

Run ``python examples/embed.py``. It uses a throwaway test CA (never for real documents)
and no network: a tool that sends would add ``edoc_exchange.AxisClient`` (see README).
"""

from __future__ import annotations

import datetime as dt

import edoc_exchange as edoc
from edoc_exchange import edxml
from edoc_exchange.sandbox import new_test_identity


def main() -> None:
    """Compose a report envelope in code, sign it, verify it as the receiver would."""
    commune = edxml.OrganizationInfo(organ_id="000.12.05.H38", organ_name="UBND xã Nậm Khánh")
    district = edxml.OrganizationInfo(organ_id="000.00.05.H38", organ_name="UBND huyện Bắc Hà")
    today = dt.date.today()
    document = edoc.Document(
        sender=commune,
        recipients=[district],
        document_id=str(
            edoc.DocumentId(edoc.OrganId.parse(commune.organ_id), today, "21", "BC-UBND")
        ),
        code=edxml.Code(number="21", notation="BC-UBND"),
        promulgation=edxml.PromulgationInfo(place="Nậm Khánh", date=today),
        document_type=edxml.DocumentType(type="1", type_name="Báo cáo"),
        subject="Báo cáo kết quả thực hiện Kế hoạch cải thiện chỉ số PAPI",
        signer=edxml.SignerInfo(position="CHỦ TỊCH", full_name="Nguyễn Văn A"),
        trace=[
            edxml.TraceHeader(organ_id=commune.organ_id, timestamp=dt.datetime.now(edxml.VN_TZ))
        ],
        attachments=[
            edoc.Attachment(
                name="bao-cao.txt", content_type="text/plain", data="Số liệu quý III".encode()
            )
        ],
    )
    identity = new_test_identity(organ_id=commune.organ_id, name=commune.organ_name or "")
    signed = edoc.sign(document, identity.signer())  # the key object is loaded once
    verified = edoc.verify(signed, edoc.TrustPolicy(roots=(identity.ca_cert,)))
    received = verified.message
    assert isinstance(received, edoc.Document)
    print(f"{received.document_id}: {received.subject}")
    print(f"signed by {verified.subject} ({verified.signature_algorithm})")
    print(
        f"attachment {received.attachments[0].name}: {received.attachments[0].size} bytes, "
        f"sha256 {received.attachments[0].sha256[:16]}…"
    )


if __name__ == "__main__":
    main()
