"""What one audit entry is: canonical JSON, chained by SHA-256, an RFC 6962 Merkle leaf.

Every entry is canonical JSON (sorted keys, no spaces, UTF-8, NFC text) holding its own
sequence number, the office, the event, the time, the event's data and the hash of the
previous entry::

    {"data":{…},"event":"received","office":"000.12.05.H38","prev":"<64 hex>","seq":7,
     "time":"2026-07-01T03:04:05.123456Z"}

Its ``entry_hash`` (SHA-256 of the JSON) chains it to the next entry; the same JSON is the
entry's Merkle leaf. This module holds the format only: :mod:`.appending` writes entries,
:mod:`.log` reads them and makes checkpoints, :mod:`.verify` checks them.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import merkle
from ._errors import AuditDataError

__all__ = [
    "GENESIS",
    "AuditEntry",
    "AuditEvent",
    "canonical_json",
    "entry_body",
    "iso",
    "json_text",
    "now",
]

#: The "previous hash" of the first entry.
GENESIS = "0" * 64


class AuditEvent(enum.StrEnum):
    """What happened. The report and the inspector read these names: never rename one."""

    COMPOSED = "composed"
    SIGNED = "signed"
    QUEUED = "queued"
    SENT = "sent"
    SEND_FAILED = "send_failed"
    RECEIVED = "received"
    VERIFIED = "verified"
    REJECTED = "rejected"
    ACKNOWLEDGED = "acknowledged"
    STATUS_SENT = "status_sent"
    STATUS_RECEIVED = "status_received"
    CLERK_ACTION = "clerk_action"
    KEY_CHANGED = "key_changed"
    CONFIG_CHANGED = "config_changed"
    #: A sent document's following reached its horizon: the axis is no longer asked.
    FOLLOW_STOPPED = "follow_stopped"
    #: A member of staff signed in to the web pages, or was refused (the reason said).
    SIGNED_IN = "signed_in"
    SIGN_IN_REFUSED = "sign_in_refused"
    SIGNED_OUT = "signed_out"
    #: An account was added, disabled, given a new password or a new role.
    ACCOUNT_CHANGED = "account_changed"
    #: A received document took its number in the incoming register (vào sổ).
    REGISTERED = "registered"
    #: A received document was given to an officer to handle, with a deadline.
    ASSIGNED = "assigned"
    #: An outgoing draft was written, changed, submitted, approved or sent back.
    DRAFT_CHANGED = "draft_changed"
    #: An approved draft was numbered, signed and queued (its DocumentId is now fixed).
    ISSUED = "issued"
    #: A failed outgoing message was queued again by a person.
    RESENT = "resent"
    #: This office revoked, updated or replaced a document it sent (the message queued).
    LIFECYCLE_SENT = "lifecycle_sent"
    #: A peer's revoke, update or replace arrived: applied to the stored original, or kept
    #: and reported (original unknown, or another sender's document named).
    LIFECYCLE_RECEIVED = "lifecycle_received"
    #: A take-back (status 13) was asked, or answered (15 accepted, 16 refused).
    TAKE_BACK = "take_back"
    #: The signatures of a received document's PDF attachments were checked (verdicts said).
    PDF_CHECKED = "pdf_checked"
    #: The clerk entered the documents handled on paper in a quarter (e-governance report).
    PAPER_COUNTED = "paper_counted"


def _nfc(value: Any, what: str) -> Any:
    """``value`` with every text NFC-normalised; AuditDataError (naming where) for anything
    JSON cannot state exactly: floats (their text differs between implementations) and
    objects that are not text, integers, booleans, null, mappings or sequences."""
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, bool | int) or value is None:
        return value
    if isinstance(value, Mapping):
        normal: dict[Any, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str | int):
                raise AuditDataError(f"{what}, key {key!r}", f"a key of type {type(key).__name__}")
            name = unicodedata.normalize("NFC", key) if isinstance(key, str) else key
            normal[name] = _nfc(item, f"{what}.{key}")
        return normal
    if isinstance(value, list | tuple):
        return [_nfc(item, f"{what}[{index}]") for index, item in enumerate(value)]
    if isinstance(value, float):
        found = f"the float {value!r}"
    else:
        found = f"a value of type {type(value).__name__}"
    raise AuditDataError(what, found)


def canonical_json(value: Any, *, what: str = "the value") -> bytes:
    """Sorted keys, no whitespace, UTF-8, NFC strings: one byte string per meaning.

    Floats are refused (their text is not stable across implementations; use integers or
    strings for figures), as is anything else JSON cannot state exactly: AuditDataError,
    also a TypeError, naming ``what`` and the place in it.
    """
    return json.dumps(
        _nfc(value, what), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")


def json_text(value: str) -> str:
    """A JSON string as canonical_json writes it."""
    return json.dumps(unicodedata.normalize("NFC", value), ensure_ascii=False)


def entry_body(
    *, data_json: str, event_json: str, office_json: str, prev: str, seq: int, time_json: str
) -> bytes:
    """An entry's canonical JSON from its parts already written as JSON (keys in order).

    Equal to ``canonical_json({"data": …, "event": …, "office": …, "prev": …, "seq": …,
    "time": …})`` (a test holds it), without serialising the data again while the head row
    is locked: ``data_json`` is ``canonical_json(data)`` made when the event was added.
    """
    return (
        f'{{"data":{data_json},"event":{event_json},"office":{office_json},'
        f'"prev":"{prev}","seq":{seq},"time":{time_json}}}'
    ).encode()


def now() -> dt.datetime:
    """The time an entry records when the caller gives none."""
    return dt.datetime.now(dt.UTC)


def iso(value: dt.datetime) -> str:
    """An entry's (and a checkpoint's) time text: UTC, microseconds, ``Z``."""
    return value.astimezone(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One stored entry: its canonical JSON ``body`` is the truth, the rest is derived."""

    office_id: str
    seq: int
    event: str
    body: bytes
    prev_hash: str
    entry_hash: str

    @property
    def data(self) -> dict[str, Any]:
        """The decoded body."""
        decoded: dict[str, Any] = json.loads(self.body)
        return decoded

    @property
    def time(self) -> dt.datetime:
        """When the event was recorded (UTC), from the entry itself."""
        return dt.datetime.fromisoformat(str(self.data["time"]).replace("Z", "+00:00"))

    @property
    def leaf_hash(self) -> bytes:
        """This entry's RFC 6962 leaf hash."""
        return merkle.leaf_hash(self.body)
