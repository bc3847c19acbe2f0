"""The pages' words, Vietnamese first and English beside them.

A page asks ``t("key")`` in its template; the language is the visitor's choice (a cookie),
Vietnamese by default. A key missing here shows as itself, so a forgotten word is visible
on the page and caught by the test that renders every page in both languages. Each page
module adds its own words with :func:`add`.
"""

from __future__ import annotations

from typing import Final

LANGUAGES: Final = ("vi", "en")
DEFAULT: Final = "vi"

#: key -> (Vietnamese, English)
WORDS: Final[dict[str, tuple[str, str]]] = {
    "app.name": ("Văn bản điện tử", "Electronic documents"),
    "nav.incoming": ("Văn bản đến", "Incoming"),
    "nav.outgoing": ("Văn bản đi", "Outgoing"),
    "nav.drafts": ("Dự thảo", "Drafts"),
    "nav.egov": ("Chính quyền số", "E-government"),
    "nav.audit": ("Nhật ký", "Audit log"),
    "nav.notices": ("Thông báo", "Notifications"),
    "nav.users": ("Tài khoản", "Accounts"),
    "nav.signout": ("Đăng xuất", "Sign out"),
    "nav.language": ("English", "Tiếng Việt"),
    "login.title": ("Đăng nhập", "Sign in"),
    "login.username": ("Tên đăng nhập", "User name"),
    "login.password": ("Mật khẩu", "Password"),
    "login.submit": ("Đăng nhập", "Sign in"),
    "error.title": ("Không thực hiện được", "Could not be done"),
    "error.forbidden": (
        "Tài khoản của bạn không được phép làm việc này",
        "your account is not allowed to do this",
    ),
    "error.not_found": ("Không tìm thấy trang hoặc văn bản", "page or document not found"),
    "error.csrf": (
        "Biểu mẫu đã hết hạn hoặc không hợp lệ; tải lại trang và thử lại",
        "the form expired or is not valid; reload the page and try again",
    ),
    "error.back": ("Quay lại", "Back"),
    "common.search": ("Tìm kiếm", "Search"),
    "common.filter": ("Lọc", "Filter"),
    "common.save": ("Lưu", "Save"),
    "common.cancel": ("Hủy", "Cancel"),
    "common.next": ("Trang sau", "Next page"),
    "common.previous": ("Trang trước", "Previous page"),
    "common.none": ("Không có", "None"),
    "common.page": ("Trang", "Page"),
    "common.of": ("trên", "of"),
    "common.signed_in_as": ("Đăng nhập:", "Signed in:"),
}


def add(words: dict[str, tuple[str, str]]) -> None:
    """Add a page module's words (each module adds its own when imported); a key given
    twice with different words is a mistake, refused at import."""
    for key, pair in words.items():
        if key in WORDS and WORDS[key] != pair:
            raise ValueError(f"the word {key!r} is defined twice")
    WORDS.update(words)


def pick(language: str | None) -> str:
    """A supported language code (the default for anything else)."""
    return language if language in LANGUAGES else DEFAULT


def word(key: str, language: str) -> str:
    """The word for ``key`` in ``language``; the key itself when there is none."""
    found = WORDS.get(key)
    if found is None:
        return key
    return found[1] if language == "en" else found[0]


def both(vi: str, en: str, language: str) -> str:
    """A message given in both languages (an EdocError's), in the visitor's language first
    with the other beside it, as a clerk reads them."""
    return f"{en} ({vi})" if language == "en" else f"{vi} ({en})"
