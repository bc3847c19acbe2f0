"""A real ext4 filesystem in an image file, loop-mounted, for tests of what disks do:
fill up, fail into read-only, lose power.

``mount -o loop`` needs root (CI runs as root). Without it the tests that need a loop
filesystem skip, saying why. A power cut is simulated as the issue measured it: the
processes writing to the filesystem are frozen, and the image file is copied: the copy
holds what reached the (virtual) disk, not what sat in the page cache of the mounted
filesystem. The copy is then checked by fsck, as after a real cut, and mounted.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, check=False, timeout=120)


def loop_mounts_possible() -> str | None:
    """Why loop filesystems cannot be used here, or None when they can."""
    if os.geteuid() != 0:
        return "mounting a loop filesystem needs root (CI runs as root)"
    for tool in ("mkfs.ext4", "mount", "umount", "e2fsck"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return None


@dataclass
class LoopFilesystem:
    """An ext4 image ``image`` mounted at ``mountpoint``."""

    image: Path
    mountpoint: Path

    def fail(self) -> None:
        """Make the kernel see a filesystem error: mounted with errors=remount-ro, the
        filesystem turns read-only at once, as after a failing disk (ext4's
        trigger_fs_error; skip where the kernel lacks it)."""
        device = _run("findmnt", "-n", "-o", "SOURCE", str(self.mountpoint)).stdout.strip()
        trigger = Path("/sys/fs/ext4") / Path(device).name / "trigger_fs_error"
        if not trigger.exists():
            pytest.skip(f"the kernel has no {trigger} to simulate a disk error")
        trigger.write_text("edoc-exchange test: simulated disk error\n")

    def fill(self, leave_bytes: int = 0) -> Path:
        """Fill the filesystem until at most ``leave_bytes`` are free; return the filler."""
        filler = self.mountpoint / "filler.bin"
        block = b"\0" * (1024 * 1024)
        with filler.open("wb") as handle:
            while True:
                free = os.statvfs(self.mountpoint).f_bavail * os.statvfs(self.mountpoint).f_frsize
                if free <= leave_bytes:
                    break
                try:
                    handle.write(block[: max(4096, min(len(block), free - leave_bytes))])
                    handle.flush()
                    os.fsync(handle.fileno())
                except OSError:
                    break
        return filler

    def snapshot(self, copy: Path) -> None:
        """Copy the image as it is on the virtual disk now (what a power cut would leave).

        Freeze every process writing to the filesystem first: the copy must not see a
        write that happens while it is read."""
        shutil.copyfile(self.image, copy)

    @contextlib.contextmanager
    def mounted_copy(self, copy: Path, mountpoint: Path) -> Iterator[Path]:
        """Repair ``copy`` as a machine does when it boots after a power cut (fsck replays
        the journal), mount it, yield the mount point, unmount."""
        checked = _run("e2fsck", "-fy", str(copy))
        # 0: clean, 1: errors corrected (a replayed journal): both leave a mountable fs.
        assert checked.returncode in (0, 1), checked.stdout + checked.stderr
        mountpoint.mkdir(parents=True, exist_ok=True)
        done = _run("mount", "-o", "loop", str(copy), str(mountpoint))
        assert done.returncode == 0, done.stderr
        try:
            yield mountpoint
        finally:
            _unmount(mountpoint)


def _unmount(mountpoint: Path) -> None:
    for _ in range(20):
        if _run("umount", str(mountpoint)).returncode == 0:
            return
        _run("sync")
    _run("umount", "-l", str(mountpoint))


@contextlib.contextmanager
def loop_filesystem(root: Path, size_mb: int = 64) -> Iterator[LoopFilesystem]:
    """Make and mount an ext4 image of ``size_mb`` under ``root``; skip when impossible."""
    reason = loop_mounts_possible()
    if reason is not None:
        pytest.skip(reason)
    image = root / "disk.img"
    mountpoint = root / "mnt"
    mountpoint.mkdir(parents=True)
    with image.open("wb") as handle:
        handle.truncate(size_mb * 1024 * 1024)
    made = _run("mkfs.ext4", "-q", "-F", str(image))
    if made.returncode != 0:
        pytest.skip(f"mkfs.ext4 failed: {made.stderr.strip()}")
    mounted = _run("mount", "-o", "loop,errors=remount-ro", str(image), str(mountpoint))
    if mounted.returncode != 0:
        pytest.skip(f"cannot loop-mount a filesystem here: {mounted.stderr.strip()}")
    try:
        yield LoopFilesystem(image, mountpoint)
    finally:
        _unmount(mountpoint)
