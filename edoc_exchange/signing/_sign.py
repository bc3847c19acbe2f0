"""Signing: one enveloped XML-DSig signature over the whole message, in its standard place."""

from __future__ import annotations

import base64
import copy
import functools
import hashlib
from collections.abc import Sequence
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod
from signxml.exceptions import SignXMLException
from signxml.signer import XMLSigner
from signxml.util import strip_pem_header

from ..edxml import DEFAULT_LIMITS, DSIG_NS, Message, ReadLimits, write
from . import _xml
from ._errors import Rule, SignerError
from ._signers import Signer
from ._timestamp import Timestamper, TimestampError, skipped, timestamper_of
from ._trace import FILTER2, filter_expression, prepare_for_signing

__all__ = ["XADES_NS", "sign"]

#: XAdES 1.3.2: the namespace of the signature timestamp's container (ETSI EN 319 132).
XADES_NS = "http://uri.etsi.org/01903/v1.3.2#"
_EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
#: The Id of our ds:Signature, which the timestamp's QualifyingProperties target.
SIGNATURE_ID = "edoc-signature"

_ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"


class _XMLSigner(XMLSigner):
    """signxml's signer with our parser (its default cannot hold a 10 MB text node), the
    trace filter between the enveloped-signature and c14n transforms (see ``_trace``), and
    savings on a tree that :func:`sign` built for it alone (``own``): signxml signs that
    tree in place and digests a deep copy (not two serialise-and-parse copies), and KeyInfo
    is written from certificate texts made once per certificate. The bytes signed and
    written are the same as signxml's own way."""

    def __init__(
        self,
        signed_hops: int,
        *,
        own: etree._Element,
        certificates: Sequence[x509.Certificate],
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.signed_hops = signed_hops
        self._own: etree._Element | None = own
        self._certificates = certificates
        # signxml's annotator hook: our KeyInfo instead of signxml's, so that signxml is
        # given no ``cert`` (it would serialise and search each PEM on every signature).
        self.signature_annotators = [self._add_certificates]

    @property
    def parser(self) -> etree.XMLParser:
        return _xml.parser()

    def get_root(self, data: Any) -> Any:
        # signxml takes the document twice: the one it puts the signature in and returns,
        # and the copy it digests with the placeholder taken out; each by serialising and
        # parsing. The first need not be a copy, as nobody else holds ``own``; the second
        # is a deep copy, which keeps every namespace declaration of a root element (what
        # signxml's round trip guards against is a subtree losing its ancestors' ones).
        if data is self._own:
            self._own = None
            return data
        if isinstance(data, etree._Element) and data.getparent() is None:
            return copy.deepcopy(data)
        return super().get_root(data)  # type: ignore[no-untyped-call]

    def _ds_tag(self, tag: str) -> str:
        # signxml makes a QName through its namespace map for each of the dozen elements of
        # a Signature (a tenth of the signer's own time); ours declares ``ds``, no default.
        return _xml.dsig(tag)

    def _add_certificates(self, sig_root: etree._Element, **_: Any) -> None:
        """KeyInfo/X509Data with the signer's certificates, as signxml writes it."""
        key_info = etree.SubElement(sig_root, _xml.dsig("KeyInfo"))
        x509_data = etree.SubElement(key_info, _xml.dsig("X509Data"))
        for cert in self._certificates:
            etree.SubElement(x509_data, _xml.dsig("X509Certificate")).text = _pem_body(cert)

    def _build_transforms_for_reference(
        self,
        *,
        transforms_node: etree._Element,
        reference: Any,
        exclude_c14n_transform_element: bool = True,
    ) -> None:
        etree.SubElement(transforms_node, _xml.dsig("Transform"), Algorithm=_ENVELOPED)
        trace = etree.SubElement(transforms_node, _xml.dsig("Transform"), Algorithm=FILTER2)
        xpath = etree.SubElement(
            trace, f"{{{FILTER2}}}XPath", Filter="subtract", nsmap={"dsig-xpath": FILTER2}
        )
        xpath.text = filter_expression(self.signed_hops)
        etree.SubElement(
            transforms_node, _xml.dsig("Transform"), Algorithm=reference.c14n_method.value
        )


@functools.lru_cache(maxsize=64)
def _pem_body(cert: x509.Certificate) -> str:
    """An X509Certificate text, made once per certificate (a signer signs thousands of
    messages): the PEM body, as signxml writes it."""
    return str(strip_pem_header(cert.public_bytes(Encoding.PEM)))  # type: ignore[no-untyped-call]


def _strip(root: etree._Element) -> None:
    """Remove old signatures, comments and PIs: the result carries exactly our signature."""
    # One walk over the tree (libxml2's) for comments, PIs and XML-DSig signatures.
    doomed: list[Any] = list(
        root.iter(etree.Comment, etree.ProcessingInstruction, _xml.dsig("Signature"))
    )
    for header in root.iterfind(f"{_xml.edxml('edXMLEnvelope')}/{_xml.edxml('edXMLHeader')}"):
        doomed += [el for el in header if _is_signature_name(el.tag)]
    for node in doomed:
        parent = node.getparent()
        if parent is not None:
            parent.remove(node)


def _is_signature_name(tag: object) -> bool:
    """Whether an element's local name is Signature, whatever its namespace (what
    ``_xml.local(el) == "Signature"`` says, without building a QName per element)."""
    return isinstance(tag, str) and tag.rpartition("}")[2] == "Signature"


def _header(root: etree._Element) -> etree._Element:
    if root.tag != _xml.edxml("edXML"):
        raise SignerError(Rule.NOT_EDXML, detail=f"root element {root.tag!r}")
    envelope = root.find(_xml.edxml("edXMLEnvelope"))
    header = envelope.find(_xml.edxml("edXMLHeader")) if envelope is not None else None
    if header is None or header.find(_xml.edxml("MessageHeader")) is None:
        raise SignerError(Rule.NOT_EDXML)
    return header


def sign(
    message: Message | bytes,
    signer: Signer,
    *,
    limits: ReadLimits = DEFAULT_LIMITS,
    timestamper: Timestamper | None = None,
) -> bytes:
    """Sign a message (model or edXML bytes) and return the signed bytes.

    The signature is an enveloped XML-DSig in the XML-DSig namespace, placed in
    edXMLHeader right after TraceHeaderList (documents) or MessageHeader (status messages);
    one Reference with URI="" covers the whole message, AttachmentEncoded included, except
    the trace hops systems append after signing (transforms: enveloped-signature, the
    XPath Filter 2.0 of ``_trace``, exclusive c14n; SHA-256 digest; RSA-SHA256 or
    ECDSA-SHA256 by key type); KeyInfo holds the signer's certificates. Any existing
    signature, comment or processing instruction is removed first, and so is the
    whitespace directly in TraceHeaderList (the filter leaves it unsigned).

    A model is written by the edxml writer with its strict checks; bytes are signed as given
    (only their shape is checked), so prefer models. Raises :class:`SignerError`
    (``not-edxml``, ``malformed-xml``, or a key problem) and
    :class:`~edoc_exchange.edxml.EdxmlWriteError` for a model that breaks the standard.

    With a ``timestamper`` (or a :class:`TimestampedSigner`, which carries one) the
    signature gets an RFC 3161 timestamp over its SignatureValue, XAdES-T style (see
    :func:`_add_timestamp`); when the TSA fails, :class:`TimestampError` is raised if it
    is required, else the message is signed without one and a warning says so.
    """
    timestamper = timestamper or timestamper_of(signer)
    if isinstance(message, Message):
        data = write(message.model_copy(update={"signature": None}))
    else:
        data = bytes(message)
    try:
        root = _xml.parse(data, limits)
    except _xml.UnsafeXmlError as exc:
        raise SignerError(Rule.MALFORMED, detail=exc.reason) from None
    _strip(root)
    header = _header(root)
    for attr in ("Id", "ID", "id"):
        root.attrib.pop(attr, None)  # an Id on the root would turn URI="" into URI="#..."
    after = header.find(_xml.edxml("TraceHeaderList"))
    if after is None:
        after = header.find(_xml.edxml("MessageHeader"))
    assert after is not None
    placeholder = etree.Element(_xml.dsig("Signature"), nsmap={"ds": DSIG_NS}, Id="placeholder")
    placeholder.tail = after.tail  # keep the writer's indentation
    after.addnext(placeholder)
    signed_hops = prepare_for_signing(root)

    certificates = tuple(signer.certificates)
    if not certificates:  # as signxml refused ``cert=[]`` when it wrote KeyInfo itself
        raise SignerError(Rule.KEY_UNREADABLE, detail="no certificate to put in KeyInfo")
    method = (
        SignatureMethod.RSA_SHA256
        if isinstance(signer.key, rsa.RSAPrivateKey)
        else SignatureMethod.ECDSA_SHA256
    )
    xml_signer = _XMLSigner(
        signed_hops,
        own=root,
        certificates=certificates,
        signature_algorithm=method,
        digest_algorithm=DigestAlgorithm.SHA256,
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    )
    try:
        # No reference_uri: signxml then signs the whole document with URI="" (the root
        # carries no Id, checked below).
        signed = xml_signer.sign(root, key=signer.key)
    except (SignXMLException, ValueError, TypeError) as exc:
        raise SignerError(Rule.KEY_UNREADABLE, detail=f"{type(exc).__name__}: {exc}") from None
    if timestamper is not None:
        _add_timestamp(signed, timestamper)
    return _xml.serialize(signed)


def signature_value_c14n(signature: etree._Element) -> bytes:
    """What the signature timestamp's imprint hashes: the SignatureValue element in
    exclusive c14n (XAdES SignatureTimeStamp over ds:SignatureValue)."""
    value = signature.find(_xml.dsig("SignatureValue"))
    if value is None:
        raise SignerError(Rule.KEY_UNREADABLE, detail="no SignatureValue to timestamp")
    return etree.tostring(value, method="c14n", exclusive=True)


def _add_timestamp(root: etree._Element, timestamper: Timestamper) -> None:
    """Append ds:Object/xades:QualifyingProperties/.../SignatureTimeStamp to the signature.

    The Object is inside ds:Signature, which the enveloped-signature transform takes out
    of what the Reference digests, and outside SignedInfo: adding it changes nothing that
    is signed (an unsigned property, as XAdES-T defines it).
    """
    signature = next(root.iter(_xml.dsig("Signature")))
    c14n = signature_value_c14n(signature)
    try:
        token = timestamper.token(hashlib.sha256(c14n).digest())
    except TimestampError as exc:
        if timestamper.required:
            raise
        skipped(exc)
        return
    signature.set("Id", SIGNATURE_ID)
    xades = f"{{{XADES_NS}}}"
    obj = etree.SubElement(signature, _xml.dsig("Object"))
    props = etree.SubElement(
        obj,
        f"{xades}QualifyingProperties",
        Target=f"#{SIGNATURE_ID}",
        nsmap={"xades": XADES_NS},
    )
    unsigned = etree.SubElement(props, f"{xades}UnsignedProperties")
    sig_props = etree.SubElement(unsigned, f"{xades}UnsignedSignatureProperties")
    stamp = etree.SubElement(sig_props, f"{xades}SignatureTimeStamp", Id=f"{SIGNATURE_ID}-ts")
    etree.SubElement(stamp, _xml.dsig("CanonicalizationMethod"), Algorithm=_EXC_C14N)
    etree.SubElement(stamp, f"{xades}EncapsulatedTimeStamp").text = base64.b64encode(
        token
    ).decode("ascii")
