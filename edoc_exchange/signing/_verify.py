"""Verification: untrusted bytes and an explicit policy in, a VerifiedMessage out, or a raise.

Checklist (each block below is tagged with its step):

1. Parse with the reader's safety bounds (size, no DOCTYPE, no entities, tags, depth).
2. Find the signature: none → Unsigned; only an edXML-namespaced one → LegacySignature.
3. No comments or processing instructions anywhere (no signer writes them; they are the
   tool of text-node splitting attacks).
4. Pin the structure: exactly one ds:Signature, at /edXML/edXMLEnvelope/edXMLHeader right
   after TraceHeaderList (or MessageHeader), one envelope, one header.
5. Algorithms allowed by the policy (HMAC never, SHA-1 only in legacy mode).
6. Exactly one Reference, URI="" (the whole message), exactly these transforms:
   enveloped-signature, the pinned trace filter (``_trace``; absent in signatures made
   before it, which cover every hop), exclusive c14n; the Signature holds only SignedInfo,
   SignatureValue and KeyInfo with X509 certificates, and at most one ds:Object: the
   XAdES signature timestamp, in exactly the shape ``signing.sign`` writes.
7. The trace filter is applied: the hops appended after signing must be bare TraceHeaders
   (anything else there is smuggled content and refused); they are taken out of the tree
   and read apart, as unsigned data.
8. Cryptographic check by signxml against the leaf certificate given explicitly, on that
   tree (what the filter leaves: the signed content).
8b. The timestamp, when there is one: its imprint is the hash of this SignatureValue
   (else InvalidSignature), its TSA's signature holds; trusted under ``policy.tsa_roots``
   or reported "untrusted" (the time is then not proven). None when there is none.
9. The message model is read from ``VerifyResult.signed_xml`` only, never from the input.
10. Certificate path to the policy's roots, at the signing time taken from verified data.
11. OrganId permission of the signer's key, when the policy has a mapping.
12. Revocation of every certificate on the path below the root, when the policy asks
    (its source answers from a cache, within a bounded time): revoked → refused with the
    reason, date and source; not learnt → refused under "require", said under "prefer".
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import itertools
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from lxml import etree
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod
from signxml.exceptions import (
    InvalidCertificate,
    InvalidDigest,
    InvalidInput,
    SignXMLException,
)
from signxml.exceptions import InvalidSignature as _SignxmlInvalidSignature
from signxml.util import _remove_sig
from signxml.util import namespaces as signxml_namespaces
from signxml.verifier import SignatureConfiguration, XMLVerifier

from ..edxml import (
    DEFAULT_LIMITS,
    NS,
    Document,
    Finding,
    ReadLimits,
    StatusMessage,
    TraceHeader,
    read_trace_hops,
    read_tree,
)
from ..errors import EdocError
from . import _xml
from ._chain import check_chain
from ._errors import (
    InvalidSignature,
    LegacySignature,
    Rule,
    Unsigned,
    UntrustedSigner,
)
from ._policy import TrustPolicy, spki_sha256
from ._revocation import RevocationMode, RevocationState, RevocationStatus
from ._sign import XADES_NS, signature_value_c14n
from ._timestamp import TimestampVerdict, check_token
from ._trace import FILTER2, SmuggledContentError, unsigned_nodes

__all__ = ["VerifiedMessage", "check_revocation", "signing_time", "stored_timestamp", "verify"]

_ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
_EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
_TRANSFORMS = (_ENVELOPED, FILTER2, _EXC_C14N)
#: Signatures made before the trace filter: they cover every hop (one added breaks them).
_WHOLE_TRANSFORMS = (_ENVELOPED, _EXC_C14N)
_SIGNEDINFO_C14N = frozenset(
    {
        _EXC_C14N,
        "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
        "http://www.w3.org/2006/12/xml-c14n11",
    }
)
_KEYINFO_CHILDREN = frozenset({_xml.dsig("X509Data"), _xml.dsig("KeyName")})
_X509DATA_CHILDREN = frozenset(
    {
        _xml.dsig("X509Certificate"),
        _xml.dsig("X509SubjectName"),
        _xml.dsig("X509IssuerSerial"),
    }
)
_SIGNATURE_PATH = "/edXML/edXMLEnvelope/edXMLHeader/Signature"
#: The largest timestamp token read (a token with its TSA's chain is a few kB).
_MAX_TOKEN_BASE64 = 64 * 1024
_PRIVATE = object()


class VerifiedMessage:
    """A message whose signature was verified under a policy; only :func:`verify` makes one.

    ``message`` was read from the signed bytes alone (it carries no ``signature``: the
    enveloped signature is outside what it covers); ``signed_bytes`` are those bytes exactly
    as digested (exclusive c14n), ``signature_xml`` the Signature element as received: keep
    both to prove later who sent exactly what (Thông tư 41/2017, Điều 9.1).
    ``unsigned_trace`` are the hops systems appended after signing (the axis's): data
    nobody signed, kept apart from ``message.trace``, which holds the signed hops only.
    """

    __slots__ = (
        "_certificate",
        "_chain",
        "_checked_at",
        "_digest_algorithm",
        "_message",
        "_revocation",
        "_signature_algorithm",
        "_signature_xml",
        "_signed_bytes",
        "_signing_time",
        "_timestamp_verdict",
        "_unsigned_trace",
        "_warnings",
    )

    _message: Document | StatusMessage
    _signed_bytes: bytes
    _signature_xml: bytes
    _certificate: x509.Certificate
    _chain: tuple[x509.Certificate, ...]
    _signature_algorithm: str
    _digest_algorithm: str
    _signing_time: dt.datetime | None
    _timestamp_verdict: TimestampVerdict | None
    _checked_at: dt.datetime
    _unsigned_trace: tuple[TraceHeader, ...]
    _warnings: tuple[Finding, ...]
    _revocation: RevocationStatus | None

    def __init__(self, token: object, **fields: Any) -> None:
        if token is not _PRIVATE:
            raise TypeError("only edoc_exchange.signing.verify() creates a VerifiedMessage")
        for name in self.__slots__:
            object.__setattr__(self, name, fields[name[1:]])

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("a VerifiedMessage is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("a VerifiedMessage is immutable")

    def __reduce__(self) -> Any:
        raise TypeError("a VerifiedMessage cannot be pickled; store signed_bytes and verify again")

    def __repr__(self) -> str:
        return (
            f"VerifiedMessage(kind={self.message.kind!r}, "
            f"sender={self.message.sender.organ_id!r}, signer={self.subject!r})"
        )

    @property
    def message(self) -> Document | StatusMessage:
        """The model read from the signed bytes only."""
        return self._message

    @property
    def signed_bytes(self) -> bytes:
        """The canonical bytes the signature's digest covers."""
        return self._signed_bytes

    @property
    def signature_xml(self) -> bytes:
        """The ds:Signature element as received (for archiving the proof)."""
        return self._signature_xml

    @property
    def certificate(self) -> x509.Certificate:
        """The signer's certificate."""
        return self._certificate

    @property
    def chain(self) -> tuple[x509.Certificate, ...]:
        """The verified path: signer's certificate first, trusted root last."""
        return self._chain

    @property
    def signature_algorithm(self) -> str:
        """SignatureMethod URI."""
        return self._signature_algorithm

    @property
    def digest_algorithm(self) -> str:
        """DigestMethod URI."""
        return self._digest_algorithm

    @property
    def signing_time(self) -> dt.datetime | None:
        """The signing time carried in the signed message (None when it had none)."""
        return self._signing_time

    @property
    def timestamp_verdict(self) -> TimestampVerdict | None:
        """The signature's RFC 3161 timestamp, judged (None: the signature carries none).

        ``untrusted`` when its TSA is not under the policy's ``tsa_roots``: its time is
        then shown, not proven.
        """
        return self._timestamp_verdict

    @property
    def timestamp(self) -> dt.datetime | None:
        """The signing time a trusted TSA proves (None without a trusted timestamp); the
        sender's own claim is :attr:`signing_time`."""
        verdict = self._timestamp_verdict
        return verdict.proven if verdict is not None else None

    @property
    def checked_at(self) -> dt.datetime:
        """The moment at which the certificate path was found valid."""
        return self._checked_at

    @property
    def unsigned_trace(self) -> tuple[TraceHeader, ...]:
        """Trace hops appended after signing (by the axis, say): unsigned, for display."""
        return self._unsigned_trace

    @property
    def warnings(self) -> tuple[Finding, ...]:
        """The lenient reader's warnings about the signed content and the unsigned hops."""
        return self._warnings

    @property
    def revocation(self) -> RevocationStatus | None:
        """What is known of the signer's revocation, and from where (None: policy "off").

        Under "prefer" a signer whose status could not be learnt is accepted with a
        NOT_CHECKED status here ("not checked since …"): show it to the clerk.
        """
        return self._revocation

    @property
    def subject(self) -> str:
        """The signer certificate's subject (RFC 4514)."""
        return self.certificate.subject.rfc4514_string()

    @property
    def issuer(self) -> str:
        """The signer certificate's issuer (RFC 4514)."""
        return self.certificate.issuer.rfc4514_string()

    @property
    def serial(self) -> str:
        """The signer certificate's serial number, in hex."""
        return f"{self.certificate.serial_number:x}"

    @property
    def not_before(self) -> dt.datetime:
        """Start of the signer certificate's validity (UTC)."""
        return self.certificate.not_valid_before_utc

    @property
    def not_after(self) -> dt.datetime:
        """End of the signer certificate's validity (UTC)."""
        return self.certificate.not_valid_after_utc

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the signer certificate (hex)."""
        return self.certificate.fingerprint(hashes.SHA256()).hex()

    @property
    def spki_sha256(self) -> str:
        """SHA-256 of the signer's public key (hex), the key TrustPolicy.organ_ids uses."""
        return spki_sha256(self.certificate)


def _ns_local(el: etree._Element) -> tuple[str | None, str]:
    q = etree.QName(el)
    return q.namespace, q.localname


def _children(el: etree._Element) -> list[etree._Element]:
    return [child for child in el if isinstance(child.tag, str)]


def signing_time(message: Document | StatusMessage) -> dt.datetime | None:
    """The signing time a message carries: the sender's last TraceHeader, or the status time."""
    if isinstance(message, StatusMessage):
        return message.timestamp
    stamps = [
        t.timestamp
        for t in message.trace
        if t.organ_id == message.sender.organ_id and t.timestamp is not None
    ]
    return stamps[-1] if stamps else None


def verify(
    data: bytes | str | os.PathLike[str],
    policy: TrustPolicy,
    *,
    limits: ReadLimits = DEFAULT_LIMITS,
    now: dt.datetime | None = None,
) -> VerifiedMessage:
    """Verify a signed edXML message under ``policy``; return only verified data.

    Raises a :class:`~edoc_exchange.signing.SignatureError` for every outcome but valid:
    :class:`InvalidSignature`, :class:`UntrustedSigner`, :class:`Unsigned` or
    :class:`LegacySignature`, each naming the rule that failed. Raises
    :class:`~edoc_exchange.edxml.EdxmlReadError` when a correctly signed content is not an
    acceptable edXML message. ``now`` replaces the clock (tests, re-verifying archives).
    """
    if not isinstance(data, bytes | bytearray | memoryview):  # a path: a large message,
        from ._stream import verify_file  # verified on its file (see _stream)

        return verify_file(data, policy, limits=limits, now=now)
    now = now or dt.datetime.now(dt.UTC)
    # 1. Parse untrusted bytes safely.
    data = _xml.skip_stray_bytes(bytes(data))
    try:
        root = _xml.parse(data, limits)
    except _xml.UnsafeXmlError as exc:
        raise InvalidSignature(Rule.MALFORMED, detail=exc.reason) from None

    # 2-7. The Signature, where and what it must be; the hops appended after it.
    seen = _inspect(root, policy)

    # 8. Cryptography (signxml) on that tree, against the leaf given explicitly.
    result = _crypto_check(root, seen.leaf, policy)
    del root
    signed_bytes: bytes = result.signed_data

    # 8b. The signature's timestamp, when it carries one: over this SignatureValue.
    stamp = check_timestamp(seen, policy)

    # 9. The model comes from the signed XML only.
    signed_xml = result.signed_xml
    del result
    if signed_xml is None:  # pragma: no cover - URI="" always yields XML
        raise InvalidSignature(Rule.DIGEST, detail="signed data is not XML")
    # Read straight from signxml's tree of the signed bytes (no re-serialisation).
    read_result = read_tree(signed_xml, limits=limits)
    del signed_xml
    message = read_result.message

    # 10-11. Certificate path at the signing time, and who may sign for the sender.
    carried, at, chain, revocation = _trust(message, seen, policy, now)

    return VerifiedMessage(
        _PRIVATE,
        message=message,
        signed_bytes=signed_bytes,
        signature_xml=seen.signature_xml,
        certificate=seen.leaf,
        chain=chain,
        signature_algorithm=seen.signature_algorithm,
        digest_algorithm=seen.digest_algorithm,
        signing_time=carried,
        timestamp_verdict=stamp,
        checked_at=at,
        unsigned_trace=seen.unsigned,
        warnings=(*read_result.warnings, *seen.hop_findings),
        revocation=revocation,
    )


@dataclass(frozen=True, slots=True)
class _Inspected:
    """What steps 2-7 found in a signed tree (the same for a message in memory and one
    verified on its file)."""

    signature_xml: bytes
    leaf: x509.Certificate
    extra: list[x509.Certificate]
    signature_algorithm: str
    digest_algorithm: str
    unsigned: tuple[TraceHeader, ...]
    hop_findings: tuple[Finding, ...]
    #: The timestamp token (DER) and what its imprint must hash; None without a timestamp.
    timestamp_token: bytes | None = None
    stamped: bytes | None = None


def stored_timestamp(
    signature_xml: bytes, tsa_roots: Sequence[x509.Certificate]
) -> TimestampVerdict | None:
    """The timestamp of a signature verified before and stored (``signature_xml``, the
    ds:Signature a VerifiedMessage kept), judged again under today's ``tsa_roots``: what a
    document's page shows of its proven signing time. None when it carries no timestamp
    or cannot be read again (the page then shows the sender's claimed time only)."""
    try:
        root = _xml.parse(bytes(signature_xml))
        if root.tag != _xml.dsig("Signature"):
            return None
        objects = [c for c in _children(root) if c.tag == _xml.dsig("Object")]
        if len(objects) != 1:
            return None
        token = _timestamp_token(root, objects[0])
        return check_token(token, data=signature_value_c14n(root), roots=tuple(tsa_roots))
    except (EdocError, _xml.UnsafeXmlError, ValueError):
        return None


def check_timestamp(seen: _Inspected, policy: TrustPolicy) -> TimestampVerdict | None:
    """Step 8b: the timestamp's verdict under the policy's TSA roots (None: no timestamp).

    Raises :class:`InvalidSignature` for a token over other bytes or a broken one.
    """
    if seen.timestamp_token is None:
        return None
    return check_token(seen.timestamp_token, data=seen.stamped, roots=policy.tsa_roots)


def _inspect(root: etree._Element, policy: TrustPolicy) -> _Inspected:
    """Steps 2-7 of :func:`verify` on a parsed tree: the one Signature in its place, its
    algorithms, reference, shape and certificates; the hops appended after signing read
    apart and subtracted from ``root`` (which is then what signxml digests)."""
    # 2. Find the signature; tell unsigned and legacy apart.
    signatures = list(root.iter(_xml.dsig("Signature")))
    if not signatures:
        if any(_xml.local(el) == "Signature" for el in root.iter()):
            raise LegacySignature(Rule.LEGACY, step=_SIGNATURE_PATH)
        raise Unsigned(Rule.UNSIGNED)

    # 3. No comments or processing instructions anywhere.
    outside = [*root.itersiblings(preceding=True), *root.itersiblings()]
    for node in [*outside, *root.iter(etree.Comment, etree.ProcessingInstruction)]:
        raise InvalidSignature(Rule.COMMENT, detail=f"line {node.sourceline}")

    # 4. Exactly one signature, in its place.
    if len(signatures) != 1:
        raise InvalidSignature(Rule.SIGNATURE_COUNT, detail=str(len(signatures)))
    signature = signatures[0]
    _check_place(root, signature)

    # 5. Algorithms.
    signed_info = signature.find(_xml.dsig("SignedInfo"))
    if signed_info is None:
        raise InvalidSignature(Rule.SIGNATURE_STRUCTURE, detail="no SignedInfo")
    sig_method, digest_method = _check_algorithms(signed_info, policy)

    # 6. What is signed, and the shape of the Signature.
    trace_filter = _check_reference(signed_info)
    token = _check_signature_children(signature, signed_info)
    stamped = signature_value_c14n(signature) if token is not None else None
    leaf, extra = _certificates(signature)
    _check_key_type(leaf, sig_method)
    signature_xml = etree.tostring(signature)

    # 7. The hops appended after signing: bare hops only, read apart, then subtracted.
    unsigned: tuple[TraceHeader, ...] = ()
    hop_findings: tuple[Finding, ...] = ()
    if trace_filter is not None:
        unsigned, hop_findings = _subtract_trace(root, trace_filter)
    return _Inspected(
        signature_xml,
        leaf,
        list(extra),
        sig_method,
        digest_method,
        unsigned,
        hop_findings,
        token,
        stamped,
    )


def _trust(
    message: Document | StatusMessage, seen: _Inspected, policy: TrustPolicy, now: dt.datetime
) -> tuple[
    dt.datetime | None, dt.datetime, tuple[x509.Certificate, ...], RevocationStatus | None
]:
    """Steps 10-12: the certificate path at the signing time the verified message carries
    (or the policy's moment), whether its signer may sign for its sender, and whether a
    certificate on the path was revoked; (the carried signing time, the moment checked,
    the chain, the signer's revocation status)."""
    leaf = seen.leaf
    # 10. Certificate path at the signing time carried in the (now verified) message.
    carried = signing_time(message)
    if isinstance(policy.at, dt.datetime):
        at = policy.at
    elif policy.at == "signing-time" and carried is not None:
        if carried > now + policy.max_clock_skew:
            raise UntrustedSigner(Rule.SIGNING_TIME_FUTURE, detail=carried.isoformat())
        at = carried
    else:
        at = now
    chain = check_chain(leaf, seen.extra, roots=policy.roots, at=at, key_usage=policy.key_usage)

    # 11. Who may sign for the sender.
    if policy.organ_ids is not None:
        allowed = policy.organ_ids.get(spki_sha256(leaf), frozenset())
        if message.sender.organ_id not in allowed:
            raise UntrustedSigner(
                Rule.ORGAN_NOT_ALLOWED,
                detail=f"{message.sender.organ_id} / {leaf.subject.rfc4514_string()}",
            )

    # 12. Revocation, after everything that needs no answer from elsewhere.
    revocation = check_revocation(chain, policy)
    return carried, at, tuple(chain), revocation


def check_revocation(
    chain: list[x509.Certificate] | tuple[x509.Certificate, ...], policy: TrustPolicy
) -> RevocationStatus | None:
    """Step 12: ask the policy's source about each certificate of ``chain`` below its root
    (signer first); raise :class:`UntrustedSigner` for a revoked one (reason, date and
    source in the detail), and for one not learnt under "require". Returns the signer's
    status (the worst not-checked one under "prefer"), None when the policy is "off".

    A revoked certificate is refused whatever its revocation date: the signing time a
    message carries is the sender's own word, and a stolen key signs with any date it
    likes (an RFC 3161 timestamp would prove the time; not relied on here).
    """
    source = policy.revocation_source
    if policy.revocation is RevocationMode.OFF or source is None:
        return None
    signer_status: RevocationStatus | None = None
    for cert, issuer in itertools.pairwise(chain):
        status = source.status(cert, issuer)
        who = _subject_of(cert)
        if status.state is RevocationState.REVOKED:
            raise UntrustedSigner(Rule.CERT_REVOKED, detail=f"{who}: {status}")
        if status.state is RevocationState.NOT_CHECKED and policy.revocation is (
            RevocationMode.REQUIRE
        ):
            raise UntrustedSigner(Rule.REVOCATION_UNKNOWN, detail=f"{who}: {status}")
        if signer_status is None or (
            status.state is RevocationState.NOT_CHECKED
            and signer_status.state is not RevocationState.NOT_CHECKED
        ):
            signer_status = status
    return signer_status


def _subject_of(cert: x509.Certificate) -> str:
    try:
        return cert.subject.rfc4514_string()
    except ValueError:
        return f"serial {cert.serial_number:x}"


def _check_place(root: etree._Element, signature: etree._Element) -> None:
    header = signature.getparent()
    envelope = header.getparent() if header is not None else None
    if root.tag != _xml.edxml("edXML"):
        raise InvalidSignature(Rule.NOT_EDXML, detail=f"root element {root.tag!r}")
    envelopes = root.findall(_xml.edxml("edXMLEnvelope"))
    if len(envelopes) != 1:
        raise InvalidSignature(Rule.SIGNATURE_PLACE, detail=f"{len(envelopes)} edXMLEnvelope")
    headers = envelopes[0].findall(_xml.edxml("edXMLHeader"))
    if len(headers) != 1:
        raise InvalidSignature(Rule.SIGNATURE_PLACE, detail=f"{len(headers)} edXMLHeader")
    if header is None or header is not headers[0] or envelope is not envelopes[0]:
        found = "/".join(_xml.local(a) for a in reversed(list(signature.iterancestors())))
        raise InvalidSignature(Rule.SIGNATURE_PLACE, detail=f"found under /{found}")
    trace = header.findall(_xml.edxml("TraceHeaderList"))
    message_headers = header.findall(_xml.edxml("MessageHeader"))
    if len(message_headers) != 1 or len(trace) > 1:
        raise InvalidSignature(Rule.SIGNATURE_PLACE, detail="MessageHeader/TraceHeaderList")
    expected = trace[0] if trace else message_headers[0]
    if signature.getprevious() is not expected:
        raise InvalidSignature(
            Rule.SIGNATURE_PLACE, detail=f"not right after {_xml.local(expected)}"
        )


def _algorithm(el: etree._Element | None, what: str) -> str:
    if el is None or el.get("Algorithm") is None:
        raise InvalidSignature(Rule.SIGNATURE_STRUCTURE, detail=f"no {what}")
    return str(el.get("Algorithm"))


def _check_algorithms(signed_info: etree._Element, policy: TrustPolicy) -> tuple[str, str]:
    sig_method = _algorithm(signed_info.find(_xml.dsig("SignatureMethod")), "SignatureMethod")
    if "hmac" in sig_method.lower():
        raise InvalidSignature(Rule.HMAC, detail=sig_method)
    if sig_method not in policy.accepted_signature_algorithms:
        rule = Rule.SHA1 if "sha1" in sig_method.lower() else Rule.SIGNATURE_METHOD
        raise InvalidSignature(rule, detail=sig_method)
    digests = signed_info.findall(f"{_xml.dsig('Reference')}/{_xml.dsig('DigestMethod')}")
    if not digests:
        raise InvalidSignature(Rule.SIGNATURE_STRUCTURE, detail="no DigestMethod")
    for el in digests:
        digest_method = _algorithm(el, "DigestMethod")
        if digest_method not in policy.accepted_digest_algorithms:
            rule = Rule.SHA1 if "sha1" in digest_method.lower() else Rule.DIGEST_METHOD
            raise InvalidSignature(rule, detail=digest_method)
    c14n = _algorithm(
        signed_info.find(_xml.dsig("CanonicalizationMethod")), "CanonicalizationMethod"
    )
    if c14n not in _SIGNEDINFO_C14N:
        raise InvalidSignature(Rule.C14N_METHOD, detail=c14n)
    return sig_method, _algorithm(digests[0], "DigestMethod")


def _check_reference(signed_info: etree._Element) -> etree._Element | None:
    """Pin the one Reference and its transforms; return the trace filter's XPath element
    (None for a signature made before the filter, which covers the whole message)."""
    references = signed_info.findall(_xml.dsig("Reference"))
    if len(references) != 1:
        raise InvalidSignature(Rule.REFERENCE_COUNT, detail=str(len(references)))
    reference = references[0]
    uri = reference.get("URI")
    if uri != "":
        raise InvalidSignature(Rule.REFERENCE_URI, detail="no URI" if uri is None else uri)
    if reference.get("Type") is not None:
        raise InvalidSignature(Rule.SIGNATURE_STRUCTURE, detail="Reference/@Type")
    kinds = [child.tag for child in _children(reference)]
    if kinds != [_xml.dsig("Transforms"), _xml.dsig("DigestMethod"), _xml.dsig("DigestValue")]:
        raise InvalidSignature(
            Rule.TRANSFORMS, detail="Reference must hold Transforms, DigestMethod, DigestValue"
        )
    transforms_el = reference.find(_xml.dsig("Transforms"))
    assert transforms_el is not None
    transforms = _children(transforms_el)
    algorithms = tuple(t.get("Algorithm") for t in transforms)
    detail = " ".join(str(a) for a in algorithms)
    if algorithms not in (_TRANSFORMS, _WHOLE_TRANSFORMS) or any(
        t.tag != _xml.dsig("Transform") or (t.text or "").strip() or len(t.attrib) != 1
        for t in transforms
    ):
        raise InvalidSignature(Rule.TRANSFORMS, detail=detail)
    xpath: etree._Element | None = None
    for transform in transforms:
        content = _children(transform)
        if transform.get("Algorithm") != FILTER2:
            if content:
                raise InvalidSignature(Rule.TRANSFORMS, detail=f"content in {detail}")
            continue
        if len(content) != 1 or content[0].tag != f"{{{FILTER2}}}XPath" or len(content[0]):
            raise InvalidSignature(Rule.TRANSFORMS, detail="the filter must hold one XPath")
        if (content[0].tail or "").strip():
            raise InvalidSignature(Rule.TRANSFORMS, detail="text after the filter's XPath")
        xpath = content[0]
    return xpath


def _subtract_trace(
    root: etree._Element, xpath: etree._Element
) -> tuple[tuple[TraceHeader, ...], tuple[Finding, ...]]:
    """Apply the pinned trace filter to ``root``: read the unsigned hops, then remove them."""
    try:
        region = unsigned_nodes(root, xpath)
    except SmuggledContentError as exc:
        raise InvalidSignature(Rule.UNSIGNED_CONTENT, detail=str(exc)) from None
    except (ValueError, etree.XPathError) as exc:
        raise InvalidSignature(Rule.TRANSFORMS, detail=str(exc)) from None
    trace = region.hops[0].getparent() if region.hops else None
    first = 1
    if trace is not None:
        first = len(trace.findall(f"{{{NS}}}TraceHeader")) - len(region.hops) + 1
    hops, findings = read_trace_hops(region.hops, first_index=first) if region.hops else ((), ())
    if region.hops or region.has_text:
        region.remove(root)
    return hops, findings


def _check_signature_children(
    signature: etree._Element, signed_info: etree._Element
) -> bytes | None:
    """Pin the Signature's children; return the timestamp token its Object holds (the one
    Object allowed: the XAdES signature timestamp), None when there is none."""
    kinds = [child.tag for child in _children(signature)]
    expected = [_xml.dsig("SignedInfo"), _xml.dsig("SignatureValue"), _xml.dsig("KeyInfo")]
    token: bytes | None = None
    if kinds == [*expected, _xml.dsig("Object")]:
        token = _timestamp_token(signature, _children(signature)[3])
        kinds = kinds[:3]
    if kinds != expected:
        found = ", ".join(_xml.local(child) for child in _children(signature))
        raise InvalidSignature(Rule.SIGNATURE_STRUCTURE, detail=f"found {found}")
    info_kinds = [child.tag for child in _children(signed_info)]
    if info_kinds != [
        _xml.dsig("CanonicalizationMethod"),
        _xml.dsig("SignatureMethod"),
        _xml.dsig("Reference"),
    ]:
        raise InvalidSignature(Rule.SIGNATURE_STRUCTURE, detail="SignedInfo children")
    return token


def _only(parent: etree._Element, tag: str, what: str) -> etree._Element:
    """The one child of ``parent``, which must be ``tag``, with no text around it."""
    children = _children(parent)
    if len(children) != 1 or children[0].tag != tag:
        raise InvalidSignature(Rule.SIGNATURE_STRUCTURE, detail=f"{what}: unexpected content")
    if (parent.text or "").strip() or (children[0].tail or "").strip():
        raise InvalidSignature(Rule.SIGNATURE_STRUCTURE, detail=f"{what}: text")
    return children[0]


def _timestamp_token(signature: etree._Element, obj: etree._Element) -> bytes:
    """The token of ds:Object/xades:QualifyingProperties/xades:UnsignedProperties/
    xades:UnsignedSignatureProperties/xades:SignatureTimeStamp, exactly that shape (what
    :func:`signing.sign` writes), targeting this Signature by its Id; anything else in an
    Object is refused: nothing unsigned rides along unchecked."""
    x = f"{{{XADES_NS}}}"
    if obj.attrib:
        raise InvalidSignature(Rule.SIGNATURE_STRUCTURE, detail="Object attributes")
    props = _only(obj, f"{x}QualifyingProperties", "Object")
    sig_id = signature.get("Id")
    if sig_id is None or dict(props.attrib) != {"Target": f"#{sig_id}"}:
        raise InvalidSignature(
            Rule.SIGNATURE_STRUCTURE, detail="QualifyingProperties must target this Signature"
        )
    unsigned = _only(props, f"{x}UnsignedProperties", "QualifyingProperties")
    sig_props = _only(unsigned, f"{x}UnsignedSignatureProperties", "UnsignedProperties")
    stamp = _only(sig_props, f"{x}SignatureTimeStamp", "UnsignedSignatureProperties")
    parts = _children(stamp)
    shape = [_xml.dsig("CanonicalizationMethod"), f"{x}EncapsulatedTimeStamp"]
    if (
        set(stamp.attrib) - {"Id"}
        or [p.tag for p in parts] != shape
        or dict(parts[0].attrib) != {"Algorithm": _EXC_C14N}
        or len(parts[0])
        or (parts[0].text or "").strip()
        or parts[1].attrib
        or len(parts[1])
        or any((p.tail or "").strip() for p in parts)
        or (stamp.text or "").strip()
    ):
        raise InvalidSignature(Rule.SIGNATURE_STRUCTURE, detail="SignatureTimeStamp content")
    text = "".join((parts[1].text or "").split())
    if not text or len(text) > _MAX_TOKEN_BASE64:
        raise InvalidSignature(Rule.TIMESTAMP_INVALID, detail="EncapsulatedTimeStamp size")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidSignature(Rule.TIMESTAMP_INVALID, detail="not base64") from None


def _certificates(signature: etree._Element) -> tuple[x509.Certificate, list[x509.Certificate]]:
    """The leaf (first X509Certificate) and the other certificates of KeyInfo."""
    key_info = signature.find(_xml.dsig("KeyInfo"))
    assert key_info is not None
    children = _children(key_info)
    if any(child.tag not in _KEYINFO_CHILDREN for child in children):
        raise InvalidSignature(Rule.KEY_INFO, detail="only X509Data (and KeyName) allowed")
    data = key_info.findall(_xml.dsig("X509Data"))
    if len(data) != 1:
        raise InvalidSignature(Rule.KEY_INFO, detail=f"{len(data)} X509Data")
    if any(child.tag not in _X509DATA_CHILDREN for child in _children(data[0])):
        raise InvalidSignature(Rule.KEY_INFO, detail="unexpected X509Data child")
    certs: list[x509.Certificate] = []
    for el in data[0].findall(_xml.dsig("X509Certificate")):
        try:
            certs.append(_load_base64(el.text or ""))
        except (binascii.Error, ValueError) as exc:
            raise InvalidSignature(Rule.KEY_INFO, detail=f"unreadable certificate: {exc}") from None
    if not certs:
        raise InvalidSignature(Rule.KEY_INFO, detail="no X509Certificate")
    return certs[0], certs[1:]


@functools.lru_cache(maxsize=256)
def _load_base64(text: str) -> x509.Certificate:
    """A certificate from its X509Certificate text, parsed once per text (the same few
    signers send thousands of messages: no decoding again). Raises binascii.Error or
    ValueError, which are not cached: a bad text is refused every time."""
    return _load_der(base64.b64decode("".join(text.split()), validate=True))


@functools.lru_cache(maxsize=256)
def _load_der(der: bytes) -> x509.Certificate:
    """Parse a certificate; the same few signers send thousands of messages.

    cryptography parses names, validity and extensions only when they are read: they are
    read here, so that a certificate altered in KeyInfo (which no signature covers) is
    refused as unreadable, instead of failing later in the path check (raises ValueError).
    """
    cert = x509.load_der_x509_certificate(der)
    cert.subject.rfc4514_string()
    cert.issuer.rfc4514_string()
    _ = cert.not_valid_before_utc, cert.not_valid_after_utc, cert.serial_number
    _ = list(cert.extensions)
    try:
        cert.public_key()
    except UnsupportedAlgorithm as exc:
        raise ValueError(f"unsupported public key: {exc}") from None
    return cert


@functools.lru_cache(maxsize=256)
def _public_key(leaf: x509.Certificate) -> Any:
    """A certificate's public key, loaded once per certificate."""
    return leaf.public_key()


def _check_key_type(leaf: x509.Certificate, sig_method: str) -> None:
    """The certificate's key must be of the SignatureMethod's kind (RSA or EC)."""
    key = _public_key(leaf)
    fits = (
        isinstance(key, rsa.RSAPublicKey)
        if "#rsa-" in sig_method
        else isinstance(key, ec.EllipticCurvePublicKey)
        if "#ecdsa-" in sig_method
        else False
    )
    if not fits:
        raise InvalidSignature(
            Rule.SIGNATURE_VALUE, detail=f"{type(key).__name__} key for {sig_method}"
        )


@functools.lru_cache(maxsize=64)
def _configuration(
    signature_methods: frozenset[str], digest_methods: frozenset[str], at: dt.datetime
) -> SignatureConfiguration:
    """What signxml is told to expect (made once per policy's algorithms and signer)."""
    return SignatureConfiguration(
        require_x509=True,
        location=f"./{{{NS}}}edXMLEnvelope/{{{NS}}}edXMLHeader/",
        expect_references=1,
        signature_methods=frozenset(SignatureMethod(u) for u in signature_methods),
        digest_algorithms=frozenset(DigestAlgorithm(u) for u in digest_methods),
        verification_time=at,
    )


class _TreeVerifier(XMLVerifier):
    """signxml's verifier, given our tree as it is: it was parsed once, with the reader's
    bounds, and the trace filter already applied; signxml copies it where it needs to."""

    def get_root(self, data: Any) -> Any:
        if isinstance(data, etree._Element):
            return data
        return super().get_root(data)  # type: ignore[no-untyped-call]

    def _find(self, element: Any, query: str, require: bool = True, xpath: str = "") -> Any:
        # signxml's lookup, with the prefix resolved once per query (ElementPath sorted
        # signxml's nine-entry namespace map on every call: a tenth of its lookups' cost).
        path = _clark_path(xpath, query)
        found = element.find(path) if path is not None else None
        if found is None:  # not there (signxml raises its own error), or not translated
            return super()._find(element, query, require=require, xpath=xpath)  # type: ignore[no-untyped-call]
        return found

    def _findall(self, element: Any, query: str, xpath: str = "") -> Any:
        path = _clark_path(xpath, query)
        if path is None:
            return super()._findall(element, query, xpath=xpath)  # type: ignore[no-untyped-call]
        return element.findall(path)

    def _apply_transforms(self, payload: Any, *, transforms_node: Any, signature: Any) -> Any:
        # signxml copies the payload once more (serialise, parse) before canonicalising, so
        # that a subtree takes no namespaces from its ancestors into c14n. With URI=""
        # (pinned) the payload is the root of the copy _verify_reference has just made:
        # nothing above it. The pinned transforms are done as signxml does them (the
        # enveloped signature out, the trace filter already applied, exclusive c14n
        # without InclusiveNamespaces); any other case is signxml's own.
        transforms = [] if transforms_node is None else self._findall(transforms_node, "Transform")
        algorithms = tuple(t.get("Algorithm") for t in transforms)
        if (
            not isinstance(payload, etree._Element)
            or payload.getparent() is not None
            or algorithms not in (_TRANSFORMS, _WHOLE_TRANSFORMS)
            or any(len(t) for t in transforms if t.get("Algorithm") != FILTER2)
        ):
            return super()._apply_transforms(
                payload, transforms_node=transforms_node, signature=signature
            )
        _remove_sig(signature, idempotent=True)  # type: ignore[no-untyped-call]
        return self._c14n(payload, algorithm=CanonicalizationMethod(_EXC_C14N))

    def _get_cert_description(self, cert: x509.Certificate, cert_source: str) -> str:
        # Only ever shown in signxml's validity errors, which cannot occur here (it checks
        # at the leaf's notBefore): spelling out the subject cost 3% of a verification.
        return f"{cert_source} (serial={cert.serial_number})"


@functools.lru_cache(maxsize=64)
def _clark_path(xpath: str, query: str) -> str | None:
    """signxml's ``xpath + prefix:name`` (``ds`` when no prefix is given) with the prefix
    resolved through signxml's own namespace map, as ElementPath resolves it; None when
    the path holds a prefix outside braces or one the map lacks (signxml's lookup then)."""
    prefix, name = query.partition(":")[::2] if ":" in query else ("ds", query)
    uri = signxml_namespaces.get(prefix)
    if uri is None or ":" in re.sub(r"\{[^}]*\}", "", xpath) or ":" in name:
        return None
    return f"{xpath}{{{uri}}}{name}"


def _crypto_check(
    root: etree._Element,
    leaf: x509.Certificate,
    policy: TrustPolicy,
    verifier: XMLVerifier | None = None,
) -> Any:
    """signxml checks digest and signature value with the leaf's key, nothing else.

    Validity and trust are checked by :func:`check_chain` at the signing time, which is only
    known once the content is verified; signxml's own validity check is therefore run at a
    moment the leaf is valid by construction (its notBefore), so it cannot decide anything.
    signxml ignores the filter transform it does not know: the tree it gets is already the
    filter's output (see ``_trace``), so its digest is the standard one. ``verifier`` is a
    :class:`_TreeVerifier` that digests otherwise (a large message's, from its file).
    """
    config = _configuration(
        frozenset(policy.accepted_signature_algorithms),
        frozenset(policy.accepted_digest_algorithms),
        leaf.not_valid_before_utc,
    )
    try:
        # signxml's XML Schema check of the Signature is off: steps 4-6 pinned its shape far
        # more narrowly (children, algorithms, one Reference, the transforms, KeyInfo).
        return (verifier or _TreeVerifier()).verify(
            root,
            x509_cert=leaf,
            parser=_xml.parser(),
            expect_config=config,
            validate_schema=False,
        )
    except InvalidDigest as exc:
        raise InvalidSignature(Rule.DIGEST, detail=str(exc)) from None
    except InvalidCertificate as exc:  # pragma: no cover - signxml is given the leaf itself
        raise UntrustedSigner(Rule.UNTRUSTED_ROOT, detail=str(exc)) from None
    except _SignxmlInvalidSignature as exc:
        raise InvalidSignature(Rule.SIGNATURE_VALUE, detail=str(exc)) from None
    except (
        InvalidInput,
        SignXMLException,
        etree.DocumentInvalid,
        etree.XMLSyntaxError,
        ValueError,
    ) as exc:
        raise InvalidSignature(Rule.SIGNATURE_STRUCTURE, detail=str(exc)) from None
