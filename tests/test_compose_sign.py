"""PDF signatures (PAdES baseline B) by the same signer as the edXML envelope."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import pytest
from asn1crypto import x509 as asn1_x509  # type: ignore[import-untyped]
from compose_fixtures import pdf_text, plan, plan_pdf
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from edoc_exchange.compose import RenderError, render_pdf, sign_pdf
from edoc_exchange.sandbox import new_test_identity

COMMUNE = "000.12.05.H38"


def validate(pdf: bytes, ca: x509.Certificate) -> Any:
    """pyhanko's validation with only the test CA as trust root; returns the status."""
    reader = PdfFileReader(io.BytesIO(pdf))
    assert len(reader.embedded_signatures) == 1
    embedded = reader.embedded_signatures[0]
    assert embedded.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"  # PAdES
    root = asn1_x509.Certificate.load(ca.public_bytes(Encoding.DER))
    return validate_pdf_signature(embedded, ValidationContext(trust_roots=[root]))


@pytest.mark.parametrize("key_type", ["rsa", "ec"])
def test_signed_pdf_verifies_against_the_test_ca(key_type: str) -> None:
    identity = new_test_identity(organ_id=COMMUNE, name="UBND xã Nậm Khánh",
                                         key_type=key_type)
    pdf = render_pdf(plan(), signer=identity.signer())
    status = validate(pdf, identity.ca_cert)
    details = status.pretty_print_details()
    assert status.intact, details
    assert status.valid, details
    assert status.trusted, details
    assert status.bottom_line
    assert status.md_algorithm == "sha256"
    # the signature is appended: the unsigned rendering is the start of the file
    assert pdf.startswith(plan_pdf())
    assert pdf_text(pdf) == pdf_text(plan_pdf())


def test_signature_by_another_ca_is_not_trusted() -> None:
    identity = new_test_identity(organ_id=COMMUNE, name="UBND xã Nậm Khánh")
    other = new_test_identity(organ_id=COMMUNE, name="Kẻ mạo danh")
    status = validate(render_pdf(plan(), signer=other.signer()), identity.ca_cert)
    assert status.intact
    assert status.valid
    assert not status.trusted
    assert not status.bottom_line


def test_tampered_pdf_is_not_intact() -> None:
    identity = new_test_identity(organ_id=COMMUNE, name="UBND xã Nậm Khánh")
    pdf = bytearray(render_pdf(plan(), signer=identity.signer()))
    at = pdf.find(b"/Subject")
    assert at > 0
    pdf[at + 12] ^= 0x01  # a byte of the document information, inside the signed range
    status = validate(bytes(pdf), identity.ca_cert)
    assert not status.intact
    assert not status.bottom_line


class TokenLikeKey:
    """A key that only signs, like the PKCS#11 adapter: exporting it fails loudly."""

    def __init__(self, key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> None:
        self._key = key
        self.calls = 0

    def sign(self, *args: Any) -> bytes:
        self.calls += 1
        return bytes(self._key.sign(*args))

    def public_key(self) -> Any:
        return self._key.public_key()

    def private_bytes(self, *args: Any) -> bytes:
        raise AssertionError("the token key was asked to leave the token")


class TokenSigner:
    def __init__(self, key: TokenLikeKey, certificates: Sequence[x509.Certificate]) -> None:
        self.key = key
        self.certificates = certificates


@pytest.mark.parametrize("key_type", ["rsa", "ec"])
def test_token_key_signs_through_its_sign_method_only(key_type: str) -> None:
    identity = new_test_identity(organ_id=COMMUNE, name="UBND xã Nậm Khánh",
                                         key_type=key_type)
    key = TokenLikeKey(identity.key)
    signer: Any = TokenSigner(key, [identity.cert])
    pdf = sign_pdf(plan_pdf(), signer, reason="Kế hoạch /KH-UBND", location="Nậm Khánh")
    assert key.calls == 1  # once for the signature; the size estimate never uses the token
    assert validate(pdf, identity.ca_cert).bottom_line


def test_signer_without_certificate_is_refused() -> None:
    identity = new_test_identity(organ_id=COMMUNE, name="UBND xã Nậm Khánh")
    signer: Any = TokenSigner(TokenLikeKey(identity.key), [])
    with pytest.raises(RenderError, match="no certificate"):
        sign_pdf(plan_pdf(), signer)
