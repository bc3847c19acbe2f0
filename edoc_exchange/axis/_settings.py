"""How an office talks to the axis: the client's own settings (``[axis]`` of the config).

They live with the client, not in the application's configuration module, so that the
protocol package knows nothing of the application around it; :mod:`edoc_exchange.config`
reads the ``[axis]`` section into this model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

__all__ = ["AxisSettings"]


class AxisSettings(BaseModel):
    """How this office talks to the axis (the national one, or a local one for training).

    By default every request is what the official SDK (SDKVXP 2.0.1) sends, so the
    national axis sees nothing new (``shared/spec/axis-sdk-wire.md``). Two settings exist
    for a deployment that proves different; change them only when its axis refuses the
    default:

    - ``upload_framing``: ``"raw"`` (default) sends the file then CRLF as
      ``application/octet-stream``, as the SDK does; ``"multipart"`` sends a
      ``multipart/form-data`` part named ``file_doc``, as older documents describe.
    - ``hash_file_style``: ``"sdk"`` (default) writes ``hash-file`` byte by byte without
      leading zeros (Java's ``Integer.toHexString``), as the SDK does; ``"hex"`` writes the
      standard 64 hex characters.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Base URL; each call goes to ``endpoint + "/" + operation``.
    endpoint: str
    #: The system id the axis registered for this office's software.
    systemid: str
    #: The shared HMAC secret. Never printed; prefer EDOC_AXIS__SECRET over the file.
    secret: SecretStr
    #: This office's OrganId: the ``from`` of what it sends.
    organ_id: str | None = None
    #: Seconds each step of an HTTP attempt may wait (connect, one write, one read).
    timeout: float = Field(30.0, gt=0)
    #: Seconds one attempt may take in all: connecting, sending, waiting and every read of
    #: the answer, however slowly it trickles in; past it the call ends with AxisTimeout
    #: (and is retried like any timeout). ``timeout`` alone bounds each read, not a call.
    deadline: float = Field(45.0, gt=0)
    #: Extra seconds of ``deadline`` per MiB uploaded, so that a large document can still
    #: be sent over a slow link (20 s/MiB allows about 50 KB/s).
    deadline_per_mib: float = Field(20.0, ge=0)
    #: Retries after the first attempt (the SDK's default is 4).
    retries: int = Field(4, ge=0, le=20)
    #: No retry starts after this many seconds from the first attempt; a call with its
    #: retries thus ends within about max_retry_time + backoff_max + deadline seconds.
    max_retry_time: float = Field(120.0, gt=0)
    #: First backoff in seconds; doubles up to backoff_max, with up to this much jitter.
    backoff_initial: float = Field(0.5, ge=0)
    backoff_max: float = Field(10.0, ge=0)
    #: A Retry-After longer than this is not waited for: the call fails at once.
    max_retry_after: float = Field(60.0, ge=0)
    #: Pooled connections to the axis (the SDK's default is 10).
    max_connections: int = Field(10, ge=1)
    #: CA bundle (PEM) to verify the axis's TLS certificate; the system store when unset.
    ca_bundle: Path | None = None
    #: Client certificate (PEM) and its key, for an adapter that requires mutual TLS.
    client_cert: Path | None = None
    client_key: Path | None = None
    #: Where ``edoc fetch`` writes messages when no -o is given; getEdoc also signs it as
    #: ``filePath``, as the SDK signs its download folder.
    download_folder: Path = Path("downloads")
    #: How the timestamp's four digits after '+' are written (see axis._auth).
    timestamp_style: Literal["millis", "offset"] = "millis"
    #: How a send carries the file: "raw" (the SDK's) or "multipart" (see above).
    upload_framing: Literal["raw", "multipart"] = "raw"
    #: How hash-file writes the SHA-256: "sdk" (the SDK's) or "hex" (see above).
    hash_file_style: Literal["sdk", "hex"] = "sdk"
