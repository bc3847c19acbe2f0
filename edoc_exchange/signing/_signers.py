"""Signers: a private key (in memory or on a token) and the certificates that go with it.

Keys are loaded once and the key object is reused: handing signxml a PEM makes it parse
the key again on every signature (tens of milliseconds each).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_private_key,
    pkcs12,
)

from ._errors import Rule, SignerError

__all__ = [
    "KeyPairSigner",
    "Signer",
    "SigningKey",
    "check_key_pair",
    "load_pem_signer",
    "load_pkcs12_signer",
    "pem_key_is_encrypted",
]

#: What signxml signs with: a cryptography private key, or an adapter over a token key.
SigningKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@runtime_checkable
class Signer(Protocol):
    """Anything that can sign: a private key object and its certificate chain.

    ``certificates`` holds the signer's certificate first, then any intermediates; they
    are written into KeyInfo so that a receiver can build the path to its roots.
    """

    @property
    def key(self) -> SigningKey:
        """The private key (or an adapter whose ``sign`` runs on a token)."""
        ...

    @property
    def certificates(self) -> Sequence[x509.Certificate]:
        """The signer's certificate, then its chain (without the root, usually)."""
        ...


@dataclass(frozen=True, slots=True)
class KeyPairSigner:
    """A key held in memory (from PEM or PKCS#12) with its certificates; checked on creation."""

    key: SigningKey
    certificates: tuple[x509.Certificate, ...]

    def __post_init__(self) -> None:
        check_key_pair(self.key, self.certificates)

    def __repr__(self) -> str:
        # Never print key material, even by accident in a log line.
        subject = self.certificates[0].subject.rfc4514_string() if self.certificates else "?"
        return f"KeyPairSigner(subject={subject!r})"


def check_key_pair(key: SigningKey, certificates: Sequence[x509.Certificate]) -> None:
    """Refuse a key we do not sign with, or a certificate that is not the key's.

    Raises :class:`SignerError` (``key-type`` or ``key-cert-mismatch``): signing with the
    wrong certificate in KeyInfo would produce messages no receiver can verify.
    """
    if not certificates:
        raise SignerError(Rule.KEY_CERT_MISMATCH, detail="no certificate given")
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < 2048:
            raise SignerError(Rule.KEY_TYPE, detail=f"RSA {key.key_size} bits")
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise SignerError(Rule.KEY_TYPE, detail=f"EC curve {key.curve.name}")
    else:
        raise SignerError(Rule.KEY_TYPE, detail=type(key).__name__)
    mine = key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    theirs = (
        certificates[0].public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    )
    if mine != theirs:
        raise SignerError(Rule.KEY_CERT_MISMATCH, detail=certificates[0].subject.rfc4514_string())


def _read(path: str | os.PathLike[str]) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise SignerError(Rule.KEY_UNREADABLE, detail=f"{path}: {exc.strerror}") from None


def _certs(data: bytes, source: str | os.PathLike[str]) -> list[x509.Certificate]:
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except ValueError as exc:
        raise SignerError(Rule.KEY_UNREADABLE, detail=f"{source}: {exc}") from None


def sign_data(signer: Signer, data: bytes) -> bytes:
    """A raw SHA-256 signature of ``data`` by the signer's key (not XML-DSig).

    RSA PKCS#1 v1.5 or ECDSA, chosen by the certificate's key type rather than the key's
    class: a token adapter only has to sign. For audit checkpoints and PDF signatures.
    Raises :class:`SignerError` (``key-type``) for any other key.
    """
    public = signer.certificates[0].public_key()
    key: Any = signer.key
    if isinstance(public, rsa.RSAPublicKey):
        return bytes(key.sign(data, PKCS1v15(), hashes.SHA256()))
    if isinstance(public, ec.EllipticCurvePublicKey):
        return bytes(key.sign(data, ec.ECDSA(hashes.SHA256())))
    raise SignerError(Rule.KEY_TYPE, detail=type(public).__name__)


def read_certificates(path: str | os.PathLike[str]) -> list[x509.Certificate]:
    """The certificates of a PEM or DER file (a token's certificate kept beside it).

    Raises :class:`SignerError` (``key-unreadable``) naming the file.
    """
    return _certs(_read(path), path)


def load_pem_signer(
    key_path: str | os.PathLike[str],
    cert_path: str | os.PathLike[str],
    *,
    password: bytes | None = None,
    chain_path: str | os.PathLike[str] | None = None,
) -> KeyPairSigner:
    """Load a PEM private key (encrypted or not) and its certificate(s).

    The certificate file may hold the chain after the signer's certificate; ``chain_path``
    adds more. Raises :class:`SignerError`: ``key-password`` when the key is encrypted and
    the password is missing or wrong, ``key-unreadable``, ``key-type``,
    ``key-cert-mismatch``.
    """
    key_data = _read(key_path)
    try:
        key = load_pem_private_key(key_data, password=password)
    except TypeError:
        # cryptography says TypeError when a password is missing or given for a clear key
        raise SignerError(Rule.KEY_PASSWORD, detail=str(key_path)) from None
    except ValueError as exc:
        rule = (
            Rule.KEY_PASSWORD
            if password is not None and b"ENCRYPTED" in key_data
            else Rule.KEY_UNREADABLE
        )
        raise SignerError(rule, detail=f"{key_path}: {exc}") from None
    certs = _certs(_read(cert_path), cert_path)
    if chain_path is not None:
        certs += _certs(_read(chain_path), chain_path)
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise SignerError(Rule.KEY_TYPE, detail=type(key).__name__)
    return KeyPairSigner(key, tuple(certs))


def pem_key_is_encrypted(key_path: str | os.PathLike[str]) -> bool:
    """Whether a PEM key needs a password (so a command knows whether to ask for one)."""
    data = _read(key_path)
    return b"ENCRYPTED" in data


def load_pkcs12_signer(path: str | os.PathLike[str], *, password: bytes | None) -> KeyPairSigner:
    """Load a .p12/.pfx file (the form soft certificates are issued in): key, cert, chain.

    Raises :class:`SignerError` (``key-password``, ``key-unreadable``, ``key-type``).
    """
    data = _read(path)
    try:
        loaded = pkcs12.load_pkcs12(data, password)
    except ValueError as exc:
        message = str(exc).lower()
        rule = (
            Rule.KEY_PASSWORD if "password" in message or "mac" in message else Rule.KEY_UNREADABLE
        )
        raise SignerError(rule, detail=str(path)) from None
    except TypeError:
        raise SignerError(Rule.KEY_PASSWORD, detail=str(path)) from None
    if loaded.key is None or loaded.cert is None:
        raise SignerError(Rule.KEY_UNREADABLE, detail=f"{path}: no key or no certificate")
    key = loaded.key
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise SignerError(Rule.KEY_TYPE, detail=type(key).__name__)
    chain = [c.certificate for c in loaded.additional_certs]
    return KeyPairSigner(key, (loaded.cert.certificate, *chain))
