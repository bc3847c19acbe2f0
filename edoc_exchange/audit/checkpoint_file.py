"""The checkpoint file: every signed checkpoint, also written outside the database.

Whoever can write the database can delete its checkpoints together with the entries they
cover; a copy the operator ships off the machine (a log shipper, rsync to the district, a
USB stick) survives that. The file is JSON lines, one checkpoint per line (the same record
an export carries), appended with ``O_APPEND`` and fsynced, never rewritten. Lines of other
offices may share the file. ``edoc audit verify --checkpoints FILE`` then requires the
database's log to contain every checkpoint in it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from ._errors import CheckpointFileError
from .checkpoint import Checkpoint

__all__ = ["FiledCheckpoints", "append_checkpoint", "last_filed_checkpoint", "read_checkpoints"]

_BLOCK = 64 * 1024


def _unusable(path: Path, exc: OSError, doing_vi: str, doing_en: str) -> CheckpointFileError:
    return CheckpointFileError(
        f"Không {doing_vi} tệp điểm kiểm tra {path}: {exc.strerror}; kiểm tra đường dẫn và quyền",
        f"cannot {doing_en} the checkpoint file {path}: {exc.strerror}; check the path and "
        "permissions",
        step="audit checkpoint file",
    )


def append_checkpoint(path: Path, checkpoint: Checkpoint) -> None:
    """Append one checkpoint as a line and fsync; raise CheckpointFileError if impossible.

    A line left incomplete by a crash is closed with a newline first, so the new line stays
    readable (the reader skips the broken one and says so).
    """
    line = json.dumps(checkpoint.to_record(), ensure_ascii=False, sort_keys=True) + "\n"
    data = line.encode("utf-8")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            if _ends_without_newline(path):
                data = b"\n" + data
            # One write per line: appends of several processes do not interleave.
            written = 0
            while written < len(data):
                written += os.write(fd, data[written:])
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise _unusable(path, exc, "ghi được vào", "append to") from None


def _ends_without_newline(path: Path) -> bool:
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        if handle.tell() == 0:
            return False
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) != b"\n"


def _parse(raw: bytes) -> Checkpoint | None:
    try:
        item = json.loads(raw)
        if not isinstance(item, dict) or item.get("type") != "checkpoint":
            return None
        return Checkpoint.from_record(item)
    except (ValueError, KeyError, TypeError):
        return None


def last_filed_checkpoint(path: Path, office_id: str) -> Checkpoint | None:
    """The office's last checkpoint in the file (None: no file yet, or none of the office's).

    Reads backwards from the end in blocks, so its cost does not grow with the file.
    """
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _unusable(path, exc, "đọc được", "read") from None
    with handle:
        handle.seek(0, os.SEEK_END)
        position = handle.tell()
        carry = b""
        while position > 0:
            step = min(_BLOCK, position)
            position -= step
            handle.seek(position)
            lines = (handle.read(step) + carry).split(b"\n")
            # The first piece may be the end of a line that starts in an earlier block.
            carry = lines.pop(0) if position > 0 else b""
            for raw in reversed(lines):
                found = _parse(raw) if raw.strip() else None
                if found is not None and found.office_id == office_id:
                    return found
    return None


@dataclass
class FiledCheckpoints:
    """The office's checkpoints in a checkpoint file, and the lines that could not be read."""

    path: Path
    checkpoints: list[Checkpoint] = field(default_factory=list)
    unreadable_lines: list[int] = field(default_factory=list)


def read_checkpoints(path: Path, office_id: str) -> FiledCheckpoints:
    """Every checkpoint of ``office_id`` in the file, in file order.

    Unreadable lines are skipped and listed rather than fatal: the file is the operator's,
    outside the database, and one torn line (a crash while appending) must not hide the
    rest. Raises CheckpointFileError when the file cannot be read at all.
    """
    found = FiledCheckpoints(path)
    try:
        with path.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                if not raw.strip():
                    continue
                checkpoint = _parse(raw)
                if checkpoint is None:
                    found.unreadable_lines.append(number)
                elif checkpoint.office_id == office_id:
                    found.checkpoints.append(checkpoint)
    except OSError as exc:
        raise _unusable(path, exc, "đọc được", "read") from None
    return found
