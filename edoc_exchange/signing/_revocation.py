"""Revocation of a certificate: CRLs and OCSP answers judged against the issuer (pure).

Nothing here touches the network or the disk: the office fetches and caches (see
``office.revocation``), this module parses what was fetched, checks that the issuer (or a
responder it delegated to) signed it, and decides. Each verdict names its source, because
a clerk must know whether "good" came from the CA a minute ago or from a list of last
week kept while the mountain link was down.

Checklist of an answer (each step tagged below):

1. Parse (DER; a PEM CRL is accepted too).
2. The issuer signed it: a CRL by the issuer's key under the issuer's name; an OCSP
   answer by the issuer's key, or by a responder certificate the issuer issued with the
   OCSPSigning extended key usage (RFC 6960 §4.2.2.2).
3. It is about this certificate (OCSP: serial and issuer key hash).
4. Its time: thisUpdate not ahead of the clock; past nextUpdate it is stale (said so).
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from typing import Protocol

from cryptography import x509
from cryptography.exceptions import InvalidSignature as _CryptoInvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID

__all__ = [
    "RevocationAnswer",
    "RevocationDataError",
    "RevocationMode",
    "RevocationSource",
    "RevocationState",
    "RevocationStatus",
    "crl_times",
    "crl_urls",
    "judge_crl",
    "judge_ocsp",
    "ocsp_request",
    "ocsp_urls",
]

#: How far a thisUpdate may lie ahead of the verifier's clock (clocks drift).
_SKEW = dt.timedelta(minutes=15)


class RevocationMode(enum.StrEnum):
    """What a verifier does about revocation (``[trust] revocation``)."""

    REQUIRE = "require"  #: a signer whose status cannot be learnt is refused
    PREFER = "prefer"  #: checked when possible; "not checked since …" is accepted and said
    OFF = "off"  #: not checked at all (old archives, offline tools)


class RevocationState(enum.StrEnum):
    """What is known of one certificate."""

    GOOD = "good"
    REVOKED = "revoked"
    NOT_CHECKED = "not checked"


@dataclass(frozen=True, slots=True)
class RevocationStatus:
    """One certificate's revocation verdict, with where it came from.

    ``source`` is for people and logs: ``"ocsp <url>"``, ``"crl <url>"``, ``"cached crl of
    <date> (responder unreachable)"``, ``"not checked since <date>"``, ``"not checked: no
    CRL or OCSP cached"``. ``stale`` says the answer is past its nextUpdate (used because
    nothing fresher could be had).
    """

    state: RevocationState
    source: str
    reason: str | None = None
    revoked_at: dt.datetime | None = None
    stale: bool = False

    def __str__(self) -> str:
        if self.state is RevocationState.REVOKED:
            when = f" {self.revoked_at:%Y-%m-%d %H:%M} UTC" if self.revoked_at else ""
            why = f" ({self.reason})" if self.reason else ""
            return f"revoked{when}{why}, {self.source}"
        if self.state is RevocationState.GOOD:
            return f"good, {self.source}"
        return (
            self.source if self.source.startswith("not checked") else f"not checked, {self.source}"
        )

    def as_json(self) -> dict[str, object]:
        return {
            "state": self.state.value,
            "source": self.source,
            "reason": self.reason,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "stale": self.stale,
        }


class RevocationSource(Protocol):
    """Who answers "is this certificate revoked?" for a verifier (the office's checker).

    Must not raise and must return within a bounded time: a link that is down is a
    NOT_CHECKED answer, never a hang.
    """

    def status(self, cert: x509.Certificate, issuer: x509.Certificate) -> RevocationStatus: ...


@dataclass(frozen=True, slots=True)
class RevocationAnswer:
    """What one CRL or OCSP answer says of one certificate, and for how long it holds."""

    state: RevocationState  #: GOOD or REVOKED (an unknown serial in OCSP: NOT_CHECKED)
    this_update: dt.datetime
    next_update: dt.datetime | None
    reason: str | None = None
    revoked_at: dt.datetime | None = None

    def fresh(self, now: dt.datetime) -> bool:
        """Whether the answer may be used without asking again (before its nextUpdate)."""
        return self.next_update is not None and now <= self.next_update


class RevocationDataError(ValueError):
    """A CRL or OCSP answer that cannot be believed (unparsable, wrong signer, other cert).

    Internal to the checker: it means "this answer is worth nothing", never a refusal of
    the document by itself.
    """


def _extension_urls(cert: x509.Certificate, kind: str) -> tuple[str, ...]:
    urls: list[str] = []
    try:
        if kind == "crl":
            points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
            for point in points:
                for name in point.full_name or ():
                    if isinstance(name, x509.UniformResourceIdentifier):
                        urls.append(name.value)
        else:
            aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
            for desc in aia:
                if desc.access_method == AuthorityInformationAccessOID.OCSP and isinstance(
                    desc.access_location, x509.UniformResourceIdentifier
                ):
                    urls.append(desc.access_location.value)
    except (x509.ExtensionNotFound, ValueError):
        return ()
    return tuple(u for u in urls if u.lower().startswith(("http://", "https://")))


def crl_urls(cert: x509.Certificate) -> tuple[str, ...]:
    """The HTTP(S) CRL distribution points the certificate names (LDAP ones are skipped)."""
    return _extension_urls(cert, "crl")


def ocsp_urls(cert: x509.Certificate) -> tuple[str, ...]:
    """The HTTP(S) OCSP responders the certificate's AIA names."""
    return _extension_urls(cert, "ocsp")


def ocsp_request(cert: x509.Certificate, issuer: x509.Certificate) -> bytes:
    """A DER OCSP request for ``cert`` (SHA-1 CertID, which every responder understands)."""
    builder = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1())  # noqa: S303
    return builder.build().public_bytes(Encoding.DER)


def _signed_by(key: object, signature: bytes, data: bytes, algorithm: object) -> bool:
    if not isinstance(algorithm, hashes.HashAlgorithm):
        return False
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(algorithm))
        else:
            return False
    except (_CryptoInvalidSignature, ValueError, TypeError):
        return False
    return True


def _reason(value: x509.ReasonFlags | None) -> str | None:
    return None if value is None else value.name


def judge_crl(data: bytes, cert: x509.Certificate, issuer: x509.Certificate) -> RevocationAnswer:
    """What the CRL ``data`` says of ``cert``; raises RevocationDataError when the CRL was
    not made by ``issuer`` or cannot be read (a forged list is worth nothing)."""
    # 1. Parse.
    try:
        crl = (
            x509.load_pem_x509_crl(data)
            if data.lstrip().startswith(b"-----BEGIN")
            else x509.load_der_x509_crl(data)
        )
        # 2. Signed by the issuer, under its name.
        if crl.issuer != issuer.subject:
            raise RevocationDataError("the CRL is not the issuer's (issuer name differs)")
        if not crl.is_signature_valid(issuer.public_key()):  # type: ignore[arg-type]
            raise RevocationDataError("the CRL's signature is not the issuer's")
        this_update, next_update = crl.last_update_utc, crl.next_update_utc
        entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
    except (ValueError, TypeError) as exc:
        if isinstance(exc, RevocationDataError):
            raise
        raise RevocationDataError(f"unreadable CRL: {exc}") from None
    if entry is None:
        return RevocationAnswer(RevocationState.GOOD, this_update, next_update)
    try:
        reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
    except (x509.ExtensionNotFound, ValueError):
        reason = x509.ReasonFlags.unspecified
    return RevocationAnswer(
        RevocationState.REVOKED,
        this_update,
        next_update,
        reason=_reason(reason),
        revoked_at=entry.revocation_date_utc,
    )


def crl_times(data: bytes) -> tuple[dt.datetime, dt.datetime | None]:
    """thisUpdate and nextUpdate of a CRL (not checked: for cache bookkeeping only)."""
    crl = (
        x509.load_pem_x509_crl(data)
        if data.lstrip().startswith(b"-----BEGIN")
        else x509.load_der_x509_crl(data)
    )
    return crl.last_update_utc, crl.next_update_utc


def _responder_ok(response: ocsp.OCSPResponse, issuer: x509.Certificate) -> tuple[bool, str]:
    """2. The answer is signed by the issuer, or by a responder the issuer delegated to."""
    data, signature = response.tbs_response_bytes, response.signature
    algorithm = response.signature_hash_algorithm
    if _signed_by(issuer.public_key(), signature, data, algorithm):
        return True, ""
    for responder in response.certificates:
        if responder.issuer != issuer.subject:
            continue
        try:
            responder.verify_directly_issued_by(issuer)
            eku = responder.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except (ValueError, TypeError, _CryptoInvalidSignature, x509.ExtensionNotFound):
            continue
        if ExtendedKeyUsageOID.OCSP_SIGNING not in eku:
            continue
        if _signed_by(responder.public_key(), signature, data, algorithm):
            return True, ""
    return False, "the OCSP answer is not signed by the issuer or a responder it named"


def judge_ocsp(
    data: bytes, cert: x509.Certificate, issuer: x509.Certificate, *, now: dt.datetime
) -> RevocationAnswer:
    """What the OCSP answer ``data`` says of ``cert``; raises RevocationDataError when it
    is not a successful answer, not signed by the issuer (or its delegated responder), not
    about ``cert``, or dated ahead of ``now``."""
    # 1. Parse.
    try:
        response = ocsp.load_der_ocsp_response(data)
    except ValueError as exc:
        raise RevocationDataError(f"unreadable OCSP answer: {exc}") from None
    if response.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
        raise RevocationDataError(f"OCSP responder said {response.response_status.name}")
    # 2. Signed by the issuer or its responder.
    ok, why = _responder_ok(response, issuer)
    if not ok:
        raise RevocationDataError(why)
    # 3. About this certificate.
    if response.serial_number != cert.serial_number:
        raise RevocationDataError("the OCSP answer is about another certificate")
    expected = (
        ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, response.hash_algorithm).build()
    )
    if response.issuer_key_hash != expected.issuer_key_hash:
        raise RevocationDataError("the OCSP answer is about another issuer's certificate")
    # 4. Its time.
    this_update, next_update = response.this_update_utc, response.next_update_utc
    if this_update > now + _SKEW:
        raise RevocationDataError(f"the OCSP answer is dated ahead ({this_update:%Y-%m-%d %H:%M})")
    status = response.certificate_status
    if status is ocsp.OCSPCertStatus.GOOD:
        return RevocationAnswer(RevocationState.GOOD, this_update, next_update)
    if status is ocsp.OCSPCertStatus.REVOKED:
        return RevocationAnswer(
            RevocationState.REVOKED,
            this_update,
            next_update,
            reason=_reason(response.revocation_reason) or "unspecified",
            revoked_at=response.revocation_time_utc,
        )
    return RevocationAnswer(RevocationState.NOT_CHECKED, this_update, next_update)
