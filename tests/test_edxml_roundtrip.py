"""Property tests: any valid model survives write -> read, in NFC, in canonical form."""

from __future__ import annotations

import io
import unicodedata
from pathlib import Path

from builders import document, status
from hypothesis import HealthCheck, given, settings
from lxml import etree
from strategies import documents, messages, vi_text

from edoc_exchange import edxml

_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_SETTINGS
@given(messages)
def test_write_then_strict_read_is_equal(message: edxml.Document | edxml.StatusMessage) -> None:
    data = edxml.write(message)
    result = edxml.read(data, strict=True)
    assert result.message == message
    assert result.warnings == ()
    # The output is NFC throughout: normalising it changes nothing.
    text = data.decode("utf-8")
    assert unicodedata.normalize("NFC", text) == text


@_SETTINGS
@given(vi_text(max_len=80))
def test_decomposed_vietnamese_is_written_precomposed(subject: str) -> None:
    decomposed = unicodedata.normalize("NFD", subject)
    doc = document(subject=decomposed)
    assert doc.subject == unicodedata.normalize("NFC", subject).strip()
    data = edxml.write(doc)
    expected = unicodedata.normalize("NFC", subject).strip().encode("utf-8")
    assert b"<edXML:Subject>" + expected.replace(b"&", b"&amp;") in data
    assert edxml.read(data).message.subject == doc.subject  # type: ignore[union-attr]


@settings(max_examples=30, deadline=None)
@given(documents)
def test_write_file_streams_the_same_bytes(doc: edxml.Document) -> None:
    buffer = io.BytesIO()
    edxml.write_file(doc, buffer, pretty=False)
    assert buffer.getvalue() == edxml.write(doc, pretty=False)


def test_write_file_to_path_is_atomic(tmp_path: Path) -> None:
    target = tmp_path / "out.edxml"
    edxml.write_file(document(), target)
    assert edxml.read_file(target).message == document()
    assert [p.name for p in tmp_path.iterdir()] == ["out.edxml"]  # no temporary left behind


def test_canonical_layout() -> None:
    """Root in the default namespace, everything else prefixed edXML:, children in order."""
    data = edxml.write(document())
    root = etree.fromstring(data)
    assert root.prefix is None
    assert root.nsmap == {None: edxml.NS}
    assert {el.prefix for el in root.iter() if el is not root} == {"edXML"}
    header = root.find(
        f"{{{edxml.NS}}}edXMLEnvelope/{{{edxml.NS}}}edXMLHeader/{{{edxml.NS}}}MessageHeader"
    )
    assert header is not None
    order = [etree.QName(el).localname for el in header]
    assert order == [
        "From",
        "To",
        "DocumentId",
        "Code",
        "PromulgationInfo",
        "DocumentType",
        "Subject",
        "SignerInfo",
    ]
    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n')


def test_attachment_manifest_is_derived_from_attachments() -> None:
    doc = document()
    data = edxml.write(doc)
    root = etree.fromstring(data)
    ns = {"e": edxml.NS}
    refs = root.findall("e:edXMLEnvelope/e:edXMLBody/e:edXMLManifest/e:Reference", ns)
    atts = root.findall("e:AttachmentEncoded/e:Attachment", ns)
    assert len(refs) == len(atts) == 1
    assert refs[0].findtext("e:ContentId", namespaces=ns) == atts[0].findtext(
        "e:ContentId", namespaces=ns
    )
    read = edxml.read(data).message
    assert isinstance(read, edxml.Document)
    assert read.attachments[0].sha256 == doc.attachments[0].sha256
    assert read.attachments[0].size == len(doc.attachments[0].data)


def test_status_round_trip_with_unknown_code_kept_as_data() -> None:
    msg = status(code="09")
    result = edxml.read(edxml.write(msg), strict=True)
    assert isinstance(result.message, edxml.StatusMessage)
    assert result.message.status_code == "09"
    assert result.message.status is None


def test_models_refuse_unsafe_attachment_names() -> None:
    import pydantic
    import pytest

    for name in ("../x.pdf", "a/b.pdf", "..", "C:x.pdf", "a\\b", "x\x00y"):
        with pytest.raises(pydantic.ValidationError):
            edxml.Attachment(name=name, data=b"")


def test_read_tree_equals_read_of_the_bytes() -> None:
    from edoc_exchange.edxml.untrusted import untrusted_parser

    data = edxml.write(document())
    root = etree.fromstring(data, untrusted_parser())
    assert edxml.read_tree(root).message == edxml.read(data).message
    deep = etree.fromstring(data, untrusted_parser())
    header = deep.find(
        f"{{{edxml.NS}}}edXMLEnvelope/{{{edxml.NS}}}edXMLHeader/{{{edxml.NS}}}MessageHeader"
    )
    assert header is not None
    node = header
    for _ in range(80):
        node = etree.SubElement(node, "x")
    import pytest

    with pytest.raises(edxml.EdxmlReadError) as info:
        edxml.read_tree(deep)
    assert info.value.errors[0].code == "too-deep"
