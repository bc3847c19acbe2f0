"""Build an :class:`~.office.Office` from the settings: the one place the parts are joined.

Secrets (key password, token PIN) come from EDOC_KEY_PASSWORD / EDOC_PKCS11_PIN: a daemon
has nobody to ask.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import socket

from .. import signing
from ..axis import AxisClient
from ..config import ConfigError, Settings, SigningSettings, TrustSettings
from ..store import Database, open_database, upgrade
from ._office import Office, OfficeIdentity

__all__ = [
    "build_office",
    "load_policy",
    "load_signer",
    "open_store",
    "record_configuration",
    "upgrade_store",
]

KEY_PASSWORD_ENV = "EDOC_KEY_PASSWORD"  # noqa: S105 (a variable name)
PIN_ENV = "EDOC_PKCS11_PIN"


def open_store(settings: Settings, *, migrate: bool = True) -> Database:
    """Open the configured database and bring its schema up to date."""
    db = open_database(settings.store.url)
    if migrate:
        upgrade(db)
    return db


def upgrade_store(settings: Settings) -> tuple[str, str]:
    """Create or migrate the configured database; return its URL (no password) and revision."""
    db = open_store(settings, migrate=False)
    try:
        return str(db.url), upgrade(db)
    finally:
        db.dispose()


def _env_secret(name: str) -> bytes | None:
    value = os.environ.get(name)
    return value.encode() if value else None


def load_signer(section: SigningSettings | None) -> signing.Signer | None:
    """The office's signer from the settings, or None when none is configured."""
    if section is None:
        return None
    sources = [section.key is not None, section.p12 is not None, section.pkcs11_module is not None]
    if sum(sources) != 1:
        raise ConfigError(
            "Mục [signing] cần đúng một nguồn khóa: key + cert, p12, hoặc pkcs11_module",
            "the [signing] section needs exactly one key source: key + cert, p12, or pkcs11_module",
            step="config.signing",
        )
    if section.key is not None:
        if section.cert is None:
            raise ConfigError(
                "Mục [signing] có key nhưng thiếu cert",
                "[signing] has key but no cert",
                step="config.signing.cert",
            )
        return signing.load_pem_signer(
            section.key,
            section.cert,
            password=_env_secret(KEY_PASSWORD_ENV),
            chain_path=section.chain,
        )
    if section.p12 is not None:
        return signing.load_pkcs12_signer(section.p12, password=_env_secret(KEY_PASSWORD_ENV))
    assert section.pkcs11_module is not None
    pin = os.environ.get(PIN_ENV)
    if not pin or not section.token_label or not section.key_label:
        raise ConfigError(
            f"Token PKCS#11 cần token_label, key_label và biến môi trường {PIN_ENV}",
            f"a PKCS#11 token needs token_label, key_label and the {PIN_ENV} variable",
            step="config.signing",
        )
    certificate = signing.read_certificates(section.cert)[0] if section.cert is not None else None
    return signing.Pkcs11Signer.open(
        module=section.pkcs11_module,
        token_label=section.token_label,
        key_label=section.key_label,
        pin=pin,
        certificate=certificate,
    )


def load_policy(section: TrustSettings) -> signing.TrustPolicy:
    """The trust policy the settings describe."""
    organ_ids = signing.load_organ_map(section.signers) if section.signers is not None else None
    return signing.TrustPolicy.from_path(
        section.roots,
        allow_legacy_sha1=section.allow_legacy_sha1,
        at=section.at,
        organ_ids=organ_ids,
    )


def build_office(
    settings: Settings, *, db: Database | None = None, receiving: bool = True
) -> Office:
    """Everything one office's daemon (or the clerk's commands) works with.

    ``receiving=False`` is for commands that only queue and send (``edoc send``,
    ``compose --queue``): they need no ``[trust]`` section, which only verification uses.
    """
    office = settings.require_office()
    axis = settings.require_axis()
    if axis.organ_id is not None and axis.organ_id != office.organ_id:
        raise ConfigError(
            f"axis.organ_id ({axis.organ_id}) khác office.organ_id ({office.organ_id})",
            f"axis.organ_id ({axis.organ_id}) differs from office.organ_id ({office.organ_id})",
            step="config.axis.organ_id",
        )
    if axis.organ_id is None:
        axis = axis.model_copy(update={"organ_id": office.organ_id})
    d = settings.daemon
    return Office(
        identity=OfficeIdentity(
            organ_id=office.organ_id,
            organ_name=office.name,
            staff=office.staff,
            department=office.department,
        ),
        db=db or open_store(settings),
        client=AxisClient(axis),
        signer=load_signer(settings.signing),
        policy=load_policy(settings.require_trust()) if receiving else None,
        worker=d.worker or f"{socket.gethostname()}-{os.getpid()}",
        stale_after=dt.timedelta(seconds=d.stale_after),
        retry_initial=dt.timedelta(seconds=d.retry_initial),
        retry_max=dt.timedelta(seconds=d.retry_max),
        checkpoint_every=d.checkpoint_every,
        checkpoint_file=settings.audit.checkpoint_file,
    )


def record_configuration(office: Office, settings: Settings) -> list[str]:
    """Append config_changed / key_changed events when they differ from the last recorded.

    The configuration is fingerprinted without its secrets (SecretStr fields are masked),
    the key by its certificate's SHA-256; an inspector sees when either changed.
    """
    from cryptography.hazmat.primitives import hashes

    from .. import audit

    config = settings.model_dump(mode="json")  # SecretStr dumps as "**********"
    config_hash = hashlib.sha256(
        json.dumps(config, sort_keys=True, ensure_ascii=False).encode("utf-8")
    ).hexdigest()
    key = None
    if office.signer is not None:
        cert = office.signer.certificates[0]
        key = {
            "certificate_sha256": cert.fingerprint(hashes.SHA256()).hex(),
            "subject": cert.subject.rfc4514_string(),
            "not_after": cert.not_valid_after_utc.isoformat(),
        }
    wanted = {
        audit.AuditEvent.CONFIG_CHANGED: {"sha256": config_hash},
        audit.AuditEvent.KEY_CHANGED: key,
    }
    recorded: list[str] = []
    with office.db.transaction() as conn:
        for event, data in wanted.items():
            last = audit.last_event(conn, office.office_id, event)
            previous = last.data["data"] if last is not None else None
            if data is not None and previous != data:
                audit.append(conn, office.office_id, event, data)
                recorded.append(event.value)
    return recorded
