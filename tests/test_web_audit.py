"""The audit page over real HTTP: the office's timeline in words (newest first, paged), the
log's verification status (intact, or where it breaks), the export an inspector verifies
offline with the project's own verifier, one document's timeline, and who may see what.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from axis_fixtures import COMMUNE_A, NAMES
from daemon_fixtures import Exchange, exchange  # noqa: F401  (fixture)
from sqlalchemy import select, update
from web_fixtures import add_staff, pages, signed_in_client  # noqa: F401  (fixture)

from edoc_exchange import audit, edxml
from edoc_exchange import office as steps
from edoc_exchange.config import WebSettings
from edoc_exchange.store.tables import audit_entries

SAFE_NAME = re.compile(r'attachment; filename="[A-Za-z0-9._-]+"')


@pytest.fixture
def served(exchange: Exchange, pages: Callable[..., str]) -> tuple[str, Exchange, str]:  # noqa: F811
    """A plan from the commune reaches the district, is accepted (03); pages of the district
    with five rows a page."""
    ex = exchange
    doc = ex.plan("30")
    steps.queue_message(ex.commune, edxml.write(doc), composed=True)
    assert steps.send_due(ex.commune).done == 1
    assert steps.receive_documents(ex.district).done == 1
    steps.refresh_directory(ex.district)
    steps.mark(ex.district, doc.document_id or "", "03", "Vào sổ số 7")
    add_staff(ex.district)
    return pages(ex.district, WebSettings(page_size=5)), ex, doc.document_id or ""


def _rows(page: str) -> list[tuple[int, str]]:
    """(entry number, sentence) of each timeline row."""
    found = re.findall(
        r"<tr>\s*<td>(\d+)</td>\s*<td><time>[^<]*</time></td>\s*<td>(.*?)</td>", page, re.S
    )
    return [(int(seq), html.unescape(re.sub(r"<[^>]+>", "", text))) for seq, text in found]


def test_the_timeline_in_words_newest_first_and_paged(
    served: tuple[str, Exchange, str],
) -> None:
    base, _ex, document_id = served
    with signed_in_client(base, "chutich") as client:
        first = client.get("/audit")
        assert first.status_code == 200, first.text
        assert "Nhật ký nguyên vẹn" in first.text or "chưa có" in first.text
        rows = _rows(first.text)
        assert len(rows) == 5
        seqs = [seq for seq, _ in rows]
        assert seqs == sorted(seqs, reverse=True)
        assert rows[0][1] == "Nguyễn Văn Hùng đăng nhập"  # the newest: this sign-in
        # every page, newest to oldest, without gaps or repeats
        everything = list(rows)
        number = 2
        while f'href="/audit?page={number}"' in client.get(f"/audit?page={number - 1}").text:
            everything += _rows(client.get(f"/audit?page={number}").text)
            number += 1
        assert [s for s, _ in everything] == list(range(everything[0][0], -1, -1))
        sentences = [text for _, text in everything]
        sender = NAMES[COMMUNE_A]
        assert any(t.startswith(f"Nhận văn bản {document_id} từ {sender}") for t in sentences)
        assert any(t.startswith(f"Chữ ký số của văn bản {document_id} hợp lệ") for t in sentences)
        assert any("chuyển văn bản" in t and "03 (Tiếp nhận)" in t for t in sentences)
        assert any(t == "Hệ thống thêm tài khoản Lò Thị Mai (Văn thư)" for t in sentences)
        # a page past the end is the last page; a page that is not a number is the first
        assert client.get("/audit?page=9999").status_code == 200
        odd = client.get("/audit?page=abc")
        assert odd.status_code == 200
        assert [s for s, _ in _rows(odd.text)] == seqs
        english = client.get("/lang?to=en", headers={"referer": f"{base}/audit"})
        assert english.status_code == 303
        in_english = [t for _, t in _rows(client.get("/audit?page=1").text)]
        assert in_english[0] == "Nguyễn Văn Hùng signed in"


def test_the_status_says_where_the_log_breaks(served: tuple[str, Exchange, str]) -> None:
    base, ex, _document_id = served
    steps.checkpoint_now(ex.district)
    with signed_in_client(base, "quantri") as client:
        page = client.get("/audit").text
        assert "Nhật ký nguyên vẹn" in page
        assert "KHÔNG nguyên vẹn" not in page
    # someone with the database rewrites entry 2 (a received document's sender)
    with ex.district.db.transaction() as conn:
        row = conn.execute(
            select(audit_entries).where(
                audit_entries.c.office_id == ex.district.office_id, audit_entries.c.seq == 2
            )
        ).one()
        conn.execute(
            update(audit_entries)
            .where(audit_entries.c.office_id == ex.district.office_id, audit_entries.c.seq == 2)
            .values(body=row.body.replace('"time":"', '"time":"1'))
        )
    with signed_in_client(base, "quantri") as client:
        answer = client.get("/audit")
        assert answer.status_code == 200
        assert "Nhật ký KHÔNG nguyên vẹn" in answer.text
        assert "Sai từ mục số 2" in answer.text


def test_the_export_downloads_and_verifies_offline(
    served: tuple[str, Exchange, str], tmp_path: Path
) -> None:
    base, ex, _document_id = served
    with signed_in_client(base, "chutich") as client:
        answer = client.get("/audit/export")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/x-ndjson")
    assert SAFE_NAME.fullmatch(answer.headers["content-disposition"])
    assert ".jsonl" in answer.headers["content-disposition"]
    path = tmp_path / "export.jsonl"
    path.write_bytes(answer.content)
    signer = ex.district.signer
    assert signer is not None
    anchor = audit.OfficeCertificate((signer.certificates[0],))
    report = audit.verify_export(path, anchor=anchor)
    with ex.district.db.read() as conn:
        size = audit.log_size(conn, ex.district.office_id)
    assert report.entries == size
    assert report.full_entries == size
    # a byte changed in the download is caught by the same verifier
    tampered = tmp_path / "tampered.jsonl"
    tampered.write_bytes(answer.content.replace(b"chutich", b"chutick", 1))
    assert tampered.read_bytes() != answer.content
    with pytest.raises(audit.AuditVerificationError):
        audit.verify_export(tampered, anchor=anchor)
    # and a certificate of another office is not an anchor for it
    other = ex.identities[COMMUNE_A].signer().certificates[0]
    with pytest.raises(audit.AuditVerificationError):
        audit.verify_export(path, anchor=audit.OfficeCertificate((other,)))


def test_one_document_timeline(served: tuple[str, Exchange, str]) -> None:
    base, _ex, document_id = served
    with signed_in_client(base, "vanthu") as clerk:
        answer = clerk.get("/audit/document", params={"document_id": document_id})
        assert answer.status_code == 200
        items = [
            html.unescape(re.sub(r"<[^>]+>", "", item))
            for item in re.findall(r"<li>(.*?)</li>", answer.text, re.S)
        ]
        texts = [item.split(" — ", 1)[1] for item in items]
        assert texts[0].startswith(f"Nhận văn bản {document_id} từ {NAMES[COMMUNE_A]}")
        assert any("03 (Tiếp nhận) — Vào sổ số 7" in t for t in texts)
        assert all(document_id in t or "trạng thái" in t.lower() for t in texts)
        # oldest first
        seqs = [int(s) for s in re.findall(r"\(#(\d+)\)", answer.text)]
        assert seqs == sorted(seqs)
        unknown = clerk.get("/audit/document", params={"document_id": "000.00.00.H00,x"})
        assert unknown.status_code == 200
        assert "không có mục nào về văn bản này" in unknown.text
        for bad in ("", "   ", "x" * 201, "abc\u200bdef"):
            refused = clerk.get("/audit/document", params={"document_id": bad})
            assert refused.status_code == 400, repr(bad)
            assert "Mã văn bản không hợp lệ" in refused.text
        script = clerk.get("/audit/document", params={"document_id": "<script>x()</script>"})
        assert "<script>x()" not in script.text
        assert "&lt;script&gt;x()" in script.text


def test_who_may_see_what(served: tuple[str, Exchange, str]) -> None:
    base, _ex, document_id = served
    document = f"/audit/document?document_id={document_id}"
    for path in ("/audit", "/audit/export", document):
        anonymous = httpx.get(base + path, follow_redirects=False, timeout=30)
        assert anonymous.status_code == 303
        assert anonymous.headers["location"].startswith("/login?next=")
    allowed = {
        "chutich": {"/audit", "/audit/export", document},
        "quantri": {"/audit", "/audit/export", document},
        "vanthu": {document},
        "chuyenvien": set(),
    }
    for username, paths in allowed.items():
        with signed_in_client(base, username) as client:
            for path in ("/audit", "/audit/export", document):
                expected = 200 if path in paths else 403
                assert client.get(path).status_code == expected, (username, path)
