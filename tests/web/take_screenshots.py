"""The README's screenshots of the web application, at 1366×768.

    .venv/bin/python tests/web/take_screenshots.py [--out docs/screenshots]

Builds a workspace with the whole exercise scenario and the browser tests'
cyber alerts (a few minutes), serves it as the tests do, and drives Debian's
chromium through the main screens, in English and in French. Needs the web
application built (`make web`).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from urllib.parse import quote

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402
from web_fixture import build_workspace, launch, log_in, new_page  # noqa: E402

from api.server import LiveServer  # noqa: E402

QUESTION = "Où la Krasukha-4 a-t-elle été déplacée ?"


def shoot(page: Page, out: Path, name: str) -> None:
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(out / f"{name}.png"))
    print(f"{out / name}.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE.parents[1] / "docs" / "screenshots")
    out: Path = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    expect.set_options(timeout=120_000)
    with tempfile.TemporaryDirectory(prefix="guetteur-screens-") as scratch:
        home = Path(scratch) / "ws"
        build_workspace(home, None, files=None, held_back=False)
        with LiveServer(home) as server, sync_playwright() as playwright:
            browser = launch(playwright)
            page = new_page(browser)
            page.goto(f"{server.url}/login")
            shoot(page, out, "login")
            log_in(page, server.url, "ops", then=f"/?q={quote('convoi Narva pont')}")
            expect(page.locator("li.result").first).to_be_visible()
            shoot(page, out, "search")
            page.goto(f"{server.url}/ask?q={quote(QUESTION)}")
            expect(page.locator(".answer")).to_be_visible()
            shoot(page, out, "ask")
            page.locator(".answer a.citation").first.click()
            expect(page.locator("#passage")).to_be_focused()
            shoot(page, out, "document")
            page.locator(".document-text a.entity", has_text="Krasukha-4").first.click()
            expect(page.locator(".mentions")).to_be_visible()
            expect(page.locator(".mini-map-canvas[data-symbols]")).to_be_attached()
            page.locator("#events-heading").evaluate("e => window.scrollTo(0, e.offsetTop - 420)")
            shoot(page, out, "entity")
            page.goto(f"{server.url}/brief")
            page.get_by_label("Releasable to").fill("LUX")
            page.get_by_role("button", name="Write the brief").click()
            expect(page.locator("article.brief")).to_be_visible()
            page.locator("article.brief").evaluate("e => window.scrollTo(0, e.offsetTop - 40)")
            shoot(page, out, "brief")
            page.goto(f"{server.url}/incidents")
            page.locator("table.incidents tbody a").first.click()
            expect(page.locator("table.timeline")).to_be_visible()
            shoot(page, out, "incident")
            page.goto(f"{server.url}/map")
            expect(page.locator('.cop[data-ready="true"]')).to_be_attached()
            shoot(page, out, "map")
            page.goto(f"{server.url}/admin")
            expect(page.locator("#audit")).to_be_visible()
            shoot(page, out, "admin")
            page.get_by_role("button", name="Passer en français / Switch to English").click()
            page.goto(f"{server.url}/?q={quote('frappe de drone sur le dépôt de carburant')}")
            expect(page.locator("li.result").first).to_be_visible()
            shoot(page, out, "search-fr")
            page.context.close()
            # The same search, by a reader cleared NATO RESTRICTED, of Luxembourg.
            low = new_page(browser)
            log_in(low, server.url, "lux_nr", then=f"/?q={quote('convoi Narva pont')}")
            expect(low.locator("li.result").first).to_be_visible()
            shoot(low, out, "search-lux")
            low.context.close()
            browser.close()
            server.server.config.timeout_graceful_shutdown = 2  # as `guetteur serve` does


if __name__ == "__main__":
    main()
