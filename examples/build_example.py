"""Build ``examples/ke-hoach-papi-2020.edxml``: the example message README's main command reads.

The message is the envelope a commune's People's Committee sends to its district with the
PAPI improvement plan of 2020 (see ../shared/seed). It is written by this project's writer,
not copied from anywhere; the OrganIds are illustrative, well-formed codes (real codes come
from the organisation directory). Run ``python examples/build_example.py`` to regenerate it;
a test checks that the shipped file equals what this script builds.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from edoc_exchange import edxml

HERE = Path(__file__).resolve().parent
OUTPUT = HERE / "ke-hoach-papi-2020.edxml"

COMMUNE = edxml.OrganizationInfo(
    organ_id="000.12.05.H38",
    organization_in_charge="UBND huyện Bắc Hà",
    organ_name="UBND xã Nậm Khánh",
    organ_add="Xã Nậm Khánh, huyện Bắc Hà, tỉnh Lào Cai",
    email="ubndnamkhanh@laocai.gov.vn",
)
DISTRICT = edxml.OrganizationInfo(
    organ_id="000.00.05.H38",
    organization_in_charge="UBND tỉnh Lào Cai",
    organ_name="UBND huyện Bắc Hà",
    organ_add="Thị trấn Bắc Hà, huyện Bắc Hà, tỉnh Lào Cai",
)

SUMMARY = """KẾ HOẠCH
Cải thiện Chỉ số hiệu quả quản trị và hành chính công (PAPI) xã Nậm Khánh năm 2020

Tóm tắt (ví dụ của edoc-exchange): kế hoạch giao nhiệm vụ theo 8 nội dung của PAPI —
tham gia của người dân ở cấp cơ sở; công khai, minh bạch; trách nhiệm giải trình;
kiểm soát tham nhũng; thủ tục hành chính công; cung ứng dịch vụ công;
quản trị môi trường; quản trị điện tử (gửi, nhận văn bản điện tử qua trục liên thông).
"""


def build() -> edxml.Document:
    """The example plan envelope, as a model."""
    issued = dt.date(2020, 6, 4)
    return edxml.Document(
        sender=COMMUNE,
        recipients=[DISTRICT],
        document_id=f"{COMMUNE.organ_id},2020/06/04,35/KH-UBND",
        code=edxml.Code(number="35", notation="KH-UBND"),
        promulgation=edxml.PromulgationInfo(place="Nậm Khánh", date=issued),
        document_type=edxml.DocumentType(type="1", type_name="Kế hoạch"),
        subject="Cải thiện Chỉ số hiệu quả quản trị và hành chính công (PAPI) "
        "xã Nậm Khánh năm 2020",
        signer=edxml.SignerInfo(
            competence="TM. ỦY BAN NHÂN DÂN", position="CHỦ TỊCH", full_name="Nguyễn Văn A"
        ),
        due_date=dt.date(2020, 12, 31),
        other_info=edxml.OtherInfo(priority=0, promulgation_amount=1, page_amount=9),
        steering_type="0",
        to_places=["UBND huyện Bắc Hà", "Đảng ủy xã", "Lưu: VT"],
        trace=[
            edxml.TraceHeader(
                organ_id=COMMUNE.organ_id,
                timestamp=dt.datetime(2020, 6, 4, 9, 30, tzinfo=edxml.VN_TZ),
            )
        ],
        business=edxml.Bussiness(
            doc_type=edxml.BusinessDocType.NEW,
            reason="Văn bản điện tử mới",
            paper=0,
            staff_info=edxml.StaffInfo(department="Văn phòng - Thống kê", staff="Văn thư xã"),
        ),
        attachments=[
            edxml.Attachment(
                content_id="cid:ke-hoach-papi-2020-tom-tat",
                name="ke-hoach-papi-2020-tom-tat.txt",
                content_type="text/plain; charset=utf-8",
                description="Tóm tắt kế hoạch",
                data=SUMMARY.encode("utf-8"),
            )
        ],
    )


if __name__ == "__main__":
    edxml.write_file(build(), OUTPUT)
    print(OUTPUT)
