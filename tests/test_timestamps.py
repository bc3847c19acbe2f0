"""RFC 3161 timestamps (issue 13, item 3): the signing time proven by a TSA.

A local TSA (``sandbox.tsa``, a real HTTP server on 127.0.0.1) stamps the PAdES signature
of a rendered plan and the XML signature of its envelope. pyhanko's validator accepts the
PDF with a timestamp from that TSA; our verifier and xmlsec1 accept the envelope, and the
VerifiedMessage reports the proven time apart from the sender's claimed one. Bad inputs:
a timestamp from an untrusted TSA (a second TSA under another CA), a token over other
bytes, a broken token, an unexpected Object, a TSA that is down (required or not), a TSA
that answers garbage or refuses.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import io
import json
import logging
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from asn1crypto import x509 as asn1_x509  # type: ignore[import-untyped]
from compose_fixtures import plan
from conftest import EXAMPLES
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext
from signing_fixtures import NOW, document, pki
from signing_fixtures import status as status_message

from edoc_exchange import edxml, signing
from edoc_exchange import office as steps
from edoc_exchange.compose import render_pdf
from edoc_exchange.compose.pdfcheck import PdfVerdict, check_pdf
from edoc_exchange.config import ConfigError, load_settings
from edoc_exchange.office import build_office
from edoc_exchange.sandbox import free_port, new_test_identity
from edoc_exchange.sandbox.pki import TestTsa, new_test_tsa
from edoc_exchange.sandbox.tsa import LocalTsa
from edoc_exchange.signing._tsa import TimeStampResp
from edoc_exchange.store import directory as directory_store
from edoc_exchange.store import outbox as outbox_store
from edoc_exchange.store.tables import outbox, outgoing_register

COMMUNE = ("000.12.05.H38", "UBND xã Nậm Khánh")
DISTRICT = ("000.00.05.H38", "UBND huyện Bắc Hà")
XADES = "http://uri.etsi.org/01903/v1.3.2#"
DS = "http://www.w3.org/2000/09/xmldsig#"


@pytest.fixture(scope="module")
def tsa() -> Iterator[LocalTsa]:
    """The local TSA the office trusts."""
    with LocalTsa(new_test_tsa(name="edoc test TSA (trusted)")) as server:
        yield server


@pytest.fixture(scope="module")
def rogue() -> Iterator[LocalTsa]:
    """A second TSA, under a CA the office does not trust."""
    with LocalTsa(new_test_tsa(name="edoc test TSA (untrusted)")) as server:
        yield server


def client(server: LocalTsa, *, roots: TestTsa | None = None, **kwargs: Any) -> Any:
    """A TSA client for ``server`` that trusts ``roots``' CA (the server's own by default)."""
    return signing.open_timestamper(
        server.url, roots=[(roots or server.tsa).ca_cert], **kwargs
    )


def stamped_signer(server: LocalTsa) -> signing.TimestampedSigner:
    return signing.TimestampedSigner(pki().signer(), client(server))


def policy(*tsas: LocalTsa) -> signing.TrustPolicy:
    return pki().policy(tsa_roots=tuple(t.tsa.ca_cert for t in tsas))


def _asn1(cert: x509.Certificate) -> Any:
    return asn1_x509.Certificate.load(cert.public_bytes(Encoding.DER))


# --- PAdES B-T ------------------------------------------------------------------------------


def test_pdf_signed_with_the_local_tsa_validates_with_its_timestamp(tsa: LocalTsa) -> None:
    identity = new_test_identity(organ_id=COMMUNE[0], name=COMMUNE[1])
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    signer = signing.TimestampedSigner(identity.signer(), client(tsa))
    pdf = render_pdf(plan(), signer=signer)
    after = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)

    reader = PdfFileReader(io.BytesIO(pdf))
    [embedded] = reader.embedded_signatures
    status = validate_pdf_signature(
        embedded,
        ValidationContext(trust_roots=[_asn1(identity.ca_cert)]),
        ts_validation_context=ValidationContext(trust_roots=[_asn1(tsa.tsa.ca_cert)]),
    )
    details = status.pretty_print_details()  # type: ignore[no-untyped-call]
    assert status.bottom_line, details
    stamp = status.timestamp_validity
    assert stamp is not None, details
    assert stamp.intact, details
    assert stamp.valid, details
    assert stamp.trusted, details
    assert before <= stamp.timestamp <= after
    assert stamp.signing_cert.dump() == _asn1(tsa.tsa.cert).dump()  # the local TSA's
    # Long-term validation material: a DSS with the signer's and the TSA's certificates.
    dss = reader.root["/DSS"]
    kept = {bytes(c.get_object().data) for c in dss["/Certs"]}
    assert identity.cert.public_bytes(Encoding.DER) in kept
    assert tsa.tsa.cert.public_bytes(Encoding.DER) in kept

    checked = check_pdf(pdf, [identity.ca_cert], tsa_roots=[tsa.tsa.ca_cert])
    assert checked.verdict is PdfVerdict.VALID, checked
    [sig] = checked.signatures
    assert sig.timestamp is not None
    assert before <= sig.timestamp <= after
    assert sig.timestamp_trusted is True
    assert sig.timestamp_tsa == "edoc test TSA (trusted)"
    assert checked.details()["signatures"][0]["timestamp_trusted"] is True


def test_pdf_timestamp_from_an_untrusted_tsa_is_untrusted(
    tsa: LocalTsa, rogue: LocalTsa
) -> None:
    identity = new_test_identity(organ_id=COMMUNE[0], name=COMMUNE[1])
    pdf = render_pdf(plan(), signer=signing.TimestampedSigner(identity.signer(), client(rogue)))
    checked = check_pdf(pdf, [identity.ca_cert], tsa_roots=[tsa.tsa.ca_cert])
    assert checked.verdict is PdfVerdict.UNTRUSTED
    assert checked.reason is not None
    assert "timestamp is not trusted" in checked.reason
    [sig] = checked.signatures
    assert sig.intact
    assert sig.trusted
    assert sig.timestamp_trusted is False
    assert sig.timestamp_tsa == "edoc test TSA (untrusted)"


# --- the XML signature (XAdES-T style) --------------------------------------------------


def test_xml_timestamp_verifies_and_proves_the_time(tsa: LocalTsa) -> None:
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    data = signing.sign(document(), stamped_signer(tsa))
    after = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    root = etree.fromstring(data)
    [stamp] = root.iter(f"{{{XADES}}}SignatureTimeStamp")
    [props] = root.iter(f"{{{XADES}}}QualifyingProperties")
    assert stamp in props.iter()
    signature = next(root.iter(f"{{{DS}}}Signature"))
    assert props.get("Target") == f"#{signature.get('Id')}"

    verified = signing.verify(data, policy(tsa))
    verdict = verified.timestamp_verdict
    assert verdict is not None
    assert verdict.status is signing.TimestampStatus.VALID
    assert verified.timestamp is not None
    assert before <= verified.timestamp <= after
    assert "edoc test TSA (trusted)" in (verdict.tsa or "")
    # The sender's claimed time stays what it is, apart from the proven one.
    assert verified.signing_time == NOW
    assert verified.timestamp != verified.signing_time


def test_the_timestamp_survives_storage_and_file_verification(
    tsa: LocalTsa, tmp_path: Path
) -> None:
    """What the inbox keeps (the signed message, Signature back in) verifies again with its
    timestamp, in memory and on its file (the large-message path)."""
    verified = signing.verify(signing.sign(document(), stamped_signer(tsa)), policy(tsa))
    kept = signing.signed_message(verified)
    assert signing.verify(kept, policy(tsa)).timestamp == verified.timestamp
    path = tmp_path / "kept.edxml"
    path.write_bytes(kept)
    on_file = signing.verify_file(path, policy(tsa), workdir=tmp_path)
    assert on_file.timestamp == verified.timestamp
    on_file.signed_file.unlink()


def test_a_message_without_timestamp_has_no_verdict() -> None:
    verified = signing.verify(signing.sign(document(), pki().signer()), policy())
    assert verified.timestamp_verdict is None
    assert verified.timestamp is None


def test_xmlsec1_verifies_the_timestamped_envelope(tsa: LocalTsa, tmp_path: Path) -> None:
    binary = shutil.which("xmlsec1")
    if binary is None:
        pytest.skip("xmlsec1 is not installed (Debian package xmlsec1; scripts/install.sh --dev)")
    ca = tmp_path / "ca.pem"
    ca.write_bytes(
        b"".join(
            c.public_bytes(Encoding.PEM) for c in (pki().root.cert, pki().intermediate.cert)
        )
    )
    target = tmp_path / "message.edxml"
    target.write_bytes(signing.sign(document(), stamped_signer(tsa)))
    assert b"EncapsulatedTimeStamp" in target.read_bytes()
    done = subprocess.run(
        [binary, "--verify", "--trusted-pem", str(ca), "--enabled-reference-uris", "empty",
         str(target)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr


def test_edoc_verify_shows_the_proven_time(tsa: LocalTsa, tmp_path: Path) -> None:
    """In a fresh process (nothing of pyhanko imported before), ``edoc verify`` reads the
    token and says whether its time is proven."""
    message = tmp_path / "message.edxml"
    message.write_bytes(signing.sign(document(), stamped_signer(tsa)))
    roots, tsa_roots = tmp_path / "roots.pem", tmp_path / "tsa.pem"
    roots.write_bytes(pki().root.cert.public_bytes(Encoding.PEM))
    tsa.tsa.write_roots(tsa_roots)
    base = [sys.executable, "-m", "edoc_exchange", "verify", str(message), "--trust", str(roots)]
    for extra, status in (["--tsa-roots", str(tsa_roots)], "valid"), ([], "untrusted"):
        done = subprocess.run(
            [*base, *extra, "--json"], capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr
        report = json.loads(done.stdout)
        assert report["outcome"] == "valid"
        assert report["timestamp"]["status"] == status
        assert "edoc test TSA (trusted)" in report["timestamp"]["tsa"]


def test_xml_timestamp_from_an_untrusted_tsa_is_untrusted(
    tsa: LocalTsa, rogue: LocalTsa
) -> None:
    # The rogue TSA's client trusts its own CA: the office that receives trusts only ``tsa``.
    data = signing.sign(document(), signing.TimestampedSigner(pki().signer(), client(rogue)))
    verified = signing.verify(data, policy(tsa))  # the XML signature decides: verified
    verdict = verified.timestamp_verdict
    assert verdict is not None
    assert verdict.status is signing.TimestampStatus.UNTRUSTED
    assert verdict.reason is not None
    assert "does not chain to a trusted root" in verdict.reason
    assert verified.timestamp is None  # the time is not proven
    assert verdict.as_json()["status"] == "untrusted"
    # An office with no TSA roots at all trusts no timestamp either.
    bare = signing.verify(data, policy())
    assert bare.timestamp_verdict is not None
    assert bare.timestamp_verdict.status is signing.TimestampStatus.UNTRUSTED


def test_our_client_refuses_a_token_from_a_tsa_it_does_not_trust(
    tsa: LocalTsa, rogue: LocalTsa
) -> None:
    doubtful = client(rogue, roots=tsa.tsa)
    with pytest.raises(signing.TimestampError) as refused:
        doubtful.token(b"\x01" * 32)
    assert refused.value.step == "timestamp"
    assert "not trusted" in refused.value.en
    assert "không được tin cậy" in refused.value.vi


def _swap_token(data: bytes, token: bytes) -> bytes:
    root = etree.fromstring(data)
    [encapsulated] = root.iter(f"{{{XADES}}}EncapsulatedTimeStamp")
    encapsulated.text = base64.b64encode(token).decode()
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _token(data: bytes) -> bytes:
    root = etree.fromstring(data)
    [encapsulated] = root.iter(f"{{{XADES}}}EncapsulatedTimeStamp")
    return base64.b64decode(encapsulated.text or "")


def test_a_token_whose_imprint_does_not_match_is_invalid(tsa: LocalTsa) -> None:
    signer = stamped_signer(tsa)
    first = signing.sign(document(), signer)
    second = signing.sign(document(attachments=1), signer)
    # The token of another signature, moved onto this one: sound, but over other bytes.
    moved = _swap_token(first, _token(second))
    with pytest.raises(signing.InvalidSignature) as refused:
        signing.verify(moved, policy(tsa))
    assert refused.value.rule is signing.Rule.TIMESTAMP_IMPRINT
    assert "does not match the signature" in refused.value.en
    assert "không khớp với chữ ký" in refused.value.vi


def test_a_broken_token_is_invalid(tsa: LocalTsa) -> None:
    data = signing.sign(document(), stamped_signer(tsa))
    token = bytearray(_token(data))
    token[-20] ^= 0x01  # inside the TSA's signature value
    with pytest.raises(signing.InvalidSignature) as refused:
        signing.verify(_swap_token(data, bytes(token)), policy(tsa))
    assert refused.value.rule is signing.Rule.TIMESTAMP_INVALID
    with pytest.raises(signing.InvalidSignature) as garbage:
        signing.verify(_swap_token(data, b"not a token"), policy(tsa))
    assert garbage.value.rule is signing.Rule.TIMESTAMP_INVALID


def test_nothing_else_may_ride_in_the_signature_object(tsa: LocalTsa) -> None:
    data = signing.sign(document(), stamped_signer(tsa))
    root = etree.fromstring(data)
    [sig_props] = root.iter(f"{{{XADES}}}UnsignedSignatureProperties")
    etree.SubElement(sig_props, f"{{{XADES}}}CounterSignature").text = "smuggled"
    with pytest.raises(signing.InvalidSignature) as refused:
        signing.verify(etree.tostring(root), policy(tsa))
    assert refused.value.rule is signing.Rule.SIGNATURE_STRUCTURE
    # An Object that is not the timestamp's is refused too.
    plain = etree.fromstring(signing.sign(document(), pki().signer()))
    signature = next(plain.iter(f"{{{DS}}}Signature"))
    etree.SubElement(signature, f"{{{DS}}}Object").text = "anything"
    with pytest.raises(signing.InvalidSignature) as other:
        signing.verify(etree.tostring(plain), policy(tsa))
    assert other.value.rule is signing.Rule.SIGNATURE_STRUCTURE
    # And the Object must target this Signature.
    wrong = etree.fromstring(data)
    [props] = wrong.iter(f"{{{XADES}}}QualifyingProperties")
    props.set("Target", "#elsewhere")
    with pytest.raises(signing.InvalidSignature):
        signing.verify(etree.tostring(copy.deepcopy(wrong)), policy(tsa))


# --- the TSA failing --------------------------------------------------------------------


def _office_config(
    folder: Path, tsa_url: str, tsa_roots: Path, *, required: bool
) -> Path:
    """An office that composes and queues (no axis), with the ``[tsa]`` section."""
    identity = new_test_identity(organ_id=COMMUNE[0], name=COMMUNE[1])
    identity.write(folder / "keys")
    config = folder / "edoc.toml"
    config.write_text(
        f'[office]\norgan_id = "{COMMUNE[0]}"\nname = "{COMMUNE[1]}"\n'
        f'[store]\nurl = "sqlite:///{folder / "edoc.sqlite3"}"\n'
        '[signing]\nkey = "keys/signer.key.pem"\ncert = "keys/signer.pem"\n'
        f'[tsa]\nurl = "{tsa_url}"\nroots = "{tsa_roots}"\n'
        f"required = {'true' if required else 'false'}\ntimeout = 20\n",
        encoding="utf-8",
    )
    return config


def _commune(config: Path) -> steps.Office:
    office = build_office(load_settings(config), receiving=False)
    with office.db.transaction() as conn:
        directory_store.replace_all(
            conn,
            [directory_store.Organisation(o, n, None, "{}") for o, n in (COMMUNE, DISTRICT)],
            dt.datetime.now(dt.UTC),
        )
    return office


def _stored(office: steps.Office) -> tuple[int, int]:
    with office.db.engine.connect() as conn:
        queued = conn.execute(sa.select(sa.func.count()).select_from(outbox)).scalar_one()
        numbers = conn.execute(
            sa.select(sa.func.count()).select_from(outgoing_register)
        ).scalar_one()
    return queued, numbers


def test_tsa_down_and_required_refuses_naming_the_step(tmp_path: Path, tsa: LocalTsa) -> None:
    roots = tsa.tsa.write_roots(tmp_path / "tsa-roots.pem")
    down = f"http://127.0.0.1:{free_port()}/tsa"  # nothing listens: connection refused
    office = _commune(_office_config(tmp_path, down, roots, required=True))
    try:
        with pytest.raises(signing.TimestampError) as refused:
            steps.compose_and_queue(office, EXAMPLES / "ke-hoach-papi-2020.yaml")
        assert refused.value.step == "timestamp"
        assert "cannot get a timestamp from" in refused.value.en
        assert down in refused.value.en
        assert "Không lấy được dấu thời gian" in refused.value.vi
        assert _stored(office) == (0, 0)  # nothing queued, the number given back
    finally:
        office.db.dispose()


def test_a_status_reply_waiting_for_the_tsa_is_retried_not_lost(
    tmp_path: Path, tsa: LocalTsa
) -> None:
    """The daemon signs status replies when it sends them: with the TSA down (required),
    the reply goes back in the queue with the reason, for a later pass."""
    roots = tsa.tsa.write_roots(tmp_path / "tsa-roots.pem")
    down = f"http://127.0.0.1:{free_port()}/tsa"
    office = _commune(_office_config(tmp_path, down, roots, required=True))
    try:
        with office.db.transaction() as conn:
            row_id, _ = outbox_store.enqueue(
                conn,
                office_id=COMMUNE[0],
                kind="status",
                document_id="000.00.05.H38,2026/12/01,7/KH-UBND",
                status_code=str(edxml.StatusCode.ACCEPTED),
                message=edxml.write(status_message(sender=COMMUNE[0])),
                recipients=[DISTRICT[0]],
                signed=False,
                now=office.clock(),
            )
        report = steps.send_due(office)
        assert report.failed == 1
        with office.db.engine.connect() as conn:
            row = outbox_store.get(conn, row_id)
        assert row.state.value == "queued"
        assert row.last_error is not None
        assert "timestamp" in row.last_error
    finally:
        office.db.dispose()


def test_tsa_down_and_not_required_signs_without_and_says_so(
    tmp_path: Path, tsa: LocalTsa, caplog: pytest.LogCaptureFixture
) -> None:
    roots = tsa.tsa.write_roots(tmp_path / "tsa-roots.pem")
    down = f"http://127.0.0.1:{free_port()}/tsa"
    office = _commune(_office_config(tmp_path, down, roots, required=False))
    try:
        with caplog.at_level(logging.WARNING, logger="edoc.signing"):
            queued = steps.compose_and_queue(office, EXAMPLES / "ke-hoach-papi-2020.yaml")
        said = [r.getMessage() for r in caplog.records if r.name == "edoc.signing"]
        assert len(said) == 2  # the PDF's signature and the envelope's
        assert all("signed WITHOUT a timestamp" in s and down in s for s in said)
        assert b"EncapsulatedTimeStamp" not in queued.composed.data
        [sig] = check_pdf(queued.composed.pdf, [pki().root.cert]).signatures
        assert sig.timestamp is None
        assert _stored(office) == (1, 1)
    finally:
        office.db.dispose()


def test_the_office_stamps_both_signatures_when_the_tsa_answers(
    tmp_path: Path, tsa: LocalTsa
) -> None:
    roots = tsa.tsa.write_roots(tmp_path / "tsa-roots.pem")
    office = _commune(_office_config(tmp_path, tsa.url, roots, required=True))
    try:
        queued = steps.compose_and_queue(office, EXAMPLES / "ke-hoach-papi-2020.yaml")
        assert b"EncapsulatedTimeStamp" in queued.composed.data
        assert office.signer is not None
        ca = signing.load_roots(tmp_path / "keys" / "ca.pem")
        [sig] = check_pdf(queued.composed.pdf, ca, tsa_roots=[tsa.tsa.ca_cert]).signatures
        assert sig.timestamp_trusted is True
        verified = signing.verify(
            queued.composed.data, signing.TrustPolicy(roots=ca, tsa_roots=(tsa.tsa.ca_cert,))
        )
        assert verified.timestamp is not None
    finally:
        office.db.dispose()


def test_tsa_url_without_roots_is_a_config_error(tmp_path: Path, tsa: LocalTsa) -> None:
    config = _office_config(tmp_path, tsa.url, tmp_path / "x.pem", required=True)
    text = config.read_text(encoding="utf-8")
    config.write_text(
        "\n".join(line for line in text.splitlines() if not line.startswith("roots")),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as bad:
        build_office(load_settings(config), receiving=False)
    assert bad.value.step == "config.tsa.roots"


@pytest.mark.parametrize(
    ("mode", "said"),
    [("garbage", "unreadable answer"), ("reject", "rejected by the test TSA")],
)
def test_a_tsa_answering_garbage_or_refusing_is_a_clear_error(mode: str, said: str) -> None:
    with LocalTsa(new_test_tsa(name="faulty"), mode=mode) as faulty:  # type: ignore[arg-type]
        with pytest.raises(signing.TimestampError) as failed:
            client(faulty).token(b"\x02" * 32)
        assert failed.value.step == "timestamp"
        assert said in failed.value.en
        # Signing the envelope with it (required) fails the same way, naming the step.
        with pytest.raises(signing.TimestampError):
            signing.sign(
                document(), signing.TimestampedSigner(pki().signer(), client(faulty))
            )


def test_the_local_tsa_rejects_bad_queries_with_a_status_not_a_500(tsa: LocalTsa) -> None:
    def status(res: httpx.Response) -> tuple[int, str, str]:
        parsed = TimeStampResp.load(res.content)
        return (
            res.status_code,
            res.headers["content-type"],
            parsed["status"]["status"].native,
        )

    query = {"Content-Type": "application/timestamp-query"}
    junk = httpx.post(tsa.url, content=b"\x30\x03junk", headers=query, timeout=30)
    assert status(junk) == (200, "application/timestamp-reply", "rejection")
    assert "bad_data_format" in TimeStampResp.load(junk.content)["status"]["fail_info"].native
    wrong_type = httpx.post(tsa.url, content=b"x", headers={"Content-Type": "text/plain"},
                            timeout=30)
    assert status(wrong_type)[2] == "rejection"
    assert httpx.get(tsa.url, timeout=30).status_code == 405


def test_a_stored_signature_shows_its_proven_time_again(tsa: LocalTsa, rogue: LocalTsa) -> None:
    """What a document's page shows: the ds:Signature the inbox keeps, its timestamp judged
    again under the office's TSA roots of today."""
    verified = signing.verify(signing.sign(document(), stamped_signer(tsa)), policy(tsa))
    kept = verified.signature_xml
    again = signing.stored_timestamp(kept, [tsa.tsa.ca_cert])
    assert again is not None
    assert again.proven == verified.timestamp
    assert again.tsa is not None
    assert "trusted" in again.tsa
    # another office that does not trust this TSA: the time is stated, not proven
    doubted = signing.stored_timestamp(kept, [rogue.tsa.ca_cert])
    assert doubted is not None
    assert doubted.proven is None
    assert doubted.time == again.time
    plain = signing.verify(signing.sign(document(), pki().signer()), policy())
    assert signing.stored_timestamp(plain.signature_xml, [tsa.tsa.ca_cert]) is None
    assert signing.stored_timestamp(b"<not-a-signature/>", [tsa.tsa.ca_cert]) is None
    assert signing.stored_timestamp(b"\x00garbage", [tsa.tsa.ca_cert]) is None
