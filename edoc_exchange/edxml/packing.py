"""Zipped attachments: what the official SDK sends and what its parser hands out.

The official SDK zips attached files (its own sample zips a ``.doc``; vendors zip every
file): the attachment keeps the file's name (``1896_QD-TTg_m_294779.doc``), its
ContentType becomes ``application/zip``, and the zip holds one entry named after a UUID.
The official parser unzips an attachment labelled ``application/zip`` whose name does not
end in ``.zip`` and hands out the first entry's bytes under the attachment's name. So do
we, because handing a clerk a zip named ``.doc`` is misreading the message, but bounded
and without trusting the zip:

* the number of entries, the total unzipped size and the unzipped/zipped ratio are
  bounded (:class:`~edoc_exchange.edxml.ReadLimits`), counted while inflating, never
  taken from the zip's own headers (a zip bomb lies in them);
* an entry name is never used as a path (the file is named after the attachment), and an
  entry name carrying a path is refused: no SDK writes one, an attacker does;
* a corrupt or encrypted zip is an error, never a silent fallback;
* bytes that are not a zip at all despite the label, and an office document (docx, odt:
  themselves zips) labelled as one, are handed out as they are, with a warning;
* further entries, which the official parser ignores, are reported.

The wire bytes stay in the message untouched: the signature covers them, and the writer
writes them back.
"""

from __future__ import annotations

import io
import mimetypes
import zipfile
import zlib
from dataclasses import dataclass, field

from .limits import ReadLimits

__all__ = [
    "ZIP_CONTENT_TYPES",
    "PackingError",
    "Unzipped",
    "file_content_type",
    "is_zip_label",
    "unpack",
]

#: Content types that label an attachment as zipped.
ZIP_CONTENT_TYPES = frozenset(
    {"application/zip", "application/x-zip-compressed", "application/x-zip"}
)
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
# Entries that make a zip a document in its own right (OOXML, OpenDocument, EPUB).
_DOCUMENT_MARKERS = ("[Content_Types].xml", "mimetype")
_CHUNK = 1024 * 1024
# Without the system's mime.types (which differs between machines): the same name gives
# the same type everywhere. Office formats the built-in table lacks are added.
_MIME = mimetypes.MimeTypes(filenames=())
for _ext, _type in (
    (".doc", "application/msword"),
    (".docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    (".xls", "application/vnd.ms-excel"),
    (".xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    (".ppt", "application/vnd.ms-powerpoint"),
    (".pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation"),
    (".odt", "application/vnd.oasis.opendocument.text"),
    (".ods", "application/vnd.oasis.opendocument.spreadsheet"),
    (".rtf", "application/rtf"),
):
    _MIME.add_type(_type, _ext)


def is_zip_label(content_type: str | None, name: str) -> bool:
    """Whether an attachment is labelled as a zip the official parser would unpack."""
    if content_type is None:
        return False
    base = content_type.split(";", 1)[0].strip().lower()
    return base in ZIP_CONTENT_TYPES and not name.lower().endswith(".zip")


def file_content_type(name: str) -> str:
    """The content type of an unpacked file, from its name (the zip does not say)."""
    guessed, _ = _MIME.guess_type(name, strict=False)
    return guessed or "application/octet-stream"


class PackingError(Exception):
    """A zipped attachment that cannot be unpacked safely; ``code`` names the finding."""

    def __init__(self, code: str, **params: object) -> None:
        super().__init__(code)
        self.code = code
        self.params = params


@dataclass(frozen=True, slots=True)
class Unzipped:
    """The outcome of :func:`unpack`: the file inside, or why the bytes were kept as they are."""

    #: The name of the entry handed out (informational: the file takes the attachment's).
    entry_name: str | None = None
    #: The unpacked bytes; None when the attachment is handed out as it came.
    data: bytes | None = None
    #: Other file entries, which the official parser ignores.
    ignored: tuple[str, ...] = ()
    #: Warnings, as (finding code, parameters).
    notes: tuple[tuple[str, dict[str, object]], ...] = field(default=())


def _entry_problem(name: str) -> str | None:
    if not name:
        return "empty name / tên rỗng"
    if "/" in name.rstrip("/") or "\\" in name:
        return "contains a path / chứa đường dẫn"
    if name.startswith("/") or (len(name) >= 2 and name[1] == ":"):
        return "is an absolute path / là đường dẫn tuyệt đối"
    if name in (".", ".."):
        return "is a directory reference / là tham chiếu thư mục"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        return "contains control characters / chứa ký tự điều khiển"
    return None


def unpack(data: bytes, limits: ReadLimits, budget: int | None = None) -> Unzipped:
    """Unpack a zip-labelled attachment as the official parser does, within ``limits``.

    ``budget`` is what is left of ``limits.max_unpacked_bytes`` for this message. Raises
    :class:`PackingError` for a zip that is corrupt, encrypted, empty, has too many entries
    or an entry name with a path, or inflates past the bounds.
    """
    budget = limits.max_unpacked_bytes if budget is None else budget
    if not data.startswith(_ZIP_MAGIC):
        return Unzipped(notes=(("zip-label-not-zip", {}),))
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as exc:
        raise PackingError("zip-corrupt", detail=str(exc) or type(exc).__name__) from None
    with archive:
        infos = archive.infolist()
        if len(infos) > limits.max_zip_entries:
            raise PackingError(
                "zip-too-many-entries", count=len(infos), limit=limits.max_zip_entries
            )
        names = [info.filename for info in infos]
        if any(marker in names[:3] for marker in _DOCUMENT_MARKERS):
            return Unzipped(notes=(("zip-label-on-document", {}),))
        for info in infos:
            problem = _entry_problem(info.filename)
            if problem is not None:
                raise PackingError("zip-entry-path", entry=info.filename[:200], detail=problem)
        files = [info for info in infos if not info.is_dir()]
        if not files:
            raise PackingError("zip-empty")
        first = files[0]
        if first.flag_bits & 0x1:
            raise PackingError("zip-encrypted", entry=first.filename)
        inner = _inflate(archive, first, len(data), limits, budget)
    ignored = tuple(info.filename for info in files[1:])
    notes: tuple[tuple[str, dict[str, object]], ...] = ()
    if ignored:
        shown = ", ".join(ignored[:5]) + (", …" if len(ignored) > 5 else "")
        notes = (("zip-extra-entries", {"entry": first.filename, "ignored": shown}),)
    return Unzipped(entry_name=first.filename, data=inner, ignored=ignored, notes=notes)


def _inflate(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, wire_size: int, limits: ReadLimits, budget: int
) -> bytes:
    """Inflate one entry, counting: the bounds hold whatever the zip's headers claim."""
    pieces: list[bytes] = []
    total = 0
    try:
        with archive.open(info) as stream:
            while chunk := stream.read(_CHUNK):
                total += len(chunk)
                if total > budget:
                    raise PackingError("zip-too-large", limit=limits.max_unpacked_bytes)
                if total > limits.zip_ratio_floor and total > limits.max_zip_ratio * wire_size:
                    raise PackingError("zip-ratio", limit=limits.max_zip_ratio)
                pieces.append(chunk)
    except PackingError:
        raise
    except RuntimeError as exc:  # zipfile: "File ... is encrypted, password required"
        raise PackingError("zip-encrypted", entry=info.filename) from exc
    except NotImplementedError as exc:  # an unsupported compression method
        raise PackingError("zip-corrupt", detail=str(exc)) from None
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
        # A CRC mismatch, a truncated or corrupt stream, mismatched headers.
        raise PackingError("zip-corrupt", detail=str(exc) or type(exc).__name__) from None
    return b"".join(pieces)
