"""Long-term validation material in signed PDFs (issue 13 item 3): the DSS of a
timestamped PAdES signature holds the CRL or OCSP answer about the signer's certificate,
fetched by the office's revocation checker from a local CA (real HTTP on 127.0.0.1), so
that pyhanko validates the signature with revocation checking from the embedded material
only (no fetching, hard-fail); without the material the same validation fails; with the
CA's servers down and nothing cached, the PDF is still signed and its DSS holds
certificates only.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import x509 as asn1_x509  # type: ignore[import-untyped]
from compose_fixtures import plan
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko_certvalidator import ValidationContext

from edoc_exchange import signing
from edoc_exchange.compose import render_pdf
from edoc_exchange.office.revocation import RevocationChecker, validation_material
from edoc_exchange.sandbox.ca import LocalCA
from edoc_exchange.sandbox.pki import new_test_tsa
from edoc_exchange.sandbox.tsa import LocalTsa

COMMUNE = ("000.12.05.H38", "UBND xã Nậm Khánh")


@pytest.fixture(scope="module")
def tsa() -> Iterator[LocalTsa]:
    with LocalTsa(new_test_tsa(name="edoc test TSA (ltv)")) as server:
        yield server


@pytest.fixture
def ca() -> Iterator[LocalCA]:
    with LocalCA(crl_validity=dt.timedelta(days=1)) as local:
        yield local


def _asn1(cert: x509.Certificate) -> Any:
    return asn1_x509.Certificate.load(cert.public_bytes(Encoding.DER))


def _signer(
    ca: LocalCA, tsa: LocalTsa, checker: RevocationChecker | None, *, ocsp_url: bool = True
) -> tuple[signing.TimestampedSigner, x509.Certificate]:
    identity = ca.issue(organ_id=COMMUNE[0], name=COMMUNE[1], ocsp_url=ocsp_url)
    source = None if checker is None else validation_material(checker, (ca.cert,))
    stamper = signing.open_timestamper(tsa.url, roots=[tsa.tsa.ca_cert])
    return signing.TimestampedSigner(identity.signer(), stamper, source), identity.cert


def _dss(pdf: bytes) -> Any:
    return PdfFileReader(io.BytesIO(pdf)).root["/DSS"]


def _validate_offline(pdf: bytes, ca: LocalCA, tsa: LocalTsa, mode: str = "hard-fail") -> Any:
    """pyhanko's validation with revocation checking from the PDF's DSS only."""
    reader = PdfFileReader(io.BytesIO(pdf))
    [embedded] = reader.embedded_signatures
    context = DocumentSecurityStore.read_dss(reader).as_validation_context({
        "trust_roots": [_asn1(ca.cert)],
        "allow_fetching": False,
        "revocation_mode": mode,
    })
    return validate_pdf_signature(
        embedded,
        context,
        ts_validation_context=ValidationContext(trust_roots=[_asn1(tsa.tsa.ca_cert)]),
    )


@pytest.mark.parametrize("ocsp_url", [True, False], ids=["ocsp", "crl"])
def test_the_dss_holds_the_revocation_answer_and_pyhanko_validates_from_it_alone(
    ca: LocalCA, tsa: LocalTsa, tmp_path: Path, ocsp_url: bool
) -> None:
    checker = RevocationChecker(tmp_path / "revocation", timeout=5.0)
    signer, cert = _signer(ca, tsa, checker, ocsp_url=ocsp_url)
    pdf = render_pdf(plan(), signer=signer)

    dss = _dss(pdf)
    kept = {bytes(c.get_object().data) for c in dss["/Certs"]}
    assert cert.public_bytes(Encoding.DER) in kept
    assert ca.cert.public_bytes(Encoding.DER) in kept  # the issuer the checker found
    if ocsp_url:  # the responder answered first: its answer is what was used
        [ocsp] = dss["/OCSPs"]
        answer = signing.judge_ocsp(
            bytes(ocsp.get_object().data), cert, ca.cert, now=dt.datetime.now(dt.UTC))
        assert answer.state is signing.RevocationState.GOOD
    else:
        [crl] = dss["/CRLs"]
        assert signing.judge_crl(bytes(crl.get_object().data), cert, ca.cert).state is (
            signing.RevocationState.GOOD)
    assert len(dss["/VRI"]) == 1  # tied to the signature

    ca.stop()  # nothing can be fetched now: the validator has the DSS only
    status = _validate_offline(pdf, ca, tsa)
    details = status.pretty_print_details()
    assert status.bottom_line, details
    assert status.timestamp_validity is not None, details
    assert status.timestamp_validity.valid, details


def test_without_the_material_the_same_validation_fails(
    ca: LocalCA, tsa: LocalTsa
) -> None:
    signer, _cert = _signer(ca, tsa, None)
    pdf = render_pdf(plan(), signer=signer)
    dss = _dss(pdf)
    assert "/OCSPs" not in dss
    assert "/CRLs" not in dss
    ca.stop()
    status = _validate_offline(pdf, ca, tsa)
    details = status.pretty_print_details()
    assert not status.bottom_line
    assert "The signer's certificate is untrusted." in details
    # ... for want of revocation material only: without hard-fail the same PDF validates.
    assert _validate_offline(pdf, ca, tsa, "soft-fail").bottom_line


def test_servers_down_and_nothing_cached_signs_anyway_with_certificates_only(
    ca: LocalCA, tsa: LocalTsa, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    checker = RevocationChecker(tmp_path / "revocation", timeout=2.0)
    signer, cert = _signer(ca, tsa, checker)
    ca.stop()
    with caplog.at_level(logging.INFO, logger="edoc.revocation"):
        pdf = render_pdf(plan(), signer=signer)
    reader = PdfFileReader(io.BytesIO(pdf))
    [embedded] = reader.embedded_signatures
    assert embedded.field_name
    dss = reader.root["/DSS"]
    kept = {bytes(c.get_object().data) for c in dss["/Certs"]}
    assert cert.public_bytes(Encoding.DER) in kept
    assert "/OCSPs" not in dss
    assert "/CRLs" not in dss
    assert any("no CRL or OCSP answer to embed" in r.getMessage() for r in caplog.records)


def test_the_material_is_fetched_once_and_then_comes_from_the_cache(
    ca: LocalCA, tsa: LocalTsa, tmp_path: Path
) -> None:
    checker = RevocationChecker(tmp_path / "revocation", timeout=5.0)
    signer, _cert = _signer(ca, tsa, checker)
    render_pdf(plan(), signer=signer)
    asked = ca.requests
    pdf = render_pdf(plan(), signer=signer)  # a second PDF: no new request to the CA
    assert ca.requests == asked
    assert len(_dss(pdf)["/OCSPs"]) == 1


def test_the_office_wires_its_checker_to_its_signer_and_its_persons(
    ca: LocalCA, tsa: LocalTsa, tmp_path: Path
) -> None:
    from edoc_exchange.config import load_settings
    from edoc_exchange.office import build_office
    from edoc_exchange.office.visible import load_person

    ca.issue(organ_id=COMMUNE[0], name=COMMUNE[1]).write(tmp_path / "office")
    ca.issue(organ_id=COMMUNE[0], name="Nguyễn Văn A").write(tmp_path / "chairman")
    roots = tsa.tsa.write_roots(tmp_path / "tsa-roots.pem")
    config = tmp_path / "edoc.toml"
    config.write_text(
        f'[office]\norgan_id = "{COMMUNE[0]}"\nname = "{COMMUNE[1]}"\n'
        f'[store]\nurl = "sqlite:///{tmp_path / "edoc.sqlite3"}"\n'
        '[signing]\nkey = "office/signer.key.pem"\ncert = "office/signer.pem"\n'
        '[trust]\nroots = "office/ca.pem"\n'
        f'[tsa]\nurl = "{tsa.url}"\nroots = "{roots}"\ntimeout = 20\n'
        '[signers.chu_tich]\nkey = "chairman/signer.key.pem"\ncert = "chairman/signer.pem"\n'
        'display_name = "Nguyễn Văn A"\n',
        encoding="utf-8",
    )
    settings = load_settings(config)
    office = build_office(settings, receiving=False)
    person = load_person(settings, "chu_tich")
    for signer in (office.signer, person.signer):
        assert isinstance(signer, signing.TimestampedSigner)
        assert signer.validation_material is not None
        pdf = render_pdf(plan(), signer=signer)
        assert len(_dss(pdf)["/OCSPs"]) == 1
        ca.stop()
        assert _validate_offline(pdf, ca, tsa).bottom_line
        ca.start()
    # Receiving too: the signer gets the material from the policy's own checker.
    receiving = build_office(settings)
    assert isinstance(receiving.signer, signing.TimestampedSigner)
    assert receiving.signer.validation_material is not None
    # Revocation "off": no material is sought.
    trust = '[trust]\nroots = "office/ca.pem"\n'
    text = config.read_text(encoding="utf-8").replace(trust, trust + 'revocation = "off"\n')
    config.write_text(text, encoding="utf-8")
    off = build_office(load_settings(config), receiving=False)
    assert isinstance(off.signer, signing.TimestampedSigner)
    assert off.signer.validation_material is None
