"""The workspace the browser tests (and the README's screenshots) run against.

Users of three nations and clearances with passwords already chosen, a
representative part of the exercise scenario (reports at every level the
scenario uses, in both languages), cyber alerts that make incidents, and —
for the noninterference crawler — documents and alerts above the low-cleared
user that carry codewords found nowhere else. Chromium is Debian's, driven by
Playwright: never `playwright install`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, Playwright, expect

from guetteur.demo import DEMO_FLOOR_MARKING
from guetteur.security.markings import parse_clearance, parse_marking
from guetteur.workspace import Workspace

from conftest import SCENARIO, new_workspace, write

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--headless=new",
]
VIEWPORT = {"width": 1366, "height": 768}
WEB_SOURCE = Path(__file__).resolve().parents[2] / "web" / "src"

PASSWORDS = {
    "ops": "correct horse battery staple",  # NATO SECRET, FRA, CRYPTO; security officer
    "deu_nc": "Deutschland-confidential-26",  # NATO CONFIDENTIAL, DEU
    "lux_nr": "Luxembourg-restricted-2026",  # NATO RESTRICTED, LUX: the low reader
}

# Part of the scenario: every marking the scenario uses, French and English,
# what the tests ask about (the Krasukha-4, the convoy at Narva, the strike on Tapa).
SCENARIO_FILES = [
    "reports/intrep/INTREP-005_engineer_bridging_assets.md",
    "reports/intrep/intrep_004_guerre_electronique_krasukha.txt",
    "reports/intrep/INTREP-007_fuel_depot_strike_tapa.txt",
    "reports/intrep/intrep_016_rumeurs_mobilisation.txt",
    "reports/sitrep/SITREP_BG_LYNX_20261122.md",
    "reports/sitrep/sitrep_gtia_lynx_20261123.txt",
    "reports/sitrep/sitrep_gtia_lynx_20261121_frappe_depot_tapa.txt",
    "reports/presse/balticobserver_narva_drones_20261117.html",
    "reports/logistique/LOGREP_LUX_RECCE_PL_20261120.txt",
    "reports/cyber/CERT-NOTE-2026-0412_riga_port_phishing.md",
    "reports/spotrep/SPOTREP-0122-02_krasukha4_position.txt",
]

# Held back from lux_nr (NATO RESTRICTED, LUX): words that occur nowhere else.
CODEWORDS = ["OPALHARROW", "BRASSWILLOW", "TINDERLYNX", "KESTRELMOOR", "NIGHTJARCOVE"]
HELD_BACK = {
    # Above lux_nr's level, about what lux_nr reads about too (convoy, Narva, Krasukha-4).
    "ns_opalharrow.txt": "NATO SECRET\n"
    "SITREP addendum, Narva sector. Operation OPALHARROW: the brigade commander will cross "
    "the Narva bridge with the fuel convoy at 0400Z on 23 November 2026. Source BRASSWILLOW "
    "reports that the Krasukha-4 moved to within 10 km of Narva.\nNATO SECRET",
    # Lux_nr's level, not released to Luxembourg.
    "nr_fra_tinderlynx.txt": "NATO RESTRICTED // REL TO FRA\n"
    "The fuel convoy to Tapa was escorted by detachment TINDERLYNX through Rakvere and Narva "
    "on 22 November 2026.\nNATO RESTRICTED // REL TO FRA",
    "nc_kestrelmoor.txt": "NATO CONFIDENTIAL\n"
    "(NC) After the drone strike on the Tapa fuel depot, the KESTRELMOOR team reported "
    "Shahed-136 debris near Alūksne on 21 November 2026.\nNATO CONFIDENTIAL",
}


def _eve(rows: list[tuple[str, int, str, int, str, int, str, str]]) -> str:
    """Suricata EVE alert lines: (time, flow, src, port, dst, port, signature, category)."""
    return "\n".join(
        json.dumps(
            {
                "timestamp": time, "flow_id": flow, "event_type": "alert", "src_ip": src,
                "src_port": sport, "dest_ip": dst, "dest_port": dport, "proto": "TCP",
                "alert": {"signature_id": 2000000 + flow, "signature": signature,
                          "category": category, "severity": 1},
            }
        )
        for time, flow, src, sport, dst, dport, signature, category in rows
    )  # fmt: skip


# The Riga port intrusion, at lux_nr's level: an incident everyone may read.
EVE_RESTRICTED = _eve(
    [
        ("2026-11-18T03:40:01.000000+0000", 1, "203.0.113.7", 4444, "10.20.0.15", 445,
         "ET EXPLOIT Possible ETERNALBLUE MS17-010 Echo Response",
         "Attempted Administrator Privilege Gain"),
        ("2026-11-18T03:41:12.000000+0000", 2, "10.20.0.15", 50123, "203.0.113.7", 443,
         "ET MALWARE Cobalt Strike Beacon Observed", "A Network Trojan was detected"),
        ("2026-11-18T03:52:40.000000+0000", 3, "10.20.0.15", 50188, "198.51.100.23", 443,
         "ET POLICY Large outbound transfer to rare external host",
         "Potential Corporate Privacy Violation"),
    ]
)  # fmt: skip
# Above lux_nr: an implant whose name is a codeword.
EVE_SECRET = _eve(
    [
        ("2026-11-20T05:00:00.000000+0000", 11, "198.51.100.66", 8443, "10.30.0.9", 3389,
         "ET MALWARE NIGHTJARCOVE implant beacon", "A Network Trojan was detected"),
        ("2026-11-20T05:02:30.000000+0000", 12, "10.30.0.9", 50999, "198.51.100.66", 8443,
         "ET MALWARE NIGHTJARCOVE implant exfiltration", "A Network Trojan was detected"),
    ]
)  # fmt: skip


def build_workspace(
    home: Path,
    built_gazetteer: Path | None,
    files: list[str] | None = SCENARIO_FILES,
    held_back: bool = True,
) -> None:
    """The browser tests' workspace at `home` (`files=None`: the whole scenario)."""
    if built_gazetteer is not None:
        workspace = new_workspace(home, built_gazetteer)
    else:
        workspace = Workspace.create(home, "ops", parse_clearance("NATO SECRET", "FRA", ["CRYPTO"]))
        workspace.add_user("deu_nc", parse_clearance("NATO CONFIDENTIAL", "DEU"), actor="ops")
        workspace.add_user("lux_nr", parse_clearance("NATO RESTRICTED", "LUX"), actor="ops")
    with workspace:
        operator = workspace.operator()
        for name, password in PASSWORDS.items():
            one_time = workspace.accounts.set_password(operator, name)
            workspace.accounts.change_password(workspace.store.get_user(name), one_time, password)
        inputs = [SCENARIO / name for name in files] if files is not None else [SCENARIO]
        if held_back:
            folder = home.parent / "held_back"
            inputs += [write(folder, name, text) for name, text in HELD_BACK.items()]
        report = workspace.ingest(
            operator, inputs, source="exercise", marking=parse_marking(DEMO_FLOOR_MARKING)
        )
        assert not report.failed, report.failed
        alerts = home.parent / "alerts"
        restricted = write(alerts, "riga_port.json", EVE_RESTRICTED)
        workspace.ingest_alerts(
            operator, [restricted], source="cert", marking=parse_marking("NATO RESTRICTED")
        )
        if held_back:
            secret = write(alerts, "implant.json", EVE_SECRET)
            workspace.ingest_alerts(
                operator, [secret], source="cert", marking=parse_marking("NATO SECRET")
            )


def launch(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


def new_page(browser: Browser, locale: str = "en-GB") -> Page:
    context = browser.new_context(viewport=VIEWPORT, locale=locale, accept_downloads=True)
    return context.new_page()


def log_in(page: Page, base: str, user: str, then: str = "/") -> None:
    """Log `user` in through the login page, and wait for the page `then`."""
    page.goto(f"{base}/login?next={then}")
    page.get_by_label(re.compile("^(User name|Nom d'utilisateur)$")).fill(user)
    page.get_by_label(re.compile("^(Password|Mot de passe)$")).fill(PASSWORDS[user])
    page.locator("form.login-form button[type=submit]").click()
    expect(page.locator(".who-name")).to_have_text(user)


def strings(language: str) -> dict[str, Any]:
    table: dict[str, Any] = json.loads(
        (WEB_SOURCE / "strings" / f"{language}.json").read_text(encoding="utf-8")
    )
    return table
