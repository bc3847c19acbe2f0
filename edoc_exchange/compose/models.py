"""The structured input of a commune plan (kế hoạch) and report (báo cáo), as pydantic models.

A clerk writes the content once, in YAML; from it come the PDF in the layout of Nghị định
30/2020/NĐ-CP and the edXML header fields. The models say what a document of each kind
must hold and nothing about presentation: numbering of headings is computed (I., 1., a)),
the recipients' lines get their punctuation when rendered.

Text is NFC-normalised, trimmed and its runs of white space collapsed on input: Vietnamese
arrives precomposed or decomposed and a paragraph is one flowing run of words. Failed
checks raise :class:`Invalid`, a ``ValueError`` with a Vietnamese and an English text that
the loader shows as they are.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import unicodedata
from collections.abc import Iterator
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from ..edxml.identifiers import DocumentId, OrganId

__all__ = [
    "MAX_DEPTH",
    "Block",
    "Bullets",
    "DimensionResult",
    "DocumentKind",
    "Figure",
    "Indicators",
    "Invalid",
    "Issuer",
    "PapiDimension",
    "Period",
    "Plan",
    "Recipient",
    "Report",
    "Responsibilities",
    "Responsibility",
    "Section",
    "Signatory",
    "Urgency",
    "indicator_name",
]

#: Heading levels the layout numbers: I., 1., a).
MAX_DEPTH = 3


class Invalid(ValueError):  # noqa: N818 (reads as "raise Invalid(...)")
    """A failed check with both texts; ``loc`` points below the validated value, if needed.

    Pydantic wraps the exception; the loader unwraps it and shows ``vi`` and ``en``.
    """

    def __init__(
        self, vi: str, en: str, *, code: str = "invalid", loc: tuple[str | int, ...] = ()
    ) -> None:
        super().__init__(en)
        self.vi = vi
        self.en = en
        self.code = code
        self.loc = loc


# --- text --------------------------------------------------------------------------------------

_WHITESPACE = re.compile(r"\s+")
_NOT_XML_CHAR = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _clean(value: str) -> str:
    # One normal form for signing, comparing and searching; one space between words.
    bad = _NOT_XML_CHAR.search(value)
    if bad is not None:
        code = f"U+{ord(bad.group()):04X}"
        raise Invalid(
            f"Ký tự điều khiển {code} không được phép trong văn bản",
            f"control character {code} is not allowed in text",
            code="character",
        )
    text = _WHITESPACE.sub(" ", unicodedata.normalize("NFC", value)).strip()
    if not text:
        raise Invalid("Không được để trống", "must not be empty", code="empty")
    return text


#: Non-empty text, NFC, trimmed, one space between words.
Text = Annotated[str, AfterValidator(_clean)]


def _at_most(limit: int) -> AfterValidator:
    """A length limit of the edXML field the text goes to, checked on the cleaned text."""

    def check(value: str) -> str:
        if len(value) > limit:
            raise Invalid(
                f"Quá dài: {len(value)} ký tự, tối đa {limit}",
                f"too long: {len(value)} characters, at most {limit}",
                code="too-long",
            )
        return value

    return AfterValidator(check)


def _day(value: Any) -> Any:
    # YAML gives a date for 2020-06-04 and a string when quoted; a time of day or a number
    # of seconds is not a date, and pydantic would accept both silently.
    if isinstance(value, dt.datetime):
        raise Invalid(
            "Cần một ngày (yyyy-mm-dd), không có giờ",
            "a date (yyyy-mm-dd) without a time is needed",
            code="date",
        )
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise Invalid(
        f"Ngày '{value}' không hợp lệ, viết dạng yyyy-mm-dd (ví dụ 2020-06-04)",
        f"'{value}' is not a valid date; write yyyy-mm-dd (e.g. 2020-06-04)",
        code="date",
    )


#: A calendar date written ``yyyy-mm-dd``.
Day = Annotated[dt.date, BeforeValidator(_day)]


def _organ_id(value: str) -> str:
    return str(OrganId.parse(value))  # IdentifierError is a ValueError with vi/en


def _document_id(value: str) -> str:
    return str(DocumentId.parse(value))


OrganIdText = Annotated[str, AfterValidator(_organ_id)]
DocumentIdText = Annotated[str, AfterValidator(_document_id)]


def _choice(enum_cls: type[_Keyed], label_vi: str, label_en: str, code: str) -> BeforeValidator:
    """Accept an enum's key only, with an error that lists every key and its meaning."""

    def check(value: Any) -> Any:
        if isinstance(value, enum_cls):
            return value
        if isinstance(value, str) and value.strip() in enum_cls._value2member_map_:
            return enum_cls(value.strip())
        choices = ", ".join(f"{m.value} ({m.vi})" for m in enum_cls)
        raise Invalid(
            f"{label_vi} '{value}' không có; chọn một trong: {choices}",
            f"unknown {label_en} '{value}'; choose one of: " + ", ".join(m.value for m in enum_cls),
            code=code,
        )

    return BeforeValidator(check)


# --- vocabularies ------------------------------------------------------------------------------


class _Keyed(enum.StrEnum):
    """An enum with stable ASCII keys (what the YAML holds) and Vietnamese names."""

    @property
    def vi(self) -> str:
        """The Vietnamese name."""
        raise NotImplementedError


class PapiDimension(_Keyed):
    """The eight dimensions of the PAPI index, in the index's order; keys are stable."""

    THAM_GIA = "tham-gia"  #: 1. participation at local levels
    CONG_KHAI = "cong-khai"  #: 2. transparency
    GIAI_TRINH = "giai-trinh"  #: 3. vertical accountability
    KIEM_SOAT_THAM_NHUNG = "kiem-soat-tham-nhung"  #: 4. control of corruption
    THU_TUC_HANH_CHINH = "thu-tuc-hanh-chinh"  #: 5. public administrative procedures
    DICH_VU_CONG = "dich-vu-cong"  #: 6. public service delivery
    MOI_TRUONG = "moi-truong"  #: 7. environmental governance
    QUAN_TRI_DIEN_TU = "quan-tri-dien-tu"  #: 8. e-governance

    @property
    def number(self) -> int:
        """The dimension's number in the index (1-8)."""
        return list(PapiDimension).index(self) + 1

    @property
    def vi(self) -> str:
        """The Vietnamese name, as the index names it."""
        return _PAPI_NAMES[self][0]

    @property
    def en(self) -> str:
        """The English name."""
        return _PAPI_NAMES[self][1]


_PAPI_NAMES: dict[PapiDimension, tuple[str, str]] = {
    PapiDimension.THAM_GIA: ("Tham gia của người dân ở cấp cơ sở", "Participation at local levels"),
    PapiDimension.CONG_KHAI: ("Công khai, minh bạch", "Transparency"),
    PapiDimension.GIAI_TRINH: ("Trách nhiệm giải trình với người dân", "Vertical accountability"),
    PapiDimension.KIEM_SOAT_THAM_NHUNG: (
        "Kiểm soát tham nhũng trong khu vực công",
        "Control of corruption in the public sector",
    ),
    PapiDimension.THU_TUC_HANH_CHINH: (
        "Thủ tục hành chính công",
        "Public administrative procedures",
    ),
    PapiDimension.DICH_VU_CONG: ("Cung ứng dịch vụ công", "Public service delivery"),
    PapiDimension.MOI_TRUONG: ("Quản trị môi trường", "Environmental governance"),
    PapiDimension.QUAN_TRI_DIEN_TU: ("Quản trị điện tử", "E-governance"),
}


class Urgency(_Keyed):
    """Độ khẩn (Nghị định 30/2020); ``priority`` is the edXML ``OtherInfo/Priority``."""

    THUONG = "thuong"  #: thường: no mark printed
    KHAN = "khan"  #: khẩn
    THUONG_KHAN = "thuong-khan"  #: thượng khẩn
    HOA_TOC = "hoa-toc"  #: hỏa tốc

    @property
    def priority(self) -> int:
        """edXML Priority: 0 thường, 1 khẩn, 2 thượng khẩn, 3 hỏa tốc."""
        return list(Urgency).index(self)

    @property
    def vi(self) -> str:
        """The Vietnamese name; the printed mark is its upper case (none for thường)."""
        return {
            "thuong": "Thường",
            "khan": "Khẩn",
            "thuong-khan": "Thượng khẩn",
            "hoa-toc": "Hỏa tốc",
        }[self.value]


class DocumentKind(enum.StrEnum):
    """The kinds of document composed here, with the decree's abbreviation and names."""

    PLAN = "plan"  #: kế hoạch, KH
    REPORT = "report"  #: báo cáo, BC

    @property
    def abbreviation(self) -> str:
        """Chữ viết tắt tên loại văn bản (Phụ lục III): the first part of the notation."""
        return {"plan": "KH", "report": "BC"}[self.value]

    @property
    def type_name(self) -> str:
        """The edXML ``TypeName`` and the name in running text."""
        return {"plan": "Kế hoạch", "report": "Báo cáo"}[self.value]

    @property
    def printed_name(self) -> str:
        """The printed title (tên loại văn bản), in capitals."""
        return {"plan": "KẾ HOẠCH", "report": "BÁO CÁO"}[self.value]


Papi = Annotated[
    PapiDimension, _choice(PapiDimension, "Nội dung PAPI", "PAPI dimension", "papi-dimension")
]
UrgencyLevel = Annotated[Urgency, _choice(Urgency, "Độ khẩn", "urgency", "urgency")]


# --- parts -------------------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Issuer(_Model):
    """Cơ quan ban hành: printed under its parent body (cơ quan chủ quản) in the header."""

    name: Annotated[
        Text,
        _at_most(200),
        Field(
            description=(
                "Tên cơ quan ban hành, viết thường như tên riêng (in hoa khi trình bày) / "
                "issuing body, e.g. 'Ủy ban nhân dân xã Nậm Khánh'"
            )
        ),
    ]
    parent: Annotated[
        Annotated[Text, _at_most(200)] | None,
        Field(
            description=(
                "Tên cơ quan chủ quản trực tiếp / the parent body, e.g. 'UBND huyện Bắc Hà'"
            )
        ),
    ] = None
    organ_id: Annotated[
        OrganIdText,
        Field(description=("Mã định danh cơ quan (QCVN 102) / OrganId, e.g. 000.12.05.H38")),
    ]
    place: Annotated[
        Text,
        _at_most(150),
        Field(description=("Địa danh ghi trên văn bản / the place name of the place-date line")),
    ]


class Recipient(_Model):
    """One line of "Nơi nhận"; ``organ_id`` when the document is sent to it electronically."""

    name: Annotated[
        Text,
        Field(
            description=(
                "Dòng nơi nhận, không cần dấu ';' cuối / the recipient line, without the final ';'"
            )
        ),
    ]
    organ_id: Annotated[
        OrganIdText | None,
        Field(description=("Mã định danh khi gửi điện tử / OrganId when sent over the axis")),
    ] = None


class Signatory(_Model):
    """Người ký: thẩm quyền (TM./KT./Q.), chức vụ, họ tên (edXML ``SignerInfo``)."""

    competence: Annotated[
        Annotated[Text, _at_most(100)] | None,
        Field(description=("Quyền hạn ký, e.g. 'TM. ỦY BAN NHÂN DÂN'")),
    ] = None
    position: Annotated[Text, _at_most(100), Field(description="Chức vụ, e.g. 'CHỦ TỊCH'")]
    name: Annotated[Text, _at_most(50), Field(description="Họ và tên người ký")]


def indicator_name(text: str) -> str:
    """The indicator an indicator paragraph describes: its words before the first colon."""
    return text.split(":", 1)[0].strip()


def _indicator(text: str) -> str:
    if not indicator_name(text) or ":" not in text:
        raise Invalid(
            "Đoạn chỉ số phải bắt đầu bằng tên chỉ số và dấu hai chấm ('Tên chỉ số: nội dung')",
            "an indicator paragraph starts with the indicator's name and a colon ('Name: text')",
            code="indicator",
        )
    return text


class Bullets(_Model):
    """A list whose items are printed after a dash ("- "), as the decree's body does."""

    bullets: Annotated[list[Text], Field(min_length=1)]


class Indicators(_Model):
    """Paragraphs that each describe one sub-indicator: "Name: what it measures".

    The seed writes them bulleted under dimension 1 and as plain paragraphs elsewhere;
    ``bulleted`` keeps that. The text is kept whole (as written, spaces before the colon
    included) and the name is derived, so nothing of the wording is lost.
    """

    indicators: Annotated[list[Annotated[Text, AfterValidator(_indicator)]], Field(min_length=1)]
    bulleted: bool = False

    @property
    def names(self) -> list[str]:
        """The indicators' names, in order."""
        return [indicator_name(text) for text in self.indicators]


class Responsibility(_Model):
    """Who does what: printed "N. <party> <duty>", or "N. Đề nghị <party> <duty>".

    ``request`` is for bodies the committee cannot command (the Fatherland Front, mass
    organisations): the decree's wording asks them ("Đề nghị") instead of assigning.
    """

    party: Annotated[Text, Field(description="Người/cơ quan thực hiện / who")]
    duty: Annotated[Text, Field(description="Nhiệm vụ / what they do")]
    request: bool = False

    @property
    def text(self) -> str:
        """The sentence as printed, without its number."""
        head = f"Đề nghị {self.party}" if self.request else self.party
        return f"{head} {self.duty}"


class Responsibilities(_Model):
    """Numbered assignments (tổ chức thực hiện); they share numbering with sub-sections."""

    responsibilities: Annotated[list[Responsibility], Field(min_length=1)]


class Section(_Model):
    """A numbered heading and what is under it; ``papi`` tags a task section's dimension."""

    heading: Annotated[
        Text,
        Field(
            description=(
                "Tiêu đề, không ghi số thứ tự (số được đánh tự động: I., 1., a)) / heading "
                "without its number"
            )
        ),
    ]
    papi: Annotated[
        Papi | None,
        Field(
            description=(
                "Nội dung PAPI của phần nhiệm vụ này / the PAPI dimension of this task section"
            )
        ),
    ] = None
    content: Annotated[list[Block], Field(default_factory=list)]

    def walk(self, depth: int = 1) -> Iterator[tuple[int, Section]]:
        """This section and every section below it, with their depth (1 = I., II., …)."""
        yield depth, self
        for block in self.content:
            if isinstance(block, Section):
                yield from block.walk(depth + 1)


def _block_kind(value: Any) -> str | None:
    # Tags end in "-block" so that they never read as keys of the data: the loader walks
    # an error's location through the YAML and skips the parts that are not in it.
    if isinstance(value, str):
        return "paragraph-block"
    if isinstance(value, BaseModel):
        return _KIND_OF_MODEL.get(type(value))
    if isinstance(value, dict):
        for key in ("heading", "bullets", "indicators", "responsibilities"):
            if key in value:
                return f"{key}-block"
    return None


_KIND_OF_MODEL: dict[type[BaseModel], str] = {
    Section: "heading-block",
    Bullets: "bullets-block",
    Indicators: "indicators-block",
    Responsibilities: "responsibilities-block",
}

#: One piece of a section: a paragraph (plain text), a sub-section, bullets, indicator
#: paragraphs, or assignments.
Block = Annotated[
    Annotated[Text, Tag("paragraph-block")]
    | Annotated[Section, Tag("heading-block")]
    | Annotated[Bullets, Tag("bullets-block")]
    | Annotated[Indicators, Tag("indicators-block")]
    | Annotated[Responsibilities, Tag("responsibilities-block")],
    Discriminator(
        _block_kind,
        custom_error_type="block_kind",
        custom_error_message=(
            "a block is a paragraph (text) or a mapping with one of the keys heading, "
            "bullets, indicators, responsibilities"
        ),
    ),
]

Section.model_rebuild()


# --- documents ---------------------------------------------------------------------------------


def _number(value: Any) -> Any:
    # Số: written as 12 or "12" in YAML; blank until the document is registered.
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 10**11:
        return str(value)
    if (
        isinstance(value, str)
        and value.strip().isdigit()
        and value.strip().isascii()
        and len(value.strip()) <= 11
    ):  # edXML CodeNumber holds 11 characters
        return value.strip()
    raise Invalid(
        f"Số văn bản '{value}' phải là số nguyên dương (hoặc để trống khi chưa đăng ký)",
        f"document number '{value}' must be a positive whole number (or blank until registered)",
        code="number",
    )


_NUMBER_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "integer", "minimum": 1},
        {"type": "string", "pattern": "^[0-9]{0,11}$"},
        {"type": "null"},
    ]
}


class _Document(_Model):
    """What plans and reports share: the metadata of the decree's form, body, signature."""

    kind_of: ClassVar[DocumentKind]

    issuer: Issuer
    number: Annotated[
        str | None,
        BeforeValidator(_number),
        WithJsonSchema(_NUMBER_SCHEMA),
        Field(
            description=("Số văn bản; để trống cho đến khi vào sổ / number, blank until registered")
        ),
    ] = None
    notation: Annotated[
        Text,
        _at_most(30),
        Field(description=("Ký hiệu: <loại văn bản>-<cơ quan ban hành>, e.g. KH-UBND, BC-UBND")),
    ]
    place: Annotated[
        Annotated[Text, _at_most(150)] | None,
        Field(description=("Địa danh, nếu khác địa danh của cơ quan / place, if not the issuer's")),
    ] = None
    date: Annotated[Day, Field(description="Ngày ban hành / date of issue (yyyy-mm-dd)")]
    urgency: Annotated[
        UrgencyLevel, Field(description=("Độ khẩn: thuong, khan, thuong-khan, hoa-toc"))
    ] = Urgency.THUONG
    due_date: Annotated[Day | None, Field(description="Hạn xử lý / due date")] = None
    subject: Annotated[Text, _at_most(500), Field(description="Trích yếu nội dung / subject")]
    preamble: Annotated[
        list[Text],
        Field(default_factory=list, description=("Đoạn mở đầu (căn cứ) / opening paragraphs")),
    ]
    sections: Annotated[list[Section], Field(default_factory=list)]
    closing: Annotated[
        list[Text],
        Field(
            default_factory=list, description=("Đoạn kết ('Trên đây là …') / closing paragraphs")
        ),
    ]
    recipients: Annotated[
        list[Recipient],
        Field(
            min_length=1,
            description=("Nơi nhận, trừ dòng 'Lưu' / recipients, without the 'Lưu' line"),
        ),
    ]
    filed: Annotated[
        Text, Field(description=("Nơi lưu, in sau 'Lưu:' ở cuối nơi nhận / where copies are kept"))
    ] = "VT"
    signer: Signatory

    @field_validator("notation")
    @classmethod
    def _notation_matches_kind(cls, value: str) -> str:
        kind = cls.kind_of
        found = value.split("-", 1)[0]
        if found != kind.abbreviation or "-" not in value:
            raise Invalid(
                f"Ký hiệu '{value}' không khớp loại văn bản {kind.type_name}: phải bắt đầu "
                f"bằng '{kind.abbreviation}-' (ví dụ {kind.abbreviation}-UBND)",
                f"notation '{value}' does not match the document type ({kind.value}): it "
                f"must start with '{kind.abbreviation}-' (e.g. {kind.abbreviation}-UBND)",
                code="notation-type",
            )
        return value

    @model_validator(mode="after")
    def _headings_not_too_deep(self) -> _Document:
        for index, section in enumerate(self.sections):
            self._check_depth(section, ("sections", index), 1)
        return self

    @classmethod
    def _check_depth(cls, section: Section, loc: tuple[str | int, ...], depth: int) -> None:
        if depth > MAX_DEPTH:
            raise Invalid(
                f"Đề mục lồng quá {MAX_DEPTH} cấp (I., 1., a)); hãy gộp bớt cấp",
                f"headings nest deeper than {MAX_DEPTH} levels (I., 1., a))",
                code="depth",
                loc=loc,
            )
        for index, block in enumerate(section.content):
            if isinstance(block, Section):
                cls._check_depth(block, (*loc, "content", index), depth + 1)

    @property
    def kind_enum(self) -> DocumentKind:
        """Plan or report."""
        return self.kind_of

    @property
    def promulgation_place(self) -> str:
        """The place of the place-date line: the document's, else the issuer's."""
        return self.place or self.issuer.place

    @property
    def code(self) -> str:
        """``Number/Notation`` as in a DocumentId; the number part is empty until registered."""
        return f"{self.number or ''}/{self.notation}"

    def document_id(self) -> DocumentId:
        """The edXML DocumentId this document will have: ``OrganId,yyyy/MM/dd,Số/Ký hiệu``."""
        return DocumentId(
            OrganId.parse(self.issuer.organ_id), self.date, self.number or "", self.notation
        )

    def sections_by_dimension(self) -> dict[PapiDimension, list[Section]]:
        """Every section tagged with a PAPI dimension, by dimension, in document order."""
        found: dict[PapiDimension, list[Section]] = {}
        for top in self.sections:
            for _, section in top.walk():
                if section.papi is not None:
                    found.setdefault(section.papi, []).append(section)
        return found

    def responsibilities(self) -> list[Responsibility]:
        """Every assignment (who does what), in document order."""
        found: list[Responsibility] = []
        for top in self.sections:
            for _, section in top.walk():
                for block in section.content:
                    if isinstance(block, Responsibilities):
                        found.extend(block.responsibilities)
        return found


class Plan(_Document):
    """Kế hoạch: purpose, one task section per PAPI dimension, who is responsible."""

    kind_of = DocumentKind.PLAN

    kind: Literal["plan"] = Field(description="Loại văn bản: plan (kế hoạch)")


class Period(_Model):
    """The period a report covers (quarter, half-year, year), both days included."""

    label: Annotated[Text, Field(description="e.g. 'Quý III năm 2020'")]
    start: Day
    end: Day

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        if self.end < self.start:
            raise Invalid(
                f"Kỳ báo cáo kết thúc ({self.end}) trước khi bắt đầu ({self.start})",
                f"the period ends ({self.end}) before it starts ({self.start})",
                code="period",
                loc=("end",),
            )
        return self


class Figure(_Model):
    """A measured result: label, value, unit and (optionally) the plan's target."""

    label: Text
    value: Decimal
    unit: Text | None = None
    target: Decimal | None = None
    source: Annotated[
        Text | None,
        Field(
            description=(
                "Nguồn số liệu, e.g. 'nhật ký kiểm toán edoc-exchange' / "
                "where the figure comes from"
            )
        ),
    ] = None
    egov: Annotated[
        Text | None,
        Field(
            description=(
                "Số liệu quản trị điện tử do phần mềm tính (edoc compose --egov KỲ điền giá "
                "trị), e.g. share_sent_electronic / the e-governance figure the tool fills"
            )
        ),
    ] = None


class DimensionResult(_Model):
    """What was done on one PAPI dimension in the period, its figures and difficulties."""

    dimension: Papi
    summary: Annotated[list[Text], Field(default_factory=list)]
    figures: Annotated[list[Figure], Field(default_factory=list)]
    difficulties: Annotated[list[Text], Field(default_factory=list)]


class Report(_Document):
    """Báo cáo on a plan's implementation: results per dimension for a period.

    Rendered as the preamble, a first section of results (one sub-section per dimension,
    in the index's order as given), then the report's own sections (directions, proposals).
    """

    kind_of = DocumentKind.REPORT

    kind: Literal["report"] = Field(description="Loại văn bản: report (báo cáo)")
    period: Period
    reports_on: Annotated[
        DocumentIdText | None,
        Field(
            description=(
                "DocumentId của kế hoạch được báo cáo, nếu có / the plan reported on, if "
                "any, OrganId,yyyy/MM/dd,Số/Ký hiệu"
            )
        ),
    ] = None
    results_heading: Text = "KẾT QUẢ THỰC HIỆN"
    results: Annotated[list[DimensionResult], Field(min_length=1)]

    @model_validator(mode="after")
    def _one_result_per_dimension(self) -> Report:
        seen: set[PapiDimension] = set()
        for index, result in enumerate(self.results):
            if result.dimension in seen:
                raise Invalid(
                    f"Nội dung PAPI '{result.dimension.value}' được báo cáo hai lần",
                    f"PAPI dimension '{result.dimension.value}' is reported twice",
                    code="duplicate-dimension",
                    loc=("results", index, "dimension"),
                )
            seen.add(result.dimension)
        return self
