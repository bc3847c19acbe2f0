"""Writing a message's files into a folder the clerk chose, safely: one way for every command.

``edoc extract`` (a file on disk) and ``edoc files`` (a document in the store) both hand
out the files a clerk gets (an attachment the SDK zipped is unpacked, as the official
parser does) and both must never write outside the folder, follow a planted symlink, or
overwrite a file without ``--force``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from ..edxml import AttachedFile
from ..errors import EdocError
from ._app import out

__all__ = ["UnsafeNameError", "write_files"]


class UnsafeNameError(EdocError):
    """A file would land outside the folder, or over an existing file without --force."""


def _unique_target(directory: Path, name: str, used: set[str]) -> Path:
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    candidate = name
    n = 2
    while candidate in used:
        candidate = f"{stem} ({n}).{suffix}" if dot else f"{stem} ({n})"
        n += 1
    used.add(candidate)
    return directory / candidate


def write_files(files: Sequence[AttachedFile], output: Path, *, force: bool) -> None:
    """Write ``files`` into ``output`` (created if needed), printing one line per file."""
    output.mkdir(parents=True, exist_ok=True)
    root = output.resolve()
    used: set[str] = set()
    for handed in files:
        target = _unique_target(output, handed.name, used)
        # The reader already refuses names with a path; check the resolved place anyway.
        if target.resolve().parent != root:
            raise UnsafeNameError(
                f"Tên tệp '{handed.name}' trỏ ra ngoài thư mục {output}",
                f"attachment name '{handed.name}' would be written outside {output}",
                step="extract",
            )
        flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
        try:
            fd = os.open(target, flags | getattr(os, "O_NOFOLLOW", 0), 0o644)
        except FileExistsError:
            raise UnsafeNameError(
                f"Tệp {target} đã có; dùng --force để ghi đè",
                f"{target} already exists; use --force to overwrite",
                step="extract",
            ) from None
        with os.fdopen(fd, "wb") as handle:
            handle.write(handed.data)
        out.print(f"{target}  {handed.size} bytes  sha256:{handed.sha256}", markup=False)
