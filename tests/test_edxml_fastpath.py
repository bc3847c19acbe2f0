"""The reader's and writer's fast paths give exactly what the slow, obvious ones gave.

* ``models.trusted`` (the reader builds models without validating again) equals
  ``model_validate`` of the same values, for every model;
* a model read from bytes equals the model validated from its own dump;
* the value rules the reader applies while reading report what the strict checker
  reports over the built model (same codes, same paths, same order);
* the writer's text is byte for byte what lxml's serialisation of the same message as a
  tree of elements gives (the writer built that tree before), pretty or not, with kept
  elements (unknown extensions, a peer's Signature) of every namespace shape.
"""

from __future__ import annotations

import base64
import datetime as dt
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from builders import document
from hypothesis import HealthCheck, given, settings
from lxml import etree
from pydantic import PrivateAttr
from strategies import messages

from edoc_exchange import edxml
from edoc_exchange.edxml.formats import format_date, format_timestamp
from edoc_exchange.edxml.models import trusted
from edoc_exchange.edxml.spec import NS, Child, Kind
from edoc_exchange.edxml.writer import DECLARATION

_SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SHARED = Path(__file__).resolve().parents[2] / "shared" / "samples"
SAMPLES = sorted(SHARED.glob("*/*.edxml")) if SHARED.is_dir() else []

#: Kept elements of every namespace shape, in every container and in OtherInfo's raw kinds.
WEIRD = f"""<?xml version="1.0" encoding="UTF-8"?>
<edXML xmlns="{NS}" xmlns:q="{NS}"><edXMLEnvelope><edXMLHeader><MessageHeader>
<From><OrganId>000.00.12.H41</OrganId><OrganName>A &amp; B &lt;c&gt;</OrganName>
<Foo xmlns="">bar<b>x</b></Foo><p:Bar xmlns:p="{NS}" p:at="1"/></From>
<To><OrganId>000.00.00.H41</OrganId></To><q:Unknown a="b">t<q:Inner/>  </q:Unknown>
<OtherInfo><Priority>1</Priority><ReplyFors><X>1</X></ReplyFors><Direction>true</Direction>
</OtherInfo><Subject>Nội dung &#13; ]]&gt;</Subject></MessageHeader>
<TraceHeaderList><TraceHeader><OrganId>000.00.12.H41</OrganId>
<Timestamp>2020/01/01 10:00:00</Timestamp></TraceHeader><Zed xmlns="urn:z"><zz/></Zed>
</TraceHeaderList><Other xmlns:r="urn:r"><r:y/></Other></edXMLHeader>
<edXMLBody><edXMLManifest version="1.0"><X2/></edXMLManifest><Y2/></edXMLBody><Z2/>
</edXMLEnvelope><AttachmentEncoded><W2>w</W2></AttachmentEncoded>
<Tail xmlns="">x</Tail></edXML>""".encode()


# --- the model built without validation ----------------------------------------------------


def test_trusted_equals_validated() -> None:
    nfd = unicodedata.normalize("NFD", "Ủy ban nhân dân xã Nậm Khánh")
    cases: list[tuple[type[Any], dict[str, Any]]] = [
        (edxml.OrganizationInfo, {"organ_id": "000.00.12.H41", "organ_name": nfd}),
        (edxml.OtherInfo, {"priority": 0, "appendixes": [nfd, "b"], "extensions": []}),
        (edxml.TraceHeader, {"timestamp": dt.datetime(2020, 1, 1, 8, tzinfo=edxml.VN_TZ)}),
        (edxml.ReplacementInfo, {"document_id": "x", "organ_ids": ["a", nfd]}),
        (edxml.Attachment, {"content_id": "cid:1", "name": nfd, "data": b"x", "packed": None}),
        (
            edxml.Document,
            {
                "sender": edxml.OrganizationInfo(organ_id="000.00.12.H41"),
                "recipients": [edxml.OrganizationInfo(organ_id="000.00.00.H41")],
                "subject": nfd,
                "to_places": [nfd],
            },
        ),
        (
            edxml.StatusMessage,
            {
                "sender": edxml.OrganizationInfo(organ_id="000.00.12.H41"),
                "response_for": edxml.ResponseFor(document_id="x"),
                "status_code": "01",
            },
        ),
    ]
    for cls, values in cases:
        built = trusted(cls, dict(values))
        validated = cls.model_validate(values)
        assert built == validated, cls.__name__
        assert built.model_fields_set == validated.model_fields_set
        assert list(built.__dict__) == list(validated.__dict__)  # field order (repr, dumps)
        assert repr(built) == repr(validated)


def test_private_attributes_get_their_defaults() -> None:
    class WithPrivate(edxml.Attachment):
        _note: str | None = PrivateAttr(default="unset")

    values = {"content_id": "cid:1", "name": "a.pdf", "data": b"x", "packed": None}
    built = trusted(WithPrivate, values)
    assert built == WithPrivate.model_validate(values)
    assert built._note == "unset"
    built._note = "set"  # a private attribute stays settable on the frozen model
    assert built._note == "set"


def test_default_lists_are_not_shared() -> None:
    one = trusted(edxml.Code, {"number": "1"})
    two = trusted(edxml.Code, {"number": "2"})
    assert one.extensions == []
    assert one.extensions is not two.extensions


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_read_model_equals_validated(path: Path) -> None:
    message = _message(path.read_bytes())
    assert type(message).model_validate(message.model_dump()) == message


@_SETTINGS
@given(messages)
def test_read_model_equals_validated_generated(message: edxml.Message) -> None:
    read = edxml.read(edxml.write(message)).message
    assert type(read).model_validate(read.model_dump()) == read == message


# --- the value rules applied while reading ---------------------------------------------------


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_rules_while_reading_match_the_checker(path: Path) -> None:
    for strict in (False, True):
        try:
            result = edxml.read_file(path, strict=strict)
            findings = list(result.warnings)
            message = result.message
        except edxml.EdxmlReadError as exc:
            if exc.partial is None:
                continue
            findings, message = list(exc.findings), exc.partial.message
        expected = [
            (f.code, f.severity, f.path)
            for f in edxml.check(message, strict=strict, structure=False)
        ]
        got = [(f.code, f.severity, f.path) for f in findings]
        # The checker's findings come last, in its order.
        assert got[len(got) - len(expected) :] == expected


def test_empty_element_reports_once() -> None:
    data = edxml.write(document()).replace(
        b"</edXML:SignerInfo>",
        b"</edXML:SignerInfo><edXML:ResponseFor> <edXML:Foo/> <edXML:OrganId> </edXML:OrganId>"
        b"</edXML:ResponseFor>",
    )
    assert b"<edXML:Foo/>" in data
    result = edxml.read(data)
    assert [w.code for w in result.warnings] == ["empty-response-for"]


# --- the writer's text ---------------------------------------------------------------------


@pytest.mark.parametrize("pretty", [True, False])
@pytest.mark.parametrize("path", [*SAMPLES, None], ids=lambda p: p.name if p else "weird")
def test_writer_equals_tree_serialisation(path: Path | None, pretty: bool) -> None:
    message = _message(path.read_bytes() if path is not None else WEIRD)
    assert edxml.write(message, check=False, pretty=pretty) == _reference(message, pretty)


@_SETTINGS
@given(messages)
def test_writer_equals_tree_serialisation_generated(message: edxml.Message) -> None:
    for pretty in (True, False):
        assert edxml.write(message, pretty=pretty) == _reference(message, pretty)


def _message(data: bytes) -> edxml.Message:
    """The model read (the partial one of a sample with an error)."""
    try:
        return edxml.read(data).message
    except edxml.EdxmlReadError as exc:
        partial = exc.partial
    assert partial is not None
    return partial.message


# The writer as it was: a tree of lxml elements, serialised by lxml (the reference).


def _q(local: str) -> str:
    return f"{{{NS}}}{local}"


def _text(child: Child, value: Any) -> str:
    if child.kind is Kind.DATE:
        return format_date(value)
    if child.kind is Kind.TIMESTAMP:
        return format_timestamp(value)
    if child.kind is Kind.BOOL:
        return "true" if value else "false"
    return str(value)


def _append_raw(parent: etree._Element, raw: edxml.RawXml) -> None:
    el = raw.element()
    if None in el.nsmap:
        parent.append(el)
        return
    shell = etree.SubElement(parent, el.tag, attrib=dict(el.attrib), nsmap={**el.nsmap, None: ""})
    shell.text = el.text
    for child in list(el):
        shell.append(child)


def _fill(parent: etree._Element, model: Any, table: tuple[Child, ...]) -> None:
    for child in table:
        value = getattr(model, child.field)
        items = [item for item in (value if child.many else [value]) if item is not None]
        if not items:
            continue
        target = etree.SubElement(parent, _q(child.wrapper)) if child.wrapper else parent
        for item in items:
            if child.kind is Kind.RAW:
                _append_raw(target, item)
                continue
            el = etree.SubElement(target, _q(child.tag))
            if child.kind is Kind.MODEL:
                _fill(el, item, item.xml_children)
                for ext in item.extensions:
                    _append_raw(el, ext)
            else:
                el.text = _text(child, item)


def _reference(message: edxml.Message, pretty: bool) -> bytes:
    def extensions(parent: etree._Element, container: str) -> None:
        for ext in message.container_extensions.get(container, []):
            _append_raw(parent, ext)

    def leaf(parent: etree._Element, local: str, text: str | None) -> None:
        if text is not None:
            etree.SubElement(parent, _q(local)).text = text

    root = etree.Element(_q("edXML"), nsmap={None: NS})
    envelope = etree.SubElement(root, _q("edXMLEnvelope"), nsmap={"edXML": NS})
    header = etree.SubElement(envelope, _q("edXMLHeader"))
    message_header = etree.SubElement(header, _q("MessageHeader"))
    if isinstance(message, edxml.Document):
        _fill(message_header, message, edxml.Document.header_children)
        extensions(message_header, "MessageHeader")
        trace = etree.SubElement(header, _q("TraceHeaderList"))
        _fill(trace, message, edxml.Document.trace_children)
        extensions(trace, "TraceHeaderList")
    elif isinstance(message, edxml.StatusMessage):
        _fill(message_header, message, edxml.StatusMessage.header_children)
        extensions(message_header, "MessageHeader")
    if message.signature is not None:
        _append_raw(header, message.signature)
    extensions(header, "edXMLHeader")
    if isinstance(message, edxml.Document):
        body = etree.SubElement(envelope, _q("edXMLBody"))
        manifest = etree.SubElement(body, _q("edXMLManifest"), version="1.0")
        for att in message.attachments:
            ref = etree.SubElement(manifest, _q("Reference"))
            leaf(ref, "ContentId", att.content_id)
            leaf(ref, "ContentType", att.content_type)
            leaf(ref, "Description", att.description)
            leaf(ref, "AttachmentName", att.name)
        extensions(manifest, "edXMLManifest")
        extensions(body, "edXMLBody")
    extensions(envelope, "edXMLEnvelope")
    if isinstance(message, edxml.Document) and (
        message.attachments or message.container_extensions.get("AttachmentEncoded")
    ):
        encoded = etree.SubElement(root, _q("AttachmentEncoded"), nsmap={"edXML": NS})
        for att in message.attachments:
            item = etree.SubElement(encoded, _q("Attachment"))
            leaf(item, "ContentId", att.content_id)
            leaf(item, "AttachmentName", att.name)
            leaf(item, "Description", att.description)
            leaf(item, "ContentType", att.content_type)
            leaf(item, "ContentTransferEncoded", base64.b64encode(att.data).decode())
        extensions(encoded, "AttachmentEncoded")
    extensions(root, "edXML")
    return DECLARATION + etree.tostring(root, encoding="UTF-8", pretty_print=pretty)
