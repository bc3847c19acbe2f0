"""Hypothesis strategies for valid edXML models, with Vietnamese in both Unicode forms."""

from __future__ import annotations

import datetime as dt
import unicodedata

from hypothesis import strategies as st

from edoc_exchange import edxml
from edoc_exchange.edxml.formats import VN_TZ

_VI_LETTERS = "ăâđêôơưĂÂĐÊÔƠƯàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ"
_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,-()" + _VI_LETTERS


@st.composite
def vi_text(draw: st.DrawFn, max_len: int = 60, min_len: int = 1) -> str:
    """Text in Vietnamese, sometimes given in decomposed (NFD) form: the model must NFC it."""
    text = draw(st.text(alphabet=_ALPHABET, min_size=min_len, max_size=max_len))
    text = text.strip() or "x"
    if draw(st.booleans()):
        text = unicodedata.normalize("NFD", text)
    return text


def digits(n: int) -> st.SearchStrategy[str]:
    return st.text(alphabet="0123456789", min_size=n, max_size=n)


organ_ids = st.builds(
    lambda a, b, c, letter, num: f"{a}.{b}.{c}.{letter}{num}",
    digits(3),
    digits(2),
    digits(2),
    st.sampled_from("ABCDEFGHIJK"),
    digits(2),
)
dates = st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2099, 12, 31))
timestamps = st.datetimes(
    min_value=dt.datetime(2000, 1, 1),
    max_value=dt.datetime(2090, 1, 1),
    timezones=st.sampled_from([VN_TZ, dt.UTC, dt.timezone(dt.timedelta(hours=-5))]),
)
notations = st.text(alphabet="ABCDEGHKLMNPQSTUVXĐ-", min_size=1, max_size=20).filter(
    lambda s: s.strip("-")
)
numbers = st.text(alphabet="0123456789", min_size=1, max_size=6)
document_ids = st.builds(
    lambda o, d, n, c: str(edxml.DocumentId(edxml.OrganId.parse(o), d, n, c)),
    organ_ids,
    dates,
    numbers,
    notations,
)


def organizations() -> st.SearchStrategy[edxml.OrganizationInfo]:
    return st.builds(
        edxml.OrganizationInfo,
        organ_id=organ_ids,
        organization_in_charge=st.none() | vi_text(),
        organ_name=vi_text(max_len=100),
        organ_add=st.none() | vi_text(),
        email=st.none() | st.just("vanthu@namkhanh.laocai.gov.vn"),
        telephone=st.none() | digits(10),
        fax=st.none() | digits(8),
        website=st.none() | st.just("namkhanh.laocai.gov.vn"),
    )


staff = st.builds(
    edxml.StaffInfo,
    department=st.none() | vi_text(),
    staff=st.none() | vi_text(max_len=40),
    email=st.none() | st.just("vanthu@example.gov.vn"),
    mobile=st.none() | digits(10),
)

response_fors = st.builds(
    edxml.ResponseFor,
    organ_id=organ_ids,
    code=st.builds(lambda n, c: f"{n}/{c}", numbers, notations),
    promulgation_date=dates,
    document_id=document_ids,
)

# Each file goes as its own type (a .zip as a zip): the writer refuses a packed attachment.
_FILE_TYPES = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "yaml": "text/yaml",
    "zip": "application/zip",
}
attachments = st.lists(
    st.builds(
        lambda cid, stem, ext, description, data: edxml.Attachment(
            content_id=cid,
            name=f"{stem.strip() or 'tep'}.{ext}",
            content_type=_FILE_TYPES[ext],
            description=description,
            data=data,
        ),
        st.uuids().map(lambda u: f"cid:{u}"),
        vi_text(max_len=40),
        st.sampled_from(sorted(_FILE_TYPES)),
        st.none() | vi_text(),
        st.binary(max_size=3000),
    ),
    max_size=3,
    unique_by=lambda a: a.content_id,
)

business = st.builds(
    edxml.Bussiness,
    document_id=st.none() | document_ids,
    doc_type=st.integers(0, 3),
    reason=st.none() | vi_text(),
    paper=st.none() | st.integers(0, 1),
    staff_info=st.none() | staff,
    replacements=st.lists(
        st.builds(
            edxml.ReplacementInfo,
            document_id=document_ids,
            organ_ids=st.lists(organ_ids, max_size=3),
        ),
        max_size=2,
    ),
    document_info=st.none()
    | st.builds(
        edxml.BussinessDocumentInfo,
        document_info=st.sampled_from(["0", "1"]),
        document_receiver=st.sampled_from(["0", "1"]),
        receivers=st.lists(
            st.builds(
                edxml.Receiver, organ_id=organ_ids, receiver_type=st.sampled_from(["0", "1"])
            ),
            max_size=3,
        ),
    ),
)

documents = st.builds(
    edxml.Document,
    sender=organizations(),
    recipients=st.lists(organizations(), min_size=1, max_size=3),
    document_id=document_ids,
    code=st.builds(edxml.Code, number=numbers, notation=notations),
    promulgation=st.builds(edxml.PromulgationInfo, place=vi_text(max_len=60), date=dates),
    document_type=st.builds(
        edxml.DocumentType,
        type=st.sampled_from(["1", "2", "10"]),
        type_detail=st.none() | st.just("0"),
        type_name=st.sampled_from(["Kế hoạch", "Báo cáo", "Công văn", "Quyết định"]),
    ),
    subject=vi_text(max_len=300),
    content=st.none() | vi_text(max_len=300),
    signer=st.builds(
        edxml.SignerInfo,
        competence=st.none() | st.just("TM. ỦY BAN NHÂN DÂN"),
        position=st.sampled_from(["CHỦ TỊCH", "PHÓ CHỦ TỊCH"]),
        full_name=vi_text(max_len=40),
    ),
    due_date=st.none() | dates,
    other_info=st.none()
    | st.builds(
        edxml.OtherInfo,
        priority=st.integers(0, 4),
        sphere_of_promulgation=st.none() | vi_text(max_len=60),
        typer_notation=st.none() | st.text(alphabet="ABCDEFGH", min_size=1, max_size=5),
        promulgation_amount=st.none() | st.integers(0, 500),
        page_amount=st.none() | st.integers(0, 500),
        direction=st.none() | st.booleans(),
        appendixes=st.lists(vi_text(), max_size=2),
    ),
    response_for=st.lists(response_fors, max_size=2),
    steering_type=st.none() | st.sampled_from(["0", "1"]),
    to_places=st.lists(vi_text(), max_size=3),
    trace=st.lists(
        st.builds(edxml.TraceHeader, organ_id=organ_ids, timestamp=timestamps),
        min_size=1,
        max_size=3,
    ),
    business=st.none() | business,
    attachments=attachments,
)

status_messages = st.builds(
    edxml.StatusMessage,
    sender=organizations(),
    response_for=response_fors,
    staff_info=st.none() | staff,
    status_code=st.sampled_from(["01", "02", "03", "04", "05", "06", "13", "15", "16", "09"]),
    description=st.none() | vi_text(max_len=200),
    timestamp=timestamps,
)

messages = documents | status_messages
