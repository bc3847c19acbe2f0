"""Verify the live log, export it for an inspector, verify an export offline, prove an entry.

An export (format ``edoc-audit/2``) is JSON lines: a header announcing how many entries
follow, then one record per entry in sequence order — the whole entry inside the date
range, only its hashes outside it (so the inspector can recompute every checkpoint without
seeing unrelated documents) — then the checkpoints, the last of which is signed and covers
the last entry. A file cut anywhere therefore lacks that closing checkpoint, or ends in a
broken line, and is refused. Format ``edoc-audit/1`` (no announced size, no closing
checkpoint) is still read, with a statement of what it cannot prove.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import Connection, bindparam, func, select

from ..store.db import Database, translate_error
from ..store.tables import audit_heads, inbox, outbox
from . import merkle
from ._errors import AuditExportError, AuditVerificationError, CheckpointRefusedError, Source
from .anchor import CheckpointAnchor
from .checkpoint import Checkpoint
from .checkpoint_file import FiledCheckpoints, read_checkpoints
from .log import (
    GENESIS,
    AuditEntry,
    CheckpointSigner,
    checkpoints,
    entries,
    latest_checkpoint,
    make_checkpoint,
)
from .verify import DEFAULT_MAX_UNCOVERED, AuditReport, LeafRecord, Row, verify_records, verify_rows

__all__ = [
    "EXPORT_FORMAT",
    "EXPORT_FORMAT_1",
    "InclusionProof",
    "export_log",
    "prove",
    "verify_database",
    "verify_export",
]

#: The format written: format 1 plus the announced size and the closing checkpoint.
EXPORT_FORMAT = "edoc-audit/2"
#: The format written before issue 10, still read.
EXPORT_FORMAT_1 = "edoc-audit/1"

_NO_FILE_VI = (
    "Không có tệp điểm kiểm tra: nếu nhật ký bị xóa hoặc viết lại cùng mọi điểm kiểm tra và "
    "đầu nhật ký thì không phân biệt được với một nhật ký mới"
)
_NO_FILE_EN = (
    "no checkpoint file given: a log wiped or rewritten together with all its checkpoints "
    "and its head cannot be told from a new log"
)


def _say(vi: str, en: str) -> str:
    return f"{vi} ({en})"


def _filed_notes(filed: FiledCheckpoints | None, report: AuditReport) -> None:
    if filed is None:
        report.limitations.append(_say(_NO_FILE_VI, _NO_FILE_EN))
        return
    if filed.unreadable_lines:
        lines = ", ".join(str(n) for n in filed.unreadable_lines)
        report.limitations.append(
            _say(
                f"{filed.path}: bỏ qua các dòng không đọc được {lines}",
                f"{filed.path}: unreadable lines skipped: {lines}",
            )
        )
    if not filed.checkpoints:
        report.limitations.append(
            _say(
                f"{filed.path} không có điểm kiểm tra nào của cơ quan {report.office_id}",
                f"{filed.path} holds no checkpoint of office {report.office_id}",
            )
        )


_HEAD = select(audit_heads.c.size, audit_heads.c.last_hash).where(
    audit_heads.c.office_id == bindparam("office_id")
)


def _count_documents(conn: Connection, office_id: str) -> int:
    total = 0
    for table in (inbox, outbox):
        total += conn.execute(
            select(func.count()).select_from(table).where(table.c.office_id == office_id)
        ).scalar_one()
    return int(total)


#: The entries as :func:`~.verify.verify_rows` takes them, bodies as bytes (SQLite hands
#: back whatever bytes the column holds, so a body that is not UTF-8 is reported, not a
#: driver error; PostgreSQL's text is UTF-8 by construction).
_ROWS_SQL = {
    "sqlite": "SELECT seq, prev_hash, entry_hash, CAST(body AS BLOB) FROM audit_entries "
    "WHERE office_id = ? ORDER BY seq",
    "postgresql": "SELECT seq, prev_hash, entry_hash, convert_to(body, 'UTF8') "
    "FROM audit_entries WHERE office_id = %s ORDER BY seq",
}
#: Rows fetched at once: large enough that the fetch costs nothing per row, small enough
#: that a log of millions stays a few megabytes in memory.
VERIFY_CHUNK = 4096


def _entry_chunks(conn: Connection, office_id: str, url: str) -> Generator[list[Row]]:
    """The office's entries in sequence order through the driver's own cursor, as plain
    tuples in chunks (a server-side cursor on PostgreSQL): no rows are built on the way."""
    raw: Any = conn.connection.dbapi_connection
    dialect = conn.dialect.name
    try:
        if dialect == "postgresql":
            cursor = raw.cursor(name="edoc_audit_verify")
            cursor.itersize = VERIFY_CHUNK
        else:
            cursor = raw.cursor()
        try:
            cursor.execute(_ROWS_SQL[dialect], (office_id,))
            while chunk := cursor.fetchmany(VERIFY_CHUNK):
                yield chunk
        finally:
            # Not over an error already on its way out (a transaction the server aborted).
            with contextlib.suppress(conn.dialect.loaded_dbapi.Error):
                cursor.close()
    except conn.dialect.loaded_dbapi.Error as exc:
        raise translate_error(exc, url) from exc


def verify_database(
    db: Database,
    office_id: str,
    *,
    anchor: CheckpointAnchor | None = None,
    checkpoint_file: Path | None = None,
    max_uncovered: int | None = DEFAULT_MAX_UNCOVERED,
    max_uncovered_age: dt.timedelta | None = None,
    now: dt.datetime | None = None,
) -> AuditReport:
    """Verify the office's whole log as stored; raise AuditVerificationError if not intact.

    Besides :func:`~.verify.verify_records`'s checks (under ``anchor``, with the coverage
    limits): every checkpoint in ``checkpoint_file`` must be in the log (so a log wiped or
    rewritten together with its head and checkpoint rows is refused), and — with an anchor
    — the log must hold at least one entry per received or queued document of the office,
    since each was recorded in the transaction that stored it (so a wiped log beside a
    store full of documents is refused). ``anchor=None`` is the legacy call, see
    :func:`~.verify.verify_records`.

    The head, the entries, the checkpoints and the documents are read in one snapshot (a
    read transaction; REPEATABLE READ on PostgreSQL), so appends running meanwhile are not
    mistaken for damage. The entries stream through the driver's cursor into
    :func:`~.verify.verify_rows`.
    """
    filed = read_checkpoints(checkpoint_file, office_id) if checkpoint_file else None
    with db.engine.connect() as conn:
        if db.is_postgres:
            conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            head_row = conn.execute(_HEAD, {"office_id": office_id}).one_or_none()
            # A missing head row counts as an empty log: entries without one were not appended.
            head = (int(head_row.size), str(head_row.last_hash)) if head_row else (0, GENESIS)
            # Closed before the transaction ends, even when verification stops early.
            rows = contextlib.closing(_entry_chunks(conn, office_id, db.url))
            with rows as chunks:
                report = verify_rows(
                    office_id,
                    chunks,
                    checkpoints(conn, office_id),
                    head=head,
                    anchor=anchor,
                    filed=filed.checkpoints if filed else (),
                    source=Source.DATABASE,
                    max_uncovered=max_uncovered,
                    max_uncovered_age=max_uncovered_age,
                    now=now,
                )
            if anchor is None:
                return report
            documents = _count_documents(conn, office_id)
    if report.entries < documents:
        raise AuditVerificationError(
            report.entries,
            f"Cơ sở dữ liệu có {documents} văn bản đến/đi của cơ quan nhưng nhật ký chỉ có "
            f"{report.entries} mục; mỗi văn bản được ghi ít nhất một mục cùng lúc: các mục đã "
            "bị xóa (nhật ký bị xóa sạch hoặc bị cắt)",
            f"the store holds {documents} received or queued documents of the office but its "
            f"audit log only {report.entries} entries, and each document was recorded by at "
            "least one entry in the same transaction: entries were deleted (the log was "
            "wiped or cut)",
        )
    _filed_notes(filed, report)
    return report


def _inside(when: dt.datetime, start: dt.datetime | None, end: dt.datetime | None) -> bool:
    return (start is None or when >= start) and (end is None or when < end)


def export_log(
    db: Database,
    office_id: str,
    out: TextIO,
    *,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    signer: CheckpointSigner | None = None,
    checkpoint_file: Path | None = None,
) -> int:
    """Write the office's log as JSON lines; return the number of whole entries written.

    Entries whose time is outside [start, end) are written as hashes only. The export ends
    at a signed checkpoint: with ``signer``, a checkpoint of the log as it is now is made
    first (and appended to ``checkpoint_file``); without one, the export stops at the
    latest checkpoint, and raises :class:`AuditExportError` if that would leave out entries
    of the period (or if there is no checkpoint at all). Entries appended while exporting
    are after the export's closing checkpoint and are not in it.
    """
    if signer is not None:
        with db.transaction() as conn:
            make_checkpoint(conn, office_id, signer, checkpoint_file=checkpoint_file)
    with db.engine.connect() as conn:
        closing = latest_checkpoint(conn, office_id)
        if closing is None:
            raise AuditExportError(
                "Chưa có điểm kiểm tra nào để khép tệp xuất; xuất bằng khóa ký của cơ quan "
                "hoặc chạy `edoc audit checkpoint` trước",
                "no checkpoint to close the export with; export with the office's signer or "
                "run `edoc audit checkpoint` first",
                step="audit export",
            )
        size = closing.tree_size
        left_out = [
            e.seq for e in entries(conn, office_id, start=size) if _inside(e.time, start, end)
        ]
        if left_out:
            raise AuditExportError(
                f"Các mục {left_out[0]}..{left_out[-1]} thuộc khoảng thời gian cần xuất nhưng "
                f"chưa có điểm kiểm tra đã ký (điểm cuối: {size}); chạy `edoc audit checkpoint` "
                "hoặc xuất bằng khóa ký của cơ quan",
                f"entries {left_out[0]}..{left_out[-1]} fall in the period but no signed "
                f"checkpoint covers them yet (the last is {size}); run `edoc audit "
                "checkpoint` or export with the office's signer",
                step="audit export",
            )
        header = {
            "type": "header",
            "format": EXPORT_FORMAT,
            "office": office_id,
            "from": start.isoformat() if start else None,
            "to": end.isoformat() if end else None,
            "entries": size,
        }
        out.write(json.dumps(header, ensure_ascii=False) + "\n")
        whole = 0
        for entry in entries(conn, office_id, stop=size):
            record: dict[str, Any] = {
                "seq": entry.seq,
                "prev_hash": entry.prev_hash,
                "entry_hash": entry.entry_hash,
            }
            if _inside(entry.time, start, end):
                record.update(type="entry", body=entry.body.decode("utf-8"))
                whole += 1
            else:
                record.update(type="leaf", leaf_hash=entry.leaf_hash.hex())
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
        # Smallest first: the last line is the closing checkpoint.
        for cp in checkpoints(conn, office_id):
            if cp.tree_size <= size:
                out.write(json.dumps(cp.to_record(), ensure_ascii=False) + "\n")
    return whole


def _bad_file(path: Path, line: int, vi: str, en: str) -> AuditVerificationError:
    return AuditVerificationError(
        None, f"{path}, dòng {line}: {vi}", f"{path}, line {line}: {en}", step="audit export"
    )


@dataclass
class _Frame:
    """An export's header and checkpoints, read before its entries are streamed."""

    office: str
    format: str
    announced: int | None
    records: int = 0
    checkpoints: list[Checkpoint] = field(default_factory=list)


def _read_frame(path: Path) -> _Frame:
    """Read the header and checkpoints and check the file's shape (a cut file fails here)."""
    frame: _Frame | None = None
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                item = json.loads(line)
                kind = item["type"]
                if frame is None:
                    if kind != "header":
                        raise _bad_file(path, number, "thiếu phần đầu", "no header")
                    fmt = item.get("format")
                    if fmt not in (EXPORT_FORMAT, EXPORT_FORMAT_1):
                        raise _bad_file(
                            path, number, f"định dạng lạ {fmt}", f"unknown format {fmt}"
                        )
                    announced = item.get("entries") if fmt == EXPORT_FORMAT else None
                    if fmt == EXPORT_FORMAT and not isinstance(announced, int):
                        raise _bad_file(
                            path, number, "phần đầu thiếu số mục", "the header lacks entries"
                        )
                    frame = _Frame(str(item["office"]), str(fmt), announced)
                elif kind in ("entry", "leaf"):
                    if frame.format == EXPORT_FORMAT and frame.checkpoints:
                        raise _bad_file(
                            path,
                            number,
                            "có mục nằm sau các điểm kiểm tra (tệp bị cắt ghép)",
                            "a record follows the checkpoints (the file was spliced)",
                        )
                    frame.records += 1
                elif kind == "checkpoint":
                    frame.checkpoints.append(Checkpoint.from_record(item, frame.office))
                else:
                    raise _bad_file(
                        path, number, f"loại bản ghi lạ {kind!r}", f"unknown record type {kind!r}"
                    )
            except (ValueError, KeyError, TypeError) as exc:
                raise _bad_file(
                    path,
                    number,
                    f"bản ghi không đọc được, tệp bị cắt giữa chừng hoặc hỏng ({exc})",
                    f"unreadable record: the file was cut in the middle of a record or "
                    f"damaged ({exc})",
                ) from None
    if frame is None:
        raise _bad_file(path, 1, "tệp rỗng, thiếu phần đầu", "empty file, no header")
    return frame


def _check_closed(path: Path, frame: _Frame) -> None:
    """Format 2: the records announced are all there and a checkpoint covers the last."""
    announced = frame.announced
    assert announced is not None
    if frame.records != announced:
        held = frame.records
        cut_vi = f"sau mục {held - 1}" if held else "trước mục đầu tiên"
        cut_en = f"after entry {held - 1}" if held else "before its first entry"
        raise AuditVerificationError(
            held,
            f"{path}: phần đầu báo {announced} mục nhưng tệp có {held}: tệp bị cắt {cut_vi} "
            "hoặc bị bớt mục",
            f"{path}: the header announces {announced} entries but the file holds {held}: "
            f"it was cut {cut_en} or entries were removed",
            step="audit export",
        )
    last = max((cp.tree_size for cp in frame.checkpoints), default=None)
    if last is None or last < announced:
        covered = "không có điểm kiểm tra nào" if last is None else f"điểm cuối chỉ phủ {last}"
        covered_en = "it has no checkpoint" if last is None else f"the last covers {last}"
        raise AuditVerificationError(
            last or 0,
            f"{path}: thiếu điểm kiểm tra khép tệp phủ mục cuối {announced - 1} ({covered}): "
            "tệp bị cắt hoặc điểm kiểm tra cuối bị bỏ",
            f"{path}: no closing checkpoint covers the last entry {announced - 1} "
            f"({covered_en}): the file was cut or its closing checkpoint removed",
            step="audit export",
        )


def verify_export(
    path: Path,
    *,
    anchor: CheckpointAnchor | None = None,
    checkpoint_file: Path | None = None,
    max_uncovered: int | None = DEFAULT_MAX_UNCOVERED,
    max_uncovered_age: dt.timedelta | None = None,
    now: dt.datetime | None = None,
) -> AuditReport:
    """Verify an export file offline; raise AuditVerificationError naming the first bad entry.

    Format 2: the file must hold the entries its header announces and end with a checkpoint
    covering the last one, accepted by ``anchor`` like every other checkpoint in it.
    ``checkpoint_file``: its checkpoints within the export's size must match it too. What an
    export cannot show — that it is the newest one, or (format 1) that it was not cut after
    its last checkpoint — is listed in the report's ``limitations``. ``max_uncovered`` and
    ``max_uncovered_age`` apply to format 1 (format 2 allows none). ``anchor=None`` is the
    legacy call, see :func:`~.verify.verify_records`.
    """
    # 1. The frame: header, announced size, checkpoints, and the shape of the file.
    frame = _read_frame(path)
    if frame.format == EXPORT_FORMAT:
        _check_closed(path, frame)
    office = frame.office

    # 2. Checkpoints of the checkpoint file that this export should contain.
    filed = read_checkpoints(checkpoint_file, office) if checkpoint_file else None
    within = [cp for cp in filed.checkpoints if cp.tree_size <= frame.records] if filed else []

    def records() -> Iterator[AuditEntry | LeafRecord]:
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                try:
                    item = json.loads(line)
                    kind = item["type"]
                    if kind == "entry":
                        body = str(item["body"]).encode("utf-8")
                        yield AuditEntry(
                            office,
                            int(item["seq"]),
                            str(json.loads(body).get("event")),
                            body,
                            str(item["prev_hash"]),
                            str(item["entry_hash"]),
                        )
                    elif kind == "leaf":
                        yield LeafRecord(
                            int(item["seq"]),
                            str(item["prev_hash"]),
                            str(item["entry_hash"]),
                            bytes.fromhex(item["leaf_hash"]),
                        )
                except (ValueError, KeyError, TypeError, AttributeError) as exc:
                    raise _bad_file(
                        path,
                        number,
                        f"bản ghi không đọc được ({exc})",
                        f"unreadable record ({exc})",
                    ) from None

    # 3. The records themselves, under the anchor.
    report = verify_records(
        office,
        records(),
        frame.checkpoints,
        anchor=anchor,
        filed=within,
        source=Source.EXPORT,
        max_uncovered=0 if frame.format == EXPORT_FORMAT else max_uncovered,
        max_uncovered_age=max_uncovered_age,
        now=now,
    )
    report.format = frame.format
    if frame.format == EXPORT_FORMAT_1:
        report.limitations.append(
            _say(
                "Định dạng cũ edoc-audit/1 không có điểm kiểm tra khép tệp: không chứng minh "
                f"được tệp không bị cắt sau điểm kiểm tra cuối; {report.uncovered} mục sau "
                "điểm đó không được chữ ký nào bảo vệ",
                "the old format edoc-audit/1 has no closing checkpoint: it cannot prove the "
                f"file was not cut after its last checkpoint; the {report.uncovered} entries "
                "after it are protected by no signature",
            )
        )
    report.limitations.append(
        _say(
            f"Tệp xuất cho thấy nhật ký tới điểm kiểm tra {report.last_checkpoint_size} "
            f"({report.last_checkpoint_time}); một tệp xuất cũ hơn, nguyên vẹn, cũng hợp lệ: "
            "so với tệp điểm kiểm tra để biết đây là bản mới nhất",
            f"the export shows the log up to checkpoint {report.last_checkpoint_size} "
            f"({report.last_checkpoint_time}); an older intact export verifies too: compare "
            "with the checkpoint file to know this one is the newest",
        )
    )
    if filed is not None:
        beyond = [cp.tree_size for cp in filed.checkpoints if cp.tree_size > frame.records]
        if beyond:
            report.limitations.append(
                _say(
                    f"Tệp điểm kiểm tra có điểm kiểm tra tới {max(beyond)} mục, sau tệp xuất "
                    f"này ({frame.records} mục): tệp xuất được làm trước đó",
                    f"the checkpoint file has checkpoints up to {max(beyond)} entries, beyond "
                    f"this export ({frame.records}): the export was made earlier",
                )
            )
        _filed_notes(filed, report)
    return report


@dataclass(frozen=True, slots=True)
class InclusionProof:
    """RFC 9162 inclusion proof of one entry against a signed checkpoint."""

    office_id: str
    seq: int
    leaf_hash: str
    tree_size: int
    root_hash: str
    path: tuple[str, ...]
    checkpoint_body: str
    #: The checkpoint's signature (base64) and certificate (PEM), to check it offline.
    signature: str | None = None
    certificate: str | None = None
    #: Who the trust anchor says signed the checkpoint (None: no anchor was given).
    signer: str | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready view for ``edoc audit prove``."""
        return {
            "office_id": self.office_id,
            "seq": self.seq,
            "leaf_hash": self.leaf_hash,
            "tree_size": self.tree_size,
            "root_hash": self.root_hash,
            "path": list(self.path),
            "checkpoint": json.loads(self.checkpoint_body),
            "signature": self.signature,
            "certificate": self.certificate,
            "signer": self.signer,
        }

    def verify(self) -> bool:
        """Whether the path leads from the leaf to the root."""
        root = merkle.root_from_inclusion_proof(
            self.seq,
            self.tree_size,
            bytes.fromhex(self.leaf_hash),
            [bytes.fromhex(p) for p in self.path],
        )
        return root.hex() == self.root_hash


def prove(
    db: Database, office_id: str, seq: int, *, anchor: CheckpointAnchor | None = None
) -> InclusionProof:
    """Prove that entry ``seq`` is in the log, against the latest checkpoint that holds it.

    With ``anchor``, the checkpoint must be accepted by it (CheckpointRefusedError
    otherwise): a proof against a checkpoint someone else signed proves nothing.
    """
    with db.engine.connect() as conn:
        cp = latest_checkpoint(conn, office_id)
        if cp is None or seq >= cp.tree_size:
            raise AuditVerificationError(
                seq,
                f"Mục {seq} chưa nằm trong điểm kiểm tra nào; tạo điểm kiểm tra mới rồi thử lại",
                f"entry {seq} is not covered by a checkpoint yet; make a checkpoint and retry",
            )
        leaves = [e.leaf_hash for e in entries(conn, office_id, stop=cp.tree_size)]
    signer = anchor.accept(office_id, cp, Source.DATABASE) if anchor is not None else None
    if cp.fields().get("root_hash") != cp.root_hash:
        raise CheckpointRefusedError(
            cp.tree_size,
            cp.time,
            Source.DATABASE,
            vi=f"điểm kiểm tra {cp.tree_size} bị sửa (các trường khác nội dung đã ký)",
            en=f"checkpoint {cp.tree_size} was edited (its fields differ from its body)",
        )
    if len(leaves) != cp.tree_size:
        raise AuditVerificationError(seq, "Nhật ký không đầy đủ", "the log is incomplete")
    path = merkle.inclusion_proof(seq, leaves)
    proof = InclusionProof(
        office_id,
        seq,
        leaves[seq].hex(),
        cp.tree_size,
        cp.root_hash,
        tuple(p.hex() for p in path),
        cp.body.decode("utf-8"),
        signature=cp.to_record()["signature"],
        certificate=cp.to_record()["certificate"],
        signer=signer,
    )
    if not proof.verify():
        raise AuditVerificationError(
            seq, "Nhật ký không khớp điểm kiểm tra", "the log does not match its checkpoint"
        )
    return proof
