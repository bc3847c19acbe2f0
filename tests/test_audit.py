"""The audit log: chain, Merkle tree, signed checkpoints, and one tamper test per attack."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from sqlalchemy import delete, text, update

from edoc_exchange import audit
from edoc_exchange.audit import merkle
from edoc_exchange.store import Database, open_database, upgrade
from edoc_exchange.store.tables import audit_checkpoints, audit_entries, audit_heads

OFFICE = "000.12.05.H38"


class _Signer:
    """A checkpoint signer over a software RSA key (the office key in production)."""

    def __init__(self) -> None:
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "UBND xã Nậm Khánh")])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=365))
            .sign(self._key, hashes.SHA256())
        )
        self.certificate_pem = cert.public_bytes(serialization.Encoding.PEM)

    def sign_bytes(self, data: bytes) -> bytes:
        return self._key.sign(data, padding.PKCS1v15(), hashes.SHA256())


@pytest.fixture(scope="module")
def signer() -> _Signer:
    return _Signer()


@pytest.fixture(scope="module")
def anchor(signer: _Signer) -> audit.OfficeCertificate:
    """The office certificate, given to the verifier: the checkpoints' trust anchor."""
    return audit.OfficeCertificate((x509.load_pem_x509_certificate(signer.certificate_pem),))


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = open_database(f"sqlite:///{tmp_path / 'audit.sqlite3'}")
    upgrade(database)
    with database.transaction() as conn:
        for office in (OFFICE, "000.00.05.H38"):
            audit.create_log(conn, office)
    yield database
    database.dispose()


def _fill(db: Database, signer: _Signer, count: int = 12, checkpoint_at: int = 8) -> None:
    with db.transaction() as conn:
        for i in range(count):
            audit.append(conn, OFFICE, audit.AuditEvent.RECEIVED, {"document_id": f"d{i}", "n": i})
            if i + 1 == checkpoint_at:
                audit.make_checkpoint(conn, OFFICE, signer)


def _fail(db: Database, anchor: audit.CheckpointAnchor) -> audit.AuditVerificationError:
    with pytest.raises(audit.AuditVerificationError) as info:
        audit.verify_database(db, OFFICE, anchor=anchor)
    return info.value


def test_merkle_matches_the_rfc_definition() -> None:
    def mth(leaves: list[bytes]) -> bytes:
        if not leaves:
            return hashlib.sha256(b"").digest()
        if len(leaves) == 1:
            return leaves[0]
        k = 1
        while k * 2 < len(leaves):
            k *= 2
        return merkle.node_hash(mth(leaves[:k]), mth(leaves[k:]))

    for n in range(0, 40):
        leaves = [merkle.leaf_hash(os.urandom(8)) for _ in range(n)]
        assert merkle.tree_root(leaves) == mth(leaves)
        for i in range(n):
            proof = merkle.inclusion_proof(i, leaves)
            assert merkle.root_from_inclusion_proof(i, n, leaves[i], proof) == mth(leaves)
            if proof:
                with pytest.raises(ValueError, match="too short"):
                    merkle.root_from_inclusion_proof(i, n, leaves[i], proof[:-1])


def test_intact_log_verifies(
    db: Database, signer: _Signer, anchor: audit.OfficeCertificate
) -> None:
    _fill(db, signer)
    report = audit.verify_database(db, OFFICE, anchor=anchor)
    assert report.entries == 12
    assert report.checkpoints == 1
    assert report.signed_checkpoints == 1
    assert report.signers == ["CN=UBND xã Nậm Khánh"]


def test_entries_are_canonical_chained_json(db: Database, signer: _Signer) -> None:
    _fill(db, signer, count=3)
    with db.engine.connect() as conn:
        got = list(audit.entries(conn, OFFICE))
    assert [e.seq for e in got] == [0, 1, 2]
    assert got[0].prev_hash == "0" * 64
    assert got[1].prev_hash == got[0].entry_hash
    assert got[1].entry_hash == hashlib.sha256(got[1].body).hexdigest()
    body = got[1].data
    assert body["event"] == "received"
    assert body["data"] == {"document_id": "d1", "n": 1}
    assert (
        got[1].body
        == json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    )


def test_floats_are_refused() -> None:
    with pytest.raises(TypeError):
        audit.canonical_json({"share": 0.5})


def test_append_rolls_back_with_the_transaction(
    db: Database, anchor: audit.OfficeCertificate
) -> None:
    def failing_change() -> None:
        with db.transaction() as conn:
            audit.append(conn, OFFICE, audit.AuditEvent.SENT, {"document_id": "x"})
            raise RuntimeError("the state change failed")

    with pytest.raises(RuntimeError):
        failing_change()
    assert audit.verify_database(db, OFFICE, anchor=anchor).entries == 0


# --- tampering: each case names the first bad entry ------------------------------------------


def test_edited_entry(db: Database, signer: _Signer, anchor: audit.OfficeCertificate) -> None:
    _fill(db, signer)
    with db.transaction() as conn:
        row = conn.execute(audit_entries.select().where(audit_entries.c.seq == 10)).one()
        conn.execute(
            update(audit_entries)
            .where(audit_entries.c.seq == 10)
            .values(body=row.body.replace('"d10"', '"d99"'))
        )
    err = _fail(db, anchor)
    assert err.seq == 10
    assert "edited" in err.en


def test_edited_and_rehashed_entry_breaks_the_chain(
    db: Database, signer: _Signer, anchor: audit.OfficeCertificate
) -> None:
    _fill(db, signer)
    with db.transaction() as conn:
        row = conn.execute(audit_entries.select().where(audit_entries.c.seq == 9)).one()
        body = row.body.replace('"d9"', '"d99"')
        conn.execute(
            update(audit_entries)
            .where(audit_entries.c.seq == 9)
            .values(body=body, entry_hash=hashlib.sha256(body.encode()).hexdigest())
        )
    err = _fail(db, anchor)
    assert err.seq == 10
    assert "does not follow entry 9" in err.en


def test_deleted_entry(db: Database, signer: _Signer, anchor: audit.OfficeCertificate) -> None:
    _fill(db, signer)
    with db.transaction() as conn:
        conn.execute(delete(audit_entries).where(audit_entries.c.seq == 5))
    err = _fail(db, anchor)
    assert err.seq == 5
    assert "missing" in err.en


def test_reordered_entries(db: Database, signer: _Signer, anchor: audit.OfficeCertificate) -> None:
    _fill(db, signer)
    with db.transaction() as conn:
        conn.execute(update(audit_entries).where(audit_entries.c.seq == 3).values(seq=-1))
        conn.execute(update(audit_entries).where(audit_entries.c.seq == 4).values(seq=3))
        conn.execute(update(audit_entries).where(audit_entries.c.seq == -1).values(seq=4))
    err = _fail(db, anchor)
    assert err.seq == 3
    assert "out of place" in err.en


def test_inserted_entry(db: Database, signer: _Signer, anchor: audit.OfficeCertificate) -> None:
    _fill(db, signer)
    with db.transaction() as conn:
        for seq in range(11, 5, -1):
            conn.execute(
                update(audit_entries).where(audit_entries.c.seq == seq).values(seq=seq + 1)
            )
        forged = audit.canonical_json(
            {
                "seq": 6,
                "office": OFFICE,
                "event": "sent",
                "time": "2026-01-01T00:00:00Z",
                "data": {"document_id": "forged"},
                "prev": "f" * 64,
            }
        )
        conn.execute(
            audit_entries.insert().values(
                office_id=OFFICE,
                seq=6,
                event="sent",
                body=forged.decode(),
                prev_hash="f" * 64,
                entry_hash=hashlib.sha256(forged).hexdigest(),
                created_at=dt.datetime.now(dt.UTC),
            )
        )
    err = _fail(db, anchor)
    assert err.seq == 6
    assert "inserted" in err.en


def test_rewritten_chain_is_caught_by_the_signed_checkpoint(
    db: Database, signer: _Signer, anchor: audit.OfficeCertificate
) -> None:
    """Re-hash every entry after an edit: the chain is consistent, the signed root is not."""
    _fill(db, signer, count=8, checkpoint_at=8)
    with db.transaction() as conn:
        rows = conn.execute(audit_entries.select().order_by(audit_entries.c.seq)).all()
        prev = "0" * 64
        for row in rows:
            body = json.loads(row.body)
            body["prev"] = prev
            if row.seq == 2:
                body["data"]["document_id"] = "rewritten"
            raw = audit.canonical_json(body)
            prev = hashlib.sha256(raw).hexdigest()
            conn.execute(
                update(audit_entries)
                .where(audit_entries.c.seq == row.seq)
                .values(body=raw.decode(), prev_hash=body["prev"], entry_hash=prev)
            )
        conn.execute(update(audit_heads).values(last_hash=prev))
    err = _fail(db, anchor)
    assert "rewritten" in err.en
    assert err.seq == 7


def test_truncated_after_checkpoint(
    db: Database, signer: _Signer, anchor: audit.OfficeCertificate
) -> None:
    _fill(db, signer, count=12, checkpoint_at=8)
    with db.transaction() as conn:
        conn.execute(delete(audit_entries).where(audit_entries.c.seq >= 6))
        conn.execute(update(audit_heads).values(size=6))
    err = _fail(db, anchor)
    assert "truncated" in err.en
    assert err.seq == 6


def test_tail_deleted_after_last_checkpoint_is_caught_by_the_head(
    db: Database, signer: _Signer, anchor: audit.OfficeCertificate
) -> None:
    _fill(db, signer, count=12, checkpoint_at=8)
    with db.transaction() as conn:
        conn.execute(delete(audit_entries).where(audit_entries.c.seq >= 10))
    err = _fail(db, anchor)
    assert "deleted or edited" in err.en


def test_forged_checkpoint_signature(
    db: Database, signer: _Signer, anchor: audit.OfficeCertificate
) -> None:
    _fill(db, signer)
    with db.transaction() as conn:
        conn.execute(update(audit_checkpoints).values(signature=b"\x00" * 256))
    err = _fail(db, anchor)
    assert "signature" in err.en


def test_edited_checkpoint(db: Database, signer: _Signer, anchor: audit.OfficeCertificate) -> None:
    _fill(db, signer)
    with db.transaction() as conn:
        conn.execute(update(audit_checkpoints).values(root_hash="0" * 64))
    assert "checkpoint 8 was edited" in _fail(db, anchor).en


# --- export, offline verification, proofs ------------------------------------------------------


def test_export_verifies_offline_and_catches_tampering(
    db: Database, signer: _Signer, anchor: audit.OfficeCertificate, tmp_path: Path
) -> None:
    _fill(db, signer)
    path = tmp_path / "audit.jsonl"
    with path.open("w", encoding="utf-8") as out:
        whole = audit.export_log(db, OFFICE, out, signer=signer)
    assert whole == 12
    report = audit.verify_export(path, anchor=anchor)
    # The checkpoint at 8, and the closing one the export made at 12.
    assert (report.entries, report.signed_checkpoints) == (12, 2)
    assert report.last_checkpoint_size == 12
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[4] = lines[4].replace('\\"d3\\"', '\\"d33\\"')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(audit.AuditVerificationError) as info:
        audit.verify_export(path, anchor=anchor)
    assert info.value.seq == 3


def test_export_of_a_period_keeps_other_entries_as_hashes(
    db: Database, signer: _Signer, anchor: audit.OfficeCertificate, tmp_path: Path
) -> None:
    old = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    with db.transaction() as conn:
        for i in range(5):
            audit.append(conn, OFFICE, "sent", {"n": i}, at=old + dt.timedelta(days=i * 40))
        audit.make_checkpoint(conn, OFFICE, signer)
    path = tmp_path / "q3.jsonl"
    with path.open("w", encoding="utf-8") as out:
        whole = audit.export_log(
            db,
            OFFICE,
            out,
            start=dt.datetime(2026, 7, 1, tzinfo=dt.UTC),
            end=dt.datetime(2026, 10, 1, tzinfo=dt.UTC),
        )
    assert whole == 3  # 2026-07-11, 2026-08-20, 2026-09-29
    kinds = [json.loads(line)["type"] for line in path.read_text().splitlines()]
    assert kinds == ["header", "leaf", "entry", "entry", "entry", "leaf", "checkpoint"]
    assert audit.verify_export(path, anchor=anchor).entries == 5


def test_inclusion_proof(db: Database, signer: _Signer, anchor: audit.OfficeCertificate) -> None:
    _fill(db, signer, count=12, checkpoint_at=12)
    proof = audit.prove(db, OFFICE, 5, anchor=anchor)
    assert proof.tree_size == 12
    assert proof.verify()
    moved = dataclasses.replace(proof, seq=6)  # the same path does not fit another leaf
    assert not moved.verify()
    _fill(db, signer, count=1, checkpoint_at=99)
    with pytest.raises(audit.AuditVerificationError, match="not covered"):
        audit.prove(db, OFFICE, 12)


def test_logs_of_offices_are_separate(
    db: Database, signer: _Signer, anchor: audit.OfficeCertificate
) -> None:
    with db.transaction() as conn:
        audit.append(conn, OFFICE, "sent", {"n": 1})
        audit.append(conn, "000.00.05.H38", "received", {"n": 1})
        audit.append(conn, OFFICE, "sent", {"n": 2})
    assert audit.verify_database(db, OFFICE, anchor=anchor).entries == 2
    assert audit.verify_database(db, "000.00.05.H38", anchor=anchor).entries == 1
    with db.engine.connect() as conn:
        assert conn.execute(text("select count(*) from audit_entries")).scalar() == 3
