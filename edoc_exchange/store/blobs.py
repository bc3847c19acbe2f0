"""Large messages kept outside the rows: blob files beside the database.

A row holding a 130 MiB message costs that much memory to write and to read, and leaves
a WAL as large behind. A large message is therefore kept as a file in a folder beside the
database (``<database file>.blobs/``), named by its SHA-256 (``ab/abcd…``): the same bytes
are kept once, a file is never changed, and the row keeps the hash and the size
(``inbox.message_blob``, ``inbox.message_size``). A blob is written atomically (a temporary
file, fsync, a rename, fsync of the folder), *before* the row that names it commits, so
a power cut leaves at worst an unnamed blob, never a row without its bytes.

The store opens no database file here: the folder is given (:class:`BlobStore`), or found
beside a SQLite database (:meth:`BlobStore.beside`); a PostgreSQL store needs a folder
named explicitly (every process that reads the inbox must see it).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from sqlalchemy.engine import Engine

from ..atomicfile import write_atomically
from .db import StoreError

__all__ = ["BlobStore", "StagedFile"]

_CHUNK = 1024 * 1024
_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class StagedFile:
    """A file waiting to be kept as a blob: where it is, its size and SHA-256 (hex)."""

    path: Path
    size: int
    sha256: str


class BlobStore:
    """Content-addressed files in ``folder``; see the module's docstring."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)

    @classmethod
    def beside(cls, engine: Engine) -> BlobStore:
        """The blob folder of a SQLite database: ``<file>.blobs`` beside it.

        Raises :class:`StoreError` for another database (name the folder instead) or an
        in-memory one.
        """
        url = engine.url
        if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
            raise StoreError(
                "Cần chỉ định thư mục lưu văn bản lớn ([store] blob_dir) cho cơ sở dữ liệu này",
                f"large messages need a blob folder named for this database ([store] blob_dir; "
                f"{url.render_as_string(hide_password=True)})",
                step="store.blobs",
            )
        return cls(Path(url.database).with_name(Path(url.database).name + ".blobs"))

    def path(self, sha256: str) -> Path:
        """Where the blob of ``sha256`` is (whether or not it exists)."""
        if not _HEX64.fullmatch(sha256):
            raise ValueError(f"not a SHA-256 in hex: {sha256!r}")
        return self.folder / sha256[:2] / sha256

    def put(self, staged: StagedFile, *, move: bool = True) -> Path:
        """Keep ``staged`` as the blob of its SHA-256 (checked while copying); return its path.

        With ``move`` the file is renamed into place when it is on the same file system
        (after an fsync), else copied; a blob already there is kept and the staged file
        left as it is. Raises :class:`StoreError` when the bytes do not match the hash or
        size given, or the folder cannot be written.
        """
        target = self.path(staged.sha256)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists() and target.stat().st_size == staged.size:
                return target
            if move and _rename_checked(staged, target):
                return target
            digest = hashlib.sha256()
            size = 0

            def chunks() -> Iterator[bytes]:
                nonlocal size
                with staged.path.open("rb") as handle:
                    while chunk := handle.read(_CHUNK):
                        digest.update(chunk)
                        size += len(chunk)
                        yield chunk
                if digest.hexdigest() != staged.sha256 or size != staged.size:
                    raise _MismatchError

            write_atomically(target, chunks())
        except _MismatchError:
            raise StoreError(
                f"Tệp {staged.path.name} không khớp mã băm khi lưu",
                f"{staged.path} does not match its SHA-256 or size: not kept",
                step="store.blobs",
            ) from None
        except OSError as exc:
            raise StoreError(
                f"Không ghi được văn bản lớn vào {self.folder}: {exc}",
                f"cannot keep a large message in {self.folder}: {exc}",
                step="store.blobs",
            ) from exc
        return target

    def open(self, sha256: str, size: int | None = None) -> BinaryIO:
        """The blob for reading; :class:`StoreError` when it is missing or of another size."""
        path = self.path(sha256)
        try:
            handle = path.open("rb")
        except OSError as exc:
            raise StoreError(
                f"Thiếu tệp văn bản lớn {sha256[:12]}… trong {self.folder}",
                f"the blob {sha256} is missing from {self.folder}: {exc}",
                step="store.blobs",
            ) from exc
        if size is not None and os.fstat(handle.fileno()).st_size != size:
            handle.close()
            raise StoreError(
                f"Tệp văn bản lớn {sha256[:12]}… bị thay đổi kích thước",
                f"the blob {sha256} is not {size} bytes long",
                step="store.blobs",
            )
        return handle


class _MismatchError(Exception):
    pass


def _rename_checked(staged: StagedFile, target: Path) -> bool:
    """Rename a staged file into place after checking its hash; False across devices."""
    if staged.path.stat().st_dev != target.parent.stat().st_dev:
        return False
    digest = hashlib.sha256()
    size = 0
    with staged.path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
        if digest.hexdigest() != staged.sha256 or size != staged.size:
            raise _MismatchError
        os.fsync(handle.fileno())
    os.replace(staged.path, target)
    with contextlib.suppress(OSError):
        fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    return True
