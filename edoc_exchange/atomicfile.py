"""Writing a file so that a crash or a power cut never leaves half of it under its name.

One way for every layer (a neutral module, like :mod:`edoc_exchange.errors`): the bytes go
to a temporary file beside the target, are flushed and fsynced, renamed over the target,
and the folder is fsynced so that the rename itself survives a power cut. A commune's
server loses power; a half-written message or PDF under the final name would be taken
for a whole one.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterable
from pathlib import Path

__all__ = ["write_atomically"]


def write_atomically(
    target: str | os.PathLike[str], data: bytes | Iterable[bytes], *, overwrite: bool = True
) -> Path:
    """Write ``data`` (bytes, or chunks streamed one by one) to ``target`` atomically.

    With ``overwrite=False`` an existing target is left alone and FileExistsError raised.
    Raises OSError as the system reports it (the caller names the step for a person).
    """
    path = Path(target)
    if not overwrite and path.exists():
        raise FileExistsError(f"{path} already exists")
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with tmp.open("wb") as handle:
            for chunk in [data] if isinstance(data, bytes) else data:
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        if overwrite:
            tmp.replace(path)
        else:
            os.link(tmp, path)  # fails if the target appeared meanwhile: never clobbers it
        _fsync_folder(path.parent)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _fsync_folder(folder: Path) -> None:
    """Make a rename durable; a file system that cannot open folders is skipped quietly."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
