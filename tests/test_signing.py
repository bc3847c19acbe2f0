"""Signing and verification: round trips, and one test per attack or fault of issue 3.

Every rejection test asserts the exception type and the rule, so a check that starts to
fail for the wrong reason (or to pass) is noticed.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    PrivateFormat,
    pkcs12,
)
from lxml import etree
from signing_fixtures import (
    DSIG,
    NOW,
    SENDER,
    ds,
    dump,
    header,
    issue,
    pki,
    q,
    signature,
    signxml_sign,
    tree,
)
from signing_fixtures import document as make_document
from signing_fixtures import status as make_status
from signxml.algorithms import DigestAlgorithm, SignatureMethod

from edoc_exchange import edxml
from edoc_exchange.signing import (
    InvalidSignature,
    KeyUsage,
    LegacySignature,
    Rule,
    SignatureError,
    SignerError,
    TrustPolicy,
    Unsigned,
    UntrustedSigner,
    VerifiedMessage,
    check_chain,
    load_pem_signer,
    load_pkcs12_signer,
    sign,
    spki_sha256,
    verify,
)

OFFICIAL = Path("/work/shared/samples/edxml-official")


@pytest.fixture(scope="module")
def signed_doc() -> bytes:
    return sign(make_document(), pki().signer())


def reject(data: bytes, kind: type[SignatureError], rule: Rule,
           policy: TrustPolicy | None = None) -> SignatureError:
    with pytest.raises(kind) as info:
        verify(data, policy or pki().policy())
    assert info.value.rule is rule, info.value.diagnostics()
    assert info.value.vi
    assert info.value.en
    return info.value


# --- round trips ----------------------------------------------------------------------------


def _pem_files(tmp_path: Path, password: bytes | None) -> tuple[Path, Path]:
    p = pki()
    key_path, cert_path = tmp_path / "key.pem", tmp_path / "cert.pem"
    encryption = BestAvailableEncryption(password) if password else None
    from cryptography.hazmat.primitives.serialization import NoEncryption
    key_path.write_bytes(p.leaf.key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8,
                                                  encryption or NoEncryption()))
    cert_path.write_bytes(p.leaf.cert.public_bytes(Encoding.PEM)
                          + p.intermediate.cert.public_bytes(Encoding.PEM))
    return key_path, cert_path


@pytest.mark.parametrize("password", [None, b"mat-khau"])
@pytest.mark.parametrize("kind", ["edoc", "status"])
def test_round_trip_pem(tmp_path: Path, password: bytes | None, kind: str) -> None:
    key_path, cert_path = _pem_files(tmp_path, password)
    signer = load_pem_signer(key_path, cert_path, password=password)
    message = make_document() if kind == "edoc" else make_status()
    vm = verify(sign(message, signer), pki().policy())
    assert vm.message == message
    assert vm.message.kind == kind
    assert vm.signing_time == NOW
    assert vm.signature_algorithm.endswith("rsa-sha256")
    assert vm.digest_algorithm.endswith("sha256")
    assert [c.subject for c in vm.chain] == [
        pki().leaf.cert.subject, pki().intermediate.cert.subject, pki().root.cert.subject]
    assert vm.serial == f"{pki().leaf.cert.serial_number:x}"
    assert "Nam Khánh" in vm.subject
    assert "Intermediate" in vm.issuer
    assert vm.not_before < NOW < vm.not_after
    assert len(vm.fingerprint) == 64


@pytest.mark.parametrize("kind", ["edoc", "status"])
def test_round_trip_pkcs12(tmp_path: Path, kind: str) -> None:
    p = pki()
    path = tmp_path / "signer.p12"
    path.write_bytes(pkcs12.serialize_key_and_certificates(
        b"signer", p.leaf.key, p.leaf.cert, [p.intermediate.cert],
        BestAvailableEncryption(b"1234")))
    signer = load_pkcs12_signer(path, password=b"1234")
    message = make_document() if kind == "edoc" else make_status()
    vm = verify(sign(message, signer), p.policy())
    assert vm.message == message
    assert len(vm.chain) == 3


def test_round_trip_ecdsa() -> None:
    p = pki()
    vm = verify(sign(make_document(), p.ec_leaf.signer()), p.policy())
    assert vm.signature_algorithm.endswith("ecdsa-sha256")
    assert vm.message == make_document()


def test_wrong_password_and_mismatched_key(tmp_path: Path) -> None:
    key_path, cert_path = _pem_files(tmp_path, b"right")
    with pytest.raises(SignerError) as info:
        load_pem_signer(key_path, cert_path, password=b"wrong")
    assert info.value.rule is Rule.KEY_PASSWORD
    with pytest.raises(SignerError) as info:
        load_pem_signer(key_path, cert_path, password=None)
    assert info.value.rule is Rule.KEY_PASSWORD
    with pytest.raises(SignerError) as info:
        pki().leaf.signer().__class__(pki().leaf.key, (pki().ec_leaf.cert,))
    assert info.value.rule is Rule.KEY_CERT_MISMATCH


def test_signature_placement(signed_doc: bytes) -> None:
    hdr = header(tree(signed_doc))
    names = [etree.QName(el).localname for el in hdr]
    assert names == ["MessageHeader", "TraceHeaderList", "Signature"]
    assert etree.QName(hdr[2]).namespace == DSIG
    status_hdr = header(tree(sign(make_status(), pki().signer())))
    assert [etree.QName(el).localname for el in status_hdr] == ["MessageHeader", "Signature"]


def test_resigning_replaces_the_signature(signed_doc: bytes) -> None:
    again = sign(signed_doc, pki().ec_leaf.signer())
    assert len(tree(again).findall(f".//{ds('Signature')}")) == 1
    assert verify(again, pki().policy()).certificate == pki().ec_leaf.cert
    read_back = edxml.read(signed_doc).message
    assert read_back.signature is not None
    assert b"ds:Signature" in sign(read_back, pki().signer())


def test_verified_message_is_sealed(signed_doc: bytes) -> None:
    vm = verify(signed_doc, pki().policy())
    with pytest.raises(TypeError):
        VerifiedMessage(object(), message=vm.message)
    with pytest.raises(AttributeError):
        vm._message = make_status()
    assert vm.message.signature is None  # the model comes from the signed content only


def test_policy_is_explicit() -> None:
    with pytest.raises(ValueError, match="root"):
        TrustPolicy(roots=())
    with pytest.raises(ValueError, match="HMAC"):
        pki().policy(signature_algorithms=frozenset(
            {"http://www.w3.org/2001/04/xmldsig-more#hmac-sha256"}))
    with pytest.raises(ValueError, match="SHA-1"):
        pki().policy(digest_algorithms=frozenset({"http://www.w3.org/2000/09/xmldsig#sha1"}))


# --- presence: unsigned, legacy -------------------------------------------------------------


def test_unsigned() -> None:
    reject(edxml.write(make_document()), Unsigned, Rule.UNSIGNED)


def test_not_xml_and_doctype(signed_doc: bytes) -> None:
    reject(b"not xml at all", InvalidSignature, Rule.MALFORMED)
    doctype = signed_doc.replace(b"?>\n", b'?>\n<!DOCTYPE edXML [<!ENTITY x "y">]>\n', 1)
    reject(doctype, InvalidSignature, Rule.MALFORMED)


def _official(name: str) -> bytes:
    path = OFFICIAL / name
    if not path.exists():
        pytest.skip(f"official samples not present at {OFFICIAL}")
    return path.read_bytes()


@pytest.mark.parametrize("name", ["edoc_new.edxml", "edoc_replacement.edxml",
                                  "edoc_revocation.edxml", "edoc_update.edxml"])
def test_official_placeholder_is_legacy(name: str) -> None:
    err = reject(_official(name), LegacySignature, Rule.LEGACY)
    assert "legacy, unverifiable" in err.en
    reject(_official(name), LegacySignature, Rule.LEGACY, pki().policy(allow_legacy_sha1=True))


def test_official_dsig_sample_is_never_valid() -> None:
    # The SDK sample in the XML-DSig namespace: SHA-1, comments, placeholder values.
    with pytest.raises(InvalidSignature):
        verify(_official("edoc.edxml"), pki().policy(allow_legacy_sha1=True))


def test_official_status_is_unsigned() -> None:
    reject(_official("status_acceptance_03.edxml"), Unsigned, Rule.UNSIGNED)


# --- tampering with signed content ----------------------------------------------------------


def _flip(text: str) -> str:
    return ("Y" if text[0] == "X" else "X") + text[1:]


def test_one_byte_changed_in_each_header_field(signed_doc: bytes) -> None:
    root = tree(signed_doc)
    hdr = header(root)
    leaves = [el for part in (hdr.find(q("MessageHeader")), hdr.find(q("TraceHeaderList")))
              if part is not None for el in part.iter() if len(el) == 0 and (el.text or "").strip()]
    assert len(leaves) >= 15
    for el in leaves:
        path = root.getroottree().getpath(el)
        original = el.text or ""
        el.text = _flip(original)
        with pytest.raises(InvalidSignature) as info:
            verify(dump(root), pki().policy())
        assert info.value.rule is Rule.DIGEST, path
        el.text = original
    assert verify(dump(root), pki().policy())  # restored: valid again


def test_attribute_changed(signed_doc: bytes) -> None:
    root = tree(signed_doc)
    manifest = root.find(f".//{q('edXMLManifest')}")
    assert manifest is not None
    manifest.set("version", "2.0")
    reject(dump(root), InvalidSignature, Rule.DIGEST)


def _attachment_text(root: etree._Element) -> etree._Element:
    found = root.find(f"{q('AttachmentEncoded')}/{q('Attachment')}/{q('ContentTransferEncoded')}")
    assert found is not None
    return found


def test_one_byte_changed_in_an_attachment(signed_doc: bytes) -> None:
    root = tree(signed_doc)
    el = _attachment_text(root)
    data = bytearray(base64.b64decode(el.text or ""))
    data[len(data) // 2] ^= 0x01
    el.text = base64.b64encode(bytes(data)).decode()
    reject(dump(root), InvalidSignature, Rule.DIGEST)


def test_attachment_added(signed_doc: bytes) -> None:
    root = tree(signed_doc)
    encoded = root.find(q("AttachmentEncoded"))
    assert encoded is not None
    extra = copy.deepcopy(encoded[0])
    cid = extra.find(q("ContentId"))
    assert cid is not None
    cid.text = "cid:extra"
    encoded.append(extra)
    manifest = root.find(f".//{q('edXMLManifest')}")
    assert manifest is not None
    ref = copy.deepcopy(manifest[0])
    ref_cid = ref.find(q("ContentId"))
    assert ref_cid is not None
    ref_cid.text = "cid:extra"
    manifest.append(ref)
    reject(dump(root), InvalidSignature, Rule.DIGEST)


def test_attachment_removed(signed_doc: bytes) -> None:
    root = tree(signed_doc)
    encoded = root.find(q("AttachmentEncoded"))
    manifest = root.find(f".//{q('edXMLManifest')}")
    assert encoded is not None
    assert manifest is not None
    encoded.remove(encoded[-1])
    manifest.remove(manifest[-1])
    reject(dump(root), InvalidSignature, Rule.DIGEST)


def test_comment_inserted_in_a_signed_text_node(signed_doc: bytes) -> None:
    # "Kế hoạch<!---->..." canonicalises to the same text; a naive reader would see "Kế hoạch".
    data = signed_doc.replace("<edXML:Subject>Kế hoạch".encode(),
                              "<edXML:Subject>Kế hoạch<!-- -->".encode(), 1)
    assert data != signed_doc
    reject(data, InvalidSignature, Rule.COMMENT)


def test_signature_value_or_certificate_swapped(signed_doc: bytes) -> None:
    root = tree(signed_doc)
    value = signature(root).find(ds("SignatureValue"))
    assert value is not None
    raw = bytearray(base64.b64decode(value.text or ""))
    raw[0] ^= 0xFF
    value.text = base64.b64encode(bytes(raw)).decode()
    reject(dump(root), InvalidSignature, Rule.SIGNATURE_VALUE)

    root = tree(signed_doc)
    cert_el = signature(root).find(f"{ds('KeyInfo')}/{ds('X509Data')}/{ds('X509Certificate')}")
    assert cert_el is not None
    cert_el.text = base64.b64encode(pki().ec_leaf.cert.public_bytes(Encoding.DER)).decode()
    reject(dump(root), InvalidSignature, Rule.SIGNATURE_VALUE)


def test_certificate_altered_in_key_info_is_unreadable(signed_doc: bytes) -> None:
    # KeyInfo is outside what the signature covers: a certificate whose subject no longer
    # parses (found by the fuzz test) keeps its key, so the signature still verifies; it
    # must be refused as unreadable, not crash the path check with a ValueError.
    root = tree(signed_doc)
    cert_el = signature(root).find(f"{ds('KeyInfo')}/{ds('X509Data')}/{ds('X509Certificate')}")
    assert cert_el is not None
    bad = _with_unreadable_subject(base64.b64decode(cert_el.text or ""))
    cert_el.text = base64.b64encode(bad).decode()
    error = reject(dump(root), InvalidSignature, Rule.KEY_INFO)
    assert "unreadable certificate" in error.en


def _with_unreadable_subject(der: bytes) -> bytes:
    """The certificate with a UTF8String of its subject made invalid UTF-8: it still loads
    (cryptography reads names when asked), but its subject does not parse."""
    subject = x509.load_der_x509_certificate(der).subject.public_bytes()
    at = der.index(subject) + subject.index(b"\x0c")  # the subject's first UTF8String
    bad = der[: at + 2] + b"\xff" + der[at + 3 :]
    cert = x509.load_der_x509_certificate(bad)
    with pytest.raises(ValueError, match="subject"):
        cert.subject  # noqa: B018
    return bad


# --- the signature's place and number -------------------------------------------------------


@pytest.mark.parametrize("where", ["MessageHeader", "before-trace", "root", "AttachmentEncoded",
                                   "edXMLBody"])
def test_signature_moved_elsewhere(signed_doc: bytes, where: str) -> None:
    root = tree(signed_doc)
    sig = signature(root)
    hdr = header(root)
    hdr.remove(sig)
    if where == "MessageHeader":
        target = hdr.find(q("MessageHeader"))
        assert target is not None
        target.append(sig)
    elif where == "before-trace":
        hdr.insert(1, sig)
    elif where == "root":
        root.append(sig)
    else:
        found = root.find(f".//{q(where)}")
        assert found is not None
        found.append(sig)
    reject(dump(root), InvalidSignature, Rule.SIGNATURE_PLACE)


def test_second_signature(signed_doc: bytes) -> None:
    root = tree(signed_doc)
    header(root).append(copy.deepcopy(signature(root)))
    reject(dump(root), InvalidSignature, Rule.SIGNATURE_COUNT)
    # A second, separately valid signature by another key, nested in the body.
    other = tree(sign(make_document(), pki().ec_leaf.signer()))
    root = tree(signed_doc)
    body = root.find(f".//{q('edXMLBody')}")
    assert body is not None
    body.append(signature(other))
    reject(dump(root), InvalidSignature, Rule.SIGNATURE_COUNT)


# --- signature wrapping ---------------------------------------------------------------------


def _forged(root: etree._Element) -> etree._Element:
    """A copy of the envelope with the Subject replaced: what an attacker wants read."""
    envelope = root.find(q("edXMLEnvelope"))
    assert envelope is not None
    fake = copy.deepcopy(envelope)
    subject = fake.find(f".//{q('Subject')}")
    assert subject is not None
    subject.text = "Chuyển 500 triệu đồng vào tài khoản X"
    for sig in fake.iter(ds("Signature")):
        parent = sig.getparent()
        assert parent is not None
        parent.remove(sig)
    return fake


def test_wrap_original_in_signature_object(signed_doc: bytes) -> None:
    """Signed envelope moved into ds:Object of the signature; forged envelope in its place."""
    root = tree(signed_doc)
    envelope = root.find(q("edXMLEnvelope"))
    assert envelope is not None
    sig = signature(root)
    header(root).remove(sig)
    fake = _forged(root)
    root.replace(envelope, fake)
    etree.SubElement(sig, ds("Object")).append(envelope)
    trace = header(root).find(q("TraceHeaderList"))
    assert trace is not None
    trace.addnext(sig)
    reject(dump(root), InvalidSignature, Rule.SIGNATURE_STRUCTURE)


def test_wrap_forged_envelope_first(signed_doc: bytes) -> None:
    """A forged envelope before the signed one: a reader taking the first would be fooled."""
    root = tree(signed_doc)
    root.insert(0, _forged(root))
    reject(dump(root), InvalidSignature, Rule.SIGNATURE_PLACE)


def test_wrap_signed_envelope_in_extension(signed_doc: bytes) -> None:
    """The signed envelope pushed into an unknown element; a forged one takes its place."""
    root = tree(signed_doc)
    envelope = root.find(q("edXMLEnvelope"))
    assert envelope is not None
    fake = _forged(root)
    root.replace(envelope, fake)
    wrapper = etree.SubElement(root, q("Extension"))
    wrapper.append(envelope)
    reject(dump(root), InvalidSignature, Rule.SIGNATURE_PLACE)


def test_wrap_forged_message_header_first(signed_doc: bytes) -> None:
    """A forged MessageHeader before the signed one in the same header."""
    root = tree(signed_doc)
    hdr = header(root)
    forged = _forged(root).find(f".//{q('MessageHeader')}")
    assert forged is not None
    hdr.insert(0, forged)
    reject(dump(root), InvalidSignature, Rule.SIGNATURE_PLACE)


def test_wrap_second_header(signed_doc: bytes) -> None:
    """A forged edXMLHeader before the signed one in the envelope."""
    root = tree(signed_doc)
    envelope = root.find(q("edXMLEnvelope"))
    assert envelope is not None
    forged = _forged(root).find(q("edXMLHeader"))
    assert forged is not None
    envelope.insert(0, forged)
    reject(dump(root), InvalidSignature, Rule.SIGNATURE_PLACE)


def test_wrap_signed_header_moved_into_extension(signed_doc: bytes) -> None:
    """Signed MessageHeader hidden in an extension element, forged one in its place."""
    root = tree(signed_doc)
    hdr = header(root)
    original = hdr.find(q("MessageHeader"))
    forged = _forged(root).find(f".//{q('MessageHeader')}")
    assert original is not None
    assert forged is not None
    hdr.replace(original, forged)
    etree.SubElement(hdr, q("Kept")).append(original)
    reject(dump(root), InvalidSignature, Rule.DIGEST)


def test_wrap_attachment_swapped_into_second_container(signed_doc: bytes) -> None:
    """Signed attachment moved to a second AttachmentEncoded; a forged file in the first."""
    root = tree(signed_doc)
    encoded = root.find(q("AttachmentEncoded"))
    assert encoded is not None
    moved = copy.deepcopy(encoded)
    _attachment_text(root).text = base64.b64encode(b"forged file").decode()
    root.append(moved)
    reject(dump(root), InvalidSignature, Rule.DIGEST)


def test_wrap_extra_transform_selects_part() -> None:
    """An XPath transform added so that only part of the message would be covered."""
    p = pki()
    data = signxml_sign(edxml.write(make_document()), key=p.leaf.key,
                        certs=[p.leaf.cert, p.intermediate.cert])
    root = tree(data)
    transforms = signature(root).find(f"{ds('SignedInfo')}/{ds('Reference')}/{ds('Transforms')}")
    assert transforms is not None
    xpath = etree.SubElement(transforms, ds("Transform"),
                             Algorithm="http://www.w3.org/TR/1999/REC-xpath-19991116")
    etree.SubElement(xpath, ds("XPath")).text = "ancestor-or-self::*[local-name()='Subject']"
    reject(dump(root), InvalidSignature, Rule.TRANSFORMS)


def test_wrap_two_references() -> None:
    """Two References: the whole message and one element; only one is ever allowed."""
    p = pki()
    data = edxml.write(make_document()).replace(b"<edXML:Subject>", b'<edXML:Subject Id="s">', 1)
    with pytest.raises(InvalidSignature) as info:
        verify(signxml_sign(data, key=p.leaf.key, certs=[p.leaf.cert, p.intermediate.cert],
                            reference_uri=["#s", "#s"]), p.policy())
    assert info.value.rule is Rule.REFERENCE_COUNT


def test_reference_to_an_id_instead_of_the_whole_document() -> None:
    p = pki()
    data = edxml.write(make_document()).replace(
        b"<edXML:MessageHeader>", b'<edXML:MessageHeader Id="hdr">', 1)
    signed = signxml_sign(data, key=p.leaf.key, certs=[p.leaf.cert, p.intermediate.cert],
                          reference_uri="#hdr")
    err = reject(signed, InvalidSignature, Rule.REFERENCE_URI)
    assert "#hdr" in err.en


# --- algorithms -----------------------------------------------------------------------------


def _sha1_signed() -> bytes:
    p = pki()
    return signxml_sign(edxml.write(make_document()), key=p.leaf.key,
                        certs=[p.leaf.cert, p.intermediate.cert],
                        method=SignatureMethod.RSA_SHA1, digest=DigestAlgorithm.SHA1)


def test_sha1_without_legacy_flag() -> None:
    reject(_sha1_signed(), InvalidSignature, Rule.SHA1)


def test_sha1_with_legacy_flag() -> None:
    vm = verify(_sha1_signed(), pki().policy(allow_legacy_sha1=True))
    assert vm.signature_algorithm.endswith("rsa-sha1")


def test_hmac_signature_method() -> None:
    data = signxml_sign(edxml.write(make_document()), key=b"shared secret", certs=None,
                        method=SignatureMethod.HMAC_SHA256)
    reject(data, InvalidSignature, Rule.HMAC)
    reject(data, InvalidSignature, Rule.HMAC, pki().policy(allow_legacy_sha1=True))


# --- certificates and trust -----------------------------------------------------------------


def test_certificate_expired_at_signing_time() -> None:
    p = pki()
    old = issue("Expired", issuer=p.intermediate, not_before=NOW - dt.timedelta(days=400),
                not_after=NOW - dt.timedelta(days=10))
    signed = sign(make_document(), old.signer(p.intermediate.cert))
    reject(signed, UntrustedSigner, Rule.CERT_EXPIRED)
    # Signed while still valid (the time in the signed message), verified later: valid,
    # unless the policy checks against the clock.
    earlier = sign(make_document(timestamp=NOW - dt.timedelta(days=20)),
                   old.signer(p.intermediate.cert))
    assert verify(earlier, p.policy()).checked_at == NOW - dt.timedelta(days=20)
    reject(earlier, UntrustedSigner, Rule.CERT_EXPIRED, p.policy(at="now"))


def test_a_remembered_path_is_checked_again_at_each_time_and_usage() -> None:
    """check_chain remembers the paths it found valid (the same signers come back), never
    the time nor the usages asked for: outside a certificate's window, or for a usage it
    lacks, a path found valid before is refused with the same rule as the first time."""
    p = pki()
    short = issue("Short-lived", issuer=p.intermediate, usages=("digital_signature",),
                  not_before=NOW - dt.timedelta(days=2), not_after=NOW + dt.timedelta(days=2))
    roots, chain = (p.root.cert,), (p.intermediate.cert,)
    usages = frozenset({KeyUsage.DIGITAL_SIGNATURE})
    found = check_chain(short.cert, chain, roots=roots, at=NOW, key_usage=usages)
    assert found == [short.cert, p.intermediate.cert, p.root.cert]
    again = check_chain(short.cert, chain, roots=roots, at=NOW, key_usage=usages)
    assert again == found
    assert again is not found  # a list of its own each time
    for at, rule in ((NOW + dt.timedelta(days=3), Rule.CERT_EXPIRED),
                     (NOW - dt.timedelta(days=3), Rule.CERT_NOT_YET_VALID)):
        with pytest.raises(UntrustedSigner) as info:
            check_chain(short.cert, chain, roots=roots, at=at, key_usage=usages)
        assert info.value.rule is rule
    with pytest.raises(UntrustedSigner) as info:
        check_chain(short.cert, chain, roots=roots, at=NOW,
                    key_usage=frozenset({KeyUsage.NON_REPUDIATION}))
    assert info.value.rule is Rule.KEY_USAGE
    with pytest.raises(UntrustedSigner) as info:  # the same leaf, another trust store
        check_chain(short.cert, chain, roots=(p.other_root.cert,), at=NOW, key_usage=usages)
    assert info.value.rule is Rule.UNTRUSTED_ROOT
    assert check_chain(short.cert, chain, roots=roots, at=NOW, key_usage=usages) == found


def test_certificate_not_yet_valid_at_signing_time() -> None:
    p = pki()
    future = issue("Future", issuer=p.intermediate, not_before=NOW + dt.timedelta(days=1),
                   not_after=NOW + dt.timedelta(days=400))
    reject(sign(make_document(), future.signer(p.intermediate.cert)),
           UntrustedSigner, Rule.CERT_NOT_YET_VALID)


def test_signing_time_in_the_future() -> None:
    ahead = sign(make_document(timestamp=NOW + dt.timedelta(days=2)), pki().signer())
    reject(ahead, UntrustedSigner, Rule.SIGNING_TIME_FUTURE)


def test_certificate_from_an_untrusted_root() -> None:
    p = pki()
    reject(sign(make_document(), p.outsider.signer(p.other_root.cert)),
           UntrustedSigner, Rule.UNTRUSTED_ROOT)


def test_missing_intermediate_is_untrusted() -> None:
    reject(sign(make_document(), pki().leaf.signer()), UntrustedSigner, Rule.UNTRUSTED_ROOT)


def test_self_signed_certificate_outside_the_trust_store() -> None:
    selfie = issue("Self-signed")
    reject(sign(make_document(), selfie.signer()), UntrustedSigner, Rule.SELF_SIGNED)
    # Put in the trust store explicitly, the same certificate is accepted.
    assert verify(sign(make_document(), selfie.signer()),
                  TrustPolicy(roots=(selfie.cert,))).certificate == selfie.cert


@pytest.mark.parametrize("usages", [("key_encipherment",), ("key_agreement", "crl_sign")])
def test_certificate_without_signing_key_usage(usages: tuple[str, ...]) -> None:
    p = pki()
    leaf = issue("No signing usage", issuer=p.intermediate, usages=usages)
    reject(sign(make_document(), leaf.signer(p.intermediate.cert)),
           UntrustedSigner, Rule.KEY_USAGE)


def test_certificate_without_key_usage_extension() -> None:
    p = pki()
    leaf = issue("No key usage", issuer=p.intermediate, key_usage_ext=False)
    reject(sign(make_document(), leaf.signer(p.intermediate.cert)),
           UntrustedSigner, Rule.KEY_USAGE)


def test_issuer_that_is_not_a_ca() -> None:
    p = pki()
    sub = issue("Issued by a leaf", issuer=p.leaf)
    reject(sign(make_document(), sub.signer(p.leaf.cert, p.intermediate.cert)),
           UntrustedSigner, Rule.ISSUER_NOT_CA)


def test_certificate_not_allowed_for_the_sender_organ_id() -> None:
    p = pki()
    signed = sign(make_document(), p.signer())
    fp = spki_sha256(p.leaf.cert)
    reject(signed, UntrustedSigner, Rule.ORGAN_NOT_ALLOWED,
           p.policy(organ_ids={fp: frozenset({"000.00.99.H41"})}))
    reject(signed, UntrustedSigner, Rule.ORGAN_NOT_ALLOWED,
           p.policy(organ_ids={spki_sha256(p.ec_leaf.cert): frozenset({SENDER})}))
    vm = verify(signed, p.policy(organ_ids={fp: frozenset({SENDER})}))
    assert vm.spki_sha256 == fp


def test_signxml_lookups_find_what_signxml_finds() -> None:
    """The verifier resolves signxml's ``prefix:name`` lookups once per query; they must
    find exactly what signxml's own lookups find, and fail with signxml's own error."""
    from signxml.exceptions import InvalidInput
    from signxml.verifier import XMLVerifier

    from edoc_exchange.signing._verify import _clark_path, _TreeVerifier

    root = tree(sign(make_document(), pki().signer()))
    sig = signature(root)
    ours: Any = _TreeVerifier()
    theirs: Any = XMLVerifier()
    ns = edxml.NS
    location = f"./{{{ns}}}edXMLEnvelope/{{{ns}}}edXMLHeader/"
    assert ours._find(root, "Signature", xpath=location) is sig
    assert theirs._find(root, "Signature", xpath=location) is sig
    info = sig.find(ds("SignedInfo"))
    reference = info.find(ds("Reference"))
    for element, query in ((sig, "SignedInfo"), (sig, "SignatureValue"), (sig, "KeyInfo"),
                           (info, "CanonicalizationMethod"), (info, "SignatureMethod"),
                           (reference, "Transforms"), (reference, "DigestValue")):
        assert ours._find(element, query) is theirs._find(element, query) is not None
    for element, query in ((info, "Reference"), (reference.find(ds("Transforms")), "Transform"),
                           (sig, "ds:KeyInfo")):
        assert ours._findall(element, query) == theirs._findall(element, query)
    assert ours._find(sig, "Nothing", require=False) is None
    assert ours._find(sig, "dsig11:ECKeyValue", require=False) is None
    with pytest.raises(InvalidInput) as mine:
        ours._find(sig, "Object")
    with pytest.raises(InvalidInput) as signxmls:
        theirs._find(sig, "Object")
    assert str(mine.value) == str(signxmls.value)
    # What is not a plain signxml prefix is left to signxml's own lookup.
    assert _clark_path("./ds:SignedInfo/", "Reference") is None
    assert _clark_path("", "unknown:Thing") is None
    assert _clark_path("", "dsig11:X509Digest") == "{http://www.w3.org/2009/xmldsig11#}X509Digest"
