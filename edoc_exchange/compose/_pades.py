"""PAdES signatures of rendered PDFs, through pyhanko, with our own signers.

pyhanko signs with its own signer objects; :class:`PadesSigner` is one whose raw signature
is ``signer.key.sign(...)``, the same call the edXML signature makes, so a key held in
memory and a key on a PKCS#11 token (whose adapter forwards ``sign`` to the token) sign PDFs
alike, and the token key never leaves the token.
"""

from __future__ import annotations

import io
from typing import Any

from asn1crypto import algos  # type: ignore[import-untyped]
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.sign import signers
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.sign.general import SigningError
from pyhanko_certvalidator.registry import SimpleCertificateStore

from ..errors import EdocError
from ..signing import (
    Signer,
    Timestamper,
    TimestampError,
    sign_data,
    timestamp_skipped,
    timestamper_of,
)
from .errors import RenderError

__all__ = ["PadesSigner", "sign"]

#: The field the signature goes into; one signature per composed PDF.
FIELD_NAME = "Signature1"


class PadesSigner(signers.Signer):
    """A pyhanko signer over one of our signers: RSA PKCS#1 v1.5 or ECDSA, with SHA-256."""

    def __init__(self, signer: Signer) -> None:
        if not signer.certificates:
            raise RenderError(
                "Người ký không có chứng thư số",
                "the signer has no certificate",
                step="pdf-signature",
            )
        certs = [
            asn1_x509.Certificate.load(c.public_bytes(Encoding.DER)) for c in signer.certificates
        ]
        public = signer.certificates[0].public_key()
        if isinstance(public, rsa.RSAPublicKey):
            mechanism = "sha256_rsa"
            self._size = public.key_size // 8
        elif isinstance(public, ec.EllipticCurvePublicKey):
            mechanism = "sha256_ecdsa"
            self._size = 2 * ((public.key_size + 7) // 8) + 9  # the longest DER encoding
        else:
            raise RenderError(
                "Loại khóa không ký PDF được (cần RSA hoặc ECDSA)",
                "this key type cannot sign a PDF (RSA or ECDSA needed)",
                step="pdf-signature",
            )
        self._signer = signer
        super().__init__(
            signing_cert=certs[0],
            cert_registry=SimpleCertificateStore.from_certs(  # type: ignore[no-untyped-call]
                certs[1:]
            ),
            signature_mechanism=algos.SignedDigestAlgorithm({"algorithm": mechanism}),
        )

    async def async_sign_raw(
        self, data: bytes, digest_algorithm: str, dry_run: bool = False
    ) -> bytes:
        """Sign ``data`` (the DER of the signed attributes) with the signer's key."""
        if digest_algorithm != "sha256":
            raise SigningError(f"only SHA-256 is used here, not {digest_algorithm}")
        if dry_run:  # pyhanko sizes the placeholder first: never touch the token for it
            return bytes(self._size)
        return sign_data(self._signer, data)


def sign(
    pdf: bytes,
    signer: Signer,
    *,
    reason: str | None = None,
    location: str | None = None,
    timestamper: Timestamper | None = None,
) -> bytes:
    """``pdf`` with a PAdES signature appended incrementally: baseline B, or B-T with an
    RFC 3161 signature timestamp from ``timestamper`` (or the one a TimestampedSigner
    carries), followed by a DSS with the certificates a validator needs later (LTV).

    When the TSA fails: :class:`TimestampError` if it is required, else the PDF is signed
    without a timestamp and a warning says so.
    """
    timestamper = timestamper or timestamper_of(signer)
    if timestamper is not None:
        try:
            stamped = _sign(pdf, signer, reason, location, _pyhanko_stamper(timestamper))
        except TimestampError as exc:
            if timestamper.required:
                raise
            timestamp_skipped(exc)
        else:
            return _with_validation_info(stamped, signer, timestamper)
    return _sign(pdf, signer, reason, location, None)


def _pyhanko_stamper(timestamper: Timestamper) -> Any:
    from pyhanko.sign.timestamps.api import TimeStamper

    if not isinstance(timestamper, TimeStamper):
        raise RenderError(
            "Máy chủ dấu thời gian này không dùng được để ký PDF",
            f"this timestamper cannot stamp a PDF signature ({type(timestamper).__name__})",
            step="timestamp",
        )
    return timestamper


def _with_validation_info(pdf: bytes, signer: Signer, timestamper: Timestamper) -> bytes:
    """Append a DSS (PAdES long-term validation material): the signer's certificates and
    the TSA's (from its tokens, and the TSA roots it is checked against). No CRL or OCSP
    answer is embedded: none is fetched here."""
    from pyhanko.sign.validation.dss import DocumentSecurityStore

    certs: dict[bytes, asn1_x509.Certificate] = {}
    for cert in signer.certificates:
        der = cert.public_bytes(Encoding.DER)
        certs[der] = asn1_x509.Certificate.load(der)
    for found in getattr(timestamper, "cert_registry", ()):
        certs[found.dump()] = found
    for root in getattr(timestamper, "roots", ()):
        der = root.public_bytes(Encoding.DER)
        certs[der] = asn1_x509.Certificate.load(der)
    out = io.BytesIO(pdf)
    try:
        DocumentSecurityStore.add_dss(out, None, certs=list(certs.values()))
    except (PdfError, ValueError) as exc:
        raise RenderError(
            f"Không thêm được dữ liệu kiểm tra lâu dài (DSS): {exc}",
            f"cannot add the long-term validation data (DSS): {exc}",
            step="pdf-signature",
        ) from exc
    return out.getvalue()


def _sign(
    pdf: bytes,
    signer: Signer,
    reason: str | None,
    location: str | None,
    timestamper: Any,
) -> bytes:
    meta = signers.PdfSignatureMetadata(
        field_name=FIELD_NAME,
        md_algorithm="sha256",
        subfilter=SigSeedSubFilter.PADES,
        reason=reason,
        location=location,
    )
    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
        output = signers.PdfSigner(
            meta, signer=PadesSigner(signer), timestamper=timestamper
        ).sign_pdf(writer)
    except EdocError:
        raise  # the token's or key's own error says more than ours would
    except (SigningError, PdfError, ValueError) as exc:
        raise RenderError(
            f"Không ký được tệp PDF: {exc}", f"cannot sign the PDF: {exc}", step="pdf-signature"
        ) from exc
    except RuntimeError as exc:
        if "event loop" not in str(exc):
            raise
        raise RenderError(
            "Không ký PDF được trong một vòng lặp asyncio đang chạy; gọi từ một luồng khác",
            "cannot sign a PDF inside a running asyncio loop; call it from a thread",
            step="pdf-signature",
        ) from exc
    data: bytes = output.getvalue()
    return data
