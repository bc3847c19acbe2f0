"""The main pages in real Chromium at an office PC's screen (1366×768) and a phone's
(390×844), in both languages: nothing runs off the side of the screen, no word is missing
(a key shown as itself), no script error, nothing loaded from another host.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from daemon_fixtures import Exchange, exchange  # noqa: F401  (fixture)
from incoming_fixtures import send_document
from web_fixtures import PASSWORD, add_staff, browser, pages  # noqa: F401  (fixtures)

PAGES = ("/incoming", "/notices", "/drafts", "/drafts/new", "/outgoing", "/egov", "/audit")
#: A word key left untranslated shows as itself, e.g. "incoming.title".
KEY = re.compile(r"\b(?:app|nav|login|error|common|incoming|notices|drafts?|outgoing|egov|"
                 r"audit|users|lifecycle)\.[a-z_.]+\b")


@pytest.mark.parametrize(("width", "height"), [(1366, 768), (390, 844)])
@pytest.mark.parametrize("lang", ["vi", "en"])
def test_main_pages_fit_the_screen_in_both_languages(
    exchange: Exchange,  # noqa: F811
    pages: Callable[..., str],  # noqa: F811
    browser: Any,  # noqa: F811
    width: int,
    height: int,
    lang: str,
) -> None:
    add_staff(exchange.district)
    document = send_document(exchange, "41")
    base = pages(exchange.district)
    context = browser.new_context(viewport={"width": width, "height": height})
    errors: list[str] = []
    foreign: list[str] = []
    try:
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on(
            "response",
            lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None,
        )
        page.on(
            "request",
            # (the browser's own PDF viewer loads chrome-extension:// resources: not ours)
            lambda req: foreign.append(req.url)
            if req.url.startswith(("http:", "https:")) and not req.url.startswith(base)
            else None,
        )
        page.goto(f"{base}/login")
        if lang == "en":
            page.click("a.lang")
        page.fill("input[name=username]", "chutich")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/incoming*")
        detail = page.locator(f"text={document.subject}").first.get_attribute("href")
        for path in (*PAGES, detail):
            answer = page.goto(f"{base}{path}")
            assert answer is not None
            assert answer.status == 200, path
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 1, (path, width, overflow)
            text = page.inner_text("body")
            assert not KEY.findall(text), (path, KEY.findall(text))
            assert page.get_attribute("html", "lang") == lang
    finally:
        context.close()
    assert errors == []
    assert foreign == []


def test_finding_a_recipient_keeps_what_the_draft_already_holds(
    exchange: Exchange,  # noqa: F811
    pages: Callable[..., str],  # noqa: F811
    browser: Any,  # noqa: F811
) -> None:
    from test_outgoing import ready

    ready(exchange)  # the commune's directory holds the district and the other communes
    base = pages(exchange.commune)
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    try:
        page = context.new_page()
        page.goto(f"{base}/login")
        page.fill("input[name=username]", "chuyenvien")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/incoming*")
        page.goto(f"{base}/drafts/new")
        everyone = page.locator("fieldset.recipients label.check")
        assert everyone.count() >= 2
        page.fill("textarea[name=subject]", "Kế hoạch phòng chống thiên tai năm 2027")
        page.fill("input[name=q]", "bac ha")  # no accents: found all the same
        page.press("input[name=q]", "Enter")
        shown = page.locator("fieldset.recipients label.check:visible")
        assert shown.count() == 1
        assert "Bắc Hà" in shown.inner_text()
        assert page.input_value("textarea[name=subject]") == (
            "Kế hoạch phòng chống thiên tai năm 2027"
        )
        page.fill("input[name=q]", "")
        assert page.locator("fieldset.recipients label.check:visible").count() == everyone.count()
    finally:
        context.close()
