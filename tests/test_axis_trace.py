"""The hop the local axis appends to delivered documents, and CRLF line ends: at byte level
where the place is certain, by a tree edit where it is not, never on status messages."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
from axis_fixtures import (
    AXIS_ORGAN,
    COMMUNE_A,
    DISTRICT,
    axis_factory,
    make_document,
    make_status,
    split_axis_hop,
)

from edoc_exchange import edxml
from edoc_exchange.edxml.formats import format_timestamp
from edoc_exchange.sandbox.axis._trace import Hop, crlf_line_ends, traced

__all__ = ["axis_factory"]

WHEN = dt.datetime(2025, 3, 14, 2, 5, 6, tzinfo=dt.UTC)  # 09:05:06 in Vietnam
HOP = Hop(AXIS_ORGAN, WHEN)
HOP_XML = (
    f"<edXML:TraceHeader><edXML:OrganId>{AXIS_ORGAN}</edXML:OrganId>"
    "<edXML:Timestamp>2025/03/14 09:05:06</edXML:Timestamp></edXML:TraceHeader>"
).encode()


def _traced(tmp_path: Path, data: bytes, hop: Hop = HOP) -> bytes:
    path = tmp_path / "m.edxml"
    path.write_bytes(data)
    return b"".join(traced(path, hop))


def _trace_of(data: bytes) -> list[tuple[str | None, str]]:
    message = edxml.read(data).message
    assert isinstance(message, edxml.Document)
    return [(t.organ_id, format_timestamp(t.timestamp)) for t in message.trace
            if t.timestamp is not None]


def _document() -> bytes:
    return edxml.write(make_document(COMMUNE_A, [DISTRICT], "5"))


def test_hop_is_inserted_before_the_end_tag_and_nothing_else_changes(tmp_path: Path) -> None:
    data = _document()
    out = _traced(tmp_path, data)
    without, hop = split_axis_hop(out)
    assert without == data
    assert hop == HOP_XML
    # Indented like its siblings, on its own line.
    assert b"\n        " + HOP_XML + b"\n      </edXML:TraceHeaderList>" in out
    assert _trace_of(out)[-1] == (AXIS_ORGAN, "2025/03/14 09:05:06")


def test_unprefixed_message_gets_an_unprefixed_hop(tmp_path: Path) -> None:
    data = _document().replace(b"edXML:", b"").replace(b' xmlns:edXML="', b' xmlns:unused="')
    assert b"</TraceHeaderList>" in data
    out = _traced(tmp_path, data)
    assert f"<TraceHeader><OrganId>{AXIS_ORGAN}</OrganId>".encode() in out
    assert out.replace(b"  " + HOP_XML.replace(b"edXML:", b"") + b"\n      ", b"") == data
    assert _trace_of(out)[-1][0] == AXIS_ORGAN


@pytest.mark.parametrize(
    ("organ", "expected_xml", "read_as"),
    [
        (None, b"<edXML:TraceHeader><edXML:Timestamp>", None),
        ("null", b"<edXML:TraceHeader><edXML:OrganId>null</edXML:OrganId>", None),
    ],
    ids=["no-organ-element", "literal-null"],
)
def test_hop_without_an_organ_as_the_national_axis_wrote_it(
    tmp_path: Path, organ: str | None, expected_xml: bytes, read_as: str | None
) -> None:
    out = _traced(tmp_path, _document(), Hop(organ, WHEN))
    assert split_axis_hop(out)[1].startswith(expected_xml)
    assert _trace_of(out)[-1] == (read_as, "2025/03/14 09:05:06")


def test_status_message_is_left_as_it_is(tmp_path: Path) -> None:
    status = edxml.write(make_status(DISTRICT, make_document(COMMUNE_A, [DISTRICT], "5")))
    assert _traced(tmp_path, status) == status


@pytest.mark.parametrize(
    "hiding",
    [b"<!-- </edXML:TraceHeaderList> -->", b"<?note </edXML:TraceHeaderList>?>"],
    ids=["comment", "processing-instruction"],
)
def test_markup_like_text_before_the_end_tag_falls_back_to_a_tree_edit(
    tmp_path: Path, hiding: bytes
) -> None:
    data = _document().replace(b"<edXML:TraceHeaderList>", b"<edXML:TraceHeaderList>" + hiding)
    out = _traced(tmp_path, data)
    assert hiding in out  # kept, and not mistaken for the end tag
    assert len(_trace_of(out)) == 2
    assert _trace_of(out)[-1][0] == AXIS_ORGAN
    assert HOP_XML in out


def test_cdata_before_the_end_tag_falls_back_to_a_tree_edit(tmp_path: Path) -> None:
    data = _document().replace(
        b"<edXML:Subject>", b"<edXML:Subject><![CDATA[</edXML:TraceHeaderList>]]>"
    )
    out = _traced(tmp_path, data)
    message = edxml.read(out).message
    assert isinstance(message, edxml.Document)
    assert (message.subject or "").startswith("</edXML:TraceHeaderList>")
    assert [t.organ_id for t in message.trace] == [COMMUNE_A, AXIS_ORGAN]


def test_a_second_trace_header_list_elsewhere_is_not_touched(tmp_path: Path) -> None:
    foreign = (b'<x:TraceHeaderList xmlns:x="urn:example:other"><x:Note>n</x:Note>'
               b"</x:TraceHeaderList>")
    data = _document().replace(b"<edXML:Subject>", foreign + b"<edXML:Subject>", 1)
    out = _traced(tmp_path, data)
    assert foreign in out
    assert re.search(rb"</edXML:TraceHeader>\s*" + re.escape(HOP_XML), out)


def test_empty_trace_header_list_gets_the_hop_by_a_tree_edit(tmp_path: Path) -> None:
    data = re.sub(rb"<edXML:TraceHeaderList>.*</edXML:TraceHeaderList>",
                  b"<edXML:TraceHeaderList/>", _document(), flags=re.S)
    out = _traced(tmp_path, data)
    assert HOP_XML in out


def test_official_sample_keeps_its_stray_bytes_and_crlf(
    tmp_path: Path, samples_dir: Path
) -> None:
    """edoc_new.edxml: signed, CRLF line ends, four stray bytes before the declaration."""
    data = (samples_dir / "edoc_new.edxml").read_bytes()
    out = _traced(tmp_path, data)
    assert out.startswith(data[:4])
    assert not data.startswith(b"<")
    without, hop = split_axis_hop(out)
    assert without == data
    assert hop == HOP_XML
    assert HOP_XML + b"\r\n" in out  # the message's own line ends


def test_crlf_line_ends_across_chunk_boundaries() -> None:
    text = b"a\nb\r\nc\n\nd\re\n"
    expected = b"a\r\nb\r\nc\r\n\r\nd\re\r\n"
    for size in range(1, len(text) + 1):
        chunks = [text[i : i + size] for i in range(0, len(text), size)]
        assert b"".join(crlf_line_ends(chunks)) == expected, size


def test_axis_delivers_crlf_with_its_hop(axis_factory: Any) -> None:
    axis = axis_factory(line_ends="crlf", trace_organ_id="")
    data = _document()
    axis.client("xa-a").send(data)
    district = axis.client("huyen")
    [item] = district.list_received()
    delivered = district.fetch(item.doc_id)
    assert re.search(rb"(?<!\r)\n", delivered) is None
    assert split_axis_hop(delivered)[0] == data.replace(b"\n", b"\r\n")
    assert [t[0] for t in _trace_of(delivered)] == [COMMUNE_A, None]
    assert item.size == len(delivered)
