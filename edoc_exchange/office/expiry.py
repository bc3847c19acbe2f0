"""Certificates that expire soon: the office's signing certificate, its chain, the roots.

A commune learns that its key expired when the district refuses its documents; a warning
weeks ahead (``[trust] expiry_warning_days``, 30 by default) leaves time to ask the CA for
a new one. Shown by ``edoc status``, on the văn thư's and quản trị's pages, and exported as
the gauge ``edoc_certificate_expiry_seconds``. Also here: the daemon's refresh of the
cached CRLs (:func:`keep_revocation_fresh`).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import pkcs12

from .. import signing
from ..config import Settings
from ._office import Office
from .revocation import RevocationChecker

__all__ = [
    "CertificateExpiry",
    "certificate_expiries",
    "expiry_warnings",
    "keep_revocation_fresh",
    "office_certificates",
    "settings_certificates",
    "update_expiry_metrics",
]

log = logging.getLogger("edoc.office")

#: What a certificate is to the office, in words (Vietnamese, English).
ROLES: dict[str, tuple[str, str]] = {
    "signing": ("Chứng thư số ký của cơ quan", "the office's signing certificate"),
    "chain": ("Chứng thư số CA cấp trên của khóa ký", "a CA certificate of the signing key"),
    "root": ("Chứng thư gốc tin cậy", "a trusted root certificate"),
}


@dataclass(frozen=True)
class CertificateExpiry:
    """One certificate's end of validity, and whether to warn about it."""

    role: str  #: "signing", "chain" or "root" (see ROLES)
    subject: str
    not_after: dt.datetime
    seconds_left: float
    warn: bool  #: within the warning window, or already expired

    @property
    def role_words(self) -> tuple[str, str]:
        """What the certificate is to the office (Vietnamese, English)."""
        return ROLES.get(self.role, (self.role, self.role))

    @property
    def days_left(self) -> int:
        return int(self.seconds_left // 86400)

    @property
    def vi(self) -> str:
        what = ROLES.get(self.role, (self.role, self.role))[0]
        when = f"{self.not_after:%d/%m/%Y}"
        if self.seconds_left <= 0:
            return f"{what} ({self.subject}) đã hết hạn ngày {when}: cần xin cấp chứng thư mới"
        return (
            f"{what} ({self.subject}) hết hạn ngày {when}, còn {self.days_left} ngày: "
            "cần xin cấp chứng thư mới"
        )

    @property
    def en(self) -> str:
        what = ROLES.get(self.role, (self.role, self.role))[1]
        when = f"{self.not_after:%Y-%m-%d}"
        if self.seconds_left <= 0:
            return f"{what} ({self.subject}) expired on {when}: ask the CA for a new one"
        return (
            f"{what} ({self.subject}) expires on {when}, in {self.days_left} days: "
            "ask the CA for a new one"
        )

    def as_json(self) -> dict[str, object]:
        return {
            "role": self.role,
            "subject": self.subject,
            "not_after": self.not_after.isoformat(),
            "days_left": self.days_left,
            "warn": self.warn,
            "vi": self.vi,
            "en": self.en,
        }


def certificate_expiries(
    certificates: Iterable[tuple[str, x509.Certificate]],
    *,
    now: dt.datetime,
    warning_days: int = 30,
) -> list[CertificateExpiry]:
    """Each certificate's expiry (soonest first), marked ``warn`` within ``warning_days``."""
    seen: set[bytes] = set()
    found: list[CertificateExpiry] = []
    for role, cert in certificates:
        fingerprint = cert.fingerprint(hashes.SHA256())
        if fingerprint in seen:
            continue
        seen.add(fingerprint)
        left = (cert.not_valid_after_utc - now).total_seconds()
        found.append(
            CertificateExpiry(
                role=role,
                subject=_name(cert),
                not_after=cert.not_valid_after_utc,
                seconds_left=left,
                warn=left <= warning_days * 86400,
            )
        )
    return sorted(found, key=lambda e: e.seconds_left)


def office_certificates(office: Office) -> list[tuple[str, x509.Certificate]]:
    """The certificates a running office depends on: its signer's (and chain), its roots."""
    certs: list[tuple[str, x509.Certificate]] = []
    if office.signer is not None:
        chain = list(office.signer.certificates)
        certs += [("signing", chain[0])] + [("chain", c) for c in chain[1:]]
    if office.policy is not None:
        certs += [("root", c) for c in office.policy.roots]
    return certs


def settings_certificates(settings: Settings) -> list[tuple[str, x509.Certificate]]:
    """The same, read from the configured files without opening the key (``edoc status``
    needs no password or PIN): ``[signing] cert``/``chain`` (or a PKCS#12 file's
    certificates when it opens without a password), and ``[trust] roots``. A file that
    cannot be read is skipped (the commands that use it say why)."""
    certs: list[tuple[str, x509.Certificate]] = []
    section = settings.signing
    if section is not None:
        if section.cert is not None:
            leaf = _read(section.cert)
            certs += [("signing", c) for c in leaf[:1]] + [("chain", c) for c in leaf[1:]]
        if section.chain is not None:
            certs += [("chain", c) for c in _read(section.chain)]
        if section.cert is None and section.p12 is not None:
            certs += _p12_certificates(section.p12)
    if settings.trust is not None:
        try:
            certs += [("root", c) for c in signing.load_roots(settings.trust.roots)]
        except signing.TrustStoreError as exc:
            log.info("roots not read for expiry: %s", exc)
    return certs


def expiry_warnings(office: Office, *, now: dt.datetime | None = None) -> list[CertificateExpiry]:
    """The office's certificates expiring within its warning window (for the pages)."""
    return [
        e
        for e in certificate_expiries(
            office_certificates(office),
            now=now or office.clock(),
            warning_days=office.expiry_warning_days,
        )
        if e.warn
    ]


def update_expiry_metrics(office: Office, *, now: dt.datetime | None = None) -> None:
    """Set ``edoc_certificate_expiry_seconds{role, subject}`` for each certificate."""
    for e in certificate_expiries(office_certificates(office), now=now or office.clock()):
        office.metrics.certificate_expiry.labels(role=e.role, subject=e.subject).set(e.seconds_left)


def keep_revocation_fresh(office: Office, *, every: float = 600.0) -> list[str]:
    """Renew the cached CRLs that near their nextUpdate, at most once per ``every``
    seconds (the daemon calls this each inbound pass); returns the URLs refreshed.
    Failures are logged (the link is down: the stale lists are used and said so)."""
    policy = office.policy
    source = policy.revocation_source if policy is not None else None
    if policy is None or not isinstance(source, RevocationChecker):
        return []
    last = source.refreshed_at
    if last is not None and time.monotonic() - last < every:
        return []
    source.refreshed_at = time.monotonic()
    report = source.refresh(policy.roots)
    for problem in report.failed:
        log.warning("CRL not refreshed: %s", problem)
    return report.refreshed


def _name(cert: x509.Certificate) -> str:
    try:
        names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        return str(names[0].value) if names else cert.subject.rfc4514_string()
    except ValueError:
        return f"serial {cert.serial_number:x}"


def _read(path: Path) -> Sequence[x509.Certificate]:
    try:
        return signing.read_certificates(path)
    except Exception as exc:  # a broken file is said by the commands that use it
        log.info("certificate %s not read for expiry: %s", path, exc)
        return []


def _p12_certificates(path: Path) -> list[tuple[str, x509.Certificate]]:
    password = os.environ.get(signing.KEY_PASSWORD_ENV)
    try:
        _, cert, extra = pkcs12.load_key_and_certificates(
            path.read_bytes(), password.encode() if password else None
        )
    except (OSError, ValueError, TypeError):
        return []
    found = [("signing", cert)] if cert is not None else []
    return found + [("chain", c) for c in extra]
