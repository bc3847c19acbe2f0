"""A signed checkpoint: the office's log had ``tree_size`` entries with this Merkle root.

The signed ``body`` is canonical JSON; everything else (the row's columns, a JSON line's
fields) is a copy for convenience and is compared with the body before it is believed.
The same JSON record carries a checkpoint in an export and in the checkpoint file.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from . import merkle

__all__ = ["Checkpoint", "signature_verifies"]


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed statement: the office's log had ``tree_size`` entries with this root."""

    office_id: str
    tree_size: int
    root_hash: str
    body: bytes
    signature: bytes | None
    certificate: bytes | None

    def fields(self) -> dict[str, Any]:
        """The signed body, decoded; ``{}`` when it is not a JSON object."""
        try:
            decoded = json.loads(self.body)
        except ValueError:
            return {}
        return decoded if isinstance(decoded, dict) else {}

    @property
    def time(self) -> str | None:
        """When the checkpoint says it was made (ISO 8601 UTC), as signed."""
        value = self.fields().get("time")
        return value if isinstance(value, str) else None

    def when(self) -> dt.datetime | None:
        """:attr:`time` as an aware datetime, None when missing or malformed."""
        text = self.time
        if text is None:
            return None
        try:
            value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        return value if value.tzinfo is not None else None

    def accumulator(self) -> merkle.MerkleAccumulator | None:
        """The Merkle state the body records, if it records one that folds to its root.

        Checkpoints made before the frontier was kept (or edited ones) give None; a caller
        then has to recompute from the first entry.
        """
        body = self.fields()
        frontier = body.get("frontier")
        if not isinstance(frontier, list) or body.get("tree_size") != self.tree_size:
            return None
        try:
            acc = merkle.MerkleAccumulator.from_frontier(
                self.tree_size, [bytes.fromhex(str(h)) for h in frontier]
            )
        except ValueError:
            return None
        return acc if acc.root().hex() == body.get("root_hash") else None

    def certificates(self) -> list[x509.Certificate]:
        """The signer's certificate, then any chain it carries; ValueError when unreadable."""
        if not self.certificate:
            return []
        return list(_load_certificates(self.certificate))

    def to_record(self) -> dict[str, Any]:
        """The JSON line that carries this checkpoint in an export or the checkpoint file."""
        return {
            "type": "checkpoint",
            "office": self.office_id,
            "tree_size": self.tree_size,
            "root_hash": self.root_hash,
            "body": self.body.decode("utf-8"),
            "signature": base64.b64encode(self.signature).decode() if self.signature else None,
            "certificate": self.certificate.decode() if self.certificate else None,
        }

    @classmethod
    def from_record(cls, item: Mapping[str, Any], office_id: str | None = None) -> Checkpoint:
        """Read a JSON line back; KeyError/ValueError/TypeError when it is malformed.

        ``office_id`` fills in the office for records of format 1 exports, which did not
        repeat it on every line.
        """
        office = item.get("office", office_id)
        if not isinstance(office, str):
            raise ValueError("the checkpoint names no office")
        signature = item.get("signature")
        certificate = item.get("certificate")
        return cls(
            office,
            int(item["tree_size"]),
            str(item["root_hash"]),
            str(item["body"]).encode("utf-8"),
            base64.b64decode(signature, validate=True) if signature else None,
            str(certificate).encode() if certificate else None,
        )


@functools.lru_cache(maxsize=16)
def _load_certificates(pem: bytes) -> tuple[x509.Certificate, ...]:
    """Parsed once per distinct PEM: every checkpoint of a key carries the same one, and a
    log of a million entries has ten thousand checkpoints. Certificates are immutable."""
    return tuple(x509.load_pem_x509_certificates(pem))


def signature_verifies(key: Any, signature: bytes, data: bytes) -> bool:
    """Whether ``signature`` over ``data`` verifies with ``key`` (RSA PKCS#1 v1.5 or ECDSA,
    SHA-256: what :func:`~edoc_exchange.signing.sign_data` makes); False for other keys."""
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        else:
            return False
    except InvalidSignature:
        return False
    return True
