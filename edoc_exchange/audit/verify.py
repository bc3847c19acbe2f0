"""Recompute an audit log from its records and name the first entry that is not right.

The verifier reads records in order, from the database or from an export file, and checks:

1. sequence numbers run 0, 1, 2, … (a gap is a deletion, a repeat an insertion);
2. each entry's content hashes to its stored hash (else it was edited);
3. the content's own sequence number and office match the record (else it was moved);
4. each entry names the previous entry's hash (else something was inserted, removed or
   edited before it and the chain re-hashed);
5. at each checkpoint (from the database, the export, or the checkpoint file), the Merkle
   root of the entries so far equals the signed root, and the trust anchor accepts the
   checkpoint's signer (else the chain was rewritten, or re-signed by someone else);
6. no checkpoint claims more entries than there are (else the log was truncated);
7. the head row, when given, records exactly the entries found (else the end was cut);
8. coverage: at most ``max_uncovered`` entries, none older than ``max_uncovered_age``,
   follow the last valid checkpoint (they are protected by nothing but the database).

It needs O(log n) memory: Merkle roots are folded as entries stream by.

A live log is read as plain tuples through the driver's cursor (:func:`verify_rows`) and
checked in one tight loop: the C JSON scanner, two SHA-256 per entry and the Merkle fold,
no object per entry. Any entry that is not plainly right there is handed to the reference
checks (:meth:`_Verifier.entry`, which :func:`verify_records` uses for exports), so both
paths accept and refuse exactly the same logs, with the same message (a test holds it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import merkle
from ._errors import (
    AuditVerificationError,
    CheckpointRefusedError,
    Source,
    UncoveredEntriesError,
)
from .anchor import CheckpointAnchor, UnsafeNoAnchor
from .checkpoint import Checkpoint
from .entry import GENESIS, AuditEntry
from .merkle import MerkleAccumulator

__all__ = [
    "DEFAULT_MAX_UNCOVERED",
    "AuditReport",
    "AuditVerificationError",
    "LeafRecord",
    "MerkleAccumulator",
    "Row",
    "UnanchoredAuditWarning",
    "verify_records",
    "verify_rows",
]

log = logging.getLogger("edoc.audit")

#: Entries allowed after the last checkpoint unless the caller says otherwise: the daemon's
#: default ``checkpoint_every``. Callers that know the office's setting pass it.
DEFAULT_MAX_UNCOVERED = 100


class UnanchoredAuditWarning(UserWarning):
    """A log was verified without a trust anchor: the result proves internal consistency only."""


@dataclass(frozen=True, slots=True)
class LeafRecord:
    """An entry known only by its hashes (outside an export's date range)."""

    seq: int
    prev_hash: str
    entry_hash: str
    leaf_hash: bytes


@dataclass
class AuditReport:
    """What a successful verification established, and what it could not."""

    office_id: str
    entries: int = 0
    full_entries: int = 0
    checkpoints: int = 0
    signed_checkpoints: int = 0
    root_hash: str = merkle.tree_root([]).hex()
    last_entry_hash: str = GENESIS
    signers: list[str] = field(default_factory=list)
    #: The trust anchor checkpoints were checked against.
    anchor: str = ""
    #: Checkpoints read from the checkpoint file and found in the log.
    filed_checkpoints: int = 0
    #: Entries after the last valid checkpoint (protected by the database alone).
    uncovered: int = 0
    #: The newest valid checkpoint: its size and the time it states.
    last_checkpoint_size: int | None = None
    last_checkpoint_time: str | None = None
    #: The export format read (None for the database).
    format: str | None = None
    #: What this verification could not establish, one bilingual sentence each.
    limitations: list[str] = field(default_factory=list)

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
            "anchor": self.anchor,
            "filed_checkpoints": self.filed_checkpoints,
            "uncovered": self.uncovered,
            "last_checkpoint_size": self.last_checkpoint_size,
            "last_checkpoint_time": self.last_checkpoint_time,
            "format": self.format,
            "limitations": self.limitations,
        }


def _bad(seq: int | None, vi: str, en: str) -> AuditVerificationError:
    return AuditVerificationError(seq, vi, en)


def _check_checkpoint(
    cp: Checkpoint, acc: MerkleAccumulator, prev: str, office: str, source: Source
) -> None:
    """The checkpoint's copies match its signed body, and the body matches the log."""
    body = cp.fields()
    if (
        body.get("tree_size") != cp.tree_size
        or body.get("root_hash") != cp.root_hash
        or body.get("office") != office
        or cp.office_id != office
    ):
        raise CheckpointRefusedError(
            cp.tree_size,
            cp.time,
            source,
            vi=f"điểm kiểm tra {cp.tree_size} bị sửa (các trường khác nội dung đã ký)",
            en=f"checkpoint {cp.tree_size} was edited (its fields differ from its body)",
        )
    frontier = body.get("frontier")
    if (
        acc.root().hex() != cp.root_hash
        or body.get("last_entry_hash") != prev
        or (frontier is not None and frontier != [h.hex() for h in acc.frontier()])
    ):
        raise _bad(
            cp.tree_size - 1 if cp.tree_size else None,
            f"Các mục 0..{cp.tree_size - 1} không khớp điểm kiểm tra đã ký {cp.tree_size} "
            f"({cp.time}, {source.vi}) (nhật ký bị viết lại trước mục {cp.tree_size})",
            f"entries 0..{cp.tree_size - 1} do not match the signed checkpoint "
            f"{cp.tree_size} ({cp.time}, {source.en}) "
            f"(the log was rewritten before entry {cp.tree_size})",
        )


def _entry_time(body: dict[str, Any]) -> dt.datetime | None:
    try:
        value = dt.datetime.fromisoformat(str(body["time"]).replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return None
    return value if value.tzinfo is not None else None


def _resolve_anchor(anchor: CheckpointAnchor | None) -> tuple[CheckpointAnchor, bool]:
    """The anchor to use and whether coverage is enforced (not for the legacy default)."""
    if anchor is None:
        warnings.warn(
            UnanchoredAuditWarning(
                "audit log verified without a trust anchor: pass anchor=OfficeCertificate(...) "
                "or TrustedRoots(...); the result proves internal consistency only"
            ),
            stacklevel=5,
        )
        return UnsafeNoAnchor(), False
    if isinstance(anchor, UnsafeNoAnchor):
        log.warning("audit log verified with UnsafeNoAnchor: internal consistency only")
    return anchor, True


#: One stored entry as the database's cursor gives it: (seq, prev_hash, entry_hash, body).
Row = tuple[int, str, str, bytes]

_LEAF_PREFIX = hashlib.sha256(b"\x00")  # copied, never updated: RFC 6962's leaf prefix


class _Verifier:
    """The state of one verification: what the next entry must be, the Merkle frontier of
    the entries so far and the checkpoints still due, and the report being filled."""

    def __init__(
        self,
        office_id: str,
        anchor: CheckpointAnchor,
        checkpoints: Sequence[Checkpoint],
        filed: Sequence[Checkpoint],
        source: Source,
    ) -> None:
        self.office_id = office_id
        self.anchor = anchor
        self.report = AuditReport(office_id=office_id, anchor=anchor.describe())
        tagged = [(cp, source) for cp in checkpoints] + [(cp, Source.FILE) for cp in filed]
        self.due: Iterator[tuple[Checkpoint, Source]] = iter(
            sorted(tagged, key=lambda item: item[0].tree_size)
        )
        self.next_cp = next(self.due, None)
        self.acc = MerkleAccumulator()
        self.prev = GENESIS
        self.expected = 0
        self.first_uncovered: dt.datetime | None = None
        self.settle()

    @property
    def next_size(self) -> int:
        """The size at which the next checkpoint is due (-1: none is)."""
        return self.next_cp[0].tree_size if self.next_cp is not None else -1

    def settle(self) -> None:
        """Check every checkpoint of the current size (step 5)."""
        report = self.report
        while self.next_cp is not None and self.next_cp[0].tree_size == self.acc.size:
            cp, where = self.next_cp
            _check_checkpoint(cp, self.acc, self.prev, self.office_id, where)
            subject = self.anchor.accept(self.office_id, cp, where)
            if where is Source.FILE:
                report.filed_checkpoints += 1
            else:
                report.checkpoints += 1
                if cp.signature is not None:
                    report.signed_checkpoints += 1
            if subject is not None and subject not in report.signers:
                report.signers.append(subject)
            report.last_checkpoint_size, report.last_checkpoint_time = cp.tree_size, cp.time
            self.first_uncovered = None
            self.next_cp = next(self.due, None)

    def _in_order(self, seq: int) -> None:
        """Step 1: the record is the next one."""
        expected = self.expected
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

    def _follows(self, seq: int, prev_hash: str, entry_hash: str, leaf: bytes) -> None:
        """Step 4, then the record joins the chain and the tree."""
        if prev_hash != self.prev:
            raise _bad(
                seq,
                f"Mục {seq} không nối tiếp mục {seq - 1}: có mục bị chèn, xóa hoặc sửa trước nó",
                f"entry {seq} does not follow entry {seq - 1}: an entry was inserted, "
                "removed or edited before it",
            )
        self.prev = entry_hash
        self.acc.append(leaf)
        self.expected += 1
        self.settle()

    def entry(self, seq: int, prev_hash: str, entry_hash: str, body: bytes) -> None:
        """One whole entry, every check in the order stated at the top of this module.

        The reference: :meth:`rows` does the same work faster and comes here for any entry
        that is not plainly right, so the two cannot differ in what they accept or report.
        """
        self._in_order(seq)
        if hashlib.sha256(body).hexdigest() != entry_hash:
            raise _bad(
                seq,
                f"Mục {seq} bị sửa: nội dung không khớp mã băm đã lưu",
                f"entry {seq} was edited: its content does not match its hash",
            )
        try:
            fields = json.loads(body)
        except ValueError:
            raise _bad(seq, f"Mục {seq} không phải JSON", f"entry {seq} is not JSON") from None
        if not isinstance(fields, dict):
            raise _bad(
                seq, f"Mục {seq} không phải đối tượng JSON", f"entry {seq} is not a JSON object"
            )
        if fields.get("seq") != seq or fields.get("office") != self.office_id:
            raise _bad(
                seq,
                f"Mục {seq} nằm sai chỗ: nội dung ghi số {fields.get('seq')} "
                f"của {fields.get('office')} (bị đảo thứ tự hoặc chèn)",
                f"entry {seq} is out of place: its content says entry {fields.get('seq')} "
                f"of {fields.get('office')} (reordered or inserted)",
            )
        if fields.get("prev") != prev_hash:
            raise _bad(
                seq,
                f"Mục {seq} bị sửa: mã băm trước không khớp",
                f"entry {seq} was edited: its previous-hash field differs",
            )
        self.report.full_entries += 1
        if self.first_uncovered is None:
            self.first_uncovered = _entry_time(fields)
        self._follows(seq, prev_hash, entry_hash, merkle.leaf_hash(body))

    def leaf(self, record: LeafRecord) -> None:
        """An entry known by its hashes only (an export's entry outside its period)."""
        self._in_order(record.seq)
        self._follows(record.seq, record.prev_hash, record.entry_hash, record.leaf_hash)

    def rows(self, rows: Iterable[Row]) -> None:
        """Whole entries as the cursor gives them, checked in one tight loop.

        An entry passes here only if every check of :meth:`entry` would pass it, with the
        same effect: it is the next one, its body hashes to its hash and is one JSON object
        (the scanner read all of it) naming this sequence number, office and previous hash,
        and that hash is the previous entry's. Anything else goes to :meth:`entry`, which
        names the problem (or accepts what merely looked unusual, such as trailing blanks).
        """
        office = self.office_id
        sha256 = hashlib.sha256
        copy_leaf_prefix = _LEAF_PREFIX.copy
        # The C scanner json.loads runs, without its wrapping (an instance attribute that
        # typeshed does not list): (value, end) of the JSON value starting at an index.
        scan: Callable[[str, int], tuple[Any, int]] = vars(json.JSONDecoder())["scan_once"]
        leaves: list[bytes] = []
        add_leaf = leaves.append
        n, prev, due = self.expected, self.prev, self.next_size
        need_time = self.first_uncovered is None
        whole = 0
        for seq, prev_hash, entry_hash, body in rows:
            try:
                text = body.decode()
                fields, end = scan(text, 0)
            except (ValueError, StopIteration):
                text, fields, end = "", None, -1
            if (
                seq != n
                or prev_hash != prev
                or end != len(text)
                or type(fields) is not dict
                or sha256(body).hexdigest() != entry_hash
                or fields.get("seq") != seq
                or fields.get("office") != office
                or fields.get("prev") != prev_hash
            ):
                self.acc.extend(leaves)
                leaves.clear()
                self.expected, self.prev, self.report.full_entries = (
                    n,
                    prev,
                    self.report.full_entries + whole,
                )
                whole = 0
                self.entry(seq, prev_hash, entry_hash, body)  # raises, or accepts it
                n, prev, due = self.expected, self.prev, self.next_size
                need_time = self.first_uncovered is None
                continue
            digest = copy_leaf_prefix()
            digest.update(body)
            add_leaf(digest.digest())
            whole += 1
            if need_time:
                self.first_uncovered = _entry_time(fields)
                need_time = self.first_uncovered is None
            prev = entry_hash
            n += 1
            if n == due:
                self.acc.extend(leaves)
                leaves.clear()
                self.expected, self.prev = n, prev
                self.settle()
                due = self.next_size
                need_time = self.first_uncovered is None
        self.acc.extend(leaves)
        self.expected, self.prev = n, prev
        self.report.full_entries += whole

    def finish(self, head: tuple[int, str] | None) -> AuditReport:
        """Steps 6 and 7; the report, coverage not yet checked."""
        expected, prev, report = self.expected, self.prev, self.report
        if self.next_cp is not None:
            cp, where = self.next_cp
            raise _bad(
                expected,
                f"Nhật ký bị cắt: điểm kiểm tra {cp.tree_size} ({cp.time}, {where.vi}) ghi "
                f"{cp.tree_size} mục, chỉ còn {expected}",
                f"the log was truncated: checkpoint {cp.tree_size} ({cp.time}, {where.en}) "
                f"records {cp.tree_size} entries, only {expected} remain",
            )
        if head is not None and (head[0] != expected or head[1] != prev):
            raise _bad(
                expected,
                f"Đầu nhật ký ghi {head[0]} mục nhưng có {expected}: mục cuối bị xóa hoặc sửa",
                f"the log head records {head[0]} entries but {expected} exist: "
                "entries at the end were deleted or edited",
            )
        report.entries = expected
        report.root_hash = self.acc.root().hex()
        report.last_entry_hash = prev
        report.uncovered = expected - (report.last_checkpoint_size or 0)
        return report


def verify_records(
    office_id: str,
    records: Iterable[AuditEntry | LeafRecord],
    checkpoints: Sequence[Checkpoint],
    *,
    head: tuple[int, str] | None = None,
    anchor: CheckpointAnchor | None = None,
    filed: Sequence[Checkpoint] = (),
    source: Source = Source.DATABASE,
    max_uncovered: int | None = DEFAULT_MAX_UNCOVERED,
    max_uncovered_age: dt.timedelta | None = None,
    now: dt.datetime | None = None,
) -> AuditReport:
    """Verify a log; raise :class:`AuditVerificationError` naming the first bad entry.

    ``anchor`` decides who may sign checkpoints (:mod:`.anchor`); every checkpoint, from
    ``checkpoints`` (read from ``source``) and from ``filed`` (the checkpoint file), must
    be accepted by it and match the log, and the log must reach every one of them.
    ``head`` is the database's (size, last hash) record, when verifying a live database: it
    catches entries deleted from the end after the last checkpoint. Coverage: more than
    ``max_uncovered`` entries after the last checkpoint (None: no limit), or the first of
    them older than ``max_uncovered_age`` before ``now``, raise
    :class:`UncoveredEntriesError`.

    ``anchor=None`` is the call as it was before anchors: carried certificates are
    believed, unsigned checkpoints and any coverage pass, and an
    :class:`UnanchoredAuditWarning` is issued. It will become a required argument.
    """

    def feed(verifier: _Verifier) -> None:
        for record in records:
            if isinstance(record, AuditEntry):
                verifier.entry(record.seq, record.prev_hash, record.entry_hash, record.body)
            else:
                verifier.leaf(record)

    return _verify(
        office_id,
        feed,
        checkpoints,
        head=head,
        anchor=anchor,
        filed=filed,
        source=source,
        max_uncovered=max_uncovered,
        max_uncovered_age=max_uncovered_age,
        now=now,
    )


def verify_rows(
    office_id: str,
    chunks: Iterable[Iterable[Row]],
    checkpoints: Sequence[Checkpoint],
    *,
    head: tuple[int, str] | None = None,
    anchor: CheckpointAnchor | None = None,
    filed: Sequence[Checkpoint] = (),
    source: Source = Source.DATABASE,
    max_uncovered: int | None = DEFAULT_MAX_UNCOVERED,
    max_uncovered_age: dt.timedelta | None = None,
    now: dt.datetime | None = None,
) -> AuditReport:
    """:func:`verify_records` over whole entries given as plain tuples, in chunks.

    ``chunks`` yields sequences of ``(seq, prev_hash, entry_hash, body)`` in sequence order,
    as a database cursor's ``fetchmany`` gives them (``body``: the canonical JSON's bytes).
    The same checks and the same errors; the fast path for a live log.
    """

    def feed(verifier: _Verifier) -> None:
        for chunk in chunks:
            verifier.rows(chunk)

    return _verify(
        office_id,
        feed,
        checkpoints,
        head=head,
        anchor=anchor,
        filed=filed,
        source=source,
        max_uncovered=max_uncovered,
        max_uncovered_age=max_uncovered_age,
        now=now,
    )


def _verify(
    office_id: str,
    feed: Callable[[_Verifier], None],
    checkpoints: Sequence[Checkpoint],
    *,
    head: tuple[int, str] | None,
    anchor: CheckpointAnchor | None,
    filed: Sequence[Checkpoint],
    source: Source,
    max_uncovered: int | None,
    max_uncovered_age: dt.timedelta | None,
    now: dt.datetime | None,
) -> AuditReport:
    resolved, enforce = _resolve_anchor(anchor)
    verifier = _Verifier(office_id, resolved, checkpoints, filed, source)
    feed(verifier)
    report = verifier.finish(head)
    if enforce:
        _check_coverage(
            report,
            report.last_checkpoint_size or 0,
            max_uncovered,
            max_uncovered_age,
            verifier.first_uncovered,
            now,
        )
    return report


def _check_coverage(
    report: AuditReport,
    covered: int,
    max_uncovered: int | None,
    max_age: dt.timedelta | None,
    first_uncovered: dt.datetime | None,
    now: dt.datetime | None,
) -> None:
    """Refuse entries that no valid checkpoint protects, beyond what the caller allows."""
    last = report.entries - 1
    what_vi = f"Các mục {covered}..{last} ({report.uncovered} mục)"
    what_en = f"entries {covered}..{last} ({report.uncovered})"
    since_vi = (
        f"sau điểm kiểm tra {covered} ({report.last_checkpoint_time})"
        if report.last_checkpoint_size is not None
        else "khi chưa có điểm kiểm tra hợp lệ nào"
    )
    since_en = (
        f"after checkpoint {covered} ({report.last_checkpoint_time})"
        if report.last_checkpoint_size is not None
        else "with no valid checkpoint at all"
    )
    advice_vi = (
        "chúng chỉ được cơ sở dữ liệu bảo vệ (ai ghi được là sửa được); nếu tiến trình nền "
        "vẫn chạy bình thường thì điểm kiểm tra đã bị xóa; chạy `edoc audit checkpoint` rồi "
        "kiểm tra lại"
    )
    advice_en = (
        "they are protected by nothing but the database (whoever can write it could have "
        "changed them); if the daemon runs normally, checkpoints were deleted; run "
        "`edoc audit checkpoint` and verify again"
    )
    if max_uncovered is not None and report.uncovered > max_uncovered:
        raise UncoveredEntriesError(
            covered,
            f"{what_vi} {since_vi} không được điểm kiểm tra đã ký nào bảo vệ (tối đa "
            f"{max_uncovered}): {advice_vi}",
            f"{what_en} {since_en} are not covered by any signed checkpoint (at most "
            f"{max_uncovered} may be): {advice_en}",
        )
    if max_age is not None and first_uncovered is not None and report.uncovered:
        limit = (now or dt.datetime.now(dt.UTC)) - max_age
        if first_uncovered < limit:
            raise UncoveredEntriesError(
                covered,
                f"{what_vi} {since_vi}, từ {first_uncovered:%Y-%m-%d %H:%M} UTC, chưa được "
                f"điểm kiểm tra đã ký nào bảo vệ sau {max_age}: {advice_vi}",
                f"{what_en} {since_en}, the first from {first_uncovered:%Y-%m-%d %H:%M} UTC, "
                f"have gone uncovered by a signed checkpoint for longer than {max_age}: "
                f"{advice_en}",
            )
