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

from .axis import AxisSettings
from .errors import EdocError

__all__ = [
    "AuditSettings",
    "AxisSettings",
    "ConfigError",
    "DaemonSettings",
    "OfficeSettings",
    "Settings",
    "SignerSettings",
    "SigningSettings",
    "StoreSettings",
    "TrustSettings",
    "TsaSettings",
    "WebSettings",
    "load_settings",
]

DEFAULT_CONFIG = Path("edoc.toml")


class ConfigError(EdocError):
    """The configuration is missing, unreadable or invalid; says which key to fix."""


class StoreSettings(BaseModel):
    """Where the office's data lives."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: SQLAlchemy URL: ``sqlite:///path`` (default: the platform's data folder) or
    #: ``postgresql://user@host/db`` for a province's shared server.
    url: str | None = None
    #: SQLite's durability. "full" (default) puts every commit on disk before the daemon
    #: acknowledges at the axis or tells a clerk "queued". "normal" is UNSAFE here: a power
    #: cut loses the last commits, after the axis was told they were stored (kept for
    #: measurements and throwaway stores only).
    sqlite_synchronous: Literal["full", "extra", "normal"] = "full"
    #: Where large messages (over ``ReadLimits.large_message_bytes``) are kept as files,
    #: named by their SHA-256. Default for SQLite: ``<database file>.blobs`` beside it. A
    #: PostgreSQL store must name one (a folder every daemon and clerk of the office can
    #: read, on a shared disk when they run on several machines); without it a large
    #: message is refused storage with an error that names this setting.
    blob_dir: Path | None = None


class OfficeSettings(BaseModel):
    """Who this office is: it signs and sends as this organisation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    organ_id: str
    name: str
    #: The clerk named in status messages (StaffInfo).
    staff: str | None = None
    department: str | None = None
    #: The office's seal (dấu) as a PNG with a transparent background, red: the image of
    #: the organisation's signature on the PDFs it issues (Nghị định 30, Phụ lục I).
    seal_image: Path | None = None
    #: The seal's real diameter in millimetres (it is printed at its real size).
    seal_size_mm: float = Field(35.0, ge=10, le=80)


class SigningSettings(BaseModel):
    """The office's signing key: PEM key + certificate, a PKCS#12 file, or a PKCS#11 token.

    Passwords and PINs never live here: they come from EDOC_KEY_PASSWORD / EDOC_PKCS11_PIN.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: Path | None = None
    cert: Path | None = None
    chain: Path | None = None
    p12: Path | None = None
    pkcs11_module: Path | None = None
    token_label: str | None = None
    key_label: str | None = None


class SignerSettings(SigningSettings):
    """One person who signs documents with his own key (the chairman's token or soft
    certificate): ``[signers.NAME]``. His signature comes first; the văn thư then issues
    the document with the office's key (``[signing]``), the two-step flow of Nghị định 30.
    Secrets come from the same environment variables as ``[signing]``'s."""

    #: The name printed under the signature and shown to staff (NFC).
    display_name: str
    #: His position (chức vụ), as printed above the signature.
    title: str | None = None
    #: His signature as a PNG with a transparent background (blue or black ink).
    signature_image: Path | None = None
    #: The staff account (web user name) that is this person: approving a draft as that
    #: user signs it with this key.
    user: str | None = None


class TrustSettings(BaseModel):
    """Whose signatures incoming messages may carry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: CA certificates: a PEM bundle or a folder (never the system store).
    roots: Path
    #: Accept SHA-1 signatures (old archives only).
    allow_legacy_sha1: bool = False
    #: JSON {spki-sha256: [OrganId, ...]}: which key may sign for which sender.
    signers: Path | None = None
    #: When certificates must be valid: at the signing time in the message, or now.
    at: Literal["signing-time", "now"] = "signing-time"
    #: Refuse (answer 02) a signed document whose DocumentId names another issuer than its
    #: sender, instead of storing it flagged.
    strict_identity: bool = False
    #: Revocation of signers' certificates (CRL, OCSP): "require" refuses a signer whose
    #: status cannot be learnt; "prefer" accepts it and says "not checked since …"; "off".
    #: A revoked signer is refused under both "require" and "prefer".
    revocation: Literal["require", "prefer", "off"] = "prefer"
    #: Where CRLs and OCSP answers are cached (default: "revocation" beside the store).
    revocation_cache: Path | None = None
    #: Seconds one CRL or OCSP request may take (weak links: the receiving path waits at
    #: most this per URL, and a URL that failed is not asked again for retry seconds).
    revocation_timeout: float = Field(3.0, gt=0)
    revocation_retry: float = Field(300.0, gt=0)
    #: Warn (edoc status, metrics, pages) when a certificate expires within this many days.
    expiry_warning_days: int = Field(30, ge=0)


class DaemonSettings(BaseModel):
    """How the daemon runs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    inbound_interval: float = Field(30.0, gt=0)
    outbound_interval: float = Field(15.0, gt=0)
    directory_interval: float = Field(24 * 3600.0, gt=0)
    #: Health and metrics server (/healthz, /metrics); no server when port is 0.
    health_host: str = "127.0.0.1"
    health_port: int = Field(8787, ge=0, le=65535)
    #: Work claimed by a daemon that stopped beating this long ago is taken over (at
    #: once when its worker row says it stopped); a row held longer shows on /healthz.
    stale_after: float = Field(120.0, gt=0)
    #: Seconds between heartbeats of this process's worker row (a background thread;
    #: never more than stale_after / 4). Each beat is also the store's write probe.
    heartbeat_interval: float = Field(5.0, gt=0)
    #: After SIGTERM, each loop ends after the item in hand; past this many seconds the
    #: daemon stops waiting for a loop stuck in a call, marks its worker stopped (its
    #: work is taken over at once by the next start) and exits 0. Keep it below systemd's
    #: TimeoutStopSec (90 s by default).
    stop_timeout: float = Field(20.0, gt=0)
    #: A loop whose pass failed tries again after retry_initial, doubling up to this many
    #: seconds, and never later than its own interval: a failed directory refresh is
    #: retried within minutes, not the next day.
    failed_pass_retry_max: float = Field(600.0, gt=0)
    #: Seconds between WAL truncations of a SQLite store (it is also cut back at once
    #: whenever a large message made it grow).
    wal_checkpoint_interval: float = Field(600.0, gt=0)
    #: /healthz says "degraded" when the store has less room than this (MiB).
    min_free_mb: float = Field(64.0, ge=0)
    #: Outbox backoff after a transient failure: first delay and cap, in seconds.
    retry_initial: float = Field(30.0, gt=0)
    retry_max: float = Field(3600.0, gt=0)
    #: Following sent documents at the axis (getSentEdocList), per document: the first
    #: poll this many seconds after sending, then twice as long each time up to
    #: follow_max (also the wait once every recipient answered with a status message);
    #: no polls after follow_horizon_days (the clerk sees "following stopped"); at most
    #: follow_per_pass documents per outbound pass. Status messages that arrive update a
    #: document at any time.
    follow_first: float = Field(60.0, gt=0)
    follow_max: float = Field(6 * 3600.0, gt=0)
    follow_horizon_days: float = Field(30.0, gt=0)
    follow_per_pass: int = Field(100, ge=1)
    #: Sign an audit checkpoint after this many new entries.
    checkpoint_every: int = Field(100, ge=1)
    #: This process's name in claims (default: host name and process id).
    worker: str | None = None


class WebSettings(BaseModel):
    """The office's web pages (``edoc web``, or the daemon when ``enabled``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Whether ``edoc daemon run`` serves the pages too.
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    #: Cookies marked Secure. None: when the request came over TLS (behind a TLS proxy,
    #: set it to true).
    secure_cookies: bool | None = None
    #: The largest file (main document or attachment) a form accepts, in MiB.
    upload_max_mb: float = Field(50.0, gt=0)
    #: The largest request in all (a form with its files), in MiB: refused before it is
    #: written anywhere, so no upload can fill the disk.
    request_max_mb: float = Field(250.0, gt=0)
    #: Rows per page in the lists.
    page_size: int = Field(50, ge=5, le=500)
    #: The address the pages are reached at, for links in e-mails (default: none).
    base_url: str | None = None
    #: Notifications by e-mail through this SMTP server (no e-mail when host is None);
    #: its password comes from EDOC_SMTP_PASSWORD, never from this file.
    smtp_host: str | None = None
    smtp_port: int = Field(25, ge=1, le=65535)
    smtp_user: str | None = None
    smtp_starttls: bool = False
    smtp_from: str | None = None

    @property
    def upload_max_bytes(self) -> int:
        """``upload_max_mb`` in bytes: the bound the pages and the command line apply."""
        return int(self.upload_max_mb * 1024 * 1024)


class AuditSettings(BaseModel):
    """Where the office's signed audit checkpoints also go, outside the database."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: An append-only JSON-lines file of every signed checkpoint; ship it off the machine
    #: (a USB stick, the province's server): verifying the database against it detects a
    #: log rewritten or wiped by whoever can write the database.
    checkpoint_file: Path | None = None


class TsaSettings(BaseModel):
    """The timestamping authority (RFC 3161) whose timestamps prove when we signed, and
    whose timestamps on what we receive are trusted."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The TSA's address (http or https); no timestamps are asked for without it.
    url: str | None = None
    #: The TSAs trusted (their CA certificates: a PEM bundle or a folder). The tokens of
    #: our TSA are checked against them before use; on receipt, a timestamp from a TSA
    #: outside them is reported "untrusted" (its time is not taken as proven).
    roots: Path | None = None
    #: When the TSA cannot be reached or answers badly: refuse to sign (true), or sign
    #: without a timestamp and say so in the log (false).
    required: bool = True
    #: Seconds to wait for the TSA's answer.
    timeout: float = Field(10.0, gt=0)
    #: HTTP basic authentication at the TSA (the password only from EDOC_TSA__PASSWORD).
    username: str | None = None
    password: SecretStr | None = None
    #: Or a bearer token (EDOC_TSA__TOKEN).
    token: SecretStr | None = None


class Settings(BaseSettings):
    """Every setting of edoc-exchange; each layer's section is optional until it is used."""

    model_config = SettingsConfigDict(
        env_prefix="EDOC_",
        env_nested_delimiter="__",
        extra="ignore",
        frozen=True,
    )

    axis: AxisSettings | None = None
    store: StoreSettings = StoreSettings()
    office: OfficeSettings | None = None
    signing: SigningSettings | None = None
    trust: TrustSettings | None = None
    daemon: DaemonSettings = DaemonSettings()
    audit: AuditSettings = AuditSettings()
    web: WebSettings = WebSettings()
    tsa: TsaSettings = TsaSettings()
    #: People who sign with their own keys, by a short name (``[signers.chairman]``).
    signers: dict[str, SignerSettings] = Field(default_factory=dict)

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

    def require_office(self) -> OfficeSettings:
        """The office section, or a ConfigError saying how to provide it."""
        if self.office is None:
            raise ConfigError(
                "Chưa cấu hình cơ quan: thêm mục [office] (organ_id, name) vào tệp cấu hình",
                "no office configured: add an [office] section (organ_id, name) to the config",
                step="config.office",
            )
        return self.office

    def require_trust(self) -> TrustSettings:
        """The trust section, or a ConfigError saying how to provide it."""
        if self.trust is None:
            raise ConfigError(
                "Chưa cấu hình chứng thư tin cậy: thêm mục [trust] với roots = tệp/thư mục CA",
                "no trust store configured: add a [trust] section with roots = CA file or folder",
                step="config.trust",
            )
        return self.trust


def _resolve_paths(settings: Settings, base: Path) -> Settings:
    """Relative paths in any section are relative to the config file's folder."""
    updates: dict[str, BaseModel] = {}
    for name in type(settings).model_fields:
        section = getattr(settings, name)
        if not isinstance(section, BaseModel):
            continue
        fixed = {
            key: base / value
            for key in type(section).model_fields
            if isinstance(value := getattr(section, key), Path) and not value.is_absolute()
        }
        if fixed:
            updates[name] = section.model_copy(update=fixed)
    signers = {
        name: signer.model_copy(update={
            key: base / value
            for key in type(signer).model_fields
            if isinstance(value := getattr(signer, key), Path) and not value.is_absolute()
        })
        for name, signer in settings.signers.items()
    }
    if signers:
        return settings.model_copy(update={**updates, "signers": signers})
    return settings.model_copy(update=updates) if updates else settings


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
    if path is not None:
        settings = _resolve_paths(settings, path.parent)
    return settings
