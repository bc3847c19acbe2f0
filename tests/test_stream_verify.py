"""A large message verified on its file (issue 11): exactly as strict as in memory.

Every attack the in-memory tests refuse is refused on the file path with the same rule:
one byte of an attachment changed, wrapped signatures, a moved Signature, the trace
filter's tampering; the pre-scan refuses what it must before parsing (size, DOCTYPE,
attachment count, anything but base64 in an attachment) and a placeholder cannot be
smuggled elsewhere.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
from lxml import etree
from signing_fixtures import document, ds, dump, header, pki, q, signature, tree
from test_signing_trace import AXIS_HOPS, TAMPERING, append

from edoc_exchange import edxml, signing
from edoc_exchange.edxml import large
from edoc_exchange.signing import InvalidSignature, Rule, SignatureError

SIZE = 300_000


@pytest.fixture(scope="module")
def signed() -> bytes:
    return signing.sign(document(attachments=2, size=SIZE), pki().signer())


def _write(tmp_path: Path, data: bytes, name: str = "in.edxml") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _outcome(call: Callable[[], object]) -> tuple[str, str]:
    try:
        call()
    except SignatureError as exc:
        return type(exc).__name__, exc.rule.value
    except edxml.EdxmlReadError as exc:
        errors = {f.code for f in exc.findings if f.severity.value == "error"}
        return "EdxmlReadError", ",".join(sorted(errors))
    return "ok", ""


def _same(tmp_path: Path, data: bytes) -> tuple[str, str]:
    """Both paths' outcome; they must agree. Nothing is left behind by a refusal."""
    policy = pki().policy()
    small = _outcome(lambda: signing.verify(data, policy))
    path = _write(tmp_path, data)
    big = _outcome(lambda: signing.verify_file(path, policy))
    assert big == small, (big, small)
    if big[0] != "ok":
        assert sorted(p.name for p in tmp_path.iterdir()) == ["in.edxml"]
    return big


def test_valid_message_verifies_on_its_file(tmp_path: Path, signed: bytes) -> None:
    data = append(signed.replace(b"\n", b"\r\n"), AXIS_HOPS.replace(b"\n", b"\r\n"))
    path = _write(tmp_path, data)
    verified = signing.verify(path, pki().policy())  # a path goes to verify_file
    assert isinstance(verified, signing.LargeVerifiedMessage)
    small = signing.verify(data, pki().policy())
    assert isinstance(small.message, edxml.Document)
    message = verified.message
    assert isinstance(message, edxml.Document)
    assert message.document_id == small.message.document_id
    assert [h.organ_id for h in verified.unsigned_trace] == [None, "02.29.W00"]
    for att, want in zip(message.attachments, document(size=SIZE).attachments, strict=True):
        assert isinstance(att, large.LazyAttachment)
        assert att.data == b""
        assert (att.size, att.sha256) == (len(want.data), hashlib.sha256(want.data).hexdigest())
        assert att.copy_to(tmp_path / att.name).read_bytes() == want.data
    # The signed message kept: equal to the in-memory path's, and verifies on its own.
    kept = verified.signed_file.read_bytes()
    assert kept == signing.signed_message(small)
    assert verified.signed_size == len(kept)
    assert verified.signed_sha256 == hashlib.sha256(kept).hexdigest()
    again = signing.verify(kept, pki().policy())
    assert again.unsigned_trace == ()
    with pytest.raises(TypeError):
        _ = verified.signed_bytes


def _tamper_attachment_byte(data: bytes) -> bytes:
    at = data.index(b"<edXML:ContentTransferEncoded>") + 30 + 200_000
    swapped = b"B" if data[at : at + 1] != b"B" else b"C"
    return data[:at] + swapped + data[at + 1 :]


def _second_attachment_swapped(data: bytes) -> bytes:
    root = tree(data)
    encoded = root.find(q("AttachmentEncoded"))
    assert encoded is not None
    first, second = list(encoded)[:2]
    a = first.find(q("ContentTransferEncoded"))
    b = second.find(q("ContentTransferEncoded"))
    assert a is not None
    assert b is not None
    a.text, b.text = b.text, a.text
    return dump(root)


def _wrap_in_object(data: bytes) -> bytes:
    root = tree(data)
    envelope = root.find(q("edXMLEnvelope"))
    assert envelope is not None
    sig = signature(root)
    header(root).remove(sig)
    fake = copy.deepcopy(envelope)
    subject = fake.find(f".//{q('Subject')}")
    assert subject is not None
    subject.text = "Chuyển 500 triệu đồng"
    root.replace(envelope, fake)
    etree.SubElement(sig, ds("Object")).append(envelope)
    trace = header(root).find(q("TraceHeaderList"))
    assert trace is not None
    trace.addnext(sig)
    return dump(root)


def _wrap_envelope_first(data: bytes) -> bytes:
    root = tree(data)
    envelope = root.find(q("edXMLEnvelope"))
    assert envelope is not None
    root.insert(0, copy.deepcopy(envelope))
    return dump(root)


def _wrap_in_extension(data: bytes) -> bytes:
    root = tree(data)
    envelope = root.find(q("edXMLEnvelope"))
    assert envelope is not None
    fake = copy.deepcopy(envelope)
    for sig in fake.iter(ds("Signature")):
        parent = sig.getparent()
        assert parent is not None
        parent.remove(sig)
    root.replace(envelope, fake)
    etree.SubElement(root, q("Extension")).append(envelope)
    return dump(root)


def _moved(where: str) -> Callable[[bytes], bytes]:
    def move(data: bytes) -> bytes:
        root = tree(data)
        sig = signature(root)
        hdr = header(root)
        hdr.remove(sig)
        target = root if where == "root" else root.find(f".//{q(where)}")
        assert target is not None
        target.append(sig)
        return dump(root)

    return move


ATTACKS: dict[str, Callable[[bytes], bytes]] = {
    "one-attachment-byte": _tamper_attachment_byte,
    "attachments-swapped": _second_attachment_swapped,
    "wrapped-in-signature-object": _wrap_in_object,
    "forged-envelope-first": _wrap_envelope_first,
    "signed-envelope-in-extension": _wrap_in_extension,
    "signature-moved-to-message-header": _moved("MessageHeader"),
    "signature-moved-to-root": _moved("root"),
    "signature-moved-into-attachments": _moved("AttachmentEncoded"),
    **{f"trace-{name}": tamper for name, (tamper, _rule) in TAMPERING.items()},
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attacks_are_refused_as_in_memory(tmp_path: Path, signed: bytes, name: str) -> None:
    kind, rule = _same(tmp_path, ATTACKS[name](signed))
    assert kind != "ok"
    if name == "one-attachment-byte":
        assert (kind, rule) == ("InvalidSignature", Rule.DIGEST.value)


def test_too_large_is_refused_before_parsing(tmp_path: Path, signed: bytes) -> None:
    limits = edxml.ReadLimits(max_bytes=len(signed) - 1)
    path = _write(tmp_path, signed)
    with pytest.raises(InvalidSignature) as info:
        signing.verify_file(path, pki().policy(), limits=limits)
    assert info.value.rule is Rule.MALFORMED
    assert f"over the limit of {len(signed) - 1} bytes" in info.value.en


def test_too_many_attachments_are_refused_before_parsing(tmp_path: Path) -> None:
    data = signing.sign(document(attachments=4, size=100), pki().signer())
    path = _write(tmp_path, data)
    with pytest.raises(edxml.EdxmlReadError) as info:
        signing.verify_file(path, pki().policy(), limits=edxml.ReadLimits(max_attachments=3))
    assert [f.code for f in info.value.findings] == ["too-many-attachments"]
    assert "the limit is 3" in info.value.findings[0].en


@pytest.mark.parametrize(
    "prolog",
    [
        b'<!DOCTYPE edXML [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>\n',
        b'<!DOCTYPE edXML SYSTEM "http://evil.example/x.dtd">\n',
        b"<!-- " + b"x" * 70_000 + b" -->\n<!DOCTYPE edXML>\n",  # past the prolog window
    ],
)
def test_doctype_and_entities_are_refused(tmp_path: Path, signed: bytes, prolog: bytes) -> None:
    at = signed.index(b"<edXML ")
    data = signed[:at] + prolog + signed[at:]
    path = _write(tmp_path, data)
    with pytest.raises(InvalidSignature) as info:
        signing.verify_file(path, pki().policy())
    assert info.value.rule is Rule.MALFORMED
    assert "DOCTYPE" in info.value.en
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.edxml"]


def test_markup_inside_an_attachment_is_refused(tmp_path: Path, signed: bytes) -> None:
    at = signed.index(b"<edXML:ContentTransferEncoded>") + 30
    data = signed[:at] + b"<![CDATA[QUJD]]>" + signed[at:]
    path = _write(tmp_path, data)
    with pytest.raises(edxml.EdxmlReadError) as info:
        signing.verify_file(path, pki().policy())
    assert [f.code for f in info.value.findings] == ["bad-base64"]


def test_a_placeholder_cannot_stand_elsewhere(tmp_path: Path, signed: bytes) -> None:
    # Text shaped like an attachment inside a CDATA section of the Subject: the pre-scan
    # skips CDATA, so it is kept as text; and were it cut, the check would refuse it.
    fake = b"<![CDATA[<edXML:ContentTransferEncoded>QUJD</edXML:ContentTransferEncoded>]]>"
    data = signed.replace(b"</edXML:Subject>", fake + b"</edXML:Subject>", 1)
    assert _same(tmp_path, data) == ("InvalidSignature", Rule.DIGEST.value)
    skeleton = large.skeletonize(_write(tmp_path, data, "x.edxml"))
    assert b"QUJD</edXML:ContentTransferEncoded>]]>" in skeleton.data
    root = etree.fromstring(skeleton.data)
    subject = root.find(f".//{q('Subject')}")
    assert subject is not None
    subject.text = skeleton.placeholder(0)
    with pytest.raises(edxml.EdxmlReadError):
        large.check_placeholders(skeleton, root, etree.tostring(root))


def test_endless_markup_is_refused_quickly(tmp_path: Path, signed: bytes) -> None:
    at = signed.index(b"<edXML:Subject>")
    data = signed[:at] + b'<edXML:X a="' + b"x" * (3 * 1024 * 1024) + b'"/>' + signed[at:]
    with pytest.raises(edxml.EdxmlReadError) as info:
        large.skeletonize(_write(tmp_path, data))
    assert [f.code for f in info.value.findings] == ["xml-syntax"]


def test_read_file_lazily_reads_as_read_file(tmp_path: Path, signed: bytes) -> None:
    path = _write(tmp_path, b"12" + signed)  # stray bytes: a warning in both
    whole = edxml.read_file(path)
    lazy = large.read_file_lazily(path)
    assert [w.code for w in lazy.warnings] == [w.code for w in whole.warnings]
    a, b = whole.message, lazy.message
    assert isinstance(a, edxml.Document)
    assert isinstance(b, edxml.Document)
    assert a.model_dump(exclude={"attachments"}) == b.model_dump(exclude={"attachments"})
    assert [(x.name, x.size, x.sha256) for x in a.attachments] == [
        (x.name, x.size, x.sha256) for x in b.attachments
    ]
    assert [x.file.data for x in b.attachments] == [x.data for x in a.attachments]


def test_invalid_base64_in_an_attachment_is_named(tmp_path: Path, signed: bytes) -> None:
    at = signed.index(b"<edXML:ContentTransferEncoded>") + 30 + 150_000
    data = signed[:at] + b"*" + signed[at + 1 :]
    with pytest.raises(edxml.EdxmlReadError) as info:
        signing.verify_file(_write(tmp_path, data), pki().policy())
    assert [f.code for f in info.value.findings] == ["bad-base64"]
    assert f"offset {at}" in info.value.findings[0].en
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.edxml"]


def test_a_region_that_is_not_base64_is_reported_by_the_reader(tmp_path: Path) -> None:
    path = _write(tmp_path, b"<a>QUJD\r\nQQ==QUJD</a>")
    lazy = large.decode_region(path, large.Region(3, 17))
    assert lazy.error is not None
    assert b"".join(large.region_text(path, large.Region(3, 13))) == b"QUJD\nQQ=="
    good = large.decode_region(path, large.Region(3, 13))
    assert (good.error, good.size, good.read_bytes()) == (None, 4, b"ABCA")


SAMPLES = sorted(Path("/work/shared/samples").rglob("*.edxml"))


@pytest.mark.skipif(not SAMPLES, reason="the shared samples are not here")
def test_every_sample_reads_lazily_as_it_reads_whole() -> None:
    for path in SAMPLES:
        outcomes: list[object] = []
        for reader in (edxml.read_file, large.read_file_lazily):
            try:
                result = reader(path)
            except edxml.EdxmlReadError as exc:
                errors = {f.code for f in exc.findings if f.severity.value == "error"}
                outcomes.append(("error", sorted(errors)))
                continue
            message = result.message
            files = [(a.name, a.size, a.sha256) for a in getattr(message, "attachments", [])]
            outcomes.append(
                (
                    message.model_dump(exclude={"attachments"}),
                    files,
                    [w.code for w in result.warnings],
                )
            )
        assert outcomes[0] == outcomes[1], path
