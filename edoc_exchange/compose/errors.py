"""Errors of composing a plan or report; all derive from :class:`~edoc_exchange.errors.EdocError`.

Exception tree::

    ComposeError                 anything that stops a plan/report becoming a PDF
    ├── InputError               the YAML cannot become a plan/report; ``problems`` lists all
    │   ├── YamlSyntaxError      not YAML at all, or a key written twice in one mapping
    │   └── ContentError         valid YAML that breaks the format (missing or unknown field,
    │                            wrong type, unknown PAPI dimension, notation of another type)
    └── RenderError              the PDF cannot be produced (font missing, signing failed)
        └── FontMissingError     the Liberation Serif files are not installed

Every :class:`Problem` names the field path (``sections[1].content[0].papi``) and, when
the input came from a file, the line and column (1-based) a clerk should look at.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import EdocError

__all__ = [
    "ComposeError",
    "ContentError",
    "FontMissingError",
    "InputError",
    "Problem",
    "RenderError",
    "YamlSyntaxError",
]


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with the input, where it is, and what to do, in both languages."""

    code: str
    path: str
    line: int | None
    column: int | None
    vi: str
    en: str

    @property
    def where(self) -> str:
        """``line 12, column 5: sections[0].heading``, as much of it as is known."""
        parts = []
        if self.line is not None:
            parts.append(
                f"dòng {self.line}, cột {self.column} (line {self.line}, column {self.column})"
            )
        if self.path:
            parts.append(self.path)
        return ": ".join(parts)

    def __str__(self) -> str:
        return f"{self.where}: {self.vi} ({self.en})"


class ComposeError(EdocError):
    """A plan or report that cannot be composed."""


class InputError(ComposeError):
    """The input cannot become a plan or report; ``problems`` holds every problem found.

    The message shows the first problem; ``report()`` lists them all, one per line, so a
    clerk can fix a file in one pass instead of one error at a time.
    """

    def __init__(self, problems: Sequence[Problem], *, source: str | None = None) -> None:
        if not problems:
            raise ValueError("an InputError needs at least one problem")
        self.problems: tuple[Problem, ...] = tuple(problems)
        self.source = source
        first = self.problems[0]
        more = len(self.problems) - 1
        vi, en = first.vi, first.en
        if more:
            vi += f" (và {more} lỗi khác)"
            en += f" (and {more} more)"
        where = first.where
        if source:
            where = f"{source}: {where}" if where else source
        super().__init__(vi, en, step=where or None)

    @property
    def first(self) -> Problem:
        """The first problem, in document order."""
        return self.problems[0]

    def report(self) -> str:
        """Every problem, one per line, prefixed with the file name when known."""
        prefix = f"{self.source}: " if self.source else ""
        return "\n".join(f"{prefix}{problem}" for problem in self.problems)


class YamlSyntaxError(InputError):
    """The file is not valid YAML, or one mapping gives the same key twice."""


class ContentError(InputError):
    """Valid YAML that does not describe a plan or report (see ``problems``)."""


class RenderError(ComposeError):
    """The PDF could not be produced or signed."""


class FontMissingError(RenderError):
    """The serif font the decree's layout needs (Liberation Serif) is not installed."""
