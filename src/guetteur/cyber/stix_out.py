"""STIX 2.1 for partners: the objects of guetteur's TAXII collections, and a
partner's collection split by marking on its way in.

The TAXII face (api/taxii.py) serves two collections, read through
`Workspace.taxii_page`. `intel` holds the threat intelligence the workspace
was given: its indicators (observables that only give context go out as STIX
cyber observables), the intrusion sets, malware, attack patterns, threat
actors, tools and campaigns its intel files named, and "indicates"
relationships from indicators to the intrusion set they are attributed to.
`incidents` holds each incident as `Workspace.incident_stix` writes it: a
report with its observed data, indicators and techniques. The workspace picks
the records (what the caller may receive, and when each was added); this
module, pure, turns them into STIX objects:

- every object carries `object_marking_refs`: a statement marking definition
  whose statement is the canonical marking (the same definition, with the same
  id, as `incident_bundle` writes), plus a TLP 2.0 definition where one maps
  (`tlp_of`); the definitions are objects of the collection too;
- ids are keyed with the workspace's secret (`Store.opaque_id`): a record keeps
  its id from one request to the next, and nobody can compute or confirm an id
  without the secret;
- `select_page` is the TAXII query: filters, `added_after`, and keyset paging
  on (date added, id) with an opaque `next` cursor, so that a page depends on
  nothing but the objects the caller may receive.

On the way in, `split_by_marking` cuts a partner's collection into one bundle
per set of markings: `intel pull` then stores each object at its own marking,
not the whole collection at the high-water mark of everything in it.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from guetteur._exceptions import InvalidInputError, MarkingError
from guetteur.cyber.intel import (
    _MARKING_CREATED,
    _SCO_TYPES,
    _STIX_TLP_IDS,
    _TLP_2_EXTENSION,
    Indicator,
    IntelObject,
    _sco,
    _sdo_id,
    _stix_indicator,
    _stix_time,
)
from guetteur.model import Level, Marking
from guetteur.security.markings import high_water_mark, parse_marking, tlp_caveats

__all__ = [
    "COLLECTIONS",
    "DEFAULT_PAGE",
    "EPOCH",
    "INCIDENTS",
    "INTEL",
    "INTEL_TITLE_PREFIX",
    "MAX_PAGE",
    "STIX_MEDIA_TYPE",
    "StixEntry",
    "TaxiiCollection",
    "TaxiiPage",
    "TaxiiQuery",
    "incident_entries",
    "intel_document_objects",
    "intel_entries",
    "marking_objects",
    "marking_refs",
    "parse_timestamp",
    "select_page",
    "split_by_marking",
    "stix_version",
    "taxii_time",
    "unseen",
    "tlp_of",
]

STIX_MEDIA_TYPE = "application/stix+json;version=2.1"
DEFAULT_PAGE = 100
MAX_PAGE = 1000
# The date added of an indicator whose intel document is gone (withdrawn,
# re-marked): unknown, so before any poll — a full pull still gets it.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Keyed ids are UUIDv5 in this namespace of an HMAC keyed with the workspace
# secret: the namespace only makes them UUIDs, the key makes them unguessable.
_KEYED_NAMESPACE = uuid.UUID("f1e938c4-bee0-44cd-9caa-050b7475c6e9")


@dataclass(frozen=True)
class TaxiiCollection:
    id: str  # a UUID, as TAXII 2.1 wants; `alias` may be used in its place
    alias: str
    title: str
    description: str


INTEL = TaxiiCollection(
    id="9a152a82-5cc1-4da2-9eac-8bad866b9680",
    alias="intel",
    title="Threat intelligence",
    description="Indicators, intrusion sets, malware, attack patterns, threat actors, tools "
    "and campaigns held by this guetteur, each under its own marking.",
)
INCIDENTS = TaxiiCollection(
    id="5c0f3bd2-7f1e-4d8e-9d2b-6f7e2f7c1a94",
    alias="incidents",
    title="Incidents",
    description="Incidents triaged from alerts, each a STIX report with its observed data, "
    "indicators and attack patterns, marked by the high-water mark of its alerts.",
)
COLLECTIONS = (INTEL, INCIDENTS)


# --------------------------------------------------------------------------- markings

# The TLP 2.0 marking definitions the OASIS TLP 2.0 extension fixes (ids and
# creation time); only the colours `tlp_of` maps to are written.
_TLP_2_IDS = {
    "CLEAR": "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    "GREEN": "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
}
_TLP_2_CREATED = "2022-10-01T00:00:00.000Z"


def tlp_of(marking: Marking) -> str | None:
    """The TLP 2.0 colour a marking maps to, or None where none does.

    TLP is a sharing scheme for unclassified information, not a
    classification. So: plain UNCLASSIFIED with no releasability limit (no
    REL TO, no caveat) is TLP:CLEAR — disclosure is not limited; any other
    unclassified marking (NATO UNCLASSIFIED, NON PROTÉGÉ, UNCLASSIFIED // REL TO
    …) is TLP:GREEN — shared within the community its releasability names, not
    published; RESTRICTED and above map to no TLP colour: their handling is the
    classification's own, carried by the statement. A caveat (a compartment,
    TLP:RED) is a rule no colour expresses without loss: None too (and such
    records never leave through TAXII anyway).
    """
    if marking.caveats or marking.level is not Level.UNCLASSIFIED:
        return None
    return "CLEAR" if marking.releasable_to is None else "GREEN"


def _statement_id(marking: Marking) -> str:
    # The id incident_bundle gives the same statement: one definition per marking.
    return _sdo_id("marking-definition", str(marking))


def marking_refs(marking: Marking) -> list[str]:
    """`object_marking_refs` of an object under `marking`: its statement, then its TLP."""
    refs = [_statement_id(marking)]
    colour = tlp_of(marking)
    if colour is not None:
        refs.append(_TLP_2_IDS[colour])
    return refs


def marking_objects(marking: Marking) -> list[dict[str, Any]]:
    """The marking definitions `marking_refs(marking)` refers to."""
    definitions: list[dict[str, Any]] = [
        {
            "type": "marking-definition",
            "spec_version": "2.1",
            "id": _statement_id(marking),
            "created": _stix_time(_MARKING_CREATED),
            "definition_type": "statement",
            "definition": {"statement": str(marking)},
        }
    ]
    colour = tlp_of(marking)
    if colour is not None:
        definitions.append(
            {
                "type": "marking-definition",
                "spec_version": "2.1",
                "id": _TLP_2_IDS[colour],
                "created": _TLP_2_CREATED,
                "name": f"TLP:{colour}",
                "extensions": {
                    _TLP_2_EXTENSION: {
                        "extension_type": "property-extension",
                        "tlp_2_0": colour.lower(),
                    }
                },
            }
        )
    return definitions


# --------------------------------------------------------------------------- entries


@dataclass(frozen=True)
class StixEntry:
    """One object of a collection, with its date added and its guetteur marking.

    `marking` is None for the marking definitions themselves.
    """

    added: datetime
    object: Mapping[str, Any]
    marking: Marking | None = None

    @property
    def id(self) -> str:
        return str(self.object["id"])

    @property
    def type(self) -> str:
        return str(self.object["type"])

    @property
    def version(self) -> str:
        """`modified`, else `created`, else the date added (cyber observables have neither)."""
        return str(
            self.object.get("modified") or self.object.get("created") or taxii_time(self.added)
        )

    def sort_key(self) -> tuple[datetime, int, str]:
        # A definition sorts before the objects added at the same time that refer to it.
        return (self.added, 0 if self.type == "marking-definition" else 1, self.id)


def taxii_time(moment: datetime) -> str:
    """A TAXII timestamp, to the microsecond: what `added_after` compares against."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_timestamp(value: str, name: str) -> datetime:
    """An RFC 3339 timestamp (UTC when it names no zone); InvalidInputError naming `name`."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInputError(
            f"{name}: {value[:60]!r} is not a timestamp (e.g. 2026-11-21T03:40:01.000Z)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _with_definitions(entries: list[StixEntry]) -> list[StixEntry]:
    """`entries` and the marking definitions they refer to, each added with the first user."""
    first: dict[str, tuple[datetime, dict[str, Any]]] = {}
    for entry in entries:
        assert entry.marking is not None
        for definition in marking_objects(entry.marking):
            known = first.get(definition["id"])
            if known is None or entry.added < known[0]:
                first[definition["id"]] = (entry.added, definition)
    definitions = [StixEntry(added, definition) for added, definition in first.values()]
    return sorted(definitions + entries, key=StixEntry.sort_key)


Opaque = Callable[..., str]  # Store.opaque_id


def _keyed_id(opaque: Opaque, stix_type: str, *parts: str) -> str:
    return f"{stix_type}--{uuid.uuid5(_KEYED_NAMESPACE, opaque('stix', stix_type, *parts))}"


# --------------------------------------------------------------------------- intel

# The title and object lines pipeline/intel.py's `intel_document` writes.
INTEL_TITLE_PREFIX = "Threat intel: "
_KIND_LABELS = {kind.replace("-", " ").capitalize(): kind for kind in (
    "intrusion-set", "malware", "attack-pattern", "threat-actor", "tool", "campaign",
)}  # fmt: skip
_OBJECT_LINE = re.compile(
    rf"^(?P<label>{'|'.join(_KIND_LABELS)}): (?P<name>.+?)"
    r"(?: \(also known as (?P<aliases>.+)\))?(?: \[(?P<ids>[^\[\]]+)\])?\.$"
)
_INDICATOR_LINE = re.compile(r"^Indicator \([a-z0-9]+\): ")


def intel_document_objects(text: str) -> list[IntelObject]:
    """The intel objects an intel document states, read back from its lines.

    The document is what `pipeline.intel.intel_document` wrote from the
    partner's file, stored under the file's marking: one line per object
    ("Malware: X-Agent (also known as Sofacy) [S0044]."), its description on
    the next line, then one line per indicator.
    """
    found: list[IntelObject] = []
    previous_was_object = False
    for line in text.splitlines()[1:]:
        match = _OBJECT_LINE.match(line)
        if match:
            aliases = tuple(match["aliases"].split(", ")) if match["aliases"] else ()
            ids = tuple(match["ids"].split(", ")) if match["ids"] else ()
            found.append(IntelObject(_KIND_LABELS[match["label"]], match["name"], aliases, ids))
            previous_was_object = True
            continue
        if previous_was_object and line.strip() and not _INDICATOR_LINE.match(line):
            last = found[-1]
            found[-1] = IntelObject(
                last.kind, last.name, last.aliases, last.external_ids, line.strip()
            )
        previous_was_object = False
    return found


@dataclass
class _Merged:
    """One intel object at one marking, as every document stating it says it."""

    kind: str
    name: str
    marking: Marking
    created: datetime
    modified: datetime
    aliases: list[str] = field(default_factory=list)
    external_ids: list[str] = field(default_factory=list)
    description: str | None = None

    def add(self, item: IntelObject, added: datetime) -> None:
        before = (len(self.aliases), len(self.external_ids), self.description)
        self.aliases += [a for a in item.aliases if a not in self.aliases and a != self.name]
        self.external_ids += [i for i in item.external_ids if i not in self.external_ids]
        self.description = self.description or item.description
        if (len(self.aliases), len(self.external_ids), self.description) != before:
            self.modified = max(self.modified, added)  # a new version of the object


def _merge(contributions: Iterable[tuple[IntelObject, Marking, datetime]]) -> list[_Merged]:
    merged: dict[tuple[str, str, Marking], _Merged] = {}
    ordered = sorted(contributions, key=lambda c: (c[2], c[0].kind, c[0].name, str(c[1])))
    for item, marking, added in ordered:
        key = (item.kind, item.name, marking)
        if key not in merged:
            merged[key] = _Merged(item.kind, item.name, marking, added, added)
        merged[key].add(item, added)
    return list(merged.values())


def _intel_object(item: _Merged, stix_id: str) -> dict[str, Any]:
    stix: dict[str, Any] = {
        "type": item.kind,
        "spec_version": "2.1",
        "id": stix_id,
        "created": _stix_time(item.created),
        "modified": _stix_time(item.modified),
        "name": item.name,
    }
    if item.kind == "malware":
        stix["is_family"] = True  # named by intel, not one sample
    if item.aliases:
        stix["aliases"] = list(item.aliases)
    if item.description:
        stix["description"] = item.description
    if item.external_ids:
        stix["external_references"] = [
            {"source_name": "mitre-attack", "external_id": i} for i in item.external_ids
        ]
    stix["object_marking_refs"] = marking_refs(item.marking)
    return stix


def intel_entries(
    indicators: Sequence[tuple[Indicator, Marking, datetime]],
    objects: Sequence[tuple[IntelObject, Marking, datetime]],
    opaque: Opaque,
) -> list[StixEntry]:
    """The `intel` collection: indicators, intel objects, relationships, marking definitions.

    `indicators` are stored indicators with their marking and date added;
    `objects` the intel objects of intel documents, with the document's marking
    and time. An object named by several documents at one marking is one STIX
    object whose aliases, ATT&CK ids and description gather theirs (a new
    version each time a document adds to it). An attributed indicator
    "indicates" the intrusion set (else the threat actor) of that name at its
    own marking, made from the name when no document stated it.
    """
    contributions = list(objects)
    stated = {(o.name, m) for o, m, _ in objects if o.kind in ("intrusion-set", "threat-actor")}
    for indicator, marking, added in indicators:
        name = indicator.intrusion_set
        if indicator.for_detection and name and (name, marking) not in stated:
            contributions.append((IntelObject("intrusion-set", name), marking, added))
    merged = _merge(contributions)
    entries: list[StixEntry] = []
    targets: dict[tuple[str, Marking], str] = {}
    for item in sorted(merged, key=lambda m: (m.kind != "intrusion-set", m.kind, m.name)):
        stix_id = _keyed_id(opaque, item.kind, item.name, str(item.marking))
        entries.append(StixEntry(item.modified, _intel_object(item, stix_id), item.marking))
        if item.kind in ("intrusion-set", "threat-actor"):
            targets.setdefault((item.name, item.marking), stix_id)

    for indicator, marking, added in indicators:
        parts = (indicator.kind, indicator.value, indicator.origin, str(marking))
        refs = marking_refs(marking)
        if not indicator.for_detection:
            sco = _sco(indicator.kind, indicator.value, refs[0])
            sco["id"] = _keyed_id(opaque, sco["type"], *parts)
            sco["object_marking_refs"] = refs
            entries.append(StixEntry(added, sco, marking))
            continue
        stamp = _stix_time(added)
        common = {"spec_version": "2.1", "created": stamp, "modified": stamp}
        stix = _stix_indicator(indicator, "", {**common, "object_marking_refs": refs}, stamp)
        stix["id"] = _keyed_id(opaque, "indicator", *parts)
        entries.append(StixEntry(added, stix, marking))
        target = targets.get((indicator.intrusion_set or "", marking))
        if target is not None:
            relationship = {
                "type": "relationship",
                "id": _keyed_id(opaque, "relationship", stix["id"], "indicates", target),
                **common,
                "relationship_type": "indicates",
                "source_ref": stix["id"],
                "target_ref": target,
                "object_marking_refs": refs,
            }
            entries.append(StixEntry(added, relationship, marking))
    return _with_definitions(entries)


# --------------------------------------------------------------------------- incidents

# Cyber observables: STIX derives their ids from their value, so two incidents share them.
_OBSERVABLE_TYPES = frozenset({*_SCO_TYPES.values(), "file"})


def incident_entries(
    bundles: Sequence[tuple[Mapping[str, Any], Marking, datetime]],
) -> list[StixEntry]:
    """The `incidents` collection from each incident's bundle, its marking and date added.

    Every object of a bundle is under the incident's marking (the bundle's own
    statement, plus TLP where one maps). A cyber observable seen in several
    incidents has one id (STIX derives it from the value): it is served once,
    under the high-water mark of those incidents, added when the last of
    them was.
    """
    seen: dict[str, tuple[Mapping[str, Any], list[Marking], datetime]] = {}
    for bundle, marking, added in bundles:
        for stix in bundle["objects"]:
            if stix["type"] == "marking-definition":
                continue
            known = seen.get(stix["id"])
            if known is None:
                seen[stix["id"]] = (stix, [marking], added)
            elif stix["type"] in _OBSERVABLE_TYPES:
                seen[stix["id"]] = (known[0], [*known[1], marking], max(known[2], added))
    entries = []
    for stix, markings, added in seen.values():
        marking = high_water_mark(markings)
        entries.append(
            StixEntry(added, {**stix, "object_marking_refs": marking_refs(marking)}, marking)
        )
    return _with_definitions(entries)


# --------------------------------------------------------------------------- the query


@dataclass(frozen=True)
class TaxiiQuery:
    """A TAXII 2.1 Get Objects (or Manifest) request's filters and paging."""

    added_after: datetime | None = None
    limit: int = DEFAULT_PAGE
    next: str | None = None
    ids: frozenset[str] = frozenset()
    types: frozenset[str] = frozenset()
    versions: tuple[str, ...] = ("last",)  # first | last | all | timestamps
    spec_versions: frozenset[str] = frozenset()


@dataclass(frozen=True)
class TaxiiPage:
    entries: list[StixEntry]
    more: bool
    next: str | None


def _cursor(entry: StixEntry) -> str:
    added, rank, stix_id = entry.sort_key()
    raw = json.dumps([taxii_time(added), rank, stix_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _after(cursor: str) -> tuple[datetime, int, str]:
    refused = InvalidInputError(f"next: {cursor[:60]!r} is not a cursor this server gave")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        added, rank, stix_id = json.loads(raw)
        if not (isinstance(added, str) and isinstance(rank, int) and isinstance(stix_id, str)):
            raise refused
        return (parse_timestamp(added, "next"), rank, stix_id)
    except (binascii.Error, ValueError, TypeError, InvalidInputError):
        raise refused from None


def _version_matches(entry: StixEntry, versions: tuple[str, ...]) -> bool:
    # Each object is served in one version, its latest: first, last and all are it.
    for version in versions:
        if version in ("first", "last", "all"):
            return True
        if parse_timestamp(version, "match[version]") == parse_timestamp(entry.version, "version"):
            return True
    return False


def select_page(entries: Sequence[StixEntry], query: TaxiiQuery) -> TaxiiPage:
    """The page of `entries` a query asks for, in TAXII order (date added, then id).

    `next` is the sort key of the page's last object, encoded: the next page
    starts strictly after it, so objects added meanwhile are neither skipped
    nor served twice, and the cursor says nothing the caller did not receive.
    """
    start = _after(query.next) if query.next else None
    for version in query.versions:
        if version not in ("first", "last", "all"):
            parse_timestamp(version, "match[version]")
    chosen = [
        entry
        for entry in sorted(entries, key=StixEntry.sort_key)
        if (not query.ids or entry.id in query.ids)
        and (not query.types or entry.type in query.types)
        and (not query.spec_versions or "2.1" in query.spec_versions)
        and (query.added_after is None or entry.added > query.added_after)
        and (start is None or entry.sort_key() > start)
        and _version_matches(entry, query.versions)
    ]
    page = chosen[: query.limit]
    more = len(chosen) > len(page)
    return TaxiiPage(page, more, _cursor(page[-1]) if more and page else None)


# --------------------------------------------------------------------------- the way in

_FOLLOWED = frozenset({"indicates", "attributed-to"})


def _refs(stix: Mapping[str, Any]) -> tuple[str, ...]:
    refs = [r for r in stix.get("object_marking_refs") or [] if isinstance(r, str)]
    for granular in stix.get("granular_markings") or []:
        if isinstance(granular, Mapping) and isinstance(granular.get("marking_ref"), str):
            refs.append(granular["marking_ref"])
    return tuple(sorted(set(refs)))


def _group_marking(
    refs: tuple[str, ...], definitions: Mapping[str, Mapping[str, Any]]
) -> Marking | None:
    """What a set of marking refs states: the high-water mark of its statements, with the
    caveats its TLP adds; None when it states no level or cannot be read."""
    found: list[Marking] = []
    caveats: set[str] = set()
    try:
        for ref in refs:
            if ref in _STIX_TLP_IDS:
                caveats |= tlp_caveats(_STIX_TLP_IDS[ref])
                continue
            body = (definitions.get(ref) or {}).get("definition")
            statement = body.get("statement") if isinstance(body, Mapping) else None
            if isinstance(statement, str):
                found.append(parse_marking(statement))
    except MarkingError:
        return None
    if not found:
        return None
    top = high_water_mark(found)
    return Marking(top.level, top.authority, top.releasable_to, top.caveats | caveats)


def split_by_marking(objects: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A partner's objects as one STIX bundle per set of marking references.

    Each bundle holds the objects marked alike and the marking definitions
    they refer to, so its import marks them as they were marked, not at the
    high-water mark of the whole collection. An attribution (an "indicates" or
    "attributed-to" relationship, and the intrusion set it leads to) marked
    otherwise than its indicator is carried into the indicator's bundle only
    when the indicator's marking is at least as high as the attribution's
    (their high-water mark is the indicator's): never stored lower than its
    partner marked it. Definitions no object refers to are left out.
    """
    definitions = {
        str(o["id"]): o
        for o in objects
        if o.get("type") == "marking-definition" and isinstance(o.get("id"), str)
    }
    groups: dict[tuple[str, ...], list[Mapping[str, Any]]] = {}
    group_of: dict[str, tuple[str, ...]] = {}
    for stix in objects:
        if stix.get("type") == "marking-definition":
            continue
        key = _refs(stix)
        groups.setdefault(key, []).append(stix)
        if isinstance(stix.get("id"), str):
            group_of[stix["id"]] = key
    by_id = {str(o["id"]): o for o in objects if isinstance(o.get("id"), str)}
    markings = {key: _group_marking(key, definitions) for key in groups}
    relationships = [
        o
        for o in objects
        if o.get("type") == "relationship" and o.get("relationship_type") in _FOLLOWED
    ]

    bundles: list[dict[str, Any]] = []
    for key, members in groups.items():
        held = {str(o.get("id")) for o in members}
        carried: list[dict[str, Any]] = []

        def may_carry(other: tuple[str, ...], own: tuple[str, ...] = key) -> bool:
            mine, theirs = markings[own], markings.get(other)
            return other == own or (
                mine is not None and theirs is not None and high_water_mark([mine, theirs]) == mine
            )

        for _ in range(2):  # indicator → campaign or malware → attributed actor
            for relationship in relationships:
                source, target = relationship.get("source_ref"), relationship.get("target_ref")
                rel_id = str(relationship.get("id"))
                if source not in held or not isinstance(target, str):
                    continue
                pair = [rel_id, target]
                if all(i in held or (i in by_id and may_carry(group_of.get(i, ()))) for i in pair):
                    for i in pair:
                        if i not in held:
                            copy = {
                                k: v
                                for k, v in by_id[i].items()
                                if k not in ("object_marking_refs", "granular_markings")
                            }
                            carried.append(copy)
                            held.add(i)
        used = [definitions[r] for r in key if r in definitions]
        bundles.append(
            {
                "type": "bundle",
                "id": _sdo_id("bundle", *sorted(held)),
                "objects": [*used, *members, *carried],
            }
        )
    return bundles


def stix_version(stix: Mapping[str, Any]) -> str:
    """An object's version: `modified`, else `created`, else '' (cyber observables)."""
    return str(stix.get("modified") or stix.get("created") or "")


def unseen(
    objects: Sequence[Mapping[str, Any]], seen: set[tuple[str, str]]
) -> list[Mapping[str, Any]]:
    """The objects not already pulled in that version (`seen`: (id, version) pairs), with
    what they need: the marking definitions, and the relationships and intrusion sets
    (campaigns, malware) an attribution of a new indicator goes through, already seen or not.
    """
    fresh = {
        str(o.get("id"))
        for o in objects
        if o.get("type") != "marking-definition" and (str(o.get("id")), stix_version(o)) not in seen
    }
    if not fresh:
        return []
    kept = set(fresh)
    for _ in range(2):  # indicator → campaign or malware → attributed actor
        for stix in objects:
            if (
                stix.get("type") == "relationship"
                and stix.get("relationship_type") in _FOLLOWED
                and stix.get("source_ref") in kept
            ):
                kept |= {str(stix.get("id")), str(stix.get("target_ref"))}
    return [o for o in objects if o.get("type") == "marking-definition" or o.get("id") in kept]
