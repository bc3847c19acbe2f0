"""PKCS#11 tokens (the USB tokens officials sign with) through python-pkcs11.

The private key never leaves the token: signxml is handed an adapter that looks like a
cryptography private key (``sign``, ``public_key``, ``key_size``, for EC also ``curve``)
and forwards each signature to the token. python-pkcs11 is an optional extra and is
imported only when a token is opened.
"""

from __future__ import annotations

import importlib
import os
import secrets
import threading
from types import ModuleType
from typing import Any, NoReturn

from cryptography import x509
from cryptography.exceptions import InvalidSignature as _CryptoInvalidSignature
from cryptography.hazmat.primitives import _serialization, hashes
from cryptography.hazmat.primitives._asymmetric import AsymmetricPadding
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric import utils as asym_utils
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15

from ._errors import Rule, SignerError
from ._signers import SigningKey, check_key_pair

__all__ = ["Pkcs11Signer"]

_LIBS: dict[str, Any] = {}
_LIBS_LOCK = threading.Lock()


def _pkcs11() -> ModuleType:
    try:
        return importlib.import_module("pkcs11")
    except ImportError:
        raise SignerError(Rule.PKCS11_MISSING) from None


def _no_export() -> NoReturn:
    raise TypeError("the private key stays on the token; it cannot be exported or used here")


def _rsa_mechanism(mod: ModuleType, algorithm: hashes.HashAlgorithm) -> Any:
    mechanisms = {
        "sha256": mod.Mechanism.SHA256_RSA_PKCS,
        "sha384": mod.Mechanism.SHA384_RSA_PKCS,
        "sha512": mod.Mechanism.SHA512_RSA_PKCS,
    }
    try:
        return mechanisms[algorithm.name]
    except KeyError:
        raise ValueError(f"token signing with {algorithm.name} is not supported") from None


class _TokenRSAKey(rsa.RSAPrivateKey):
    """An RSA key on a token, usable wherever signxml expects an RSAPrivateKey."""

    def __init__(
        self, mod: ModuleType, key: Any, public: rsa.RSAPublicKey, lock: threading.Lock
    ) -> None:
        self._mod = mod
        self._key = key
        self._public = public
        self._lock = lock

    def sign(
        self,
        data: bytes,
        padding: AsymmetricPadding,
        algorithm: asym_utils.Prehashed | hashes.HashAlgorithm | asym_utils.NoDigestInfo,
    ) -> bytes:
        if not isinstance(padding, PKCS1v15) or not isinstance(algorithm, hashes.HashAlgorithm):
            raise ValueError("the token adapter signs PKCS#1 v1.5 over the data only")
        mechanism = _rsa_mechanism(self._mod, algorithm)
        with self._lock:  # a PKCS#11 session is not safe for concurrent use
            return bytes(self._key.sign(bytes(data), mechanism=mechanism))

    def public_key(self) -> rsa.RSAPublicKey:
        return self._public

    @property
    def key_size(self) -> int:
        return self._public.key_size

    def decrypt(self, ciphertext: bytes, padding: AsymmetricPadding) -> bytes:
        _no_export()

    def private_numbers(self) -> rsa.RSAPrivateNumbers:
        _no_export()

    def private_bytes(
        self,
        encoding: _serialization.Encoding,
        format: _serialization.PrivateFormat,
        encryption_algorithm: _serialization.KeySerializationEncryption,
    ) -> bytes:
        _no_export()

    def __copy__(self) -> _TokenRSAKey:
        return self

    def __deepcopy__(self, memo: dict[Any, Any]) -> _TokenRSAKey:
        return self


class _TokenECKey(ec.EllipticCurvePrivateKey):
    """An EC key on a token: hashes here, signs the digest with CKM_ECDSA, returns DER."""

    def __init__(
        self, mod: ModuleType, key: Any, public: ec.EllipticCurvePublicKey, lock: threading.Lock
    ) -> None:
        self._mod = mod
        self._key = key
        self._public = public
        self._lock = lock

    def sign(self, data: Any, signature_algorithm: ec.EllipticCurveSignatureAlgorithm) -> bytes:
        algorithm = signature_algorithm.algorithm
        if not isinstance(algorithm, hashes.HashAlgorithm):
            raise ValueError("the token adapter hashes the data itself")
        digest = hashes.Hash(algorithm)
        digest.update(bytes(data))
        with self._lock:
            raw = bytes(self._key.sign(digest.finalize(), mechanism=self._mod.Mechanism.ECDSA))
        half = len(raw) // 2
        r, s = int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big")
        return asym_utils.encode_dss_signature(r, s)

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._public

    @property
    def curve(self) -> ec.EllipticCurve:
        return self._public.curve

    @property
    def key_size(self) -> int:
        return self._public.key_size

    def exchange(self, algorithm: ec.ECDH, peer_public_key: ec.EllipticCurvePublicKey) -> bytes:
        _no_export()

    def private_numbers(self) -> ec.EllipticCurvePrivateNumbers:
        _no_export()

    def private_bytes(
        self,
        encoding: _serialization.Encoding,
        format: _serialization.PrivateFormat,
        encryption_algorithm: _serialization.KeySerializationEncryption,
    ) -> bytes:
        _no_export()

    def __copy__(self) -> _TokenECKey:
        return self

    def __deepcopy__(self, memo: dict[Any, Any]) -> _TokenECKey:
        return self


class Pkcs11Signer:
    """A signer whose key stays on a PKCS#11 token; open once, sign many, then close.

    The certificate comes from ``certificate`` when given, else from the certificate
    object on the token with the key's label. On opening, one test signature is verified
    against the certificate, so a wrong key/certificate pairing fails here and not at the
    receiver. Use as a context manager, or call :meth:`close`.
    """

    def __init__(
        self, key: SigningKey, certificates: tuple[x509.Certificate, ...], session: Any
    ) -> None:
        self._key = key
        self._certificates = certificates
        self._session = session

    @property
    def key(self) -> SigningKey:
        """The adapter over the token key."""
        return self._key

    @property
    def certificates(self) -> tuple[x509.Certificate, ...]:
        """The signer's certificate first, then the chain given."""
        return self._certificates

    @classmethod
    def open(
        cls,
        *,
        module: str | os.PathLike[str],
        token_label: str,
        key_label: str,
        pin: str,
        certificate: x509.Certificate | None = None,
        chain: tuple[x509.Certificate, ...] = (),
    ) -> Pkcs11Signer:
        """Log in to the token and find the key; raises :class:`SignerError` (``token``)."""
        mod = _pkcs11()
        try:
            with _LIBS_LOCK:
                lib = _LIBS.get(str(module))
                if lib is None:
                    lib = _LIBS[str(module)] = mod.lib(str(module))
            token = lib.get_token(token_label=token_label)
            session = token.open(user_pin=pin)
        except (mod.PKCS11Error, RuntimeError, OSError) as exc:
            raise SignerError(
                Rule.TOKEN, detail=f"{token_label}: {type(exc).__name__} {exc}"
            ) from None
        try:
            priv = session.get_key(object_class=mod.ObjectClass.PRIVATE_KEY, label=key_label)
            if certificate is None:
                cert_obj = next(
                    iter(
                        session.get_objects(
                            {
                                mod.Attribute.CLASS: mod.ObjectClass.CERTIFICATE,
                                mod.Attribute.LABEL: key_label,
                            }
                        )
                    ),
                    None,
                )
                if cert_obj is None:
                    raise SignerError(Rule.TOKEN, detail=f"no certificate labelled {key_label!r}")
                certificate = x509.load_der_x509_certificate(bytes(cert_obj[mod.Attribute.VALUE]))
            lock = threading.Lock()
            public = certificate.public_key()
            key: SigningKey
            if isinstance(public, rsa.RSAPublicKey):
                key = _TokenRSAKey(mod, priv, public, lock)
            elif isinstance(public, ec.EllipticCurvePublicKey):
                key = _TokenECKey(mod, priv, public, lock)
            else:
                raise SignerError(Rule.KEY_TYPE, detail=type(public).__name__)
            certificates = (certificate, *chain)
            check_key_pair(key, certificates)
            _prove(key)
        except SignerError:
            session.close()
            raise
        except (mod.PKCS11Error, ValueError) as exc:
            session.close()
            raise SignerError(
                Rule.TOKEN, detail=f"{key_label}: {type(exc).__name__} {exc}"
            ) from None
        return cls(key, certificates, session)

    def close(self) -> None:
        """Log out and close the session (the key object stops working)."""
        self._session.close()

    def __enter__(self) -> Pkcs11Signer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _prove(key: SigningKey) -> None:
    """Sign a random challenge on the token and verify it with the certificate's key."""
    challenge = secrets.token_bytes(32)
    try:
        if isinstance(key, rsa.RSAPrivateKey):
            sig = key.sign(challenge, PKCS1v15(), hashes.SHA256())
            key.public_key().verify(sig, challenge, PKCS1v15(), hashes.SHA256())
        else:
            sig = key.sign(challenge, ec.ECDSA(hashes.SHA256()))
            key.public_key().verify(sig, challenge, ec.ECDSA(hashes.SHA256()))
    except _CryptoInvalidSignature:
        raise SignerError(Rule.KEY_CERT_MISMATCH, detail="token key vs certificate") from None
