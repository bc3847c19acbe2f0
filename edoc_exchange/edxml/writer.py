"""The one writer of edXML: a model in, canonical UTF-8 bytes out.

Canonical means: children in the order of the element tables, the root in the default
namespace and every other element with the ``edXML:`` prefix (the form the official SDK and
the peers write, so prefix-naive peers read us too), NFC text, the standard's date formats,
and each attachment base64-encoded once, in ``AttachmentEncoded``, with one manifest
``Reference``. By default the strict checker runs first and the writer refuses a model that
breaks a rule: we read tolerantly but never send what a strict peer could refuse.

The elements the tables name are written as text directly, walking the tables, exactly as
libxml2 serialises them (its pretty-printing and escaping), without building a tree: a
tree of lxml elements cost three times the text. Elements kept verbatim (extensions, a
peer's Signature) are serialised by lxml in an equivalent context (the same namespace
declarations in scope, the same depth), so they come out exactly as if appended to the
whole message's tree. Attachments never pass through XML at all: their base64 is
written in chunks where the text would go (``write_file`` streams it).
"""

from __future__ import annotations

import binascii
import os
from collections.abc import Callable, Iterator
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


def _escape(text: str) -> str:
    """Text content escaped as libxml2 writes it (``\r`` as a character reference)."""
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    if "\r" in text:
        text = text.replace("\r", "&#13;")
    return text


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


_BEGIN = _q("edoc-raw-begin")
_END = _q("edoc-raw-end")


def _raw_text(raw: RawXml, level: int, pretty: bool) -> str:
    """A kept element as it is serialised at ``level`` of a message (the root is level 0).

    Its namespace declarations depend on what the ancestors declare (lxml drops one an
    ancestor already makes), its indentation on its depth: both are reproduced by a small
    tree of the same shape, the element between two markers, then cut out of the text.
    """
    root = etree.Element(_q("edXML"), nsmap={None: NS})
    parent = root
    if level > 1:  # below the root: edXML: is declared, as on edXMLEnvelope
        parent = etree.SubElement(root, _q("edXMLEnvelope"), nsmap={"edXML": NS})
        for _ in range(level - 2):
            parent = etree.SubElement(parent, _q("x"))
    etree.SubElement(parent, _BEGIN)
    _append_raw(parent, raw)
    etree.SubElement(parent, _END)
    text = etree.tostring(root, encoding="unicode", pretty_print=pretty)
    begin = text.index(">", text.index("edoc-raw-begin")) + 1
    end = text.rindex("<", 0, text.rindex("edoc-raw-end"))
    if pretty:  # without the begin marker's line break and the end marker's indentation
        return text[begin + 1 : end - 2 * level]  # the element's lines, each ending "\n"
    return text[begin:end]


_INDENTS = tuple("  " * level for level in range(16))


class _Out:
    """The text of a message being written, with its indentation."""

    def __init__(self, pretty: bool) -> None:
        self.pretty = pretty
        self.nl = "\n" if pretty else ""
        self.indents = _INDENTS if pretty else ("",) * len(_INDENTS)
        self.parts: list[str | Attachment] = []

    def leaf(self, level: int, local: str, text: str | None) -> None:
        if text is not None:
            self.parts.append(
                f"{self.indents[level]}<edXML:{local}>{_escape(text)}</edXML:{local}>{self.nl}"
            )

    def raw(self, level: int, raw: RawXml) -> None:
        self.parts.append(_raw_text(raw, level, self.pretty))

    def open(self, level: int, start: str) -> int:
        """Open an element (``start`` is its start tag without ``<``/``>``): return a mark
        for :meth:`close`, which writes ``<.../>`` when nothing was written inside."""
        self.parts.append(f"{self.indents[level]}<{start}>{self.nl}")
        return len(self.parts)

    def close(self, level: int, mark: int, start: str, name: str | None = None) -> None:
        if len(self.parts) == mark:
            self.parts[-1] = f"{self.indents[level]}<{start}/>{self.nl}"
        else:
            self.parts.append(f"{self.indents[level]}</{name or start}>{self.nl}")


def _bool(value: bool) -> str:
    return "true" if value else "false"


#: kind -> how a value is written (str for text and numbers)
_FORMATS: dict[Kind, Callable[[Any], str]] = {
    Kind.DATE: format_date,
    Kind.TIMESTAMP: format_timestamp,
    Kind.BOOL: _bool,
}

_Plan = tuple[tuple[str, bool, str | None, Kind, str, Callable[[Any], str]], ...]
#: By the table's id; the table is kept with its plan, so that its id is never reused.
_PLANS: dict[int, tuple[tuple[Child, ...], _Plan]] = {}


def _plan(table: tuple[Child, ...]) -> _Plan:
    """(field, many, wrapper, kind, tag, format) of each child, worked out once per table."""
    hit = _PLANS.get(id(table))
    if hit is None or hit[0] is not table:
        plan = tuple(
            (c.field, c.many, c.wrapper, c.kind, c.tag, _FORMATS.get(c.kind, str))
            for c in table
        )
        hit = _PLANS[id(table)] = (table, plan)
    return hit[1]


def _fill(out: _Out, level: int, model: Any, table: tuple[Child, ...]) -> None:
    """Write the children of ``model`` listed in ``table`` at ``level``, in order."""
    values = model.__dict__
    for field, many, wrapper, kind, tag, fmt in _plan(table):
        value = values[field]
        if value is None:
            continue
        if many:
            items = [item for item in value if item is not None]
            if not items:
                continue
        else:
            items = [value]
        item_level, mark = level, 0
        if wrapper:
            mark = out.open(level, f"edXML:{wrapper}")
            item_level = level + 1
        for item in items:
            if kind is Kind.RAW:
                out.raw(item_level, item)
            elif kind is Kind.MODEL:
                assert isinstance(item, _Element)
                start = f"edXML:{tag}"
                inner = out.open(item_level, start)
                _fill(out, item_level + 1, item, item.xml_children)
                for ext in item.extensions:
                    out.raw(item_level + 1, ext)
                out.close(item_level, inner, start)
            else:
                out.leaf(item_level, tag, fmt(item))
        if wrapper:
            out.close(level, mark, f"edXML:{wrapper}")


def _extensions(out: _Out, level: int, message: Message, container: str) -> None:
    for ext in message.container_extensions.get(container, []):
        out.raw(level, ext)


_ROOT = f'edXML xmlns="{NS}"'
_ENVELOPE = f'edXML:edXMLEnvelope xmlns:edXML="{NS}"'
_ENCODED = f'edXML:AttachmentEncoded xmlns:edXML="{NS}"'


def _build(message: Message, pretty: bool) -> list[str | Attachment]:
    """The message's text, an attachment standing where its base64 goes."""
    out = _Out(pretty)
    root = out.open(0, _ROOT)  # the start tags with declarations close with their names
    envelope = out.open(1, _ENVELOPE)
    header = out.open(2, "edXML:edXMLHeader")
    message_header = out.open(3, "edXML:MessageHeader")
    if isinstance(message, Document):
        _fill(out, 4, message, Document.header_children)
        _extensions(out, 4, message, "MessageHeader")
        out.close(3, message_header, "edXML:MessageHeader")
        trace = out.open(3, "edXML:TraceHeaderList")
        _fill(out, 4, message, Document.trace_children)
        _extensions(out, 4, message, "TraceHeaderList")
        out.close(3, trace, "edXML:TraceHeaderList")
    else:
        if isinstance(message, StatusMessage):
            _fill(out, 4, message, StatusMessage.header_children)
            _extensions(out, 4, message, "MessageHeader")
        out.close(3, message_header, "edXML:MessageHeader")
    if message.signature is not None:
        out.raw(3, message.signature)
    _extensions(out, 3, message, "edXMLHeader")
    out.close(2, header, "edXML:edXMLHeader")
    if isinstance(message, Document):
        body = out.open(2, "edXML:edXMLBody")
        manifest = out.open(3, 'edXML:edXMLManifest version="1.0"')
        for att in message.attachments:
            ref = out.open(4, "edXML:Reference")
            out.leaf(5, "ContentId", att.content_id)
            out.leaf(5, "ContentType", att.content_type)
            out.leaf(5, "Description", att.description)
            out.leaf(5, "AttachmentName", att.name)
            out.close(4, ref, "edXML:Reference")
        _extensions(out, 4, message, "edXMLManifest")
        out.close(3, manifest, 'edXML:edXMLManifest version="1.0"', "edXML:edXMLManifest")
        _extensions(out, 3, message, "edXMLBody")
        out.close(2, body, "edXML:edXMLBody")
    _extensions(out, 2, message, "edXMLEnvelope")
    out.close(1, envelope, _ENVELOPE, "edXML:edXMLEnvelope")
    if isinstance(message, Document) and (
        message.attachments or message.container_extensions.get("AttachmentEncoded")
    ):
        encoded = out.open(1, _ENCODED)
        for att in message.attachments:
            item = out.open(2, "edXML:Attachment")
            out.leaf(3, "ContentId", att.content_id)
            out.leaf(3, "AttachmentName", att.name)
            out.leaf(3, "Description", att.description)
            out.leaf(3, "ContentType", att.content_type)
            out.parts.append(f"{out.indents[3]}<edXML:ContentTransferEncoded>")
            out.parts.append(att)
            out.parts.append(f"</edXML:ContentTransferEncoded>{out.nl}")
            out.close(2, item, "edXML:Attachment")
        _extensions(out, 2, message, "AttachmentEncoded")
        out.close(1, encoded, _ENCODED, "edXML:AttachmentEncoded")
    _extensions(out, 1, message, "edXML")
    out.close(0, root, _ROOT, "edXML")
    return out.parts


def _b64_chunks(att: Attachment) -> Iterator[bytes]:
    view = memoryview(att.data)
    for offset in range(0, len(view), _B64_CHUNK):
        yield binascii.b2a_base64(view[offset : offset + _B64_CHUNK], newline=False)


def _pieces(message: Message, *, check_first: bool, pretty: bool) -> Iterator[bytes]:
    if check_first:
        errors = [f for f in check(message, strict=True) if f.severity is Severity.ERROR]
        if errors:
            raise EdxmlWriteError(errors)
    yield DECLARATION
    text: list[str] = []
    for part in _build(message, pretty):
        if isinstance(part, str):
            text.append(part)
            continue
        yield "".join(text).encode("utf-8")
        text.clear()
        yield from _b64_chunks(part)
    yield "".join(text).encode("utf-8")


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
