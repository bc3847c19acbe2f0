"""Typed results of axis calls, parsed from the protocol's JSON.

Field names follow Python; aliases are the protocol's keys. Fields the axis may leave out
are optional and keys it adds are ignored, so a newer axis does not break an older client.
An optional text the axis sends empty (``""``, which it sends where the SDK would choke on
``null``) reads as None. Times are kept as the text the axis sent: the national axis's time
format is not documented, and guessing it would turn a harmless difference into a failure.
"""

from __future__ import annotations

import enum
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "AckStatus",
    "Agency",
    "MessageType",
    "ReceivedItem",
    "RecipientStatus",
    "SendResult",
    "TraceRecord",
]


class MessageType(enum.StrEnum):
    """The protocol's ``messagetype``."""

    EDOC = "edoc"  #: a document (văn bản)
    STATUS = "status"  #: a status message (thông điệp trạng thái)


class AckStatus(enum.StrEnum):
    """The ``status`` of ``updateStatus``: what the receiver did with an item."""

    DONE = "done"  #: taken in: the item leaves the received list
    FAIL = "fail"  #: refused or unreadable: the item leaves the list, the sender sees "fail"
    PROCESSING = "processing"  #: being handled: the item stays listed (named in SDK comments)


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")


def _text(value: Any) -> Any:
    # The axis is loose with types (numbers for ids, null for empty): keep text as text.
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


def _optional_text(value: Any) -> Any:
    # "" is how an answer says "none" without a null the SDK would choke on.
    value = _text(value)
    return None if isinstance(value, str) and not value.strip() else value


class SendResult(_Result):
    """What ``sendEdoc`` answered: the DocId the axis assigned (the same for a re-send)."""

    doc_id: str = Field(validation_alias=AliasChoices("DocId", "docId", "doc_id"))
    #: Whether the axis recognised the message as already sent (local axis only).
    duplicate: bool = False

    _coerce = field_validator("doc_id", mode="before")(_text)


class TraceRecord(_Result):
    """The axis's own trace of a delivery (OrganId of the axis and when it took the item)."""

    organ_id: str = Field(validation_alias=AliasChoices("OrganId", "organ_id"))
    timestamp: str = Field(validation_alias=AliasChoices("Timestamp", "timestamp"))


class ReceivedItem(_Result):
    """One item of ``getReceivedEdocList``; it stays listed until acknowledged."""

    doc_id: str = Field(validation_alias=AliasChoices("docId", "DocId", "doc_id"))
    sender: str | None = Field(None, validation_alias=AliasChoices("from", "sender"))
    to: str | list[str] | None = None
    status: str | None = None
    status_desc: str | None = None
    created_time: str | None = None
    updated_time: str | None = None
    #: edXML DocumentId (local axis; lets a receiver de-duplicate before fetching).
    document_id: str | None = Field(
        None, validation_alias=AliasChoices("documentId", "document_id")
    )
    message_type: str | None = Field(
        None, validation_alias=AliasChoices("messageType", "messagetype", "message_type")
    )
    size: int | None = None
    trace: list[TraceRecord] = Field(default_factory=list)

    _coerce = field_validator("doc_id", mode="before")(_text)
    _blank = field_validator(
        "sender",
        "to",
        "status",
        "status_desc",
        "created_time",
        "updated_time",
        "document_id",
        "message_type",
        mode="before",
    )(_optional_text)


class RecipientStatus(_Result):
    """One recipient's row of ``getSentEdocList``: was it delivered, was it taken in."""

    to_code: str = Field(validation_alias=AliasChoices("toCode", "to_code"))
    send_status: str | None = Field(
        None, validation_alias=AliasChoices("sendStatus", "send_status")
    )
    send_status_desc: str | None = Field(
        None, validation_alias=AliasChoices("sendStatusDesc", "send_status_desc")
    )
    receive_status: str | None = Field(
        None, validation_alias=AliasChoices("receiveStatus", "receive_status")
    )
    receive_status_desc: str | None = Field(
        None, validation_alias=AliasChoices("receiveStatusDesc", "receive_status_desc")
    )
    sent_time: str | None = Field(None, validation_alias=AliasChoices("sentTime", "sent_time"))
    received_time: str | None = Field(
        None, validation_alias=AliasChoices("receivedTime", "received_time")
    )
    sender_doc_id: str | None = Field(
        None, validation_alias=AliasChoices("senderDocId", "sender_doc_id")
    )
    receiver_doc_id: str | None = Field(
        None, validation_alias=AliasChoices("receiverDocId", "receiver_doc_id")
    )
    title: str | None = None
    notation: str | None = None
    #: The last StatusCode the recipient sent back for this document (local axis).
    last_status_code: str | None = Field(
        None, validation_alias=AliasChoices("lastStatusCode", "last_status_code")
    )

    _coerce = field_validator("to_code", mode="before")(_text)
    _blank = field_validator(
        "send_status",
        "send_status_desc",
        "receive_status",
        "receive_status_desc",
        "sent_time",
        "received_time",
        "sender_doc_id",
        "receiver_doc_id",
        "title",
        "notation",
        "last_status_code",
        mode="before",
    )(_optional_text)


class Agency(_Result):
    """An organisation of the directory (``getAgenciesList``)."""

    organ_id: str = Field(validation_alias=AliasChoices("code", "OrganId", "organ_id", "organId"))
    name: str = Field("", validation_alias=AliasChoices("name", "OrganName", "organ_name"))
    #: The parent's code: ``pcode``, else ``pid`` (the SDK reads ``pid`` for the parent).
    parent_id: str | None = Field(
        None, validation_alias=AliasChoices("pcode", "pid", "parent", "parent_id", "parentId")
    )
    email: str | None = Field(None, validation_alias=AliasChoices("mail", "email"))
    telephone: str | None = Field(None, validation_alias=AliasChoices("mobile", "telephone"))
    address: str | None = Field(None, validation_alias=AliasChoices("address", "OrganAdd"))

    _coerce = field_validator("organ_id", mode="before")(_text)
    _blank = field_validator("parent_id", "email", "telephone", "address", mode="before")(
        _optional_text
    )
