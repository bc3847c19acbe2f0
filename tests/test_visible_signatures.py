"""Signatures as Nghị định 30 (Phụ lục I) shows them, and the two-step flow.

The signer's image between his title and his name, the seal over its left third with the
organisation's name and time in blue: looked at in the page pdftoppm draws. Two PAdES
signatures, the signer's then the organisation's, both valid for pyhanko's validator and
for our receiver's check; the number the văn thư fills in after the first one does not
break it. Bad images, a key that is not its certificate's, a PDF changed between the two
steps: each refused with the setting or the step named.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from asn1crypto import x509 as asn1_x509  # type: ignore[import-untyped]
from axis_fixtures import COMMUNE_A, DISTRICT
from compose_fixtures import plan
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from cryptography.x509.oid import NameOID
from daemon_fixtures import Exchange, exchange  # noqa: F401  (fixture)
from PIL import Image
from pkcs11_fixtures import KEY_LABEL, PIN, TOKEN
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext
from signing_fixtures import pki
from test_outgoing import approved, ready
from test_web_yaml_draft import plan_text
from typer.testing import CliRunner
from web_fixtures import csrf_of, pages, signed_in_client  # noqa: F401  (pages: fixture)

from edoc_exchange import edxml, signing
from edoc_exchange import office as steps
from edoc_exchange.cli import app
from edoc_exchange.compose import (
    NUMBER_FIELD,
    ORGANISATION_FIELD,
    SIGNER_FIELD,
    field_box,
    field_state,
    sign_pdf,
)
from edoc_exchange.compose.pdfcheck import PdfVerdict, check_pdf
from edoc_exchange.config import ConfigError, load_settings
from edoc_exchange.office import (
    TwoStepError,
    VisibleSignatures,
    build_office,
    outgoing,
    refresh_directory,
)
from edoc_exchange.office.visible import issue_pdf, load_visible, render_for_signing, sign_as
from edoc_exchange.sandbox import Sandbox, TestIdentity, new_test_identity
from edoc_exchange.sandbox.looks import write_seal, write_signature
from edoc_exchange.signing import Pkcs11Signer
from edoc_exchange.store.tables import outbox

CHAIRMAN = "Vũ Ngọc Thiện"
ORGANISATION = "Ủy ban nhân dân xã Nậm Khánh"
WHEN = dt.datetime(2026, 12, 2, 1, 15, tzinfo=dt.UTC)
DPI = 100
runner = CliRunner()
needs_poppler = pytest.mark.skipif(shutil.which("pdftoppm") is None,
                                   reason="poppler-utils (pdftoppm) not installed")


def person_identity(ca: TestIdentity, name: str) -> TestIdentity:
    """A person's certificate from the office's test CA (his own key, his name as CN)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca.ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False,
                                     False), critical=True)
        .sign(ca.ca_key, hashes.SHA256())
    )
    return TestIdentity(ca.ca_key, ca.ca_cert, key, cert)


@dataclass
class Setup:
    folder: Path
    office: TestIdentity
    chairman: TestIdentity
    visible: VisibleSignatures


def write_config(folder: Path, chairman: TestIdentity, *, seal: str = "seal.png",
                 signature: str = "chutich.png", user: str = "chutich",
                 key: TestIdentity | None = None) -> Path:
    """edoc.toml with the seal and one signer; ``key`` writes another person's key."""
    keys = folder / "chutich"
    keys.mkdir(exist_ok=True)
    (keys / "cert.pem").write_bytes(chairman.cert.public_bytes(Encoding.PEM))
    (keys / "key.pem").write_bytes((key or chairman).key.private_bytes(
        Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    config = folder / "edoc.toml"
    config.write_text(
        f'[office]\norgan_id = "{COMMUNE_A}"\nname = "{ORGANISATION}"\n'
        f'seal_image = "{seal}"\n\n'
        f'[signers.chutich]\nkey = "chutich/key.pem"\ncert = "chutich/cert.pem"\n'
        f'display_name = "{CHAIRMAN}"\ntitle = "Chủ tịch"\nsignature_image = "{signature}"\n'
        f'user = "{user}"\n',
        encoding="utf-8",
    )
    return config


def make_setup(folder: Path, office: TestIdentity | None = None) -> Setup:
    office = office or new_test_identity(organ_id=COMMUNE_A, name="UBND xã Nậm Khánh")
    chairman = person_identity(office, CHAIRMAN)
    write_seal(folder / "seal.png", ORGANISATION)
    write_signature(folder / "chutich.png")
    visible = load_visible(load_settings(write_config(folder, chairman)))
    assert visible is not None
    return Setup(folder, office, chairman, visible)


def two_step(setup: Setup, number: str = "12") -> tuple[bytes, bytes, bytes]:
    """(unsigned with fields, signed by the chairman, issued with the seal)."""
    person = setup.visible.person("chutich")
    unsigned = render_for_signing(setup.visible, person,
                                  plan().model_copy(update={"number": None}))
    first = sign_as(person, unsigned, reason="Kế hoạch")
    second = issue_pdf(setup.visible, setup.office.signer(), first, number=number, when=WHEN,
                       roots=[setup.office.ca_cert])
    return unsigned, first, second


@pytest.fixture(scope="module")
def issued(tmp_path_factory: pytest.TempPathFactory) -> tuple[Setup, bytes, bytes, bytes]:
    setup = make_setup(tmp_path_factory.mktemp("visible"))
    return (setup, *two_step(setup))


# --- what the page shows ----------------------------------------------------------------


def _pages(pdf: bytes, folder: Path) -> list[Image.Image]:
    source = folder / "issued.pdf"
    source.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", str(DPI), "-png", str(source), str(folder / "page")],
                   check=True, timeout=120)
    return [Image.open(p).convert("RGB") for p in sorted(folder.glob("page-*.png"),
                                                          key=lambda p: int(p.stem[5:]))]


def _pixels(box: tuple[float, float, float, float], page_height: float) -> tuple[int, ...]:
    """A box in PDF points as (left, top, right, bottom) pixels of the drawn page."""
    scale = DPI / 72
    left, bottom, right, top = box
    return (round(left * scale), round((page_height - top) * scale),
            round(right * scale), round((page_height - bottom) * scale))


def _blue(rgb: tuple[int, int, int]) -> bool:
    r, g, b = rgb
    return b > 150 and r < 110 and g < 120


def _red(rgb: tuple[int, int, int]) -> bool:
    r, g, b = rgb
    return r > 170 and g < 100 and b < 100


def _inside(x: int, y: int, box: tuple[int, ...], slack: int = 2) -> bool:
    return box[0] - slack <= x <= box[2] + slack and box[1] - slack <= y <= box[3] + slack


def _words(pdf_path: Path, page: int) -> list[tuple[str, float, float]]:
    """(word, top, bottom) in points from the top, from pdftotext's boxes."""
    html = subprocess.run(["pdftotext", "-f", str(page), "-l", str(page), "-bbox",
                           str(pdf_path), "-"], capture_output=True, text=True, check=True,
                          timeout=60).stdout
    return [(w, float(top), float(bottom)) for top, bottom, w in re.findall(
        r'<word xMin="[\d.]+" yMin="([\d.]+)" xMax="[\d.]+" yMax="([\d.]+)">([^<]*)</word>',
        html)]


@needs_poppler
def test_the_images_sit_in_the_signature_block(
    issued: tuple[Setup, bytes, bytes, bytes], tmp_path: Path
) -> None:
    _setup, _unsigned, _first, pdf = issued
    drawn = _pages(pdf, tmp_path)
    last = len(drawn) - 1
    height = 841.89  # A4
    signer_pt = field_box(pdf, SIGNER_FIELD)
    seal_pt = field_box(pdf, ORGANISATION_FIELD)
    assert signer_pt is not None
    assert seal_pt is not None
    signer_box, seal_box = _pixels(signer_pt, height), _pixels(seal_pt, height)
    image = drawn[last]
    width_px, height_px = image.size
    data: Any = image.load()
    blue_in_signature = red_in_seal = red_over_signature = 0
    max_red_over_signature = signer_box[0]
    for y in range(height_px):
        for x in range(width_px):
            rgb = data[x, y]
            if _blue(rgb):
                assert _inside(x, y, signer_box) or _inside(x, y, seal_box), (x, y, rgb)
                blue_in_signature += _inside(x, y, signer_box, 0)
            elif _red(rgb):
                assert _inside(x, y, seal_box), (x, y, rgb)
                red_in_seal += 1
                if _inside(x, y, signer_box, 0):
                    red_over_signature += 1
                    max_red_over_signature = max(max_red_over_signature, x)
    assert blue_in_signature > 500  # the signer's stroke is drawn
    assert red_in_seal > 2000  # the seal is drawn
    # the seal covers about the left third of the signature image, not more
    third = signer_box[0] + (signer_box[2] - signer_box[0]) / 3
    assert red_over_signature > 100
    assert max_red_over_signature <= third + 3
    # at its real size (35 mm by default): about 138 pixels across at 100 dpi
    seal_width = seal_box[3] - seal_box[1]
    assert seal_width >= 35 / 25.4 * DPI
    # nothing blue or red on the other pages
    for other in drawn[:last]:
        colours = other.getcolors(maxcolors=1 << 20) or []
        assert not any(_blue(c) or _red(c) for _n, c in colours)  # type: ignore[arg-type]
    # between the title (CHỦ TỊCH) and the name, as Phụ lục I places it
    source = tmp_path / "issued.pdf"
    words = _words(source, last + 1)
    title_bottom = max(b for w, _t, b in words if w == "TỊCH")
    name_top = min(t for w, t, _b in words if w == "Thiện")
    assert title_bottom <= height - signer_pt[3]
    assert height - signer_pt[1] <= name_top
    # the organisation's name and the signing time, printed in blue under the seal
    text = subprocess.run(["pdftotext", "-f", str(last + 1), "-l", str(last + 1), str(source),
                           "-"], capture_output=True, text=True, check=True).stdout
    assert "2026-12-02T08:15:00+07:00" in text
    assert "Nậm Khánh" in text
    first_page = subprocess.run(["pdftotext", "-l", "1", str(source), "-"],
                                capture_output=True, text=True, check=True).stdout
    assert "Số:" in first_page
    assert "/KH-UBND" in first_page


# --- what a validator says ----------------------------------------------------------------


def _context(*roots: x509.Certificate) -> ValidationContext:
    return ValidationContext(
        trust_roots=[asn1_x509.Certificate.load(r.public_bytes(Encoding.DER)) for r in roots]
    )


def test_two_valid_pades_signatures_signer_first(
    issued: tuple[Setup, bytes, bytes, bytes],
) -> None:
    setup, unsigned, first, pdf = issued
    assert field_state(unsigned) == {SIGNER_FIELD: False, ORGANISATION_FIELD: False}
    assert field_state(first) == {SIGNER_FIELD: True, ORGANISATION_FIELD: False}
    assert field_state(pdf) == {SIGNER_FIELD: True, ORGANISATION_FIELD: True}
    assert pdf.startswith(first)
    assert first.startswith(unsigned)
    reader = PdfFileReader(io.BytesIO(pdf))
    signatures = reader.embedded_signatures
    assert [s.field_name for s in signatures] == [SIGNER_FIELD, ORGANISATION_FIELD]
    context = _context(setup.office.ca_cert)
    statuses = [validate_pdf_signature(s, context) for s in signatures]
    for status, sig in zip(statuses, signatures, strict=True):
        assert sig.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"  # PAdES
        assert status.intact
        assert status.valid
        assert status.trusted
        assert status.bottom_line
    expected = [setup.chairman.cert, setup.office.cert]
    for status, cert in zip(statuses, expected, strict=True):
        assert status.signing_cert.dump() == cert.public_bytes(Encoding.DER)
    # the văn thư's update (number + seal) is form filling for the chairman's signature
    assert statuses[0].modification_level is ModificationLevel.FORM_FILLING
    assert statuses[1].modification_level is ModificationLevel.NONE
    first_at, second_at = (s.signer_reported_dt for s in statuses)
    assert first_at is not None
    assert second_at is not None
    assert first_at <= second_at
    form_fields = {str(f.get_object()["/T"]): f.get_object()
                   for f in reader.root["/AcroForm"]["/Fields"]}
    assert str(form_fields[NUMBER_FIELD]["/V"]) == "12"
    checked = check_pdf(pdf, [setup.office.ca_cert])
    assert checked.verdict is PdfVerdict.VALID, checked
    assert [s.signer for s in checked.signatures] == [CHAIRMAN, "UBND xã Nậm Khánh"]


def test_a_pdf_without_fields_is_signed_in_two_invisible_signatures(tmp_path: Path) -> None:
    setup = make_setup(tmp_path)
    person = setup.visible.person("chutich")
    from compose_fixtures import plan_pdf

    first = sign_as(person, plan_pdf())
    issued = issue_pdf(setup.visible, setup.office.signer(), first, number="3", when=WHEN,
                       roots=[setup.office.ca_cert])
    checked = check_pdf(issued, [setup.office.ca_cert])
    assert checked.verdict is PdfVerdict.VALID, checked
    assert [s.field for s in checked.signatures] == [SIGNER_FIELD, ORGANISATION_FIELD]


# --- bad inputs -----------------------------------------------------------------------------


def test_a_seal_that_is_not_a_png_is_refused_naming_the_setting(tmp_path: Path) -> None:
    setup = make_setup(tmp_path)
    (tmp_path / "seal.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a png")
    config = write_config(tmp_path, setup.chairman, seal="seal.jpg")
    with pytest.raises(ConfigError) as caught:
        load_visible(load_settings(config))
    assert caught.value.step == "config.office.seal_image"
    assert "PNG" in caught.value.en
    assert "seal.jpg" in caught.value.en


def test_a_missing_signature_image_is_refused_naming_the_setting(tmp_path: Path) -> None:
    setup = make_setup(tmp_path)
    config = write_config(tmp_path, setup.chairman, signature="khong-co.png")
    with pytest.raises(ConfigError) as caught:
        load_visible(load_settings(config))
    assert caught.value.step == "config.signers.chutich.signature_image"
    assert "not found" in caught.value.en
    assert "khong-co.png" in caught.value.en


def test_images_too_small_or_damaged_are_refused(tmp_path: Path) -> None:
    setup = make_setup(tmp_path)
    Image.new("RGBA", (8, 8)).save(tmp_path / "tiny.png")
    with pytest.raises(ConfigError, match="each side must be"):
        load_visible(load_settings(write_config(tmp_path, setup.chairman, seal="tiny.png")))
    good = (tmp_path / "seal.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(good[: len(good) // 2])
    with pytest.raises(ConfigError, match="damaged"):
        load_visible(load_settings(write_config(tmp_path, setup.chairman, seal="cut.png")))


def test_a_signer_key_that_is_not_its_certificates_is_refused(tmp_path: Path) -> None:
    setup = make_setup(tmp_path)
    other = person_identity(setup.office, "Người khác")
    config = write_config(tmp_path, setup.chairman, key=other)
    visible = load_visible(load_settings(config))
    assert visible is not None
    with pytest.raises(ConfigError) as caught:
        _ = visible.person("chutich").signer
    assert caught.value.step == "config.signers.chutich"
    with pytest.raises(TwoStepError, match="no signer 'pgd'"):
        visible.person("pgd")


def _changed_after_signing(signed: bytes) -> bytes:
    """An incremental update after the chairman's signature that replaces the last page's
    content: what he signed is no longer what the page shows."""
    writer = IncrementalPdfFileWriter(io.BytesIO(signed))
    page = writer.root["/Pages"]["/Kids"][-1].get_object()
    page["/Contents"] = writer.add_object(
        generic.StreamObject(stream_data=b"BT /F1 24 Tf 72 700 Td (So tien: 900.000.000) Tj ET")
    )
    writer.update_container(page)
    out = io.BytesIO()
    writer.write(out)  # type: ignore[no-untyped-call]
    return out.getvalue()


def test_step_two_on_a_pdf_changed_after_step_one_is_refused_and_invalid(
    issued: tuple[Setup, bytes, bytes, bytes],
) -> None:
    setup, _unsigned, first, _pdf = issued
    attacked = _changed_after_signing(first)
    assert check_pdf(attacked, [setup.office.ca_cert]).verdict is PdfVerdict.INVALID
    with pytest.raises(TwoStepError) as caught:
        issue_pdf(setup.visible, setup.office.signer(), attacked, number="12", when=WHEN,
                  roots=[setup.office.ca_cert])
    assert caught.value.step == "pdf-signature.signer"
    assert "changed after it was signed" in caught.value.en
    # sealed anyway, by a tool that does not check: the receiver's verdict is invalid
    sealed = sign_pdf(attacked, setup.office.signer(), field=ORGANISATION_FIELD)
    checked = check_pdf(sealed, [setup.office.ca_cert])
    assert checked.verdict is PdfVerdict.INVALID
    assert checked.signatures[0].verdict is PdfVerdict.INVALID
    assert checked.signatures[0].signer == CHAIRMAN


def test_each_step_once_and_in_order(issued: tuple[Setup, bytes, bytes, bytes]) -> None:
    setup, unsigned, first, pdf = issued
    person = setup.visible.person("chutich")
    with pytest.raises(TwoStepError, match="signs first"):
        issue_pdf(setup.visible, setup.office.signer(), unsigned, number="1", when=WHEN)
    with pytest.raises(TwoStepError, match="already"):
        sign_as(person, first)
    with pytest.raises(TwoStepError, match="already"):
        issue_pdf(setup.visible, setup.office.signer(), pdf, number="1", when=WHEN)


# --- the flow through the office: approve signs, issue seals ----------------------------


def test_the_leader_signs_as_he_approves_and_the_clerk_seals_as_she_issues(
    exchange: Exchange, tmp_path: Path,  # noqa: F811
) -> None:
    ex = exchange
    people = ready(ex)
    setup = make_setup(tmp_path, ex.identities[COMMUNE_A])
    ex.commune.visible = setup.visible
    draft = outgoing.draft_from_yaml(ex.commune, people.officer, plan_text().encode(),
                                     "ke-hoach.yaml")
    outgoing.submit_draft(ex.commune, people.officer, draft)
    outgoing.approve_draft(ex.commune, people.leader, draft)
    _name, _type, approved = outgoing.draft_file(ex.commune, draft, 0)
    assert field_state(approved) == {SIGNER_FIELD: True, ORGANISATION_FIELD: False}
    details = outgoing.draft_details(ex.commune, draft)
    assert details.fields["signed_by"]["common_name"] == CHAIRMAN
    issued = outgoing.issue_draft(ex.commune, people.clerk, draft)
    _name, _type, sent = outgoing.draft_file(ex.commune, draft, 0)
    assert sent.startswith(approved)  # the chairman's PDF, sealed on top
    assert field_state(sent) == {SIGNER_FIELD: True, ORGANISATION_FIELD: True}
    assert steps.send_due(ex.commune).done == 1
    assert steps.receive_documents(ex.district).done == 1
    got = steps.document_details(ex.district.db, DISTRICT, issued.document_id)
    [verdict] = got.pdf_verdicts
    assert verdict.verdict == PdfVerdict.VALID.value, verdict.details
    assert [s["signer"] for s in verdict.signatures] == [CHAIRMAN, "UBND xã Nậm Khánh"]
    form = PdfFileReader(io.BytesIO(sent)).root["/AcroForm"]["/Fields"]
    numbers = [str(f.get_object()["/V"]) for f in form
               if str(f.get_object()["/T"]) == NUMBER_FIELD]
    assert numbers == [str(issued.number)]


def test_a_returned_draft_loses_its_signature(
    exchange: Exchange, tmp_path: Path,  # noqa: F811
) -> None:
    ex = exchange
    people = ready(ex)
    ex.commune.visible = make_setup(tmp_path, ex.identities[COMMUNE_A]).visible
    draft = outgoing.draft_from_yaml(ex.commune, people.officer, plan_text().encode(),
                                     "ke-hoach.yaml")
    outgoing.submit_draft(ex.commune, people.officer, draft)
    outgoing.approve_draft(ex.commune, people.leader, draft)
    outgoing.return_draft(ex.commune, people.leader, draft, "Sửa lại mục II")
    assert "signed_by" not in outgoing.draft_details(ex.commune, draft).fields


# --- the doors: edoc sign-pdf by the chairman, edoc send-document by the văn thư ---------


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Sandbox]:
    """A sandbox whose commune has a chairman with his own key and a seal (as the demo's)."""
    sandbox = Sandbox.create(
        tmp_path / "box", [(COMMUNE_A, "UBND xã Nậm Khánh"), (DISTRICT, "UBND huyện Bắc Hà")],
        signers={COMMUNE_A: CHAIRMAN},
    )
    axis = sandbox.start_axis()
    try:
        commune = build_office(load_settings(sandbox.offices[COMMUNE_A].config))
        refresh_directory(commune)
        commune.axis.close()
        commune.db.dispose()
        yield sandbox
    finally:
        axis.terminate()
        axis.wait(10)


def test_the_chairman_signs_at_his_desk_and_the_clerk_sends_it_sealed(
    box: Sandbox, tmp_path: Path
) -> None:
    from compose_fixtures import plan_pdf

    config = str(box.offices[COMMUNE_A].config)
    source, signed = tmp_path / "ke-hoach.pdf", tmp_path / "ke-hoach-da-ky.pdf"
    source.write_bytes(plan_pdf())
    result = runner.invoke(app, ["sign-pdf", "--as", "chutich", str(source), "-o", str(signed),
                                 "--config", config])
    assert result.exit_code == 0, result.output
    assert CHAIRMAN in result.output
    assert field_state(signed.read_bytes()) == {SIGNER_FIELD: True}
    result = runner.invoke(app, [
        "send-document", str(signed), "--type", "ke-hoach", "--notation", "KH-UBND",
        "--subject", "Kế hoạch cải thiện chỉ số PAPI", "--to", DISTRICT, "--place", "Nậm Khánh",
        "--signer-position", "CHỦ TỊCH", "--signer-name", CHAIRMAN, "--config", config])
    assert result.exit_code == 0, result.output
    assert "number 1" in result.output
    commune = build_office(load_settings(config), receiving=False)
    try:
        with commune.db.read() as conn:
            message = bytes(conn.execute(sa.select(outbox.c.message)).scalar_one())
    finally:
        commune.db.dispose()
    roots = signing.load_roots(box.root / "roots.pem")
    document = signing.verify(message, signing.TrustPolicy(roots=roots, at="now")).message
    assert isinstance(document, edxml.Document)
    pdf = document.attachments[0].data
    assert pdf.startswith(signed.read_bytes())  # the chairman's PDF, sealed on top
    checked = check_pdf(pdf, roots)
    assert checked.verdict is PdfVerdict.VALID, checked
    assert [(s.field, s.signer) for s in checked.signatures] == [
        (SIGNER_FIELD, CHAIRMAN), (ORGANISATION_FIELD, "UBND xã Nậm Khánh")]


def test_sign_pdf_names_an_unknown_signer_without_a_traceback(
    box: Sandbox, tmp_path: Path
) -> None:
    source = tmp_path / "x.pdf"
    source.write_bytes(b"%PDF-1.4\n")
    result = runner.invoke(app, ["sign-pdf", "--as", "pho-chu-tich", str(source), "-o",
                                 str(tmp_path / "y.pdf"), "--config",
                                 str(box.offices[COMMUNE_A].config)])
    assert result.exit_code == 1
    assert "signers.pho-chu-tich" in result.output
    assert "chutich" in result.output  # the known ones
    assert "Traceback" not in result.output
    assert not (tmp_path / "y.pdf").exists()


def test_the_approve_button_signs_with_the_leaders_key_and_the_page_says_so(
    exchange: Exchange, pages: Callable[..., str], tmp_path: Path,  # noqa: F811
) -> None:
    ex = exchange
    people = ready(ex)
    ex.commune.visible = make_setup(tmp_path, ex.identities[COMMUNE_A]).visible
    base = pages(ex.commune)
    draft = outgoing.draft_from_yaml(ex.commune, people.officer, plan_text().encode(),
                                     "ke-hoach.yaml")
    outgoing.submit_draft(ex.commune, people.officer, draft)
    with signed_in_client(base, "chutich") as leader:
        token = csrf_of(leader, f"/drafts/{draft}")
        done = leader.post(f"/drafts/{draft}/approve", data={"csrf_token": token},
                           headers={"origin": base})
        assert done.status_code == 303, done.text
        page = leader.get(f"/drafts/{draft}")
    assert "Ký số (bước 1)" in page.text
    assert CHAIRMAN in page.text
    _name, _type, approved = outgoing.draft_file(ex.commune, draft, 0)
    assert field_state(approved) == {SIGNER_FIELD: True, ORGANISATION_FIELD: False}


def test_a_form_drafts_pdf_is_signed_at_approval_and_sealed_at_issue(
    exchange: Exchange, tmp_path: Path,  # noqa: F811
) -> None:
    ex = exchange
    people = ready(ex)
    ex.commune.visible = make_setup(tmp_path, ex.identities[COMMUNE_A]).visible
    draft = approved(ex, people)  # written in the form, its main file a PDF; leader approves
    _name, _type, signed = outgoing.draft_file(ex.commune, draft, 0)
    assert field_state(signed) == {SIGNER_FIELD: True}
    issued = outgoing.issue_draft(ex.commune, people.clerk, draft)
    assert steps.send_due(ex.commune).done == 1
    assert steps.receive_documents(ex.district).done == 1
    got = steps.document_details(ex.district.db, DISTRICT, issued.document_id)
    [verdict] = got.pdf_verdicts
    assert verdict.verdict == PdfVerdict.VALID.value, verdict.details
    assert [s["field"] for s in verdict.signatures] == [SIGNER_FIELD, ORGANISATION_FIELD]
    received = steps.received_files(ex.district.db, DISTRICT, issued.document_id)
    assert received[0].data.startswith(signed)
    assert [f.name for f in received[1:]] == ["phu-luc-1.xlsx", "ban-quet.png"]


def test_the_chairman_signs_with_his_token(
    softhsm: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Step 1 on a PKCS#11 token ([signers.NAME] pkcs11_module, token_label, key_label):
    the key never leaves it; step 2 with the office's soft key; both valid."""
    office = new_test_identity(organ_id=COMMUNE_A, name="UBND xã Nậm Khánh")
    write_seal(tmp_path / "seal.png", ORGANISATION)
    write_signature(tmp_path / "chutich.png")
    (tmp_path / "chain.pem").write_bytes(pki().intermediate.cert.public_bytes(Encoding.PEM))
    config = tmp_path / "edoc.toml"
    config.write_text(
        f'[office]\norgan_id = "{COMMUNE_A}"\nname = "{ORGANISATION}"\n'
        f'seal_image = "seal.png"\n\n[signers.chutich]\npkcs11_module = "{softhsm["module"]}"\n'
        f'token_label = "{TOKEN}"\nkey_label = "{KEY_LABEL}"\nchain = "chain.pem"\n'
        f'display_name = "{CHAIRMAN}"\nsignature_image = "chutich.png"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("EDOC_PKCS11_PIN", PIN)
    visible = load_visible(load_settings(config))
    assert visible is not None
    setup = Setup(tmp_path, office, office, visible)
    _unsigned, first, pdf = two_step(setup)
    roots = [pki().root.cert, office.ca_cert]
    checked = check_pdf(pdf, roots)
    assert checked.verdict is PdfVerdict.VALID, checked
    assert [s.signer for s in checked.signatures] == ["Token signer", "UBND xã Nậm Khánh"]
    assert check_pdf(first, roots).signatures[0].trusted
    signer = visible.person("chutich").signer
    assert isinstance(signer, Pkcs11Signer)
    signer.close()


def test_the_chairman_signs_a_plan_in_yaml_and_the_clerk_numbers_and_seals_it(
    box: Sandbox, tmp_path: Path
) -> None:
    """sign-pdf renders a YAML plan with the signature block; send-document fills the
    number the register gives and adds the seal where the block left room for it."""
    config = str(box.offices[COMMUNE_A].config)
    source, signed = tmp_path / "ke-hoach.yaml", tmp_path / "ke-hoach.pdf"
    source.write_text(plan_text(), encoding="utf-8")
    result = runner.invoke(app, ["sign-pdf", "--as", "chutich", str(source), "-o", str(signed),
                                 "--config", config])
    assert result.exit_code == 0, result.output
    assert field_state(signed.read_bytes()) == {SIGNER_FIELD: True, ORGANISATION_FIELD: False}
    result = runner.invoke(app, [
        "send-document", str(signed), "--type", "ke-hoach", "--notation", "KH-UBND",
        "--subject", "Kế hoạch cải thiện chỉ số PAPI", "--to", DISTRICT, "--place", "Nậm Khánh",
        "--signer-position", "CHỦ TỊCH", "--signer-name", CHAIRMAN, "--config", config])
    assert result.exit_code == 0, result.output
    commune = build_office(load_settings(config), receiving=False)
    try:
        with commune.db.read() as conn:
            message = bytes(conn.execute(sa.select(outbox.c.message)).scalar_one())
    finally:
        commune.db.dispose()
    document = edxml.read(message).message
    assert isinstance(document, edxml.Document)
    pdf = document.attachments[0].data
    assert field_state(pdf) == {SIGNER_FIELD: True, ORGANISATION_FIELD: True}
    fields = {str(f.get_object()["/T"]): f.get_object()
              for f in PdfFileReader(io.BytesIO(pdf)).root["/AcroForm"]["/Fields"]}
    assert str(fields[NUMBER_FIELD]["/V"]) == "1"
    seal = field_box(pdf, ORGANISATION_FIELD)
    assert seal is not None
    assert seal[3] - seal[1] > 35 / 25.4 * 72  # the seal at its real size, and its text
    checked = check_pdf(pdf, signing.load_roots(box.root / "roots.pem"))
    assert checked.verdict is PdfVerdict.VALID, checked


# --- both signatures with a proven time --------------------------------------------------


def test_both_signatures_carry_a_timestamp_from_the_local_tsa_in_order(tmp_path: Path) -> None:
    """The must-show: the chairman's and the organisation's PAdES signatures, each with a
    timestamp from the office's TSA ([tsa] in the settings reaches the signer's key too),
    valid under pyhanko's validator, the chairman's first."""
    from edoc_exchange.office.wiring import load_timestamper
    from edoc_exchange.sandbox.pki import new_test_tsa
    from edoc_exchange.sandbox.tsa import LocalTsa

    with LocalTsa(new_test_tsa(name="edoc test TSA (trusted)")) as tsa:
        office = new_test_identity(organ_id=COMMUNE_A, name="UBND xã Nậm Khánh")
        chairman = person_identity(office, CHAIRMAN)
        write_seal(tmp_path / "seal.png", ORGANISATION)
        write_signature(tmp_path / "chutich.png")
        (tmp_path / "tsa-roots.pem").write_bytes(tsa.tsa.ca_cert.public_bytes(Encoding.PEM))
        config = write_config(tmp_path, chairman)
        config.write_text(
            config.read_text(encoding="utf-8")
            + f'\n[tsa]\nurl = "{tsa.url}"\nroots = "tsa-roots.pem"\n', encoding="utf-8")
        settings = load_settings(config)
        visible = load_visible(settings)
        assert visible is not None
        timestamper = load_timestamper(settings.tsa)
        assert timestamper is not None
        person = visible.person("chutich")
        before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        unsigned = render_for_signing(visible, person, plan().model_copy(update={"number": None}))
        first = sign_as(person, unsigned, reason="Kế hoạch")
        pdf = issue_pdf(visible, signing.TimestampedSigner(office.signer(), timestamper), first,
                        number="7", when=WHEN, roots=[office.ca_cert])
        after = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)

        reader = PdfFileReader(io.BytesIO(pdf))
        signatures = reader.embedded_signatures
        assert [s.field_name for s in signatures] == [SIGNER_FIELD, ORGANISATION_FIELD]
        statuses = [
            validate_pdf_signature(s, _context(office.ca_cert),
                                   ts_validation_context=_context(tsa.tsa.ca_cert))
            for s in signatures
        ]
        stamps = []
        for status in statuses:
            details = status.pretty_print_details()  # type: ignore[no-untyped-call]
            assert status.bottom_line, details
            stamp = status.timestamp_validity
            assert stamp is not None, details
            assert stamp.intact, details
            assert stamp.valid, details
            assert stamp.trusted, details
            assert stamp.signing_cert.dump() == tsa.tsa.cert.public_bytes(Encoding.DER)
            assert before <= stamp.timestamp <= after
            stamps.append(stamp.timestamp)
        assert stamps[0] <= stamps[1]  # the chairman signed first, then the organisation
        expected = [chairman.cert, office.cert]
        for status, cert in zip(statuses, expected, strict=True):
            assert status.signing_cert.dump() == cert.public_bytes(Encoding.DER)

        checked = check_pdf(pdf, [office.ca_cert], tsa_roots=[tsa.tsa.ca_cert])
        assert checked.verdict is PdfVerdict.VALID, checked
        assert [s.timestamp_trusted for s in checked.signatures] == [True, True]
