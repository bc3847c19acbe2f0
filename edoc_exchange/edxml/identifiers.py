"""Organisation identifiers (mã định danh) and document identifiers of QCVN 102:2016.

An OrganId reads right to left: ``V1V2V3.Z1Z2.Y1Y2.MX1X2`` is level 4, 3, 2 and 1, where
level 1 is a letter and two digits (H41: UBND tỉnh Nghệ An) and ``00``/``000`` mean "not at
that level". A DocumentId is ``OrganId,yyyy/MM/dd,Number/Notation``. Both parsers raise
:class:`IdentifierError` saying which part is wrong; they never guess.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from .errors import IdentifierError
from .formats import format_date, parse_date

_Issuer = TypeVar("_Issuer")

__all__ = [
    "DocumentId",
    "OrganId",
    "foreign_code_problem",
    "looks_like_uuid",
    "reference_problem",
]

_LEVEL_WIDTHS = (3, 2, 2)  # level 4, 3, 2, as written left to right
_LEVEL1_RE = re.compile(r"[A-Z][0-9]{2}")


@dataclass(frozen=True, slots=True, order=True)
class OrganId:
    """A well-formed organisation identifier, split into its four levels."""

    level4: str
    level3: str
    level2: str
    level1: str

    @classmethod
    def parse(cls, text: str) -> OrganId:
        """Parse ``000.00.00.H41``; raise :class:`IdentifierError` naming the bad part."""
        value = text
        parts = value.split(".")
        if len(parts) != 4:
            raise IdentifierError(
                f"Mã định danh '{value}' phải có 4 phần V1V2V3.Z1Z2.Y1Y2.MX1X2, có {len(parts)}",
                f"OrganId '{value}' must have 4 dot-separated parts "
                f"(V1V2V3.Z1Z2.Y1Y2.MX1X2), it has {len(parts)}",
                step="OrganId",
            )
        names = ("level 4 (V1V2V3)", "level 3 (Z1Z2)", "level 2 (Y1Y2)")
        for part, width, name in zip(parts[:3], _LEVEL_WIDTHS, names, strict=True):
            if len(part) != width or not part.isascii() or not part.isdigit():
                raise IdentifierError(
                    f"Mã định danh '{value}': phần {name} phải gồm {width} chữ số, nhận '{part}'",
                    f"OrganId '{value}': {name} must be {width} digits, got '{part}'",
                    step="OrganId",
                )
        if not _LEVEL1_RE.fullmatch(parts[3]):
            raise IdentifierError(
                f"Mã định danh '{value}': cấp 1 phải là một chữ hoa và hai chữ số, "
                f"nhận '{parts[3]}'",
                f"OrganId '{value}': level 1 must be an upper-case letter and two digits, "
                f"got '{parts[3]}'",
                step="OrganId",
            )
        return cls(level4=parts[0], level3=parts[1], level2=parts[2], level1=parts[3])

    @classmethod
    def is_valid(cls, text: str) -> bool:
        """Whether ``text`` parses; for filters, not for reporting (use :meth:`parse`)."""
        try:
            cls.parse(text)
        except IdentifierError:
            return False
        return True

    @property
    def letter(self) -> str:
        """The level-1 letter: G ministry-level body, H provincial People's Committee, ..."""
        return self.level1[0]

    @property
    def number(self) -> str:
        """The level-1 number, e.g. ``41`` in ``H41``."""
        return self.level1[1:]

    @property
    def depth(self) -> int:
        """The deepest level in use: 1 for ``000.00.00.H41``, 3 for ``000.12.34.H10``."""
        for depth, part in ((4, self.level4), (3, self.level3), (2, self.level2)):
            if int(part) != 0:
                return depth
        return 1

    def parent(self) -> OrganId | None:
        """The identifier one level up (the deepest used level set to zero), or None at 1."""
        if self.depth == 1:
            return None
        if self.depth == 4:
            return OrganId("000", self.level3, self.level2, self.level1)
        if self.depth == 3:
            return OrganId("000", "00", self.level2, self.level1)
        return OrganId("000", "00", "00", self.level1)

    def __str__(self) -> str:
        return f"{self.level4}.{self.level3}.{self.level2}.{self.level1}"


#: What an organisation code of another scheme may look like: the codes real senders use
#: since 2020 (``G12``, ``020100107370``, ``02.29.W00``, ``vxp.saas.03``) are letters,
#: digits, dots, hyphens and underscores. Anything else (spaces, commas, which would break a
#: DocumentId, control characters) is not a code at all.
_FOREIGN_CODE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
#: A DocumentId of another scheme (``GW-20251014073327634-773``, a UUID) is echoed as sent,
#: but never with control characters or beyond this length.
_REFERENCE_MAX = 300


def foreign_code_problem(text: str) -> str | None:
    """Why ``text`` cannot be an organisation code of any scheme, or None when it can.

    A four-level OrganId passes, and so do codes of other schemes; the caller decides
    whether a code outside the four levels is acceptable where it stands.
    """
    if _FOREIGN_CODE_RE.fullmatch(text):
        return None
    return (
        f"'{text}' is not an organisation code of any scheme "
        "(letters, digits, '.', '-', '_'; at most 64)"
    )


def reference_problem(text: str) -> str | None:
    """Why ``text`` cannot be echoed as another organisation's DocumentId, or None.

    A reply must carry the identifier the other side used, whatever its scheme; only text
    that no identifier can be (control characters, line breaks, over 300 characters) is
    refused.
    """
    if len(text) > _REFERENCE_MAX:
        return f"longer than {_REFERENCE_MAX} characters"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        return "contains control characters or line breaks"
    return None


def _foreign_issuer(text: str) -> str:
    """An issuer code of any scheme, or IdentifierError saying why it is none."""
    problem = foreign_code_problem(text)
    if problem is not None:
        raise IdentifierError(problem, problem, step="DocumentId")
    return text


def looks_like_uuid(text: str) -> bool:
    """Whether ``text`` is a UUID, as some peers send in place of a DocumentId."""
    try:
        uuid.UUID(text.strip())
    except ValueError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class DocumentId:
    """``OrganId,yyyy/MM/dd,Number/Notation``: who issued which numbered document when.

    The number may be empty until the document is registered (``Số: /KH-UBND``).
    """

    organ_id: OrganId
    date: dt.date
    number: str
    notation: str

    @classmethod
    def parse(cls, text: str) -> DocumentId:
        """Parse a DocumentId; raise :class:`IdentifierError` naming the bad part."""
        organ, date, number, notation = cls._parts(text, OrganId.parse)
        return cls(organ_id=organ, date=date, number=number, notation=notation)

    @classmethod
    def parse_foreign(cls, text: str) -> tuple[str, dt.date, str, str]:
        """Parse a DocumentId whose issuer may be a code of another scheme (``G12``,
        ``020100107370``): (issuer as written, date, number, notation), every other part
        checked as :meth:`parse` checks it. Raises :class:`IdentifierError`."""
        return cls._parts(text, _foreign_issuer)

    @staticmethod
    def _parts(text: str, issuer: Callable[[str], _Issuer]) -> tuple[_Issuer, dt.date, str, str]:
        value = text.strip()
        if looks_like_uuid(value):
            raise IdentifierError(
                f"Mã văn bản '{value}' là UUID, không theo dạng OrganId,yyyy/MM/dd,Số/Ký hiệu",
                f"DocumentId '{value}' is a UUID, not OrganId,yyyy/MM/dd,Number/Notation",
                step="DocumentId",
            )
        parts = value.split(",", 2)
        if len(parts) != 3:
            raise IdentifierError(
                f"Mã văn bản '{value}' phải có dạng OrganId,yyyy/MM/dd,Số/Ký hiệu",
                f"DocumentId '{value}' must be OrganId,yyyy/MM/dd,Number/Notation",
                step="DocumentId",
            )
        organ_text, date_text, code = parts
        if any(part != part.strip() for part in (organ_text, date_text, *code.split("/", 1))):
            raise IdentifierError(
                f"Mã văn bản '{value}' có khoảng trắng thừa quanh dấu phẩy hoặc gạch chéo",
                f"DocumentId '{value}' has spaces around a comma or slash",
                step="DocumentId",
            )
        organ = issuer(organ_text)
        try:
            date = parse_date(date_text)
        except ValueError:
            raise IdentifierError(
                f"Mã văn bản '{value}': ngày '{date_text}' không hợp lệ (yyyy/MM/dd)",
                f"DocumentId '{value}': '{date_text}' is not a valid yyyy/MM/dd date",
                step="DocumentId",
            ) from None
        number, sep, notation = code.partition("/")
        if not sep or not notation.strip():
            raise IdentifierError(
                f"Mã văn bản '{value}': phần '{code}' phải có dạng Số/Ký hiệu",
                f"DocumentId '{value}': '{code}' must be Number/Notation",
                step="DocumentId",
            )
        return organ, date, number, notation

    def __str__(self) -> str:
        return f"{self.organ_id},{format_date(self.date)},{self.number}/{self.notation}"
