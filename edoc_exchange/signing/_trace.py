"""What a signature leaves unsigned: the trace hops systems append after signing.

Every system a message passes appends a TraceHeader to its TraceHeaderList, the national
axis included (it appends two on some routes, one without an OrganId). A signature over
the whole message would break at the first hop. The standard construction chosen here is
the XPath Filter 2.0 transform (W3C ``xmldsig-filter2``) in its *subtract* form, between
the enveloped-signature and the exclusive c14n transforms of the one ``Reference URI=""``,
with L = ``/edXML:edXML/edXML:edXMLEnvelope/edXML:edXMLHeader/edXML:TraceHeaderList``::

    L/edXML:TraceHeader[position() > N] | L/text()

``N`` is the number of hops when the message was signed: they stay signed (the sender's
own hop carries the signing time), every later one is subtracted, and so are the
whitespace text nodes directly in TraceHeaderList (a system that appends a hop also
appends the line break and indentation before it). Everything else, Bussiness included,
stays signed. Any XML-DSig implementation verifies it (xmlsec1 does, in the tests).

Against wrapping and smuggling, a verifier must not let the unsigned region carry anything
but hops: :func:`unsigned_nodes` accepts only the exact expression above (any N), and
every subtracted node must be a TraceHeader of the edXML namespace with no attribute and
only OrganId and Timestamp text children, or whitespace. Subtracting only ever removes
nodes, never adds them, and the model is then read from the signed bytes alone; the hops
are reported apart as unsigned data.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from lxml import etree

from ..edxml import NS

__all__ = [
    "FILTER2",
    "SmuggledContentError",
    "UnsignedRegion",
    "filter_expression",
    "filter_hop_count",
    "prepare_for_signing",
    "unsigned_nodes",
]

#: The XPath Filter 2.0 transform.
FILTER2 = "http://www.w3.org/2002/06/xmldsig-filter2"
_PREFIX = "edXML"
_LIST = f"/{_PREFIX}:edXML/{_PREFIX}:edXMLEnvelope/{_PREFIX}:edXMLHeader/{_PREFIX}:TraceHeaderList"
_EXPRESSION_RE = re.compile(
    re.escape(f"{_LIST}/{_PREFIX}:TraceHeader[position() > ")
    + r"(0|[1-9][0-9]{0,3})"
    + re.escape(f"] | {_LIST}/text()")
)
_HOP_CHILDREN = frozenset({f"{{{NS}}}OrganId", f"{{{NS}}}Timestamp"})


def filter_expression(signed_hops: int) -> str:
    """The subtract expression for a message signed with ``signed_hops`` trace hops."""
    return f"{_LIST}/{_PREFIX}:TraceHeader[position() > {signed_hops}] | {_LIST}/text()"


def filter_hop_count(expression: str) -> int | None:
    """N of an expression of exactly the pinned form, or None for any other expression."""
    match = _EXPRESSION_RE.fullmatch(expression)
    return int(match.group(1)) if match else None


def _trace_list(root: etree._Element) -> etree._Element | None:
    return root.find(f"{{{NS}}}edXMLEnvelope/{{{NS}}}edXMLHeader/{{{NS}}}TraceHeaderList")


def prepare_for_signing(root: etree._Element) -> int:
    """Drop the whitespace directly in TraceHeaderList (the filter subtracts it, so what
    signxml digests must not hold it) and return the number of hops to keep signed."""
    trace = _trace_list(root)
    if trace is None:
        return 0
    _drop_whitespace(trace)
    return len(trace.findall(f"{{{NS}}}TraceHeader"))


def _drop_whitespace(trace: etree._Element) -> None:
    """Remove the text directly in TraceHeaderList: what the filter's ``L/text()`` takes."""
    trace.text = None
    for child in trace:
        child.tail = None


@dataclass(frozen=True, slots=True)
class UnsignedRegion:
    """What the filter subtracts from a received message: hops appended after signing."""

    #: TraceHeader elements added after signing, in order.
    hops: tuple[etree._Element, ...]
    #: Whitespace text to drop (TraceHeaderList's own text and its children's tails).
    has_text: bool

    def remove(self, root: etree._Element) -> None:
        """Subtract the region from ``root`` in place (the filter's output, as a tree)."""
        trace = _trace_list(root)
        if trace is None:
            return
        _drop_whitespace(trace)
        for hop in self.hops:
            trace.remove(hop)


class SmuggledContentError(ValueError):
    """The unsigned region holds something other than appended trace hops."""


def unsigned_nodes(root: etree._Element, xpath: etree._Element) -> UnsignedRegion:
    """Evaluate a pinned filter on ``root``; raise :class:`SmuggledContentError` or ValueError.

    ``xpath`` is the transform's ``XPath`` element: its expression must be exactly the
    pinned one, and the prefix it uses must be bound to the edXML namespace.
    """
    expression = (xpath.text or "").strip()
    hops_signed = filter_hop_count(expression)
    if hops_signed is None:
        raise ValueError(f"filter expression is not the pinned one: {expression[:200]!r}")
    if xpath.nsmap.get(_PREFIX) != NS:
        raise ValueError(f"prefix {_PREFIX} of the filter is not bound to {NS}")
    if dict(xpath.attrib) != {"Filter": "subtract"}:
        raise ValueError(f"filter attributes {dict(xpath.attrib)!r}: only Filter=subtract")
    selected = _compiled(expression)(root)
    assert isinstance(selected, list)
    hops: list[etree._Element] = []
    has_text = False
    for node in selected:
        if isinstance(node, str):  # a text node (lxml's smart string)
            if node.strip():
                raise SmuggledContentError(f"text {node.strip()[:40]!r} in TraceHeaderList")
            has_text = True
            continue
        assert isinstance(node, etree._Element)
        _check_hop(node)
        hops.append(node)
    return UnsignedRegion(tuple(hops), has_text)


@functools.lru_cache(maxsize=64)
def _compiled(expression: str) -> etree.XPath:
    """The pinned expression, compiled once per N (a few values ever occur)."""
    return etree.XPath(expression, namespaces={_PREFIX: NS})


def _check_hop(hop: etree._Element) -> None:
    """An unsigned hop may hold an OrganId and a Timestamp, as text, and nothing else."""
    if hop.tag != f"{{{NS}}}TraceHeader" or hop.attrib:
        raise SmuggledContentError(f"unsigned element {hop.tag!r} with {dict(hop.attrib)!r}")
    if (hop.text or "").strip():
        raise SmuggledContentError("text directly in an unsigned TraceHeader")
    seen: set[str] = set()
    for child in hop:
        if not isinstance(child.tag, str) or child.tag not in _HOP_CHILDREN:
            raise SmuggledContentError(f"unsigned TraceHeader holds {child.tag!r}")
        if child.tag in seen or child.attrib or len(child) or (child.tail or "").strip():
            name = etree.QName(child).localname
            raise SmuggledContentError(f"unsigned TraceHeader/{name} is malformed")
        seen.add(child.tag)
