"""Trust anchors: who may sign the office's checkpoints, stated by the verifier.

A checkpoint carries the certificate that signed it, and whoever can write the database
can make a certificate with the office's name and re-sign a rewritten log. So a verifier
never believes the certificate a checkpoint carries; it is given an anchor (the way
sigstore's verifier is given a policy) and every checkpoint must satisfy it:

- :class:`OfficeCertificate`: the office's own signing certificate(s), pinned by key
  (``edoc audit verify --cert office.pem``, or the ``[signing]`` certificate);
- :class:`TrustedRoots`: a :class:`~edoc_exchange.signing.TrustPolicy`; the certificate
  must chain to its roots at the checkpoint's time and be bound to this office
  (``edoc audit verify --trust roots.pem``);
- :class:`UnsafeNoAnchor`: believes the carried certificate. It proves only that the log
  is consistent with itself, which anyone who rewrites the database can arrange; it exists
  for callers written before anchors, logs a warning, and the CLI never uses it.

An anchor raises :class:`CheckpointRefusedError` naming the checkpoint and the reason.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography import x509
from cryptography.x509.oid import NameOID

from ..signing import (
    TrustPolicy,
    UntrustedSigner,
    check_chain,
)
from ..signing import spki_sha256 as _spki_sha256
from ._errors import AuditAnchorError, CheckpointRefusedError, Source
from .checkpoint import Checkpoint, signature_verifies

__all__ = [
    "CheckpointAnchor",
    "OfficeCertificate",
    "TrustedRoots",
    "UnsafeNoAnchor",
    "load_anchor",
]

log = logging.getLogger("edoc.audit")


class CheckpointAnchor(Protocol):
    """Decides whether a checkpoint was signed by someone allowed to speak for the office."""

    def describe(self) -> str:
        """What is trusted, for the report (``office certificate CN=…``)."""
        ...

    def accept(self, office_id: str, checkpoint: Checkpoint, source: Source) -> str | None:
        """Return the signer's subject, or raise :class:`CheckpointRefusedError`.

        Only :class:`UnsafeNoAnchor` returns None (an unsigned checkpoint it let through).
        """
        ...


@functools.lru_cache(maxsize=64)
def spki_sha256(cert: x509.Certificate) -> str:
    """The key's SHA-256 (:func:`~edoc_exchange.signing.spki_sha256`), once per certificate:
    the same few certificates sign every checkpoint of a log."""
    return _spki_sha256(cert)


def _refuse(cp: Checkpoint, source: Source, vi: str, en: str) -> CheckpointRefusedError:
    return CheckpointRefusedError(cp.tree_size, cp.time, source, vi=vi, en=en)


def _subject(cert: x509.Certificate) -> str:
    try:
        return cert.subject.rfc4514_string()
    except ValueError:
        return f"serial {cert.serial_number:x}"


def _signed_parts(
    cp: Checkpoint, source: Source
) -> tuple[bytes, x509.Certificate, list[x509.Certificate]]:
    """The signature, the signer's certificate and the chain it carries; refuse if absent."""
    if cp.signature is None:
        raise _refuse(
            cp,
            source,
            "không có chữ ký (ai ghi được cơ sở dữ liệu cũng tạo được)",
            "it is not signed (anyone who can write the database could have made it)",
        )
    try:
        certs = cp.certificates()
    except ValueError:
        certs = []
    if not certs:
        raise _refuse(
            cp,
            source,
            "không kèm chứng thư số đọc được",
            "it carries no readable certificate",
        )
    return cp.signature, certs[0], certs[1:]


def _bad_signature(
    cp: Checkpoint, source: Source, whose_vi: str, whose_en: str
) -> CheckpointRefusedError:
    return _refuse(
        cp,
        source,
        f"chữ ký không khớp khóa của {whose_vi} (điểm kiểm tra bị sửa hoặc chữ ký giả)",
        f"its signature does not verify with the key of {whose_en} "
        "(the checkpoint was edited or the signature forged)",
    )


def _time(cp: Checkpoint, source: Source) -> dt.datetime:
    when = cp.when()
    if when is None:
        raise _refuse(cp, source, "không ghi thời điểm đọc được", "it states no readable time")
    return when


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


@dataclass(frozen=True)
class OfficeCertificate:
    """Trust exactly these certificates' keys: the office's own, over its key changes.

    A checkpoint is accepted when its certificate has the same public key as one of
    ``certificates``, its signature verifies with that key, and that certificate was valid
    at the checkpoint's stated time. A certificate merely carrying the office's name is
    refused: anyone can make one.
    """

    certificates: tuple[x509.Certificate, ...]

    def __post_init__(self) -> None:
        if not self.certificates:
            raise ValueError("an OfficeCertificate anchor needs at least one certificate")

    @classmethod
    def from_file(cls, *paths: Path) -> OfficeCertificate:
        """Read PEM files; AuditAnchorError if unreadable or without an office certificate.

        Each file may hold several certificates (the office's over its key changes, or a
        ``[signing]`` cert file with its chain); CA certificates among them are left out:
        a chain file must not make the CA's key an office key.
        """
        found: list[x509.Certificate] = []
        for path in paths:
            try:
                found += [
                    cert
                    for cert in x509.load_pem_x509_certificates(path.read_bytes())
                    if not _is_ca(cert)
                ]
            except (OSError, ValueError) as exc:
                raise AuditAnchorError(
                    f"Không đọc được chứng thư số của cơ quan {path}: {exc}",
                    f"cannot read the office certificate {path}: {exc}",
                    step="audit trust anchor",
                ) from None
        if not found:
            raise AuditAnchorError(
                "Không có chứng thư số nào để làm neo tin cậy",
                "no certificate given as trust anchor",
                step="audit trust anchor",
            )
        return cls(tuple(found))

    def describe(self) -> str:
        subjects = "; ".join(dict.fromkeys(_subject(c) for c in self.certificates))
        return f"office certificate / chứng thư cơ quan: {subjects}"

    def accept(self, office_id: str, checkpoint: Checkpoint, source: Source) -> str:
        signature, leaf, _chain = _signed_parts(checkpoint, source)
        key = spki_sha256(leaf)
        pinned = [c for c in self.certificates if spki_sha256(c) == key]
        if not pinned:
            mine = ", ".join(sorted({spki_sha256(c)[:16] for c in self.certificates}))
            raise _refuse(
                checkpoint,
                source,
                f"được ký bởi {_subject(leaf)} (khóa {key[:16]}…), không phải chứng thư của "
                f"cơ quan (khóa {mine}…); chứng thư mang tên cơ quan thì ai cũng tạo được",
                f"it is signed by {_subject(leaf)} (key {key[:16]}…), not by the office "
                f"certificate (key {mine}…); a certificate with the office's name is "
                "something anyone can make",
            )
        if not signature_verifies(pinned[0].public_key(), signature, checkpoint.body):
            raise _bad_signature(checkpoint, source, "chứng thư cơ quan", "the office certificate")
        at = _time(checkpoint, source)
        if not any(c.not_valid_before_utc <= at <= c.not_valid_after_utc for c in pinned):
            c = pinned[0]
            raise _refuse(
                checkpoint,
                source,
                f"chứng thư cơ quan chỉ có hiệu lực {c.not_valid_before_utc:%Y-%m-%d} .. "
                f"{c.not_valid_after_utc:%Y-%m-%d}",
                f"the office certificate is valid only {c.not_valid_before_utc:%Y-%m-%d} .. "
                f"{c.not_valid_after_utc:%Y-%m-%d}",
            )
        return _subject(leaf)


@dataclass(frozen=True)
class TrustedRoots:
    """Trust certificates a policy's roots issued *for this office*, valid at the time.

    The checkpoint's certificate (and any chain it carries) must lead to one of
    ``policy.roots`` under the same rules as a received message, at the checkpoint's
    stated time (or ``policy.at`` when that is a fixed moment or "now"). Because a CA
    issues certificates to many offices, the certificate must also be bound to this office:
    its key listed for the office in ``policy.organ_ids`` when the policy has that map,
    else the office's OrganId as the subject's UID. A checkpoint time further ahead of
    the clock than ``policy.max_clock_skew`` is refused.
    """

    policy: TrustPolicy

    @classmethod
    def from_path(
        cls,
        roots: Path,
        *,
        organ_ids: Mapping[str, Collection[str]] | None = None,
        signers: Path | None = None,
    ) -> TrustedRoots:
        """Roots from a PEM bundle or folder, and optionally the signers map (a file or the
        map itself); TrustStoreError when they cannot be read."""
        return cls(TrustPolicy.from_path(roots, organ_ids=organ_ids, signers=signers))

    def describe(self) -> str:
        roots = "; ".join(_subject(c) for c in self.policy.roots)
        return f"trusted roots / CA gốc tin cậy: {roots}"

    def accept(self, office_id: str, checkpoint: Checkpoint, source: Source) -> str:
        signature, leaf, chain = _signed_parts(checkpoint, source)
        if not signature_verifies(leaf.public_key(), signature, checkpoint.body):
            raise _bad_signature(
                checkpoint, source, f"chứng thư {_subject(leaf)}", f"certificate {_subject(leaf)}"
            )
        stated = _time(checkpoint, source)
        now = dt.datetime.now(dt.UTC)
        if isinstance(self.policy.at, dt.datetime):
            at = self.policy.at
        elif self.policy.at == "now":
            at = now
        else:
            if stated > now + self.policy.max_clock_skew:
                raise _refuse(
                    checkpoint,
                    source,
                    "thời điểm ghi trong điểm kiểm tra nằm ở tương lai",
                    "its stated time lies in the future",
                )
            at = stated
        try:
            check_chain(
                leaf, chain, roots=self.policy.roots, at=at, key_usage=self.policy.key_usage
            )
        except UntrustedSigner as exc:
            raise _refuse(checkpoint, source, exc.vi, exc.en) from None
        if self.policy.organ_ids is not None:
            bound = office_id in self.policy.organ_ids.get(spki_sha256(leaf), frozenset())
        else:
            uids = leaf.subject.get_attributes_for_oid(NameOID.USER_ID)
            bound = any(attr.value == office_id for attr in uids)
        if not bound:
            raise _refuse(
                checkpoint,
                source,
                f"chứng thư {_subject(leaf)} do CA tin cậy cấp nhưng không phải cho cơ quan "
                f"{office_id} (thêm khóa vào [trust] signers, hoặc dùng --cert)",
                f"certificate {_subject(leaf)} chains to a trusted root but is not bound to "
                f"office {office_id} (list its key in [trust] signers, or use --cert)",
            )
        return _subject(leaf)


@dataclass(frozen=True)
class UnsafeNoAnchor:
    """Believe whatever certificate a checkpoint carries, and accept unsigned checkpoints.

    This is what verification did before anchors existed. It proves only that the log is
    consistent with itself: a log rewritten and re-signed with a self-made certificate
    passes. Use it only where no anchor can be known; verifying with it logs a warning.
    """

    def describe(self) -> str:
        return "NO TRUST ANCHOR / KHÔNG CÓ NEO TIN CẬY (internal consistency only)"

    def accept(self, office_id: str, checkpoint: Checkpoint, source: Source) -> str | None:
        if checkpoint.signature is None:
            return None
        signature, leaf, _chain = _signed_parts(checkpoint, source)
        if not signature_verifies(leaf.public_key(), signature, checkpoint.body):
            raise _refuse(
                checkpoint,
                source,
                "chữ ký không hợp lệ",
                f"the signature of checkpoint {checkpoint.tree_size} does not verify",
            )
        return _subject(leaf)


def load_anchor(
    *,
    cert: Path | Sequence[Path] | None = None,
    trust: Path | None = None,
    organ_map: Path | None = None,
) -> CheckpointAnchor:
    """The anchor a command line asks for: ``cert`` (pinned) or ``trust`` (roots).

    ``organ_map`` is the ``[trust] signers`` JSON ({spki-sha256: [OrganId, ...]}) that binds
    keys to offices under ``trust``. Raises :class:`AuditAnchorError` when neither or both
    are given: a verification without an anchor proves nothing, and two anchors would
    silently accept the weaker.
    """
    if cert is not None and trust is not None:
        raise AuditAnchorError(
            "Chỉ dùng một neo tin cậy: --cert hoặc --trust, không cả hai",
            "give one trust anchor: --cert or --trust, not both",
            step="audit trust anchor",
        )
    if cert is not None:
        paths = (cert,) if isinstance(cert, Path) else tuple(cert)
        return OfficeCertificate.from_file(*paths)
    if trust is not None:
        return TrustedRoots.from_path(trust, signers=organ_map)
    raise AuditAnchorError(
        "Cần neo tin cậy để kiểm tra nhật ký: --cert <chứng thư ký số của cơ quan> hoặc "
        "--trust <CA gốc>, hoặc cấu hình [signing] cert; chứng thư kèm trong điểm kiểm tra "
        "thì ai ghi được cơ sở dữ liệu cũng thay được",
        "a trust anchor is needed to verify the log: --cert <the office's signing "
        "certificate> or --trust <CA roots>, or a [signing] cert in the config; the "
        "certificate a checkpoint carries can be replaced by whoever writes the database",
        step="audit trust anchor",
    )
