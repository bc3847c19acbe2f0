"""Render a plan or report to PDF in the layout of Nghị định 30/2020/NĐ-CP (Phụ lục I).

A4; margins top and bottom 20 mm, left 30 mm, right 15 mm; Liberation Serif (metric-
compatible with the Times New Roman the decree prescribes, with every Vietnamese glyph),
embedded as subsets. The page holds, in order: the two-column header (parent body over the
issuing body, bold, with a short rule | national name and motto with a rule), "Số: …" and
the italic place-date line, the title and subject, the body (numbered headings bold,
justified paragraphs with a first-line indent, dashes for bullets), then "Nơi nhận:" on
the left and the signature block on the right. Pages after the first carry their number
centred in the top margin.

The same document gives the same bytes: the PDF dates are the document's date and
ReportLab runs in invariant mode. With a signer the PDF is signed (PAdES baseline B,
pyhanko) with the same key as the edXML envelope; a key on a token signs on the token.

For the two-step flow (the signer's own signature, then the organisation's) a
:class:`SignatureBlock` makes the signature block leave room for both images and the PDF
carry empty fields where they go, recorded while the page is drawn (a flowable notes its
absolute position): the signer's field centred between his title and his name, the
organisation's over its left third, and, when the document has no number yet, a text
field in the ``Số:`` line that the văn thư fills as he issues it.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from pydantic import BaseModel
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_JUSTIFY, TA_LEFT, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    Flowable,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from ..atomicfile import write_atomically
from ..signing import Signer
from .errors import FontMissingError, RenderError
from .models import (
    Bullets,
    DimensionResult,
    Figure,
    Indicators,
    Plan,
    Report,
    Responsibilities,
    Section,
    Urgency,
)
from .stamps import (
    INFO_LEADING,
    INFO_SIZE,
    NUMBER_FIELD,
    ORGANISATION_FIELD,
    SIGNER_FIELD,
    SealLook,
    SignatureLook,
    seal_appearance,
    signature_appearance,
)

__all__ = [
    "FONT_DIRS",
    "Layout",
    "SignatureBlock",
    "date_line",
    "field_box",
    "field_state",
    "find_fonts",
    "number_label",
    "number_line",
    "organisation_appearance",
    "render_pdf",
    "sign_pdf",
    "signer_appearance",
    "text_fields",
    "unsigned_before",
    "write_pdf",
]

#: Where Debian's fonts-liberation2 (then fonts-liberation) puts Liberation Serif.
FONT_DIRS: tuple[Path, ...] = (
    Path("/usr/share/fonts/truetype/liberation2"),
    Path("/usr/share/fonts/truetype/liberation"),
)
_FONT_FILES = {
    "regular": "LiberationSerif-Regular.ttf",
    "bold": "LiberationSerif-Bold.ttf",
    "italic": "LiberationSerif-Italic.ttf",
    "bolditalic": "LiberationSerif-BoldItalic.ttf",
}


class Layout:
    """The decree's measures (Phụ lục I), in points; one place to read or change them."""

    page = A4
    top = 20 * mm  # 20-25 mm
    bottom = 20 * mm  # 20-25 mm
    left = 30 * mm  # 30-35 mm
    right = 15 * mm  # 15-20 mm
    width = A4[0] - left - right
    left_column = 74 * mm  # issuing body, number, recipients
    right_column = width - left_column  # national name and motto, date, signature
    body_size = 14  # 13-14
    body_leading = 17.5
    indent = 12.7 * mm  # first-line indent: 1 cm or 1.27 cm
    space_before = 6  # at least 6 pt between paragraphs
    signature_space = 28 * mm  # room for the handwritten signature and the seal


# --- fonts -------------------------------------------------------------------------------------


def find_fonts(font_dir: str | os.PathLike[str] | None = None) -> dict[str, Path]:
    """The four Liberation Serif files, from ``font_dir`` or the Debian locations.

    Raises :class:`FontMissingError` naming the package to install.
    """
    candidates = [Path(font_dir)] if font_dir is not None else list(FONT_DIRS)
    for directory in candidates:
        files = {style: directory / name for style, name in _FONT_FILES.items()}
        if all(path.is_file() for path in files.values()):
            return files
    where = ", ".join(str(d) for d in candidates)
    raise FontMissingError(
        f"Không tìm thấy phông Liberation Serif ở {where}; cài gói fonts-liberation2 "
        "(apt-get install fonts-liberation2) hoặc chỉ thư mục phông",
        f"Liberation Serif not found in {where}; install fonts-liberation2 "
        "(apt-get install fonts-liberation2) or give the font folder",
        step="font",
    )


@functools.cache
def _register(directory: Path) -> tuple[str, frozenset[int]]:
    """Register the family once per process; returns its name and the characters it has."""
    files = find_fonts(directory)
    family = f"EdocSerif{len(_registered)}"
    _registered.append(directory)
    names = {style: family if style == "regular" else f"{family}-{style}" for style in files}
    faces: list[TTFont] = []
    for style, path in files.items():
        try:
            faces.append(TTFont(names[style], str(path)))
            pdfmetrics.registerFont(faces[-1])
        except Exception as exc:  # ReportLab raises bare TTFError/OSError subclasses
            raise FontMissingError(
                f"Không đọc được tệp phông {path}: {exc}",
                f"cannot read the font file {path}: {exc}",
                step="font",
            ) from exc
    pdfmetrics.registerFontFamily(
        family,
        normal=names["regular"],
        bold=names["bold"],
        italic=names["italic"],
        boldItalic=names["bolditalic"],
    )
    covered = frozenset.intersection(*(frozenset(face.face.charToGlyph) for face in faces))
    return family, covered


_registered: list[Path] = []


def _fonts(font_dir: str | os.PathLike[str] | None) -> tuple[str, frozenset[int]]:
    files = find_fonts(font_dir)
    return _register(files["regular"].parent.resolve())


# --- styles ------------------------------------------------------------------------------------


class _Styles:
    """Paragraph styles of the layout, for one registered font family."""

    def __init__(self, family: str) -> None:
        bold, italic, bold_italic = f"{family}-bold", f"{family}-italic", f"{family}-bolditalic"

        def style(
            name: str,
            font: str = family,
            size: float = Layout.body_size,
            leading: float | None = None,
            **kw: Any,
        ) -> ParagraphStyle:
            return ParagraphStyle(
                name,
                fontName=font,
                bulletFontName=font,
                fontSize=size,
                leading=leading or size * 1.2,
                **kw,
            )

        self.header = style("header", size=13, alignment=TA_CENTER, leading=15)
        self.header_bold = style("header-bold", bold, 13, alignment=TA_CENTER, leading=15)
        self.nation = style("nation", bold, 12, alignment=TA_CENTER, leading=15)
        self.motto = style("motto", bold, 13, alignment=TA_CENTER, leading=15)
        self.number = style("number", size=13, alignment=TA_CENTER, leading=16)
        self.urgency = style("urgency", bold, 13, alignment=TA_CENTER, leading=16)
        self.date = style("date", italic, 14, alignment=TA_CENTER, leading=16)
        self.title = style("title", bold, 14, alignment=TA_CENTER, leading=17, spaceBefore=18)
        self.subject = style("subject", bold, 14, alignment=TA_CENTER, leading=17)
        body: dict[str, Any] = {"leading": Layout.body_leading, "spaceBefore": Layout.space_before}
        self.body = style("body", alignment=TA_JUSTIFY, firstLineIndent=Layout.indent, **body)
        # keepWithNext: a heading never ends a page alone.
        self.headings = [
            style(
                "h1",
                bold,
                alignment=TA_JUSTIFY,
                firstLineIndent=Layout.indent,
                keepWithNext=1,
                **body,
            ),
            style(
                "h2",
                bold,
                alignment=TA_JUSTIFY,
                firstLineIndent=Layout.indent,
                keepWithNext=1,
                **body,
            ),
            style(
                "h3",
                bold_italic,
                alignment=TA_JUSTIFY,
                firstLineIndent=Layout.indent,
                keepWithNext=1,
                **body,
            ),
        ]
        self.lead_in = style(
            "lead-in",
            italic,
            alignment=TA_JUSTIFY,
            firstLineIndent=Layout.indent,
            keepWithNext=1,
            **body,
        )
        self.cell = style("cell", size=12, leading=14)
        self.cell_number = style("cell-number", size=12, leading=14, alignment=TA_RIGHT)
        self.cell_head = style("cell-head", bold, 12, leading=14, alignment=TA_CENTER)
        self.recipients_label = style("recipients-label", bold_italic, 12, leading=14)
        self.recipients = style("recipients", size=11, leading=13, alignment=TA_LEFT)
        self.sign = style("sign", bold, 14, alignment=TA_CENTER, leading=17)
        self.page_font = family


# --- text pieces -------------------------------------------------------------------------------

_ROMAN = ((10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I"))


def _roman(number: int) -> str:
    out = ""
    for value, letters in (
        (1000, "M"),
        (900, "CM"),
        (500, "D"),
        (400, "CD"),
        (100, "C"),
        (90, "XC"),
        (50, "L"),
        (40, "XL"),
        *_ROMAN,
    ):
        while number >= value:
            out += letters
            number -= value
    return out


def _letter(number: int) -> str:
    # a) … z), then aa), ab) …: the Vietnamese alphabet has no f, j, w, z in numbering,
    # but documents number with the Latin letters in practice.
    letters = "abcdefghijklmnopqrstuvwxyz"
    out = ""
    while number > 0:
        number, rest = divmod(number - 1, 26)
        out = letters[rest] + out
    return out


def number_label(depth: int, number: int) -> str:
    """The printed number of a heading: ``I.`` at depth 1, ``1.`` at 2, ``a)`` at 3."""
    if depth == 1:
        return f"{_roman(number)}."
    if depth == 2:
        return f"{number}."
    return f"{_letter(number)})"


def date_line(place: str, day: int, month: int, year: int) -> str:
    """``Nậm Khánh, ngày 04 tháng 6 năm 2020``: a zero before days below 10 and months 1, 2."""
    day_text = f"{day:02d}"
    month_text = f"{month:02d}" if month <= 2 else str(month)
    return f"{place}, ngày {day_text} tháng {month_text} năm {year}"


def number_line(number: str | None, notation: str) -> str:
    """``Số: 12/KH-UBND``; a blank number leaves room to write it in (``Số:    /KH-UBND``)."""
    if number:
        return f"Số: {number}/{notation}"
    return f"Số:{chr(0xA0) * 6}/{notation}"


def _vn_number(value: Decimal) -> str:
    """A number as Vietnamese write it: ``1.234,5`` (dot for thousands, comma for decimals)."""
    text = format(value.normalize() if value == value.to_integral() else value, "f")
    if "E" in text or "e" in text:  # pragma: no cover (normalize of an integer)
        text = format(value.quantize(Decimal(1)), "f")
    sign = "-" if text.startswith("-") else ""
    whole, _, fraction = text.lstrip("-").partition(".")
    groups: list[str] = []
    while len(whole) > 3:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    groups.insert(0, whole)
    result = sign + ".".join(groups)
    return f"{result},{fraction}" if fraction else result


def _recipient_line(name: str) -> str:
    return f"- {name}" if name.endswith((";", ".", ",")) else f"- {name};"


def _filed_line(filed: str) -> str:
    line = f"- Lưu: {filed}"
    return line if filed.endswith((";", ".", ",")) else f"{line}."


# --- flowables ---------------------------------------------------------------------------------


def _balanced(text: str, style: ParagraphStyle, width: float) -> list[str]:
    """``text`` on one line if it fits, else on two lines of the most even widths.

    A long body name breaks where a clerk would break it ("ỦY BAN NHÂN DÂN" / "XÃ NẬM
    KHÁNH"), not wherever the last word happens to overflow.
    """

    def measure(line: str) -> float:
        return float(pdfmetrics.stringWidth(line, style.fontName, style.fontSize))

    if measure(text) <= width:
        return [text]
    words = text.split(" ")
    splits = [(" ".join(words[:i]), " ".join(words[i:])) for i in range(1, len(words))]
    fitting = [pair for pair in splits if max(map(measure, pair)) <= width]
    if not fitting:
        return [text]  # let the paragraph wrap it
    return list(min(fitting, key=lambda pair: max(map(measure, pair))))


class _Rule(Flowable):
    """A centred horizontal rule below the line above it (the decree's short rules).

    It takes the whole available width and centres itself, so it is centred in a table cell
    as in the frame, and it leaves room for the descenders of the line above.
    """

    def __init__(self, width: float, *, gap: float = 5, thickness: float = 0.6) -> None:
        super().__init__()
        self.rule_width = width
        self.gap = gap
        self.thickness = thickness
        self.avail = width

    def wrap(self, avail_width: float, avail_height: float) -> tuple[float, float]:
        self.avail = avail_width
        return avail_width, self.gap + self.thickness + 2

    def draw(self) -> None:
        x = max(0.0, (self.avail - self.rule_width) / 2)
        self.canv.setLineWidth(self.thickness)
        self.canv.line(x, 2, x + min(self.rule_width, self.avail), 2)


class _Slot(Flowable):
    """Room of a fixed size that records where it was drawn (page, absolute box), so that
    the renderer can put a signature field exactly there."""

    def __init__(self, width: float, height: float,
                 seen: Callable[[int, float, float], None]) -> None:
        super().__init__()
        self.slot_width = width
        self.slot_height = height
        self._seen = seen

    def wrap(self, avail_width: float, avail_height: float) -> tuple[float, float]:
        return self.slot_width, self.slot_height

    def draw(self) -> None:
        x, y = self.canv.absolutePosition(0, 0)
        self._seen(self.canv.getPageNumber() - 1, float(x), float(y))


class _NumberLine(Flowable):
    """``Số:`` + a blank the văn thư's number goes into + ``/notation``, centred; the blank's
    box is recorded for the text field the văn thư fills when issuing."""

    gap = 32.0  # room for a number of up to five digits

    def __init__(self, notation: str, style: ParagraphStyle,
                 seen: Callable[[int, float, float, float, float], None]) -> None:
        super().__init__()
        self.before, self.after = "Số:", f"/{notation}"
        self.style = style
        self._seen = seen
        self.avail = 0.0

    def wrap(self, avail_width: float, avail_height: float) -> tuple[float, float]:
        self.avail = avail_width
        return avail_width, float(self.style.leading)

    def draw(self) -> None:
        font, size = self.style.fontName, self.style.fontSize
        first = pdfmetrics.stringWidth(self.before, font, size)
        last = pdfmetrics.stringWidth(self.after, font, size)
        x = (self.avail - first - self.gap - last) / 2
        base = float(self.style.leading) - size
        self.canv.setFont(font, size)
        self.canv.drawString(x, base, self.before)
        self.canv.drawString(x + first + self.gap, base, self.after)
        left, bottom = self.canv.absolutePosition(x + first, base - 3.5)
        self._seen(self.canv.getPageNumber() - 1, float(left), float(bottom), self.gap,
                   float(size) + 2)


def _rule(width: float) -> _Rule:
    return _Rule(width)


def _p(text: str, style: ParagraphStyle) -> Paragraph:
    return Paragraph(escape(text), style)


class _Builder:
    """Turns a plan or report into the list of flowables of the decree's layout."""

    def __init__(self, document: Plan | Report, styles: _Styles,
                 block: SignatureBlock | None = None) -> None:
        self.doc = document
        self.s = styles
        self.block = block
        #: The fields to add once the PDF is drawn: name -> (kind, page, box).
        self.slots: dict[str, tuple[str, int, tuple[float, float, float, float]]] = {}

    def build(self) -> list[Flowable]:
        story: list[Flowable] = [self._header(), self._title()]
        story += [_p(text, self.s.body) for text in self.doc.preamble]
        counter = 0
        if isinstance(self.doc, Report):
            counter += 1
            story += self._results(self.doc, counter)
        for section in self.doc.sections:
            counter += 1
            story += self._section(section, 1, counter)
        story += [_p(text, self.s.body) for text in self.doc.closing]
        story += [Spacer(1, 10), self._signature()]
        return story

    def _header(self) -> Table:
        doc, s = self.doc, self.s
        left: list[Flowable] = []
        if doc.issuer.parent:
            left.append(_p(doc.issuer.parent.upper(), s.header))
        lines = _balanced(doc.issuer.name.upper(), s.header_bold, Layout.left_column - 4)
        left.append(Paragraph("<br/>".join(escape(line) for line in lines), s.header_bold))
        widest = max(pdfmetrics.stringWidth(line, s.header_bold.fontName, 13) for line in lines)
        left.append(_rule(widest / 3))
        nation = "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
        motto = "Độc lập - Tự do - Hạnh phúc"
        right: list[Flowable] = [
            _p(nation, s.nation),
            _p(motto, s.motto),
            _rule(pdfmetrics.stringWidth(motto, s.motto.fontName, 13)),
        ]
        number: list[Flowable] = [_p(number_line(doc.number, doc.notation), s.number)]
        if self.block is not None and not doc.number:
            def seen(page: int, x: float, y: float, w: float, h: float) -> None:
                self.slots[NUMBER_FIELD] = ("text", page, (x, y, x + w, y + h))

            number = [_NumberLine(doc.notation, s.number, seen)]
        if doc.urgency is not Urgency.THUONG:
            number.append(_p(doc.urgency.vi.upper(), s.urgency))
        when = date_line(doc.promulgation_place, doc.date.day, doc.date.month, doc.date.year)
        table = Table(
            [[left, right], [number, [_p(when, s.date)]]],
            colWidths=[Layout.left_column, Layout.right_column],
        )
        table.setStyle(
            TableStyle(
                [
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    # cells default to Helvetica, which would be referenced (never embedded)
                    ("FONTNAME", (0, 0), (-1, -1), s.page_font),
                    ("ALIGN", (0, 0), (-1, -1), "CENTER"),  # the rules under the names
                    ("LEFTPADDING", (0, 0), (-1, -1), 0),
                    ("RIGHTPADDING", (0, 0), (-1, -1), 0),
                    ("TOPPADDING", (0, 1), (-1, 1), 6),
                ]
            )
        )
        return table

    def _title(self) -> KeepTogether:
        s = self.s
        return KeepTogether(
            [
                _p(self.doc.kind_enum.printed_name, s.title),
                _p(self.doc.subject, s.subject),
                _rule(Layout.width / 4),
                Spacer(1, 4),
            ]
        )

    def _heading(self, depth: int, number: int, text: str) -> Paragraph:
        style = self.s.headings[min(depth, len(self.s.headings)) - 1]
        return _p(f"{number_label(depth, number)} {text}", style)

    def _section(self, section: Section, depth: int, number: int) -> list[Flowable]:
        out: list[Flowable] = [self._heading(depth, number, section.heading)]
        counter = 0
        for block in section.content:
            if isinstance(block, str):
                out.append(_p(block, self.s.body))
            elif isinstance(block, Section):
                counter += 1
                out += self._section(block, depth + 1, counter)
            elif isinstance(block, Bullets):
                out += [_p(f"- {item}", self.s.body) for item in block.bullets]
            elif isinstance(block, Indicators):
                out += [self._indicator(text, bulleted=block.bulleted) for text in block.indicators]
            elif isinstance(block, Responsibilities):
                for item in block.responsibilities:
                    counter += 1
                    out.append(_p(f"{number_label(depth + 1, counter)} {item.text}", self.s.body))
        return out

    def _indicator(self, text: str, *, bulleted: bool) -> Paragraph:
        # The indicator's name (up to the colon) in italics; the wording is kept as written.
        name, colon, rest = text.partition(":")
        dash = "- " if bulleted else ""
        markup = f"{escape(dash)}<i>{escape(name)}</i>{escape(colon + rest)}"
        return Paragraph(markup, self.s.body)

    def _results(self, report: Report, number: int) -> list[Flowable]:
        out: list[Flowable] = [self._heading(1, number, report.results_heading)]
        for index, result in enumerate(report.results, start=1):
            out += self._result(result, index)
        return out

    def _result(self, result: DimensionResult, number: int) -> list[Flowable]:
        s = self.s
        heading = f"Nội dung {result.dimension.number}: {result.dimension.vi}"
        out: list[Flowable] = [self._heading(2, number, heading)]
        out += [_p(text, s.body) for text in result.summary]
        if result.figures:
            out.append(Spacer(1, Layout.space_before))
            out.append(self._figures(result.figures))
        if result.difficulties:
            out.append(_p("Khó khăn, vướng mắc:", s.lead_in))
            out += [_p(f"- {text}", s.body) for text in result.difficulties]
        return out

    def _figures(self, figures: Sequence[Figure]) -> Table:
        s = self.s
        rows: list[list[Any]] = [
            [_p(text, s.cell_head) for text in ("TT", "Chỉ tiêu", "Kết quả", "Kế hoạch", "Đơn vị")]
        ]
        for index, figure in enumerate(figures, start=1):
            label = escape(figure.label)
            if figure.source:
                label += f" <i>({escape('nguồn: ' + figure.source)})</i>"
            rows.append(
                [
                    _p(str(index), s.cell),
                    Paragraph(label, s.cell),
                    _p(_vn_number(figure.value), s.cell_number),
                    _p(
                        _vn_number(figure.target) if figure.target is not None else "",
                        s.cell_number,
                    ),
                    _p(figure.unit or "", s.cell),
                ]
            )
        table = Table(rows, colWidths=[10 * mm, 85 * mm, 24 * mm, 24 * mm, 22 * mm], repeatRows=1)
        table.setStyle(
            TableStyle(
                [
                    ("GRID", (0, 0), (-1, -1), 0.5, colors.black),
                    ("FONTNAME", (0, 0), (-1, -1), s.page_font),
                    ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ]
            )
        )
        return table

    def _signature(self) -> KeepTogether:
        doc, s = self.doc, self.s
        left: list[Flowable] = [Paragraph(escape("Nơi nhận:"), s.recipients_label)]
        left += [_p(_recipient_line(r.name), s.recipients) for r in doc.recipients]
        left.append(_p(_filed_line(doc.filed), s.recipients))
        right: list[Flowable] = []
        if doc.signer.competence:
            right.append(_p(doc.signer.competence.upper(), s.sign))
        right.append(_p(doc.signer.position.upper(), s.sign))
        if self.block is None:
            right.append(Spacer(1, Layout.signature_space))
        else:
            right.append(self._visible_slot(self.block))
        right.append(_p(doc.signer.name, s.sign))
        table = Table([[left, right]], colWidths=[Layout.left_column, Layout.right_column])
        table.setStyle(
            TableStyle(
                [
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    # cells default to Helvetica, which would be referenced (never embedded)
                    ("FONTNAME", (0, 0), (-1, -1), s.page_font),
                    ("LEFTPADDING", (0, 0), (-1, -1), 0),
                    ("RIGHTPADDING", (0, 0), (-1, -1), 0),
                ]
            )
        )
        return KeepTogether([table])

    def _visible_slot(self, block: SignatureBlock) -> _Slot:
        """Room between the title and the name for both signatures (Phụ lục I): the signer's
        image centred, the seal over its left third, the organisation's lines under the seal."""
        width = Layout.right_column
        seal = block.seal_size
        info = INFO_LEADING * 2 + 4
        height = max(Layout.signature_space, seal + info)
        sig_h = block.signature_height
        sig_w = min(sig_h * block.signature_aspect, width * 0.7)
        sig_h = sig_w / block.signature_aspect
        text_w = pdfmetrics.stringWidth(block.organisation, self.s.page_font, INFO_SIZE)
        text_w = max(text_w, pdfmetrics.stringWidth("0000-00-00T00:00:00+07:00",
                                                    self.s.page_font, INFO_SIZE))
        org_w = max(seal, text_w + 4)

        def seen(page: int, x: float, y: float) -> None:
            top = y + height
            sig_x = x + (width - sig_w) / 2
            sig_y = top - seal / 2 - sig_h / 2
            self.slots[SIGNER_FIELD] = ("signature", page,
                                        (sig_x, sig_y, sig_x + sig_w, sig_y + sig_h))
            centre = sig_x + sig_w / 3 - seal / 2  # the seal's right edge at a third
            self.slots[ORGANISATION_FIELD] = (
                "signature", page, (centre - org_w / 2, top - seal - info, centre + org_w / 2, top)
            )

        return _Slot(width, height, seen)


@dataclass(frozen=True)
class SignatureBlock:
    """Room for the visible signatures of the two-step flow (Nghị định 30, Phụ lục I): the
    signer's image (its width over height), the seal's real size and the organisation's
    printed name. Rendering with one leaves the number blank as a field for the văn thư
    when the document has none yet."""

    signature_aspect: float = 2.0
    seal_size: float = 35 * mm
    organisation: str = ""
    signature_height: float = 24 * mm

    @classmethod
    def of(cls, signature: SignatureLook | None, seal: SealLook | None) -> SignatureBlock:
        """The block the configured images need (defaults for a missing one)."""
        return cls(
            signature_aspect=signature.aspect if signature is not None else 2.0,
            seal_size=seal.size if seal is not None else 35 * mm,
            organisation=seal.organisation if seal is not None else "",
        )


def signer_appearance(look: SignatureLook) -> Callable[[float, float], bytes]:
    """The signer's widget drawer for :func:`sign_pdf` (the image, filling its field)."""
    return lambda width, height: signature_appearance(look, width, height)


def organisation_appearance(
    look: SealLook, when: dt.datetime, font_dir: str | os.PathLike[str] | None = None
) -> Callable[[float, float], bytes]:
    """The organisation's widget drawer: the seal, its name and ``when`` in blue."""
    family, _covered = _fonts(font_dir)
    return lambda width, height: seal_appearance(look, when, width, height, family)


def _texts(document: Plan | Report) -> Iterator[tuple[str, str]]:
    """Every text field with its name, for the font coverage check."""

    def walk(value: Any, path: str) -> Iterator[tuple[str, str]]:
        if isinstance(value, str):
            yield path, value
        elif isinstance(value, list | tuple):
            for index, item in enumerate(value):
                yield from walk(item, f"{path}[{index}]")
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                yield from walk(getattr(value, name), f"{path}.{name}" if path else name)

    yield from walk(document, "")


def _check_coverage(document: Plan | Report, covered: frozenset[int]) -> None:
    # ReportLab would draw a missing glyph as an empty box, silently: refuse instead.
    for path, text in _texts(document):
        for char in text:
            if ord(char) not in covered and not char.isspace():
                raise RenderError(
                    f"Phông chữ không có ký tự '{char}' (U+{ord(char):04X}) ở {path}; "
                    "hãy gõ lại ký tự đó",
                    f"the font has no glyph for '{char}' (U+{ord(char):04X}) in {path}; "
                    "retype that character",
                    step=path,
                )


# --- PDF ---------------------------------------------------------------------------------------


class _FixedTime:
    """ReportLab's time stamp, fixed to the document's date at 00:00 Vietnam time."""

    def __init__(self, year: int, month: int, day: int) -> None:
        self.YMDhms = (year, month, day, 0, 0, 0)
        self.dhh = 7
        self.dmm = 0
        self.tzname = "ICT"


def render_pdf(
    document: Plan | Report,
    *,
    signer: Signer | None = None,
    font_dir: str | os.PathLike[str] | None = None,
    block: SignatureBlock | None = None,
) -> bytes:
    """The document as a PDF in the decree's layout; signed (PAdES B-B) when ``signer`` is given.

    With a ``block`` the signature block leaves room for the visible signatures and the
    PDF carries empty fields there (the signer's, the organisation's, and the number
    when there is none yet), which the two signatures of the two-step flow fill.

    Without a signer the bytes depend only on the document (and the ReportLab and font
    versions). Raises :class:`FontMissingError` when Liberation Serif is not installed,
    :class:`RenderError` for a character the font cannot draw or a failed signature, and
    the signer's own errors (a token that refuses) as they are.
    """
    family, covered = _fonts(font_dir)
    _check_coverage(document, covered)
    styles = _Styles(family)
    out = io.BytesIO()
    kind = document.kind_enum
    template = SimpleDocTemplate(
        out,
        pagesize=Layout.page,
        leftMargin=Layout.left,
        rightMargin=Layout.right,
        topMargin=Layout.top,
        bottomMargin=Layout.bottom,
        title=f"{kind.type_name} {document.code}: {document.subject}",
        author=document.issuer.name,
        subject=document.subject,
        creator="edoc-exchange",
        producer="edoc-exchange (ReportLab)",
        invariant=1,
        lang="vi-VN",
        initialFontName=family,
        initialFontSize=Layout.body_size,
    )
    fixed = _FixedTime(document.date.year, document.date.month, document.date.day)

    def canvas(*args: Any, **kwargs: Any) -> Canvas:
        made = Canvas(*args, **kwargs)
        made._doc._timeStamp = fixed  # type: ignore[attr-defined]
        return made

    def page_number(canv: Canvas, _doc: Any) -> None:
        # Decree: from the second page, the number centred in the top margin.
        canv.saveState()
        canv.setFont(family, 13)
        canv.drawCentredString(
            Layout.left + Layout.width / 2,
            Layout.page[1] - Layout.top / 2 - 4,
            str(canv.getPageNumber()),
        )
        canv.restoreState()

    builder = _Builder(document, styles, block)
    story = builder.build()
    template.build(story, onLaterPages=page_number, canvasmaker=canvas)
    pdf = out.getvalue()
    if block is not None:
        from ._pades import FieldSlot, add_fields

        pdf = add_fields(pdf, [FieldSlot(name, kind, page, box)
                               for name, (kind, page, box) in builder.slots.items()])
    if signer is not None:
        pdf = sign_pdf(
            pdf,
            signer,
            reason=f"{kind.type_name} {document.code}",
            location=document.promulgation_place,
        )
    return pdf


def write_pdf(
    document: Plan | Report,
    path: str | os.PathLike[str],
    *,
    signer: Signer | None = None,
    font_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """Render and write the PDF to ``path`` (replaced atomically); returns the path."""
    target = Path(path)
    return write_atomically(target, render_pdf(document, signer=signer, font_dir=font_dir))


# --- signing -----------------------------------------------------------------------------------


def field_state(pdf: bytes) -> dict[str, bool]:
    """Each signature field of ``pdf`` with whether it is signed (the two-step flow's
    progress: :data:`SIGNER_FIELD`, then :data:`ORGANISATION_FIELD`)."""
    from ._pades import field_state as state

    return state(pdf)


def text_fields(pdf: bytes) -> set[str]:
    """The names of the text fields of ``pdf`` (:data:`NUMBER_FIELD` when it is unnumbered)."""
    from ._pades import text_fields as names

    return names(pdf)


def unsigned_before(pdf: bytes, field: str) -> bytes:
    """``pdf`` without the signature in ``field`` and what came after it."""
    from ._pades import unsigned_before as before

    return before(pdf, field)


def field_box(pdf: bytes, name: str) -> tuple[float, float, float, float] | None:
    """The rectangle (points: left, bottom, right, top) of field ``name`` in ``pdf``."""
    from ._pades import field_box as box

    return box(pdf, name)


def sign_pdf(
    pdf: bytes,
    signer: Signer,
    *,
    reason: str | None = None,
    location: str | None = None,
    field: str | None = None,
    appearance: Callable[[float, float], bytes] | None = None,
    fill: dict[str, str] | None = None,
    timestamper: Any = None,
) -> bytes:
    """Add a PAdES baseline B signature (SHA-256) by ``signer`` to ``pdf``.

    ``field`` signs an empty field the PDF was rendered with (:data:`SIGNER_FIELD`,
    :data:`ORGANISATION_FIELD`) with ``appearance`` drawing it; ``fill`` fills text fields
    (:data:`NUMBER_FIELD`) in the same update; ``timestamper`` (a pyhanko TimeStamper)
    adds an RFC 3161 timestamp.

    The raw signature is made by ``signer.key.sign``, so a token key signs on the token
    and never leaves it. pyhanko runs its own event loop: call this from a thread, not
    from inside a running asyncio loop. Raises :class:`RenderError`, or the signer's own
    error (a token that refuses) as it is.
    """
    try:
        from ._pades import sign  # pyhanko is imported only when a PDF is signed
    except ImportError as exc:
        raise RenderError(
            "Chưa cài pyhanko để ký tệp PDF (pip install 'edoc-exchange[pdf]')",
            "pyhanko is not installed, PDFs cannot be signed (pip install 'edoc-exchange[pdf]')",
            step="pdf-signature",
        ) from exc
    return sign(pdf, signer, reason=reason, location=location, field=field,
                appearance=appearance, fill=fill, timestamper=timestamper)
