"""The one writer of edXML: a model in, canonical UTF-8 bytes out.

Canonical means: children in the order of the element tables, the root in the default
namespace and every other element with the ``edXML:`` prefix (the form the official SDK and
the peers write, so prefix-naive peers read us too), NFC text, the standard's date formats,
and each attachment base64-encoded once, in ``AttachmentEncoded``, with one manifest
``Reference``. By default the strict checker runs first and the writer refuses a model that
breaks a rule: we read tolerantly but never send what a strict peer could refuse.

Attachments never pass through the XML tree: the envelope is serialised with placeholders
that are then replaced by base64 written in chunks, so a 10 MB attachment costs its base64
once (and not at all with :func:`write_file`).
"""

from __future__ import annotations

import binascii
import os
import secrets
from collections.abc import Iterator
from typing import IO, Any

from lxml import etree

from ..atomicfile import write_atomically
from .checks import check
from .errors import EdxmlWriteError
from .findings import Severity
from .formats import format_date, format_timestamp
from .models import Attachment, Document, Message, RawXml, StatusMessage, _Element
from .spec import NS, Child, Kind

__all__ = ["DECLARATION", "write", "write_file"]

#: The XML declaration every message starts with (signing re-serialises with it too).
DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
_B64_CHUNK = 3 * 1024 * 1024  # a multiple of 3: chunks encode without padding in between


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


def _append_raw(parent: etree._Element, raw: RawXml) -> None:
    el = raw.element()
    if None in el.nsmap:
        parent.append(el)
        return
    # The kept element declared no default namespace; under our root (whose default is the
    # edXML namespace) its un-prefixed names would silently change namespace. Re-create
    # its top with xmlns="" so that they keep the namespace they were read with (none).
    shell = etree.SubElement(parent, el.tag, attrib=dict(el.attrib), nsmap={**el.nsmap, None: ""})
    shell.text = el.text
    for child in list(el):
        shell.append(child)


def _fill(parent: etree._Element, model: Any, table: tuple[Child, ...]) -> None:
    """Write the children of ``model`` listed in ``table`` under ``parent``, in order."""
    for child in table:
        value = getattr(model, child.field)
        items = value if child.many else [value]
        items = [item for item in items if item is not None]
        if not items:
            continue
        target = etree.SubElement(parent, _q(child.wrapper)) if child.wrapper else parent
        for item in items:
            if child.kind is Kind.RAW:
                _append_raw(target, item)
                continue
            el = etree.SubElement(target, _q(child.tag))
            if child.kind is Kind.MODEL:
                assert isinstance(item, _Element)
                _fill(el, item, item.xml_children)
                for ext in item.extensions:
                    _append_raw(el, ext)
            else:
                el.text = _text(child, item)


def _extensions(parent: etree._Element, message: Message, container: str) -> None:
    for ext in message.container_extensions.get(container, []):
        _append_raw(parent, ext)


def _build(message: Message, marker: str) -> etree._Element:
    root = etree.Element(_q("edXML"), nsmap={None: NS})
    envelope = etree.SubElement(root, _q("edXMLEnvelope"), nsmap={"edXML": NS})
    header = etree.SubElement(envelope, _q("edXMLHeader"))
    message_header = etree.SubElement(header, _q("MessageHeader"))
    if isinstance(message, Document):
        _fill(message_header, message, Document.header_children)
        _extensions(message_header, message, "MessageHeader")
        trace = etree.SubElement(header, _q("TraceHeaderList"))
        _fill(trace, message, Document.trace_children)
        _extensions(trace, message, "TraceHeaderList")
    elif isinstance(message, StatusMessage):
        _fill(message_header, message, StatusMessage.header_children)
        _extensions(message_header, message, "MessageHeader")
    if message.signature is not None:
        _append_raw(header, message.signature)
    _extensions(header, message, "edXMLHeader")
    if isinstance(message, Document):
        body = etree.SubElement(envelope, _q("edXMLBody"))
        manifest = etree.SubElement(body, _q("edXMLManifest"), version="1.0")
        for att in message.attachments:
            ref = etree.SubElement(manifest, _q("Reference"))
            _leaf(ref, "ContentId", att.content_id)
            _leaf(ref, "ContentType", att.content_type)
            _leaf(ref, "Description", att.description)
            _leaf(ref, "AttachmentName", att.name)
        _extensions(manifest, message, "edXMLManifest")
        _extensions(body, message, "edXMLBody")
    _extensions(envelope, message, "edXMLEnvelope")
    if isinstance(message, Document) and (
        message.attachments or message.container_extensions.get("AttachmentEncoded")
    ):
        encoded = etree.SubElement(root, _q("AttachmentEncoded"), nsmap={"edXML": NS})
        for index, att in enumerate(message.attachments):
            item = etree.SubElement(encoded, _q("Attachment"))
            _leaf(item, "ContentId", att.content_id)
            _leaf(item, "AttachmentName", att.name)
            _leaf(item, "Description", att.description)
            _leaf(item, "ContentType", att.content_type)
            _leaf(item, "ContentTransferEncoded", f"{marker}{index}{marker}")
        _extensions(encoded, message, "AttachmentEncoded")
    _extensions(root, message, "edXML")
    return root


def _leaf(parent: etree._Element, local: str, text: str | None) -> None:
    if text is not None:
        etree.SubElement(parent, _q(local)).text = text


def _b64_chunks(att: Attachment) -> Iterator[bytes]:
    view = memoryview(att.data)
    for offset in range(0, len(view), _B64_CHUNK):
        yield binascii.b2a_base64(view[offset : offset + _B64_CHUNK], newline=False)


def _pieces(message: Message, *, check_first: bool, pretty: bool) -> Iterator[bytes]:
    if check_first:
        errors = [f for f in check(message, strict=True) if f.severity is Severity.ERROR]
        if errors:
            raise EdxmlWriteError(errors)
    # A random marker cannot occur in the model's text, so splitting on it is unambiguous.
    marker = f"@@edoc-{secrets.token_hex(16)}@@"
    root = _build(message, marker)
    xml = etree.tostring(root, encoding="UTF-8", pretty_print=pretty)
    yield DECLARATION
    attachments = message.attachments if isinstance(message, Document) else []
    token = marker.encode("ascii")
    parts = xml.split(token)
    # parts alternate: xml, index, xml, index, ..., xml
    yield parts[0]
    for i in range(1, len(parts), 2):
        yield from _b64_chunks(attachments[int(parts[i])])
        yield parts[i + 1]


def write(message: Message, *, check: bool = True, pretty: bool = True) -> bytes:
    """Serialise ``message`` to canonical edXML bytes.

    With ``check`` (the default) the strict checker runs first and
    :class:`EdxmlWriteError` lists every rule the model breaks; pass ``check=False`` only
    to re-emit a message received from a peer, deviations and all.
    """
    return b"".join(_pieces(message, check_first=check, pretty=pretty))


def write_file(
    message: Message,
    target: str | os.PathLike[str] | IO[bytes],
    *,
    check: bool = True,
    pretty: bool = True,
) -> None:
    """Write ``message`` to a path or binary file, streaming attachments chunk by chunk.

    A path is written to a temporary file beside it and renamed into place, so a crash
    never leaves half a message under the final name.
    """
    pieces = _pieces(message, check_first=check, pretty=pretty)
    if not isinstance(target, str | os.PathLike):
        for piece in pieces:
            target.write(piece)
        return
    write_atomically(target, pieces)
