"""A small staff workspace shared by the product tests: reports of several markings.

Users (from tests/conftest.py): ops (NATO SECRET, FRA, CRYPTO), lux_nr (NATO
RESTRICTED, LUX), deu_nc (NATO CONFIDENTIAL, DEU).
"""

from __future__ import annotations

from pathlib import Path

from guetteur.workspace import Workspace

from conftest import new_workspace, write

# Text that only the SECRET report holds: no product for a lesser reader may show it.
SECRET_FACT = "pontoon bridge PMP-7"

REPORTS = {
    "secret_crossing.txt": """NATO SECRET // REL TO FRA

INTREP 021 — Engineer activity at Narva
DTG: 221400ZNOV26
Source grading: B2

SIGINT indicates that the 55th Engineer Brigade moved the pontoon bridge PMP-7 to a forest
clearing 4 km east of Ivangorod on 22 November. The crossing site faces the Narva river bank
near the old castle. We assess that a crossing rehearsal is likely within 72 hours.

NATO SECRET // REL TO FRA
""",
    "restricted_fuel.txt": """NATO RESTRICTED

LOGREP 14 — Fuel situation of BG LYNX
DTG: 221800ZNOV26
Source grading: A1

The fuel depot at Tapa holds 3.1 days of supply of diesel after the drone strike of 21 November.
A convoy of 45,000 litres of diesel arrived from Paldiski at 1410Z on 22 November.
Two further convoys are expected on 23 November if the E20 road stays open.

NATO RESTRICTED
""",
    "confidential_cyber.txt": """NATO CONFIDENTIAL // REL TO DEU, FRA, LUX

CERT NOTE 0412 — Phishing against the port of Riga
DTG: 211000ZNOV26
Source grading: B2

Since 16 November a spear-phishing campaign has targeted logistics companies of the port of Riga.
The intrusion set GREYFOX used macro-enabled documents to deploy a PowerShell loader.
The manifest of the ro-ro vessel carrying 60 tonnes of ammunition was exfiltrated.

NATO CONFIDENTIAL // REL TO DEU, FRA, LUX
""",
    "unclassified_press.txt": """NATO UNCLASSIFIED

Press review — 22 November
Source grading: C3

Estonian media report that the bridge over the Narva river between Narva and Ivangorod is closed
to civilian traffic. Local residents describe military lorries on the Varnian side of the river.

NATO UNCLASSIFIED
""",
    "caveated_sigint.txt": """NATO SECRET // REL TO FRA // CRYPTO

SIGINT summary 7 — Varnian command networks
DTG: 220600ZNOV26

Varnian command networks switched to new frequencies on 21 November, which usually precedes
a change of posture of the 6th Tank Regiment near Ostrov.

NATO SECRET // REL TO FRA // CRYPTO
""",
    "restricted_french.txt": """NATO RESTRICTED // REL TO FRA, LUX

COMPTE RENDU 9 — Patrouille luxembourgeoise
DTG: 221900ZNOV26
Cotation : B2

La patrouille luxembourgeoise a reconnu l'itinéraire de repli entre Tapa et Jõhvi le 22 novembre.
Le pont de Kiviõli est praticable pour les véhicules de 40 tonnes.

NATO RESTRICTED // REL TO FRA, LUX
""",
}


def build_staff(root: Path, built_gazetteer: Path) -> Workspace:
    """A workspace holding REPORTS, ingested through the real pipeline."""
    workspace = new_workspace(root / "ws", built_gazetteer)
    for name, text in REPORTS.items():
        write(root / "reports", name, text)
    report = workspace.ingest(workspace.user("ops"), [root / "reports"], source="staff")
    assert report.ingested == len(REPORTS), report.failed
    return workspace
