"""Recompute an audit log from its records and name the first entry that is not right.

The verifier reads records in order, from the database or from an export file, and checks:

1. sequence numbers run 0, 1, 2, … (a gap is a deletion, a repeat an insertion);
2. each entry's content hashes to its stored hash (else it was edited);
3. the content's own sequence number and office match the record (else it was moved);
4. each entry names the previous entry's hash (else something was inserted, removed or
   edited before it and the chain re-hashed);
5. at each checkpoint, the Merkle root of the entries so far equals the signed root and the
   checkpoint's signature verifies with its certificate (else the chain was rewritten);
6. no checkpoint claims more entries than there are (else the log was truncated).

It needs O(log n) memory: Merkle roots are folded as entries stream by.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from ..errors import EdocError
from . import merkle
from .log import GENESIS, AuditEntry, Checkpoint

__all__ = [
    "AuditReport",
    "AuditVerificationError",
    "LeafRecord",
    "MerkleAccumulator",
    "verify_records",
]


class AuditVerificationError(EdocError):
    """The log is not intact; ``seq`` is the first entry found wrong (None: the log as a whole)."""

    def __init__(self, seq: int | None, vi: str, en: str) -> None:
        self.seq = seq
        super().__init__(vi, en, step=f"audit entry {seq}" if seq is not None else "audit log")


@dataclass(frozen=True, slots=True)
class LeafRecord:
    """An entry known only by its hashes (outside an export's date range)."""

    seq: int
    prev_hash: str
    entry_hash: str
    leaf_hash: bytes


@dataclass
class AuditReport:
    """What a successful verification established."""

    office_id: str
    entries: int = 0
    full_entries: int = 0
    checkpoints: int = 0
    signed_checkpoints: int = 0
    root_hash: str = merkle.tree_root([]).hex()
    last_entry_hash: str = GENESIS
    signers: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready view for ``edoc audit verify --json``."""
        return {
            "office_id": self.office_id,
            "entries": self.entries,
            "full_entries": self.full_entries,
            "checkpoints": self.checkpoints,
            "signed_checkpoints": self.signed_checkpoints,
            "root_hash": self.root_hash,
            "last_entry_hash": self.last_entry_hash,
            "signers": self.signers,
        }


class MerkleAccumulator:
    """Appends leaf hashes and gives the RFC 6962 root of everything so far."""

    def __init__(self) -> None:
        self._stack: list[tuple[int, bytes]] = []
        self.size = 0

    def append(self, leaf: bytes) -> None:
        size, digest = 1, leaf
        while self._stack and self._stack[-1][0] == size:
            left_size, left = self._stack.pop()
            size, digest = left_size + size, merkle.node_hash(left, digest)
        self._stack.append((size, digest))
        self.size += 1

    def root(self) -> bytes:
        if not self._stack:
            return merkle.EMPTY_ROOT
        digest = self._stack[-1][1]
        for _, left in reversed(self._stack[:-1]):
            digest = merkle.node_hash(left, digest)
        return digest


def _bad(seq: int | None, vi: str, en: str) -> AuditVerificationError:
    return AuditVerificationError(seq, vi, en)


def _check_signature(cp: Checkpoint) -> str:
    """Verify a checkpoint signature with its certificate; return the signer's subject."""
    assert cp.signature is not None
    if cp.certificate is None:
        raise _bad(
            None,
            f"Điểm kiểm tra {cp.tree_size} có chữ ký nhưng thiếu chứng thư",
            f"checkpoint {cp.tree_size} is signed but carries no certificate",
        )
    cert = x509.load_pem_x509_certificate(cp.certificate)
    key = cert.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(cp.signature, cp.body, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(cp.signature, cp.body, ec.ECDSA(hashes.SHA256()))
        else:
            raise InvalidSignature
    except InvalidSignature:
        raise _bad(
            None,
            f"Chữ ký của điểm kiểm tra {cp.tree_size} không hợp lệ",
            f"the signature of checkpoint {cp.tree_size} does not verify",
        ) from None
    return cert.subject.rfc4514_string()


def _check_checkpoint(cp: Checkpoint, acc: MerkleAccumulator, prev: str, office: str) -> None:
    body = json.loads(cp.body)
    if (
        body.get("tree_size") != cp.tree_size
        or body.get("root_hash") != cp.root_hash
        or body.get("office") != office
    ):
        raise _bad(
            None,
            f"Nội dung điểm kiểm tra {cp.tree_size} bị sửa",
            f"checkpoint {cp.tree_size} was edited (its fields differ from its body)",
        )
    if acc.root().hex() != cp.root_hash or body.get("last_entry_hash") != prev:
        raise _bad(
            cp.tree_size - 1 if cp.tree_size else None,
            f"Các mục 0..{cp.tree_size - 1} không khớp điểm kiểm tra đã ký "
            f"(nhật ký bị viết lại trước mục {cp.tree_size})",
            f"entries 0..{cp.tree_size - 1} do not match the signed checkpoint "
            f"(the log was rewritten before entry {cp.tree_size})",
        )


def verify_records(
    office_id: str,
    records: Iterable[AuditEntry | LeafRecord],
    checkpoints: Sequence[Checkpoint],
    *,
    head: tuple[int, str] | None = None,
) -> AuditReport:
    """Verify a log; raise :class:`AuditVerificationError` naming the first bad entry.

    ``head`` is the database's (size, last hash) record, when verifying a live database: it
    catches entries deleted from the end after the last checkpoint.
    """
    report = AuditReport(office_id=office_id)
    pending: Iterator[Checkpoint] = iter(sorted(checkpoints, key=lambda c: c.tree_size))
    next_cp = next(pending, None)
    acc = MerkleAccumulator()
    prev = GENESIS
    expected = 0

    def settle() -> None:
        nonlocal next_cp
        while next_cp is not None and next_cp.tree_size == acc.size:
            _check_checkpoint(next_cp, acc, prev, office_id)
            report.checkpoints += 1
            if next_cp.signature is not None:
                subject = _check_signature(next_cp)
                report.signed_checkpoints += 1
                if subject not in report.signers:
                    report.signers.append(subject)
            next_cp = next(pending, None)

    settle()
    for record in records:
        seq = record.seq
        if seq > expected:
            raise _bad(
                expected,
                f"Thiếu mục {expected}..{seq - 1} (đã bị xóa)",
                f"entries {expected}..{seq - 1} are missing (deleted)",
            )
        if seq < expected:
            raise _bad(
                seq,
                f"Mục {seq} xuất hiện lại (bị chèn hoặc đảo thứ tự)",
                f"entry {seq} appears again (inserted or reordered)",
            )
        if isinstance(record, AuditEntry):
            if hashlib.sha256(record.body).hexdigest() != record.entry_hash:
                raise _bad(
                    seq,
                    f"Mục {seq} bị sửa: nội dung không khớp mã băm đã lưu",
                    f"entry {seq} was edited: its content does not match its hash",
                )
            try:
                body = json.loads(record.body)
            except ValueError:
                raise _bad(seq, f"Mục {seq} không phải JSON", f"entry {seq} is not JSON") from None
            if body.get("seq") != seq or body.get("office") != office_id:
                raise _bad(
                    seq,
                    f"Mục {seq} nằm sai chỗ: nội dung ghi số {body.get('seq')} "
                    f"của {body.get('office')} (bị đảo thứ tự hoặc chèn)",
                    f"entry {seq} is out of place: its content says entry {body.get('seq')} "
                    f"of {body.get('office')} (reordered or inserted)",
                )
            if body.get("prev") != record.prev_hash:
                raise _bad(
                    seq,
                    f"Mục {seq} bị sửa: mã băm trước không khớp",
                    f"entry {seq} was edited: its previous-hash field differs",
                )
            leaf = merkle.leaf_hash(record.body)
            report.full_entries += 1
        else:
            leaf = record.leaf_hash
        if record.prev_hash != prev:
            raise _bad(
                seq,
                f"Mục {seq} không nối tiếp mục {seq - 1}: có mục bị chèn, xóa hoặc sửa trước nó",
                f"entry {seq} does not follow entry {seq - 1}: an entry was inserted, "
                "removed or edited before it",
            )
        prev = record.entry_hash
        acc.append(leaf)
        expected += 1
        settle()
    if next_cp is not None:
        raise _bad(
            expected,
            f"Nhật ký bị cắt: điểm kiểm tra ghi {next_cp.tree_size} mục, chỉ còn {expected}",
            f"the log was truncated: a checkpoint records {next_cp.tree_size} entries, "
            f"only {expected} remain",
        )
    if head is not None and (head[0] != expected or head[1] != prev):
        raise _bad(
            expected,
            f"Đầu nhật ký ghi {head[0]} mục nhưng có {expected}: mục cuối bị xóa hoặc sửa",
            f"the log head records {head[0]} entries but {expected} exist: "
            "entries at the end were deleted or edited",
        )
    report.entries = expected
    report.root_hash = acc.root().hex()
    report.last_entry_hash = prev
    return report
