"""The XSD schemas in ``schemas/`` describe what the strict writer writes.

``schemas/edxml-document.xsd`` and ``schemas/edxml-status.xsd`` are a contract for our own
output (``write(message, check=True)``), not for what peers send: the reader is more
tolerant. These tests check that every strictly written message validates, that the
schemas are not vacuous (broken messages fail), and that the schemas follow the element
tables of :mod:`edoc_exchange.edxml.models` (order, occurrence, length limits).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from lxml import etree
from strategies import documents, status_messages

from edoc_exchange import edxml
from edoc_exchange.edxml import models
from edoc_exchange.edxml.spec import DSIG_NS, NS, Child, Need

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_DIR = ROOT / "schemas"
EXAMPLES_DIR = ROOT / "examples"
SAMPLES_DIR = Path(__file__).resolve().parents[2] / "shared" / "samples" / "edxml-official"

DOCUMENT_XSD = "edxml-document.xsd"
STATUS_XSD = "edxml-status.xsd"
XS = "http://www.w3.org/2001/XMLSchema"

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)

_SETTINGS = settings(
    deadline=None,
    max_examples=100,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# --- helpers ---------------------------------------------------------------------------------


@functools.cache
def schema(name: str) -> etree.XMLSchema:
    """A schema of ``schemas/``, loaded once (no network: nothing is imported)."""
    return etree.XMLSchema(etree.parse(str(SCHEMA_DIR / name), _PARSER))


def schema_for(message: edxml.Message) -> str:
    return DOCUMENT_XSD if isinstance(message, edxml.Document) else STATUS_XSD


def problems(name: str, xml: bytes | etree._Element) -> str:
    """The validation errors of ``xml`` against schema ``name``; empty when valid."""
    tree = etree.fromstring(xml, _PARSER) if isinstance(xml, bytes) else xml
    xsd = schema(name)
    if xsd.validate(tree):
        return ""
    return "\n".join(f"line {e.line}: {e.message}" for e in xsd.error_log)


def assert_valid(name: str, xml: bytes | etree._Element) -> None:
    errors = problems(name, xml)
    assert not errors, f"not valid against {name}:\n{errors}"


def assert_invalid(name: str, xml: bytes | etree._Element) -> str:
    errors = problems(name, xml)
    assert errors, f"unexpectedly valid against {name}"
    return errors


def q(local: str) -> str:
    return f"{{{NS}}}{local}"


def header(root: etree._Element) -> etree._Element:
    found = root.find(f"{q('edXMLEnvelope')}/{q('edXMLHeader')}/{q('MessageHeader')}")
    assert found is not None
    return found


def child(parent: etree._Element, local: str) -> etree._Element:
    found = parent.find(q(local))
    assert found is not None, f"no {local} under {etree.QName(parent).localname}"
    return found


# --- fixed messages for the negative tests ----------------------------------------------------

VN = edxml.VN_TZ


def sample_document(**changes: object) -> edxml.Document:
    """A complete, strictly valid document with an attachment and every optional block."""
    org = edxml.OrganizationInfo(
        organ_id="000.00.00.H41",
        organization_in_charge="UBND tỉnh Nghệ An",
        organ_name="UBND tỉnh Nghệ An",
        email="nghean@gov.vn",
    )
    document = edxml.Document(
        sender=org,
        recipients=[
            edxml.OrganizationInfo(organ_id="000.00.00.G22", organ_name="Văn phòng Chính phủ")
        ],
        document_id="000.00.00.H41,2024/05/06,12/KH-UBND",
        code=edxml.Code(number="12", notation="KH-UBND"),
        promulgation=edxml.PromulgationInfo(place="Nghệ An", date=dt.date(2024, 5, 6)),
        document_type=edxml.DocumentType(type="1", type_name="Kế hoạch"),
        subject="Kế hoạch chuyển đổi số năm 2024",
        content="Nội dung",
        signer=edxml.SignerInfo(
            competence="TM. ỦY BAN NHÂN DÂN", position="CHỦ TỊCH", full_name="Nguyễn Văn A"
        ),
        due_date=dt.date(2024, 6, 1),
        other_info=edxml.OtherInfo(
            priority=1,
            sphere_of_promulgation="Toàn tỉnh",
            typer_notation="NVA",
            promulgation_amount=10,
            page_amount=2,
            reply_fors=edxml.RawXml(
                xml=f'<ReplyFors xmlns="{NS}"><ReplyFor>x<b a="1"/></ReplyFor></ReplyFors>'
            ),
            direction=True,
            reference_codes=edxml.RawXml(xml=f'<ReferenceCodes xmlns="{NS}">A, B</ReferenceCodes>'),
            appendixes=["Phụ lục I"],
        ),
        response_for=[
            edxml.ResponseFor(
                organ_id="000.00.00.G22",
                code="7816/VPCP-TTĐT",
                promulgation_date=dt.date(2015, 9, 30),
                document_id="000.00.00.G22,2015/09/30,7816/VPCP-TTĐT",
            )
        ],
        steering_type="1",
        response_for_task=edxml.ResponseForTask(task_code="T-1"),
        application_type="1",
        to_places=["Như trên", "Lưu: VT"],
        trace=[
            edxml.TraceHeader(
                organ_id="000.00.00.H41", timestamp=dt.datetime(2024, 5, 6, 8, 0, tzinfo=VN)
            )
        ],
        business=edxml.Bussiness(
            document_id="000.00.00.H41,2024/05/01,10/KH-UBND",
            doc_type=3,
            reason="Thay thế",
            paper=0,
            document_info=edxml.BussinessDocumentInfo(
                document_info="1",
                document_receiver="1",
                receivers=[edxml.Receiver(organ_id="000.00.00.G22", receiver_type="1")],
            ),
            replacements=[
                edxml.ReplacementInfo(
                    document_id="000.00.00.H41,2024/05/01,10/KH-UBND",
                    organ_ids=["000.00.00.G22"],
                )
            ],
            staff_info=edxml.StaffInfo(department="Văn thư", staff="Trần Thị B"),
        ),
        attachments=[
            edxml.Attachment(
                content_id="cid:kehoach-1",
                name="kế hoạch.pdf",
                content_type="application/pdf",
                description="Tệp chính",
                data=b"%PDF-1.7 test",
            )
        ],
    )
    return document.model_copy(update=changes) if changes else document


def sample_status(**changes: object) -> edxml.StatusMessage:
    status = edxml.StatusMessage(
        sender=edxml.OrganizationInfo(organ_id="000.00.00.H41", organ_name="UBND tỉnh Nghệ An"),
        response_for=edxml.ResponseFor(
            organ_id="000.00.00.G22",
            code="7816/VPCP-TTĐT",
            promulgation_date=dt.date(2015, 9, 30),
            document_id="000.00.00.G22,2015/09/30,7816/VPCP-TTĐT",
        ),
        staff_info=edxml.StaffInfo(department="Văn thư", staff="Trần Thị B"),
        status_code="03",
        description="Tiếp nhận",
        timestamp=dt.datetime(2024, 5, 6, 9, 30, 5, tzinfo=VN),
    )
    return status.model_copy(update=changes) if changes else status


SIGNATURE = edxml.RawXml(
    xml=(
        f'<ds:Signature xmlns:ds="{DSIG_NS}"><ds:SignedInfo/>'
        "<ds:SignatureValue>AAAA</ds:SignatureValue></ds:Signature>"
    )
)


@pytest.fixture
def document_tree() -> etree._Element:
    """The written sample document, parsed; valid before each test mutates it."""
    tree = etree.fromstring(edxml.write(sample_document(), check=True), _PARSER)
    assert_valid(DOCUMENT_XSD, tree)
    return tree


@pytest.fixture
def status_tree() -> etree._Element:
    tree = etree.fromstring(edxml.write(sample_status(), check=True), _PARSER)
    assert_valid(STATUS_XSD, tree)
    return tree


# --- the schemas themselves ------------------------------------------------------------------


@pytest.mark.parametrize("name", [DOCUMENT_XSD, STATUS_XSD])
def test_schema_loads_and_is_commented(name: str) -> None:
    xsd = schema(name)
    assert isinstance(xsd, etree.XMLSchema)
    text = (SCHEMA_DIR / name).read_text(encoding="utf-8")
    assert "THIS PROJECT WRITES" in text
    assert "<xs:import" not in text
    assert "<xs:include" not in text


def _complex_type(name: str, type_name: str) -> etree._Element:
    tree = etree.parse(str(SCHEMA_DIR / name), _PARSER)
    found = tree.getroot().find(f"{{{XS}}}complexType[@name='{type_name}']")
    assert found is not None, f"{name} has no complexType {type_name}"
    return found


def _sequence(complex_type: etree._Element) -> list[etree._Element]:
    seq = complex_type.find(f"{{{XS}}}sequence")
    assert seq is not None
    return [el for el in seq if el.tag == f"{{{XS}}}element"]


def _max_length(element: etree._Element) -> int | None:
    facet = element.find(f".//{{{XS}}}maxLength")
    return None if facet is None else int(facet.get("value", "0"))


# The complexType of each element table; (schema, complexType) -> table.
TABLES: dict[tuple[str, str], tuple[Child, ...]] = {
    (DOCUMENT_XSD, "MessageHeader"): models.Document.header_children,
    (DOCUMENT_XSD, "TraceHeaderList"): models.Document.trace_children,
    (STATUS_XSD, "MessageHeader"): models.StatusMessage.header_children,
    (STATUS_XSD, "Organization"): models.OrganizationInfo.xml_children,
    (STATUS_XSD, "ResponseFor"): models.ResponseFor.xml_children,
    (STATUS_XSD, "StaffInfo"): models.StaffInfo.xml_children,
    (DOCUMENT_XSD, "Organization"): models.OrganizationInfo.xml_children,
    (DOCUMENT_XSD, "Code"): models.Code.xml_children,
    (DOCUMENT_XSD, "PromulgationInfo"): models.PromulgationInfo.xml_children,
    (DOCUMENT_XSD, "DocumentType"): models.DocumentType.xml_children,
    (DOCUMENT_XSD, "SignerInfo"): models.SignerInfo.xml_children,
    (DOCUMENT_XSD, "OtherInfo"): models.OtherInfo.xml_children,
    (DOCUMENT_XSD, "ResponseFor"): models.ResponseFor.xml_children,
    (DOCUMENT_XSD, "ResponseForTask"): models.ResponseForTask.xml_children,
    (DOCUMENT_XSD, "TraceHeader"): models.TraceHeader.xml_children,
    (DOCUMENT_XSD, "StaffInfo"): models.StaffInfo.xml_children,
    (DOCUMENT_XSD, "Receiver"): models.Receiver.xml_children,
    (DOCUMENT_XSD, "BussinessDocumentInfo"): models.BussinessDocumentInfo.xml_children,
    (DOCUMENT_XSD, "ReplacementInfo"): models.ReplacementInfo.xml_children,
    (DOCUMENT_XSD, "Bussiness"): models.Bussiness.xml_children,
}

# Required although its table says OPTIONAL: the strict checker asks for one TraceHeader.
_STRICTLY_REQUIRED = {"TraceHeader"}


@pytest.mark.parametrize(("name", "type_name"), sorted(TABLES))
def test_schema_follows_element_table(name: str, type_name: str) -> None:
    table = TABLES[(name, type_name)]
    declared = _sequence(_complex_type(name, type_name))
    assert [el.get("name") for el in declared] == [c.wrapper or c.tag for c in table]
    for el, entry in zip(declared, table, strict=True):
        required = entry.need is not Need.OPTIONAL or entry.tag in _STRICTLY_REQUIRED
        assert el.get("minOccurs", "1") == ("1" if required else "0"), entry.tag
        if entry.wrapper:
            items = el.findall(f"{{{XS}}}complexType/{{{XS}}}sequence/{{{XS}}}element")
            assert [i.get("name") for i in items] == [entry.tag]
            assert items[0].get("maxOccurs") == "unbounded"
            assert items[0].get("minOccurs", "1") == "1"
        else:
            expected = "unbounded" if entry.many else "1"
            assert el.get("maxOccurs", "1") == expected, entry.tag
            assert _max_length(el) == entry.max_len, entry.tag


# --- (a) everything the strict writer writes validates ----------------------------------------


@_SETTINGS
@given(documents)
def test_written_documents_validate(document: edxml.Document) -> None:
    xml = edxml.write(document, check=True)
    assert_valid(DOCUMENT_XSD, xml)
    assert problems(STATUS_XSD, xml), "a document must not pass as a status message"


@_SETTINGS
@given(status_messages)
def test_written_status_messages_validate(status: edxml.StatusMessage) -> None:
    xml = edxml.write(status, check=True)
    assert_valid(STATUS_XSD, xml)
    assert problems(DOCUMENT_XSD, xml), "a status message must not pass as a document"


@pytest.mark.parametrize("pretty", [True, False])
def test_full_document_validates(pretty: bool) -> None:
    assert_valid(DOCUMENT_XSD, edxml.write(sample_document(), check=True, pretty=pretty))


def test_signed_messages_validate() -> None:
    document = sample_document(signature=SIGNATURE)
    assert_valid(DOCUMENT_XSD, edxml.write(document, check=True))
    status = sample_status(signature=SIGNATURE)
    assert_valid(STATUS_XSD, edxml.write(status, check=True))


def test_minimal_document_validates() -> None:
    document = sample_document(
        content=None,
        due_date=None,
        other_info=None,
        response_for=[],
        steering_type=None,
        response_for_task=None,
        application_type=None,
        to_places=[],
        business=None,
        attachments=[],
    )
    xml = edxml.write(document, check=True)
    assert b"AttachmentEncoded" not in xml
    assert_valid(DOCUMENT_XSD, xml)


def test_empty_attachment_validates() -> None:
    attachment = edxml.Attachment(content_id="cid:empty", name="rỗng.pdf", data=b"")
    assert_valid(DOCUMENT_XSD, edxml.write(sample_document(attachments=[attachment])))


# --- (b) the official status samples, read and written strictly ------------------------------


def _official_status_samples() -> list[object]:
    if not SAMPLES_DIR.is_dir():
        reason = f"official samples folder {SAMPLES_DIR} is absent"
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason), id="no-samples")]
    found = sorted(SAMPLES_DIR.glob("status*.edxml"))
    if not found:
        reason = f"no status*.edxml in {SAMPLES_DIR}"
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason), id="no-samples")]
    return [pytest.param(path, id=path.name) for path in found]


@pytest.mark.parametrize("path", _official_status_samples())
def test_official_status_samples_rewritten_validate(path: Path) -> None:
    message = edxml.read_file(path).message
    assert isinstance(message, edxml.StatusMessage)
    assert_valid(STATUS_XSD, edxml.write(message, check=True))


# --- (c) the schemas are not vacuous ----------------------------------------------------------


def _remove_subject(root: etree._Element) -> None:
    h = header(root)
    h.remove(child(h, "Subject"))


def _long_subject(root: etree._Element) -> None:
    child(header(root), "Subject").text = "x" * 501


def _empty_subject(root: etree._Element) -> None:
    child(header(root), "Subject").text = ""


def _bad_organ_id(root: etree._Element) -> None:
    child(child(header(root), "From"), "OrganId").text = "28.22.H17"


def _bad_recipient_organ_id(root: etree._Element) -> None:
    child(child(header(root), "To"), "OrganId").text = "000.00.00.h41"


def _swap_code_and_document_id(root: etree._Element) -> None:
    h = header(root)
    code = child(h, "Code")
    child(h, "DocumentId").addprevious(code)  # Code now comes before DocumentId


def _swap_organization_children(root: etree._Element) -> None:
    sender = child(header(root), "From")
    child(sender, "OrganizationInCharge").addprevious(child(sender, "OrganName"))


def _unknown_in_header(root: etree._Element) -> None:
    etree.SubElement(header(root), q("Extra")).text = "?"


def _bad_document_id(root: etree._Element) -> None:
    child(header(root), "DocumentId").text = "9fbfbad2-f1f8-4256-a2eb-50fb1061cddb"


def _bad_priority(root: etree._Element) -> None:
    child(child(header(root), "OtherInfo"), "Priority").text = "5"


def _bad_date(root: etree._Element) -> None:
    child(child(header(root), "PromulgationInfo"), "PromulgationDate").text = "06/05/2024"


def _bad_timestamp(root: etree._Element) -> None:
    trace = root.find(f".//{q('TraceHeader')}")
    assert trace is not None
    child(trace, "Timestamp").text = "2024-05-06T08:00:00+07:00"


def _business_spelling(root: etree._Element) -> None:
    business = root.find(f".//{q('Bussiness')}")
    assert business is not None
    business.tag = q("Business")


def _no_trace_header(root: etree._Element) -> None:
    trace_list = root.find(f".//{q('TraceHeaderList')}")
    assert trace_list is not None
    for el in trace_list.findall(q("TraceHeader")):
        trace_list.remove(el)


def _legacy_signature(root: etree._Element) -> None:
    h = root.find(f".//{q('edXMLHeader')}")
    assert h is not None
    etree.SubElement(h, q("Signature"))


def _bad_base64(root: etree._Element) -> None:
    encoded = root.find(f".//{q('ContentTransferEncoded')}")
    assert encoded is not None
    encoded.text = "${__StringFromFile(test.txt,,,)}"


def _bad_content_id(root: etree._Element) -> None:
    for el in root.iter(q("ContentId")):
        el.text = "kehoach-1"


def _orphan_attachment(root: etree._Element) -> None:
    manifest = root.find(f".//{q('edXMLManifest')}")
    assert manifest is not None
    for ref in manifest.findall(q("Reference")):
        manifest.remove(ref)


def _reference_without_attachment(root: etree._Element) -> None:
    ref = root.find(f".//{q('Reference')}")
    assert ref is not None
    child(ref, "ContentId").text = "cid:elsewhere"


def _manifest_version(root: etree._Element) -> None:
    manifest = root.find(f".//{q('edXMLManifest')}")
    assert manifest is not None
    manifest.set("version", "2.0")


def _no_namespace(root: etree._Element) -> None:
    for el in root.iter():
        if isinstance(el.tag, str) and el.tag.startswith(f"{{{NS}}}"):
            el.tag = etree.QName(el).localname
    etree.cleanup_namespaces(root)


# mutation -> (how to break the written document, what the schema's error must mention)
DOCUMENT_MUTATIONS: dict[str, tuple[Callable[[etree._Element], None], str]] = {
    "subject-removed": (_remove_subject, "Subject"),
    "subject-501-chars": (_long_subject, "Subject"),
    "subject-empty": (_empty_subject, "Subject"),
    "sender-short-organ-id": (_bad_organ_id, "28.22.H17"),
    "recipient-lowercase-organ-id": (_bad_recipient_organ_id, "000.00.00.h41"),
    "code-before-document-id": (_swap_code_and_document_id, "Code"),
    "organ-name-before-in-charge": (_swap_organization_children, "OrganizationInCharge"),
    "unknown-element-in-header": (_unknown_in_header, "Extra"),
    "uuid-document-id": (_bad_document_id, "DocumentId"),
    "priority-5": (_bad_priority, "Priority"),
    "date-dd-mm-yyyy": (_bad_date, "PromulgationDate"),
    "iso-timestamp": (_bad_timestamp, "Timestamp"),
    "business-single-s": (_business_spelling, "Business"),
    "no-trace-header": (_no_trace_header, "TraceHeader"),
    "legacy-edxml-signature": (_legacy_signature, "Signature"),
    "attachment-not-base64": (_bad_base64, "ContentTransferEncoded"),
    "content-id-without-cid": (_bad_content_id, "ContentId"),
    "attachment-without-reference": (_orphan_attachment, "AttachmentHasReference"),
    "reference-without-attachment": (_reference_without_attachment, "ReferenceHasAttachment"),
    "manifest-version-2": (_manifest_version, "version"),
    "no-namespace": (_no_namespace, "edXML"),
}


@pytest.mark.parametrize("mutation", sorted(DOCUMENT_MUTATIONS))
def test_broken_document_fails(document_tree: etree._Element, mutation: str) -> None:
    mutate, expected = DOCUMENT_MUTATIONS[mutation]
    mutate(document_tree)
    errors = assert_invalid(DOCUMENT_XSD, document_tree)
    assert expected in errors, errors


def test_subject_of_500_chars_is_the_limit(document_tree: etree._Element) -> None:
    subject = child(header(document_tree), "Subject")
    subject.text = "ệ" * 500  # characters, not bytes
    assert_valid(DOCUMENT_XSD, document_tree)
    subject.text += "ệ"
    assert "Subject" in assert_invalid(DOCUMENT_XSD, document_tree)


def _status_unknown_in_header(root: etree._Element) -> None:
    etree.SubElement(header(root), q("Extra")).text = "?"


def _status_code_one_digit(root: etree._Element) -> None:
    child(header(root), "StatusCode").text = "3"


def _status_no_timestamp(root: etree._Element) -> None:
    h = header(root)
    h.remove(child(h, "Timestamp"))


def _status_swap(root: etree._Element) -> None:
    h = header(root)
    child(h, "StaffInfo").addnext(child(h, "StatusCode"))
    child(h, "From").addprevious(child(h, "StatusCode"))


def _status_bad_response_for(root: etree._Element) -> None:
    # A code of another scheme (28.22.H17, G12) is echoed back; a text with a space is no code.
    child(child(header(root), "ResponseFor"), "OrganId").text = "28.22 H17"


def _status_with_trace_list(root: etree._Element) -> None:
    h = root.find(f".//{q('edXMLHeader')}")
    assert h is not None
    trace = etree.SubElement(h, q("TraceHeaderList"))
    item = etree.SubElement(trace, q("TraceHeader"))
    etree.SubElement(item, q("OrganId")).text = "000.00.00.H41"
    etree.SubElement(item, q("Timestamp")).text = "2024/05/06 09:30:05"


STATUS_MUTATIONS: dict[str, tuple[Callable[[etree._Element], None], str]] = {
    "unknown-element-in-header": (_status_unknown_in_header, "Extra"),
    "status-code-one-digit": (_status_code_one_digit, "StatusCode"),
    "timestamp-removed": (_status_no_timestamp, "Timestamp"),
    "status-code-first": (_status_swap, "StatusCode"),
    "response-for-organ-id-with-space": (_status_bad_response_for, "28.22 H17"),
    "trace-header-list": (_status_with_trace_list, "TraceHeaderList"),
    "legacy-edxml-signature": (_legacy_signature, "Signature"),
}


@pytest.mark.parametrize("mutation", sorted(STATUS_MUTATIONS))
def test_broken_status_fails(status_tree: etree._Element, mutation: str) -> None:
    mutate, expected = STATUS_MUTATIONS[mutation]
    mutate(status_tree)
    errors = assert_invalid(STATUS_XSD, status_tree)
    assert expected in errors, errors


# --- models the strict checker must refuse (each was once a gap) ------------------------------
#
# Each case must either be refused by write(check=True) or validate against the schema.


GAPS: list[object] = [
    pytest.param(
        {"subject": ""},
        id="empty-subject",
    ),
    pytest.param(
        {"document_id": "000.00.00.H41 , 2024/05/06,12/KH-UBND"},
        id="spaced-document-id",
    ),
    pytest.param(
        {"other_info": edxml.OtherInfo(priority=0, reply_fors=edxml.RawXml(xml="<Foo/>"))},
        id="reply-fors-wrong-tag",
    ),
]


@pytest.mark.parametrize("changes", GAPS)
def test_strict_writer_refuses_what_the_schema_refuses(changes: dict[str, object]) -> None:
    document = edxml.Document.model_validate({**sample_document().model_dump(), **changes})
    try:
        xml = edxml.write(document, check=True)
    except edxml.EdxmlWriteError:
        return
    assert_valid(DOCUMENT_XSD, xml)


# --- (d) the examples shipped with the project ------------------------------------------------


def _examples() -> list[object]:
    found = sorted(EXAMPLES_DIR.glob("*.edxml")) if EXAMPLES_DIR.is_dir() else []
    if not found:
        reason = f"no *.edxml examples in {EXAMPLES_DIR}"
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason), id="no-examples")]
    return [pytest.param(path, id=path.name) for path in found]


@pytest.mark.parametrize("path", _examples())
def test_examples_validate(path: Path) -> None:
    message = edxml.read_file(path).message
    assert_valid(schema_for(message), path.read_bytes())
