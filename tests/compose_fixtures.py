"""Helpers of the compose tests: the example files, the seed plan, PDF text extraction."""

from __future__ import annotations

import functools
import io
import re
import unicodedata
from pathlib import Path

import pypdf

from edoc_exchange.compose import Plan, Report, load, render_pdf

REPO = Path(__file__).resolve().parents[1]
PLAN_YAML = REPO / "examples" / "ke-hoach-papi-2020.yaml"
REPORT_YAML = REPO / "examples" / "bao-cao-papi-quy-3.yaml"
SEED = REPO.parent / "shared" / "seed" / "ke-hoach-papi-xa-nam-khanh-2020.txt"
SCHEMA_DIR = REPO / "schemas"


@functools.cache
def plan() -> Plan:
    """The seed plan, loaded from its YAML once per session."""
    document = load(PLAN_YAML)
    assert isinstance(document, Plan)
    return document


@functools.cache
def report() -> Report:
    """The illustrative quarterly report."""
    document = load(REPORT_YAML)
    assert isinstance(document, Report)
    return document


@functools.cache
def plan_pdf() -> bytes:
    """The seed plan rendered without a signer."""
    return render_pdf(plan())


def normalise(text: str) -> str:
    """NFC, one space between words: what is compared between the seed and the PDF."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFC", text)).strip()


def pdf_text(pdf: bytes) -> str:
    """The PDF's text in reading order, without the page numbers of the top margin.

    Pages after the first start with their number (drawn first on each page); it is
    checked and dropped, so a paragraph running over a page break reads as one.
    """
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    parts = []
    for index, page in enumerate(reader.pages):
        text = page.extract_text()
        if index > 0:
            first, _, rest = text.lstrip().partition("\n")
            assert first.strip() == str(index + 1), f"page {index + 1} starts with {first!r}"
            text = rest
        parts.append(text)
    return normalise(" ".join(parts))
