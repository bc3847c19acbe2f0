"""What the signatures look like on the page (Nghị định 30/2020/NĐ-CP, Phụ lục I).

The signer's signature image sits centred between his title and his name; the
organisation's seal (red, at its real size) covers about the left third of it; the
organisation's name and the signing time (ISO 8601, Vietnam time) are printed under the
seal in blue, Times (Liberation Serif) 10 pt. Each is the appearance of a PAdES
signature's widget, so what the page shows is what was signed, and a viewer shows it
even when it cannot check the signature.

Images are read and checked once, when the configuration is loaded (:func:`read_png`):
a file that is missing, is not a PNG, or is absurdly small or large is refused there,
naming the setting, and never halfway through signing a document.
"""

from __future__ import annotations

import datetime as dt
import io
import os
from dataclasses import dataclass
from pathlib import Path

from reportlab.lib import colors
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen.canvas import Canvas

from ..vntime import to_vn_time
from .errors import RenderError

__all__ = [
    "MAX_IMAGE_PIXELS",
    "MIN_IMAGE_PIXELS",
    "NUMBER_FIELD",
    "ORGANISATION_FIELD",
    "SIGNER_FIELD",
    "SealLook",
    "SignatureLook",
    "iso_vn",
    "read_png",
    "seal_appearance",
    "signature_appearance",
]

#: Bounds of a signature or seal image, in pixels on each side: under this it is an icon,
#: over it a photograph that would make every document megabytes large.
MIN_IMAGE_PIXELS = 32
MAX_IMAGE_PIXELS = 4000
#: The largest image file accepted (bytes).
MAX_IMAGE_BYTES = 4 * 1024 * 1024

#: The fields of the two-step flow (Nghị định 30): the signer's own signature first, then
#: the organisation's (the seal, issued by the văn thư), and the number the văn thư fills in.
SIGNER_FIELD = "Signer"
ORGANISATION_FIELD = "Organisation"
NUMBER_FIELD = "Number"

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
#: The decree's blue for the organisation's information (a plain, readable blue).
INFO_BLUE = colors.Color(0, 0, 0.8)
INFO_SIZE = 10
INFO_LEADING = 12


def _bad(setting: str, vi: str, en: str) -> RenderError:
    return RenderError(f"{setting}: {vi}", f"{setting}: {en}", step=setting)


def read_png(path: str | os.PathLike[str], setting: str) -> bytes:
    """The PNG at ``path``, checked (a real PNG, each side within the bounds); raises
    :class:`RenderError` naming ``setting`` (``office.seal_image`` ...) otherwise."""
    from PIL import Image, UnidentifiedImageError

    file = Path(path)
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        raise _bad(setting, f"không có tệp ảnh {file}", f"image file {file} not found") from None
    except OSError as exc:
        raise _bad(setting, f"không đọc được tệp ảnh {file}: {exc}",
                   f"cannot read image file {file}: {exc}") from None
    if len(data) > MAX_IMAGE_BYTES:
        raise _bad(setting, f"tệp ảnh {file} quá lớn ({len(data)} byte)",
                   f"image file {file} is too large ({len(data)} bytes)")
    if not data.startswith(_PNG_MAGIC):
        raise _bad(setting, f"tệp {file} không phải ảnh PNG (cần PNG nền trong suốt)",
                   f"{file} is not a PNG image (a PNG with a transparent background is needed)")
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise _bad(setting, f"tệp PNG {file} hỏng: {exc}",
                   f"PNG file {file} is damaged: {exc}") from None
    for side in (width, height):
        if not MIN_IMAGE_PIXELS <= side <= MAX_IMAGE_PIXELS:
            raise _bad(
                setting,
                f"ảnh {file} {width}x{height} điểm ảnh: mỗi cạnh cần từ {MIN_IMAGE_PIXELS} "
                f"đến {MAX_IMAGE_PIXELS}",
                f"image {file} is {width}x{height} pixels: each side must be "
                f"{MIN_IMAGE_PIXELS} to {MAX_IMAGE_PIXELS}",
            )
    return data


def _size(png: bytes) -> tuple[int, int]:
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        width, height = image.size
    return int(width), int(height)


@dataclass(frozen=True)
class SignatureLook:
    """A signer's signature image (PNG bytes, checked)."""

    image: bytes

    @property
    def aspect(self) -> float:
        """Width over height, for the box the renderer leaves for it."""
        width, height = _size(self.image)
        return width / height


@dataclass(frozen=True)
class SealLook:
    """The organisation's seal (PNG bytes, checked), its real diameter, its printed name."""

    image: bytes
    organisation: str
    size_mm: float = 35.0

    @property
    def size(self) -> float:
        """The seal's side in points."""
        return self.size_mm * mm


def iso_vn(moment: dt.datetime) -> str:
    """``2026-12-02T08:15:00+07:00``: the decree's ISO 8601 signing time, Vietnam time."""
    return to_vn_time(moment).replace(microsecond=0).isoformat()


def _page(width: float, height: float) -> tuple[io.BytesIO, Canvas]:
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=(width, height), invariant=1)
    return out, canvas


def signature_appearance(look: SignatureLook, width: float, height: float) -> bytes:
    """A one-page PDF ``width`` x ``height`` points: the image, as large as fits, centred."""
    out, canvas = _page(width, height)
    canvas.drawImage(ImageReader(io.BytesIO(look.image)), 0, 0, width, height,
                     mask="auto", preserveAspectRatio=True, anchor="c")
    canvas.showPage()
    canvas.save()
    return out.getvalue()


def seal_appearance(look: SealLook, when: dt.datetime, width: float, height: float,
                    font: str) -> bytes:
    """A one-page PDF ``width`` x ``height``: the seal at its real size at the top, centred,
    and under it the organisation's name and the signing time in blue, ``font`` 10 pt
    (a registered ReportLab font with the Vietnamese glyphs)."""
    out, canvas = _page(width, height)
    size = look.size
    canvas.drawImage(ImageReader(io.BytesIO(look.image)), (width - size) / 2, height - size,
                     size, size, mask="auto", preserveAspectRatio=True, anchor="c")
    canvas.setFillColor(INFO_BLUE)
    canvas.setFont(font, INFO_SIZE)
    lines = [look.organisation, iso_vn(when)]
    y = height - size - INFO_LEADING + 2
    for line in lines:
        canvas.drawCentredString(width / 2, y, line)
        y -= INFO_LEADING
    canvas.showPage()
    canvas.save()
    return out.getvalue()
