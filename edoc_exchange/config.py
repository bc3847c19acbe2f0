"""Settings from a TOML file and ``EDOC_*`` environment variables (pydantic-settings).

One :class:`Settings` object with one section per layer; this issue adds ``axis``, later
ones add ``store``, ``daemon`` and ``signing`` the same way (a BaseModel field that may be
absent). Environment variables override the file and reach nested fields with ``__``::

    EDOC_AXIS__ENDPOINT=http://10.0.0.5:8080/XrdAdapter/adapter
    EDOC_AXIS__SECRET=...            # better than writing it in a file others can read

The file is the one given explicitly, else ``$EDOC_CONFIG``, else ``./edoc.toml`` when it
exists. Relative paths in the file are taken relative to the file's folder.
Secrets are :class:`~pydantic.SecretStr`: ``repr`` and logs show ``'**********'``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, cast

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from .errors import EdocError

__all__ = ["AxisSettings", "ConfigError", "Settings", "load_settings"]

DEFAULT_CONFIG = Path("edoc.toml")


class ConfigError(EdocError):
    """The configuration is missing, unreadable or invalid; says which key to fix."""


class AxisSettings(BaseModel):
    """How this office talks to the axis (the national one, or a local one for training)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Base URL; each call goes to ``endpoint + "/" + operation``.
    endpoint: str
    #: The system id the axis registered for this office's software.
    systemid: str
    #: The shared HMAC secret. Never printed; prefer EDOC_AXIS__SECRET over the file.
    secret: SecretStr
    #: This office's OrganId: the ``from`` of what it sends.
    organ_id: str | None = None
    #: Seconds for each HTTP attempt (connect, write, read, pool), never unlimited.
    timeout: float = Field(30.0, gt=0)
    #: Retries after the first attempt (the SDK's default is 4).
    retries: int = Field(4, ge=0, le=20)
    #: No retry starts after this many seconds from the first attempt.
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
    #: Where ``edoc fetch`` writes messages when no -o is given.
    download_folder: Path = Path("downloads")
    #: How the timestamp's four digits after '+' are written (see axis._auth).
    timestamp_style: Literal["millis", "offset"] = "millis"


class Settings(BaseSettings):
    """Every setting of edoc-exchange; each layer's section is optional until it is used."""

    model_config = SettingsConfigDict(
        env_prefix="EDOC_",
        env_nested_delimiter="__",
        extra="ignore",
        frozen=True,
    )

    axis: AxisSettings | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Arguments beat the environment, which beats the file.
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))

    def require_axis(self) -> AxisSettings:
        """The axis section, or a ConfigError saying how to provide it."""
        if self.axis is None:
            raise ConfigError(
                "Chưa cấu hình kết nối trục: thêm mục [axis] (endpoint, systemid, secret) "
                "vào tệp cấu hình hoặc đặt biến EDOC_AXIS__ENDPOINT, EDOC_AXIS__SYSTEMID, "
                "EDOC_AXIS__SECRET",
                "no axis connection configured: add an [axis] section (endpoint, systemid, "
                "secret) to the config file or set EDOC_AXIS__ENDPOINT, EDOC_AXIS__SYSTEMID, "
                "EDOC_AXIS__SECRET",
                step="config.axis",
            )
        return self.axis


_PATH_KEYS = ("ca_bundle", "client_cert", "client_key", "download_folder")


def load_settings(config_file: str | os.PathLike[str] | None = None) -> Settings:
    """Read the settings; raise :class:`ConfigError` (bilingual, naming the key) if invalid."""
    path: Path | None
    if config_file is not None:
        path = Path(config_file)
        if not path.is_file():
            raise ConfigError(
                f"Không tìm thấy tệp cấu hình {path}",
                f"config file {path} not found",
                step="config",
            )
    elif os.environ.get("EDOC_CONFIG"):
        path = Path(os.environ["EDOC_CONFIG"])
    else:
        path = DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None
    file_settings = type(
        "FileSettings",
        (Settings,),
        {"model_config": {**Settings.model_config, "toml_file": path}},
    )
    try:
        settings = cast(Settings, file_settings())
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(
            f"Cấu hình sai ở '{where}': {first['msg']} ({exc.error_count()} lỗi)",
            f"invalid setting '{where}': {first['msg']} ({exc.error_count()} errors)",
            step=f"config.{where}",
        ) from None
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"Không đọc được tệp cấu hình {path}: {exc}",
            f"cannot read config file {path}: {exc}",
            step="config",
        ) from None
    if path is not None and settings.axis is not None:
        base = path.parent
        updates = {
            key: base / value
            for key in _PATH_KEYS
            if isinstance(value := getattr(settings.axis, key), Path) and not value.is_absolute()
        }
        if updates:
            settings = settings.model_copy(
                update={"axis": settings.axis.model_copy(update=updates)}
            )
    return settings
