"""The local axis's configuration (a TOML file) and its organisation directory (CSV/JSON).

Example ``local-axis.toml``::

    organ_id = "000.00.00.G22"          # the axis's own OrganId, written in traces
    database = "local-axis.db"          # SQLite file (relative to this file)
    directory = "agencies.csv"          # organ_id,name,parent_id[,email,telephone,address]
    max_upload_bytes = 201326592        # 192 MiB: a 100 MiB file as base64, and more
    max_clock_skew_seconds = 300        # or "off"
    trace = true                        # append the axis's TraceHeader to every document
    # trace_organ_id = ""               # OrganId of that hop: unset = organ_id above,
                                        # "" = no OrganId element, "null" = the text null
    line_ends = "keep"                  # or "crlf", as the national axis delivers

    [[systems]]
    systemid = "xa-nam-khanh"
    secret = "..."                      # shared HMAC secret of that system
    organ_ids = ["001.02.03.H17"]       # the organisations it sends for and receives for
    # max_clock_skew_seconds = "off"    # this system's window, overriding the one above

The freshness window: the official SDK stamps a request once, when its service object is
created, in the JVM's zone (Vietnam time or UTC), and a vendor may keep one object for the
life of its process. A narrow window protects against replayed requests but refuses such a
system after a few minutes; ``"off"`` for that system accepts its frozen timestamp (the
HMAC is still checked) at the price of replay protection for that system only.

``trace_mode`` (``"append-unsigned"`` or ``"metadata"``) is the older name of ``trace``:
``"metadata"`` means ``trace = false``.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from ...axis import Agency
from ...errors import EdocError

__all__ = ["LocalAxisConfig", "LocalAxisConfigError", "SystemConfig", "load_directory"]


class LocalAxisConfigError(EdocError):
    """The local axis's configuration or directory file is unusable."""


#: Seconds a request's timestamp may be off the axis clock, or "off" (not checked).
Skew = Annotated[float, Field(gt=0)] | Literal["off"]


def skew_window(value: Skew) -> dt.timedelta | None:
    """The window as :func:`~edoc_exchange.axis._auth.verify_headers` takes it."""
    return None if value == "off" else dt.timedelta(seconds=value)


class SystemConfig(BaseModel):
    """A document-management system registered with the axis."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    systemid: str = Field(min_length=1)
    secret: SecretStr
    #: OrganIds this system sends for (checked against From) and receives for (inbox).
    organ_ids: list[str] = Field(min_length=1)
    #: This system's freshness window, overriding the axis-wide one (see the module doc).
    max_clock_skew_seconds: Skew | None = None


class LocalAxisConfig(BaseModel):
    """Everything the local axis needs; relative paths are resolved by :meth:`load`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    organ_id: str = "000.00.00.G22"
    database: Path = Path("local-axis.db")
    #: Where message files are kept; default: ``<database>.blobs`` beside the database.
    blob_dir: Path | None = None
    directory: Path | None = None
    #: Largest upload (the .edxml); the reader's default ReadLimits.max_bytes, so that a
    #: 100 MiB attachment (133.4 MiB of base64) goes through.
    max_upload_bytes: int = Field(192 * 1024 * 1024, gt=0)
    #: Default freshness window of timestamps (a system may override it), or "off".
    max_clock_skew_seconds: Skew = 300.0
    #: Append the axis's TraceHeader to every delivered document, as the national axis does.
    trace: bool = True
    #: OrganId of the axis's hop: None = ``organ_id``; "" = no OrganId element (as the
    #: national axis once delivered); "null" is written as that text (as it also did).
    trace_organ_id: str | None = None
    #: "crlf": deliver with CRLF line ends, as the national axis does; "keep": as sent.
    line_ends: Literal["keep", "crlf"] = "keep"
    systems: list[SystemConfig] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _older_trace_mode(cls, data: Any) -> Any:
        # trace_mode = "metadata" | "append-unsigned" is how older files say trace = false/true.
        if isinstance(data, dict) and "trace_mode" in data:
            data = dict(data)
            mode = data.pop("trace_mode")
            if mode not in ("metadata", "append-unsigned"):
                raise ValueError("trace_mode is 'append-unsigned' or 'metadata' (or use trace)")
            data.setdefault("trace", mode != "metadata")
        return data

    @model_validator(mode="after")
    def _unique_systems(self) -> LocalAxisConfig:
        ids = [s.systemid for s in self.systems]
        if len(ids) != len(set(ids)):
            raise ValueError("each systemid must appear once")
        return self

    def max_skew_for(self, systemid: str) -> dt.timedelta | None:
        """The freshness window of ``systemid``'s timestamps (None: not checked)."""
        for system in self.systems:
            if system.systemid == systemid and system.max_clock_skew_seconds is not None:
                return skew_window(system.max_clock_skew_seconds)
        return skew_window(self.max_clock_skew_seconds)

    @property
    def trace_organ(self) -> str | None:
        """The OrganId written in the axis's hop; None when the element is left out."""
        if self.trace_organ_id is None:
            return self.organ_id
        return self.trace_organ_id or None

    @property
    def blobs(self) -> Path:
        return self.blob_dir or self.database.with_name(self.database.name + ".blobs")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> LocalAxisConfig:
        """Read a TOML file; raises :class:`LocalAxisConfigError` naming the bad key."""
        file = Path(path)
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise LocalAxisConfigError(
                f"Không đọc được cấu hình trục {file}: {exc}",
                f"cannot read local axis config {file}: {exc}",
                step="axis.serve.config",
            ) from None
        try:
            config = cls.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise LocalAxisConfigError(
                f"Cấu hình trục sai ở '{where}': {first['msg']}",
                f"invalid local axis setting '{where}': {first['msg']}",
                step=f"axis.serve.config.{where}",
            ) from None
        base = file.parent
        updates: dict[str, Any] = {}
        for key in ("database", "blob_dir", "directory"):
            value = getattr(config, key)
            if isinstance(value, Path) and not value.is_absolute():
                updates[key] = base / value
        return config.model_copy(update=updates)


def load_directory(path: Path) -> list[Agency]:
    """Organisations from a CSV (header row) or JSON (list, or ``{"data": [...]}``) file."""
    try:
        text = path.read_text(encoding="utf-8-sig")
        rows: Any
        if path.suffix.lower() == ".json":
            rows = json.loads(text)
            if isinstance(rows, dict):
                rows = rows.get("data", [])
        else:
            rows = list(csv.DictReader(text.splitlines()))
        if not isinstance(rows, list):
            raise ValueError("expected a list of organisations")
        agencies = []
        for row in rows:
            if isinstance(row, dict):
                row = {k.strip(): (v or None) for k, v in row.items() if isinstance(k, str)}
            agencies.append(Agency.model_validate(row))
        return agencies
    except (OSError, ValueError) as exc:
        raise LocalAxisConfigError(
            f"Không đọc được danh bạ cơ quan {path}: {exc}",
            f"cannot read the organisation directory {path}: {exc}",
            step="axis.serve.directory",
        ) from None
