"""RFC 3161 timestamps: the token's check (any signature's), and what a signer carries.

A timestamp proves that a signature existed at a moment a trusted authority (TSA) states,
where the signing time in a message is only what the sender's clock said. Two halves:

- :func:`check_token` judges a token against an imprint and the TSA roots a policy
  trusts: a token that does not match its imprint, or whose own signature is broken, is
  :class:`InvalidSignature` (tampering); a sound token from a TSA outside the roots is an
  ``untrusted`` :class:`TimestampVerdict` (the time is then not proven); a sound token
  from a trusted TSA is ``valid`` and its time proven.
- :class:`TimestampedSigner` is a signer with its TSA client: :func:`signing.sign` and the
  PDF signature ask that client for a token when they find one (see ``_tsa``, which needs
  pyhanko; this module needs only asn1crypto, imported when a token is checked).

Exceptions: :class:`TimestampError` (the TSA could not give a usable token: down, refused,
garbage, untrusted), named by the step ``timestamp``.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, runtime_checkable

from cryptography import x509
from cryptography.exceptions import InvalidSignature as _CryptoInvalid
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from ..errors import EdocError
from ._chain import check_chain
from ._errors import InvalidSignature, Rule, SignatureError
from ._policy import KeyUsage
from ._signers import Signer, SigningKey

__all__ = [
    "STEP",
    "TimestampError",
    "TimestampStatus",
    "TimestampVerdict",
    "TimestampedSigner",
    "Timestamper",
    "ValidationMaterial",
    "ValidationMaterialSource",
    "check_token",
    "open_timestamper",
    "skipped",
    "timestamper_of",
    "validation_material_of",
]

log = logging.getLogger("edoc.signing")

#: The step every timestamp error names.
STEP = "timestamp"

_HASHES: dict[str, Any] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


class TimestampError(EdocError):
    """The TSA did not give a usable timestamp (down, refused, garbage, not trusted)."""

    def __init__(self, vi: str, en: str) -> None:
        super().__init__(vi, en, step=STEP)


class TimestampStatus(enum.StrEnum):
    """What a receiver found of a timestamp token that matched its signature."""

    VALID = "valid"  #: sound, from a TSA under the policy's TSA roots: the time is proven
    UNTRUSTED = "untrusted"  #: sound, but its TSA is not trusted: the time is not proven
    NOT_CHECKED = "not checked"  #: asn1crypto (with pyhanko, the pdf extra) not installed


@dataclass(frozen=True, slots=True)
class TimestampVerdict:
    """One token's verdict: the time it states, who stated it, trusted or not and why."""

    status: TimestampStatus
    #: The time the token states (genTime); proven only when ``status`` is valid.
    time: dt.datetime | None
    #: The TSA certificate's subject (RFC 4514).
    tsa: str | None
    reason: str | None = None

    @property
    def proven(self) -> dt.datetime | None:
        """The time the token proves, or None when its TSA is not trusted."""
        return self.time if self.status is TimestampStatus.VALID else None

    def as_json(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "time": self.time.isoformat() if self.time else None,
            "tsa": self.tsa,
            "reason": self.reason,
        }


@runtime_checkable
class Timestamper(Protocol):
    """A TSA client: a token over a digest, or a :class:`TimestampError`."""

    @property
    def required(self) -> bool:
        """Refuse to sign without a timestamp (True), or sign without one and say so."""
        ...

    def token(self, digest: bytes, algorithm: str = "sha256") -> bytes:
        """A checked RFC 3161 token (DER of its ContentInfo) over ``digest``."""
        ...


class ValidationMaterial(NamedTuple):
    """What a PAdES DSS holds for long-term validation: the issuers found for the
    certificates asked about, and the DER CRLs and OCSP responses about them."""

    certificates: tuple[x509.Certificate, ...] = ()
    crls: tuple[bytes, ...] = ()
    ocsps: tuple[bytes, ...] = ()


#: Given certificates (a signer's chain, a TSA's), the material known about them; never
#: raises, and gives what it has (the office's revocation checker, passed down: signing
#: and compose know no network).
ValidationMaterialSource = Callable[[Sequence[x509.Certificate]], ValidationMaterial]


@dataclass(frozen=True, slots=True)
class TimestampedSigner:
    """A signer whose signatures get a timestamp from ``timestamper`` (the office's TSA).

    It signs as ``signer`` does (same key, same certificates); the XML and PDF signatures
    add a token to what they write. ``validation_material``, when given, supplies the CRLs
    and OCSP answers a PDF signature's DSS embeds (PAdES LT).
    """

    signer: Signer
    timestamper: Timestamper
    validation_material: ValidationMaterialSource | None = None

    @property
    def key(self) -> SigningKey:
        return self.signer.key

    @property
    def certificates(self) -> Sequence[x509.Certificate]:
        return self.signer.certificates

    def __getattr__(self, name: str) -> Any:
        # A token signer's own methods (close, ...) stay reachable through the wrapper.
        if name.startswith("__") or name in ("signer", "timestamper", "validation_material"):
            raise AttributeError(name)
        return getattr(self.signer, name)


def timestamper_of(signer: object) -> Timestamper | None:
    """The TSA client a signer carries (a :class:`TimestampedSigner`), or None."""
    return signer.timestamper if isinstance(signer, TimestampedSigner) else None


def validation_material_of(signer: object) -> ValidationMaterialSource | None:
    """Where a signer's PDF signatures get their CRLs and OCSP answers, or None."""
    return signer.validation_material if isinstance(signer, TimestampedSigner) else None


def skipped(exc: TimestampError) -> None:
    """Say that a signature goes out without a timestamp (``[tsa] required = false``)."""
    log.warning(
        "Ký không có dấu thời gian (máy chủ dấu thời gian lỗi): %s / "
        "signed WITHOUT a timestamp (the TSA failed): %s",
        exc.vi,
        exc.en,
    )


def _load_cms(der: bytes) -> Any:
    # asn1crypto.tsp registers the TSTInfo content type with cms when it is imported:
    # without it, the token's content reads as an unknown OID.
    from asn1crypto import cms, tsp  # type: ignore[import-untyped]  # noqa: F401

    info = cms.ContentInfo.load(der)
    if info["content_type"].native != "signed_data":
        raise ValueError("not a CMS SignedData")
    signed = info["content"]
    encap = signed["encap_content_info"]
    if encap["content_type"].native != "tst_info":
        raise ValueError("SignedData does not hold a TSTInfo")
    return signed


def check_token(
    der: bytes,
    *,
    data: bytes | None = None,
    digest: bytes | None = None,
    roots: Sequence[x509.Certificate],
) -> TimestampVerdict:
    """Judge a timestamp token over ``data`` (or its ``digest``, in the token's algorithm).

    Raises :class:`InvalidSignature` (``timestamp-imprint`` when the token is over other
    bytes, ``timestamp-invalid`` when it is unreadable or its own signature is broken).
    Returns an ``untrusted`` verdict when the TSA has no path to ``roots``, its certificate
    is not for timestamping, or it was not valid at the stated time.
    """
    # 1. Read the token (a CMS SignedData holding a TSTInfo).
    try:
        import asn1crypto  # noqa: F401
    except ImportError:  # a receiver without the pdf extra: the message is not refused
        return TimestampVerdict(
            TimestampStatus.NOT_CHECKED, None, None, "asn1crypto is not installed"
        )
    try:
        signed = _load_cms(der)
        tst = signed["encap_content_info"]["content"].parsed
        content = bytes(signed["encap_content_info"]["content"].contents)
        imprint = tst["message_imprint"]
        algorithm = str(imprint["hash_algorithm"]["algorithm"].native)
        hashed = bytes(imprint["hashed_message"].native)
        gen_time: dt.datetime = tst["gen_time"].native
        infos = list(signed["signer_infos"])
        certs = [
            x509.load_der_x509_certificate(c.chosen.dump())
            for c in (signed["certificates"] or [])
            if c.name == "certificate"
        ]
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise InvalidSignature(Rule.TIMESTAMP_INVALID, detail=f"unreadable token: {exc}") from None
    if algorithm not in _HASHES:
        raise InvalidSignature(Rule.TIMESTAMP_INVALID, detail=f"hash algorithm {algorithm}")

    # 2. The imprint is the hash of what the token is said to cover.
    expected = digest if digest is not None else _digest(algorithm, data or b"")
    if hashed != expected:
        raise InvalidSignature(
            Rule.TIMESTAMP_IMPRINT, detail=f"imprint {hashed.hex()[:16]}… ≠ {expected.hex()[:16]}…"
        )

    # 3. The TSA's signature over the TSTInfo (one signer, signed attributes).
    if len(infos) != 1:
        raise InvalidSignature(Rule.TIMESTAMP_INVALID, detail=f"{len(infos)} signers")
    tsa_cert = _check_signer(infos[0], content, certs)
    tsa = tsa_cert.subject.rfc4514_string()
    if gen_time.tzinfo is None:
        gen_time = gen_time.replace(tzinfo=dt.UTC)

    # 4. Trust: a timeStamping certificate with a path to the TSA roots at genTime.
    reason = _trust_problem(tsa_cert, certs, roots, gen_time)
    status = TimestampStatus.UNTRUSTED if reason else TimestampStatus.VALID
    return TimestampVerdict(status, gen_time, tsa, reason)


def _digest(algorithm: str, data: bytes) -> bytes:
    return hashlib.new(algorithm, data).digest()


def _check_signer(info: Any, content: bytes, certs: list[x509.Certificate]) -> x509.Certificate:
    """The TSA certificate, once its signature over the token's content is checked."""
    try:
        sid = info["sid"]
        if sid.name == "issuer_and_serial_number":
            serial = int(sid.chosen["serial_number"].native)
            issuer_der = sid.chosen["issuer"].dump()
            matches = [
                c
                for c in certs
                if c.serial_number == serial and c.issuer.public_bytes() == issuer_der
            ]
        else:
            ski = bytes(sid.chosen.native)
            matches = [c for c in certs if _ski(c) == ski]
        if not matches:
            raise ValueError("the TSA certificate is not in the token")
        cert = matches[0]
        algorithm = str(info["digest_algorithm"]["algorithm"].native)
        if algorithm not in _HASHES:
            raise ValueError(f"digest algorithm {algorithm}")
        attrs = info["signed_attrs"]
        if not attrs:
            raise ValueError("no signed attributes")
        found = {a["type"].native: a["values"][0].native for a in attrs}
        if found.get("content_type") != "tst_info":
            raise ValueError("content-type attribute is not TSTInfo")
        if found.get("message_digest") != _digest(algorithm, content):
            raise ValueError("the TSTInfo does not match its message-digest attribute")
        to_check = attrs.untag().dump()
        signature = bytes(info["signature"].native)
        key = cert.public_key()
        hash_alg = _HASHES[algorithm]()
        if isinstance(key, rsa.RSAPublicKey):
            sig_alg = str(info["signature_algorithm"]["algorithm"].native)
            pad: Any = padding.PKCS1v15()
            if sig_alg == "rsassa_pss":
                pad = padding.PSS(padding.MGF1(hash_alg), padding.PSS.AUTO)
            key.verify(signature, to_check, pad, hash_alg)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, to_check, ec.ECDSA(hash_alg))
        else:
            raise ValueError(f"key type {type(key).__name__}")
    except _CryptoInvalid:
        raise InvalidSignature(
            Rule.TIMESTAMP_INVALID, detail="the TSA's signature does not match the token"
        ) from None
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise InvalidSignature(Rule.TIMESTAMP_INVALID, detail=str(exc)) from None
    return cert


def _ski(cert: x509.Certificate) -> bytes | None:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    except x509.ExtensionNotFound:
        return None
    return ext.value.digest


def _trust_problem(
    cert: x509.Certificate,
    certs: list[x509.Certificate],
    roots: Sequence[x509.Certificate],
    at: dt.datetime,
) -> str | None:
    """Why the TSA is not trusted (None: it is)."""
    try:
        usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        return "the TSA certificate has no extended key usage timeStamping"
    if ExtendedKeyUsageOID.TIME_STAMPING not in usage.value:
        return "the TSA certificate is not for timestamping (extended key usage)"
    if not roots:
        return "no TSA is trusted (no TSA roots given: [tsa] roots, edoc verify --tsa-roots)"
    others = [c for c in certs if c != cert]
    try:
        check_chain(
            cert, others, roots=tuple(roots), at=at, key_usage=frozenset(KeyUsage)
        )
    except SignatureError as exc:
        return f"TSA {cert.subject.rfc4514_string()}: {exc.en}"
    return None


def open_timestamper(
    url: str,
    *,
    roots: Sequence[x509.Certificate],
    required: bool = True,
    timeout: float = 10.0,
    auth: tuple[str, str] | None = None,
    token: str | None = None,
) -> Timestamper:
    """The TSA client for ``url`` (pyhanko needed: the ``pdf`` extra).

    Raises :class:`TimestampError` when pyhanko is not installed.
    """
    try:
        from ._tsa import TsaClient
    except ImportError as exc:
        raise TimestampError(
            "Chưa cài pyhanko để lấy dấu thời gian (pip install 'edoc-exchange[pdf]')",
            f"pyhanko is not installed, no timestamps (pip install 'edoc-exchange[pdf]'): {exc}",
        ) from None
    client: Timestamper = TsaClient(
        url, roots=roots, required=required, timeout=timeout, auth=auth, token=token
    )
    return client
