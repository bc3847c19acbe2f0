"""Build an :class:`~.office.Office` from the settings: the one place the parts are joined.

Secrets (key password, token PIN) come from EDOC_KEY_PASSWORD / EDOC_PKCS11_PIN: a daemon
has nobody to ask.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
import os
import socket
from pathlib import Path
from typing import Literal

from cryptography import x509

from .. import signing
from ..axis import AxisClient
from ..config import ConfigError, Settings, SigningSettings, TrustSettings, TsaSettings
from ..errors import EdocError
from ..store import Database, open_database, upgrade
from ..store.db import default_data_dir
from ._office import FollowPolicy, Office, OfficeIdentity
from .revocation import RevocationChecker, validation_material
from .visible import load_visible

__all__ = [
    "build_office",
    "load_policy",
    "load_signer",
    "load_timestamper",
    "open_store",
    "record_configuration",
    "revocation_folder",
    "upgrade_store",
    "validation_source",
]

log = logging.getLogger("edoc.office")


def open_store(settings: Settings, *, migrate: bool = True) -> Database:
    """Open the configured database and bring its schema up to date."""
    db = open_database(settings.store.url, synchronous=settings.store.sqlite_synchronous)
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


def _env_secret(kind: signing.SecretKind) -> str | None:
    """A daemon's secrets come from the environment only: nobody is there to type them."""
    return os.environ.get(kind.env) or None


def key_source(section: SigningSettings) -> signing.KeySource:
    """The ``[signing]`` section as a key source."""
    return signing.KeySource(
        key=section.key,
        cert=section.cert,
        chain=section.chain,
        p12=section.p12,
        pkcs11_module=section.pkcs11_module,
        token_label=section.token_label,
        key_label=section.key_label,
    )


def load_signer(section: SigningSettings | None) -> signing.Signer | None:
    """The office's signer from the settings, or None when none is configured."""
    if section is None:
        return None
    source = key_source(section)
    problem = source.problem()
    if problem is not None:
        raise ConfigError(
            f"Mục [signing]: {problem[0]}", f"[signing]: {problem[1]}", step="config.signing"
        )
    return signing.open_signer(source, secret=_env_secret)


def load_policy(
    section: TrustSettings, *, revocation_cache: Path | None = None
) -> signing.TrustPolicy:
    """The trust policy the settings describe; unless revocation is "off", with the
    office's revocation checker (CRL/OCSP cached in ``revocation_cache``, else the
    section's ``revocation_cache``, else the platform's data folder)."""
    mode = signing.RevocationMode(section.revocation)
    source = None
    if mode is not signing.RevocationMode.OFF:
        folder = section.revocation_cache or revocation_cache or default_data_dir() / "revocation"
        source = RevocationChecker(
            folder,
            timeout=section.revocation_timeout,
            retry_after=dt.timedelta(seconds=section.revocation_retry),
        )
    return signing.TrustPolicy.from_path(
        section.roots,
        allow_legacy_sha1=section.allow_legacy_sha1,
        at=section.at,
        signers=section.signers,
        strict_identity=section.strict_identity,
        revocation=mode,
        revocation_source=source,
    )


def _tsa_roots(section: TsaSettings) -> tuple[x509.Certificate, ...]:
    return signing.load_roots(section.roots) if section.roots is not None else ()


def load_timestamper(section: TsaSettings) -> signing.Timestamper | None:
    """The ``[tsa]`` section's TSA client, or None when no ``url`` is configured.

    Raises ConfigError when ``url`` is set without ``roots``: every token is checked
    against them before it goes into a signature.
    """
    if section.url is None:
        return None
    if section.roots is None:
        raise ConfigError(
            "Mục [tsa]: có url nhưng thiếu roots (chứng thư gốc của máy chủ dấu thời gian)",
            "[tsa]: url is set but roots is missing (the TSA's CA certificates)",
            step="config.tsa.roots",
        )
    auth = None
    if section.username is not None:
        password = section.password.get_secret_value() if section.password else ""
        auth = (section.username, password)
    return signing.open_timestamper(
        section.url,
        roots=_tsa_roots(section),
        required=section.required,
        timeout=section.timeout,
        auth=auth,
        token=section.token.get_secret_value() if section.token else None,
    )


def _stamped(
    signer: signing.Signer | None,
    section: TsaSettings,
    material: signing.ValidationMaterialSource | None = None,
) -> signing.Signer | None:
    """The office's signer with its TSA (``[tsa] url``): its signatures get timestamps,
    and its PDF signatures the CRLs and OCSP answers ``material`` gives (PAdES LT)."""
    if signer is None or isinstance(signer, signing.TimestampedSigner):
        return signer
    timestamper = load_timestamper(section)
    if timestamper is None:
        return signer
    return signing.TimestampedSigner(signer, timestamper, material)


def validation_source(
    settings: Settings, policy: signing.TrustPolicy | None = None
) -> signing.ValidationMaterialSource | None:
    """Where signed PDFs get their LTV material: the office's revocation checker (the
    ``policy``'s when given, so that both share one memory), with the trust roots and the
    TSA roots as the issuers it may name. None when ``[trust]`` is missing, revocation is
    "off", or the roots cannot be read (the PDF then embeds certificates only)."""
    trust = settings.trust
    if trust is None or signing.RevocationMode(trust.revocation) is signing.RevocationMode.OFF:
        return None
    if policy is None or not isinstance(policy.revocation_source, RevocationChecker):
        try:
            policy = load_policy(trust, revocation_cache=revocation_folder(settings))
        except EdocError as exc:
            log.info("no LTV material for signed PDFs: %s", exc.en)
            return None
    checker = policy.revocation_source
    if not isinstance(checker, RevocationChecker):
        return None
    try:
        tsa_roots = _tsa_roots(settings.tsa)
    except EdocError:
        tsa_roots = ()
    return validation_material(checker, (*policy.roots, *policy.tsa_roots, *tsa_roots))


def _with_tsa_roots(policy: signing.TrustPolicy, section: TsaSettings) -> signing.TrustPolicy:
    """The trust policy with the TSAs whose timestamps prove a time (``[tsa] roots``)."""
    roots = _tsa_roots(section)
    return dataclasses.replace(policy, tsa_roots=roots) if roots else policy
def revocation_folder(settings: Settings) -> Path:
    """Where the office caches CRLs and OCSP answers: ``[trust] revocation_cache``, else a
    "revocation" folder beside a SQLite store, else in the platform's data folder."""
    if settings.trust is not None and settings.trust.revocation_cache is not None:
        return settings.trust.revocation_cache
    url = settings.store.url
    if url and url.startswith("sqlite:///") and ":memory:" not in url:
        return Path(url.removeprefix("sqlite:///")).parent / "revocation"
    return default_data_dir() / "revocation"


def build_office(
    settings: Settings,
    *,
    db: Database | None = None,
    receiving: bool = True,
    signer: signing.Signer | Literal["settings"] | None = "settings",
) -> Office:
    """Everything one office's daemon (or the clerk's commands) works with.

    Parts are built when their section is there: without ``[axis]`` the office composes
    and queues (``compose --queue``) and refuses, clearly, to send or receive.
    ``receiving=False`` is for commands that only queue and send (``edoc send``,
    ``compose --queue``): they need no ``[trust]`` section, which only verification uses.
    ``signer`` is a signer already opened (a token opens one session, not two); by default
    the ``[signing]`` section's.
    """
    office = settings.require_office()
    axis = settings.axis
    if axis is not None and axis.organ_id is not None and axis.organ_id != office.organ_id:
        raise ConfigError(
            f"axis.organ_id ({axis.organ_id}) khác office.organ_id ({office.organ_id})",
            f"axis.organ_id ({axis.organ_id}) differs from office.organ_id ({office.organ_id})",
            step="config.axis.organ_id",
        )
    if axis is not None and axis.organ_id is None:
        axis = axis.model_copy(update={"organ_id": office.organ_id})
    d = settings.daemon
    opened = load_signer(settings.signing) if signer == "settings" else signer
    policy = (
        _with_tsa_roots(
            load_policy(settings.require_trust(), revocation_cache=revocation_folder(settings)),
            settings.tsa,
        )
        if receiving
        else None
    )
    material = validation_source(settings, policy)
    return Office(
        identity=OfficeIdentity(
            organ_id=office.organ_id,
            organ_name=office.name,
            staff=office.staff,
            department=office.department,
        ),
        db=db or open_store(settings),
        client=AxisClient(axis) if axis is not None else None,
        signer=_stamped(opened, settings.tsa, material),
        policy=policy,
        worker=d.worker or f"{socket.gethostname()}-{os.getpid()}",
        stale_after=dt.timedelta(seconds=d.stale_after),
        retry_initial=dt.timedelta(seconds=d.retry_initial),
        retry_max=dt.timedelta(seconds=d.retry_max),
        checkpoint_every=d.checkpoint_every,
        checkpoint_file=settings.audit.checkpoint_file,
        blob_dir=settings.store.blob_dir,
        # A little under the interval, so that a daemon's pass finds the last listing old
        # enough even when the passes drift.
        list_every=dt.timedelta(seconds=d.inbound_interval * 0.8),
        follow=FollowPolicy(
            first=dt.timedelta(seconds=d.follow_first),
            cap=dt.timedelta(seconds=max(d.follow_max, d.follow_first)),
            horizon=dt.timedelta(days=d.follow_horizon_days),
            per_pass=d.follow_per_pass,
        ),
        visible=load_visible(settings, material=material),
        expiry_warning_days=settings.trust.expiry_warning_days if settings.trust else 30,
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
