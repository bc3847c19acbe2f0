"""A letter's whole life over a real local axis and real pages: a DOCX letter with a
spreadsheet and a scan is sent by the commune and received by the district, each file
downloaded from the district's pages byte for byte; the commune's văn thư replaces it by a
new version from the sent document's page (new files, a new number from the register),
then revokes the new version; both stores and both offices' pages show the chain, with
links both ways, and the originals are never changed."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable
from typing import Any

import httpx
import openpyxl
from daemon_fixtures import Exchange, exchange  # noqa: F401  (fixture)
from PIL import Image
from sqlalchemy import select
from web_fixtures import add_staff, hidden_token, pages, signed_in_client  # noqa: F401

from edoc_exchange import audit, edxml
from edoc_exchange import office as steps
from edoc_exchange.office import lifecycle, outgoing, refresh_directory
from edoc_exchange.store.tables import document_changes, inbox, outbox, outgoing_register

_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def docx_bytes(text: str) -> bytes:
    """A real minimal Word document (what Word itself needs to open it)."""
    parts = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
            'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/word/document.xml" ContentType="application/vnd.'
            'openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>'
        ),
        "_rels/.rels": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
            'relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.'
            'org/officeDocument/2006/relationships/officeDocument" '
            'Target="word/document.xml"/></Relationships>'
        ),
        "word/document.xml": (
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document '
            f'xmlns:w="{_W}"><w:body><w:p><w:r><w:t>{text}</w:t></w:r></w:p></w:body>'
            "</w:document>"
        ),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data.encode())
    return buffer.getvalue()


def xlsx_bytes(rows: list[tuple[Any, ...]]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def png_bytes(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), colour).save(buffer, format="PNG")
    return buffer.getvalue()


LETTER = {
    "cong-van-hop-giao-ban.docx": docx_bytes("Kính gửi UBND huyện: họp giao ban tháng 12"),
    "phu-luc-so-lieu.xlsx": xlsx_bytes([("Thôn", "Số hộ"), ("Nậm Khánh", 120), ("Nà Lồ", 85)]),
    "ban-quet-giay-moi.png": png_bytes((200, 30, 30)),
}
NEW_VERSION = {
    "cong-van-hop-giao-ban-v2.docx": docx_bytes("Kính gửi UBND huyện: họp giao ban (sửa)"),
    "phu-luc-so-lieu-v2.xlsx": xlsx_bytes([("Thôn", "Số hộ"), ("Nậm Khánh", 121)]),
}


def _form(ex: Exchange) -> outgoing.DraftForm:
    return outgoing.DraftForm(
        doc_type="cong-van",
        notation="UBND",
        subject="V/v họp giao ban tháng 12",
        recipients=[ex.district.office_id],
        priority="1",
        place="Nậm Khánh",
        signer_competence="TM. ỦY BAN NHÂN DÂN",
        signer_position="CHỦ TỊCH",
        signer_name="Vũ Ngọc Thiện",
    )


def _pass(ex: Exchange) -> None:
    """One trip through the axis: the commune sends, the district receives."""
    assert steps.send_due(ex.commune).done == 1
    assert steps.receive_documents(ex.district).done == 1


def _rows(office: steps.Office, table: Any, **where: Any) -> list[dict[str, Any]]:
    query = select(table).order_by(next(iter(table.primary_key.columns)))
    for name, value in where.items():
        query = query.where(table.c[name] == value)
    with office.db.read() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def _chain(office: steps.Office) -> list[tuple[str, str, str | None, str]]:
    return [
        (r["document_id"], r["change"], r["by_document_id"], r["outcome"])
        for r in _rows(office, document_changes)
    ]


def _files_of(client: httpx.Client, inbox_id: int) -> dict[str, bytes]:
    """Every file of a received document, downloaded through its page's links."""
    page = client.get(f"/incoming/{inbox_id}")
    assert page.status_code == 200, page.text
    links = re.findall(
        rf'<a href="(/incoming/{inbox_id}/files/\d+)" download>([^<]+)</a>', page.text
    )
    found: dict[str, bytes] = {}
    for href, name in dict(reversed(links)).items():  # the name's link, not "Tải về"
        answer = client.get(href)
        assert answer.status_code == 200
        assert answer.headers["content-disposition"].startswith("attachment")
        found[name] = answer.content
    return found


def _post(client: httpx.Client, base: str, path: str, data: dict[str, str],
          files: list[tuple[str, tuple[str, bytes]]] | None = None) -> httpx.Response:
    token = hidden_token(client.get("/outgoing").text, "csrf_token")
    return client.post(path, data={"csrf_token": token, **data}, files=files,
                       headers={"origin": base})


def test_a_letter_sent_received_replaced_and_revoked(
    exchange: Exchange, pages: Callable[..., str]  # noqa: F811
) -> None:
    ex = exchange
    refresh_directory(ex.commune)
    add_staff(ex.commune)
    add_staff(ex.district)
    commune_base, district_base = pages(ex.commune), pages(ex.district)

    # 1. Sent: a DOCX letter with a spreadsheet and a scan, number 1 of the register.
    names = list(LETTER)
    sent = outgoing.send_document(
        ex.commune, _form(ex), outgoing.Upload(names[0], LETTER[names[0]]),
        [outgoing.Upload(n, LETTER[n]) for n in names[1:]], actor="vanthu",
    )
    assert sent.number == 1
    assert sent.outbox_id is not None
    original = str(sent.document.document_id)
    _pass(ex)
    sent_before = _rows(ex.commune, outbox, document_id=original)
    [received] = _rows(ex.district, inbox)
    received_before = _rows(ex.district, inbox, document_id=original)

    # 2. Received: each file downloaded from the district's page is the file sent.
    with signed_in_client(district_base, "vanthu") as clerk:
        assert _files_of(clerk, received["id"]) == LETTER

    # 3. Replaced from the sent document's page: new files, the next number.
    with signed_in_client(commune_base, "vanthu") as clerk:
        page = clerk.get(f"/outgoing/{sent.outbox_id}").text
        assert f"/outgoing/{sent.outbox_id}/replace" in page
        assert f"/outgoing/{sent.outbox_id}/update" in page
        new_names = list(NEW_VERSION)
        done = _post(
            clerk, commune_base, f"/outgoing/{sent.outbox_id}/replace",
            {"reason": "Sửa số liệu phụ lục", "subject": "V/v họp giao ban tháng 12 (thay thế)"},
            [("main_file", (new_names[0], NEW_VERSION[new_names[0]])),
             ("attachments", (new_names[1], NEW_VERSION[new_names[1]]))],
        )
        assert done.status_code == 303, done.text
        shown = clerk.get(done.headers["location"]).text
        assert "Đã xếp hàng văn bản thay thế" in shown
        assert f"/outgoing/{sent.outbox_id}/replace" not in shown  # replaced: no more acts
    [replaced_change] = _rows(ex.commune, document_changes)
    new_id = replaced_change["by_document_id"]
    new_outbox = replaced_change["by_outbox_id"]
    assert new_id != original
    register = _rows(ex.commune, outgoing_register)
    assert [(r["number"], r["document_id"]) for r in register] == [(1, original), (2, new_id)]
    _pass(ex)

    [replacement] = _rows(ex.district, inbox, document_id=new_id)
    message = edxml.read(bytes(replacement["message"])).message
    assert isinstance(message, edxml.Document)
    assert message.business is not None
    assert message.business_doc_type is edxml.BusinessDocType.REPLACE
    assert [r.document_id for r in message.business.replacements] == [original]
    assert message.code is not None
    assert message.code.number == "2"
    with signed_in_client(district_base, "vanthu") as clerk:
        assert _files_of(clerk, replacement["id"]) == NEW_VERSION
        old_page = clerk.get(f"/incoming/{received['id']}").text
        assert "đã bị thay thế bởi" in old_page
        assert f'<a href="/incoming/{replacement["id"]}">{new_id}</a>' in old_page
        new_page = clerk.get(f"/incoming/{replacement['id']}").text
        assert "thay thế cho" in new_page
        assert f'<a href="/incoming/{received["id"]}">{original}</a>' in new_page

    # 4. The new version revoked from its own page.
    with signed_in_client(commune_base, "vanthu") as clerk:
        assert "thay thế cho" in clerk.get(f"/outgoing/{new_outbox}").text
        done = _post(clerk, commune_base, f"/outgoing/{new_outbox}/revoke",
                     {"reason": "Hủy cuộc họp"})
        assert done.status_code == 303, done.text
        old_page = clerk.get(f"/outgoing/{sent.outbox_id}").text
        assert f'<a href="/outgoing/{new_outbox}">{new_id}</a>' in old_page
        new_page = clerk.get(f"/outgoing/{new_outbox}").text
        assert f'<a href="/outgoing/{sent.outbox_id}">{original}</a>' in new_page
        assert "đã thu hồi" in new_page
    _pass(ex)

    # 5. Both stores show the chain; the originals are untouched.
    assert _chain(ex.commune) == [
        (original, "replaced", new_id, "sent"),
        (new_id, "revoked", new_id, "sent"),
    ]
    assert _chain(ex.district) == [
        (original, "replaced", new_id, "applied"),
        (new_id, "revoked", new_id, "applied"),
    ]
    assert _rows(ex.commune, outbox, document_id=original) == sent_before
    assert _rows(ex.district, inbox, document_id=original) == received_before
    assert [r["business_doc_type"] for r in _rows(ex.district, inbox)] == [0, 3, 1]
    old_chain = lifecycle.chain_received(ex.district, received["id"])
    assert [(c.words, c.other_document_id, c.other_inbox_id) for c in old_chain] == [
        (("đã bị thay thế bởi", "replaced by"), new_id, replacement["id"])
    ]
    new_chain = lifecycle.chain_received(ex.district, replacement["id"])
    assert [(c.words, c.outcome[1]) for c in new_chain] == [
        (("thay thế cho", "replaces"), "applied"),
        (("đã thu hồi", "revoked"), "applied"),
    ]
    with ex.commune.db.read() as conn:
        events = [e.event for e in audit.entries(conn, ex.commune.office_id)]
    assert events.count("lifecycle_sent") == 2
    assert events.count("issued") == 2
    with ex.district.db.read() as conn:
        events = [e.event for e in audit.entries(conn, ex.district.office_id)]
    assert events.count("lifecycle_received") == 2
    with signed_in_client(district_base, "vanthu") as clerk:
        new_page = clerk.get(f"/incoming/{replacement['id']}").text
        assert "đã thu hồi" in new_page
        assert "đã áp dụng" in new_page
    # the lists mark each item with what became of it
    [_first, _replacement, revoke_row] = _rows(ex.district, inbox)
    assert lifecycle.marks_received(ex.district, [received["id"], replacement["id"]]) == {
        received["id"]: (("đã bị thay thế", "replaced"),),
        replacement["id"]: (("bản thay thế", "a replacement"), ("đã thu hồi", "revoked")),
    }
    [revoke_outbox] = [r["id"] for r in _rows(ex.commune, outbox, document_id=new_id)
                       if r["id"] != new_outbox]
    assert lifecycle.marks_sent(ex.commune, [(sent.outbox_id, original), (new_outbox, new_id),
                                             (revoke_outbox, new_id)]) == {
        sent.outbox_id: (("đã bị thay thế", "replaced"),),
        new_outbox: (("bản thay thế", "a replacement"), ("đã thu hồi", "revoked")),
        revoke_outbox: (("thư thu hồi", "the revoke"),),
    }
    with signed_in_client(district_base, "vanthu") as clerk:
        listed = clerk.get("/incoming").text
    assert "đã bị thay thế (replaced)" in listed
    assert "đã thu hồi (revoked)" in listed
    assert f'href="/incoming/{revoke_row["id"]}"' in listed
    with signed_in_client(commune_base, "vanthu") as clerk:
        sent_list = clerk.get("/outgoing").text
    assert "thư thu hồi (the revoke)" in sent_list
    assert "đã bị thay thế (replaced)" in sent_list
