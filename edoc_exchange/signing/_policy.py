"""The trust policy: what a receiver accepts, stated explicitly and passed to every verify.

There is no default policy and no system store: a commune trusts the roots it was given
(the government CA, its province's CA), nothing else.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import json
import os
import types
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ._errors import Rule, TrustStoreError
from ._revocation import RevocationMode, RevocationSource

__all__ = [
    "DEFAULT_DIGEST_ALGORITHMS",
    "DEFAULT_SIGNATURE_ALGORITHMS",
    "KeyUsage",
    "TrustPolicy",
    "load_roots",
    "spki_sha256",
]

_MORE = "http://www.w3.org/2001/04/xmldsig-more#"
_ENC = "http://www.w3.org/2001/04/xmlenc#"
_DSIG = "http://www.w3.org/2000/09/xmldsig#"

RSA_SHA256 = f"{_MORE}rsa-sha256"
ECDSA_SHA256 = f"{_MORE}ecdsa-sha256"
SHA256 = f"{_ENC}sha256"

#: Signature methods accepted unless a policy says otherwise (RSA PKCS#1 v1.5 and ECDSA).
DEFAULT_SIGNATURE_ALGORITHMS = frozenset(
    {
        RSA_SHA256,
        f"{_MORE}rsa-sha384",
        f"{_MORE}rsa-sha512",
        ECDSA_SHA256,
        f"{_MORE}ecdsa-sha384",
        f"{_MORE}ecdsa-sha512",
    }
)
#: Digest methods accepted unless a policy says otherwise.
DEFAULT_DIGEST_ALGORITHMS = frozenset({SHA256, f"{_MORE}sha384", f"{_ENC}sha512"})
#: What legacy mode adds: the SDK's RSA-SHA1 and SHA-1 digests (broken; old archives only).
LEGACY_SIGNATURE_ALGORITHMS = frozenset({f"{_DSIG}rsa-sha1"})
LEGACY_DIGEST_ALGORITHMS = frozenset({f"{_DSIG}sha1"})

_CERT_SUFFIXES = (".pem", ".crt", ".cer", ".der")


class KeyUsage(enum.Enum):
    """Key usage bits that make a certificate fit for signing documents (any one suffices)."""

    DIGITAL_SIGNATURE = "digital_signature"  #: digitalSignature
    NON_REPUDIATION = "content_commitment"  #: nonRepudiation (contentCommitment)


def spki_sha256(cert: x509.Certificate) -> str:
    """Lowercase hex SHA-256 of the certificate's public key (SubjectPublicKeyInfo).

    Policies name signers by key rather than by certificate, so a certificate re-issued for
    the same key (a new validity period) keeps its permissions.
    """
    spki = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).hexdigest()


@dataclass(frozen=True, kw_only=True)
class TrustPolicy:
    """What :func:`~edoc_exchange.signing.verify` accepts; every field is explicit.

    ``at`` is the moment at which certificates must be valid: ``"signing-time"`` (the
    default) uses the time carried inside the signed message (the sender's TraceHeader
    Timestamp of a document, the Timestamp of a status message) and falls back to now when
    the message has none; ``"now"`` checks against the clock; a datetime checks against
    that moment. The signing time is written by the signer, so a signer whose certificate
    expired could back-date it; use ``"now"`` where that matters (no trusted timestamp yet).

    ``organ_ids``, when given, maps a signer key (:func:`spki_sha256` of its certificate)
    to the OrganIds it may sign for; a message whose sender OrganId is not listed for its
    signer's key is refused. ``None`` means any trusted certificate may sign for any sender.

    ``strict_identity`` is about what a verified document calls itself: a DocumentId
    (``OrganId,yyyy/MM/dd,Number/Notation``) names its issuer, and a sender that signs a
    DocumentId naming another office is either confused or trying to take that office's
    identifier. The office's receiving step (not :func:`verify`, which judges signatures)
    refuses such a document under a strict policy and stores it flagged otherwise; either
    way it is kept under its sender's identity and never shadows the other office's.
    """

    roots: tuple[x509.Certificate, ...]
    allow_legacy_sha1: bool = False
    at: dt.datetime | Literal["signing-time", "now"] = "signing-time"
    key_usage: frozenset[KeyUsage] = frozenset(KeyUsage)
    organ_ids: Mapping[str, frozenset[str]] | None = None
    signature_algorithms: frozenset[str] = DEFAULT_SIGNATURE_ALGORITHMS
    digest_algorithms: frozenset[str] = DEFAULT_DIGEST_ALGORITHMS
    #: How far a signing time may lie ahead of the verifier's clock (clocks drift).
    max_clock_skew: dt.timedelta = field(default=dt.timedelta(minutes=15))
    #: Refuse a document whose DocumentId names another issuer than its verified sender.
    strict_identity: bool = False
    #: The TSAs whose RFC 3161 timestamps prove a signing time (``[tsa] roots``): a
    #: timestamp from any other TSA is reported "untrusted" and its time not taken as proven.
    tsa_roots: tuple[x509.Certificate, ...] = ()
    #: Revocation of the signer's certificate: "require" refuses a signer whose status
    #: cannot be learnt, "prefer" accepts it and says "not checked since …", "off" does not
    #: ask. A revoked signer is refused under both "require" and "prefer".
    revocation: RevocationMode = RevocationMode.OFF
    #: Who answers (the office's CRL/OCSP checker with its cache); needed unless "off".
    revocation_source: RevocationSource | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.revocation is not RevocationMode.OFF and self.revocation_source is None:
            raise ValueError("a revocation mode other than 'off' needs a revocation_source")
        if not self.roots:
            raise ValueError("a TrustPolicy needs at least one trusted root certificate")
        if not self.key_usage:
            raise ValueError("key_usage must name at least one usage")
        if isinstance(self.at, dt.datetime) and self.at.tzinfo is None:
            raise ValueError("TrustPolicy.at must be timezone-aware")
        for uri in self.signature_algorithms:
            if "hmac" in uri.lower():
                raise ValueError("HMAC signatures can never be accepted (shared secret)")
        weak = {u for u in self.signature_algorithms | self.digest_algorithms if "sha1" in u}
        if weak:
            raise ValueError("enable SHA-1 with allow_legacy_sha1=True, not through the sets")
        if self.organ_ids is not None:
            frozen = {k.lower(): frozenset(v) for k, v in self.organ_ids.items()}
            object.__setattr__(self, "organ_ids", types.MappingProxyType(frozen))

    @classmethod
    def from_path(
        cls,
        path: str | os.PathLike[str],
        *,
        allow_legacy_sha1: bool = False,
        at: dt.datetime | Literal["signing-time", "now"] = "signing-time",
        organ_ids: Mapping[str, Collection[str]] | None = None,
        signers: str | os.PathLike[str] | None = None,
        strict_identity: bool = False,
        revocation: RevocationMode = RevocationMode.OFF,
        revocation_source: RevocationSource | None = None,
    ) -> TrustPolicy:
        """A policy trusting the roots in a PEM bundle or a folder of certificates.

        ``signers`` is the JSON file ``{spki-sha256: [OrganId, ...]}`` of which key may
        sign for which sender (or give the map itself as ``organ_ids``): every door builds
        its policy here, so the daemon, ``edoc verify`` and ``edoc audit verify`` trust alike.
        """
        if signers is not None:
            if organ_ids is not None:
                raise ValueError("give signers or organ_ids, not both")
            organ_ids = load_organ_map(signers)
        return cls(
            roots=load_roots(path),
            allow_legacy_sha1=allow_legacy_sha1,
            at=at,
            organ_ids=None
            if organ_ids is None
            else {k: frozenset(v) for k, v in organ_ids.items()},
            strict_identity=strict_identity,
            revocation=revocation,
            revocation_source=revocation_source,
        )

    @property
    def accepted_signature_algorithms(self) -> frozenset[str]:
        """The signature method URIs accepted, legacy ones included when allowed."""
        extra = LEGACY_SIGNATURE_ALGORITHMS if self.allow_legacy_sha1 else frozenset()
        return self.signature_algorithms | extra

    @property
    def accepted_digest_algorithms(self) -> frozenset[str]:
        """The digest method URIs accepted, SHA-1 included when legacy is allowed."""
        extra = LEGACY_DIGEST_ALGORITHMS if self.allow_legacy_sha1 else frozenset()
        return self.digest_algorithms | extra


def load_roots(path: str | os.PathLike[str]) -> tuple[x509.Certificate, ...]:
    """Read trusted roots from a PEM bundle, or from every .pem/.crt/.cer/.der in a folder.

    Raises :class:`TrustStoreError` when nothing usable is found: an empty trust store
    would make every message untrusted, which is never what the operator meant.
    """
    source = Path(path)
    try:
        if source.is_dir():
            files = sorted(
                p for p in source.iterdir() if p.is_file() and p.suffix.lower() in _CERT_SUFFIXES
            )
            # A PEM without certificates (a key someone left there) is skipped in a folder.
            certs = [cert for p in files for cert in _read_certs(p, skip_non_cert=True)]
        else:
            certs = list(_read_certs(source))
    except OSError as exc:
        raise TrustStoreError(Rule.TRUST_STORE, detail=f"{source}: {exc.strerror}") from None
    if not certs:
        raise TrustStoreError(Rule.TRUST_STORE, detail=f"{source}: no certificate found")
    unique = {cert.fingerprint(hashes.SHA256()): cert for cert in certs}
    return tuple(unique.values())


def load_organ_map(path: str | os.PathLike[str]) -> dict[str, frozenset[str]]:
    """Read ``{spki-sha256: [OrganId, ...]}`` (TrustPolicy.organ_ids) from a JSON file.

    Raises :class:`TrustStoreError` naming the file when it is unreadable or malformed.
    """
    source = Path(path)
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TrustStoreError(Rule.TRUST_STORE, detail=f"{source}: {exc}") from None
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, list) and all(isinstance(i, str) for i in v)
        for k, v in data.items()
    ):
        raise TrustStoreError(
            Rule.TRUST_STORE,
            detail=f'{source}: expected {{"<spki sha256>": ["OrganId", ...]}}',
        )
    return {key: frozenset(value) for key, value in data.items()}


def _read_certs(path: Path, *, skip_non_cert: bool = False) -> Iterable[x509.Certificate]:
    data = path.read_bytes()
    if skip_non_cert and b"-----BEGIN" in data and b"-----BEGIN CERTIFICATE-----" not in data:
        return []
    try:
        if b"-----BEGIN CERTIFICATE-----" in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except ValueError as exc:
        raise TrustStoreError(Rule.TRUST_STORE, detail=f"{path}: {exc}") from None
