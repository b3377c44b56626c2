"""Twin workspaces: the noninterference rule of issue 9, made executable.

The rule: a reader's every output is a function of the records that reader
may read, and of nothing else. Here a `Twin` describes two workspaces built
through the real pipeline (the `guetteur` CLI, the real store, spaCy, the
gazetteer, the sentence encoder): both receive the records the reader R may
read, in the same order; one also receives records R may not read (more
reports, other spellings of the same names, the same text at a higher
marking, alerts, Windows events, STIX indicators, Sigma rules, other users'
watches), interleaved at drawn positions. `compare_twin` then runs every
command R can run in both, as the operator acting `--as R`, and returns each
output that differs once timestamps are normalised.

Shared by tests/security/test_noninterference.py (the hypothesis property,
and fixed twins for the findings of issue 9), the same rule over HTTP
(tests/api/test_api_noninterference.py) and on PostgreSQL
(tests/store/contract/test_postgres_noninterference.py), all three through
tests/noninterference_fixtures.py, and benchmarks/noninterference.py (the
long run). `Pipeline` memoises only pure stages (sentence embeddings and
spaCy entity spans, per text) and shares one loaded Enricher across every CLI
call, so an example costs well under a second.
"""

from __future__ import annotations

import difflib
import json
import re
import shutil
import tempfile
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from click.testing import CliRunner
from hypothesis import strategies as st

import guetteur.enrich.embeddings as embeddings
import guetteur.workspace as workspace_module
from guetteur.cli import main
from guetteur.enrich.places import Gazetteer
from guetteur.pipeline.enrichment import GAZETTEER_FILE, Enricher
from guetteur.security.markings import may_read, parse_clearance, parse_marking
from guetteur.workspace import Workspace

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO.parent / "shared" / "data"
EVE_FILE = SHARED_DATA / "suricata_eve" / "hassanabad_honeypot-2018_alerts.json"
SIGMA = SHARED_DATA / "sigma_regression_events"

# Every twin shares this id secret: ids are keyed HMACs, equal in both twins
# only when they are computed from the same readable content.
ID_SECRET = "5a" * 32

OPERATOR = "so"  # the workspace's first user: a security officer, may act --as anyone
OPERATOR_CLEARANCE = ("COSMIC TOP SECRET", "FRA", ("CRYPTO",))
OTHER = "fra_ns"  # another user, whose watches R must not notice
OTHER_CLEARANCE = ("NATO SECRET", "FRA", ("CRYPTO",))
READERS = {
    "lux_nr": ("NATO RESTRICTED", "LUX", ()),
    "deu_nc": ("NATO CONFIDENTIAL", "DEU", ()),
    "fra_dr": ("DIFFUSION RESTREINTE", "FRA", ()),
}

MARKINGS = (
    "NATO UNCLASSIFIED",
    "NATO RESTRICTED",
    "NATO RESTRICTED // REL TO FRA, LUX",
    "NATO RESTRICTED // REL TO FRA",
    "NATO RESTRICTED // CRYPTO",
    "NATO CONFIDENTIAL",
    "NATO CONFIDENTIAL // REL TO DEU, FRA",
    "NATO SECRET",
    "NATO SECRET // REL TO FRA",
    "DIFFUSION RESTREINTE",
    "COSMIC TOP SECRET",
)

# Spellings a banner may take for the same marking; all must be read (finding 9).
BANNER_SPELLINGS: dict[str, tuple[str, ...]] = {
    "NATO SECRET": ("NATO SECRET", "NATO SECRET.", "NATO-SECRET"),
    "NATO SECRET // REL TO FRA": (
        "NATO SECRET // REL TO FRA",
        "NATO SECRET - REL TO FRA",
        "NATO SECRET / REL TO FRA",
    ),
}

# A readable spelling and the spelling a record R may not read uses (finding 4).
RESPELLINGS = {
    "Yevgeny Prigozhinow": "Yevgeny Prigozhinov",
    "Andrei Volkonsky": "Andrey Volkonskiy",
    "Oleg Marchenko": "Oleh Martchenko",
    "Ivangorod": "Ivangorod-Narva",
}

# Short reports in French and English: spot reports in SALUTE form, prose
# naming units, places, people and equipment, cyber notes with IPs and ATT&CK ids.
TEXTS = (
    """SPOTREP 0116-01
DTG: 161005ZNOV26
SIZE: one reinforced company, 6 armoured personnel carriers.
ACTIVITY: vehicles arrived at the fortress car park and established security posts.
LOCATION: Ivangorod, east bank of the Narva river.
UNIT: 14th Guards Motor Rifle Brigade, 2nd battalion.
TIME: 160930ZNOV26.
EQUIPMENT: 6 x BTR-82A, 3 x KAMAZ trucks.""",
    """COMPTE RENDU D'OBSERVATION 0118-02
DTG : 181440ZNOV26
EFFECTIF : une batterie, 4 lance-roquettes.
ACTIVITÉ : déchargement sur la gare de triage.
LIEU : Ostrov, gare de marchandises.
UNITÉ : 6e régiment de chars.
HEURE : 181400ZNOV26.
MATÉRIEL : 4 x TOS-1A.""",
    """INTREP 003 — Orlan-10 activity near Narva
DTG: 171200ZNOV26
Source grading: B2
Three Orlan-10 drones flew along the Narva river on 17 November. The 6th Tank Regiment
was seen moving T-72B3 tanks towards Ivangorod the same evening.""",
    """INTREP 007 — Strike on the fuel depot at Tapa
DTG: 211530ZNOV26
A drone strike hit the fuel depot at Tapa on 21 November. Colonel Andrei Volkonsky,
commander of the 76th Guards Air Assault Division, praised the strike on Telegram.""",
    """Yevgeny Prigozhinow, a logistics broker close to the Varnian staff, met officers of the
14th Guards Motor Rifle Brigade in Pskov on 19 November to arrange diesel deliveries.""",
    """Le dénommé Yevgeny Prigozhinow a été aperçu à Daugavpils le 20 novembre, au volant d'un
camion KAMAZ immatriculé en Varnie, près du pont ferroviaire.""",
    """CERT NOTE 0412 — Phishing against the port of Riga
Since 16 November a spear-phishing campaign (T1566.001) has targeted logistics companies of
the port of Riga. The loader beacons to 8.42.77.171 over HTTPS (T1071.001).""",
    """NOTE CERT 0418 — Exfiltration de manifestes
Le groupe GREYFOX a exfiltré des manifestes de fret depuis le port de Riga vers
80.211.246.121. Technique observée : T1041. Un chargeur PowerShell (T1059.001) a été trouvé.""",
    """CERT NOTE 0422 — Workstation compromise at Tapa
A workstation of the Tapa garrison connected to 37.49.231.178 and 92.63.194.33 on 22 November.
The intrusion set used valid accounts (T1078) and remote services (T1021).""",
    """LOGREP 14 — Fuel situation of BG LYNX
The fuel depot at Tapa holds 3.1 days of supply of diesel. A convoy of 45,000 litres arrived
from Paldiski on 22 November. Two further convoys are expected on 23 November.""",
    """SITREP GTIA LYNX 21
Le GTIA LYNX a déployé une section de VBCI au nord de Tapa le 21 novembre. Le colonel
Oleg Marchenko, officier de liaison, signale des brouillages GNSS près de Tartu.""",
    """Press review — 22 November
Estonian media report that the bridge over the Narva river between Narva and Ivangorod is
closed to civilian traffic. Residents describe military lorries on the far bank.""",
    """SPOTREP 0122-02
DTG: 220515ZNOV26
SIZE: two vehicles.
ACTIVITY: electronic warfare system deployed in a clearing.
LOCATION: 5 km east of Pskov.
UNIT: unknown EW company.
TIME: 220500ZNOV26.
EQUIPMENT: 1 x Krasukha-4.""",
    """Oleg Marchenko reports that the 2S19 Msta-S battery left Ostrov by rail on 19 November,
heading for the Latvian border near Daugavpils.""",
    """INTREP 015 — Command networks
SIGINT shows that Varnian command networks switched frequencies on 21 November, which usually
precedes a change of posture of the 6th Tank Regiment near Ostrov.""",
    """Revue de presse du 18 novembre
La presse lettone rapporte l'incendie d'un entrepôt à Riga. Andrei Volkonsky dément toute
implication de ses parachutistes.""",
    """CERT ADVISORY 031 — Public indicators
Scanning from 8.42.77.171 and 80.211.246.121 against government sites of Estonia and Latvia
since 20 November. SSH brute force (T1110) and VNC scanning (T1046).""",
    """Patrouille luxembourgeoise de reconnaissance à Valga le 19 novembre : aucun mouvement
de BTR-82A observé. Le pont de Valga reste ouvert.""",
    """HUMINT report — border villages near Võru
Villagers saw a column of T-72B3 tanks and Orlan-10 operators near Võru on 20 November.
Yevgeny Prigozhinow paid the villagers in cash for fuel.""",
    """Synthèse : l'adversaire cherche à isoler Narva. Le 6e régiment de chars et la
14e brigade de fusiliers motorisés de la Garde sont les unités les plus exposées.""",
)

QUERIES = (
    "Narva",
    "BTR-82A Ivangorod",
    "frappe de drone sur le dépôt de carburant",
    "Prigozhinow",
    "Prigozhinov",
    "8.42.77.171",
    "phishing port of Riga",
    "T1566.001",
    "6e régiment de chars",
    "convoy of diesel",
)
QUESTIONS = (
    "Where is the 6th Tank Regiment?",
    "Qui est Yevgeny Prigozhinow ?",
    "What happened at Tapa?",
)
REQUIREMENTS = (
    "armoured vehicles near Narva or Ivangorod",
    "cyber attacks against the port of Riga",
    "fuel supply of BG LYNX",
)

# Honeypot EVE alerts, and Sigma regression events with the rules they trigger.
_EVE: list[dict[str, Any]] = json.loads(EVE_FILE.read_text()) if EVE_FILE.exists() else []
EVE_POOL = tuple(range(min(len(_EVE), 16)))
_SIGMA_ROWS = (
    [
        row
        for row in (line.split(",")[:4] for line in (SIGMA / "labels.csv").read_text().splitlines())
        if row[2].startswith("rules/proc_creation_win") and row[1] == "1"
    ][:6]
    if SIGMA.exists()
    else []
)
SIGMA_POOL = tuple(range(len(_SIGMA_ROWS)))


def sigma_event_file(index: int) -> Path:
    return SIGMA / _SIGMA_ROWS[index][0]


def sigma_rule_file(index: int) -> Path:
    return SIGMA / _SIGMA_ROWS[index][2]


def sigma_rule_id(index: int) -> str:
    return _SIGMA_ROWS[index][3]


# ------------------------------------------------------------------------ records
@dataclass(frozen=True)
class Doc:
    """A report the operator ingests: marked by banner lines or by `--marking`."""

    name: str
    body: str
    marking: str
    # The banner spelling on the first and last lines; None: marked by
    # `--marking` alone; "": the body carries its own banner somewhere.
    banner: str | None
    floor: str | None = None  # a lower `--marking` given with a banner

    hidden: bool = False

    def content(self) -> str:
        if not self.banner:
            return self.body + "\n"
        return f"{self.banner}\n\n{self.body}\n\n{self.banner}\n"


@dataclass(frozen=True)
class Alerts:
    """A Suricata EVE file (records of the honeypot sample) under one marking."""

    name: str
    records: tuple[int, ...]
    marking: str
    hidden: bool = False


@dataclass(frozen=True)
class WinEvents:
    """Sysmon events from the Sigma regression set under one marking."""

    name: str
    events: tuple[int, ...]
    marking: str
    hidden: bool = False


@dataclass(frozen=True)
class Intel:
    """A STIX 2.1 bundle of IP indicators, imported under one marking."""

    name: str
    ips: tuple[str, ...]
    marking: str
    hidden: bool = False


@dataclass(frozen=True)
class Rules:
    """Sigma rules the operator loads with `rules load DIR --marking M`."""

    name: str
    rules: tuple[int, ...]
    marking: str
    hidden: bool = False


@dataclass(frozen=True)
class Watch:
    """A standing requirement of another user."""

    name: str
    owner: str
    text: str
    hidden: bool = True
    marking: str = ""


Record = Doc | Alerts | WinEvents | Intel | Rules | Watch


@dataclass(frozen=True)
class Twin:
    """Two workspaces: `steps` without hidden records, and with them.

    A step is one CLI run of the operator: several `Doc`s in one step are
    ingested by one `ingest` call (one batch), so hidden reports share
    batches with readable ones.
    """

    reader: str
    steps: tuple[tuple[Record, ...], ...]
    queries: tuple[str, ...] = ("Narva",)
    questions: tuple[str, ...] = ()
    requirement: str = REQUIREMENTS[0]
    own_text: str = "NATO UNCLASSIFIED\n\nA new note on Narva.\n"
    own_rules: tuple[int, ...] = ()
    watch_at: int = 0  # R adds their requirement before this step
    full: bool = True  # also ask, brief and incident --markdown/--stix

    def visible_steps(self) -> list[tuple[Record, ...]]:
        kept = (tuple(r for r in step if not r.hidden) for step in self.steps)
        return [step for step in kept if step]

    def records(self) -> list[Record]:
        return [record for step in self.steps for record in step]

    def size(self) -> int:
        """How big a reproduction this is (smaller is easier to read)."""
        return sum(1 + len(str(r)) // 200 for r in self.records()) + len(self.queries)

    def describe(self) -> str:
        lines = [f"reader {self.reader} {READERS[self.reader]}"]
        for number, step in enumerate(self.steps):
            for record in step:
                tag = "HIDDEN " if record.hidden else "       "
                lines.append(f"  step {number} {tag}{_describe_record(record)}")
        lines.append(f"  queries {list(self.queries)}; questions {list(self.questions)}")
        lines.append(f"  R's watch {self.requirement!r}; R ingests {self.own_text[:60]!r}")
        lines.append(f"  R loads rules {[sigma_rule_id(i)[:8] for i in self.own_rules]}")
        return "\n".join(lines)


def _describe_record(record: Record) -> str:
    if isinstance(record, Doc):
        how = f"banner {record.banner!r}" if record.banner else f"--marking {record.marking!r}"
        if record.floor:
            how += f" --marking {record.floor!r}"
        return f"doc {record.name} [{how}] {record.body[:50]!r}"
    if isinstance(record, Alerts):
        return f"EVE {record.name} records {list(record.records)} at {record.marking}"
    if isinstance(record, WinEvents):
        return f"sysmon {record.name} events {list(record.events)} at {record.marking}"
    if isinstance(record, Intel):
        return f"STIX {record.name} indicators {list(record.ips)} at {record.marking}"
    if isinstance(record, Rules):
        ids = [sigma_rule_id(i)[:8] for i in record.rules]
        return f"rules {record.name} {ids} at {record.marking}"
    return f"watch of {record.owner}: {record.text!r}"


def reader_clearance(reader: str) -> Any:
    level, nation, caveats = READERS[reader]
    return parse_clearance(level, nation, caveats)


def readable_markings(reader: str) -> tuple[list[str], list[str]]:
    clearance = reader_clearance(reader)
    readable = [m for m in MARKINGS if may_read(clearance, parse_marking(m))]
    return readable, [m for m in MARKINGS if m not in readable]


# -------------------------------------------------------------------- strategies
@st.composite
def twins(draw: st.DrawFn, full_every: int = 4) -> Twin:
    """A random twin pair; every `full_every`-th one (by draw) runs the expensive commands."""
    reader = draw(st.sampled_from(sorted(READERS)))
    readable, unreadable = readable_markings(reader)
    names = iter(f"r{n:02d}" for n in range(100))

    bodies = draw(st.lists(st.sampled_from(TEXTS), min_size=1, max_size=6, unique=True))
    steps: list[list[Record]] = []
    for body in bodies:
        marking = draw(st.sampled_from(readable))
        banner = marking if draw(st.booleans()) else None
        doc = Doc(next(names), body, marking, banner)
        last = steps[-1] if steps else None
        if (
            last
            and isinstance(last[0], Doc)
            and (last[0].banner is None) == (banner is None)
            and (banner is not None or last[0].marking == marking)
            and draw(st.booleans())
        ):
            last.append(doc)
        else:
            steps.append([doc])

    eve_seen: set[int] = set()
    if EVE_POOL:
        for _ in range(draw(st.integers(0, 2))):
            chosen = draw(st.lists(st.sampled_from(EVE_POOL), min_size=1, max_size=4, unique=True))
            eve_seen.update(chosen)
            alerts = Alerts(next(names), tuple(chosen), draw(st.sampled_from(readable)))
            steps.insert(draw(st.integers(0, len(steps))), [alerts])
    win_seen: set[int] = set()
    if SIGMA_POOL and draw(st.booleans()):
        chosen = draw(st.lists(st.sampled_from(SIGMA_POOL), min_size=1, max_size=3, unique=True))
        win_seen.update(chosen)
        events = WinEvents(next(names), tuple(chosen), draw(st.sampled_from(readable)))
        steps.insert(draw(st.integers(0, len(steps))), [events])
        if draw(st.booleans()):
            rules = draw(st.lists(st.sampled_from(SIGMA_POOL), min_size=1, max_size=2, unique=True))
            loaded = Rules(next(names), tuple(rules), draw(st.sampled_from(readable)))
            steps.insert(draw(st.integers(0, len(steps))), [loaded])

    visible_bodies = [r.body for step in steps for r in step if isinstance(r, Doc)]
    spellable = [t for t in TEXTS if any(name in t for name in RESPELLINGS)]
    hidden: list[Record] = []
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(
            st.sampled_from(
                ["doc", "respelled", "higher", "alerts", "winevents", "intel", "rules", "watch"]
            )
        )
        marking = draw(st.sampled_from(unreadable))
        name = next(names)
        if kind in ("doc", "respelled", "higher"):
            if kind == "doc":
                body = draw(st.sampled_from(TEXTS))
            elif kind == "respelled":
                body = respell(draw(st.sampled_from(spellable)))
            else:
                body = draw(st.sampled_from(visible_bodies))
            # The very text of a readable report at a higher marking is not a
            # twin: re-ingesting it raises the readable copy (an operator's
            # choice R must see). With its own banner the text differs.
            by_banner = kind != "doc" or body in visible_bodies or draw(st.booleans())
            banner = draw(st.sampled_from(BANNER_SPELLINGS.get(marking, (marking,))))
            floor = draw(st.sampled_from([None, *readable])) if by_banner else None
            hidden.append(Doc(name, body, marking, banner if by_banner else None, floor, True))
        elif kind == "alerts" and len(eve_seen) < len(EVE_POOL):
            left = [i for i in EVE_POOL if i not in eve_seen]
            chosen = draw(st.lists(st.sampled_from(left), min_size=1, max_size=4, unique=True))
            eve_seen.update(chosen)
            hidden.append(Alerts(name, tuple(chosen), marking, True))
        elif kind == "winevents" and len(win_seen) < len(SIGMA_POOL):
            left = [i for i in SIGMA_POOL if i not in win_seen]
            chosen = draw(st.lists(st.sampled_from(left), min_size=1, max_size=3, unique=True))
            win_seen.update(chosen)
            hidden.append(WinEvents(name, tuple(chosen), marking, True))
        elif kind == "intel" and _EVE:
            ips = sorted({_EVE[i]["src_ip"] for i in EVE_POOL} | {"203.0.113.7"})
            chosen = draw(st.lists(st.sampled_from(ips), min_size=1, max_size=3, unique=True))
            hidden.append(Intel(name, tuple(chosen), marking, True))
        elif kind == "rules" and SIGMA_POOL:
            chosen = draw(
                st.lists(st.sampled_from(SIGMA_POOL), min_size=1, max_size=3, unique=True)
            )
            hidden.append(Rules(name, tuple(chosen), marking, True))
        else:
            # R's own name for theirs, too — once: a second "mine" of the same owner
            # would be refused, a setup error and no twin.
            taken = {r.name for r in hidden if isinstance(r, Watch)}
            watch_name = draw(st.sampled_from(["mine", name])) if "mine" not in taken else name
            hidden.append(Watch(watch_name, OTHER, draw(st.sampled_from(REQUIREMENTS))))

    for record in hidden:
        position = draw(st.integers(0, len(steps)))
        target = steps[position - 1] if position else None
        joinable = (
            isinstance(record, Doc)
            and record.banner is not None
            and record.floor is None
            and target is not None
            and isinstance(target[0], Doc)
            and target[0].banner is not None
            and target[0].floor is None
        )
        if joinable and target is not None and draw(st.booleans()):
            target.insert(draw(st.integers(0, len(target))), record)
        else:
            steps.insert(position, [record])

    hidden_texts = [r.content() for r in hidden if isinstance(r, Doc)]
    own_text = draw(
        st.sampled_from(hidden_texts or ["NATO UNCLASSIFIED\n\nA new note on Narva.\n"])
    )
    return Twin(
        reader=reader,
        steps=tuple(tuple(step) for step in steps),
        queries=tuple(draw(st.lists(st.sampled_from(QUERIES), min_size=1, max_size=3))),
        questions=tuple(draw(st.lists(st.sampled_from(QUESTIONS), max_size=1))),
        requirement=draw(st.sampled_from(REQUIREMENTS)),
        own_text=own_text,
        own_rules=tuple(draw(st.lists(st.sampled_from(SIGMA_POOL), max_size=2, unique=True)))
        if SIGMA_POOL
        else (),
        watch_at=draw(st.integers(0, len(steps))),
        full=draw(st.integers(0, full_every - 1)) == 0,
    )


def respell(text: str) -> str:
    for readable, hidden in RESPELLINGS.items():
        text = text.replace(readable, hidden)
    return text


# ---------------------------------------------------------------------- pipeline
class _MemoEncoder:
    """The real sentence encoder, each text's vector kept once computed.

    A text's vector is computed once per process (with whatever else was
    missing in that call: the encoder costs ~0.4 s a call, ~0.05 s a text)
    and reused, so both twins see the same vector for the same text. The
    real encoder pads a batch to its longest text, which moves vectors in
    the seventh digit: the memo hides that from the twins on purpose, as
    rank fusion rounds it away.
    """

    def __init__(self, encoder: Any) -> None:
        self.encoder = encoder
        self.vectors: dict[str, npt.NDArray[np.float32]] = {}

    def encode(self, texts: list[str]) -> npt.NDArray[np.float32]:
        missing = list(dict.fromkeys(text for text in texts if text not in self.vectors))
        if missing:
            vectors = np.asarray(self.encoder.encode(missing), dtype=np.float32)
            self.vectors.update(zip(missing, vectors.reshape(len(missing), -1), strict=True))
        return np.stack([self.vectors[text] for text in texts])


class _MemoExtractor:
    """The real entity extractor, its mentions kept per (text, language)."""

    def __init__(self, extractor: Any) -> None:
        self.extractor = extractor
        self.found: dict[tuple[str, str], list[Any]] = {}

    def extract_batch(self, texts: Sequence[str], languages: Sequence[str]) -> list[list[Any]]:
        keys = list(zip(texts, languages, strict=True))
        missing = list(dict.fromkeys(key for key in keys if key not in self.found))
        if missing:
            found = self.extractor.extract_batch(
                [t for t, _ in missing], [lang for _, lang in missing]
            )
            self.found.update(zip(missing, found, strict=True))
        return [list(self.found[key]) for key in keys]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.extractor, name)


class Pipeline:
    """One loaded Enricher and memoised pure stages, shared by every twin of a process."""

    def __init__(self, folder: Path, memoise: bool = True) -> None:
        self.folder = folder
        Gazetteer.open(folder / GAZETTEER_FILE).close()
        self.enricher = Enricher(folder)
        self.memoise = memoise
        if memoise:
            self.enricher._extractor = _MemoExtractor(self.enricher._extractor)  # type: ignore[assignment]

    @contextmanager
    def installed(self) -> Iterator[None]:
        """Every Workspace opened inside gets the shared Enricher (the CLI opens one per call)."""
        saved_enricher = workspace_module.Enricher
        saved_model = embeddings._model
        workspace_module.Enricher = lambda home, techniques=None: self.enricher  # type: ignore[misc,assignment]
        if self.memoise:
            encoder = embeddings._encoder()
            if not isinstance(encoder, _MemoEncoder):
                embeddings._model = _MemoEncoder(encoder)
        try:
            yield
        finally:
            workspace_module.Enricher = saved_enricher  # type: ignore[misc]
            embeddings._model = saved_model

    @contextmanager
    def unmemoised_embeddings(self) -> Iterator[None]:
        """The encoder exactly as the product runs it: batch by batch, nothing kept."""
        saved = embeddings._model
        if isinstance(saved, _MemoEncoder):
            embeddings._model = saved.encoder
        try:
            yield
        finally:
            embeddings._model = saved


# ----------------------------------------------------------------- running twins
@dataclass(frozen=True)
class Output:
    command: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str


@dataclass(frozen=True)
class Difference:
    """One output of R that differs between the twins."""

    command: tuple[str, ...]
    without: Output  # in the workspace without hidden records
    with_hidden: Output

    @property
    def kind(self) -> str:
        """The command's name, the category a leak is filed under."""
        words = [w for w in self.command if not w.startswith("--")][:2]
        head = words[0] if words else "?"
        if head in ("watch", "rules", "alerts") and len(words) > 1 and words[1].isalpha():
            head += " " + words[1]
        flags = [w for w in self.command if w in ("--geojson", "--markdown", "--stix")]
        return " ".join([head, *flags])

    def render(self) -> str:
        parts = [f"$ guetteur {' '.join(_quote(a) for a in self.command)}"]
        a, b = self.without, self.with_hidden
        if a.exit_code != b.exit_code:
            parts.append(f"  exit code {a.exit_code} without hidden records, {b.exit_code} with")
        for stream in ("stdout", "stderr"):
            left, right = getattr(a, stream), getattr(b, stream)
            if left != right:
                diff = difflib.unified_diff(
                    left.splitlines(), right.splitlines(), "without hidden", "with hidden",
                    lineterm="", n=1,
                )  # fmt: skip
                parts.append(f"  {stream}:")
                parts.extend("    " + line for line in list(diff)[:40])
        return "\n".join(parts)


def _quote(arg: str) -> str:
    return repr(arg) if (" " in arg or not arg) else arg


_ISO = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:\d\d)?")
_DTG = re.compile(r"\b\d{6}Z(?:JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC)\d\d\b")
_DURATION = re.compile(
    r'("(?:elapsed|duration|seconds|took)[a-z_]*": )[0-9.]+|\b\d+(?:\.\d+)? ?(?:ms|s)\b'
)


def normalise(text: str, now: datetime, roots: Sequence[Path]) -> str:
    """Only what may differ between twins: times of the run, durations, folders."""

    def moment(match: re.Match[str]) -> str:
        try:
            value = datetime.fromisoformat(match.group(0).replace("Z", "+00:00"))
        except ValueError:
            return match.group(0)
        value = value if value.tzinfo else value.replace(tzinfo=UTC)
        return "<now>" if abs(value - now) < timedelta(days=2) else match.group(0)

    def dtg(match: re.Match[str]) -> str:
        try:
            value = datetime.strptime(match.group(0), "%d%H%MZ%b%y").replace(tzinfo=UTC)
        except ValueError:
            return match.group(0)
        return "<now>" if abs(value - now) < timedelta(days=2) else match.group(0)

    for root in roots:
        text = text.replace(str(root), "<twin>")
    text = _ISO.sub(moment, text)
    text = _DTG.sub(dtg, text)
    return _DURATION.sub(lambda m: (m.group(1) or "") + "<duration>", text)


def normalise_output(output: Output, now: datetime, roots: Sequence[Path]) -> Output:
    stdout, stderr = (normalise(text, now, roots) for text in (output.stdout, output.stderr))
    return Output(output.command, output.exit_code, stdout, stderr)


class TwinWorkspace:
    """One of the two workspaces of a twin, driven through the CLI."""

    def __init__(self, home: Path, inputs: Path, runner: CliRunner) -> None:
        self.home = home
        self.inputs = inputs
        self.runner = runner
        self.root = home.parent
        self.watch_added: Output | None = None  # R's own `watch add`, compared too

    def cli(self, *args: str) -> Output:
        result = self.runner.invoke(main, ["--home", str(self.home), *args])
        stderr = result.stderr
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            error = result.exception
            where = traceback.extract_tb(error.__traceback__)[-1]
            stderr += (
                f"\n<uncaught {type(error).__name__}: {error} "
                f"at {Path(where.filename).name}:{where.lineno}>"
            )
        return Output(tuple(args), result.exit_code, result.stdout, stderr)

    def operator(self, *args: str) -> Output:
        done = self.cli(*args)
        if done.exit_code not in (0, 3):  # 3: some inputs refused, which a test may want
            raise SetupError(f"operator step failed: {args}: {done.stdout}{done.stderr}")
        return done


class SetupError(AssertionError):
    """The operator could not build a twin (not a leak: the test itself is wrong)."""


def write_inputs(twin: Twin, inputs: Path) -> None:
    """Every record's file, at the same path for both twins (origins are printed)."""
    inputs.mkdir(parents=True, exist_ok=True)
    for record in twin.records():
        if isinstance(record, Doc):
            (inputs / f"{record.name}.txt").write_text(record.content(), encoding="utf-8")
        elif isinstance(record, Alerts):
            chosen = [_EVE[i] for i in record.records]
            (inputs / f"{record.name}.json").write_text(json.dumps(chosen), encoding="utf-8")
        elif isinstance(record, WinEvents):
            folder = inputs / record.name
            folder.mkdir()
            for index in record.events:
                shutil.copyfile(sigma_event_file(index), folder / sigma_event_file(index).name)
        elif isinstance(record, Intel):
            bundle = stix_bundle(record.ips, record.name)
            (inputs / f"{record.name}.json").write_text(json.dumps(bundle), encoding="utf-8")
        elif isinstance(record, Rules):
            _copy_rules(record.rules, inputs / record.name)
    (inputs / "own.txt").write_text(twin.own_text, encoding="utf-8")
    _copy_rules(twin.own_rules, inputs / "own_rules")


def _copy_rules(indices: Sequence[int], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for index in indices:
        shutil.copyfile(sigma_rule_file(index), folder / sigma_rule_file(index).name)


def stix_bundle(ips: Sequence[str], name: str) -> dict[str, Any]:
    objects = [
        {
            "type": "indicator",
            "spec_version": "2.1",
            "id": f"indicator--00000000-0000-4000-8000-{number:012d}",
            "created": "2026-11-20T10:00:00.000Z",
            "modified": "2026-11-20T10:00:00.000Z",
            "name": f"{name} {ip}",
            "pattern": f"[ipv4-addr:value = '{ip}']",
            "pattern_type": "stix",
            "valid_from": "2026-11-20T10:00:00Z",
        }
        for number, ip in enumerate(ips, start=1)
    ]
    return {
        "type": "bundle",
        "id": f"bundle--00000000-0000-4000-8000-{sum(map(ord, name)):012d}",
        "objects": objects,
    }


def supports(*command: str, option: str) -> bool:
    """Whether a CLI command takes `option` (the lead adds some while this test runs)."""
    node: Any = main
    for name in command:
        node = node.commands[name]
    return any(option in getattr(p, "opts", ()) for p in node.params)


def build(
    twin: Twin,
    home: Path,
    inputs: Path,
    runner: CliRunner,
    hidden: bool,
    store: str | None = None,
) -> TwinWorkspace:
    """Create one workspace of the twin and put its records in, as the operator.

    `store`: a postgresql:// URL to keep its records in (None: the SQLite file)."""
    level, nation, caveats = OPERATOR_CLEARANCE
    created = Workspace.create(home, OPERATOR, parse_clearance(level, nation, caveats), store)
    created.store.set_id_secret(ID_SECRET)
    created.close()
    ws = TwinWorkspace(home, inputs, runner)
    for name, (level, nation, caveats) in (
        (twin.reader, READERS[twin.reader]),
        (OTHER, OTHER_CLEARANCE),
    ):
        args = ["users", "add", name, "--clearance", level, "--nationality", nation]
        args += [f"--caveat={c}" for c in caveats]
        if supports("users", "add", option="--role"):
            args += ["--role", "analyst"]
        ws.operator(*args)
    for number, step in enumerate(twin.steps):
        if number == twin.watch_at:
            ws.watch_added = ws.cli("watch", "add", "mine", twin.requirement, "--as", twin.reader)
        records = [r for r in step if hidden or not r.hidden]
        if records:
            run_step(ws, records)
    if twin.watch_at >= len(twin.steps):
        ws.watch_added = ws.cli("watch", "add", "mine", twin.requirement, "--as", twin.reader)
    return ws


def run_step(ws: TwinWorkspace, step: Sequence[Record]) -> None:
    first = step[0]
    if isinstance(first, Doc):
        docs = [r for r in step if isinstance(r, Doc)]
        args = ["ingest", *(str(ws.inputs / f"{d.name}.txt") for d in docs), "--json"]
        given = first.floor if first.banner is not None else first.marking
        if given:
            args += ["--marking", given]
        ws.operator(*args)
    elif isinstance(first, Alerts):
        path = str(ws.inputs / f"{first.name}.json")
        ws.operator(
            "alerts", "ingest", path, "--format", "eve", "--marking", first.marking, "--json"
        )
    elif isinstance(first, WinEvents):
        path = str(ws.inputs / first.name)
        ws.operator(
            "alerts", "ingest", path, "--format", "sysmon", "--marking", first.marking, "--json"
        )
    elif isinstance(first, Intel):
        path = str(ws.inputs / f"{first.name}.json")
        ws.operator("intel", "import", path, "--marking", first.marking, "--json")
    elif isinstance(first, Rules):
        args = ["rules", "load", str(ws.inputs / first.name), "--json"]
        if supports("rules", "load", option="--marking"):
            args += ["--marking", first.marking]
        ws.operator(*args)
    elif isinstance(first, Watch):
        ws.operator("watch", "add", first.name, first.text, "--as", first.owner)


def _json(output: Output) -> Any:
    try:
        return json.loads(output.stdout)
    except ValueError:
        return None


def _discover(outputs: Sequence[Output]) -> tuple[set[str], set[str], set[str]]:
    """Document ids, entity names and ids, and incident ids an output shows."""
    doc_ids: set[str] = set()
    entities: set[str] = set()
    incidents: set[str] = set()
    for output in outputs:
        payload = _json(output)
        if not isinstance(payload, dict):
            continue
        for result in payload.get("results", []):
            doc_ids.add(str(result["id"]))
        for event in payload.get("events", []):
            doc_ids.add(str(event["doc_id"]))
        # By name: each name R saw; by id: the first only (`entities` prints them all).
        for number, entity in enumerate(payload.get("entities", [])):
            entities.add(str(entity["name"]))
            if number == 0:
                entities.add(str(entity["id"]))
        for incident in payload.get("incidents", []):
            incidents.add(str(incident["id"]))
    return doc_ids, entities, incidents


@dataclass
class TwinRun:
    """Both workspaces' outputs, command by command."""

    twin: Twin
    outputs: list[tuple[Output, Output]] = field(default_factory=list)

    def differences(self) -> list[Difference]:
        return [
            Difference(a.command, a, b)
            for a, b in self.outputs
            if (a.exit_code, a.stdout, a.stderr) != (b.exit_code, b.stdout, b.stderr)
        ]

    def report(self) -> str:
        found = self.differences()
        kinds = sorted({d.kind for d in found})
        head = f"{len(found)} of {len(self.outputs)} outputs differ ({', '.join(kinds)})"
        return "\n".join([head, self.twin.describe(), *(d.render() for d in found)])


def scratch_folder() -> Path:
    """Where twins are built: memory when the machine has it (SQLite syncs cost more than work)."""
    shm = Path("/dev/shm")
    return Path(tempfile.mkdtemp(prefix="twins-", dir=shm if shm.is_dir() else None))


def compare_twin(
    twin: Twin, base: Path | None = None, stores: Callable[[], str] | None = None
) -> TwinRun:
    """Build both workspaces of `twin` and run every command R can run in each.

    `stores`: gives a new, empty postgresql:// database for each workspace
    (tests/store/contract runs the twins on PostgreSQL); None: SQLite."""
    root = Path(tempfile.mkdtemp(prefix="twin-", dir=base))
    try:
        return _compare(twin, root, stores)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _compare(twin: Twin, root: Path, stores: Callable[[], str] | None = None) -> TwinRun:
    runner = CliRunner()
    inputs = root / "inputs"
    write_inputs(twin, inputs)
    now = datetime.now(UTC)
    plain = build(twin, root / "a" / "ws", inputs, runner, hidden=False,
                  store=stores() if stores else None)  # fmt: skip
    hidden = build(twin, root / "b" / "ws", inputs, runner, hidden=True,
                   store=stores() if stores else None)  # fmt: skip
    run = TwinRun(twin)
    r = ["--as", twin.reader]
    if plain.watch_added and hidden.watch_added:
        run.outputs.append(
            (normalise_output(plain.watch_added, now, [plain.root]),
             normalise_output(hidden.watch_added, now, [hidden.root]))
        )  # fmt: skip

    def both(*args: str) -> tuple[Output, Output]:
        pair = (
            normalise_output(plain.cli(*args, *r), now, [plain.root]),
            normalise_output(hidden.cli(*args, *r), now, [hidden.root]),
        )
        run.outputs.append(pair)
        return pair

    first = [both("stats", "--json")]
    first += [both("search", query, "--json") for query in twin.queries]
    first += [both("entities", "--json"), both("events", "--json")]
    both("events", "--geojson")
    both("alerts", "--json")
    first.append(both("incidents", "--json"))
    seen = [o for pair in first for o in pair]
    doc_ids, entities, incidents = _discover(seen)
    doc_ids |= hidden_doc_ids(hidden.home, plain.home)
    entities |= {spelling for spelling in RESPELLINGS.values() if _mentions(twin, spelling)}
    for doc_id in sorted(doc_ids):
        both("show", doc_id, "--json")
    for name in sorted(entities):
        both("entity", name, "--json")
    for incident_id in sorted(incidents):
        both("incident", incident_id, "--json")
        if twin.full:
            both("incident", incident_id, "--markdown")
            both("incident", incident_id, "--stix")
    both("watch", "list", "--json")
    both("watch", "run", "--json")
    if twin.full:
        for question in twin.questions:
            both("ask", question, "--json")
        both("brief", "--json")
    # R's own writes, last: their answers must not depend on hidden records either.
    rules = ["rules", "load", str(inputs / "own_rules"), "--json"]
    if supports("rules", "load", option="--marking"):
        rules += ["--marking", readable_markings(twin.reader)[0][-1]]
    both(*rules)
    both("reindex")
    own = readable_markings(twin.reader)[0][-1]
    both("ingest", str(inputs / "own.txt"), "--marking", own, "--json")
    return run


def _mentions(twin: Twin, text: str) -> bool:
    return any(isinstance(r, Doc) and text in r.body for r in twin.records())


def hidden_doc_ids(with_hidden: Path, without: Path) -> set[str]:
    """Ids of documents only the workspace with hidden records holds (read as the operator)."""

    def ids(home: Path) -> set[str]:
        with Workspace.open(home) as ws:
            return {d.id for d in ws.store.documents_for_maintenance()}

    return ids(with_hidden) - ids(without)
