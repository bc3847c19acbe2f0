"""The two-step signing of Nghị định 30: the signer first, with his own key; then the
văn thư issues the document with the organisation's key.

Both are PAdES signatures on the PDF, each in its own incremental update, each visible
where Phụ lục I puts it: the signer's image between his title and his name, the seal over
its left third with the organisation's name and the signing time in blue. The document
is rendered with empty fields for both (and for the number, which the văn thư gives when
issuing); the signer's signature fills the first, and the văn thư's update fills the
number and the second. Filling a form field is what a signature allows to happen after it
(pyhanko's difference analysis: form filling), so both signatures stay valid, in order.

The images and the signers' keys are read once, when the office is built
(:func:`load_visible`): a bad image or a key that does not match its certificate is a
ConfigError naming the setting, at start-up, not when a leader approves.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from cryptography import x509

from .. import signing
from ..compose import (
    NUMBER_FIELD,
    ORGANISATION_FIELD,
    SIGNER_FIELD,
    Plan,
    RenderError,
    Report,
    SealLook,
    SignatureBlock,
    SignatureLook,
    field_state,
    organisation_appearance,
    read_png,
    render_pdf,
    sign_pdf,
    signer_appearance,
    text_fields,
)
from ..compose.pdfcheck import PdfVerdict, check_pdf
from ..config import ConfigError, Settings, SignerSettings, TsaSettings
from ..errors import EdocError

__all__ = [
    "Person",
    "TwoStepError",
    "VisibleSignatures",
    "issue_pdf",
    "load_person",
    "load_visible",
    "render_for_signing",
    "sign_as",
]

log = logging.getLogger("edoc.office")


class TwoStepError(EdocError):
    """A step of the two-step signing cannot be done (names the step)."""


class Person:
    """One person who signs with his own key (``[signers.NAME]``). His image is checked
    when the settings are loaded; his key is opened the first time he signs, once (a
    token's PIN is not asked of every command that merely builds the office)."""

    def __init__(self, name: str, section: SignerSettings, look: SignatureLook | None,
                 secret: Callable[[signing.SecretKind], str | None] | None = None,
                 tsa: TsaSettings | None = None,
                 material: signing.ValidationMaterialSource | None = None) -> None:
        self.name = name
        self._tsa = tsa
        self._material = material
        self.display_name = _nfc(section.display_name)
        self.title = _nfc(section.title) if section.title else None
        self.user = section.user
        self.look = look
        self._section = section
        self._secret = secret
        self._signer: signing.Signer | None = None
        self._lock = threading.Lock()

    @property
    def signer(self) -> signing.Signer:
        """His signer, opened on first use; ConfigError naming ``signers.NAME`` when the
        key cannot be opened or does not match its certificate."""
        with self._lock:
            if self._signer is None:
                opened = _open(self.name, self._section, self._secret)
                # His signature's time is proven by the office's TSA, as the seal's is.
                # ... and his PDF signatures carry the CRLs/OCSP answers about his chain.
                self._signer = (opened if self._tsa is None
                                else _stamped(opened, self._tsa, self._material))
            return self._signer

    @property
    def common_name(self) -> str:
        """His certificate's common name (what a validator shows as the signer)."""
        names = self.signer.certificates[0].subject.get_attributes_for_oid(
            x509.NameOID.COMMON_NAME)
        return str(names[0].value) if names else self.display_name


@dataclass(frozen=True)
class VisibleSignatures:
    """The office's seal and its signers: what the two-step flow signs with."""

    seal: SealLook | None = None
    people: Mapping[str, Person] = field(default_factory=dict)

    def person(self, name: str) -> Person:
        """The signer ``name`` (``[signers.NAME]``); TwoStepError naming the known ones."""
        found = self.people.get(name)
        if found is None:
            known = ", ".join(sorted(self.people)) or "-"
            raise TwoStepError(
                f"Không có người ký '{name}' trong cấu hình [signers] (có: {known})",
                f"no signer '{name}' in the [signers] settings (known: {known})",
                step="signers",
            )
        return found

    def for_user(self, username: str) -> Person | None:
        """The signer who is staff account ``username``, if one is configured."""
        for person in self.people.values():
            if person.user is not None and person.user == username:
                return person
        return None

    def block(self, person: Person | None) -> SignatureBlock:
        """The room the signature block leaves for ``person``'s image and the seal."""
        return SignatureBlock.of(person.look if person else None, self.seal)


def _config_error(setting: str, exc: EdocError) -> ConfigError:
    return ConfigError(f"{setting}: {exc.vi}", f"{setting}: {exc.en}",
                       step=f"config.{setting}")


def _open(name: str, section: SignerSettings,
          secret: Callable[[signing.SecretKind], str | None] | None) -> signing.Signer:
    from .wiring import _env_secret, key_source

    setting = f"signers.{name}"
    source = key_source(section)
    problem = source.problem()
    if problem is not None:
        raise ConfigError(f"Mục [{setting}]: {problem[0]}", f"[{setting}]: {problem[1]}",
                          step=f"config.{setting}")
    try:
        return signing.open_signer(source, secret=secret or _env_secret)
    except EdocError as exc:
        raise _config_error(setting, exc) from exc


def _stamped(signer: signing.Signer, tsa: TsaSettings,
             material: signing.ValidationMaterialSource | None = None) -> signing.Signer:
    from .wiring import _stamped as with_tsa

    stamped = with_tsa(signer, tsa, material)
    assert stamped is not None
    return stamped


def _person(name: str, section: SignerSettings,
            secret: Callable[[signing.SecretKind], str | None] | None = None,
            tsa: TsaSettings | None = None,
            material: signing.ValidationMaterialSource | None = None) -> Person:
    setting = f"signers.{name}"
    look = None
    if section.signature_image is not None:
        try:
            look = SignatureLook(read_png(section.signature_image,
                                          f"{setting}.signature_image"))
        except RenderError as exc:
            raise _config_error(f"{setting}.signature_image", exc) from exc
    return Person(name, section, look, secret, tsa, material)


def load_person(settings: Settings, name: str,
                secret: Callable[[signing.SecretKind], str | None] | None = None) -> Person:
    """Only the signer ``name`` (``edoc sign-pdf --as NAME``: a chairman at his own
    machine with his token needs neither the office's key nor its seal)."""
    section = settings.signers.get(name)
    if section is None:
        known = ", ".join(sorted(settings.signers)) or "-"
        raise ConfigError(
            f"Không có mục [signers.{name}] trong cấu hình (có: {known})",
            f"no [signers.{name}] section in the settings (known: {known})",
            step=f"config.signers.{name}",
        )
    from .wiring import validation_source

    return _person(name, section, secret, settings.tsa, validation_source(settings))


def _nfc(text: str) -> str:
    import unicodedata

    return unicodedata.normalize("NFC", text)


def load_visible(settings: Settings, *,
                 material: signing.ValidationMaterialSource | None = None,
                 ) -> VisibleSignatures | None:
    """The seal and the signers the settings configure (None when neither is): every
    image checked and every key opened now, once. ``material`` (else the settings' own)
    gives the signers' PDF signatures their CRLs and OCSP answers."""
    office = settings.office
    seal_path = office.seal_image if office is not None else None
    if seal_path is None and not settings.signers:
        return None
    seal = None
    if seal_path is not None:
        assert office is not None
        try:
            image = read_png(seal_path, "office.seal_image")
        except RenderError as exc:
            raise _config_error("office.seal_image", exc) from exc
        seal = SealLook(image, _nfc(office.name), office.seal_size_mm)
    if material is None and settings.signers:
        from .wiring import validation_source

        material = validation_source(settings)
    people = {name: _person(name, section, tsa=settings.tsa, material=material)
              for name, section in settings.signers.items()}
    return VisibleSignatures(seal=seal, people=people)


def render_for_signing(visible: VisibleSignatures, person: Person | None,
                       content: Plan | Report) -> bytes:
    """``content`` rendered with the fields of the two-step flow (no number yet unless the
    content has one), unsigned."""
    return render_pdf(content, block=visible.block(person))


def sign_as(person: Person, pdf: bytes, *, reason: str | None = None,
            timestamper: object = None) -> bytes:
    """Step 1: ``person`` signs ``pdf`` with his own key, into the signer's field with his
    signature image (a new, invisible field when the PDF was not rendered with one)."""
    state = field_state(pdf)
    if state.get(SIGNER_FIELD):
        raise TwoStepError(
            f"Tệp PDF đã có chữ ký của người ký ({SIGNER_FIELD})",
            f"the PDF is signed by its signer already ({SIGNER_FIELD})",
            step="pdf-signature.signer",
        )
    # without the field (a PDF not rendered here) the signature goes in a new, invisible one
    appearance = signer_appearance(person.look) if person.look is not None else None
    return sign_pdf(pdf, person.signer, field=SIGNER_FIELD, appearance=appearance,
                    reason=reason, timestamper=timestamper)


def issue_pdf(
    visible: VisibleSignatures | None,
    signer: signing.Signer,
    pdf: bytes,
    *,
    number: str | None,
    when: dt.datetime,
    roots: Sequence[x509.Certificate] = (),
    tsa_roots: Sequence[x509.Certificate] = (),
    reason: str | None = None,
    timestamper: object = None,
    font_dir: str | os.PathLike[str] | None = None,
) -> bytes:
    """Step 2: the văn thư issues ``pdf`` (signed by its signer) with the organisation's
    key, filling the number when the PDF has the field for it.

    The signer's signature is checked first (pdfcheck under ``roots``): a PDF changed
    after it was signed (an incremental update slipped in) or whose signature is broken
    is refused, so the organisation never seals what the signer did not sign. An
    untrusted signer (no ``roots``) is not refused here: the office's own trust decides
    that elsewhere.
    """
    state = field_state(pdf)
    if not any(state.values()):
        raise TwoStepError(
            "Tệp PDF chưa có chữ ký của người ký: người có thẩm quyền ký trước",
            "the PDF carries no signer's signature: the person with authority signs first",
            step="pdf-signature.signer",
        )
    if state.get(ORGANISATION_FIELD):
        raise TwoStepError(
            "Tệp PDF đã có chữ ký của cơ quan", "the PDF carries the organisation's signature "
            "already", step="pdf-signature.organisation",
        )
    checked = check_pdf(pdf, roots, tsa_roots=tsa_roots)
    if checked.verdict in (PdfVerdict.INVALID, PdfVerdict.ERROR):
        raise TwoStepError(
            f"Chữ ký của người ký trên tệp PDF không hợp lệ ({checked.reason}): không phát "
            "hành",
            f"the signer's signature on the PDF is not valid ({checked.reason}): not issued",
            step="pdf-signature.signer",
        )
    fill = {NUMBER_FIELD: number} if number and NUMBER_FIELD in text_fields(pdf) else None
    appearance = (organisation_appearance(visible.seal, when, font_dir)
                  if visible is not None and visible.seal is not None else None)
    return sign_pdf(pdf, signer, field=ORGANISATION_FIELD, appearance=appearance,
                    fill=fill, reason=reason, timestamper=timestamper)
