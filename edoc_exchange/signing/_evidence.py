"""The signed message as evidence: what a signature covers, with the signature put back.

A receiver keeps proof of who sent exactly what (Thông tư 41/2017, Điều 9.1). The bytes
that arrived are not that proof: systems on the way appended hops nobody signed. What
:func:`verify` digested (``VerifiedMessage.signed_bytes``) is, and together with the
Signature element (``signature_xml``) it makes a message that verifies again on its own,
under the same policy, years later, holding nothing unsigned.
"""

from __future__ import annotations

from lxml import etree

from ..edxml import NS
from ._verify import VerifiedMessage
from ._xml import parser

__all__ = ["signed_message"]


def signed_message(verified: VerifiedMessage) -> bytes:
    """The signed content of ``verified`` with its Signature back in its place.

    The Signature goes right after TraceHeaderList (or MessageHeader), where
    :func:`verify` requires it, with no whitespace of its own: the enveloped-signature
    transform then takes it out again and leaves exactly the bytes that were digested.
    Raises TypeError for anything but a VerifiedMessage.
    """
    if not isinstance(verified, VerifiedMessage):
        raise TypeError("signed_message() takes a VerifiedMessage (from signing.verify)")
    return with_signature(verified.signed_bytes, verified.signature_xml)


def with_signature(signed: bytes, signature_xml: bytes) -> bytes:
    """``signed`` (what a verification digested) with the Signature element put back in
    its place; for a large message, ``signed`` is its skeleton (placeholders for the
    attachments' base64, expanded afterwards from the file)."""
    root = etree.fromstring(signed, parser())
    header = root.find(f"{{{NS}}}edXMLEnvelope/{{{NS}}}edXMLHeader")
    assert header is not None  # verify pinned the structure before digesting it
    anchor = header.find(f"{{{NS}}}TraceHeaderList")
    if anchor is None:
        anchor = header.find(f"{{{NS}}}MessageHeader")
    assert anchor is not None
    signature = etree.fromstring(signature_xml, parser())
    signature.tail = None
    anchor.addnext(signature)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")
