"""Bounds on untrusted input: what the reader checks before, while and after parsing.

Its own module because the reader and the unpacking of zipped attachments both obey it.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_LIMITS", "ReadLimits"]


@dataclass(frozen=True, slots=True)
class ReadLimits:
    """Bounds on untrusted input, checked before or while parsing.

    The defaults fit any real document exchange (the largest messages seen carry tens of
    megabytes of scans; a 100 MiB file is admitted end to end) while keeping a hostile
    input from exhausting memory: a message of ``large_message_bytes`` or more is read and
    verified on its file (``signing.verify_file``), never whole in memory.
    """

    #: Largest accepted message in bytes (base64 attachments included). A 100 MiB file is
    #: 133.4 MiB of base64, more with line breaks (76-character lines add 1.3-2.6%).
    max_bytes: int = 192 * 1024 * 1024
    #: Most attachments in one message.
    max_attachments: int = 200
    #: Most XML tags (start, end and empty) in one message.
    max_tags: int = 200_000
    #: Deepest element nesting.
    max_depth: int = 64
    #: Most entries (files and folders) in one zipped attachment. The official SDK zips
    #: one file per attachment; a few more are read (the first file is the attachment).
    max_zip_entries: int = 16
    #: Most bytes unzipped from all the zipped attachments of one message.
    max_unpacked_bytes: int = 256 * 1024 * 1024
    #: Largest ratio of unzipped to zipped size, once more than ``zip_ratio_floor`` bytes
    #: came out: office documents compress 2-20x, a zip bomb thousands of times.
    max_zip_ratio: int = 200
    #: Unzipped size below which the ratio is not checked (a page of blanks compresses
    #: far, and a small file cannot exhaust anything).
    zip_ratio_floor: int = 1024 * 1024
    #: From this size on a message is verified and stored on its file, with attachments
    #: decoded chunk by chunk (``signing.verify_file``, ``edxml.large``): memory then stays
    #: a small multiple of a chunk instead of about ten times the message.
    large_message_bytes: int = 8 * 1024 * 1024


DEFAULT_LIMITS = ReadLimits()
