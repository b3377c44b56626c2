"""The common operational picture at /map, in a real browser against a real server.

Debian's Chromium driven by Playwright (never `playwright install`), the page
served by `guetteur serve`'s application over HTTP, the workspace holding the
scenario's spot reports (located SALUTE events at several markings). What a
staff officer would notice: a symbol for each event, the pointer's MGRS, a
popup with its portion marking and a link to its report, the partner view
hiding what may not be released, a track arriving live, the timeline, an area
drawn for a brief or a search, and the French interface.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from guetteur.api.web import STATIC
from guetteur.cop.cot import parse_event
from guetteur.enrich.coordinates import mgrs_to_latlon
from guetteur.model import Clearance, Level
from guetteur.products.render import portion
from guetteur.security.markings import high_water_mark, may_read, parse_marking
from guetteur.workspace import Workspace

from api.server import LiveServer, login
from conftest import SCENARIO, new_workspace

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
PASSWORDS = {"ops": "a long passphrase for the map", "lux_nr": "Luxembourg reads the map"}
SPOT_REPORTS = SCENARIO / "reports" / "spotrep"
READY = ".cop[data-ready=true]"
PAGE_ERRORS: dict[int, list[str]] = {}  # uncaught script errors, by page


@dataclass
class Served:
    server: LiveServer
    home: Path

    @contextmanager
    def api(self, user: str) -> Iterator[httpx.Client]:
        client = self.server.client()
        try:
            login(client, user, PASSWORDS[user])
            yield client
        finally:
            client.close()

    def features(self, user: str = "ops", bbox: str | None = None) -> list[dict[str, Any]]:
        with self.api(user) as client:
            query = {"format": "geojson", **({"bbox": bbox} if bbox else {})}
            answer = client.get("/api/events", params=query)
            answer.raise_for_status()
            found: list[dict[str, Any]] = answer.json()["features"]
            return found

    def tracks(self, user: str = "ops") -> list[dict[str, Any]]:
        with self.api(user) as client:
            found: list[dict[str, Any]] = client.get("/api/tracks").json()["tracks"]
            return found


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, built_gazetteer: Path) -> Iterator[Served]:
    home = tmp_path_factory.mktemp("cop") / "ws"
    workspace = new_workspace(home, built_gazetteer)
    for name, password in PASSWORDS.items():
        one_time = workspace.accounts.set_password(workspace.operator(), name)
        workspace.accounts.change_password(workspace.store.get_user(name), one_time, password)
    report = workspace.ingest(workspace.operator(), sorted(SPOT_REPORTS.iterdir()), source="spot")
    assert report.ingested == len(list(SPOT_REPORTS.iterdir())), report.failed
    workspace.close()
    if not (STATIC / "map.js").is_file():
        pytest.fail("the web application is not built: run `make web`")
    with LiveServer(home) as server:
        yield Served(server, home)
        # A page's live feed (server-sent events) would hold a graceful shutdown.
        server.server.force_exit = True


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def open_map(browser: Browser, served: Served) -> Iterator[Callable[..., Page]]:
    """Open logged-in pages at /map (closed after the test), once the COP says it
    has drawn what it loaded."""
    contexts: list[BrowserContext] = []

    def opened(
        user: str = "ops", locale: str = "en-GB", path: str = "/map", ready: str = READY
    ) -> Page:
        context = browser.new_context(viewport={"width": 1366, "height": 768}, locale=locale)
        contexts.append(context)
        page = context.new_page()
        errors = PAGE_ERRORS.setdefault(id(page), [])
        page.on("pageerror", lambda error: errors.append(str(error)))
        answer = page.request.post(
            served.server.url + "/api/login",
            data={"username": user, "password": PASSWORDS[user]},
        )
        assert answer.ok, answer.text()
        page.goto(served.server.url + path)
        page.wait_for_selector(ready, timeout=60_000)
        return page

    yield opened
    for context in contexts:
        context.close()


def layer_count(page: Page, layer: str) -> str:
    return page.inner_text(f"[data-layer-count={layer}]").strip()


def drawn_symbols(page: Page, layer: str) -> int:
    """Symbols drawn for `layer`: single symbols plus the numbers on its clusters."""
    singles = page.locator(f".leaflet-marker-pane img.map-symbol.layer-{layer}").count()
    clusters = page.locator(f".leaflet-marker-pane .cluster-{layer} span").all_inner_texts()
    return singles + sum(int(n) for n in clusters)


def container_point(page: Page, lat: float, lon: float) -> tuple[float, float]:
    """Where (lat, lon) is on the screen, as the page's map projects it."""
    x, y = page.evaluate(
        "([lat, lon]) => { const p = document.querySelector('.cop').cop.map"
        ".latLngToContainerPoint([lat, lon]); return [p.x, p.y]; }",
        [lat, lon],
    )
    box = page.locator(".cop-map").bounding_box()
    assert box is not None
    return box["x"] + x, box["y"] + y


def releasable(marking: str, nation: str) -> bool:
    """The tear-line rule, as products/brief.py applies it (may_read, narrowed)."""
    parsed = parse_marking(marking)
    reader = Clearance(Level.TOP_SECRET, nation, parsed.caveats).for_release_to(frozenset({nation}))
    return may_read(reader, parsed)


def settled(page: Page, layer: str, expected: int) -> int:
    """Symbols drawn for `layer` once the cluster layer has finished animating (it
    keeps the old icons for a moment), or what is drawn after 20 s of waiting."""
    deadline = time.monotonic() + 20
    drawn = drawn_symbols(page, layer)
    while drawn != expected and time.monotonic() < deadline:
        page.wait_for_timeout(100)
        drawn = drawn_symbols(page, layer)
    return drawn


# ------------------------------------------------------------------------ tests
def test_the_map_draws_a_symbol_for_each_located_event(
    open_map: Callable[..., Page], served: Served
) -> None:
    features = served.features()
    assert len(features) >= 10, "the spot reports give located events"
    page = open_map()
    assert layer_count(page, "events") == f"{len(features)}/{len(features)}"
    assert settled(page, "events", len(features)) == len(features)
    # Symbols are milsymbol canvases, as images (the CSP forbids inline SVG styles).
    sources = page.locator("img.map-symbol").evaluate_all("els => els.map(e => e.src)")
    assert sources and all(src.startswith("data:image/png;base64,") for src in sources)
    # Several reports from Ivangorod and Narva: clustered at the first zoom,
    # and all in clusters once zoomed out to Europe.
    assert page.locator(".leaflet-marker-pane .cluster-events").count() >= 1
    page.evaluate("() => { document.querySelector('.cop').cop.map.setZoom(3, {animate: false}); }")
    assert settled(page, "events", len(features)) == len(features)
    assert page.locator(".leaflet-marker-pane img.map-symbol.layer-events").count() <= 1
    # The page's banner: the high-water mark of what the map shows.
    shown = [f["properties"]["marking"] for f in features] + [t["marking"] for t in served.tracks()]
    hwm = high_water_mark(parse_marking(m) for m in shown)
    assert page.get_attribute(".banner-top", "data-marking") == str(hwm)
    assert PAGE_ERRORS[id(page)] == []


def test_the_pointer_is_read_in_mgrs_and_decimal_degrees(
    open_map: Callable[..., Page], served: Served
) -> None:
    page = open_map()
    lat, lon = 59.3758, 28.2001  # Ivangorod
    page.evaluate(
        "([lat, lon]) => { document.querySelector('.cop').cop.map.setView([lat, lon], 14, "
        "{animate: false}); }",
        [lat, lon],
    )
    x, y = container_point(page, lat, lon)
    page.mouse.move(x, y)
    page.wait_for_selector(".cop-coords-what:has-text('Pointer')")
    grid = page.inner_text(".cop-mgrs")
    assert re.fullmatch(r"MGRS 35V NF \d{5} \d{5}", grid), grid
    grid_lat, grid_lon, _ = mgrs_to_latlon(grid.removeprefix("MGRS "))
    assert abs(grid_lat - lat) < 0.0005 and abs(grid_lon - lon) < 0.0005
    degrees = page.inner_text(".cop-dd")
    match = re.fullmatch(r"(\d+\.\d{5})° N, (\d+\.\d{5})° E", degrees)
    assert match, degrees
    assert abs(float(match[1]) - lat) < 0.0005 and abs(float(match[2]) - lon) < 0.0005


def test_a_click_shows_the_item_with_its_portion_marking_and_its_report(
    open_map: Callable[..., Page], served: Served
) -> None:
    by_id = {f"event:{f['properties']['id']}": f["properties"] for f in served.features()}
    page = open_map()
    settled(page, "events", len(by_id))
    # A symbol not covered by another one, clicked as a user would.
    symbol = None
    for candidate in page.locator("img.map-symbol.layer-events").all():
        on_top = candidate.evaluate(
            "el => { const r = el.getBoundingClientRect();"
            " return document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2) === el; }"
        )
        if on_top:
            symbol = candidate
            break
    assert symbol is not None
    symbol.click()
    popup = page.locator(".map-popup")
    popup.wait_for()
    record = by_id[popup.get_attribute("data-item") or ""]
    marking = record["marking"]
    mark = popup.locator(".portion").first
    assert mark.get_attribute("data-marking") == marking
    assert mark.inner_text() == portion(parse_marking(marking))
    assert record["what"] in popup.locator("blockquote").inner_text()
    link = popup.locator("a.citation-link")
    assert link.get_attribute("href") == f"/documents/{record['doc_id']}"
    link.click()
    page.wait_for_url(f"**/documents/{record['doc_id']}")


def test_view_as_partner_shows_only_what_is_releasable(
    open_map: Callable[..., Page], served: Served
) -> None:
    features = served.features()
    page = open_map()
    tracks = served.tracks()
    markings = [f["properties"]["marking"] for f in features]
    kept = [m for m in markings if releasable(m, "LUX")]
    assert 0 < len(kept) < len(markings), "the scenario has reports LUX may and may not receive"
    withheld = len(markings) - len(kept) + sum(not releasable(t["marking"], "LUX") for t in tracks)

    page.select_option("#cop-partner", "LUX")
    page.wait_for_selector(".cop[data-partner=LUX]")
    assert layer_count(page, "events") == f"{len(kept)}/{len(features)}"
    assert settled(page, "events", len(kept)) == len(kept)
    notice = page.inner_text(".cop-partner-notice")
    assert "Luxembourg (LUX)" in notice and f"{withheld} item(s) withheld" in notice
    shown = high_water_mark(
        [parse_marking(m) for m in kept]
        + [parse_marking(t["marking"]) for t in tracks if releasable(t["marking"], "LUX")]
    )
    assert page.get_attribute(".cop-partner-notice .portion", "data-marking") == str(shown)
    # An item LUX may not receive cannot be brought up either.
    hidden = next(f for f in features if not releasable(f["properties"]["marking"], "LUX"))
    found = page.evaluate(
        "id => document.querySelector('.cop').cop.showItem(id)",
        f"event:{hidden['properties']['id']}",
    )
    assert found is False

    page.select_option("#cop-partner", "")
    page.wait_for_selector(".cop[data-partner='']")
    assert layer_count(page, "events") == f"{len(features)}/{len(features)}"


def test_the_partner_filter_is_the_python_tear_line_rule(
    open_map: Callable[..., Page], served: Served
) -> None:
    page = open_map()
    written = [
        "NATO UNCLASSIFIED",
        "NON PROTÉGÉ",
        "UNCLASSIFIED",
        "NATO RESTRICTED // REL TO FRA, LUX",
        "DIFFUSION RESTREINTE // REL TO FRA, LUX",
        "NATO CONFIDENTIAL // REL TO FRA, DEU, EST",
        "CONFIDENTIEL DÉFENSE",
        "NATO SECRET",
        "NATO SECRET // REL TO FRA // CRYPTO",
        "SECRET // SPECIAL FRANCE",
        "NATO SECRET // REL TO EU",
        "CONFIDENTIAL // REL TO FVEY",
        "TOP SECRET // REL TO USA, GBR",
        "NATO SECRET // REL TO NONE",
        "NATO UNCLASSIFIED // TLP:RED",
    ]
    canonical = [str(parse_marking(m)) for m in written]
    nations = ["FRA", "LUX", "DEU", "EST", "USA", "GBR", "AUS", "UKR", "SWE", "AUT"]
    in_browser = page.evaluate(
        "async ([markings, nations]) => { const m = await import('/static/map.js');"
        " return markings.map(k => nations.map(n => m.releasableTo(k, n))); }",
        [canonical, nations],
    )
    expected = [[releasable(m, n) for n in nations] for m in canonical]
    assert in_browser == expected


def test_a_track_arrives_live_without_a_reload(
    open_map: Callable[..., Page], served: Served
) -> None:
    page = open_map()
    before = layer_count(page, "tracks")
    page.evaluate("window.__sameDocument = true")
    now = datetime.now(UTC).replace(microsecond=0)
    stamp = "%Y-%m-%dT%H:%M:%SZ"
    uid = f"MAP-TEST-{now:%H%M%S}"
    xml = (
        f'<event version="2.0" uid="{uid}" type="a-h-G-U-C-A" how="m-g" '
        f'time="{now:{stamp}}" start="{now:{stamp}}" '
        f'stale="{now + timedelta(minutes=30):{stamp}}">'
        '<point lat="59.3770" lon="28.1950" hae="12" ce="15" le="15"/>'
        '<detail><contact callsign="VARNIA ARMOUR 7"/><track course="270" speed="4.5"/></detail>'
        "</event>"
    ).encode()
    workspace = Workspace.open(served.home)
    try:
        stored = workspace.ingest_cot(
            workspace.operator(), [parse_event(xml)], "exercise feed", parse_marking("NR")
        )
    finally:
        workspace.close()
    assert stored.stored == 1

    page.wait_for_selector(".cop[data-live-updates]", state="attached", timeout=30_000)
    assert page.evaluate("window.__sameDocument") is True
    assert layer_count(page, "tracks") != before
    assert page.evaluate("id => document.querySelector('.cop').cop.showItem(id)", f"track:{uid}")
    popup = page.locator(f".map-popup[data-item='track:{uid}']")
    popup.wait_for()
    assert "VARNIA ARMOUR 7" in popup.inner_text()
    assert popup.locator(".portion").first.get_attribute("data-marking") == "NATO RESTRICTED"
    # A hostile armour track: red (milsymbol draws the hostile frame).
    symbol = page.locator("img.map-symbol.layer-tracks.affiliation-hostile")
    assert symbol.count() >= 1
    # Its source is listed, marked, once the popup has asked for the track's detail.
    popup.locator(".citation-source").first.wait_for()
    assert "exercise feed" in popup.locator(".citation-source").first.inner_text()


def test_the_timeline_replays_and_now_follows(
    open_map: Callable[..., Page], served: Served
) -> None:
    features = served.features()
    tracks = served.tracks()
    page = open_map()
    total = len(features) + len(tracks)
    assert page.get_attribute(".cop", "data-shown") == str(total)
    assert page.get_attribute(".cop", "data-live") == "true"

    times = [f["properties"]["when"] for f in features] + [t["time"] for t in tracks]
    dated = [datetime.fromisoformat(t) for t in times if t]
    undated = len(times) - len(dated)
    earliest = min(dated)
    # The slider at its start: only the earliest items (and undated ones) remain.
    page.focus("#cop-time")
    page.keyboard.press("Home")
    page.wait_for_selector(".cop[data-live=false]")
    expected = undated + sum(1 for t in dated if t == earliest)
    assert page.get_attribute(".cop", "data-shown") == str(expected)
    assert "UTC" in page.inner_text(".cop-time-label")
    # "Now" goes back to the live picture.
    page.click(".cop-now")
    page.wait_for_selector(".cop[data-live=true]")
    assert page.get_attribute(".cop", "data-shown") == str(total)
    # The last 6 hours: what is older is off the map.
    page.select_option("#cop-window", "6")
    since = datetime.now(UTC) - timedelta(hours=6)
    recent = undated + sum(1 for t in dated if t >= since)
    page.wait_for_selector(f".cop[data-shown='{recent}']")
    page.select_option("#cop-window", "all")
    page.wait_for_selector(f".cop[data-shown='{total}']")


def test_drawing_an_area_offers_a_brief_and_finds_its_events(
    open_map: Callable[..., Page], served: Served
) -> None:
    page = open_map()
    north_west = container_point(page, 59.6, 27.6)
    south_east = container_point(page, 59.0, 28.6)
    page.click(".cop-draw")
    assert page.get_attribute(".cop-draw", "aria-pressed") == "true"
    page.mouse.move(*north_west)
    page.mouse.down()
    page.mouse.move((north_west[0] + south_east[0]) / 2, (north_west[1] + south_east[1]) / 2)
    page.mouse.move(*south_east)
    page.mouse.up()
    panel = page.locator(".cop-area")
    panel.wait_for()
    bbox = page.get_attribute(".cop-area-bbox", "data-bbox") or ""
    west, south, east, north = (float(v) for v in bbox.split(","))
    tolerance = 0.05  # a pixel or two at this zoom
    assert abs(west - 27.6) < tolerance and abs(east - 28.6) < tolerance
    assert abs(south - 59.0) < tolerance and abs(north - 59.6) < tolerance
    assert (
        page.get_attribute(".cop-area-brief", "href") == f"/brief?bbox={bbox.replace(',', '%2C')}"
    )

    page.click(".cop-area-search")
    page.wait_for_selector(".cop-area-result")
    inside = served.features(bbox=bbox)
    assert inside, "Ivangorod and Narva lie in the area"
    assert page.locator(".cop-area-result").count() == len(inside)
    marks = page.locator(".cop-area-result .portion").evaluate_all(
        "els => els.map(e => e.dataset.marking)"
    )
    assert sorted(marks) == sorted(f["properties"]["marking"] for f in inside)


def test_the_map_speaks_french(open_map: Callable[..., Page], served: Served) -> None:
    page = open_map(locale="fr-FR")
    assert page.inner_text(".cop-partner span") == "Vue partenaire"
    assert page.inner_text(".cop-draw") == "Tracer une zone"
    tables = page.evaluate(
        "async () => { const m = await import('/static/map.js'); return m.strings; }"
    )
    assert tables["fr"].keys() == tables["en"].keys()
    # Words French and English share (and the data's name) are the only equal values.
    same = {k for k, v in tables["en"].items() if tables["fr"][k] == v}
    assert same <= {
        "map.attribution",
        "map.popup.sources",
        "map.popup.position",
        "map.popup.type",
        "map.time.pause",
    }
    english_only = {v for k, v in tables["en"].items() if k not in same and len(v) > 3}
    text = page.inner_text(".cop")
    assert not [v for v in english_only if "{" not in v and v in text]
    # Dates in French, on the timeline.
    page.focus("#cop-time")
    page.keyboard.press("Home")
    page.wait_for_selector(".cop[data-live=false]")
    assert re.search(r"\d{1,2} \w+\.? \d{4}", page.inner_text(".cop-time-label"))


def test_the_brief_form_takes_an_area_drawn_on_the_map(
    open_map: Callable[..., Page], served: Served
) -> None:
    page = open_map(path="/brief", ready="#brief-bbox")
    page.get_by_role("button", name="Draw on the map").click()
    area = page.locator(".area-map")
    area.wait_for()
    box = area.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.3)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
    page.mouse.move(box["x"] + box["width"] * 0.7, box["y"] + box["height"] * 0.7)
    page.mouse.up()
    page.wait_for_selector("#brief-bbox:focus")
    west, south, east, north = (float(v) for v in page.input_value("#brief-bbox").split(","))
    assert -180 <= west < east <= 180 and -90 <= south < north <= 90


def test_an_entity_page_shows_its_events_on_a_small_map(
    open_map: Callable[..., Page], served: Served
) -> None:
    features = served.features()
    counts: dict[str, int] = {}
    for feature in features:
        for who in {w["id"] for w in feature["properties"]["who"]}:
            counts[who] = counts.get(who, 0) + 1
    entity, expected = max(counts.items(), key=lambda item: (item[1], item[0]))
    page = open_map(path=f"/entities/{entity}", ready=".mini-map-canvas[data-symbols]")
    assert page.get_attribute(".mini-map-canvas", "data-symbols") == str(expected)
    assert page.locator(".mini-map-canvas img.map-symbol").count() == expected


def test_leaving_the_map_while_its_basemap_loads_raises_no_script_error(
    browser: Browser, served: Served
) -> None:
    # The layers come back, the user leaves for another page, and only then does
    # the basemap arrive: the map was removed, and what was still under way must
    # leave it alone (it used to fit the removed map to the symbols and throw).
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    held: list[Any] = []
    page.route("**/world-atlas/countries-50m.json", lambda route: held.append(route))
    answer = page.request.post(
        served.server.url + "/api/login", data={"username": "ops", "password": PASSWORDS["ops"]}
    )
    assert answer.ok, answer.text()
    with page.expect_response(lambda response: "/api/events" in response.url):
        page.goto(served.server.url + "/map")
    page.wait_for_function(
        "() => document.querySelector('.cop') && document.querySelector('.cop').cop"
    )
    page.locator("nav a").first.click()
    page.wait_for_function("() => !document.querySelector('.cop')")
    assert len(held) == 1, "the basemap was requested and held"
    held[0].continue_()
    page.wait_for_load_state("networkidle")
    page.evaluate("() => new Promise((resolve) => setTimeout(resolve, 0))")
    context.close()
    assert errors == []
