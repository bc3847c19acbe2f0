"""The audit log's errors: what is wrong with a log, a checkpoint, an anchor or a file.

Exception tree (all derive from :class:`~edoc_exchange.errors.EdocError`)::

    AuditAppendError           an event cannot be appended
    ├── AuditLogMissingError        the office has no log (no head row): not an office here
    └── AuditDataError              the event's data cannot be recorded (a float, say); also
                               a TypeError, as it always was
    AuditVerificationError     the log is not intact; ``seq`` names the first bad entry
    ├── CheckpointRefusedError      a checkpoint that is unsigned, signed by someone the trust
    │                          anchor does not accept, or whose signature does not verify;
    │                          names the checkpoint (size, time, where it was read)
    └── UncoveredEntriesError       too many entries, or too old ones, after the last checkpoint
    AuditAnchorError           no trust anchor was given, or it cannot be read
    CheckpointFileError        the checkpoint file cannot be read or written
    AuditExportError           an export cannot be made as asked
"""

from __future__ import annotations

import enum

from ..errors import EdocError

__all__ = [
    "AuditAnchorError",
    "AuditAppendError",
    "AuditDataError",
    "AuditExportError",
    "AuditLogMissingError",
    "AuditVerificationError",
    "CheckpointFileError",
    "CheckpointRefusedError",
    "Source",
    "UncoveredEntriesError",
]


class Source(enum.Enum):
    """Where a checkpoint was read, so a refusal says which copy was forged."""

    DATABASE = ("cơ sở dữ liệu", "database")  #: the audit_checkpoints table
    FILE = ("tệp điểm kiểm tra", "checkpoint file")  #: the shipped checkpoint file
    EXPORT = ("tệp xuất", "export")  #: an export being verified offline

    @property
    def vi(self) -> str:
        """The place, in Vietnamese."""
        return self.value[0]

    @property
    def en(self) -> str:
        """The place, in English."""
        return self.value[1]


class AuditAppendError(EdocError):
    """An event could not be appended; nothing of the caller's transaction should commit."""


class AuditLogMissingError(AuditAppendError):
    """The office has no audit log here: no head row, so it was never set up in this store.

    The head row is made when the office is (:func:`~edoc_exchange.audit.create_log`, called
    by :class:`~edoc_exchange.office.Office`); migration 0004 made it for offices that
    already had data. Appending never creates it, so a mistyped office id is an error
    rather than the start of a second log.
    """

    def __init__(self, office_id: str) -> None:
        self.office_id = office_id
        super().__init__(
            f"Cơ quan {office_id} chưa có nhật ký kiểm toán trong cơ sở dữ liệu này (thiếu dòng "
            "đầu nhật ký): kiểm tra mã cơ quan, hoặc chạy `edoc db upgrade` rồi khởi động cơ "
            "quan một lần",
            f"office {office_id} has no audit log in this database (no head row): check the "
            "office id, or run `edoc db upgrade` and start the office once",
            step=f"audit append ({office_id})",
        )


class AuditDataError(AuditAppendError, TypeError):
    """An event's data holds something an entry cannot keep (a float, an object): the
    message names the event and the place in its data."""

    def __init__(self, where: str, found: str) -> None:
        self.where = where
        super().__init__(
            f"Không ghi được {where} vào nhật ký kiểm toán: {found} không được phép (dùng số "
            "nguyên hoặc chuỗi)",
            f"cannot record {where} in the audit log: {found} is not allowed (use int or str)",
            step="audit append",
        )


class AuditVerificationError(EdocError):
    """The log is not intact; ``seq`` is the first entry found wrong (None: the log as a whole)."""

    def __init__(self, seq: int | None, vi: str, en: str, *, step: str | None = None) -> None:
        self.seq = seq
        where = f"audit entry {seq}" if seq is not None else "audit log"
        super().__init__(vi, en, step=step or where)


class CheckpointRefusedError(AuditVerificationError):
    """A checkpoint the verifier may not rely on; the message says which one and why.

    ``tree_size`` and ``time`` (as the checkpoint states it, None when unreadable) name it;
    ``source`` says whether it came from the database, the checkpoint file or an export.
    """

    def __init__(
        self, tree_size: int, time: str | None, source: Source, *, vi: str, en: str
    ) -> None:
        self.tree_size = tree_size
        self.time = time
        self.source = source
        when_vi = f"lúc {time}" if time else "không rõ thời điểm"
        when_en = f"made {time}" if time else "of unknown time"
        super().__init__(
            None,
            f"Điểm kiểm tra {tree_size} ({when_vi}, {source.vi}) bị từ chối: {vi}",
            f"checkpoint {tree_size} ({when_en}, {source.en}) is refused: {en}",
            step=f"audit checkpoint {tree_size}",
        )


class UncoveredEntriesError(AuditVerificationError):
    """Entries after the last valid checkpoint beyond what the caller allows.

    Such entries are protected by nothing but the database's own permissions: whoever can
    write the database could have changed them.
    """


class AuditAnchorError(EdocError):
    """No trust anchor for checkpoints was given, or it cannot be read."""


class CheckpointFileError(EdocError):
    """The checkpoint file cannot be read or appended to."""


class AuditExportError(EdocError):
    """An export cannot be made as asked (nothing signed covers what was asked for)."""
