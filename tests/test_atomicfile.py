"""One atomic writer for every layer: a failure mid-write leaves the old file whole."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from edoc_exchange.atomicfile import write_atomically


def test_writes_bytes_and_chunks(tmp_path: Path) -> None:
    target = tmp_path / "ke-hoach.edxml"
    write_atomically(target, b"first")
    assert target.read_bytes() == b"first"
    write_atomically(target, iter([b"sec", b"ond"]))
    assert target.read_bytes() == b"second"
    assert [p.name for p in tmp_path.iterdir()] == ["ke-hoach.edxml"]  # no temporary left


def test_a_failure_midway_leaves_the_old_file_whole(tmp_path: Path) -> None:
    target = tmp_path / "ke-hoach.pdf"
    target.write_bytes(b"%PDF old and whole")

    def chunks() -> Iterator[bytes]:
        yield b"%PDF new, half"
        raise OSError("the disk is full")

    with pytest.raises(OSError, match="the disk is full"):
        write_atomically(target, chunks())
    assert target.read_bytes() == b"%PDF old and whole"
    assert [p.name for p in tmp_path.iterdir()] == ["ke-hoach.pdf"]


def test_without_overwrite_an_existing_file_is_never_touched(tmp_path: Path) -> None:
    target = tmp_path / "signer.key.pem"
    target.write_bytes(b"the only copy of a key")
    with pytest.raises(FileExistsError):
        write_atomically(target, b"another key", overwrite=False)
    assert target.read_bytes() == b"the only copy of a key"
    fresh = tmp_path / "new.pem"
    write_atomically(fresh, b"new", overwrite=False)
    assert fresh.read_bytes() == b"new"
