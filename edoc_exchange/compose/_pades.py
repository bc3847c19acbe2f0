"""PAdES signatures of rendered PDFs, through pyhanko, with our own signers.

pyhanko signs with its own signer objects; :class:`PadesSigner` is one whose raw signature
is ``signer.key.sign(...)``, the same call the edXML signature makes, so a key held in
memory and a key on a PKCS#11 token (whose adapter forwards ``sign`` to the token) sign PDFs
alike, and the token key never leaves the token.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from asn1crypto import algos  # type: ignore[import-untyped]
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko.pdf_utils import content
from pyhanko.pdf_utils import generic as _generic
from pyhanko.pdf_utils import layout as _layout
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko.sign.fields import SigFieldSpec, SigSeedSubFilter, append_signature_field
from pyhanko.sign.general import SigningError
from pyhanko.stamp import StaticStampStyle
from pyhanko_certvalidator.registry import SimpleCertificateStore

from ..errors import EdocError
from ..signing import (
    Signer,
    Timestamper,
    TimestampError,
    sign_data,
    timestamp_skipped,
    timestamper_of,
    validation_material_of,
)
from .errors import RenderError
from .stamps import ORGANISATION_FIELD, SIGNER_FIELD

# pyhanko's object and layout constructors are untyped: used through Any, checked by tests
generic: Any = _generic
layout: Any = _layout

__all__ = [
    "ORGANISATION_FIELD",
    "SIGNER_FIELD",
    "Appearance",
    "FieldSlot",
    "PadesSigner",
    "add_fields",
    "field_box",
    "field_state",
    "sign",
    "text_fields",
    "unsigned_before",
]

#: The field the signature goes into; one signature per composed PDF.
FIELD_NAME = "Signature1"


class PadesSigner(signers.Signer):
    """A pyhanko signer over one of our signers: RSA PKCS#1 v1.5 or ECDSA, with SHA-256."""

    def __init__(self, signer: Signer) -> None:
        if not signer.certificates:
            raise RenderError(
                "Người ký không có chứng thư số",
                "the signer has no certificate",
                step="pdf-signature",
            )
        certs = [
            asn1_x509.Certificate.load(c.public_bytes(Encoding.DER)) for c in signer.certificates
        ]
        public = signer.certificates[0].public_key()
        if isinstance(public, rsa.RSAPublicKey):
            mechanism = "sha256_rsa"
            self._size = public.key_size // 8
        elif isinstance(public, ec.EllipticCurvePublicKey):
            mechanism = "sha256_ecdsa"
            self._size = 2 * ((public.key_size + 7) // 8) + 9  # the longest DER encoding
        else:
            raise RenderError(
                "Loại khóa không ký PDF được (cần RSA hoặc ECDSA)",
                "this key type cannot sign a PDF (RSA or ECDSA needed)",
                step="pdf-signature",
            )
        self._signer = signer
        super().__init__(
            signing_cert=certs[0],
            cert_registry=SimpleCertificateStore.from_certs(  # type: ignore[no-untyped-call]
                certs[1:]
            ),
            signature_mechanism=algos.SignedDigestAlgorithm({"algorithm": mechanism}),
        )

    async def async_sign_raw(
        self, data: bytes, digest_algorithm: str, dry_run: bool = False
    ) -> bytes:
        """Sign ``data`` (the DER of the signed attributes) with the signer's key."""
        if digest_algorithm != "sha256":
            raise SigningError(f"only SHA-256 is used here, not {digest_algorithm}")
        if dry_run:  # pyhanko sizes the placeholder first: never touch the token for it
            return bytes(self._size)
        return sign_data(self._signer, data)


#: Draws a field's appearance: given its width and height (points), a one-page PDF.
Appearance = Callable[[float, float], bytes]


@dataclass(frozen=True)
class FieldSlot:
    """Where the renderer left room for a field: its name, kind, page (0-based), box."""

    name: str
    kind: str  # "signature" or "text"
    page: int
    box: tuple[float, float, float, float]  # ll_x, ll_y, ur_x, ur_y


class _PdfBytesPage(content.PdfContent):
    """The first page of a PDF held in memory, as a form XObject (pyhanko's ImportedPdfPage
    reads a file; an appearance is made per signature and never touches the disk)."""

    def __init__(self, pdf: bytes) -> None:
        super().__init__()
        self._pdf = pdf

    def render(self) -> bytes:
        writer = self._ensure_writer
        reader = PdfFileReader(io.BytesIO(self._pdf))
        xobj = writer.import_page_as_xobject(reader, page_ix=0)
        name = "/Look" + uuid.uuid4().hex
        self.resources.xobject[name] = xobj
        x1, y1, x2, y2 = xobj.get_object()["/BBox"]
        self.box = layout.BoxConstraints(width=abs(x1 - x2), height=abs(y1 - y2))
        return name.encode("ascii") + b" Do"


def _style(look: bytes) -> StaticStampStyle:
    return StaticStampStyle(
        background=_PdfBytesPage(look),
        border_width=0,
        background_opacity=1.0,
        background_layout=layout.SimpleBoxLayoutRule(
            x_align=layout.AxisAlignment.ALIGN_MID,
            y_align=layout.AxisAlignment.ALIGN_MID,
            margins=layout.Margins.uniform(0),
        ),
    )


def _fields(reader: Any) -> dict[str, Any]:
    """The form's terminal fields by name (the widgets are merged into them here)."""
    form = reader.root.get("/AcroForm")
    if form is None:
        return {}
    found: dict[str, Any] = {}
    for ref in form.get_object().get("/Fields", []):
        field = ref.get_object()
        found[str(field.get("/T", ""))] = (ref, field)
    return found


def field_box(pdf: bytes, name: str) -> tuple[float, float, float, float] | None:
    """The rectangle of the field ``name`` in ``pdf`` (None when it has none)."""
    found = _fields(PdfFileReader(io.BytesIO(pdf), strict=False)).get(name)
    if found is None or "/Rect" not in found[1]:
        return None
    x1, y1, x2, y2 = (float(v) for v in found[1]["/Rect"])
    return min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)


def field_state(pdf: bytes) -> dict[str, bool]:
    """Each signature field's name with whether it is signed already."""
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    return {name: "/V" in field for name, (_ref, field) in _fields(reader).items()
            if field.get("/FT") == "/Sig"}


def text_fields(pdf: bytes) -> set[str]:
    """The names of the PDF's text fields (the number the văn thư fills)."""
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    return {name for name, (_ref, field) in _fields(reader).items() if field.get("/FT") == "/Tx"}


def unsigned_before(pdf: bytes, field: str) -> bytes:
    """``pdf`` as it was before the signature in ``field`` was added (the revisions before
    it): what a returned draft goes back to. ``pdf`` itself when that field is unsigned."""
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    for sig in reader.embedded_signatures:
        if sig.field_name != field:
            continue
        contents_at = int(sig.byte_range[1])
        end = pdf.rfind(b"%%EOF", 0, contents_at)
        if end < 0:
            break
        end += len(b"%%EOF")
        while end < len(pdf) and pdf[end:end + 1] in (b"\r", b"\n"):
            end += 1
        return pdf[:end]
    return pdf


def add_fields(pdf: bytes, slots: Sequence[FieldSlot]) -> bytes:
    """``pdf`` with empty fields at ``slots`` (one incremental update), so that the
    signatures made later fill fields the document was drawn with."""
    writer: Any = IncrementalPdfFileWriter(io.BytesIO(pdf))
    texts = [slot for slot in slots if slot.kind == "text"]
    for slot in slots:
        if slot.kind == "signature":
            box = tuple(round(v) for v in slot.box)
            append_signature_field(writer, SigFieldSpec(
                sig_field_name=slot.name, on_page=slot.page,
                box=(box[0], box[1], box[2], box[3])))
    if texts:
        form_ref = writer.root.raw_get("/AcroForm")
        form = form_ref.get_object()
        fonts = generic.DictionaryObject({
            generic.NameObject("/TiRo"): writer.add_object(generic.DictionaryObject({
                generic.NameObject("/Type"): generic.NameObject("/Font"),
                generic.NameObject("/Subtype"): generic.NameObject("/Type1"),
                generic.NameObject("/BaseFont"): generic.NameObject("/Times-Roman"),
                generic.NameObject("/Encoding"): generic.NameObject("/WinAnsiEncoding"),
            }))
        })
        form[generic.NameObject("/DR")] = generic.DictionaryObject(
            {generic.NameObject("/Font"): fonts})
        form[generic.NameObject("/DA")] = generic.TextStringObject("/TiRo 13 Tf 0 g")
        for slot in texts:
            page_ref = writer.find_page_for_modification(slot.page)[0]
            page = page_ref.get_object()
            widget = generic.DictionaryObject({
                generic.NameObject("/Type"): generic.NameObject("/Annot"),
                generic.NameObject("/Subtype"): generic.NameObject("/Widget"),
                generic.NameObject("/FT"): generic.NameObject("/Tx"),
                generic.NameObject("/T"): generic.TextStringObject(slot.name),
                generic.NameObject("/Rect"): generic.ArrayObject(
                    generic.FloatObject(round(v, 2)) for v in slot.box),
                generic.NameObject("/F"): generic.NumberObject(4),
                generic.NameObject("/P"): page_ref,
                generic.NameObject("/DA"): generic.TextStringObject("/TiRo 13 Tf 0 g"),
                generic.NameObject("/Q"): generic.NumberObject(1),
            })
            ref = writer.add_object(widget)
            annots = page.get("/Annots")
            if annots is None:
                page[generic.NameObject("/Annots")] = generic.ArrayObject([ref])
                writer.update_container(page)
            else:
                annots.get_object().append(ref)
                writer.update_container(annots)
            form["/Fields"].append(ref)
            writer.update_container(form["/Fields"])
        writer.update_container(form)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _fill(writer: IncrementalPdfFileWriter, values: Mapping[str, str]) -> None:
    """Fill text fields (value and appearance): form filling, which a signature made
    before allows (pyhanko's difference analysis: FORM_FILLING, not OTHER)."""
    found = _fields(writer.prev)
    for name, value in values.items():
        if name not in found:
            raise RenderError(
                f"Tệp PDF không có ô {name} để điền", f"the PDF has no field {name} to fill",
                step=f"pdf-field.{name}",
            )
        ref, _old = found[name]
        field = ref.get_object()
        x1, y1, x2, y2 = (float(v) for v in field["/Rect"])
        width, height = abs(x2 - x1), abs(y2 - y1)
        text = value.encode("latin-1", errors="replace")
        escaped = text.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")
        # against the "/" that follows, as a number written in: Times digits are 0.5 em
        x = max(0.0, width - 13 * 0.5 * len(text) - 0.5)
        stream = generic.StreamObject(
            {
                generic.NameObject("/Type"): generic.NameObject("/XObject"),
                generic.NameObject("/Subtype"): generic.NameObject("/Form"),
                generic.NameObject("/BBox"): generic.ArrayObject(
                    [generic.FloatObject(0), generic.FloatObject(0),
                     generic.FloatObject(round(width, 2)), generic.FloatObject(round(height, 2))]),
                generic.NameObject("/Resources"): generic.DictionaryObject({
                    generic.NameObject("/Font"): writer.root["/AcroForm"]["/DR"]["/Font"],
                }),
            },
            stream_data=(b"/Tx BMC q BT /TiRo 13 Tf 0 g %.2f %.2f Td (" % (x, 3.5)
                         + escaped + b") Tj ET Q EMC"),
        )
        field[generic.NameObject("/V")] = generic.TextStringObject(value)
        field[generic.NameObject("/AP")] = generic.DictionaryObject(
            {generic.NameObject("/N"): writer.add_object(stream)})
        writer.mark_update(ref)


@dataclass(frozen=True)
class _Slot:
    """Where a signature goes: the field, how its widget looks, what it fills in."""

    name: str
    appearance: Appearance | None
    fill: Mapping[str, str] | None


def sign(
    pdf: bytes,
    signer: Signer,
    *,
    reason: str | None = None,
    location: str | None = None,
    field: str | None = None,
    appearance: Appearance | None = None,
    fill: Mapping[str, str] | None = None,
    timestamper: Timestamper | None = None,
) -> bytes:
    """``pdf`` with a PAdES signature appended incrementally: baseline B, or B-T with an
    RFC 3161 signature timestamp from ``timestamper`` (or the one a TimestampedSigner
    carries), followed by a DSS with the certificates a validator needs later and the
    CRLs and OCSP answers the signer's validation-material source gives (PAdES LT).

    ``field`` names the field to sign: an empty one the PDF was drawn with, else a new,
    invisible one of that name; ``appearance`` draws its widget (see :mod:`.stamps`);
    ``fill`` gives text fields their values in the same update, so the signature covers
    them (the văn thư's number).

    When the TSA fails: :class:`TimestampError` if it is required, else the PDF is signed
    without a timestamp and a warning says so.
    """
    slot = _Slot(field or FIELD_NAME, appearance, fill)
    timestamper = timestamper or timestamper_of(signer)
    if timestamper is not None:
        try:
            stamped = _sign(pdf, signer, reason, location, _pyhanko_stamper(timestamper), slot)
        except TimestampError as exc:
            if timestamper.required:
                raise
            timestamp_skipped(exc)
        else:
            return _with_validation_info(stamped, signer, timestamper, slot.name)
    return _sign(pdf, signer, reason, location, None, slot)



def _pyhanko_stamper(timestamper: Timestamper) -> Any:
    from pyhanko.sign.timestamps.api import TimeStamper

    if not isinstance(timestamper, TimeStamper):
        raise RenderError(
            "Máy chủ dấu thời gian này không dùng được để ký PDF",
            f"this timestamper cannot stamp a PDF signature ({type(timestamper).__name__})",
            step="timestamp",
        )
    return timestamper


def _with_validation_info(
    pdf: bytes, signer: Signer, timestamper: Timestamper, field: str
) -> bytes:
    """Append a DSS (PAdES long-term validation material): the signer's certificates and
    the TSA's (from its tokens, and the TSA roots it is checked against), and, when the
    signer carries a source of them (the office's revocation checker), their issuers and
    the CRLs and OCSP answers about them, tied to the signature by a VRI entry. Material
    that cannot be had leaves the DSS with what there is: the PDF is signed anyway."""
    from cryptography import x509 as crypto_x509
    from pyhanko.sign.validation.dss import DocumentSecurityStore

    certs: dict[bytes, asn1_x509.Certificate] = {}
    for cert in signer.certificates:
        der = cert.public_bytes(Encoding.DER)
        certs[der] = asn1_x509.Certificate.load(der)
    tsa_certs: list[bytes] = []
    for found in getattr(timestamper, "cert_registry", ()):
        certs[found.dump()] = found
        tsa_certs.append(found.dump())
    for root in getattr(timestamper, "roots", ()):
        der = root.public_bytes(Encoding.DER)
        certs[der] = asn1_x509.Certificate.load(der)
    crls: list[Any] = []
    ocsps: list[Any] = []
    source = validation_material_of(signer)
    if source is not None:
        from asn1crypto import crl as asn1_crl
        from asn1crypto import ocsp as asn1_ocsp

        asked = [*signer.certificates,
                 *(crypto_x509.load_der_x509_certificate(der) for der in tsa_certs)]
        material = source(asked)
        for cert in material.certificates:
            der = cert.public_bytes(Encoding.DER)
            certs.setdefault(der, asn1_x509.Certificate.load(der))
        crls = [asn1_crl.CertificateList.load(der) for der in dict.fromkeys(material.crls)]
        ocsps = [asn1_ocsp.OCSPResponse.load(der) for der in dict.fromkeys(material.ocsps)]
    out = io.BytesIO(pdf)
    try:
        contents = None
        if crls or ocsps:  # the VRI entry: keyed by the SHA-1 of the signature's /Contents
            reader = PdfFileReader(io.BytesIO(pdf), strict=False)
            for embedded in reader.embedded_signatures:
                if embedded.field_name == field:
                    contents = bytes(embedded.sig_object["/Contents"])
        DocumentSecurityStore.add_dss(
            out, contents, certs=list(certs.values()), crls=crls, ocsps=ocsps
        )
    except (PdfError, ValueError) as exc:
        raise RenderError(
            f"Không thêm được dữ liệu kiểm tra lâu dài (DSS): {exc}",
            f"cannot add the long-term validation data (DSS): {exc}",
            step="pdf-signature",
        ) from exc
    return out.getvalue()


def _sign(
    pdf: bytes,
    signer: Signer,
    reason: str | None,
    location: str | None,
    timestamper: Any,
    slot: _Slot,
) -> bytes:
    name, appearance, fill = slot.name, slot.appearance, slot.fill
    meta = signers.PdfSignatureMetadata(
        field_name=name,
        md_algorithm="sha256",
        subfilter=SigSeedSubFilter.PADES,
        reason=reason,
        location=location,
    )
    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
        style = None
        found = _fields(writer.prev).get(name)
        if found is not None and found[1].get("/FT") != "/Sig":
            raise RenderError(
                f"Ô {name} của tệp PDF không phải ô ký", f"field {name} is not a signature field",
                step=f"pdf-field.{name}",
            )
        if found is not None:  # an empty field the document was drawn with
            if "/V" in found[1]:
                raise RenderError(
                    f"Ô ký {name} đã được ký", f"signature field {name} is signed already",
                    step=f"pdf-field.{name}",
                )
            if appearance is not None:
                x1, y1, x2, y2 = (float(v) for v in found[1]["/Rect"])
                style = _style(appearance(abs(x2 - x1), abs(y2 - y1)))
        if fill:
            _fill(writer, fill)
        pdf_signer = signers.PdfSigner(meta, signer=PadesSigner(signer), stamp_style=style,
                                       timestamper=timestamper)
        output = pdf_signer.sign_pdf(writer, existing_fields_only=found is not None)
    except EdocError:
        raise  # the token's or key's own error says more than ours would
    except (SigningError, PdfError, ValueError, KeyError) as exc:
        raise RenderError(
            f"Không ký được tệp PDF: {exc}", f"cannot sign the PDF: {exc}", step="pdf-signature"
        ) from exc
    except RuntimeError as exc:
        if "event loop" not in str(exc):
            raise
        raise RenderError(
            "Không ký PDF được trong một vòng lặp asyncio đang chạy; gọi từ một luồng khác",
            "cannot sign a PDF inside a running asyncio loop; call it from a thread",
            step="pdf-signature",
        ) from exc
    data: bytes = output.getvalue()
    return data
