"""Accent-free search text: what a clerk types ("ke hoach") finds what a peer wrote
("Kế hoạch")."""

from __future__ import annotations

import unicodedata

__all__ = ["fold"]


def fold(text: str) -> str:
    """Lower case, Vietnamese marks removed (đ as d), spaces collapsed.

    Revision 0008 keeps a frozen copy of this for the rows it fills: change both together
    (and write a migration that fills ``inbox.search_text`` again).
    """
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    bare = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    return " ".join(bare.lower().split())
