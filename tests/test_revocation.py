"""Revocation and expiry (issue 13 item 3): a local CA with its CRL and OCSP responder on
real HTTP (127.0.0.1), the office's checker with its cache on disk, the trust policy's
"require" / "prefer", the receiving path, pdfcheck, and expiry warnings weeks ahead.

Real parts only: certificates, CRLs and OCSP answers made with cryptography, HTTP through
httpx to a stdlib server, SQLite files, pyhanko for the PDF.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from axis_fixtures import COMMUNE_A, DISTRICT, make_document
from cryptography import x509
from daemon_fixtures import Clock, Exchange, sqlite_db
from incoming_fixtures import real_pdf, send_document
from typer.testing import CliRunner
from web_fixtures import add_staff, pages, signed_in_client  # noqa: F401  (fixture)

from edoc_exchange import audit, edxml, signing
from edoc_exchange import office as steps
from edoc_exchange.cli import app
from edoc_exchange.compose import sign_pdf
from edoc_exchange.compose.pdfcheck import PdfVerdict, check_pdf
from edoc_exchange.office import Office, OfficeIdentity, RevocationChecker
from edoc_exchange.sandbox import new_test_identity
from edoc_exchange.sandbox.ca import LocalCA
from edoc_exchange.store import InboxVerdict
from edoc_exchange.store import inbox as inbox_store

State = signing.RevocationState
Mode = signing.RevocationMode


@pytest.fixture
def ca() -> Iterator[LocalCA]:
    with LocalCA(crl_validity=dt.timedelta(days=1)) as local:
        yield local


def _policy(ca: LocalCA, checker: RevocationChecker, mode: Mode) -> signing.TrustPolicy:
    return signing.TrustPolicy(roots=(ca.cert,), revocation=mode, revocation_source=checker)


def _signed(ca: LocalCA) -> tuple[bytes, signing.KeyPairSigner]:
    identity = ca.issue(organ_id=COMMUNE_A, name="UBND xã Nậm Khánh")
    signer = identity.signer()
    return signing.sign(make_document(COMMUNE_A, [DISTRICT], "7"), signer), signer


def test_the_certificates_name_the_ca_endpoints(ca: LocalCA) -> None:
    cert = ca.issue(organ_id=COMMUNE_A, name="A").cert
    assert signing.crl_urls(cert) == (ca.crl_url,)
    assert signing.ocsp_urls(cert) == (ca.ocsp_url,)


def test_a_revoked_signer_is_refused_at_verification_with_the_reason(
    ca: LocalCA, tmp_path: Path
) -> None:
    data, signer = _signed(ca)
    checker = RevocationChecker(tmp_path / "rev")
    good = signing.verify(data, _policy(ca, checker, Mode.REQUIRE))
    assert good.revocation is not None
    assert good.revocation.state is State.GOOD
    assert good.revocation.source == f"ocsp {ca.ocsp_url}"

    ca.revoke(signer.certificates[0], reason=x509.ReasonFlags.key_compromise)
    for mode in (Mode.REQUIRE, Mode.PREFER):  # a revoked signer is refused under both
        fresh = RevocationChecker(tmp_path / f"rev-{mode}")
        with pytest.raises(signing.UntrustedSigner) as caught:
            signing.verify(data, _policy(ca, fresh, mode))
        error = caught.value
        assert error.rule is signing.Rule.CERT_REVOKED
        assert error.step == "cert-revoked"
        assert "key_compromise" in error.en
        assert f"ocsp {ca.ocsp_url}" in error.en
        assert "thu hồi" in error.vi
        assert f"{dt.datetime.now(dt.UTC):%Y-%m-%d}" in error.en  # the revocation date


def test_responder_down_and_a_fresh_cached_crl_names_the_cached_crl(
    ca: LocalCA, tmp_path: Path
) -> None:
    data, signer = _signed(ca)
    folder = tmp_path / "rev"
    ca.revoke(signer.certificates[0])
    # The daemon keeps the CRL of each URL it has seen fresh (refresh), on disk.
    first = RevocationChecker(folder)
    assert first.status(signer.certificates[0], ca.cert).state is State.REVOKED
    assert first.refresh([ca.cert]).refreshed == [ca.crl_url]
    ca.stop()  # the mountain link is down
    asked = ca.requests
    later = RevocationChecker(folder)  # a new process: only the disk cache
    status = later.status(signer.certificates[0], ca.cert)
    assert status.state is State.REVOKED
    assert not status.stale
    assert status.source.startswith("cached crl of ")
    assert ca.crl_url in status.source
    with pytest.raises(signing.UntrustedSigner, match="cached crl of"):
        signing.verify(data, _policy(ca, RevocationChecker(folder), Mode.REQUIRE))
    assert ca.requests == asked  # a fresh cached CRL needs no network


def test_nothing_cached_and_the_network_down_is_not_checked_and_the_policy_decides(
    ca: LocalCA, tmp_path: Path
) -> None:
    data, _ = _signed(ca)
    ca.stop()
    started = time.monotonic()
    with pytest.raises(signing.UntrustedSigner) as caught:
        signing.verify(data, _policy(ca, RevocationChecker(tmp_path / "a"), Mode.REQUIRE))
    assert caught.value.rule is signing.Rule.REVOCATION_UNKNOWN
    assert "not checked: no CRL or OCSP cached" in caught.value.en
    assert "require" in caught.value.en
    # prefer: accepted, and the verdict says it was not checked.
    verified = signing.verify(data, _policy(ca, RevocationChecker(tmp_path / "b"), Mode.PREFER))
    assert verified.revocation is not None
    assert verified.revocation.state is State.NOT_CHECKED
    assert str(verified.revocation).startswith("not checked: no CRL or OCSP cached")
    assert time.monotonic() - started < 30  # bounded: refused connections, no hang


def test_a_failed_url_is_not_asked_again_for_a_while(ca: LocalCA, tmp_path: Path) -> None:
    _, signer = _signed(ca)
    cert = signer.certificates[0]
    ca.stop()
    clock = Clock()
    checker = RevocationChecker(tmp_path, clock=clock)
    assert checker.status(cert, ca.cert).state is State.NOT_CHECKED
    ca.start()  # back, but the checker waits retry_after before asking again
    other = ca.issue(organ_id=COMMUNE_A, name="B").cert
    assert "unreachable since" in checker.status(other, ca.cert).source
    clock.advance(minutes=6)
    assert checker.status(other, ca.cert).state is State.GOOD


def test_an_ocsp_answer_signed_by_the_wrong_key_is_not_believed(
    ca: LocalCA, tmp_path: Path
) -> None:
    ca.ocsp_key = new_test_identity(organ_id=DISTRICT, name="forger").key
    only_ocsp = ca.issue(organ_id=COMMUNE_A, name="A", crl=False).cert
    ca.revoke(only_ocsp)
    status = RevocationChecker(tmp_path / "a").status(only_ocsp, ca.cert)
    assert status.state is State.NOT_CHECKED
    assert "not signed by the issuer" in status.source
    # With a CRL too, the CRL answers instead of the forged OCSP "good"/"revoked".
    both = ca.issue(organ_id=COMMUNE_A, name="B").cert
    status = RevocationChecker(tmp_path / "b").status(both, ca.cert)
    assert status.state is State.GOOD
    assert status.source == f"crl {ca.crl_url}"


def test_a_crl_past_next_update_is_used_only_as_stale_and_said_so(
    ca: LocalCA, tmp_path: Path
) -> None:
    cert = ca.issue(organ_id=COMMUNE_A, name="A", ocsp_url=False).cert
    folder = tmp_path / "rev"
    clock = Clock()
    status = RevocationChecker(folder, clock=clock).status(cert, ca.cert)
    assert status.source == f"crl {ca.crl_url}"
    assert status.state is State.GOOD
    ca.stop()
    clock.advance(days=2)  # the CRL's nextUpdate (a day) has passed
    stale = RevocationChecker(folder, clock=clock).status(cert, ca.cert)
    assert stale.state is State.GOOD
    assert stale.stale
    assert "cached crl of" in stale.source
    assert "responder unreachable" in stale.source
    assert "next update was" in stale.source


def test_a_forged_crl_is_not_believed(ca: LocalCA, tmp_path: Path) -> None:
    cert = ca.issue(organ_id=COMMUNE_A, name="A").cert
    other = LocalCA()
    with pytest.raises(signing.RevocationDataError):
        signing.judge_crl(other.crl(), cert, ca.cert)


def test_the_receiving_path_refuses_a_revoked_sender_and_answers_02(
    exchange: Exchange, ca: LocalCA, tmp_path: Path
) -> None:
    ex = exchange
    identity = ca.issue(organ_id=COMMUNE_A, name="UBND xã Nậm Khánh")
    ex.commune.signer = identity.signer()
    ex.district.policy = signing.TrustPolicy(
        roots=(*ex.district.trust().roots, ca.cert),
        revocation=Mode.PREFER,
        revocation_source=RevocationChecker(tmp_path / "district-rev"),
    )
    accepted = send_document(ex, "31")  # good: accepted, the verdict in the audit log
    ca.revoke(identity.cert)
    ex.district.policy = signing.TrustPolicy(
        roots=(*ex.district.trust().roots,),
        revocation=Mode.PREFER,
        revocation_source=RevocationChecker(tmp_path / "district-rev-2"),
    )
    doc = ex.plan("32")
    steps.queue_message(ex.commune, edxml.write(doc), composed=True)
    assert steps.send_due(ex.commune).done >= 1
    got = steps.receive_documents(ex.district)
    assert got.rejected == 1
    with ex.district.db.read() as conn:
        row = inbox_store.find_incoming(conn, DISTRICT, document_id=doc.document_id)
        first = inbox_store.find_incoming(conn, DISTRICT, document_id=accepted.document_id)
    assert row is not None
    assert row.verdict is InboxVerdict.REJECTED
    assert row.clerk_state == edxml.StatusCode.REJECTED.value
    assert "cert-revoked" in str(row.reason) or "revoked" in str(row.reason)
    assert "key_compromise" in str(row.reason)
    assert first is not None
    assert first.verdict is InboxVerdict.VERIFIED


def test_pdfcheck_reports_a_revoked_pdf_signer(ca: LocalCA, tmp_path: Path) -> None:
    chairman = ca.issue(organ_id=COMMUNE_A, name="Nguyễn Văn An")
    signed = sign_pdf(real_pdf(), chairman.signer())
    checker = RevocationChecker(tmp_path / "rev")
    good = check_pdf(signed, [ca.cert], revocation=checker)
    assert good.verdict is PdfVerdict.VALID
    assert good.signatures[0].revocation == f"good, ocsp {ca.ocsp_url}"
    ca.revoke(chairman.cert)
    revoked = check_pdf(signed, [ca.cert], revocation=RevocationChecker(tmp_path / "other"))
    assert revoked.verdict is PdfVerdict.REVOKED
    assert len(revoked.verdict.value) <= 16  # pdf_verdicts.verdict is String(16)
    [sig] = revoked.signatures
    assert sig.verdict is PdfVerdict.REVOKED
    assert sig.intact
    assert sig.trusted
    assert sig.revocation.startswith("revoked ")
    assert "key_compromise" in sig.revocation
    assert revoked.reason is not None
    assert "revoked" in revoked.reason
    # Without a checker (policy "off"): not checked, as before.
    assert check_pdf(signed, [ca.cert]).signatures[0].revocation == "not checked"


def _office(tmp_path: Path, days: int) -> Office:
    identity = new_test_identity(organ_id=DISTRICT, name="UBND huyện Bắc Hà", days=days)
    return Office(
        identity=OfficeIdentity(organ_id=DISTRICT, organ_name="UBND huyện Bắc Hà"),
        db=sqlite_db(tmp_path / f"office-{days}.sqlite3"),
        client=None,
        signer=identity.signer(),
        policy=signing.TrustPolicy(roots=(identity.ca_cert,)),
        worker="test",
    )


def test_expiry_warning_in_the_metric_and_for_the_pages(tmp_path: Path) -> None:
    soon, later = _office(tmp_path, 10), _office(tmp_path, 100)
    [warning] = steps.expiry_warnings(soon)
    assert warning.role == "signing"
    assert warning.days_left in (9, 10)
    assert "hết hạn" in warning.vi
    assert "expires on" in warning.en
    assert steps.expiry_warnings(later) == []
    steps.update_expiry_metrics(soon)
    text = soon.metrics.render().decode()
    prefix = 'edoc_certificate_expiry_seconds{role="signing"'
    line = next(ln for ln in text.splitlines() if ln.startswith(prefix))
    assert 9 * 86400 < float(line.rsplit(" ", 1)[1]) <= 10 * 86400
    for office in (soon, later):
        office.db.dispose()


def _config(tmp_path: Path, days: int) -> Path:
    folder = tmp_path / f"office-{days}"
    new_test_identity(organ_id=DISTRICT, name="UBND huyện Bắc Hà", days=days).write(folder)
    config = folder / "edoc.toml"
    config.write_text(
        f'[office]\norgan_id = "{DISTRICT}"\nname = "UBND huyện Bắc Hà"\n'
        f'[store]\nurl = "sqlite:///{folder / "edoc.sqlite3"}"\n'
        '[signing]\nkey = "signer.key.pem"\ncert = "signer.pem"\n'
        '[trust]\nroots = "ca.pem"\n',
        encoding="utf-8",
    )
    return config


def test_expiry_warning_in_edoc_status(tmp_path: Path) -> None:
    runner = CliRunner()
    soon = runner.invoke(app, ["status", "--config", str(_config(tmp_path, 10))])
    assert soon.exit_code == 0, soon.output
    assert "⚠" in soon.output
    assert "expires on" in soon.output
    assert "hết hạn" in soon.output
    later = runner.invoke(app, ["status", "--config", str(_config(tmp_path, 100))])
    assert later.exit_code == 0, later.output
    assert "⚠" not in later.output
    assert "expires on" not in later.output
    assert "Chứng thư số" in later.output  # the table of certificates is there
    as_json = runner.invoke(app, ["status", "--json", "--config", str(_config(tmp_path, 11))])
    assert '"certificate_warnings"' in as_json.output
    assert '"role": "signing"' in as_json.output


def test_expiry_banner_on_the_pages_of_the_clerk_and_the_admin(
    tmp_path: Path, pages: Callable[..., str]  # noqa: F811
) -> None:
    office = _office(tmp_path, 10)
    people = add_staff(office)
    base = pages(office)
    for user, banner in ((people.clerk, True), (people.admin, True), (people.officer, False)):
        with signed_in_client(base, user.username) as client:
            page = client.get("/incoming")
            assert page.status_code == 200
            assert ("cert-expiry" in page.text) is banner, user.username
            if banner:
                assert "hết hạn" in page.text
    office.db.dispose()


def test_an_ocsp_answer_about_another_certificate_is_not_believed(ca: LocalCA) -> None:
    asked = ca.issue(organ_id=COMMUNE_A, name="A").cert
    other = ca.issue(organ_id=COMMUNE_A, name="B").cert
    answer = ca.ocsp_answer(signing.ocsp_request(other, ca.cert))
    now = dt.datetime.now(dt.UTC)
    with pytest.raises(signing.RevocationDataError, match="another certificate"):
        signing.judge_ocsp(answer, asked, ca.cert, now=now)
    assert signing.judge_ocsp(answer, other, ca.cert, now=now).state is State.GOOD
    with pytest.raises(signing.RevocationDataError, match="dated ahead"):
        signing.judge_ocsp(answer, other, ca.cert, now=now - dt.timedelta(days=1))


def test_the_settings_wire_the_checker_beside_the_store(tmp_path: Path) -> None:
    from edoc_exchange.config import load_settings
    from edoc_exchange.office import load_policy, revocation_folder

    config = _config(tmp_path, 100)
    config.write_text(
        config.read_text(encoding="utf-8") + 'revocation = "require"\nexpiry_warning_days = 120\n',
        encoding="utf-8",
    )
    settings = load_settings(config)
    folder = revocation_folder(settings)
    assert folder == config.parent / "revocation"
    policy = load_policy(settings.require_trust(), revocation_cache=folder)
    assert policy.revocation is Mode.REQUIRE
    assert isinstance(policy.revocation_source, RevocationChecker)
    assert policy.revocation_source.folder == folder
    assert load_policy(
        settings.require_trust().model_copy(update={"revocation": "off"})
    ).revocation_source is None
    # A warning window of 120 days warns about a certificate of 100.
    result = CliRunner().invoke(app, ["status", "--config", str(config)])
    assert "⚠" in result.output


def test_an_old_ocsp_answer_alone_says_not_checked_since(ca: LocalCA, tmp_path: Path) -> None:
    cert = ca.issue(organ_id=COMMUNE_A, name="A", crl=False).cert
    clock = Clock()
    first = RevocationChecker(tmp_path, clock=clock).status(cert, ca.cert)
    assert first.state is State.GOOD
    ca.stop()
    clock.advance(hours=2)  # the answer's nextUpdate (an hour) has passed
    later = RevocationChecker(tmp_path, clock=clock).status(cert, ca.cert)
    assert later.state is State.NOT_CHECKED
    assert later.source.startswith("not checked since ")
    assert f"{clock.now - dt.timedelta(hours=2):%Y-%m-%d}" in later.source or (
        f"{clock.now - dt.timedelta(hours=3):%Y-%m-%d}" in later.source  # around midnight
    )


def test_a_received_pdf_signed_by_a_revoked_chairman_is_stored_with_that_verdict(
    exchange: Exchange, ca: LocalCA, tmp_path: Path
) -> None:
    """The document (signed by the office's good key) is accepted; the PDF it carries,
    signed by a chairman whose certificate was revoked, gets the verdict "revoked"."""
    from edoc_exchange.cli.office import _pdf_line

    ex = exchange
    ex.commune.signer = ca.issue(organ_id=COMMUNE_A, name="UBND xã Nậm Khánh").signer()
    chairman = ca.issue(organ_id=COMMUNE_A, name="Nguyễn Văn An")
    ca.revoke(chairman.cert, reason=x509.ReasonFlags.key_compromise)
    ex.district.policy = signing.TrustPolicy(
        roots=(*ex.district.trust().roots, ca.cert),
        revocation=Mode.REQUIRE,
        revocation_source=RevocationChecker(tmp_path / "district-rev"),
    )
    pdf = sign_pdf(real_pdf(), chairman.signer())
    attachment = edxml.Attachment(name="ke-hoach.pdf", content_type="application/pdf", data=pdf)
    doc = send_document(ex, "41", attachments=[attachment])
    details = steps.document_details(ex.district.db, DISTRICT, doc.document_id or "")
    assert details.received is not None
    assert details.received.verdict is InboxVerdict.VERIFIED
    [verdict] = details.pdf_verdicts
    assert verdict.verdict == PdfVerdict.REVOKED.value
    assert "key_compromise" in (verdict.reason or "")
    assert "revoked" in str(verdict.signatures[0]["revocation"])
    assert "thu hồi" in _pdf_line(verdict)


def test_on_receipt_require_refuses_an_unchecked_signer_and_prefer_accepts_it(
    exchange: Exchange, ca: LocalCA, tmp_path: Path
) -> None:
    ex = exchange
    ex.commune.signer = ca.issue(organ_id=COMMUNE_A, name="UBND xã Nậm Khánh").signer()
    ca.stop()  # the link to the CA is down, nothing cached
    roots = (*ex.district.trust().roots, ca.cert)
    ex.district.policy = signing.TrustPolicy(
        roots=roots,
        revocation=Mode.REQUIRE,
        revocation_source=RevocationChecker(tmp_path / "a"),
    )
    refused = ex.plan("51")
    steps.queue_message(ex.commune, edxml.write(refused), composed=True)
    assert steps.send_due(ex.commune).done >= 1
    assert steps.receive_documents(ex.district).rejected == 1
    ex.district.policy = signing.TrustPolicy(
        roots=roots,
        revocation=Mode.PREFER,
        revocation_source=RevocationChecker(tmp_path / "b"),
    )
    accepted = send_document(ex, "52")
    with ex.district.db.read() as conn:
        no = inbox_store.find_incoming(conn, DISTRICT, document_id=refused.document_id)
        yes = inbox_store.find_incoming(conn, DISTRICT, document_id=accepted.document_id)
        events = [e.data for e in audit.entries(conn, DISTRICT) if e.event == "verified"]
    assert no is not None
    assert no.verdict is InboxVerdict.REJECTED
    assert "revocation-unknown" in str(no.reason) or "not checked" in str(no.reason)
    assert yes is not None
    assert yes.verdict is InboxVerdict.VERIFIED
    # prefer: accepted, and the audit log says it was not checked.
    assert "not checked" in str(events[-1]["data"]["revocation"])


def test_the_daemon_keeps_the_crls_it_has_seen_fresh(ca: LocalCA, tmp_path: Path) -> None:
    office = _office(tmp_path, 100)
    checker = RevocationChecker(tmp_path / "rev")
    office.policy = signing.TrustPolicy(
        roots=(ca.cert,), revocation=Mode.PREFER, revocation_source=checker
    )
    cert = ca.issue(organ_id=COMMUNE_A, name="A").cert
    assert checker.status(cert, ca.cert).source == f"ocsp {ca.ocsp_url}"
    assert steps.keep_revocation_fresh(office) == [ca.crl_url]
    assert steps.keep_revocation_fresh(office) == []  # at most every ten minutes
    assert list((tmp_path / "rev" / "crl").glob("*.der"))
    office.db.dispose()
