"""OrganId and DocumentId: parsing into parts, and clear errors naming the bad part."""

from __future__ import annotations

import datetime as dt

import pytest

from edoc_exchange.edxml import DocumentId, IdentifierError, OrganId
from edoc_exchange.errors import EdocError


def test_organ_id_levels() -> None:
    oid = OrganId.parse("002.00.20.H13")
    assert (oid.level4, oid.level3, oid.level2, oid.level1) == ("002", "00", "20", "H13")
    assert (oid.letter, oid.number) == ("H", "13")
    assert str(oid) == "002.00.20.H13"


@pytest.mark.parametrize(
    ("code", "depth", "parent"),
    [
        ("000.00.00.H41", 1, None),
        ("000.00.05.H38", 2, "000.00.00.H38"),
        ("000.12.05.H38", 3, "000.00.05.H38"),
        ("001.12.05.H38", 4, "000.12.05.H38"),
    ],
)
def test_organ_id_depth_and_parent(code: str, depth: int, parent: str | None) -> None:
    oid = OrganId.parse(code)
    assert oid.depth == depth
    assert (str(oid.parent()) if oid.parent() else None) == parent


@pytest.mark.parametrize(
    ("code", "fragment"),
    [
        ("28.22.H17", "4 dot-separated parts"),  # the short code of the official samples
        ("01.02.G22", "4 dot-separated parts"),
        ("000.00.00.h41", "level 1"),
        ("000.00.00.H4", "level 1"),
        ("000.00.00.HH1", "level 1"),
        ("00.000.00.H41", "level 4"),
        ("000.0A.00.H41", "level 3"),
        ("000.00.123.H41", "level 2"),
        ("", "4 dot-separated parts"),
        ("000.00.00.H41.1", "4 dot-separated parts"),
        ("٠٠٠.00.00.H41", "level 4"),  # Arabic-Indic digits are digits to str.isdigit
    ],
)
def test_malformed_organ_id(code: str, fragment: str) -> None:
    with pytest.raises(IdentifierError) as info:
        OrganId.parse(code)
    assert fragment in info.value.en
    assert info.value.vi  # a Vietnamese message too
    assert isinstance(info.value, EdocError)
    assert not OrganId.is_valid(code)


def test_document_id_round_trip() -> None:
    text = "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT"
    did = DocumentId.parse(text)
    assert did.organ_id == OrganId.parse("000.00.00.G22")
    assert did.date == dt.date(2015, 9, 30)
    assert (did.number, did.notation) == ("7816", "VPCP-TTĐT")
    assert str(did) == text


def test_document_id_blank_number_until_registered() -> None:
    did = DocumentId(OrganId.parse("000.12.05.H38"), dt.date(2020, 6, 4), "", "KH-UBND")
    assert str(did) == "000.12.05.H38,2020/06/04,/KH-UBND"
    assert DocumentId.parse(str(did)) == did


def test_document_id_notation_may_hold_a_slash() -> None:
    did = DocumentId.parse("000.00.00.G01,2020/04/05,30/2020/NĐ-CP")
    assert (did.number, did.notation) == ("30", "2020/NĐ-CP")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("9fbfbad2-f1f8-4256-a2eb-50fb1061cddb", "UUID"),
        ("000.00.00.G22,2014/02/30,7806/VPCP-TTĐT", "not a valid yyyy/MM/dd date"),
        ("000.00.00.G22,2014-02-03,7806/VPCP", "not a valid yyyy/MM/dd date"),
        ("000.00.00.G22,2014/02/03", "must be OrganId"),
        ("000.00.00.G22,2014/02/03,7806", "Number/Notation"),
        ("28.22.H17,2014/02/03,1/KH", "4 dot-separated parts"),
    ],
)
def test_malformed_document_id(text: str, fragment: str) -> None:
    with pytest.raises(IdentifierError) as info:
        DocumentId.parse(text)
    assert fragment in info.value.en


def test_a_document_id_of_another_issuer_scheme_parses_apart_from_its_issuer() -> None:
    issuer, date, number, notation = DocumentId.parse_foreign(
        "020100107370,2025/10/13,2440/PLX-HĐQT"
    )
    assert (issuer, date, number, notation) == (
        "020100107370",
        dt.date(2025, 10, 13),
        "2440",
        "PLX-HĐQT",
    )
    for bad in ("020100107370,2025/02/30,1/X", "G 12,2025/10/13,1/X", "G12,2025/10/13,1"):
        with pytest.raises(IdentifierError):
            DocumentId.parse_foreign(bad)
    with pytest.raises(IdentifierError):  # the strict parse still wants four levels
        DocumentId.parse("020100107370,2025/10/13,2440/PLX-HĐQT")
