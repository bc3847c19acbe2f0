"""Pydantic models of QCVN 102:2016 messages: a document (văn bản) and a status message.

Models are frozen values. Text is NFC-normalised and trimmed on construction, timestamps are
brought to Vietnam time at whole seconds, so a model that is written and read back is equal
to itself. Fields that peers fill loosely (identifiers, numeric codes) are kept as the text
that was sent; :mod:`~edoc_exchange.edxml.identifiers` parses them when asked and the
strict checker reports them. Nothing a peer sent is dropped: elements the standard does not
name are kept in ``extensions`` as verbatim XML and written back.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import hashlib
import re
import typing
import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from annotated_types import MinLen
from lxml import etree
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticUndefined

from . import packing
from .formats import clean_text, to_vn_time
from .identifiers import DocumentId, OrganId
from .limits import DEFAULT_LIMITS
from .spec import DSIG_NS, Child, Kind, Need, Rule

__all__ = [
    "AttachedFile",
    "Attachment",
    "BusinessDocType",
    "Bussiness",
    "BussinessDocumentInfo",
    "Code",
    "Document",
    "DocumentType",
    "Message",
    "OrganizationInfo",
    "OtherInfo",
    "PackedFile",
    "PromulgationInfo",
    "RawXml",
    "Receiver",
    "ReplacementInfo",
    "ResponseFor",
    "ResponseForTask",
    "SignerInfo",
    "StaffInfo",
    "StatusCode",
    "StatusMessage",
    "TraceHeader",
]

Text = Annotated[str, AfterValidator(clean_text)]

#: Validation context the reader passes: its values are already converted and never blank.
READER: dict[str, bool] = {"reader": True}
Timestamp = Annotated[dt.datetime, AfterValidator(to_vn_time)]

_RAW_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, remove_comments=True
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The children of this element, in canonical order.
    xml_children: ClassVar[tuple[Child, ...]] = ()

    @model_validator(mode="before")
    @classmethod
    def _drop_empty_elements(cls, data: Any, info: ValidationInfo) -> Any:
        # An element with nothing in it carries no information and is not written; treating
        # it as absent keeps "write, then read" equal to the model that was written. The
        # reader never hands over blank values (context READER): no need to look again.
        if isinstance(data, dict) and info.context is not READER:
            return {key: _none_if_empty(value) for key, value in data.items()}
        return data

    def is_empty(self) -> bool:
        """Whether every field is unset (None or an empty list)."""
        return all(
            value is None or (isinstance(value, list) and not value)
            for value in self.__dict__.values()
        )


def _is_blank(value: Any) -> bool:
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, _Element) and value.is_empty()


def _none_if_empty(value: Any) -> Any:
    # Blank text and empty elements are absent: that is how the reader sees them.
    if _is_blank(value):
        return None
    if isinstance(value, list):
        return [item for item in value if not _is_blank(item)]
    return value


class RawXml(_Model):
    """An element kept verbatim (exclusive canonical XML): extension data, a signature."""

    xml: str

    @field_validator("xml")
    @classmethod
    def _one_element(cls, value: str) -> str:
        value = clean_text(value)
        if "<!DOCTYPE" in value or "<!ENTITY" in value:
            raise ValueError("a DOCTYPE or entity is not allowed in kept XML")
        try:
            etree.fromstring(value.encode("utf-8"), _RAW_PARSER)
        except etree.XMLSyntaxError as exc:
            raise ValueError(f"not a well-formed XML element: {exc}") from None
        return value

    @property
    def tag(self) -> str:
        """The element's qualified name in Clark notation, ``{ns}local``."""
        return str(etree.QName(self.element()))

    def element(self) -> etree._Element:
        """A fresh lxml element of the kept XML (safe parser: no DTD, no entities)."""
        return etree.fromstring(self.xml.encode("utf-8"), _RAW_PARSER)

    def canonical(self) -> str:
        """C14N 2.0 with prefixes rewritten: equal for XML that differs only in prefixes.

        Writing an element into a message lets lxml re-use the message's prefixes (and the
        pretty-printer indent it), so the text changes while the XML means the same;
        equality follows the meaning: prefixes are rewritten and text is trimmed.
        """
        return str(etree.canonicalize(self.xml, rewrite_prefixes=True, strip_text=True))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RawXml):
            return NotImplemented
        return self.xml == other.xml or self.canonical() == other.canonical()

    def __hash__(self) -> int:
        return hash(self.canonical())


class _Element(_Model):
    """An element with children; unknown children are kept in ``extensions``."""

    extensions: list[RawXml] = Field(default_factory=list)


def _org_children() -> tuple[Child, ...]:
    return (
        Child("OrganId", "organ_id", need=Need.ALWAYS, rule=Rule.ORGAN_ID),
        Child("OrganizationInCharge", "organization_in_charge"),
        Child("OrganName", "organ_name", need=Need.STRICT, max_len=200),
        Child("OrganAdd", "organ_add"),
        Child("Email", "email"),
        Child("Telephone", "telephone"),
        Child("Fax", "fax"),
        Child("Website", "website"),
    )


class OrganizationInfo(_Element):
    """A sending or receiving organisation (``From``/``To``)."""

    xml_children = _org_children()

    organ_id: Text
    organization_in_charge: Text | None = None
    organ_name: Text | None = None
    organ_add: Text | None = None
    email: Text | None = None
    telephone: Text | None = None
    fax: Text | None = None
    website: Text | None = None

    def parsed_organ_id(self) -> OrganId:
        """The identifier split into levels; raises IdentifierError when malformed."""
        return OrganId.parse(self.organ_id)


class Code(_Element):
    """Số và ký hiệu: ``CodeNumber`` (may be blank until registered) and ``CodeNotation``."""

    xml_children = (
        Child("CodeNumber", "number", need=Need.STRICT, max_len=11),
        Child("CodeNotation", "notation", need=Need.STRICT, max_len=30),
    )

    number: Text | None = None
    notation: Text | None = None


class PromulgationInfo(_Element):
    """Where and when the document was issued."""

    xml_children = (
        Child("Place", "place", need=Need.STRICT, max_len=150),
        Child("PromulgationDate", "date", Kind.DATE, need=Need.STRICT),
    )

    place: Text | None = None
    date: dt.date | None = None


class DocumentType(_Element):
    """The kind of document; ``type_name`` is the reliable field, codes are kept as sent."""

    xml_children = (
        Child("Type", "type", need=Need.STRICT, rule=Rule.DIGITS),
        Child("TypeDetail", "type_detail", rule=Rule.DIGITS),
        Child("TypeName", "type_name", need=Need.STRICT, max_len=100),
    )

    type: Text | None = None
    type_detail: Text | None = None
    type_name: Text | None = None


class SignerInfo(_Element):
    """Who signed: competence (``TM. ỦY BAN NHÂN DÂN``), position and full name."""

    xml_children = (
        Child("Competence", "competence"),
        Child("Position", "position", need=Need.STRICT, max_len=100),
        Child("FullName", "full_name", need=Need.STRICT, max_len=50),
    )

    competence: Text | None = None
    position: Text | None = None
    full_name: Text | None = None


class OtherInfo(_Element):
    """Priority, sphere of promulgation, typist, amounts, appendixes."""

    xml_children = (
        Child("Priority", "priority", Kind.INT, need=Need.STRICT, rule=Rule.PRIORITY),
        Child("SphereOfPromulgation", "sphere_of_promulgation", max_len=100),
        Child("TyperNotation", "typer_notation", max_len=10),
        Child("PromulgationAmount", "promulgation_amount", Kind.INT, rule=Rule.NON_NEGATIVE),
        Child("PageAmount", "page_amount", Kind.INT, rule=Rule.NON_NEGATIVE),
        Child("ReplyFors", "reply_fors", Kind.RAW),
        Child("Direction", "direction", Kind.BOOL),
        Child("ReferenceCodes", "reference_codes", Kind.RAW),
        Child("Appendix", "appendixes", many=True, wrapper="Appendixes"),
    )

    priority: int | None = None
    sphere_of_promulgation: Text | None = None
    typer_notation: Text | None = None
    promulgation_amount: int | None = None
    page_amount: int | None = None
    reply_fors: RawXml | None = None
    direction: bool | None = None
    reference_codes: RawXml | None = None
    appendixes: list[Text] = Field(default_factory=list)


class ResponseFor(_Element):
    """The document this message answers."""

    xml_children = (
        Child("OrganId", "organ_id", need=Need.STRICT, rule=Rule.ORGAN_REF),
        Child("Code", "code", need=Need.STRICT),
        Child("PromulgationDate", "promulgation_date", Kind.DATE, need=Need.STRICT),
        Child("DocumentId", "document_id", need=Need.STRICT, rule=Rule.DOCUMENT_REF),
    )

    organ_id: Text | None = None
    code: Text | None = None
    promulgation_date: dt.date | None = None
    document_id: Text | None = None


class ResponseForTask(_Element):
    """The task this document answers (``ResponseForTask/TaskCode``)."""

    xml_children = (Child("TaskCode", "task_code"),)

    task_code: Text | None = None


class TraceHeader(_Element):
    """One system the message passed through, and when.

    The national axis appends hops of its own, one of them without an OrganId (or with the
    text ``null``): such a hop is kept, with a warning, and ``organ_id`` is None.
    """

    xml_children = (
        Child("OrganId", "organ_id", need=Need.STRICT, rule=Rule.ORGAN_REF),
        Child("Timestamp", "timestamp", Kind.TIMESTAMP, need=Need.STRICT),
    )

    organ_id: Text | None = None
    timestamp: Timestamp | None = None


class StaffInfo(_Element):
    """The clerk who handled the message."""

    xml_children = (
        Child("Department", "department"),
        Child("Staff", "staff"),
        Child("Email", "email"),
        Child("Mobile", "mobile"),
    )

    department: Text | None = None
    staff: Text | None = None
    email: Text | None = None
    mobile: Text | None = None


class Receiver(_Element):
    """A receiver named in an update (``ReceiverList/Receiver``)."""

    xml_children = (
        Child("OrganId", "organ_id", need=Need.STRICT, rule=Rule.ORGAN_REF),
        Child("ReceiverType", "receiver_type", rule=Rule.DIGITS),
    )

    organ_id: Text | None = None
    receiver_type: Text | None = None


class BussinessDocumentInfo(_Element):
    """What an update changes: the document's information and/or its receivers."""

    xml_children = (
        Child("DocumentInfo", "document_info", rule=Rule.DIGITS),
        Child("DocumentReceiver", "document_receiver", rule=Rule.DIGITS),
        Child("Receiver", "receivers", Kind.MODEL, Receiver, many=True, wrapper="ReceiverList"),
    )

    document_info: Text | None = None
    document_receiver: Text | None = None
    receivers: list[Receiver] = Field(default_factory=list)


class ReplacementInfo(_Element):
    """A document this one replaces, and at which organisations."""

    xml_children = (
        Child("DocumentId", "document_id", need=Need.STRICT, rule=Rule.DOCUMENT_REF),
        Child("OrganId", "organ_ids", many=True, wrapper="OrganIdList", rule=Rule.ORGAN_REF),
    )

    document_id: Text | None = None
    organ_ids: list[Text] = Field(default_factory=list)


class BusinessDocType(enum.IntEnum):
    """``BussinessDocType``: what this document does to earlier ones."""

    NEW = 0  #: văn bản mới
    REVOKE = 1  #: thu hồi
    UPDATE = 2  #: cập nhật
    REPLACE = 3  #: thay thế


class Bussiness(_Element):
    """The business block of the trace list (spelled ``Bussiness`` by the standard)."""

    xml_children = (
        Child("DocumentId", "document_id", rule=Rule.DOCUMENT_REF),
        Child(
            "BussinessDocType",
            "doc_type",
            Kind.INT,
            aliases=("BusinessDocType",),
            need=Need.STRICT,
            rule=Rule.BUSINESS_TYPE,
        ),
        Child("BussinessDocReason", "reason", aliases=("BusinessDocReason",)),
        Child("Paper", "paper", Kind.INT, rule=Rule.ZERO_ONE),
        Child(
            "BussinessDocumentInfo",
            "document_info",
            Kind.MODEL,
            BussinessDocumentInfo,
            aliases=("BusinessDocumentInfo",),
        ),
        Child(
            "ReplacementInfo",
            "replacements",
            Kind.MODEL,
            ReplacementInfo,
            many=True,
            wrapper="ReplacementInfoList",
        ),
        Child("StaffInfo", "staff_info", Kind.MODEL, StaffInfo),
    )

    document_id: Text | None = None
    doc_type: int | None = None
    reason: Text | None = None
    paper: int | None = None
    document_info: BussinessDocumentInfo | None = None
    replacements: list[ReplacementInfo] = Field(default_factory=list)
    staff_info: StaffInfo | None = None


_CID_RE = re.compile(r"cid:[^\s<>\"]+")
_FORBIDDEN_NAMES = {".", ".."}
_CONTROL_RE = re.compile("[\x00-\x1f\x7f]")


def check_attachment_name(name: str) -> str | None:
    """Why an attachment name is unsafe as a file name, or None when it is acceptable.

    A name must not carry a path (it would let a message write outside the folder the
    clerk chose), nor control characters, nor be ``.``/``..``.
    """
    if not name:
        return "empty / rỗng"
    if "/" in name or "\\" in name:
        return "contains a path separator / chứa dấu phân cách thư mục"
    if name in _FORBIDDEN_NAMES:
        return "is a directory reference / là tham chiếu thư mục"
    if _CONTROL_RE.search(name):
        return "contains control characters / chứa ký tự điều khiển"
    if len(name) >= 2 and name[1] == ":" and name[0].isascii() and name[0].isalpha():
        return "starts with a drive letter / bắt đầu bằng ký hiệu ổ đĩa"
    return None


def content_id_problem(value: str) -> str | None:
    """Why a (trimmed) ContentId is not of the form ``cid:<id>``, or None."""
    if _CID_RE.fullmatch(value):
        return None
    return f"ContentId '{value}' is not of the form cid:<id>"


class PackedFile(_Model):
    """The file inside a zipped attachment: what the official parser hands out."""

    #: The zip entry's name (informational: the file is named after the attachment).
    entry_name: str
    data: bytes = Field(repr=False)
    #: Other entries of the zip, which the official parser ignores.
    ignored: list[str] = Field(default_factory=list)

    @classmethod
    def of(cls, found: packing.Unzipped) -> PackedFile | None:
        """The packed file :func:`~.packing.unpack` found, or None when the bytes are
        handed out as they came."""
        if found.data is None or found.entry_name is None:
            return None
        return cls(entry_name=found.entry_name, data=found.data, ignored=list(found.ignored))


@dataclass(frozen=True, slots=True)
class AttachedFile:
    """A file as a clerk gets it: the unpacked file of a zipped attachment, else the bytes."""

    name: str
    content_type: str
    data: bytes = field(repr=False)

    @property
    def size(self) -> int:
        """Size in bytes."""
        return len(self.data)

    @property
    def sha256(self) -> str:
        """Lowercase hex SHA-256."""
        return hashlib.sha256(self.data).hexdigest()


class Attachment(_Model):
    """An attached file: its manifest data and its bytes (base64 only on the wire).

    ``data`` are the bytes carried, exactly as sent (what the signature covers and the
    writer writes). When they are a zip the official SDK made (labelled
    ``application/zip``, a name not ending in ``.zip``), ``packed`` holds the file inside,
    and :attr:`file` is what a clerk gets: that file, under the attachment's name.
    """

    content_id: str = Field(default_factory=lambda: f"cid:{uuid.uuid4()}")
    name: Text
    content_type: Text = "application/octet-stream"
    description: Text | None = None
    data: bytes = Field(repr=False)
    packed: PackedFile | None = Field(default=None, repr=False)

    @model_validator(mode="before")
    @classmethod
    def _unpack(cls, values: Any) -> Any:
        # The reader unpacks under its own limits and passes the result (None included);
        # a model built by hand is unpacked here, under the default ones.
        if not isinstance(values, dict) or "packed" in values:
            return values
        name, data = values.get("name"), values.get("data")
        if not isinstance(name, str) or not isinstance(data, bytes):
            return values
        if not packing.is_zip_label(values.get("content_type"), name):
            return values
        try:
            found = packing.unpack(data, DEFAULT_LIMITS)
        except packing.PackingError as exc:
            raise ValueError(f"zipped attachment '{name}' cannot be unpacked: {exc.code}") from None
        packed = PackedFile.of(found)
        return values if packed is None else {**values, "packed": packed}

    @property
    def file(self) -> AttachedFile:
        """The file a clerk gets: unpacked when the SDK zipped it, else the bytes carried."""
        if self.packed is None:
            return AttachedFile(self.name, self.content_type, self.data)
        return AttachedFile(self.name, packing.file_content_type(self.name), self.packed.data)

    @field_validator("content_id")
    @classmethod
    def _cid(cls, value: str) -> str:
        value = value.strip()
        problem = content_id_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        problem = check_attachment_name(value)
        if problem:
            raise ValueError(f"attachment name '{value}' {problem}")
        return value

    @property
    def size(self) -> int:
        """Size in bytes of what is carried (base64-decoded; a zip when packed)."""
        return len(self.data)

    @property
    def sha256(self) -> str:
        """Lowercase hex SHA-256 of what is carried (a zip when packed)."""
        return hashlib.sha256(self.data).hexdigest()


class StatusCode(enum.StrEnum):
    """The status codes of the standard, and the one statement of what each means here.

    Every place that names a status (the reply's Description, the clerk's moves and the
    command line's help, the reports, the demo) reads it from this enum and its one table
    below, so the vocabulary cannot drift apart. Codes the standard does not name are kept
    as data, never refused.
    """

    ARRIVED = "01"  #: đã đến: received by the software, not yet handled
    REJECTED = "02"  #: từ chối tiếp nhận
    ACCEPTED = "03"  #: tiếp nhận: entered in the incoming register
    ASSIGNED = "04"  #: phân công xử lý
    PROCESSING = "05"  #: đang xử lý
    DONE = "06"  #: hoàn thành
    TAKE_BACK_REQUESTED = "13"  #: yêu cầu lấy lại
    CHANGE_ACCEPTED = "15"  #: đồng ý cập nhật/lấy lại
    CHANGE_REFUSED = "16"  #: từ chối cập nhật/lấy lại

    @property
    def vi(self) -> str:
        """The Vietnamese name a clerk knows."""
        return _STATUSES[self].vi

    @property
    def en(self) -> str:
        """The English name, beside the Vietnamese one in bilingual messages."""
        return _STATUSES[self].en

    @property
    def description(self) -> str:
        """What the clerk's reply says in its Description (before the clerk's note)."""
        return _STATUSES[self].description

    @property
    def final(self) -> bool:
        """Whether a recipient that answered this is done with the document (02, 06): a
        sent document is followed until every recipient answered a final status."""
        return _STATUSES[self].final

    @property
    def follows(self) -> frozenset[StatusCode]:
        """The clerk states a received document may be in for a clerk to move it here;
        empty for a code a clerk never sets."""
        return _STATUSES[self].follows

    @classmethod
    def clerk_moves(cls) -> tuple[StatusCode, ...]:
        """The codes a clerk may set on a received document, in code order."""
        return tuple(code for code in cls if _STATUSES[code].follows)

    @classmethod
    def known(cls, code: str | None) -> StatusCode | None:
        """``code`` as a StatusCode, or None for a code the standard does not name."""
        try:
            return cls(code) if code is not None else None
        except ValueError:
            return None


@dataclass(frozen=True)
class _Status:
    vi: str
    en: str
    description: str
    #: The clerk's transition table: the states this one may follow.
    follows: frozenset[StatusCode] = frozenset()
    final: bool = False


_S = StatusCode
#: The one table of the status vocabulary: names, the reply's text, the clerk's moves.
_STATUSES: dict[StatusCode, _Status] = {
    _S.ARRIVED: _Status(
        "Đã đến", "arrived", "Đã đến - phần mềm quản lý văn bản đã nhận, văn thư chưa xử lý"
    ),
    # Refusing is only possible before the document is accepted.
    _S.REJECTED: _Status(
        "Từ chối tiếp nhận", "refused", "Từ chối tiếp nhận", frozenset({_S.ARRIVED}), final=True
    ),
    _S.ACCEPTED: _Status(
        "Tiếp nhận", "accepted", "Tiếp nhận - đã vào sổ văn bản đến", frozenset({_S.ARRIVED})
    ),
    # Re-assigning is allowed.
    _S.ASSIGNED: _Status(
        "Phân công xử lý", "assigned", "Phân công xử lý", frozenset({_S.ACCEPTED, _S.ASSIGNED})
    ),
    _S.PROCESSING: _Status(
        "Đang xử lý",
        "in progress",
        "Đang xử lý",
        frozenset({_S.ACCEPTED, _S.ASSIGNED, _S.PROCESSING}),
    ),
    _S.DONE: _Status(
        "Hoàn thành",
        "done",
        "Hoàn thành",
        frozenset({_S.ACCEPTED, _S.ASSIGNED, _S.PROCESSING}),
        final=True,
    ),
    _S.TAKE_BACK_REQUESTED: _Status(
        "Yêu cầu lấy lại", "take-back requested", "Yêu cầu lấy lại"
    ),
    _S.CHANGE_ACCEPTED: _Status(
        "Đồng ý cập nhật/lấy lại", "update/take-back accepted", "Đồng ý cập nhật/lấy lại"
    ),
    _S.CHANGE_REFUSED: _Status(
        "Từ chối cập nhật/lấy lại", "update/take-back refused", "Từ chối cập nhật/lấy lại"
    ),
}
del _S

#: The container elements whose unknown children are kept per message.
CONTAINERS = (
    "edXML",
    "edXMLEnvelope",
    "edXMLHeader",
    "MessageHeader",
    "TraceHeaderList",
    "edXMLBody",
    "edXMLManifest",
    "AttachmentEncoded",
)


class Message(_Model):
    """What documents and status messages share: the sender, a signature, kept extensions."""

    sender: OrganizationInfo
    #: The Signature element exactly as received (the writer never invents one).
    signature: RawXml | None = None
    #: Unknown children of the container elements, by container name (see CONTAINERS).
    container_extensions: dict[str, list[RawXml]] = Field(default_factory=dict)

    @field_validator("container_extensions")
    @classmethod
    def _known_containers(cls, value: dict[str, list[RawXml]]) -> dict[str, list[RawXml]]:
        unknown = set(value) - set(CONTAINERS)
        if unknown:
            raise ValueError(f"unknown containers {sorted(unknown)}; known: {CONTAINERS}")
        return {k: v for k, v in value.items() if v}

    @property
    def signature_is_legacy(self) -> bool:
        """True for the official SDK's placeholder: a Signature outside the XML-DSig namespace."""
        return self.signature is not None and not self.signature.tag.startswith(f"{{{DSIG_NS}}}")


class Document(Message):
    """A document message (văn bản): new, revoke, update or replace, with attachments."""

    kind: Literal["edoc"] = "edoc"

    header_children: ClassVar[tuple[Child, ...]] = (
        Child("From", "sender", Kind.MODEL, OrganizationInfo, need=Need.ALWAYS),
        Child("To", "recipients", Kind.MODEL, OrganizationInfo, many=True, need=Need.ALWAYS),
        Child("DocumentId", "document_id", need=Need.STRICT, rule=Rule.DOCUMENT_ID),
        Child("Code", "code", Kind.MODEL, Code, need=Need.STRICT),
        Child("PromulgationInfo", "promulgation", Kind.MODEL, PromulgationInfo, need=Need.STRICT),
        Child("DocumentType", "document_type", Kind.MODEL, DocumentType, need=Need.STRICT),
        Child("Subject", "subject", need=Need.STRICT, max_len=500),
        Child("Content", "content", max_len=500),
        Child("SignerInfo", "signer", Kind.MODEL, SignerInfo, need=Need.STRICT),
        Child("DueDate", "due_date", Kind.DATE),
        Child("OtherInfo", "other_info", Kind.MODEL, OtherInfo),
        Child("ResponseFor", "response_for", Kind.MODEL, ResponseFor, many=True),
        Child("SteeringType", "steering_type", rule=Rule.DIGITS),
        Child("ResponseForTask", "response_for_task", Kind.MODEL, ResponseForTask),
        Child("ApplicationType", "application_type"),
        Child("Place", "to_places", many=True, wrapper="ToPlaces"),
    )
    trace_children: ClassVar[tuple[Child, ...]] = (
        Child("TraceHeader", "trace", Kind.MODEL, TraceHeader, many=True),
        Child("Bussiness", "business", Kind.MODEL, Bussiness, aliases=("Business",)),
    )

    recipients: list[OrganizationInfo] = Field(min_length=1)
    document_id: Text | None = None
    code: Code | None = None
    promulgation: PromulgationInfo | None = None
    document_type: DocumentType | None = None
    subject: Text | None = None
    content: Text | None = None
    signer: SignerInfo | None = None
    due_date: dt.date | None = None
    other_info: OtherInfo | None = None
    response_for: list[ResponseFor] = Field(default_factory=list)
    steering_type: Text | None = None
    response_for_task: ResponseForTask | None = None
    application_type: Text | None = None
    to_places: list[Text] = Field(default_factory=list)
    trace: list[TraceHeader] = Field(default_factory=list)
    business: Bussiness | None = None
    attachments: list[Attachment] = Field(default_factory=list)

    @field_validator("attachments")
    @classmethod
    def _unique_content_ids(cls, value: list[Attachment]) -> list[Attachment]:
        seen: set[str] = set()
        for att in value:
            if att.content_id in seen:
                raise ValueError(f"duplicate ContentId {att.content_id}")
            seen.add(att.content_id)
        return value

    @property
    def business_doc_type(self) -> BusinessDocType | None:
        """new/revoke/update/replace, or None when absent or a code the standard lacks."""
        if self.business is None or self.business.doc_type is None:
            return None
        try:
            return BusinessDocType(self.business.doc_type)
        except ValueError:
            return None

    def parsed_document_id(self) -> DocumentId:
        """The DocumentId split into parts; raises IdentifierError when malformed or absent."""
        return DocumentId.parse(self.document_id or "")


class StatusMessage(Message):
    """A status message (thông điệp trạng thái) answering a document."""

    kind: Literal["status"] = "status"

    header_children: ClassVar[tuple[Child, ...]] = (
        Child("From", "sender", Kind.MODEL, OrganizationInfo, need=Need.ALWAYS),
        Child("ResponseFor", "response_for", Kind.MODEL, ResponseFor, need=Need.ALWAYS),
        Child("StaffInfo", "staff_info", Kind.MODEL, StaffInfo),
        Child("StatusCode", "status_code", need=Need.ALWAYS, rule=Rule.STATUS_CODE),
        Child("Description", "description"),
        Child("Timestamp", "timestamp", Kind.TIMESTAMP, need=Need.STRICT),
    )

    response_for: ResponseFor
    staff_info: StaffInfo | None = None
    status_code: Text
    description: Text | None = None
    timestamp: Timestamp | None = None

    @property
    def status(self) -> StatusCode | None:
        """The code as a known StatusCode, or None for a code the standard does not name."""
        try:
            return StatusCode(self.status_code)
        except ValueError:
            return None


# --- building models from values the reader already checked ------------------------------

_M = TypeVar("_M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class TrustedPlan:
    """What :func:`trusted` needs to know of a model class, worked out once per class."""

    #: Every field with its default (None for a default made by a factory), in order.
    defaults: dict[str, Any]
    #: Fields whose default a factory makes (a fresh list or dict per model).
    factories: tuple[tuple[str, Callable[[], Any]], ...]
    #: Fields of type Text (NFC-normalised and trimmed by validation).
    texts: frozenset[str]
    #: Fields holding a list of Text.
    text_lists: frozenset[str]
    #: Fields validation refuses when absent (or, for a list with a minimum, empty), in order.
    required: tuple[str, ...]
    #: Of those, the lists that must not be empty.
    non_empty: frozenset[str]


def _holds_text(annotation: Any) -> bool:
    if annotation == Text:
        return True
    return any(_holds_text(arg) for arg in typing.get_args(annotation) if arg is not type(None))


@functools.cache
def trusted_plan(cls: type[BaseModel]) -> TrustedPlan:
    """The field defaults, Text fields and required fields of ``cls``."""
    defaults: dict[str, Any] = {}
    factories: list[tuple[str, Callable[[], Any]]] = []
    texts: set[str] = set()
    text_lists: set[str] = set()
    required: list[str] = []
    non_empty: set[str] = set()
    for name, info in cls.model_fields.items():
        defaults[name] = None if info.default is PydanticUndefined else info.default
        if info.default_factory is not None:
            factories.append((name, info.default_factory))  # type: ignore[arg-type]
        annotation = info.annotation
        if typing.get_origin(annotation) is list:
            if _holds_text(typing.get_args(annotation)[0]):
                text_lists.add(name)
        elif _holds_text(annotation) or any(
            isinstance(m, AfterValidator) and m.func is clean_text for m in info.metadata
        ):
            texts.add(name)
        if info.is_required():
            required.append(name)
            if any(isinstance(m, MinLen) and m.min_length > 0 for m in info.metadata):
                non_empty.add(name)
    return TrustedPlan(
        defaults,
        tuple(factories),
        frozenset(texts),
        frozenset(text_lists),
        tuple(required),
        frozenset(non_empty),
    )


def _nfc(text: str) -> str:
    return text if text.isascii() else unicodedata.normalize("NFC", text).strip()


_new_object = object.__new__
_set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__


def trusted(cls: type[_M], values: dict[str, Any]) -> _M:
    """Build ``cls`` from values the reader produced, without validating them again.

    For the reader only: it has converted every value already (numbers, dates, timestamps
    in Vietnam time at whole seconds), never passes blank or untrimmed text or unknown
    fields, parsed the text from XML (so it holds only characters XML carries) and refused
    what validation would refuse (a missing required element, a bad ContentId or
    attachment name, a duplicate ContentId) before calling this. What is left of
    validation is the one normalisation a model applies to Text: NFC. The result equals
    ``cls.model_validate(values)``; a test holds that for every model.
    """
    plan = trusted_plan(cls)
    data = {**plan.defaults, **values}  # every field, in declaration order
    for name, factory in plan.factories:
        if name not in values:
            data[name] = factory()
    texts, text_lists = plan.texts, plan.text_lists
    for name, value in values.items():
        if value is None:
            continue
        if name in texts:
            if not value.isascii():
                data[name] = unicodedata.normalize("NFC", value).strip()
        elif name in text_lists:
            data[name] = [_nfc(item) for item in value]
    model = _new_object(cls)  # (no model defines __new__)
    # What BaseModel.model_construct sets, without its per-field Python loop; the slots
    # through their descriptors (object.__setattr__ looks each name up again).
    object.__setattr__(model, "__dict__", data)
    _set_fields_set(model, set(values))
    _set_extra(model, None)
    _set_private(model, None)
    if cls.__pydantic_post_init__:  # private attributes (their defaults), as model_construct
        model.model_post_init(None)
    return model
