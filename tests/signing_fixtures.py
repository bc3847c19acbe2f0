"""Shared helpers for the signing tests: real keys and certificates made with cryptography.

Nothing here is mocked: CAs, certificates and signatures are real, so every test exercises
the same code a receiver runs.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod
from signxml.signer import XMLSigner

from edoc_exchange import edxml, signing
from edoc_exchange.edxml.formats import VN_TZ

NOW = dt.datetime.now(VN_TZ).replace(microsecond=0)
SENDER = "000.00.12.H41"
RECEIVER = "000.00.00.H41"
DSIG = "http://www.w3.org/2000/09/xmldsig#"
NS = edxml.NS
Key = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

ALL_USAGES = ("digital_signature", "content_commitment", "key_encipherment",
              "data_encipherment", "key_agreement", "key_cert_sign", "crl_sign",
              "encipher_only", "decipher_only")


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def new_key(kind: str = "rsa") -> Key:
    if kind == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass(frozen=True)
class Issued:
    """A key and the certificate issued for it."""

    key: Key
    cert: x509.Certificate

    def signer(self, *chain: x509.Certificate) -> signing.KeyPairSigner:
        return signing.KeyPairSigner(self.key, (self.cert, *chain))


def issue(
    cn: str,
    *,
    issuer: Issued | None = None,
    kind: str = "rsa",
    ca: bool = False,
    usages: Iterable[str] = ("digital_signature", "content_commitment"),
    key_usage_ext: bool = True,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    key: Key | None = None,
) -> Issued:
    """Issue a certificate (self-signed when ``issuer`` is None)."""
    key = key or new_key(kind)
    flags = {u: (u in set(usages)) for u in ALL_USAGES}
    subject = _name(cn)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or NOW - dt.timedelta(days=30))
        .not_valid_after(not_after or NOW + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if key_usage_ext:
        builder = builder.add_extension(x509.KeyUsage(**flags), critical=True)
    cert = builder.sign(issuer.key if issuer else key, hashes.SHA256())
    return Issued(key, cert)


def new_ca(cn: str) -> Issued:
    return issue(cn, ca=True, usages=("key_cert_sign", "crl_sign"),
                 not_before=NOW - dt.timedelta(days=3650), not_after=NOW + dt.timedelta(days=3650))


@dataclass(frozen=True)
class Pki:
    root: Issued
    intermediate: Issued
    leaf: Issued  # RSA, issued by the intermediate
    ec_leaf: Issued  # ECDSA P-256, issued by the root directly
    other_root: Issued  # a CA nobody trusts
    outsider: Issued  # issued by other_root

    def policy(self, **kwargs: Any) -> signing.TrustPolicy:
        return signing.TrustPolicy(roots=(self.root.cert,), **kwargs)

    def signer(self) -> signing.KeyPairSigner:
        return self.leaf.signer(self.intermediate.cert)


@functools.cache
def pki() -> Pki:
    """One PKI per test session: key generation is the slow part."""
    root = new_ca("Test Root CA")
    intermediate = issue("Test Intermediate CA", issuer=root, ca=True,
                         usages=("key_cert_sign", "crl_sign"))
    leaf = issue("UBND xã Nam Khánh", issuer=intermediate)
    ec_leaf = issue("UBND xã Nam Khánh (EC)", issuer=root, kind="ec")
    other_root = new_ca("Untrusted Root CA")
    outsider = issue("Someone else", issuer=other_root)
    return Pki(root, intermediate, leaf, ec_leaf, other_root, outsider)


def org(organ_id: str, name: str) -> edxml.OrganizationInfo:
    return edxml.OrganizationInfo(organ_id=organ_id, organ_name=name)


def document(*, sender: str = SENDER, timestamp: dt.datetime | None = NOW,
             attachments: int = 2, size: int = 1500) -> edxml.Document:
    """A complete document that the strict writer accepts."""
    return edxml.Document(
        sender=org(sender, "UBND xã Nam Khánh"),
        recipients=[org(RECEIVER, "UBND huyện Bắc Hà")],
        document_id=f"{sender},{NOW:%Y/%m/%d},12/KH-UBND",
        code=edxml.Code(number="12", notation="KH-UBND"),
        promulgation=edxml.PromulgationInfo(place="Nam Khánh", date=NOW.date()),
        document_type=edxml.DocumentType(type="1", type_name="Kế hoạch"),
        subject="Kế hoạch cải thiện chỉ số PAPI năm 2026",
        signer=edxml.SignerInfo(competence="TM. ỦY BAN NHÂN DÂN", position="CHỦ TỊCH",
                                full_name="Nguyễn Văn An"),
        other_info=edxml.OtherInfo(priority=0),
        trace=[edxml.TraceHeader(organ_id=sender, timestamp=timestamp)],
        business=edxml.Bussiness(doc_type=0),
        attachments=[
            edxml.Attachment(content_id=f"cid:att-{i}", name=f"ke-hoach-{i}.pdf",
                             content_type="application/pdf",
                             data=bytes((i + j) % 256 for j in range(size)))
            for i in range(attachments)
        ],
    )


def status(*, sender: str = RECEIVER, timestamp: dt.datetime = NOW) -> edxml.StatusMessage:
    return edxml.StatusMessage(
        sender=org(sender, "UBND huyện Bắc Hà"),
        response_for=edxml.ResponseFor(organ_id=SENDER, code="12/KH-UBND",
                                       promulgation_date=NOW.date(),
                                       document_id=f"{SENDER},{NOW:%Y/%m/%d},12/KH-UBND"),
        status_code="03",
        description="Đã tiếp nhận",
        timestamp=timestamp,
    )


def tree(data: bytes) -> etree._Element:
    return etree.fromstring(data, etree.XMLParser(huge_tree=True))


def dump(root: etree._Element) -> bytes:
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + etree.tostring(root, encoding="UTF-8")


def q(name: str) -> str:
    return f"{{{NS}}}{name}"


def ds(name: str) -> str:
    return f"{{{DSIG}}}{name}"


def header(root: etree._Element) -> etree._Element:
    found = root.find(f"{q('edXMLEnvelope')}/{q('edXMLHeader')}")
    assert found is not None
    return found


def signature(root: etree._Element) -> etree._Element:
    found = root.find(f".//{ds('Signature')}")
    assert found is not None
    return found


class _AnySigner(XMLSigner):
    """signxml's signer without its refusal of SHA-1: for forging legacy signatures."""

    def check_deprecated_methods(self) -> None:
        return None


def signxml_sign(
    data: bytes,
    *,
    key: Any,
    certs: list[x509.Certificate] | None,
    method: SignatureMethod = SignatureMethod.RSA_SHA256,
    digest: DigestAlgorithm = DigestAlgorithm.SHA256,
    reference_uri: str | list[str] | None = None,
    placeholder: bool = True,
) -> bytes:
    """Sign with signxml directly (no project checks): attacker- or legacy-made signatures."""
    root = tree(data)
    if placeholder:
        hdr = header(root)
        anchor = hdr.find(q("TraceHeaderList"))
        if anchor is None:
            anchor = hdr.find(q("MessageHeader"))
        assert anchor is not None
        anchor.addnext(etree.Element(ds("Signature"), nsmap={"ds": DSIG}, Id="placeholder"))
    signer = _AnySigner(signature_algorithm=method, digest_algorithm=digest,
                        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0)
    signed = signer.sign(root, key=key, cert=certs, reference_uri=reference_uri)
    return dump(signed)
