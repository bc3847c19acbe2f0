"""A throwaway CA and organisation certificate for trying the product: testing only.

Real signing keys come from a licensed CA (a USB token or a PKCS#12 file); nothing made
here must ever be trusted outside a test.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    NoEncryption,
    PrivateFormat,
    pkcs12,
)
from cryptography.x509.oid import NameOID

from ..signing import KeyPairSigner, SigningKey

__all__ = ["TestIdentity", "new_test_identity"]

_TEST_MARK = "TEST ONLY - chỉ dùng để thử"


@dataclass(frozen=True, slots=True)
class TestIdentity:
    """A test CA and one organisation's key and certificate issued by it."""

    __test__ = False  # not a pytest test class, despite the name

    ca_key: SigningKey
    ca_cert: x509.Certificate
    key: SigningKey
    cert: x509.Certificate

    def signer(self) -> KeyPairSigner:
        """A signer over the organisation key, with the CA in KeyInfo."""
        return KeyPairSigner(self.key, (self.cert,))

    def write(
        self,
        out_dir: str | os.PathLike[str],
        *,
        p12_password: bytes | None = None,
        key_password: bytes | None = None,
    ) -> list[Path]:
        """Write ca.pem, signer.pem and signer.key.pem (or signer.p12); refuse to overwrite.

        The key is written with mode 0600; unencrypted unless ``key_password`` is given.
        With ``p12_password`` a PKCS#12 file replaces the PEM key. Raises
        ``FileExistsError`` rather than replacing an existing key.
        """
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        files: list[tuple[str, bytes, int]] = [
            ("ca.pem", self.ca_cert.public_bytes(Encoding.PEM), 0o644),
            ("signer.pem", self.cert.public_bytes(Encoding.PEM), 0o644),
        ]
        if p12_password is not None:
            blob = pkcs12.serialize_key_and_certificates(
                b"signer",
                self.key,
                self.cert,
                [self.ca_cert],
                BestAvailableEncryption(p12_password),
            )
            files.append(("signer.p12", blob, 0o600))
        else:
            encryption = BestAvailableEncryption(key_password) if key_password else NoEncryption()
            pem = self.key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, encryption)
            files.append(("signer.key.pem", pem, 0o600))
        targets = [out / name for name, _, _ in files]
        for target in targets:
            if target.exists():
                raise FileExistsError(str(target))
        for (_, blob, mode), target in zip(files, targets, strict=True):
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
            with os.fdopen(fd, "wb") as handle:
                handle.write(blob)
        return targets


def _usage(*, ca: bool) -> x509.KeyUsage:
    """A CA signs certificates and CRLs; anyone else signs documents (non-repudiation)."""
    return x509.KeyUsage(
        digital_signature=not ca,
        content_commitment=not ca,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def organisation_subject(name: str, organ_id: str) -> x509.Name:
    """A test organisation certificate's subject: its name, its OrganId (UID) for people
    to read, and the mark that it is for testing only."""
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, name),
            x509.NameAttribute(NameOID.USER_ID, organ_id),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, _TEST_MARK),
        ]
    )


def certificate_builder(
    subject: x509.Name, issuer: x509.Name, public_key: Any, now: dt.datetime, days: int, *,
    ca: bool = False,
) -> x509.CertificateBuilder:
    """The one shape of every test certificate: valid from a day ago for ``days``, basic
    constraints and key usage for a CA (no sub-CA below it) or for a signer, both critical."""
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
        .add_extension(_usage(ca=ca), critical=True)
    )


def _new_key(key_type: str) -> SigningKey:
    if key_type == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def new_test_identity(
    *,
    organ_id: str,
    name: str,
    key_type: str = "rsa",
    now: dt.datetime | None = None,
    days: int = 365,
) -> TestIdentity:
    """Make a test CA (5 years) and an organisation certificate (``days``) for ``organ_id``.

    The organisation certificate names the OrganId in its subject (UID) for people to read;
    verification policies bind keys to OrganIds explicitly (TrustPolicy.organ_ids).
    """
    now = now or dt.datetime.now(dt.UTC)
    ca_key = _new_key("rsa")
    ca_name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, f"edoc-exchange test CA ({_TEST_MARK})"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, _TEST_MARK),
        ]
    )
    ca_cert = certificate_builder(
        ca_name, ca_name, ca_key.public_key(), now, 5 * 365, ca=True
    ).sign(ca_key, hashes.SHA256())
    key = _new_key(key_type)
    subject = organisation_subject(name, organ_id)
    cert = certificate_builder(subject, ca_name, key.public_key(), now, days).sign(
        ca_key, hashes.SHA256()
    )
    return TestIdentity(ca_key, ca_cert, key, cert)


def new_tls_pair(
    out_dir: str | os.PathLike[str], host: str = "127.0.0.1"
) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for ``host`` (an IP address or a name), for
    serving the pages over TLS on one machine (tests, the demo). Returns the certificate,
    key and CA files written in ``out_dir``: (cert.pem, key.pem, ca.pem)."""
    import ipaddress

    now = dt.datetime.now(dt.UTC)
    # The test CA of a throwaway identity issues the server certificate.
    issuer = new_test_identity(organ_id="000.00.00.T00", name="TLS", now=now, days=30)
    ca_key, ca_cert, ca_name = issuer.ca_key, issuer.ca_cert, issuer.ca_cert.subject
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    try:
        alt: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        alt = x509.DNSName(host)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([alt]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = (out / "cert.pem", out / "key.pem", out / "ca.pem")
    paths[0].write_bytes(cert.public_bytes(Encoding.PEM))
    fd = os.open(paths[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    paths[2].write_bytes(ca_cert.public_bytes(Encoding.PEM))
    return paths


@dataclass(frozen=True, slots=True)
class TestTsa:
    """A test CA and a timestamping authority's key and certificate issued by it."""

    __test__ = False

    ca_key: SigningKey
    ca_cert: x509.Certificate
    key: rsa.RSAPrivateKey
    cert: x509.Certificate

    def write_roots(self, path: str | os.PathLike[str]) -> Path:
        """The CA as a PEM file: what ``[tsa] roots`` names to trust this TSA."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(self.ca_cert.public_bytes(Encoding.PEM))
        return target


def new_test_tsa(
    *, name: str = "edoc-exchange test TSA", now: dt.datetime | None = None, days: int = 365
) -> TestTsa:
    """A test CA (its own) and a TSA certificate: extended key usage timeStamping,
    critical, as RFC 3161 requires; RSA (pyhanko's token builder signs with RSA)."""
    now = now or dt.datetime.now(dt.UTC)
    issuer = new_test_identity(organ_id="000.00.00.T01", name=f"{name} CA", now=now, days=days)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, _TEST_MARK),
        ]
    )
    cert = (
        certificate_builder(subject, issuer.ca_cert.subject, key.public_key(), now, days)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.TIME_STAMPING]), critical=True
        )
        .sign(issuer.ca_key, hashes.SHA256())
    )
    return TestTsa(issuer.ca_key, issuer.ca_cert, key, cert)
