"""Signatures survive the axis: hops appended after signing stay unsigned, nothing else does.

The national axis appends TraceHeaders (one with OrganId ``null``, one with none) and
delivers CRLF line ends. What we sign must still verify, here and in an independent
XML-DSig implementation (xmlsec1), and the appended region must not be a way to smuggle
anything into a signed message.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from lxml import etree
from signing_fixtures import (
    DSIG,
    NOW,
    SENDER,
    document,
    dump,
    header,
    pki,
    q,
    signature,
    signxml_sign,
    status,
    tree,
)

from edoc_exchange import edxml, signing
from edoc_exchange.signing import InvalidSignature, Rule

FILTER2 = "http://www.w3.org/2002/06/xmldsig-filter2"
END = b"</edXML:TraceHeaderList>"

# What the real axis appends (as delivered in axis-2025-petrolimex-to-btc.edxml): a hop
# with no OrganId, then one with the axis's code; line break and indentation included.
AXIS_HOPS = (
    b"\n        <edXML:TraceHeader>\n"
    b"          <edXML:Timestamp>2026/12/01 10:27:35</edXML:Timestamp>\n"
    b"        </edXML:TraceHeader>\n"
    b"        <edXML:TraceHeader>\n"
    b"          <edXML:OrganId>02.29.W00</edXML:OrganId>\n"
    b"          <edXML:Timestamp>2026/12/01 10:40:04</edXML:Timestamp>\n"
    b"        </edXML:TraceHeader>\n      "
)


def append(data: bytes, hops: bytes = AXIS_HOPS) -> bytes:
    """Append hops as the axis does: text inserted before the end of TraceHeaderList."""
    at = data.index(END)
    return data[:at] + hops + data[at:]


def signed_document() -> bytes:
    return signing.sign(document(), pki().signer())


def verify(data: bytes) -> signing.VerifiedMessage:
    return signing.verify(data, pki().policy())


# --- the construction ------------------------------------------------------------------------


def test_signature_uses_the_pinned_trace_filter() -> None:
    root = tree(signed_document())
    transforms = signature(root).findall(f".//{{{DSIG}}}Transform")
    assert [t.get("Algorithm") for t in transforms] == [
        "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
        FILTER2,
        "http://www.w3.org/2001/10/xml-exc-c14n#",
    ]
    xpath = transforms[1].find(f"{{{FILTER2}}}XPath")
    assert xpath is not None
    assert xpath.get("Filter") == "subtract"
    # The sender's own hop (one at signing) stays signed: only later ones are subtracted.
    assert "TraceHeader[position() > 1]" in (xpath.text or "")


def test_appended_hops_verify_and_are_reported_unsigned() -> None:
    delivered = append(signed_document())
    verified = verify(delivered)
    message = verified.message
    assert isinstance(message, edxml.Document)
    assert [h.organ_id for h in message.trace] == [SENDER]  # the signed hop only
    assert [h.organ_id for h in verified.unsigned_trace] == [None, "02.29.W00"]
    assert verified.unsigned_trace[1].timestamp == dt.datetime(
        2026, 12, 1, 10, 40, 4, tzinfo=edxml.VN_TZ
    )
    # The hop without an OrganId is reported, at its place in the delivered message.
    missing = [w for w in verified.warnings if w.code == "missing-optional"]
    assert [w.path for w in missing] == [
        "/edXML/edXMLEnvelope/edXMLHeader/TraceHeaderList/TraceHeader[2]/OrganId"
    ]


def test_crlf_line_ends_and_hops_together_verify() -> None:
    delivered = append(signed_document()).replace(b"\n", b"\r\n")
    assert b"\r\n" in delivered
    verified = verify(delivered)
    assert len(verified.unsigned_trace) == 2


def test_a_status_message_survives_hops_too() -> None:
    # A status message has no TraceHeaderList: the same construction, nothing subtracted.
    data = signing.sign(status(), pki().signer())
    verified = verify(data.replace(b"\n", b"\r\n"))
    assert verified.unsigned_trace == ()
    assert isinstance(verified.message, edxml.StatusMessage)


def test_a_null_organ_id_hop_is_kept_and_reported() -> None:
    hop = (
        b"<edXML:TraceHeader><edXML:OrganId>null</edXML:OrganId>"
        b"<edXML:Timestamp>2026/12/01 10:00:00</edXML:Timestamp></edXML:TraceHeader>"
    )
    verified = verify(append(signed_document(), hop))
    assert [h.organ_id for h in verified.unsigned_trace] == [None]
    assert "null-text" in {w.code for w in verified.warnings}


def test_a_forged_hop_with_the_senders_code_does_not_move_the_signing_time() -> None:
    # The signing time is read from the signed hops only; an appended hop claiming to be the
    # sender, a year later, is unsigned data.
    later = (NOW + dt.timedelta(days=365)).strftime("%Y/%m/%d %H:%M:%S").encode()
    hop = (
        b"<edXML:TraceHeader><edXML:OrganId>" + SENDER.encode() + b"</edXML:OrganId>"
        b"<edXML:Timestamp>" + later + b"</edXML:Timestamp></edXML:TraceHeader>"
    )
    verified = verify(append(signed_document(), hop))
    assert verified.signing_time == NOW
    assert verified.unsigned_trace[0].organ_id == SENDER


def test_a_whole_message_signature_still_verifies_but_breaks_with_a_hop() -> None:
    # Signatures made before the filter (or by other tools) cover every hop: still valid
    # untouched, and a hop breaks them -- why the filter exists.
    p = pki()
    data = signxml_sign(
        edxml.write(document()), key=p.leaf.key, certs=[p.leaf.cert, p.intermediate.cert]
    )
    assert verify(data).unsigned_trace == ()
    with pytest.raises(InvalidSignature) as info:
        verify(append(data))
    assert info.value.rule is Rule.DIGEST


# --- tampering and smuggling ---------------------------------------------------------------


def _replace_once(data: bytes, old: bytes, new: bytes) -> bytes:
    assert data.count(old) >= 1
    return data.replace(old, new, 1)


Tamper = Callable[[bytes], bytes]
TAMPERING: dict[str, tuple[Tamper, Rule]] = {
    # The signed content: any change is a digest mismatch, hops or not.
    "subject": (
        lambda d: _replace_once(d, "PAPI năm".encode(), "PAPI NĂM".encode()),
        Rule.DIGEST,
    ),
    "signed-hop-time": (
        lambda d: _replace_once(
            d, NOW.strftime("%Y/%m/%d %H:%M:%S").encode(), b"2020/01/01 00:00:00"
        ),
        Rule.DIGEST,
    ),
    "business-doc-type": (
        lambda d: _replace_once(d, b"<edXML:BussinessDocType>0<", b"<edXML:BussinessDocType>1<"),
        Rule.DIGEST,
    ),
    "hop-inserted-before-the-signed-one": (
        lambda d: _replace_once(
            d,
            b"<edXML:TraceHeaderList>",
            b"<edXML:TraceHeaderList><edXML:TraceHeader><edXML:OrganId>000.00.00.G22"
            b"</edXML:OrganId></edXML:TraceHeader>",
        ),
        Rule.DIGEST,
    ),
    "bussiness-appended-after-signing": (
        lambda d: append(
            d,
            b"<edXML:Bussiness><edXML:BussinessDocType>1</edXML:BussinessDocType>"
            b"</edXML:Bussiness>",
        ),
        Rule.DIGEST,
    ),
    "hop-in-another-place": (
        lambda d: _replace_once(
            d,
            b"</edXML:MessageHeader>",
            b"<edXML:TraceHeader><edXML:OrganId>x</edXML:OrganId></edXML:TraceHeader>"
            b"</edXML:MessageHeader>",
        ),
        Rule.DIGEST,
    ),
    # The unsigned region may hold bare hops and whitespace, nothing else.
    "subject-smuggled-in-a-hop": (
        lambda d: append(
            d,
            "<edXML:TraceHeader><edXML:Subject>Hủy kế hoạch</edXML:Subject>"
            "</edXML:TraceHeader>".encode(),
        ),
        Rule.UNSIGNED_CONTENT,
    ),
    "text-in-the-trace-list": (
        lambda d: append(d, b"Hu\xe1\xbb\xb7 k\xe1\xba\xbf ho\xe1\xba\xa1ch"),
        Rule.UNSIGNED_CONTENT,
    ),
    "attribute-on-a-hop": (
        lambda d: append(
            d, b'<edXML:TraceHeader Id="x"><edXML:OrganId>a</edXML:OrganId></edXML:TraceHeader>'
        ),
        Rule.UNSIGNED_CONTENT,
    ),
    "nested-element-in-a-hop-child": (
        lambda d: append(
            d,
            b"<edXML:TraceHeader><edXML:OrganId><edXML:DocumentId>x"
            b"</edXML:DocumentId></edXML:OrganId></edXML:TraceHeader>",
        ),
        Rule.UNSIGNED_CONTENT,
    ),
    "two-organ-ids-in-a-hop": (
        lambda d: append(
            d,
            b"<edXML:TraceHeader><edXML:OrganId>a</edXML:OrganId>"
            b"<edXML:OrganId>b</edXML:OrganId></edXML:TraceHeader>",
        ),
        Rule.UNSIGNED_CONTENT,
    ),
    "hop-of-another-namespace": (
        lambda d: append(d, b'<TraceHeader xmlns="urn:x"><Subject>x</Subject></TraceHeader>'),
        Rule.DIGEST,  # not a TraceHeader of edXML: not subtracted, so it breaks the digest
    ),
    # The filter itself is pinned: a different expression is refused before any crypto.
    "filter-subtracts-the-header": (
        lambda d: _replace_once(d, b"TraceHeader[position() &gt; 1]", b"MessageHeader"),
        Rule.TRANSFORMS,
    ),
    "filter-n-lowered": (
        lambda d: _replace_once(
            d, b"TraceHeader[position() &gt; 1]", b"TraceHeader[position() &gt; 0]"
        ),
        Rule.SIGNATURE_VALUE,  # the expression is signed: a forger cannot change N
    ),
    "filter-union": (
        lambda d: _replace_once(d, b'Filter="subtract"', b'Filter="union"'),
        Rule.TRANSFORMS,
    ),
    "filter-prefix-rebound": (
        lambda d: _replace_once(
            d, b'Filter="subtract"', b'xmlns:edXML="urn:evil" Filter="subtract"'
        ),
        Rule.TRANSFORMS,
    ),
}


@pytest.mark.parametrize("attack", sorted(TAMPERING))
def test_tampering_is_refused(attack: str) -> None:
    tamper, rule = TAMPERING[attack]
    data = tamper(append(signed_document()))
    with pytest.raises(InvalidSignature) as info:
        verify(data)
    assert info.value.rule is rule, info.value


def test_a_second_trace_list_is_refused_by_the_place_check() -> None:
    data = append(signed_document())
    root = tree(data)
    extra = etree.SubElement(header(root), q("TraceHeaderList"))
    etree.SubElement(extra, q("TraceHeader"))
    header(root).insert(0, extra)
    with pytest.raises(InvalidSignature) as info:
        verify(dump(root))
    assert info.value.rule is Rule.SIGNATURE_PLACE


def test_an_unpinned_transform_with_the_filter_algorithm_is_refused() -> None:
    root = tree(signed_document())
    transform = signature(root).findall(f".//{{{DSIG}}}Transform")[1]
    etree.SubElement(transform, f"{{{FILTER2}}}XPath", Filter="subtract").text = "/"
    with pytest.raises(InvalidSignature) as info:
        verify(dump(root))
    assert info.value.rule is Rule.TRANSFORMS


# --- an independent verifier ---------------------------------------------------------------


@pytest.fixture(scope="module")
def xmlsec1(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    binary = shutil.which("xmlsec1")
    if binary is None:
        pytest.skip("xmlsec1 is not installed (Debian package xmlsec1; scripts/install.sh --dev)")
    folder = tmp_path_factory.mktemp("xmlsec1")
    ca = folder / "ca.pem"
    ca.write_bytes(
        b"".join(
            c.public_bytes(serialization.Encoding.PEM)
            for c in (pki().root.cert, pki().intermediate.cert)
        )
    )
    return binary, ca


def _xmlsec1_verifies(xmlsec: tuple[str, Path], data: bytes, folder: Path) -> bool:
    binary, ca = xmlsec
    target = folder / "message.edxml"
    target.write_bytes(data)
    done = subprocess.run(
        [
            binary,
            "--verify",
            "--trusted-pem",
            str(ca),
            "--enabled-reference-uris",
            "empty",
            str(target),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done.returncode == 0


def test_xmlsec1_accepts_what_we_sign(xmlsec1: tuple[str, Path], tmp_path: Path) -> None:
    data = signed_document()
    assert _xmlsec1_verifies(xmlsec1, data, tmp_path)
    ec = signing.sign(document(), pki().ec_leaf.signer())
    assert _xmlsec1_verifies(xmlsec1, ec, tmp_path)
    assert _xmlsec1_verifies(xmlsec1, signing.sign(status(), pki().signer()), tmp_path)


def test_xmlsec1_accepts_it_after_the_axis(xmlsec1: tuple[str, Path], tmp_path: Path) -> None:
    delivered = append(signed_document()).replace(b"\n", b"\r\n")
    assert _xmlsec1_verifies(xmlsec1, delivered, tmp_path)


@pytest.mark.parametrize(
    "attack", ["subject", "signed-hop-time", "hop-inserted-before-the-signed-one"]
)
def test_xmlsec1_refuses_tampering(xmlsec1: tuple[str, Path], tmp_path: Path, attack: str) -> None:
    tamper, _rule = TAMPERING[attack]
    assert not _xmlsec1_verifies(xmlsec1, tamper(append(signed_document())), tmp_path)
