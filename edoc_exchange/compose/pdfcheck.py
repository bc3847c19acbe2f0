"""The receiver's check of the signatures inside a PDF (PAdES), through pyhanko.

The XML signature decides whether a document is accepted; what the law cares about is
the signature on the document itself, so each PDF a receiver keeps is checked too, and
the result is information, never a refusal: :func:`check_pdf` does not raise for any
input bytes. It returns one :class:`PdfCheck` whose verdict is the worst of its
signatures' (error > invalid > untrusted > valid; no signature at all: unsigned).

Trust is the office's: the roots of its trust policy and nothing else (no system store).
Nothing is fetched from the network by pyhanko (no CRL, no OCSP, no AIA): revocation is
asked of the office's checker, from its cache (``revocation``, a
:class:`~edoc_exchange.signing.RevocationSource`), and recorded with its source ("good, crl
…", "revoked … (key_compromise), cached crl of …", "not checked since …"); a revoked
signer makes the signature's verdict ``revoked``. Without a checker: "not checked".
"""

from __future__ import annotations

import datetime as dt
import enum
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ..signing import RevocationSource, RevocationState, RevocationStatus

__all__ = ["MAX_PDF_BYTES", "PdfCheck", "PdfSignature", "PdfVerdict", "check_pdf", "is_pdf"]

log = logging.getLogger("edoc.compose")


def _without_pyhanko_noise(record: logging.LogRecord) -> bool:
    """pyhanko logs a warning with a traceback for each path it cannot build (a signer or
    TSA outside the office's roots): an expected finding here, reported in the verdict,
    not a fault to fill the daemon's log and the demo's screen with."""
    return record.levelno >= logging.ERROR


for _name in ("pyhanko.sign.validation.generic_cms", "pyhanko.sign.validation.pdf_embedded",
              "pyhanko.sign.validation.ades", "pyhanko.sign.validation.status",
              "pyhanko_certvalidator.validate"):
    logging.getLogger(_name).addFilter(_without_pyhanko_noise)

#: PDFs larger than this are not parsed (the work of a check stays bounded).
MAX_PDF_BYTES = 64 * 1024 * 1024

#: What is recorded of revocation until the office keeps CRLs and OCSP answers.
NOT_CHECKED = "not checked"


class PdfVerdict(enum.StrEnum):
    """What the receiver found of one PDF's signatures (the pdf_verdicts.verdict column)."""

    VALID = "valid"  #: every signature intact, covering what it should, from a trusted signer
    INVALID = "invalid"  #: a signature broken, or the file changed after it was signed
    UNTRUSTED = "untrusted"  #: intact, but the signer is not under the office's trusted roots
    REVOKED = "revoked"  #: intact and trusted, but a certificate on its path was revoked
    UNSIGNED = "unsigned"  #: a readable PDF that carries no signature
    ERROR = "error"  #: not a PDF, encrypted, too large, or the check itself failed


#: Worst first: the verdict of a PDF is that of its worst signature.
_RANK = {
    PdfVerdict.INVALID: 0,
    PdfVerdict.REVOKED: 1,
    PdfVerdict.UNTRUSTED: 2,
    PdfVerdict.VALID: 3,
}


@dataclass(frozen=True)
class PdfSignature:
    """One signature of a PDF: who, when, intact or not, trusted or not."""

    field: str
    verdict: PdfVerdict
    #: The signer certificate's common name (its whole subject is in ``subject``).
    signer: str | None = None
    subject: str | None = None
    #: The time the signer's software wrote (not proven without a timestamp).
    signed_at: dt.datetime | None = None
    #: The time an RFC 3161 timestamp proves, when the signature carries one.
    timestamp: dt.datetime | None = None
    #: Whether that timestamp is intact and its TSA under the office's TSA roots (None:
    #: no timestamp); its TSA's name.
    timestamp_trusted: bool | None = None
    timestamp_tsa: str | None = None
    intact: bool = False
    trusted: bool = False
    coverage: str | None = None
    modification: str | None = None
    revocation: str = NOT_CHECKED
    reason: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "verdict": self.verdict.value,
            "signer": self.signer,
            "subject": self.subject,
            "signed_at": self.signed_at.isoformat() if self.signed_at else None,
            "timestamp": self.timestamp.isoformat() if self.timestamp else None,
            "timestamp_trusted": self.timestamp_trusted,
            "timestamp_tsa": self.timestamp_tsa,
            "intact": self.intact,
            "trusted": self.trusted,
            "coverage": self.coverage,
            "modification": self.modification,
            "revocation": self.revocation,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class PdfCheck:
    """The verdict of one PDF, with the reason (error, or the worst signature's) and each
    signature's findings."""

    verdict: PdfVerdict
    reason: str | None = None
    signatures: tuple[PdfSignature, ...] = field(default=())

    def details(self) -> dict[str, Any]:
        """What is stored as pdf_verdicts.details (JSON)."""
        return {"reason": self.reason, "signatures": [s.as_json() for s in self.signatures]}


def is_pdf(name: str, content_type: str | None) -> bool:
    """Whether an attachment is meant to be a PDF (its content type or its name says so)."""
    kind = (content_type or "").split(";")[0].strip().lower()
    return kind == "application/pdf" or name.lower().endswith(".pdf")


def check_pdf(
    data: bytes,
    roots: Sequence[x509.Certificate],
    *,
    at: dt.datetime | None = None,
    max_bytes: int = MAX_PDF_BYTES,
    tsa_roots: Sequence[x509.Certificate] = (),
    revocation: RevocationSource | None = None,
) -> PdfCheck:
    """Check every signature of ``data`` under the trusted ``roots`` (at ``at``, now by
    default), each signature timestamp under ``tsa_roots`` (none: no TSA trusted, a
    timestamped signature is then "untrusted"), asking ``revocation`` (a cache: it must
    not wait on the network) about each trusted signer's certificates. Never raises for
    bad input: a file that is not a PDF, is encrypted, is larger than ``max_bytes``, or
    that pyhanko cannot read is an ``error`` verdict with the reason. pyhanko runs its own
    event loop: call this outside a running asyncio loop.
    """
    if len(data) > max_bytes:
        return PdfCheck(PdfVerdict.ERROR, f"too large to check ({len(data)} > {max_bytes} bytes)")
    if b"%PDF-" not in data[:1024]:  # readers allow junk before the header, not more
        return PdfCheck(PdfVerdict.ERROR, "not a PDF (no %PDF- header)")
    try:
        from pyhanko.pdf_utils.reader import PdfFileReader
    except ImportError:
        return PdfCheck(PdfVerdict.ERROR, "not checked: pyhanko is not installed")
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        if reader.encrypted:
            return PdfCheck(PdfVerdict.ERROR, "encrypted PDF: its signatures cannot be checked")
        embedded = list(reader.embedded_signatures)
    except Exception as exc:  # pyhanko raises many kinds on a malformed file
        return PdfCheck(PdfVerdict.ERROR, f"not a readable PDF: {_said(exc)}")
    if not embedded:
        return PdfCheck(PdfVerdict.UNSIGNED)
    try:
        context = _context(roots, at)
        ts_context = _context(tsa_roots, at)
    except Exception as exc:
        return PdfCheck(PdfVerdict.ERROR, f"cannot use the trusted roots: {_said(exc)}")
    found: list[PdfSignature] = []
    for sig in embedded:
        try:
            found.append(_check_one(sig, context, ts_context, revocation))
        except Exception as exc:  # a broken CMS structure, a loop already running, ...
            log.info("PDF signature %s not checked: %s", sig.field_name, exc)
            return PdfCheck(
                PdfVerdict.ERROR,
                f"signature {sig.field_name} cannot be checked: {_said(exc)}",
                tuple(found),
            )
    worst = min(found, key=lambda s: _RANK[s.verdict])
    return PdfCheck(worst.verdict, worst.reason, tuple(found))


def _said(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text[:300]


def _context(roots: Sequence[x509.Certificate], at: dt.datetime | None) -> Any:
    from asn1crypto import x509 as asn1_x509  # type: ignore[import-untyped]
    from pyhanko_certvalidator import ValidationContext

    trust = [asn1_x509.Certificate.load(c.public_bytes(Encoding.DER)) for c in roots]
    # No fetching (no network from the receiving step); soft-fail: a certificate without
    # revocation information is not refused for that (revocation is "not checked").
    return ValidationContext(
        trust_roots=trust,
        allow_fetching=False,
        revocation_mode="soft-fail",
        moment=at,
    )


def _revocation_of(status: Any, source: RevocationSource) -> RevocationStatus | None:
    """The worst answer of ``source`` about the certificates on the signer's validated
    path below its root (revoked > not checked > good); None without a path."""
    path = status.validation_path
    if path is None or status.signing_cert is None:
        return None
    certs = [x509.load_der_x509_certificate(c.dump()) for c in path.iter_certs(include_root=True)]
    worst: RevocationStatus | None = None
    cert = x509.load_der_x509_certificate(status.signing_cert.dump())
    for _ in range(len(certs)):
        issuer = next(
            (c for c in certs if c.subject == cert.issuer and c != cert),
            None,
        )
        if issuer is None:
            break
        answer = source.status(cert, issuer)
        if answer.state is RevocationState.REVOKED:
            return answer
        if worst is None or (
            answer.state is RevocationState.NOT_CHECKED and worst.state is RevocationState.GOOD
        ):
            worst = answer
        if issuer.subject == issuer.issuer:  # the root: nobody above to ask
            break
        cert = issuer
    return worst


def _check_one(
    sig: Any, context: Any, ts_context: Any, revocation: RevocationSource | None
) -> PdfSignature:
    from pyhanko.sign.diff_analysis import ModificationLevel
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko.sign.validation.settings import KeyUsageConstraints
    from pyhanko.sign.validation.status import SignatureCoverageLevel

    # As the trust policy: digitalSignature or nonRepudiation, either one suffices.
    usage = KeyUsageConstraints(
        key_usage={"digital_signature", "non_repudiation"}, match_all_key_usages=False
    )
    status = validate_pdf_signature(
        sig, context, ts_validation_context=ts_context, key_usage_settings=usage
    )
    cert = status.signing_cert
    subject = cert.subject.human_friendly if cert is not None else None
    common = cert.subject.native.get("common_name") if cert is not None else None
    signer = str(common) if common else subject
    ts = status.timestamp_validity
    coverage = status.coverage
    level = status.modification_level
    intact = bool(status.intact and status.valid)
    reason: str | None = None
    if not intact:
        verdict = PdfVerdict.INVALID
        reason = "the signature does not match the signed bytes (changed or forged)"
    elif coverage is None or coverage < SignatureCoverageLevel.ENTIRE_REVISION:
        verdict = PdfVerdict.INVALID
        reason = "the signature does not cover the whole revision it signed"
    elif level is ModificationLevel.OTHER or status.docmdp_ok is False:
        verdict = PdfVerdict.INVALID
        reason = "the file was changed after it was signed (incremental update)"
    elif not status.trusted:
        verdict = PdfVerdict.UNTRUSTED
        indic = status.trust_problem_indic
        why = str(getattr(indic, "name", indic)) if indic is not None else "no path"
        reason = f"the signer is not trusted under the office's roots ({why})"
    elif ts is not None and not (ts.intact and ts.valid):
        verdict = PdfVerdict.INVALID
        reason = "the signature's timestamp is broken (it does not match the signature)"
    elif ts is not None and not ts.trusted:
        verdict = PdfVerdict.UNTRUSTED
        reason = (
            "the signature's timestamp is not trusted "
            "(its TSA is not under the office's TSA roots)"
        )
    else:
        verdict = PdfVerdict.VALID
    revoked: RevocationStatus | None = None
    if revocation is not None and status.trusted:
        revoked = _revocation_of(status, revocation)
        if (
            revoked is not None
            and revoked.state is RevocationState.REVOKED
            and verdict in (PdfVerdict.VALID, PdfVerdict.UNTRUSTED)
        ):
            verdict = PdfVerdict.REVOKED
            reason = f"the signer's certificate was revoked: {revoked}"
    return PdfSignature(
        field=str(sig.field_name),
        verdict=verdict,
        signer=signer,
        subject=subject,
        signed_at=status.signer_reported_dt,
        timestamp=ts.timestamp if ts is not None else None,
        timestamp_trusted=bool(ts.intact and ts.valid and ts.trusted) if ts is not None else None,
        timestamp_tsa=_tsa_name(ts),
        intact=intact,
        trusted=bool(status.trusted),
        coverage=coverage.name.lower() if coverage is not None else None,
        modification=level.name.lower() if level is not None else None,
        revocation=str(revoked) if revoked is not None else NOT_CHECKED,
        reason=reason,
    )


def _tsa_name(ts: Any) -> str | None:
    """The TSA's common name (or subject) of a signature timestamp's status."""
    cert = getattr(ts, "signing_cert", None) if ts is not None else None
    if cert is None:
        return None
    common = cert.subject.native.get("common_name")
    return str(common) if common else str(cert.subject.human_friendly)
