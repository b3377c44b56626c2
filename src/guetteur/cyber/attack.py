"""MITRE ATT&CK: the user's technique catalogue, and prose mapped onto it.

`guetteur attack import FILE` reads a catalogue the user brings — a STIX 2.0/2.1
bundle of ATT&CK objects, or the techniques.csv/tactics.csv pair — with
`load_catalogue`; the store persists it through `Catalogue.to_records` and
reads it back with `Catalogue.from_records`. Alerts carrying rule tags already
name their techniques; prose does not (threat reports, alert descriptions,
analysts' notes), so `TechniqueMapper` ranks techniques for a passage by fusing
three signals: multilingual sentence embeddings of each technique's name and
opening sentences (French text lands near English descriptions), BM25 over
names and full descriptions, and a small curated FR/EN cue table ("mimikatz",
"tâche planifiée", …). A technique id written in the text ("T1566.001") wins
outright. The mapper is pure apart from the optional embedding cache file, so
the pipeline can run it in batches on any executor.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import re
import tempfile
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from guetteur._exceptions import IngestError

__all__ = [
    "Catalogue",
    "FusionWeights",
    "Signals",
    "Tactic",
    "Technique",
    "TechniqueMapper",
    "explicit_technique_ids",
    "load_catalogue",
]

Embedder = Callable[[Sequence[str]], npt.NDArray[np.float32]]

# Kill-chain order of the Enterprise matrix, used when a bundle carries no
# x-mitre-matrix object to give it (the reference bundle does not).
_ENTERPRISE_ORDER = (
    "reconnaissance",
    "resource-development",
    "initial-access",
    "execution",
    "persistence",
    "privilege-escalation",
    "defense-evasion",
    "credential-access",
    "discovery",
    "lateral-movement",
    "collection",
    "command-and-control",
    "exfiltration",
    "impact",
)
_KILL_CHAINS = {"mitre-attack", "mitre-mobile-attack", "mitre-ics-attack"}
_TECHNIQUE_ID = re.compile(r"^T\d{4}(?:\.\d{3})?$")
# In prose people also write T1059/001 and lower case; the boundary checks keep
# "T10590" or "AT1059" from matching.
_TECHNIQUE_IN_TEXT = re.compile(r"(?<![A-Za-z0-9])[Tt](\d{4})(?:[./](\d{3}))?(?![0-9])")


@dataclass(frozen=True)
class Tactic:
    """One column of the matrix: "TA0002", "execution", "Execution"."""

    id: str
    shortname: str
    name: str


@dataclass(frozen=True)
class Technique:
    """A technique or sub-technique; `parent` is set for sub-techniques ("T1059")."""

    id: str
    name: str
    tactics: tuple[str, ...] = ()
    description: str = ""
    parent: str | None = None

    @property
    def is_subtechnique(self) -> bool:
        return self.parent is not None


class Catalogue:
    """Techniques by id and tactics in kill-chain order; immutable once built."""

    __slots__ = ("_techniques", "_tactics", "_digest")

    def __init__(self, techniques: Iterable[Technique], tactics: Iterable[Tactic]) -> None:
        ordered = sorted(techniques, key=lambda technique: technique.id)
        self._techniques: Mapping[str, Technique] = MappingProxyType(
            {technique.id: technique for technique in ordered}
        )
        self._tactics = tuple(tactics)
        self._digest: str | None = None

    @property
    def techniques(self) -> Mapping[str, Technique]:
        return self._techniques

    @property
    def tactics(self) -> tuple[Tactic, ...]:
        return self._tactics

    def __len__(self) -> int:
        return len(self._techniques)

    def __iter__(self) -> Iterator[Technique]:
        return iter(self._techniques.values())

    def __contains__(self, technique_id: object) -> bool:
        return technique_id in self._techniques

    def __getitem__(self, technique_id: str) -> Technique:
        return self._techniques[technique_id]

    def get(self, technique_id: str) -> Technique | None:
        return self._techniques.get(technique_id)

    def full_name(self, technique: Technique) -> str:
        """ "Phishing: Spearphishing Attachment" — the form ATT&CK prints."""
        parent = self._techniques.get(technique.parent) if technique.parent else None
        return f"{parent.name}: {technique.name}" if parent else technique.name

    def subtechniques(self, technique_id: str) -> tuple[Technique, ...]:
        return tuple(t for t in self._techniques.values() if t.parent == technique_id)

    def tactic(self, shortname: str) -> Tactic | None:
        return next((t for t in self._tactics if t.shortname == shortname), None)

    @property
    def digest(self) -> str:
        """SHA-256 of the records: keys caches of anything derived from the catalogue."""
        if self._digest is None:
            canonical = json.dumps(self.to_records(), sort_keys=True, ensure_ascii=False)
            self._digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
        return self._digest

    def to_records(self) -> list[dict[str, Any]]:
        """Plain JSON-able rows, tactics first (in order), for a store to persist."""
        records: list[dict[str, Any]] = [
            {"kind": "tactic", "id": t.id, "shortname": t.shortname, "name": t.name}
            for t in self._tactics
        ]
        records.extend(
            {
                "kind": "technique",
                "id": t.id,
                "name": t.name,
                "tactics": list(t.tactics),
                "description": t.description,
                "parent": t.parent,
            }
            for t in self._techniques.values()
        )
        return records

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, Any]]) -> Catalogue:
        """The inverse of `to_records`; raises IngestError on a malformed row."""
        techniques: list[Technique] = []
        tactics: list[Tactic] = []
        for number, record in enumerate(records, start=1):
            try:
                if record["kind"] == "tactic":
                    tactics.append(
                        Tactic(str(record["id"]), str(record["shortname"]), str(record["name"]))
                    )
                elif record["kind"] == "technique":
                    parent = record.get("parent")
                    techniques.append(
                        Technique(
                            id=str(record["id"]),
                            name=str(record["name"]),
                            tactics=tuple(str(t) for t in record.get("tactics", ())),
                            description=str(record.get("description") or ""),
                            parent=str(parent) if parent else None,
                        )
                    )
                else:
                    raise ValueError(f"unknown kind {record['kind']!r}")
            except (KeyError, TypeError, ValueError) as error:
                raise IngestError(
                    f"ATT&CK catalogue records#{number}", f"malformed record: {error}"
                ) from error
        return cls(techniques, tactics)


# --------------------------------------------------------------------------- loading


def load_catalogue(path: Path) -> Catalogue:
    """Read a STIX bundle (.json), a techniques.csv (tactics.csv beside it) or a folder.

    A folder holding one JSON bundle is read as that bundle — bundles carry the
    descriptions the mapper needs, the CSV pair does not — otherwise as its
    techniques.csv/tactics.csv pair. Revoked and deprecated objects are skipped.
    """
    path = Path(path)
    if path.is_dir():
        bundles = sorted(path.glob("*.json"))
        if len(bundles) == 1:
            return _load_bundle(bundles[0])
        if (path / "techniques.csv").is_file():
            return _load_csv(path / "techniques.csv")
        if bundles:
            raise IngestError(str(path), f"{len(bundles)} JSON files; name the bundle to import")
        raise IngestError(str(path), "no STIX bundle (*.json) and no techniques.csv")
    if not path.is_file():
        raise IngestError(str(path), "no such file")
    if path.suffix.lower() == ".csv":
        return _load_csv(path)
    return _load_bundle(path)


def _read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise IngestError(str(path), f"not UTF-8 text (byte {error.start})") from error
    except OSError as error:
        raise IngestError(str(path), f"cannot read: {error.strerror or error}") from error


def _mitre_id(obj: Mapping[str, Any]) -> str | None:
    for reference in obj.get("external_references") or ():
        if (
            isinstance(reference, dict)
            and str(reference.get("source_name", "")).startswith("mitre")
            and reference.get("external_id")
        ):
            return str(reference["external_id"])
    return None


def _load_bundle(path: Path) -> Catalogue:
    text = _read_text(path)
    try:
        bundle = json.loads(text)
    except json.JSONDecodeError as error:
        raise IngestError(
            str(path), f"not JSON ({error.msg} at line {error.lineno}, column {error.colno})"
        ) from error
    if not isinstance(bundle, dict) or not isinstance(bundle.get("objects"), list):
        raise IngestError(str(path), "not a STIX bundle (no 'objects' list)")
    techniques: dict[str, Technique] = {}
    tactics_by_stix: dict[str, Tactic] = {}
    matrix_order: list[str] = []
    for obj in bundle["objects"]:
        if not isinstance(obj, dict) or obj.get("revoked") or obj.get("x_mitre_deprecated"):
            continue
        kind = obj.get("type")
        if kind == "attack-pattern":
            technique_id = _mitre_id(obj)
            if not technique_id or not _TECHNIQUE_ID.match(technique_id):
                continue
            if technique_id in techniques:  # the same technique listed twice: keep the first
                continue
            phases = tuple(
                str(phase["phase_name"])
                for phase in obj.get("kill_chain_phases") or ()
                if isinstance(phase, dict)
                and phase.get("kill_chain_name") in _KILL_CHAINS
                and phase.get("phase_name")
            )
            techniques[technique_id] = Technique(
                id=technique_id,
                name=str(obj.get("name") or technique_id),
                tactics=phases,
                description=str(obj.get("description") or ""),
                parent=technique_id.split(".")[0] if "." in technique_id else None,
            )
        elif kind == "x-mitre-tactic":
            tactic_id = _mitre_id(obj) or ""
            shortname = str(obj.get("x_mitre_shortname") or "")
            if shortname:
                tactics_by_stix[str(obj.get("id"))] = Tactic(
                    tactic_id, shortname, str(obj.get("name") or shortname)
                )
        elif kind == "x-mitre-matrix":
            matrix_order.extend(str(ref) for ref in obj.get("tactic_refs") or ())
    if not techniques:
        raise IngestError(
            str(path), "no ATT&CK attack-pattern with a mitre-attack external id in the bundle"
        )
    ordered = [tactics_by_stix[ref] for ref in matrix_order if ref in tactics_by_stix]
    if not ordered:
        rank = {name: index for index, name in enumerate(_ENTERPRISE_ORDER)}
        ordered = sorted(tactics_by_stix.values(), key=lambda t: rank.get(t.shortname, len(rank)))
    unique = list({t.shortname: t for t in reversed(ordered)}.values())[::-1]
    return Catalogue(techniques.values(), unique)


_TECHNIQUE_COLUMNS = {"technique_id", "name"}
_TACTIC_COLUMNS = {"tactic_id", "name", "shortname"}


def _csv_rows(path: Path, required: set[str]) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(_read_text(path), newline=""))
    missing = required - set(reader.fieldnames or ())
    if missing:
        raise IngestError(
            str(path), f"missing column(s) {', '.join(sorted(missing))} in the header line"
        )
    try:
        return [{k: (v or "").strip() for k, v in row.items() if k} for row in reader]
    except csv.Error as error:
        raise IngestError(str(path), f"bad CSV at line {reader.line_num}: {error}") from error


def _load_csv(path: Path) -> Catalogue:
    rows = _csv_rows(path, _TECHNIQUE_COLUMNS)
    tactics: list[Tactic] = []
    tactics_path = path.with_name("tactics.csv")
    if tactics_path.is_file():
        tactics = [
            Tactic(row["tactic_id"], row["shortname"], row["name"])
            for row in _csv_rows(tactics_path, _TACTIC_COLUMNS)
        ]
    shortname_by_key = {t.id: t.shortname for t in tactics}
    shortname_by_key.update({t.name.lower(): t.shortname for t in tactics})
    techniques = []
    for number, row in enumerate(rows, start=2):
        technique_id = row["technique_id"]
        if not _TECHNIQUE_ID.match(technique_id):
            raise IngestError(f"{path}:{number}", f"not a technique id: {technique_id!r}")
        if row.get("tactic_ids"):
            keys = row["tactic_ids"].split(";")
        else:
            keys = [name.lower() for name in row.get("tactics", "").split(";")]
        # Without tactics.csv, "Command and Control" still becomes a shortname.
        names = tuple(
            shortname_by_key.get(key.strip(), key.strip().lower().replace(" ", "-"))
            for key in keys
            if key.strip()
        )
        parent = row.get("parent_id") or (
            technique_id.split(".")[0] if "." in technique_id else None
        )
        techniques.append(
            Technique(
                id=technique_id,
                name=row["name"],
                tactics=names,
                description=row.get("description", ""),
                parent=parent or None,
            )
        )
    if not techniques:
        raise IngestError(str(path), "no technique rows")
    return Catalogue(techniques, tactics)


# --------------------------------------------------------------------------- text


_CITATION = re.compile(r"\(Citation:[^)]*\)")
_MARKDOWN_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_HTML_TAG = re.compile(r"</?[a-zA-Z][^>]*>")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(])")


def _clean_description(description: str) -> str:
    text = _CITATION.sub("", description)
    text = _MARKDOWN_LINK.sub(r"\1", text)
    text = _HTML_TAG.sub("", text)
    return " ".join(text.split())


def _opening(description: str, budget: int) -> str:
    """Whole opening sentences up to about `budget` characters (at least one)."""
    taken: list[str] = []
    length = 0
    for sentence in _SENTENCE_END.split(_clean_description(description)):
        if taken and length + len(sentence) > budget:
            break
        taken.append(sentence)
        length += len(sentence) + 1
    return " ".join(taken)[: budget * 2]


_TOKEN = re.compile(r"[a-z0-9]+")
# Words every description shares, and French/English function words: they only
# dilute the lexical signal.
_STOPWORDS = frozenset(
    """a an and are as at be been being but by can could did do does for from had has have
    how if in into is it its may might more most not of on or other such than that the their
    them then there these they this those through to use used uses using via was were what
    when where which while who will with within would adversary adversaries also some any
    au aux avec ce ces dans de des du elle en est et il ils la le les leur leurs mais ont ou
    par pas pour qu que qui sa se ses son sont sur un une d l s n c j""".split()
)


def _fold(text: str) -> str:
    """Lower case without accents: "Tâche planifiée" → "tache planifiee"."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _stem(token: str) -> str:
    # Plurals only (English and French): enough for "tasks"/"tâches" to meet
    # "task"/"tâche" without a stemmer's surprises on tool names.
    if len(token) <= 3:
        return token
    if token.endswith("sses"):
        return token[:-2]
    if token.endswith("ies") and len(token) > 4:
        return token[:-3] + "y"
    if token.endswith(("ches", "shes", "xes")):
        return token[:-2]
    if token.endswith("s") and not token.endswith(("ss", "us", "is")):
        return token[:-1]
    return token


def _tokens(text: str) -> list[str]:
    return [_stem(token) for token in _TOKEN.findall(_fold(text))]


def _cue_text(text: str) -> str:
    return " " + " ".join(_tokens(text)) + " "


def explicit_technique_ids(text: str) -> list[str]:
    """Technique ids written in the text, in order of first appearance ("T1059.001")."""
    found: list[str] = []
    for match in _TECHNIQUE_IN_TEXT.finditer(text):
        technique_id = f"T{match.group(1)}" + (f".{match.group(2)}" if match.group(2) else "")
        if technique_id not in found:
            found.append(technique_id)
    return found


# --------------------------------------------------------------------------- cues

# Curated phrases per technique, English and French, written as a reader would
# ("tâche planifiée"); they are folded and plural-stripped like the text, and a
# trailing "*" on a word matches any ending ("obfusc*"). A cue is evidence, not
# a verdict: it is fused with the other signals. Ids missing from the user's
# catalogue (another ATT&CK version) are ignored.
CUES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        # initial access
        "T1566": ("phishing", "phishing email", "hameconnage", "courriel d hameconnage"),
        "T1566.001": (
            "spearphishing attachment",
            "spear phishing attachment",
            "malicious attachment",
            "malicious word",
            "word attachment",
            "weaponized document",
            "weaponised document",
            "malicious document",
            "email attachment",
            "attached document",
            "piece jointe piegee",
            "piece jointe malveillante",
            "document piege",
            "courriel piege",
        ),
        "T1566.002": (
            "spearphishing link",
            "spear phishing link",
            "malicious link",
            "phishing link",
            "lien malveillant",
            "lien piege",
        ),
        "T1190": (
            "public facing",
            "internet facing",
            "sql injection",
            "injection sql",
            "exploit* vulnerabilit* in",
            "exploit* the vulnerability",
            "exposed to the internet",
            "vulnerable web server",
            "expose sur internet",
            "exploitation d une vulnerabilite",
        ),
        "T1133": ("vpn", "external remote service*", "citrix", "acces vpn"),
        "T1189": ("drive by", "watering hole", "exploit kit", "point d eau", "site compromis"),
        "T1195.002": (
            "supply chain",
            "trojanized update",
            "trojanised update",
            "trojanized installer",
            "chaine d approvisionnement",
            "mise a jour piegee",
        ),
        "T1199": ("trusted relationship", "managed service provider", "prestataire"),
        "T1091": ("usb", "removable media", "removable drive*", "cle usb", "support amovible"),
        "T1078": (
            "valid account*",
            "legitimate credential*",
            "stolen credential*",
            "compromised account*",
            "compromised credential*",
            "valid credential*",
            "legitimate account*",
            "compte valide",
            "identifiant vole",
            "identifiants voles",
            "compte compromis",
        ),
        # execution
        "T1059": ("command and scripting interpreter", "scripting interpreter", "interpreteur"),
        "T1059.001": (
            "powershell",
            "invoke expression",
            "encodedcommand",
            "powershell empire",
            "iex",
            "script powershell",
        ),
        "T1059.003": (
            "cmd",
            "cmd exe",
            "command prompt",
            "command line",
            "command shell",
            "batch file",
            "bat file",
            "invite de commande",
            "ligne de commande",
            "interpreteur de commande",
        ),
        "T1059.004": ("bash", "unix shell", "shell script", "sh script"),
        "T1059.005": ("vbscript", "vbs", "visual basic", "vba", "wscript", "cscript"),
        "T1059.006": ("python", "python script"),
        "T1059.007": ("javascript", "jscript"),
        "T1047": (
            "wmi",
            "wmic",
            "windows management instrumentation",
            "win32 process",
            "wmiprvse",
        ),
        "T1053.005": (
            "scheduled task*",
            "schtask*",
            "task scheduler",
            "tache planifiee",
            "planificateur de tache*",
            "at exe",
        ),
        "T1053.003": ("cron", "crontab"),
        "T1106": (
            "native api",
            "windows api",
            "api call*",
            "api function*",
            "createprocess*",
            "ntdll",
            "shellexecute*",
            "winexec",
            "appel d api",
            "fonction api",
        ),
        "T1129": ("shared module*", "load* a dll", "load* dll"),
        "T1203": (
            "exploit* microsoft office",
            "equation editor",
            "malicious rtf",
            "cve 2017 11882",
            "browser exploit",
            "client side exploit*",
        ),
        "T1204.001": ("click* the link", "click* on a link", "clique sur le lien"),
        "T1204.002": (
            "user execution",
            "open* the attachment",
            "open* the document",
            "open* the file",
            "victim open*",
            "user open*",
            "double click*",
            "enable macro*",
            "enable content",
            "lure",
            "trick* the user",
            "trick* victim*",
            "ouvr* la piece jointe",
            "l utilisateur ouvre",
            "activer les macro*",
            "fichier malveillant",
        ),
        "T1569.002": (
            "service execution",
            "psexec",
            "sc start",
            "start* the service",
            "remcom",
            "execution de service",
            "paexec",
        ),
        "T1072": (
            "software deployment",
            "deployment tool*",
            "sccm",
            "configuration manager",
            "patch management",
            "outil de deploiement",
        ),
        # persistence / privilege escalation
        "T1547.001": (
            "run key*",
            "currentversion run",
            "runonce",
            "startup folder",
            "autorun",
            "autostart",
            "cle run",
            "dossier de demarrage",
            "demarrage automatique",
        ),
        "T1543.003": (
            "windows service",
            "new service",
            "creat* a service",
            "creat* service",
            "install* a service",
            "install* as a service",
            "sc create",
            "service creation",
            "nouveau service",
            "creation de service",
            "service windows",
        ),
        "T1136": (
            "creat* a new account",
            "creat* account*",
            "creat* user account*",
            "new user account",
            "creation de compte",
            "nouveau compte",
        ),
        "T1098": ("account manipulation", "add* to the administrators group"),
        "T1505.003": ("web shell*", "webshell*", "china chopper", "shell web"),
        "T1546.003": ("wmi event subscription", "eventfilter", "commandlineeventconsumer"),
        "T1546.015": ("com hijack*", "clsid", "inprocserver32"),
        "T1546.008": ("sticky key*", "sethc", "utilman", "accessibility feature*"),
        "T1574.001": (
            "dll side load*",
            "side load*",
            "sideload*",
            "dll hijack*",
            "dll search order",
            "detournement de dll",
            "chargement lateral",
        ),
        "T1548.002": (
            "uac",
            "user account control",
            "bypass uac",
            "uac bypass",
            "eventvwr",
            "fodhelper",
            "controle de compte d utilisateur",
        ),
        "T1068": (
            "privilege escalation exploit",
            "local privilege escalation",
            "kernel exploit",
            "exploit* to escalate",
            "escalade de privilege*",
            "elevation de privilege*",
        ),
        "T1134": (
            "token impersonation",
            "token manipulation",
            "access token",
            "duplicatetoken*",
            "impersonateloggedonuser",
            "adjusttokenprivilege*",
            "sedebugprivilege",
        ),
        "T1484.001": (
            "group policy",
            "gpo",
            "strategie de groupe",
            "strategies de groupe",
            "gpmc",
        ),
        # defence evasion
        "T1027": (
            "obfusc*",
            "obfuscated",
            "encrypted string*",
            "string encryption",
            "junk code",
            "obfusqu*",
            "offusc*",
            "offusqu*",
            "brouill*",
        ),
        "T1027.002": ("packer", "packed", "packing", "upx", "themida", "vmprotect"),
        "T1027.003": ("steganograph*", "steganographie"),
        "T1027.013": (
            "encrypted payload",
            "encoded payload",
            "xor encrypted",
            "xor encoded",
            "encrypted file",
            "charge utile chiffree",
        ),
        "T1140": (
            "decod*",
            "decrypt*",
            "deobfusc*",
            "unpack*",
            "decompress*",
            "dechiffr*",
            "decodag*",
            "desobfusc*",
            "decompress* the payload",
        ),
        "T1055": (
            "inject*",
            "process injection",
            "code injection",
            "dll injection",
            "createremotethread",
            "writeprocessmemory",
            "virtualallocex",
            "injection de code",
            "injecte",
        ),
        "T1055.012": ("process hollowing", "hollow*", "runpe"),
        "T1620": ("reflective* load*", "reflective dll", "fileless", "sans fichier"),
        "T1036": ("masquerad*", "disguis*", "se fait passer pour", "deguis*"),
        "T1036.005": (
            "legitimate name",
            "legitimate file name*",
            "legitimate filename*",
            "named after",
            "mimic* legitimate",
            "same name as",
            "nom legitime",
            "nom de fichier legitime",
        ),
        "T1036.007": ("double extension", "double file extension"),
        "T1070.004": (
            "delete*",
            "delet* itself",
            "self delet*",
            "remov* itself",
            "remov* file*",
            "wipe* file*",
            "clean up",
            "cleanup",
            "supprim*",
            "effac* fichier*",
            "suppression",
        ),
        "T1070.001": (
            "clear* event log*",
            "clear* the event log*",
            "wevtutil",
            "effac* les journaux",
            "journaux d evenement*",
        ),
        "T1070.006": ("timestomp*", "setfiletime", "modif* timestamp*", "horodatage"),
        "T1112": (
            "modify registry",
            "modif* the registry",
            "registry modification",
            "reg add",
            "regsetvalue*",
            "set* registry",
            "writ* to the registry",
            "modif* du registre",
            "modifie le registre",
            "cle de registre",
        ),
        "T1562.001": (
            "disabl* antivirus",
            "disabl* security",
            "disabl* windows defender",
            "windows defender",
            "security tool*",
            "security product*",
            "terminat* security",
            "kill* antivirus",
            "tamper*",
            "edr",
            "desactiv* l antivirus",
            "desactiv*",
        ),
        "T1562.002": ("disabl* event log*", "disabl* logging", "auditpol"),
        "T1562.004": ("disabl* firewall", "firewall rule*", "netsh advfirewall", "pare feu"),
        "T1564.001": (
            "hidden file*",
            "hidden attribute",
            "hidden director*",
            "hidden folder*",
            "attrib h",
            "file attribute hidden",
            "fichier cache",
            "dossier cache",
        ),
        "T1564.003": ("hidden window", "windowstyle hidden", "sw hide", "fenetre cachee"),
        "T1564.004": ("alternate data stream*",),
        "T1218": ("signed binary proxy", "lolbin*", "living off the land"),
        "T1218.005": ("mshta", "hta file"),
        "T1218.007": ("msiexec",),
        "T1218.010": ("regsvr32", "squiblydoo"),
        "T1218.011": ("rundll32", "rundll"),
        "T1127.001": ("msbuild",),
        "T1553.002": (
            "code signing",
            "digitally signed",
            "stolen certificate",
            "signed with a",
            "valid signature",
            "certificat vole",
            "signature numerique",
        ),
        "T1497": (
            "sandbox",
            "anti vm",
            "virtual machine detection",
            "vmware",
            "virtualbox",
            "anti analysis",
            "bac a sable",
        ),
        "T1622": ("isdebuggerpresent", "anti debug*", "debugger"),
        "T1014": ("rootkit",),
        "T1542.003": ("bootkit",),
        # credential access
        "T1003": (
            "credential dump*",
            "dump* credential*",
            "os credential dumping",
            "dump* password*",
            "vidage des identifiant*",
            "extraction des identifiant*",
        ),
        "T1003.001": (
            "lsass",
            "mimikatz",
            "sekurlsa",
            "logonpassword*",
            "lsass memory",
            "lsass exe",
        ),
        "T1003.002": ("security account manager", "sam database", "sam hive", "pwdump"),
        "T1003.003": ("ntds", "ntds dit", "ntdsutil"),
        "T1003.006": ("dcsync",),
        "T1110": (
            "brute forc*",
            "brute force",
            "password spray*",
            "credential stuffing",
            "password guessing",
            "dictionary attack",
            "force brute",
            "attaque par dictionnaire",
        ),
        "T1056.001": (
            "keylog*",
            "keystroke*",
            "key logger",
            "getasynckeystate",
            "setwindowshookex",
            "enregistreur de frappe*",
            "frappe* clavier",
        ),
        "T1552.001": (
            "credentials in files",
            "password* stored in",
            "plaintext password*",
            "password file*",
            "cleartext password*",
            "unattend xml",
            "mots de passe en clair",
            "fichier de mots de passe",
        ),
        "T1552.004": ("private key*", "cle privee"),
        "T1555.003": (
            "browser password*",
            "saved password*",
            "stored password*",
            "login data",
            "credentials from web browser*",
            "mots de passe du navigateur",
        ),
        "T1558.003": ("kerberoast*",),
        "T1558.001": ("golden ticket",),
        "T1550.002": ("pass the hash",),
        "T1550.003": ("pass the ticket",),
        "T1557": ("man in the middle", "adversary in the middle", "mitm", "arp spoof*"),
        "T1557.001": ("llmnr", "nbt ns", "responder"),
        "T1040": ("sniff*", "packet capture", "pcap", "wireshark", "tcpdump", "ecoute reseau"),
        "T1111": ("one time password", "two factor", "2fa", "sms code*"),
        "T1621": ("mfa fatigue", "mfa bombing", "push notification*"),
        # discovery
        "T1082": (
            "system information",
            "systeminfo",
            "os version",
            "operating system version",
            "computer name",
            "hostname",
            "hardware information",
            "getcomputername*",
            "volume serial",
            "informations systeme",
            "version du systeme",
            "nom de la machine",
        ),
        "T1083": (
            "file and directory discovery",
            "list* files",
            "enumerat* files",
            "search* for files",
            "file search",
            "directory listing",
            "dir command",
            "enumerat* drives",
            "findfirstfile*",
            "findnextfile*",
            "recherche de fichier*",
            "liste des fichiers",
            "enumer* les fichiers",
        ),
        "T1016": (
            "ipconfig",
            "ifconfig",
            "network configuration",
            "network adapter*",
            "mac address",
            "route print",
            "arp a",
            "getadaptersinfo",
            "configuration reseau",
            "adresse mac",
        ),
        "T1033": (
            "whoami",
            "username",
            "user name",
            "current user",
            "logged on user*",
            "getusername*",
            "nom d utilisateur",
            "utilisateur courant",
        ),
        "T1057": (
            "process list",
            "list of process*",
            "running process*",
            "tasklist",
            "enumerat* process*",
            "process discovery",
            "liste des processus",
            "createtoolhelp32snapshot",
            "process32first",
            "process32next",
        ),
        "T1012": (
            "query registry",
            "query* the registry",
            "reg query",
            "regqueryvalue*",
            "regopenkey*",
            "regenumkey*",
            "read* the registry",
            "check* the registry",
            "interroge le registre",
            "lecture du registre",
        ),
        "T1518": ("installed software", "installed program*", "logiciels installe*"),
        "T1518.001": (
            "security software",
            "antivirus software",
            "installed antivirus",
            "check* for antivirus",
            "antivirus product*",
            "av product*",
            "security solution*",
            "logiciel de securite",
            "logiciel antivirus",
        ),
        "T1046": ("port scan*", "nmap", "network scan*", "masscan", "scan de port*"),
        "T1018": ("net view", "remote system*", "ping sweep", "arp scan", "discover* host*"),
        "T1087": ("account discovery", "net user", "enumerat* account*", "enumerat* user*"),
        "T1087.002": ("domain admin*", "net group", "adfind", "bloodhound"),
        "T1069": ("net localgroup", "permission group*", "group membership"),
        "T1482": ("nltest", "domain trust*"),
        "T1135": ("net share", "network share*", "shared folder*", "partage* reseau"),
        "T1049": ("netstat", "active connection*", "network connection*"),
        "T1007": ("sc query", "list of service*", "enumerat* service*", "net start"),
        "T1124": ("system time", "time zone", "net time"),
        "T1614.001": (
            "keyboard layout",
            "system language",
            "getkeyboardlayout*",
            "getsystemdefaultlangid",
            "disposition du clavier",
        ),
        "T1010": ("window title*", "enumwindow*", "foreground window"),
        "T1120": ("peripheral device*", "connected device*"),
        "T1217": ("bookmark*", "browser history"),
        "T1201": ("password policy",),
        "T1595.002": ("vulnerability scan*", "scan de vulnerabilite*"),
        # lateral movement
        "T1021": (
            "remote service*",
            "lateral movement",
            "mouvement lateral",
            "deplacement lateral",
        ),
        "T1021.001": ("remote desktop", "rdp", "mstsc", "terminal service*", "bureau a distance"),
        "T1021.002": (
            "admin share*",
            "administrative share*",
            "smb share*",
            "net use",
            "partage administratif",
        ),
        "T1021.004": ("ssh",),
        "T1021.006": ("winrm", "windows remote management"),
        "T1210": (
            "eternalblue",
            "ms17 010",
            "smbv1",
            "exploitation of remote service*",
            "exploit* smb",
            "remote exploit*",
        ),
        "T1570": (
            "lateral tool transfer",
            "copy* itself to",
            "copied to remote",
            "copi* to the remote",
            "smb copy",
            "spread* to",
            "propagat*",
            "transfer* files between",
            "laterally",
            "copie sur les machines",
            "transfert lateral",
        ),
        "T1534": ("internal spearphishing", "internal phishing"),
        # collection
        "T1005": (
            "local system",
            "collect* files",
            "steal* files",
            "collect* data",
            "steal* data",
            "collect* information",
            "harvest*",
            "gather*",
            "vol de fichier*",
            "collecte de fichier*",
            "donnees locales",
        ),
        "T1074.001": (
            "staging",
            "staged",
            "stage* data",
            "staging director*",
            "staging folder",
            "local data staging",
            "zone de transit",
        ),
        "T1560": (
            "archiv*",
            "compress*",
            "rar",
            "winrar",
            "7zip",
            "7z",
            "zip",
            "archive chiffree",
        ),
        "T1113": (
            "screenshot*",
            "screen capture*",
            "screen shot*",
            "capture* the screen",
            "capture* screen",
            "bitblt",
            "capture d ecran",
            "captures d ecran",
        ),
        "T1115": ("clipboard", "presse papier*"),
        "T1123": ("microphone", "audio record*"),
        "T1125": ("webcam", "camera"),
        "T1114": ("email collection", "mailbox*", "outlook pst", "boite* aux lettres"),
        "T1119": ("automated collection", "automatically collect*"),
        "T1213": ("sharepoint", "confluence"),
        # command and control
        "T1071": ("application layer protocol",),
        "T1071.001": (
            "http",
            "https",
            "http post",
            "http get",
            "post request*",
            "get request*",
            "web protocol*",
            "user agent",
            "requete http",
        ),
        "T1071.004": ("dns tunnel*", "dns quer*", "dns request*", "txt record*"),
        "T1095": (
            "raw socket*",
            "tcp",
            "udp",
            "icmp",
            "custom protocol",
            "custom binary protocol",
            "non application layer",
            "protocole personnalise",
        ),
        "T1090": ("proxy", "proxie*", "proxi*", "relay*", "socks", "tor", "mandataire", "relais"),
        "T1572": ("tunnel*", "ssh tunnel*", "plink", "ngrok", "tunnelisation"),
        "T1573": ("encrypted channel", "encrypted c2", "canal chiffre"),
        "T1573.001": (
            "aes",
            "rc4",
            "3des",
            "blowfish",
            "symmetric",
            "encrypt* communication*",
            "encrypt* traffic",
            "encrypt* the traffic",
            "chiffrement symetrique",
            "communication* chiffree*",
        ),
        "T1573.002": ("rsa", "asymmetric", "public key", "chiffrement asymetrique"),
        "T1105": (
            "download*",
            "downloader",
            "ingress tool transfer",
            "certutil",
            "bitsadmin",
            "wget",
            "curl",
            "urldownloadtofile",
            "second stage",
            "additional payload*",
            "additional tool*",
            "telecharg*",
        ),
        "T1102": ("pastebin", "github", "telegram", "google doc*", "dead drop", "web service*"),
        "T1568.002": ("domain generation algorithm", "dga"),
        "T1568": ("dynamic dns", "ddns", "fast flux"),
        "T1132": ("data encoding", "encod* traffic", "encod* communication*", "encoded c2"),
        "T1571": ("non standard port", "uncommon port", "port non standard"),
        "T1219": (
            "teamviewer",
            "anydesk",
            "vnc",
            "remote access tool*",
            "remote administration tool*",
            "ammyy",
            "screenconnect",
            "logmein",
            "splashtop",
            "outil d administration a distance",
        ),
        # exfiltration
        "T1041": (
            "exfiltrat*",
            "exfiltration over c2",
            "sent to the c2",
            "send* data to the c2",
            "upload* to the c2",
            "upload* to the server",
            "envoy* au serveur",
        ),
        "T1048": ("exfiltration over alternative protocol", "ftp"),
        "T1567.002": ("dropbox", "mega", "google drive", "onedrive", "cloud storage"),
        # impact
        "T1486": (
            "ransomware",
            "ransom",
            "encrypt* files",
            "encrypt* the files",
            "ransom note",
            "rancongiciel",
            "chiffr* les fichiers",
            "demande de rancon",
        ),
        "T1490": (
            "vssadmin",
            "shadow cop*",
            "delete* shadow*",
            "bcdedit",
            "wbadmin",
            "cliche* instantane*",
            "recovery",
        ),
        "T1485": ("wiper", "destroy* data", "data destruction", "destruction de donnee*"),
        "T1561": ("master boot record", "mbr", "disk wipe", "raw disk"),
        "T1489": ("stop* service*", "service stop", "arret des service*"),
        "T1491": ("defac*", "defiguration", "defigur*"),
        "T1498": ("ddos", "denial of service", "deni de service"),
        "T1496": ("cryptomin*", "coin min*", "xmrig", "monero", "minage"),
        "T1529": ("shutdown", "reboot*", "redemarr*"),
        "T1531": ("account access removal", "lock* out"),
        # resource development
        "T1583.001": ("register* domain*", "typosquat*", "lookalike domain*", "nom de domaine"),
    }
)


def _compile_cue(phrase: str) -> re.Pattern[str]:
    words = []
    for word in phrase.split():
        wildcard = word.endswith("*")
        stemmed = _tokens(word.rstrip("*"))
        body = r"\ ".join(re.escape(token) for token in stemmed)
        words.append(body + (r"[a-z0-9]*" if wildcard else ""))
    return re.compile(r"(?<![a-z0-9])" + r"\ ".join(words) + r"(?![a-z0-9])")


# Whole technique names also act as cues, except names so generic that their
# words turn up in any report ("Proxy" is curated above; "Services" is not a cue).
_MIN_NAME_CUE_LENGTH = 8


# --------------------------------------------------------------------------- mapper


@dataclass(frozen=True)
class FusionWeights:
    """Weights of the three signals in the fused score (normalised to sum to 1).

    The defaults were tuned on the dev half of the TRAM sentences
    (benchmarks/attack_mapping.py); the test half was not used for tuning.
    """

    embedding: float = 0.4
    bm25: float = 0.1
    cues: float = 0.8

    def normalised(self) -> tuple[float, float, float]:
        total = self.embedding + self.bm25 + self.cues
        if total <= 0 or min(self.embedding, self.bm25, self.cues) < 0:
            raise ValueError("fusion weights must be non-negative and not all zero")
        return self.embedding / total, self.bm25 / total, self.cues / total


class Signals(NamedTuple):
    """Per-technique scores in [0, 1] from each signal, shape (texts, techniques)."""

    embedding: npt.NDArray[np.float32]
    bm25: npt.NDArray[np.float32]
    cues: npt.NDArray[np.float32]

    def fuse(self, weights: FusionWeights) -> npt.NDArray[np.float32]:
        """Weighted sum with weights normalised to 1, so the result stays in [0, 1]."""
        w_embedding, w_bm25, w_cues = weights.normalised()
        fused = w_embedding * self.embedding + w_bm25 * self.bm25 + w_cues * self.cues
        clipped: npt.NDArray[np.float32] = np.clip(fused, 0.0, 1.0).astype(np.float32)
        return clipped


_EMBEDDING_TEXT_BUDGET = 200  # characters of description after the name; cost grows with length
_BM25_K1 = 1.2
_BM25_B = 0.75
_EMBED_BATCH = 64


def _default_embedder(texts: Sequence[str]) -> npt.NDArray[np.float32]:
    from guetteur.enrich.embeddings import embed

    return embed(texts)


def _default_model_id() -> str:
    from guetteur.enrich.embeddings import MODEL_ID

    return MODEL_ID


class _Bm25:
    """BM25 over technique names (counted twice) and descriptions, as postings in numpy."""

    def __init__(self, documents: Sequence[list[str]]) -> None:
        self.size = len(documents)
        lengths = np.array([len(d) for d in documents], dtype=np.float32)
        average = float(lengths.mean()) if self.size and lengths.mean() > 0 else 1.0
        norm = _BM25_K1 * (1 - _BM25_B + _BM25_B * lengths / average)
        postings: dict[str, tuple[list[int], list[float]]] = {}
        for index, document in enumerate(documents):
            for term, count in Counter(document).items():
                docs, weights = postings.setdefault(term, ([], []))
                docs.append(index)
                weights.append(count * (_BM25_K1 + 1) / (count + float(norm[index])))
        self.postings: dict[str, tuple[npt.NDArray[np.intp], npt.NDArray[np.float32]]] = {}
        for term, (docs, weights) in postings.items():
            idf = math.log(1 + (self.size - len(docs) + 0.5) / (len(docs) + 0.5))
            self.postings[term] = (
                np.array(docs, dtype=np.intp),
                np.array(weights, dtype=np.float32) * np.float32(idf),
            )

    def scores(self, terms: Iterable[str]) -> npt.NDArray[np.float32]:
        scores = np.zeros(self.size, dtype=np.float32)
        for term in set(terms):
            posting = self.postings.get(term)
            if posting is not None:
                np.add.at(scores, posting[0], posting[1])
        return scores


class TechniqueMapper:
    """Ranks a catalogue's techniques for a passage of prose, French or English.

    Building it embeds every technique once (seconds for the ~700 Enterprise
    techniques); give `cache_dir` to keep that matrix in a .npy file named by the
    catalogue's digest, so the next process loads it instead.
    """

    def __init__(
        self,
        catalogue: Catalogue,
        *,
        weights: FusionWeights | None = None,
        cache_dir: Path | None = None,
        embedder: Embedder | None = None,
        embedder_id: str | None = None,
    ) -> None:
        self.catalogue = catalogue
        self.weights = weights or FusionWeights()
        self._embedder: Embedder = embedder or _default_embedder
        # Part of the cache key: vectors of another model must never be reused.
        self._embedder_id = embedder_id or (
            _default_model_id() if embedder is None else repr(embedder)
        )
        self._techniques = list(catalogue)
        self._index = {t.id: i for i, t in enumerate(self._techniques)}
        self._parent_index = np.array(
            [self._index.get(t.parent, -1) if t.parent else -1 for t in self._techniques],
            dtype=np.intp,
        )
        self._matrix = self._technique_matrix(cache_dir)
        self._bm25 = _Bm25(
            [
                _without_stopwords(_tokens(f"{catalogue.full_name(t)} " * 2 + t.description))
                for t in self._techniques
            ]
        )
        self._cues = self._compile_cues()

    def with_weights(self, weights: FusionWeights) -> TechniqueMapper:
        """The same mapper (no re-embedding) with other fusion weights."""
        clone = object.__new__(TechniqueMapper)
        clone.__dict__.update(self.__dict__)
        clone.weights = weights
        return clone

    def _embedding_texts(self) -> list[str]:
        return [
            f"{self.catalogue.full_name(t)}. {_opening(t.description, _EMBEDDING_TEXT_BUDGET)}"
            for t in self._techniques
        ]

    def _technique_matrix(self, cache_dir: Path | None) -> npt.NDArray[np.float32]:
        texts = self._embedding_texts()
        cache: Path | None = None
        if cache_dir is not None:
            key = hashlib.sha256(
                json.dumps([self._embedder_id, self.catalogue.digest, texts]).encode("utf-8")
            ).hexdigest()[:24]
            cache = Path(cache_dir) / f"attack-embeddings-{key}.npy"
            if cache.is_file():
                try:
                    cached = np.load(cache, allow_pickle=False)
                except (OSError, ValueError):
                    cached = None  # a damaged cache is recomputed, not trusted
                if cached is not None and cached.shape[0] == len(texts):
                    return np.asarray(cached, dtype=np.float32)
        matrix = self._embed(texts)
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=cache.parent, suffix=".npy")
            with os.fdopen(handle, "wb") as out:
                np.save(out, matrix, allow_pickle=False)
            os.replace(temporary, cache)  # readers never see a half-written file
        return matrix

    def _embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        # Batches of similar length waste little on padding, which is most of
        # the cost of the encoder on mixed lengths.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        parts = [
            self._embedder([texts[i] for i in order[start : start + _EMBED_BATCH]])
            for start in range(0, len(order), _EMBED_BATCH)
        ]
        stacked = np.concatenate(parts, axis=0).astype(np.float32, copy=False)
        matrix = np.empty_like(stacked)
        matrix[np.array(order)] = stacked
        return matrix

    def _compile_cues(self) -> list[tuple[int, re.Pattern[str], float]]:
        compiled: list[tuple[int, re.Pattern[str], float]] = []
        for technique_id, phrases in CUES.items():
            index = self._index.get(technique_id)
            if index is None:
                continue
            compiled.extend((index, _compile_cue(phrase), 1.0) for phrase in phrases)
        for index, technique in enumerate(self._techniques):
            if len(technique.name) >= _MIN_NAME_CUE_LENGTH:
                compiled.append((index, _compile_cue(technique.name), 1.0))
        return compiled

    # -- signals, each in [0, 1] per technique

    def _cue_scores(self, text: str) -> npt.NDArray[np.float32]:
        hits = np.zeros(len(self._techniques), dtype=np.float32)
        folded = _cue_text(text)
        for index, pattern, weight in self._cues:
            if pattern.search(folded):
                hits[index] += weight
        scores = 1.0 - np.power(0.5, hits)
        # Evidence for a sub-technique is weaker evidence for its parent.
        has_parent = self._parent_index >= 0
        if has_parent.any():
            parent_scores = np.zeros_like(scores)
            np.maximum.at(parent_scores, self._parent_index[has_parent], 0.5 * scores[has_parent])
            scores = np.maximum(scores, parent_scores)
        return scores.astype(np.float32)

    def _bm25_scores(self, text: str) -> npt.NDArray[np.float32]:
        raw = self._bm25.scores(_without_stopwords(_tokens(text)))
        top = float(raw.max()) if raw.size else 0.0
        return raw / np.float32(top) if top > 0 else raw

    def signals(self, texts: Sequence[str]) -> Signals:
        """The three signals for each text, before fusion (for tuning and diagnosis)."""
        width = len(self._techniques)
        if not texts:
            empty = np.zeros((0, width), dtype=np.float32)
            return Signals(empty, empty.copy(), empty.copy())
        embedding = np.clip(self._embed(texts) @ self._matrix.T, 0.0, 1.0).astype(np.float32)
        bm25 = np.stack([self._bm25_scores(t) for t in texts])
        cues = np.stack([self._cue_scores(t) for t in texts])
        return Signals(embedding, bm25, cues)

    def fused_scores(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Fused scores in [0, 1], shape (len(texts), techniques in `catalogue` order)."""
        fused = self.signals(texts).fuse(self.weights)
        for row, text in enumerate(texts):
            for technique_id in explicit_technique_ids(text):
                index = self._index.get(technique_id)
                if index is not None:
                    fused[row, index] = 1.0
        return fused

    def map_text(self, text: str, top: int = 3) -> list[tuple[Technique, float]]:
        """The `top` techniques for one passage, best first, with scores in [0, 1]."""
        return self.map_batch([text], top)[0]

    def map_batch(self, texts: Sequence[str], top: int = 3) -> list[list[tuple[Technique, float]]]:
        """`map_text` for many passages at once (one embedding call for all)."""
        results: list[list[tuple[Technique, float]]] = [[] for _ in texts]
        live = [i for i, text in enumerate(texts) if text.strip()]
        if not live or top <= 0 or not self._techniques:
            return results
        fused = self.fused_scores([texts[i] for i in live])
        for row, position in enumerate(live):
            explicit = [
                self._index[t] for t in explicit_technique_ids(texts[position]) if t in self._index
            ]
            ranked = np.argsort(-fused[row], kind="stable")
            # Explicit ids first, in the order written, then the rest by score.
            order = explicit + [int(i) for i in ranked if int(i) not in explicit]
            results[position] = [
                (self._techniques[i], round(float(fused[row, i]), 4))
                for i in order[:top]
                if fused[row, i] > 0
            ]
        return results


def _without_stopwords(tokens: Iterable[str]) -> list[str]:
    return [t for t in tokens if t not in _STOPWORDS and len(t) > 1]


# Words that mark a sentence as being about cyber activity (FR and EN): only
# such sentences are offered to the mapper, and only in reports that have two.
CYBER_PROSE = re.compile(
    r"\b(cyber\w*|phishing|hame[cç]onnage|malware|maliciel|ransomware|ran[cç]ongiciel|"
    r"intrusion|ddos|c2|powershell|exfiltrat\w*|compromi\w*|vulnerab\w*|cve-\d+|"
    r"t1\d{3}|apt|botnet|credential\w*|identifiants|macro\w*|payload|charge utile|"
    r"backdoor|porte d[ée]rob[ée]e|loader|beacon\w*|lateral movement|mouvement lat[ée]ral)\b",
    re.IGNORECASE,
)
# Top-1 precision on the TRAM test split stays near 0.70 at every threshold from
# 0.30 to 0.60; 0.45 keeps 239 of 541 sentences (precision 0.71), the same bar
# as for alert signatures.
PROSE_MIN_SCORE = 0.45
_PROSE_SENTENCE = re.compile(r"[^.!?\n]+(?:[.!?]+|$)")


def infer_prose_techniques(
    text: str, mapper: TechniqueMapper, min_score: float = PROSE_MIN_SCORE
) -> list[tuple[int, int, Technique, float]]:
    """(start, end, technique, score) for the cyber sentences of a report the mapper reads.

    Reports naming fewer than two cyber cues are skipped, and so are techniques
    the text already names by id.
    """
    if len(CYBER_PROSE.findall(text)) < 2:
        return []
    named = set(explicit_technique_ids(text))
    spans = [
        (m.start(), m.end())
        for m in _PROSE_SENTENCE.finditer(text)
        if len(m.group().strip()) >= 25 and CYBER_PROSE.search(m.group())
    ]
    if not spans:
        return []
    found: list[tuple[int, int, Technique, float]] = []
    for (start, end), best in zip(
        spans, mapper.map_batch([text[a:b] for a, b in spans], top=1), strict=True
    ):
        if best and best[0][1] >= min_score and best[0][0].id not in named:
            lead = len(text[start:end]) - len(text[start:end].lstrip())
            found.append((start + lead, end, best[0][0], best[0][1]))
    return found
