"""The audit log against someone who can write the database: each attack is detected.

The attacker here has the database (every table, any statement) and the means to make keys
and certificates, but not the office's private key, and not the checkpoint file once it has
been shipped off the machine. Each forgery is made thorough enough to pass a verifier that
believes the certificate a checkpoint carries (``UnsafeNoAnchor``), so that the refusal
demonstrably comes from the trust anchor or the checkpoint file. Real SQLite files, real
RSA keys and certificate chains (tests/signing_fixtures.py), the real command line.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from cryptography.x509.oid import NameOID
from postgres import PostgresServer
from signing_fixtures import issue, pki
from sqlalchemy import Connection, delete, event, select, update
from typer.testing import CliRunner

from edoc_exchange import audit, signing
from edoc_exchange.audit import merkle
from edoc_exchange.cli import app
from edoc_exchange.store import Database, open_database, upgrade
from edoc_exchange.store import outbox as outbox_store
from edoc_exchange.store.tables import audit_checkpoints, audit_entries, audit_heads

OFFICE = "000.12.05.H38"
GENESIS = "0" * 64
runner = CliRunner()


class _Key:
    """A checkpoint signer over a real key and its certificate chain (office's or forger's)."""

    def __init__(self, key: signing.SigningKey, chain: Sequence[x509.Certificate]) -> None:
        self._signer = signing.KeyPairSigner(key, tuple(chain))
        self.certificate_pem = b"".join(c.public_bytes(Encoding.PEM) for c in chain)

    def sign_bytes(self, data: bytes) -> bytes:
        return signing.sign_data(self._signer, data)


@functools.cache
def office_key() -> _Key:
    """The office's key: a leaf issued by the test intermediate CA, chain carried."""
    return _Key(pki().leaf.key, (pki().leaf.cert, pki().intermediate.cert))


@functools.cache
def forger_key() -> _Key:
    """A certificate anyone can make: the office's exact names and extensions, another key."""
    real = pki().leaf.cert
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    builder = (
        x509.CertificateBuilder()
        .subject_name(real.subject)
        .issuer_name(real.issuer)
        .public_key(key.public_key())
        .serial_number(real.serial_number)
        .not_valid_before(real.not_valid_before_utc)
        .not_valid_after(real.not_valid_after_utc)
    )
    for ext in real.extensions:
        builder = builder.add_extension(ext.value, ext.critical)
    return _Key(key, (builder.sign(key, hashes.SHA256()), pki().intermediate.cert))


def office_certificate() -> audit.OfficeCertificate:
    return audit.OfficeCertificate((pki().leaf.cert,))


def trust_policy() -> audit.TrustedRoots:
    """The CA roots, with the office's key bound to its OrganId ([trust] signers)."""
    bound = {signing.spki_sha256(pki().leaf.cert): frozenset({OFFICE})}
    return audit.TrustedRoots(pki().policy(organ_ids=bound))


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = open_database(f"sqlite:///{tmp_path / 'office.sqlite3'}")
    upgrade(database)
    audit.ensure_log(database, OFFICE)
    yield database
    database.dispose()


@pytest.fixture
def shipped(tmp_path: Path) -> Path:
    """The checkpoint file the operator ships off the machine."""
    return tmp_path / "shipped" / "checkpoints.jsonl"


def _honest(
    db: Database, *, count: int = 30, every: int = 10, checkpoint_file: Path | None = None
) -> list[audit.Checkpoint]:
    """The office at work: entries, and a signed checkpoint every ``every`` of them."""
    made = []
    with db.transaction() as conn:
        first = audit.log_size(conn, OFFICE)
        for i in range(first, first + count):
            audit.append(conn, OFFICE, audit.AuditEvent.RECEIVED, {"document_id": f"d{i}"})
            if (i + 1) % every == 0:
                made.append(
                    audit.make_checkpoint(
                        conn, OFFICE, office_key(), checkpoint_file=checkpoint_file
                    )
                )
    return made


# --- what the attacker does with the database -------------------------------------------------


def _rehash_from(conn: Connection, seq: int, edit: dict[str, str] | None = None) -> None:
    """Edit entry ``seq``'s data (when given) and re-hash it and every later entry and the head."""
    rows = conn.execute(
        select(audit_entries)
        .where(audit_entries.c.office_id == OFFICE)
        .order_by(audit_entries.c.seq)
    ).all()
    prev = rows[seq - 1].entry_hash if seq else GENESIS
    for row in rows[seq:]:
        body = json.loads(row.body)
        body["prev"] = prev
        if edit is not None and row.seq == seq:
            body["data"].update(edit)
        raw = audit.canonical_json(body)
        prev = hashlib.sha256(raw).hexdigest()
        conn.execute(
            update(audit_entries)
            .where(audit_entries.c.office_id == OFFICE, audit_entries.c.seq == row.seq)
            .values(body=raw.decode(), prev_hash=body["prev"], entry_hash=prev)
        )
    conn.execute(
        update(audit_heads).where(audit_heads.c.office_id == OFFICE).values(last_hash=prev)
    )


def _resign_all(conn: Connection, key: _Key) -> None:
    """Replace every checkpoint by one over the entries as they now are, signed with ``key``,
    keeping sizes and times: to a verifier that believes carried certificates, all is well."""
    old = audit.checkpoints(conn, OFFICE)
    found = list(audit.entries(conn, OFFICE))
    conn.execute(delete(audit_checkpoints).where(audit_checkpoints.c.office_id == OFFICE))
    for cp in old:
        acc = merkle.MerkleAccumulator()
        for entry in found[: cp.tree_size]:
            acc.append(entry.leaf_hash)
        body = audit.canonical_json(
            {
                "office": OFFICE,
                "tree_size": cp.tree_size,
                "root_hash": acc.root().hex(),
                "last_entry_hash": found[cp.tree_size - 1].entry_hash,
                "time": cp.time,
                "frontier": [h.hex() for h in acc.frontier()],
            }
        )
        conn.execute(
            audit_checkpoints.insert().values(
                office_id=OFFICE,
                tree_size=cp.tree_size,
                root_hash=acc.root().hex(),
                created_at=dt.datetime.now(dt.UTC),
                body=body.decode(),
                signature=key.sign_bytes(body),
                certificate=key.certificate_pem,
            )
        )


def _rewrite_and_resign(db: Database) -> list[audit.Checkpoint]:
    """Entry 2 now says another document; every checkpoint is re-signed by the forger."""
    with db.transaction() as conn:
        _rehash_from(conn, 2, {"document_id": "rewritten"})
        _resign_all(conn, forger_key())
        return audit.checkpoints(conn, OFFICE)


def _checkpoint_now(db: Database, shipped: Path) -> audit.Checkpoint:
    """What the daemon does when a checkpoint is due: its own transaction, the shipped file."""
    with db.transaction() as conn:
        return audit.make_checkpoint(conn, OFFICE, office_key(), checkpoint_file=shipped)


def _export(db: Database, path: Path, signer: _Key | None = None) -> Path:
    with path.open("w", encoding="utf-8") as out:
        audit.export_log(db, OFFICE, out, signer=signer)
    return path


# --- the honest office -------------------------------------------------------------------------


def test_honest_log_verifies_under_the_office_certificate_and_a_trust_policy(
    db: Database, shipped: Path, tmp_path: Path
) -> None:
    made = _honest(db, count=35, checkpoint_file=shipped)
    for anchor in (office_certificate(), trust_policy()):
        report = audit.verify_database(db, OFFICE, anchor=anchor, checkpoint_file=shipped)
        assert (report.entries, report.checkpoints, report.signed_checkpoints) == (35, 3, 3)
        assert report.filed_checkpoints == 3  # every shipped checkpoint is in the log
        assert (report.last_checkpoint_size, report.uncovered) == (30, 5)
        assert report.last_checkpoint_time == made[-1].time
        assert report.signers == [pki().leaf.cert.subject.rfc4514_string()]
    export = _export(db, tmp_path / "export.jsonl", office_key())
    for anchor in (office_certificate(), trust_policy()):
        checked = audit.verify_export(export, anchor=anchor, checkpoint_file=shipped)
        assert (checked.entries, checked.uncovered, checked.format) == (35, 0, "edoc-audit/2")
        assert checked.last_checkpoint_size == 35  # the export closed itself with a checkpoint
    # The export's closing checkpoint went to the database only (no file was given to it).
    assert audit.last_filed_checkpoint(shipped, OFFICE) == made[-1]


def test_a_certificate_the_trusted_ca_issued_to_someone_else_is_refused(db: Database) -> None:
    """A CA issues certificates to many offices: chaining to a root is not enough."""
    other = pki().ec_leaf  # issued by the same trusted root, to another organisation
    with db.transaction() as conn:
        audit.append(conn, OFFICE, "sent", {"n": 1})
        audit.make_checkpoint(conn, OFFICE, _Key(other.key, (other.cert,)))
    with pytest.raises(audit.CheckpointRefusedError) as info:
        audit.verify_database(db, OFFICE, anchor=trust_policy())
    assert info.value.tree_size == 1
    assert f"not bound to office {OFFICE}" in info.value.en
    # Without a [trust] signers map the certificate must name the office (UID).
    unbound = audit.TrustedRoots(pki().policy())
    with pytest.raises(audit.CheckpointRefusedError, match="not bound"):
        audit.verify_database(db, OFFICE, anchor=unbound)


def test_a_certificate_naming_the_office_in_its_uid_is_accepted_and_checked_at_its_time(
    db: Database,
) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    root = pki().root
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.COMMON_NAME, "UBND xã Nậm Khánh"),
                    x509.NameAttribute(NameOID.USER_ID, OFFICE),
                ]
            )
        )
        .issuer_name(root.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, True, False, False, False, False, False, False, False),
            critical=True,
        )
        .sign(root.key, hashes.SHA256())
    )
    with db.transaction() as conn:
        audit.append(conn, OFFICE, "sent", {"n": 1})
        audit.make_checkpoint(conn, OFFICE, _Key(key, (cert,)))
        audit.append(conn, OFFICE, "sent", {"n": 2})
        # A checkpoint claiming a time before the certificate existed.
        audit.make_checkpoint(conn, OFFICE, _Key(key, (cert,)), at=now - dt.timedelta(days=3))
    unbound = audit.TrustedRoots(pki().policy())
    with pytest.raises(audit.CheckpointRefusedError) as info:
        audit.verify_database(db, OFFICE, anchor=unbound)
    assert info.value.tree_size == 2  # checkpoint 1 passed: UID-bound, valid at its time
    assert "not yet valid" in info.value.en


def test_a_trust_policy_checks_the_chain_and_usage_the_checkpoint_carries(db: Database) -> None:
    leaf, intermediate = pki().leaf, pki().intermediate
    no_chain = _Key(leaf.key, (leaf.cert,))  # the intermediate CA is not carried
    encipher_only = issue("UBND xã Nam Khánh", issuer=intermediate, usages=("key_encipherment",))
    bound = {
        signing.spki_sha256(leaf.cert): frozenset({OFFICE}),
        signing.spki_sha256(encipher_only.cert): frozenset({OFFICE}),
    }
    policy = audit.TrustedRoots(pki().policy(organ_ids=bound))
    with db.transaction() as conn:
        audit.append(conn, OFFICE, "sent", {"n": 1})
        audit.make_checkpoint(conn, OFFICE, no_chain)
    with pytest.raises(audit.CheckpointRefusedError, match="does not chain to a trusted root"):
        audit.verify_database(db, OFFICE, anchor=policy)
    # The pinned certificate needs no chain.
    assert audit.verify_database(db, OFFICE, anchor=office_certificate()).signed_checkpoints == 1
    with db.transaction() as conn:
        conn.execute(delete(audit_checkpoints))
        audit.make_checkpoint(
            conn, OFFICE, _Key(encipher_only.key, (encipher_only.cert, intermediate.cert))
        )
    with pytest.raises(audit.CheckpointRefusedError, match="does not allow signing"):
        audit.verify_database(db, OFFICE, anchor=policy)


# --- attack 1: rewrite an entry, re-sign every checkpoint with a self-made certificate ---------


def test_rewritten_and_resigned_log_is_refused_in_the_store(db: Database) -> None:
    _honest(db)
    forged = _rewrite_and_resign(db)
    # Thorough: a verifier that believes carried certificates sees an intact log.
    assert audit.verify_database(db, OFFICE, anchor=audit.UnsafeNoAnchor()).entries == 30
    with pytest.raises(audit.CheckpointRefusedError) as info:
        audit.verify_database(db, OFFICE, anchor=office_certificate())
    err = info.value
    assert (err.tree_size, err.time, err.source) == (10, forged[0].time, audit.Source.DATABASE)
    assert f"checkpoint 10 (made {forged[0].time}, database) is refused" in err.en
    assert "not by the office certificate" in err.en
    assert "Điểm kiểm tra 10" in err.vi
    with pytest.raises(audit.CheckpointRefusedError) as info:
        audit.verify_database(db, OFFICE, anchor=trust_policy())
    assert info.value.tree_size == 10
    assert "does not chain to a trusted root" in info.value.en


def test_rewritten_and_resigned_log_is_refused_in_an_export(db: Database, tmp_path: Path) -> None:
    _honest(db)
    forged = _rewrite_and_resign(db)
    export = _export(db, tmp_path / "forged.jsonl")  # the forged checkpoint 30 closes it
    assert audit.verify_export(export, anchor=audit.UnsafeNoAnchor()).entries == 30
    with pytest.raises(audit.CheckpointRefusedError) as info:
        audit.verify_export(export, anchor=office_certificate())
    assert (info.value.tree_size, info.value.source) == (10, audit.Source.EXPORT)
    assert f"checkpoint 10 (made {forged[0].time}, export) is refused" in info.value.en


def test_the_office_key_does_not_sign_over_a_log_rewritten_after_it_shipped_a_checkpoint(
    db: Database, shipped: Path
) -> None:
    """The daemon's next checkpoint must not launder the forgery with the real key."""
    _honest(db, checkpoint_file=shipped)
    _rewrite_and_resign(db)
    with db.transaction() as conn:
        audit.append(conn, OFFICE, "sent", {"document_id": "after the forgery"})
    with pytest.raises(audit.AuditVerificationError) as info:
        _checkpoint_now(db, shipped)
    assert "not signing a checkpoint: entry 30 does not extend signed checkpoint 30" in (
        info.value.en
    )
    assert audit.read_checkpoints(shipped, OFFICE).checkpoints[-1].tree_size == 30


# --- attack 2: delete every checkpoint after an edit (the chain re-hashed) -------------------


def test_deleting_all_checkpoints_after_an_edit_is_refused(db: Database, shipped: Path) -> None:
    made = _honest(db, checkpoint_file=shipped)
    with db.transaction() as conn:
        _rehash_from(conn, 5, {"document_id": "never-received"})
        conn.execute(delete(audit_checkpoints))
    unsafe = audit.verify_database(db, OFFICE, anchor=audit.UnsafeNoAnchor(), max_uncovered=None)
    assert unsafe.entries == 30
    # In the database alone: 30 entries and no checkpoint, more than checkpoint_every allows.
    with pytest.raises(audit.UncoveredEntriesError) as uncovered:
        audit.verify_database(db, OFFICE, anchor=office_certificate(), max_uncovered=10)
    assert "entries 0..29 (30) with no valid checkpoint at all are not covered" in (
        uncovered.value.en
    )
    # Against the shipped file: its first checkpoint no longer matches, and says which.
    with pytest.raises(audit.AuditVerificationError) as info:
        audit.verify_database(db, OFFICE, anchor=office_certificate(), checkpoint_file=shipped)
    assert info.value.seq == 9
    assert f"signed checkpoint 10 ({made[0].time}, checkpoint file)" in info.value.en
    # And the office refuses to sign the rewritten log as its own.
    with pytest.raises(audit.AuditVerificationError, match="not signing a checkpoint"):
        _checkpoint_now(db, shipped)


# --- attack 3: delete the newest entries together with the head update -----------------------


def _cut_tail(db: Database, keep: int, *, checkpoints_too: bool) -> None:
    with db.transaction() as conn:
        conn.execute(delete(audit_entries).where(audit_entries.c.seq >= keep))
        last = conn.execute(
            select(audit_entries.c.entry_hash).where(audit_entries.c.seq == keep - 1)
        ).scalar_one()
        conn.execute(update(audit_heads).values(size=keep, last_hash=last))
        if checkpoints_too:
            conn.execute(delete(audit_checkpoints).where(audit_checkpoints.c.tree_size > keep))


def test_deleted_tail_covered_by_a_checkpoint_is_refused(db: Database) -> None:
    made = _honest(db)
    _cut_tail(db, 25, checkpoints_too=False)
    with pytest.raises(audit.AuditVerificationError) as info:
        audit.verify_database(db, OFFICE, anchor=office_certificate())
    assert info.value.seq == 25
    assert f"checkpoint 30 ({made[-1].time}, database) records 30 entries" in info.value.en


def test_deleted_tail_and_its_checkpoints_are_refused_against_the_checkpoint_file(
    db: Database, shipped: Path
) -> None:
    made = _honest(db, checkpoint_file=shipped)
    _cut_tail(db, 25, checkpoints_too=True)
    # The database alone now looks like a log of 25 entries, 5 after checkpoint 20.
    alone = audit.verify_database(db, OFFICE, anchor=office_certificate())
    assert (alone.entries, alone.uncovered) == (25, 5)
    assert any("no checkpoint file given" in note for note in alone.limitations)
    with pytest.raises(audit.AuditVerificationError) as info:
        audit.verify_database(db, OFFICE, anchor=office_certificate(), checkpoint_file=shipped)
    assert f"checkpoint 30 ({made[-1].time}, checkpoint file) records 30 entries" in (info.value.en)
    assert "only 25 remain" in info.value.en


# --- attack 4: cut an export -------------------------------------------------------------------


def test_an_export_cut_anywhere_is_refused(db: Database, tmp_path: Path) -> None:
    _honest(db, count=25)
    export = _export(db, tmp_path / "whole.jsonl", office_key())
    text = export.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    assert len(lines) == 1 + 25 + 3  # header, entries, checkpoints 10, 20 and the closing 25
    assert audit.verify_export(export, anchor=office_certificate()).entries == 25
    cut = tmp_path / "cut.jsonl"
    for keep in range(1, len(lines)):  # every cut at a line boundary
        cut.write_text("".join(lines[:keep]), encoding="utf-8")
        with pytest.raises(audit.AuditVerificationError) as info:
            audit.verify_export(cut, anchor=office_certificate())
        if keep <= 25:
            held = keep - 1
            where = f"after entry {held - 1}" if held else "before its first entry"
            assert f"announces 25 entries but the file holds {held}: it was cut {where}" in (
                info.value.en
            )
        else:
            assert "no closing checkpoint covers the last entry 24" in info.value.en
    for line_no in (5, 25, 28):  # in the middle of an entry, the last entry, the closing line
        offset = len("".join(lines[:line_no])) + len(lines[line_no]) // 2
        cut.write_text(text[:offset], encoding="utf-8")
        with pytest.raises(audit.AuditVerificationError) as info:
            audit.verify_export(cut, anchor=office_certificate())
        assert f"line {line_no + 1}: unreadable record: the file was cut in the middle" in (
            info.value.en
        )


def test_an_export_with_its_closing_checkpoint_dropped_or_records_after_it_is_refused(
    db: Database, tmp_path: Path
) -> None:
    _honest(db, count=25)
    lines = _export(db, tmp_path / "whole.jsonl", office_key()).read_text().splitlines()
    spliced = tmp_path / "spliced.jsonl"
    spliced.write_text("\n".join([*lines[:-1], lines[5]]) + "\n", encoding="utf-8")
    with pytest.raises(audit.AuditVerificationError, match="a record follows the checkpoints"):
        audit.verify_export(spliced, anchor=office_certificate())
    dropped = tmp_path / "dropped.jsonl"
    dropped.write_text("\n".join(lines[:-1]) + "\n", encoding="utf-8")
    with pytest.raises(audit.AuditVerificationError, match="the last covers 20"):
        audit.verify_export(dropped, anchor=office_certificate())


def test_an_export_of_the_old_format_is_read_with_what_it_cannot_prove(
    db: Database, tmp_path: Path
) -> None:
    _honest(db, count=25, every=10)
    lines = _export(db, tmp_path / "v2.jsonl", office_key()).read_text().splitlines()
    # Format 1: no announced size, no closing checkpoint; cut after entry 22 here, which
    # that format cannot show (checkpoints 10 and 20 are kept, 25 would claim too much).
    header = json.loads(lines[0])
    header["format"] = "edoc-audit/1"
    del header["entries"]
    old = tmp_path / "v1.jsonl"
    old.write_text("\n".join([json.dumps(header), *lines[1:24], *lines[26:28]]) + "\n")
    report = audit.verify_export(old, anchor=office_certificate())
    assert (report.format, report.entries, report.uncovered) == ("edoc-audit/1", 23, 3)
    assert any("cannot prove the file was not cut" in note for note in report.limitations)
    with pytest.raises(audit.UncoveredEntriesError):
        audit.verify_export(old, anchor=office_certificate(), max_uncovered=2)


# --- attack 5: wipe the log ----------------------------------------------------------------


def _wipe(db: Database, *, head: bool = True) -> None:
    with db.transaction() as conn:
        conn.execute(delete(audit_entries))
        conn.execute(delete(audit_checkpoints))
        if head:
            conn.execute(delete(audit_heads))


def test_a_wiped_log_is_refused_against_the_checkpoint_file(db: Database, shipped: Path) -> None:
    made = _honest(db, checkpoint_file=shipped)
    _wipe(db)
    # Nothing is left in the database to tell it from a new office's empty log...
    alone = audit.verify_database(db, OFFICE, anchor=office_certificate())
    assert alone.entries == 0
    assert any("no checkpoint file given" in note for note in alone.limitations)
    # ...but the shipped file remembers.
    with pytest.raises(audit.AuditVerificationError) as info:
        audit.verify_database(db, OFFICE, anchor=office_certificate(), checkpoint_file=shipped)
    assert info.value.seq == 0
    assert f"checkpoint 10 ({made[0].time}, checkpoint file) records 10 entries, only 0" in (
        info.value.en
    )
    # The office will not sign a fresh log over it either: not without a head row...
    with pytest.raises(audit.AuditLogMissingError, match=OFFICE):
        _checkpoint_now(db, shipped)
    # ...nor once it started again (which makes an empty head row).
    assert audit.ensure_log(db, OFFICE)
    with pytest.raises(audit.AuditVerificationError, match="in the checkpoint file records 30"):
        _checkpoint_now(db, shipped)


def test_a_wiped_log_is_refused_by_what_the_database_still_holds(db: Database) -> None:
    _honest(db)
    _wipe(db, head=False)
    with pytest.raises(audit.AuditVerificationError, match="the log head records 30 entries"):
        audit.verify_database(db, OFFICE, anchor=office_certificate())
    # Head row wiped too, but the office's documents are still in the store: each was
    # recorded with an audit entry in the transaction that stored it.
    with db.transaction() as conn:
        conn.execute(delete(audit_heads))
        now = dt.datetime.now(dt.UTC)
        for n in range(2):
            outbox_store.enqueue(
                conn,
                office_id=OFFICE,
                kind="edoc",
                document_id=f"doc-{n}",
                message=f"<edXML>{n}</edXML>".encode(),
                recipients=["000.00.05.H38"],
                signed=False,
                now=now,
            )
    with pytest.raises(audit.AuditVerificationError) as info:
        audit.verify_database(db, OFFICE, anchor=office_certificate())
    assert "holds 2 received or queued documents" in info.value.en
    assert "only 0 entries" in info.value.en


# --- the periodic cost and the checkpoint file -------------------------------------------------


def test_a_checkpoint_reads_only_the_entries_added_since_the_last(
    db: Database, shipped: Path
) -> None:
    _honest(db, count=40, checkpoint_file=shipped)
    with db.transaction() as conn:
        for n in range(7):
            audit.append(conn, OFFICE, "sent", {"n": n})
    statements: list[tuple[str, Any]] = []

    def seen(_c: object, _cur: object, sql: str, params: Any, *_rest: object) -> None:
        statements.append((sql, params))

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        with db.transaction() as conn:
            made = audit.make_checkpoint(conn, OFFICE, office_key(), checkpoint_file=shipped)
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    reads = [(sql, params) for sql, params in statements if "FROM audit_entries" in sql]
    assert len(reads) == 1
    assert "audit_entries.seq >= ?" in reads[0][0]
    assert tuple(reads[0][1])[1:] == (40, 47)  # resumed from checkpoint 40
    latest = [sql for sql, _ in statements if "FROM audit_checkpoints" in sql]
    assert len(latest) == 1
    assert "ORDER BY audit_checkpoints.tree_size DESC" in latest[0]
    assert "LIMIT" in latest[0]
    # The resumed tree is the tree: same root as a recomputation from entry 0.
    with db.engine.connect() as conn:
        leaves = [e.leaf_hash for e in audit.entries(conn, OFFICE)]
    assert (made.tree_size, made.root_hash) == (47, merkle.tree_root(leaves).hex())
    assert audit.verify_database(db, OFFICE, anchor=office_certificate()).checkpoints == 5


def test_frontier_resumes_the_rfc_tree_at_every_size() -> None:
    leaves = [merkle.leaf_hash(n.to_bytes(4, "big")) for n in range(70)]
    for split in range(70):
        acc = merkle.MerkleAccumulator()
        for leaf in leaves[:split]:
            acc.append(leaf)
        resumed = merkle.MerkleAccumulator.from_frontier(split, acc.frontier())
        assert len(acc.frontier()) == split.bit_count()
        for leaf in leaves[split:]:
            resumed.append(leaf)
        assert resumed.root() == merkle.tree_root(leaves)
    with pytest.raises(ValueError, match="does not fit"):
        merkle.MerkleAccumulator.from_frontier(6, [leaves[0]])


def test_after_a_key_change_both_certificates_anchor_the_log(db: Database) -> None:
    _honest(db, count=20)
    renewed = issue("UBND xã Nam Khánh", issuer=pki().intermediate)
    with db.transaction() as conn:
        audit.append(conn, OFFICE, "key_changed", {"n": 1})
        audit.make_checkpoint(conn, OFFICE, _Key(renewed.key, (renewed.cert,)))
    both = audit.OfficeCertificate((pki().leaf.cert, renewed.cert))
    assert audit.verify_database(db, OFFICE, anchor=both).signed_checkpoints == 3
    with pytest.raises(audit.CheckpointRefusedError) as info:
        audit.verify_database(db, OFFICE, anchor=office_certificate())
    assert info.value.tree_size == 21


def test_the_checkpoint_file_follows_commits_only(db: Database, shipped: Path) -> None:
    _honest(db, count=10, checkpoint_file=shipped)

    class AbandonedError(Exception):
        pass

    def abandoned_change() -> None:
        with db.transaction() as conn:
            audit.append(conn, OFFICE, "sent", {"n": 1})
            audit.make_checkpoint(conn, OFFICE, office_key(), checkpoint_file=shipped)
            raise AbandonedError

    with pytest.raises(AbandonedError):
        abandoned_change()
    filed = audit.read_checkpoints(shipped, OFFICE)
    assert [cp.tree_size for cp in filed.checkpoints] == [10]
    # A torn last line (a crash while appending) is skipped, reported, and closed off.
    with shipped.open("a", encoding="utf-8") as handle:
        handle.write('{"type": "checkpoint", "tree_si')
    _honest(db, count=10, checkpoint_file=shipped)
    filed = audit.read_checkpoints(shipped, OFFICE)
    assert [cp.tree_size for cp in filed.checkpoints] == [10, 20]
    assert filed.unreadable_lines == [2]
    report = audit.verify_database(db, OFFICE, anchor=office_certificate(), checkpoint_file=shipped)
    assert report.filed_checkpoints == 2
    assert any("unreadable lines skipped: 2" in note for note in report.limitations)


def test_postgres_checkpoints_resume_and_a_rewritten_log_is_refused(
    pg_server: PostgresServer,
) -> None:
    db = open_database(pg_server.create_database("audit_attacks"))
    upgrade(db)
    audit.ensure_log(db, OFFICE)
    try:
        _honest(db, count=25)
        report = audit.verify_database(db, OFFICE, anchor=office_certificate())
        assert (report.entries, report.signed_checkpoints) == (25, 2)
        forged = _rewrite_and_resign(db)
        with pytest.raises(audit.CheckpointRefusedError) as info:
            audit.verify_database(db, OFFICE, anchor=office_certificate())
        assert (info.value.tree_size, info.value.time) == (10, forged[0].time)
    finally:
        db.dispose()


# --- the command line ---------------------------------------------------------------------------


def _write_office(tmp_path: Path, db: Database) -> Path:
    """An office's config: its store, and its key and certificate chain as [signing]."""
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "office.key.pem").write_bytes(
        pki().leaf.key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    )
    (keys / "office.pem").write_bytes(office_key().certificate_pem)
    (keys / "roots.pem").write_bytes(pki().root.cert.public_bytes(Encoding.PEM))
    (keys / "signers.json").write_text(
        json.dumps({signing.spki_sha256(pki().leaf.cert): [OFFICE]}), encoding="utf-8"
    )
    config = tmp_path / "office.toml"
    config.write_text(
        f"""
[store]
url = "{db.engine.url.render_as_string(hide_password=False)}"

[office]
organ_id = "{OFFICE}"
name = "UBND xã Nậm Khánh"

[signing]
key = "keys/office.key.pem"
cert = "keys/office.pem"

[trust]
roots = "keys/roots.pem"
signers = "keys/signers.json"
""",
        encoding="utf-8",
    )
    return config


def _cli(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def test_cli_audit_verify(
    db: Database, shipped: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("EDOC_CONFIG", raising=False)
    config = _write_office(tmp_path, db)
    _honest(db, count=25, checkpoint_file=shipped)
    code, output = _cli("audit", "verify", "--config", str(config), "--checkpoints", str(shipped))
    assert code == 0, output
    assert "the log is intact: 25 mục/entries" in output
    assert f"signed by: {pki().leaf.cert.subject.rfc4514_string()}" in output
    assert "2 điểm kiểm tra khớp / checkpoints found in the log" in output
    code, output = _cli("audit", "verify", "--config", str(config), "--trust", "keys/roots.pem")
    assert code == 0, output
    assert "trusted roots" in output
    export = _export(db, tmp_path / "export.jsonl", office_key())
    # An inspector with the export and the office's certificate, and no configuration.
    code, output = _cli("audit", "verify", "--file", str(export), "--cert", "keys/office.pem")
    assert code == 0, output
    # No anchor at all: refused, never verified "with defaults and hope".
    code, output = _cli("audit", "verify", "--file", str(export))
    assert code == 1
    assert "a trust anchor is needed" in output

    _rewrite_and_resign(db)
    for args in (["--config", str(config)], ["--config", str(config), "--trust", "keys/roots.pem"]):
        code, output = _cli("audit", "verify", *args)
        assert code == 1
        message = output.strip()
        assert "\n" not in message  # one line
        assert message.startswith("Lỗi / Error: audit checkpoint 10: Điểm kiểm tra 10")
        assert "(checkpoint 10 (made " in message
        assert "is refused" in message

    _wipe(db)
    code, output = _cli("audit", "verify", "--config", str(config), "--checkpoints", str(shipped))
    assert code == 1
    assert "checkpoint file) records 10 entries, only 0 remain" in output
