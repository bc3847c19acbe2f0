"""The local axis's configuration (a TOML file) and its organisation directory (CSV/JSON).

Example ``local-axis.toml``::

    organ_id = "000.00.00.G22"          # the axis's own OrganId, written in traces
    database = "local-axis.db"          # SQLite file (relative to this file)
    directory = "agencies.csv"          # organ_id,name,parent_id[,email,telephone,address]
    max_upload_bytes = 134217728
    max_clock_skew_seconds = 300
    trace_mode = "append-unsigned"      # or "metadata"

    [[systems]]
    systemid = "xa-nam-khanh"
    secret = "..."                      # shared HMAC secret of that system
    organ_ids = ["001.02.03.H17"]       # the organisations it sends for and receives for
"""

from __future__ import annotations

import csv
import json
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from ...errors import EdocError
from .._models import Agency

__all__ = ["LocalAxisConfig", "LocalAxisConfigError", "SystemConfig", "load_directory"]


class LocalAxisConfigError(EdocError):
    """The local axis's configuration or directory file is unusable."""


class SystemConfig(BaseModel):
    """A document-management system registered with the axis."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    systemid: str = Field(min_length=1)
    secret: SecretStr
    #: OrganIds this system sends for (checked against From) and receives for (inbox).
    organ_ids: list[str] = Field(min_length=1)


class LocalAxisConfig(BaseModel):
    """Everything the local axis needs; relative paths are resolved by :meth:`load`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    organ_id: str = "000.00.00.G22"
    database: Path = Path("local-axis.db")
    #: Where message files are kept; default: ``<database>.blobs`` beside the database.
    blob_dir: Path | None = None
    directory: Path | None = None
    max_upload_bytes: int = Field(128 * 1024 * 1024, gt=0)
    max_clock_skew_seconds: float = Field(300.0, gt=0)
    #: "append-unsigned": add the axis's TraceHeader to unsigned documents (a signed one is
    #: delivered byte for byte); "metadata": never touch the bytes, trace in the item only.
    trace_mode: Literal["append-unsigned", "metadata"] = "append-unsigned"
    systems: list[SystemConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_systems(self) -> LocalAxisConfig:
        ids = [s.systemid for s in self.systems]
        if len(ids) != len(set(ids)):
            raise ValueError("each systemid must appear once")
        return self

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
