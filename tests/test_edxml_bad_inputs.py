"""Bad and hostile inputs: each ends in a clear error naming the rule, fast, no traceback.

Every case is checked twice: through the library (the finding's code and path) and through
``edoc validate`` (exit 1, a readable line, no traceback) within one second.
"""

from __future__ import annotations

import resource
import time
from pathlib import Path

import pytest
from builders import document, document_bytes
from typer.testing import CliRunner

from edoc_exchange import edxml
from edoc_exchange.cli import app
from edoc_exchange.edxml import EdxmlReadError, ReadLimits

runner = CliRunner()
GOOD = document_bytes()
NS = b"http://www.mic.gov.vn/TBT/QCVN_102_2016"


def _replace(old: bytes, new: bytes, data: bytes = GOOD) -> bytes:
    assert old in data, old
    return data.replace(old, new, 1)


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol">
<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
<!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
<!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
<!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
<!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
<!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]><edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016">&lol9;</edXML>"""

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE edXML [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016"><edXMLEnvelope>&xxe;</edXMLEnvelope></edXML>"""

# (name, bytes, expected finding code, strict?)
CASES: list[tuple[str, bytes, str, bool]] = [
    ("xxe", XXE, "doctype-forbidden", False),
    ("billion-laughs", BILLION_LAUGHS, "doctype-forbidden", False),
    (
        "doctype-plain",
        _replace(b"<edXML ", b"<!DOCTYPE edXML>\n<edXML "),
        "doctype-forbidden",
        False,
    ),
    (
        "doctype-after-comment",
        _replace(b"<edXML ", b"<!-- hi -->\n<!DOCTYPE edXML SYSTEM 'x.dtd'>\n<edXML "),
        "doctype-forbidden",
        False,
    ),
    ("not-xml", b"%PDF-1.4 this is not XML at all\n", "not-xml", False),
    ("json", b'{"edXML": true}', "not-xml", False),
    ("empty", b"", "input-empty", False),
    ("whitespace-only", b"  \n\t ", "input-empty", False),
    ("truncated", GOOD[: len(GOOD) // 2], "xml-syntax", False),
    (
        "wrong-root",
        _replace(b"</edXML>", b"</Other>", _replace(b"<edXML ", b"<Other ")),
        "wrong-root",
        False,
    ),
    ("wrong-namespace", GOOD.replace(NS, b"urn:not-edxml"), "wrong-root", False),
    ("invalid-utf8", _replace("Nậm Khánh".encode(), b"N\xff\xfem Kh\xe1nh"), "bad-encoding", False),
    (
        "base64-not-decoding",
        _replace(b"<edXML:ContentTransferEncoded>", b"<edXML:ContentTransferEncoded>!!notbase64**"),
        "bad-base64",
        False,
    ),
    (
        "base64-bad-padding",
        _replace(b"<edXML:ContentTransferEncoded>", b"<edXML:ContentTransferEncoded>A"),
        "bad-base64",
        False,
    ),
    (
        "reference-without-attachment",
        _replace(b"<edXML:Attachment>", b"<edXML:Ignored>").replace(
            b"</edXML:Attachment>", b"</edXML:Ignored>"
        ),
        "reference-without-attachment",
        False,
    ),
    (
        "attachment-without-reference",
        _replace(b"<edXML:Reference>", b"<edXML:Ignored>").replace(
            b"</edXML:Reference>", b"</edXML:Ignored>"
        ),
        "attachment-without-reference",
        False,
    ),
    (
        "attachment-name-with-path",
        GOOD.replace(
            b"<edXML:AttachmentName>ke-hoach.pdf<", b"<edXML:AttachmentName>../../etc/cron.d/x<"
        ),
        "bad-attachment-name",
        False,
    ),
    (
        "attachment-name-windows-path",
        GOOD.replace(
            b"<edXML:AttachmentName>ke-hoach.pdf<", b"<edXML:AttachmentName>C:\\evil.pdf<"
        ),
        "bad-attachment-name",
        False,
    ),
    (
        "field-over-length-strict",
        _replace(b"<edXML:CodeNotation>KH-UBND<", b"<edXML:CodeNotation>" + b"K" * 31 + b"<"),
        "too-long",
        True,
    ),
    (
        "subject-over-length-strict",
        _replace("<edXML:Subject>Kế hoạch".encode(), b"<edXML:Subject>" + "ệ".encode() * 501),
        "too-long",
        True,
    ),
    (
        "malformed-date",
        _replace(b"<edXML:PromulgationDate>2026/11/20<", b"<edXML:PromulgationDate>2026/02/30<"),
        "bad-date",
        False,
    ),
    (
        # Month first (US order) is never swapped into a date: month 20 does not exist.
        "month-first-date",
        _replace(b"<edXML:PromulgationDate>2026/11/20<", b"<edXML:PromulgationDate>11/20/2026<"),
        "bad-date",
        False,
    ),
    (
        # A two-digit year is never guessed.
        "two-digit-year",
        _replace(b"<edXML:PromulgationDate>2026/11/20<", b"<edXML:PromulgationDate>20/11/26<"),
        "bad-date",
        False,
    ),
    (
        "malformed-timestamp",
        _replace(
            b"<edXML:Timestamp>2026/11/20 08:00:00<", b"<edXML:Timestamp>2026/11/20 25:00:00<"
        ),
        "bad-timestamp",
        False,
    ),
    (
        "undefined-entity",
        _replace(b"<edXML:Subject>", b"<edXML:Subject>&secret;"),
        "xml-syntax",
        False,
    ),
    (
        "missing-sender",
        _replace(b"<edXML:OrganId>000.12.05.H38</edXML:OrganId>", b""),
        "missing-element",
        False,
    ),
    ("priority-not-integer", b"", "bad-int", False),  # filled below
]


def _duplicate_content_id() -> bytes:
    doc = document()
    twice = edxml.write(doc.model_copy(update={"attachments": doc.attachments * 1}))
    att = twice[twice.index(b"<edXML:Attachment>") : twice.index(b"</edXML:Attachment>") + 19]
    ref = twice[twice.index(b"<edXML:Reference>") : twice.index(b"</edXML:Reference>") + 18]
    return twice.replace(att, att + att, 1).replace(ref, ref + ref, 1)


CASES[-1] = (
    "priority-not-integer",
    edxml.write(document(other_info=edxml.OtherInfo(priority=1))).replace(
        b"<edXML:Priority>1<", b"<edXML:Priority>high<"
    ),
    "bad-int",
    False,
)
CASES.append(("duplicate-content-id", _duplicate_content_id(), "duplicate-content-id", False))


@pytest.mark.parametrize(("name", "data", "code", "strict"), CASES, ids=[c[0] for c in CASES])
def test_library_reports_the_rule(name: str, data: bytes, code: str, strict: bool) -> None:
    with pytest.raises(EdxmlReadError) as info:
        edxml.read(data, strict=strict)
    codes = [f.code for f in info.value.errors]
    assert code in codes, (name, [str(f) for f in info.value.findings])
    first = next(f for f in info.value.errors if f.code == code)
    assert first.path.startswith("/")
    assert first.vi
    assert first.en
    assert str(info.value)  # the exception text names the first problem


@pytest.mark.parametrize(("name", "data", "code", "strict"), CASES, ids=[c[0] for c in CASES])
def test_validate_exits_1_without_traceback(
    tmp_path: Path, name: str, data: bytes, code: str, strict: bool
) -> None:
    path = tmp_path / f"{name}.edxml"
    path.write_bytes(data)
    args = ["validate", str(path), *(["--strict"] if strict else [])]
    started = time.monotonic()
    result = runner.invoke(app, args)
    elapsed = time.monotonic() - started
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert f"{path}:" in result.output
    assert "error:" in result.output
    assert elapsed < 1.0, f"{name} took {elapsed:.2f}s"


def test_lenient_accepts_overlong_field_with_warning() -> None:
    data = _replace(b"<edXML:CodeNotation>KH-UBND<", b"<edXML:CodeNotation>" + b"K" * 31 + b"<")
    result = edxml.read(data)
    assert [w.code for w in result.warnings] == ["too-long"]
    assert result.warnings[0].path.endswith("/Code/CodeNotation")
    assert result.warnings[0].line is not None


def test_oversized_file_rejected_before_reading(tmp_path: Path) -> None:
    """A 4 GiB (sparse) file is refused from its size alone: memory does not grow."""
    path = tmp_path / "huge.edxml"
    with path.open("wb") as handle:
        handle.write(b"<?xml version='1.0'?><edXML>")
        handle.truncate(4 * 1024**3)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    with pytest.raises(EdxmlReadError) as info:
        edxml.read_file(path)
    assert time.monotonic() - started < 1.0
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 20 * 1024, f"peak memory grew by {grown_kib} KiB"
    assert info.value.errors[0].code == "input-too-large"
    assert str(4 * 1024**3) in info.value.errors[0].en
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 1
    assert "over the limit" in result.output


def test_configurable_bounds() -> None:
    with pytest.raises(EdxmlReadError) as info:
        edxml.read(GOOD, limits=ReadLimits(max_bytes=len(GOOD) - 1))
    assert info.value.errors[0].code == "input-too-large"
    many = document(
        attachments=[
            edxml.Attachment(content_id=f"cid:a{i}", name=f"a{i}.txt", data=b"x") for i in range(5)
        ]
    )
    with pytest.raises(EdxmlReadError) as info:
        edxml.read(edxml.write(many), limits=ReadLimits(max_attachments=4))
    assert info.value.errors[0].code == "too-many-attachments"
    assert edxml.read(edxml.write(many), limits=ReadLimits(max_attachments=5))


def test_deep_nesting_is_bounded() -> None:
    deep = b"<x>" * 500 + b"</x>" * 500
    data = _replace(b"</edXML:MessageHeader>", deep + b"</edXML:MessageHeader>")
    with pytest.raises(EdxmlReadError) as info:
        edxml.read(data)
    assert info.value.errors[0].code == "too-deep"


def test_tag_flood_is_bounded_while_parsing() -> None:
    flood = b"<x/>" * 300_000
    data = _replace(b"</edXML:MessageHeader>", flood + b"</edXML:MessageHeader>")
    started = time.monotonic()
    with pytest.raises(EdxmlReadError) as info:
        edxml.read(data)
    assert info.value.errors[0].code == "too-many-elements"
    assert time.monotonic() - started < 1.0


def test_tag_limit_holds_exactly_for_a_small_message() -> None:
    """A small message is counted before parsing unless it is shorter than the limit
    (each tag takes one "<"): a limit one below its count refuses it, its count reads it."""
    from edoc_exchange.signing._xml import UnsafeXmlError, parse

    tags = GOOD.count(b"<")
    assert len(GOOD) > tags
    with pytest.raises(EdxmlReadError) as info:
        edxml.read(GOOD, limits=ReadLimits(max_tags=tags - 1))
    assert info.value.errors[0].code == "too-many-elements"
    assert edxml.read(GOOD, limits=ReadLimits(max_tags=tags)).message
    with pytest.raises(UnsafeXmlError, match="tags"):
        parse(GOOD, ReadLimits(max_tags=tags - 1))
    assert parse(GOOD, ReadLimits(max_tags=tags)) is not None
    assert parse(GOOD, ReadLimits(max_tags=len(GOOD))) is not None  # not counted


def test_undeclared_prefix_is_a_warning_only_in_lenient_mode() -> None:
    data = _replace(b"<edXML:Reference>", b'<edXML:Reference xlink:href="">')
    result = edxml.read(data)
    assert "undeclared-prefix" in {w.code for w in result.warnings}
    with pytest.raises(EdxmlReadError) as info:
        edxml.read(data, strict=True)
    assert "undeclared-prefix" in {f.code for f in info.value.errors}


def test_business_spelling_and_unknown_elements_are_kept() -> None:
    doc = document(business=edxml.Bussiness(doc_type=0, reason="Văn bản mới"))
    data = edxml.write(doc).replace(b"edXML:Bussiness>", b"edXML:Business>")
    data = _replace(
        b"</edXML:MessageHeader>",
        b"<edXML:VendorNote>ghi ch\xc3\xba</edXML:VendorNote></edXML:MessageHeader>",
        data,
    )
    result = edxml.read(data)
    assert {w.code for w in result.warnings} == {"business-spelling", "unknown-element"}
    assert result.message.business == doc.business  # type: ignore[union-attr]
    kept = result.message.container_extensions["MessageHeader"]
    assert len(kept) == 1
    assert "VendorNote" in kept[0].xml
    again = edxml.read(edxml.write(result.message, check=False))
    assert again.message == result.message
    assert b"<edXML:Bussiness>" in edxml.write(result.message, check=False)


def test_writer_refuses_what_strict_reading_refuses() -> None:
    bad = document(subject="x" * 501, trace=[])
    with pytest.raises(edxml.EdxmlWriteError) as info:
        edxml.write(bad)
    paths = {f.path for f in info.value.errors}
    assert "/edXML/edXMLEnvelope/edXMLHeader/MessageHeader/Subject" in paths
    assert "/edXML/edXMLEnvelope/edXMLHeader/TraceHeaderList/TraceHeader[1]" in paths
    malformed = document(recipients=[edxml.OrganizationInfo(organ_id="28.22.H17", organ_name="x")])
    with pytest.raises(edxml.EdxmlWriteError) as info:
        edxml.write(malformed)
    assert info.value.errors[0].code == "bad-organ-id"
    assert info.value.errors[0].path.endswith("/To[1]/OrganId")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32"])
def test_utf16_and_utf32_are_refused_clearly(encoding: str) -> None:
    data = GOOD.decode("utf-8").replace('encoding="UTF-8"', f'encoding="{encoding.upper()}"')
    with pytest.raises(EdxmlReadError) as info:
        edxml.read(data.encode(encoding))
    assert info.value.errors[0].code == "bad-encoding"
    assert encoding.upper() in info.value.errors[0].en


def test_declared_latin1_is_a_deviation() -> None:
    text = GOOD.decode("utf-8").replace('encoding="UTF-8"', 'encoding="ISO-8859-1"')
    data = text.replace("Nậm Khánh", "Nam Khanh").replace("ệ", "e").encode("latin-1", "replace")
    with pytest.raises(EdxmlReadError) as info:
        edxml.read(data, strict=True)
    assert "encoding-not-utf8" in {f.code for f in info.value.errors}


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("2026/11/2", "2026-11-02"),
        ("2026-11-20", "2026-11-20"),
        ("2026/1/20", "2026-01-20"),
        # Day first, as a vendor writes dd/MM/yyyy: read as that day, never another.
        ("20/11/2026", "2026-11-20"),
        ("2/11/2026", "2026-11-02"),
        ("20-11-2026", "2026-11-20"),
        ("20.11.2026", "2026-11-20"),
        # A timestamp in a date field: the date is its date part.
        ("2026/11/20 00:00:00", "2026-11-20"),
        ("20/11/2026 23:59:59", "2026-11-20"),
        ("2026-11-20T00:00:00", "2026-11-20"),
        # With a zone, the date in Vietnam time: 17:00 UTC is already the next day there.
        ("2026-11-19T17:00:00Z", "2026-11-20"),
    ],
)
def test_date_variants_are_deviations(written: str, expected: str) -> None:
    data = _replace(
        b"<edXML:PromulgationDate>2026/11/20<", f"<edXML:PromulgationDate>{written}<".encode()
    )
    result = edxml.read(data)
    assert [w.code for w in result.warnings] == ["date-format"]
    doc = result.message
    assert isinstance(doc, edxml.Document)
    assert doc.promulgation is not None
    assert doc.promulgation.date is not None
    assert doc.promulgation.date.isoformat() == expected
    with pytest.raises(EdxmlReadError):
        edxml.read(data, strict=True)


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("2026-11-20T08:00:00", "2026-11-20T08:00:00+07:00"),
        ("2026-11-20T01:00:00Z", "2026-11-20T08:00:00+07:00"),
        ("2026/11/20 08:00:00.123", "2026-11-20T08:00:00+07:00"),
        ("2026-11-20T08:00:00+07:00", "2026-11-20T08:00:00+07:00"),
        ("20/11/2026 08:00:00", "2026-11-20T08:00:00+07:00"),
        ("20/11/2026 8:00", "2026-11-20T08:00:00+07:00"),
    ],
)
def test_timestamp_variants_are_deviations(written: str, expected: str) -> None:
    data = _replace(
        b"<edXML:Timestamp>2026/11/20 08:00:00<", f"<edXML:Timestamp>{written}<".encode()
    )
    result = edxml.read(data)
    assert [w.code for w in result.warnings] == ["date-format"]
    doc = result.message
    assert isinstance(doc, edxml.Document)
    assert doc.trace[0].timestamp is not None
    assert doc.trace[0].timestamp.isoformat() == expected


def test_no_namespace_extension_keeps_its_namespace() -> None:
    data = _replace(
        b"</edXML:MessageHeader>", b'<Note xmlns="">ghi ch\xc3\xba</Note></edXML:MessageHeader>'
    )
    result = edxml.read(data)
    kept = result.message.container_extensions["MessageHeader"]
    assert kept[0].tag == "Note"
    written = edxml.write(result.message, check=False)
    assert b'<Note xmlns="">' in written
    again = edxml.read(written)
    assert again.message == result.message
    assert again.message.container_extensions["MessageHeader"][0].tag == "Note"


def test_raw_children_must_be_the_named_element() -> None:
    bad = document(other_info=edxml.OtherInfo(priority=0, reply_fors=edxml.RawXml(xml="<Foo/>")))
    with pytest.raises(edxml.EdxmlWriteError) as info:
        edxml.write(bad)
    assert info.value.errors[0].code == "wrong-element"
    good = document(
        other_info=edxml.OtherInfo(
            priority=0,
            reply_fors=edxml.RawXml(
                xml=f'<ReplyFors xmlns="{edxml.NS}"><ReplyFor>1/UBND</ReplyFor></ReplyFors>'
            ),
        )
    )
    assert edxml.read(edxml.write(good), strict=True).message == good


def test_reference_and_attachment_in_different_unicode_forms_agree() -> None:
    import unicodedata

    name = "báo cáo quý 3.pdf"
    doc = document(attachments=[edxml.Attachment(content_id="cid:r", name=name, data=b"x")])
    data = edxml.write(doc).decode("utf-8")
    first = data.index("<edXML:AttachmentName>")  # the Reference's copy comes first
    decomposed = unicodedata.normalize("NFD", name)
    data = data[:first] + data[first:].replace(name, decomposed, 1)
    result = edxml.read(data.encode("utf-8"), strict=True)
    assert result.warnings == ()
    assert result.message.attachments[0].name == name  # type: ignore[union-attr]
