"""Threat-intelligence exchange: STIX 2.0/2.1 and MISP in, STIX 2.1 out.

Partners hand a CERT their intelligence as STIX bundles or MISP event exports;
`read_stix` and `read_misp` turn them into two kinds of record. An `Indicator`
is one exact value (an address, a domain, a URL, a hash, a mailbox) with the
intrusion set it is attributed to; an `IntelObject` (intrusion set, malware,
attack pattern, …) is something the store later makes an entity, so that an
intrusion set named in a report is the same entity as the one alerts are
linked to. `IndicatorIndex` is built once from the indicators and matched
against every alert by triage: a hit raises the alert's priority and names the
intrusion set. On the way out, `incident_bundle` writes one incident as a
STIX 2.1 bundle (observed-data, indicators, attack patterns, a report) under
the incident's marking, and `validate_bundle` checks it with the `stix2`
library.

A file's markings are read too (`IntelReading.markings` and `.caveats`), so
that nothing in it is stored lower than it says: every STIX marking
definition in the bundle and every one an object refers to
(`object_marking_refs`, `granular_markings`) — a statement must parse as a
marking, TLP maps through `tlp_caveats`, a reference to a definition the
bundle does not hold or of a kind we do not read refuses the bundle — and
every MISP tag of a marking taxonomy (`nato:classification="NS"`,
`classification:NATO SECRET`, `tlp:red`). MISP's distribution (0–5) says how
far MISP may pass the event on, not who in a workspace may read it: it adds
nothing, and a value outside 0–5 refuses the event. Copyright statements
("Copyright 2024 The MITRE Corporation") are ownership notices, not markings,
and are the one statement left unread.

Everything here is pure apart from `load_intel_json`, so readers,
matching and export run on any executor; the `stix2` library is only needed
to validate, never to read.
"""

from __future__ import annotations

import ipaddress
import json
import re
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson

from guetteur._exceptions import (
    IngestError,
    InvalidStixError,
    MarkingError,
    MissingDependencyError,
)
from guetteur.model import Marking
from guetteur.model.alert import Alert, Indicator
from guetteur.security.markings import is_banner_line, parse_marking, tlp_caveats

__all__ = [
    "INTEL_OBJECT_KINDS",
    "INDICATOR_KINDS",
    "Indicator",
    "IndicatorIndex",
    "IntelObject",
    "IntelReading",
    "InvalidStixError",
    "MAX_INTEL_FILE_BYTES",
    "alert_observables",
    "incident_bundle",
    "load_intel_json",
    "normalise_value",
    "parse_misp",
    "parse_stix",
    "read_misp",
    "read_stix",
    "stix_pattern",
    "validate_bundle",
]

INDICATOR_KINDS: tuple[str, ...] = (
    "ipv4",
    "ipv6",
    "domain",
    "url",
    "md5",
    "sha1",
    "sha256",
    "email",
)
INTEL_OBJECT_KINDS: tuple[str, ...] = (
    "intrusion-set",
    "malware",
    "attack-pattern",
    "threat-actor",
    "tool",
    "campaign",
)

# Intel files are whole JSON documents parsed in memory; past this size the
# file is almost certainly not a partner's bundle and would exhaust memory.
MAX_INTEL_FILE_BYTES = 200 * 1024 * 1024

# Observables (SCOs) only say a value was seen, not that it is malicious: they
# match like indicators but weigh little ("Low" on the STIX 0-100 scale).
OBSERVABLE_CONFIDENCE = 15


@dataclass(frozen=True, slots=True)
class IntelObject:
    """An intrusion set, malware, attack pattern, threat actor, tool or campaign."""

    kind: str  # one of INTEL_OBJECT_KINDS
    name: str
    aliases: tuple[str, ...] = ()
    external_ids: tuple[str, ...] = ()  # ATT&CK ids: "T1059.001", "G0007", "S0002"
    description: str | None = None
    origin: str = ""


@dataclass(frozen=True)
class IntelReading:
    """What one intel document yielded, and what was left out and why (reason → count)."""

    indicators: list[Indicator]
    objects: list[IntelObject]
    skipped: Mapping[str, int] = field(default_factory=dict)
    # The classification markings the file states (STIX statements, MISP
    # marking tags), and the caveats TLP adds (see `tlp_caveats`): whatever is
    # stored from the file is marked at least this high.
    markings: tuple[Marking, ...] = ()
    caveats: frozenset[str] = frozenset()


# --------------------------------------------------------------------------- values

_DEFANG = (
    (re.compile(r"^hxxp", re.IGNORECASE), "http"),
    (re.compile(r"^fxp", re.IGNORECASE), "ftp"),
    (re.compile(r"\[\s*:\s*//\s*\]|\[://\]"), "://"),
    (re.compile(r"\[\s*(?:\.|dot)\s*\]|\(\s*(?:\.|dot)\s*\)|\{\s*\.\s*\}", re.IGNORECASE), "."),
    (re.compile(r"\[\s*(?:@|at)\s*\]|\(\s*(?:@|at)\s*\)", re.IGNORECASE), "@"),
    (re.compile(r"\[\s*:\s*\]"), ":"),
)
_HASH_LENGTHS = {"md5": 32, "sha1": 40, "sha256": 64}
_HEX = re.compile(r"^[0-9a-f]+$")


def _refang(value: str) -> str:
    value = value.strip()
    for pattern, replacement in _DEFANG:
        value = pattern.sub(replacement, value)
    return value


def normalise_value(kind: str, value: str) -> str | None:
    """The form an indicator value is stored and looked up in; None when not a valid `kind`.

    Partners defang values so that nobody clicks them (`hxxp://evil[.]example`);
    alerts never are, so both sides meet in the refanged, canonical form.
    """
    value = _refang(value)
    if not value:
        return None
    if kind in ("ipv4", "ipv6"):
        # A /32 or /128 is one address; wider networks cannot be matched exactly.
        address = value.removesuffix("/32") if kind == "ipv4" else value.removesuffix("/128")
        try:
            parsed = ipaddress.ip_address(address)
        except ValueError:
            return None
        if (parsed.version == 4) != (kind == "ipv4"):
            return None
        return parsed.compressed
    if kind == "domain":
        domain = value.rstrip(".").lower()
        return domain if "." in domain and " " not in domain and "/" not in domain else None
    if kind in _HASH_LENGTHS:
        digest = value.lower()
        return digest if len(digest) == _HASH_LENGTHS[kind] and _HEX.match(digest) else None
    if kind == "email":
        email = value.lower()
        return email if email.count("@") == 1 and "." in email.split("@")[1] else None
    if kind == "url":
        return _normalise_url(value)
    return None


def _normalise_url(value: str) -> str | None:
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return None
    if not parts.scheme or not parts.hostname:
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname.lower()
    default = {"http": 80, "https": 443, "ftp": 21}.get(scheme)
    netloc = host if port is None or port == default else f"{host}:{port}"
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


def _ip_kind(value: str) -> str:
    return "ipv6" if ":" in value else "ipv4"


def _timestamp(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# --------------------------------------------------------------------------- file I/O


def load_intel_json(path: Path) -> object:
    """The JSON document at `path`; IngestError naming the file when it cannot be one."""
    try:
        size = path.stat().st_size
    except OSError as error:
        raise IngestError(str(path), f"cannot read ({error.strerror})") from error
    if size > MAX_INTEL_FILE_BYTES:
        raise IngestError(
            str(path),
            f"{size:,} bytes is over the {MAX_INTEL_FILE_BYTES:,}-byte limit for intel files; "
            "split the bundle or event export",
        )
    try:
        # Windows tools export with a BOM, which orjson (rightly, per RFC 8259) refuses.
        return orjson.loads(path.read_bytes().removeprefix(b"\xef\xbb\xbf"))
    except orjson.JSONDecodeError as error:
        raise IngestError(str(path), f"not JSON ({error.msg} at line {error.lineno})") from error
    except OSError as error:
        raise IngestError(str(path), f"cannot read ({error.strerror})") from error


def read_stix(path: Path) -> tuple[list[Indicator], list[IntelObject]]:
    """Indicators and intel objects of a STIX 2.0 or 2.1 bundle file."""
    reading = parse_stix(load_intel_json(path), str(path))
    return reading.indicators, reading.objects


def read_misp(
    path: Path, *, include_context: bool = False
) -> tuple[list[Indicator], list[IntelObject]]:
    """Indicators and intel objects of a MISP event export (see `parse_misp`)."""
    reading = parse_misp(load_intel_json(path), str(path), include_context=include_context)
    return reading.indicators, reading.objects


# --------------------------------------------------------------------------- STIX in

# One comparison of a STIX pattern: object:path OP value. Quoted path steps
# (hashes.'SHA-256') and string escapes (\' and \\) are the spec's.
_COMPARISON = re.compile(
    r"""(?P<object>[a-z0-9][a-z0-9-]*):
        (?P<path>(?:[A-Za-z0-9_-]+|'[^']*')(?:\.(?:[A-Za-z0-9_-]+|'[^']*')|\[(?:\*|\d+)\])*)
        \s*(?P<negated>NOT\s+)?
        (?P<op>=|!=|<>|>=|<=|>|<|LIKE|MATCHES|IN|ISSUBSET|ISSUPERSET)\s*
        (?P<value>'(?:[^'\\]|\\.)*'|\([^)]*\)|[^\s\]]+)""",
    re.VERBOSE,
)
_STIX_STRING_ESCAPE = re.compile(r"\\(.)")
_VALUE_PATHS = {
    ("ipv4-addr", "value"): "ipv4",
    ("ipv6-addr", "value"): "ipv6",
    ("domain-name", "value"): "domain",
    ("url", "value"): "url",
    ("email-addr", "value"): "email",
    ("email-message", "from_ref.value"): "email",
    ("email-message", "sender_ref.value"): "email",
}
_HASH_KINDS = {"MD5": "md5", "SHA1": "sha1", "SHA256": "sha256"}


def _hash_kind(algorithm: str) -> str | None:
    return _HASH_KINDS.get(algorithm.strip("'\"").upper().replace("-", ""))


def _pattern_values(pattern: str) -> tuple[list[tuple[str, str]], int]:
    """(kind, value) for each usable equality in a STIX pattern, and the count of unusable ones.

    Each equality is taken on its own whatever joins it (OR, AND, FOLLOWEDBY):
    for exact matching an AND of two values is best approximated by either.
    """
    usable: list[tuple[str, str]] = []
    unusable = 0
    for comparison in _COMPARISON.finditer(pattern):
        raw_value = comparison["value"]
        if comparison["op"] != "=" or comparison["negated"] or not raw_value.startswith("'"):
            unusable += 1
            continue
        literal = _STIX_STRING_ESCAPE.sub(r"\1", raw_value[1:-1])
        kind = _comparison_kind(comparison["object"], comparison["path"], literal)
        value = normalise_value(kind, literal) if kind else None
        if kind is None or value is None:
            unusable += 1
            continue
        usable.append((kind, value))
    return usable, unusable


def _comparison_kind(object_type: str, path: str, literal: str) -> str | None:
    if object_type == "file" and path.startswith("hashes."):
        return _hash_kind(path.removeprefix("hashes."))
    if object_type == "network-traffic" and path in ("dst_ref.value", "src_ref.value"):
        return _ip_kind(literal)
    if object_type == "artifact" and path.startswith("hashes."):
        return _hash_kind(path.removeprefix("hashes."))
    return _VALUE_PATHS.get((object_type, path))


def _sco_values(sco: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(kind, raw value) of one STIX cyber observable; nothing for types we cannot match."""
    kind = {
        "ipv4-addr": "ipv4",
        "ipv6-addr": "ipv6",
        "domain-name": "domain",
        "url": "url",
        "email-addr": "email",
    }.get(str(sco.get("type")))
    if kind is not None:
        value = sco.get("value")
        return [(kind, value)] if isinstance(value, str) else []
    if sco.get("type") in ("file", "artifact"):
        hashes = sco.get("hashes")
        if isinstance(hashes, Mapping):
            found = [(_hash_kind(str(k)), v) for k, v in hashes.items() if isinstance(v, str)]
            return [(k, v) for k, v in found if k is not None]
    return []


def _attack_ids(stix_object: Mapping[str, Any]) -> tuple[str, ...]:
    references = stix_object.get("external_references") or []
    return tuple(
        str(reference["external_id"])
        for reference in references
        if isinstance(reference, Mapping)
        and str(reference.get("source_name", "")).startswith("mitre")
        and reference.get("external_id")
    )


def _aliases(stix_object: Mapping[str, Any]) -> tuple[str, ...]:
    name = stix_object.get("name")
    found: list[str] = []
    for key in ("aliases", "x_mitre_aliases"):
        for alias in stix_object.get(key) or []:
            if isinstance(alias, str) and alias != name and alias not in found:
                found.append(alias)
    return tuple(found)


def _is_retired(stix_object: Mapping[str, Any]) -> bool:
    # ATT&CK marks withdrawn techniques x_mitre_deprecated rather than revoked.
    return bool(stix_object.get("revoked") or stix_object.get("x_mitre_deprecated"))


def _attributions(objects: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """Indicator id → name of the intrusion set or threat actor it indicates.

    Followed one hop further through "attributed-to", since feeds often say an
    indicator indicates a campaign or malware that is attributed to an actor.
    Intrusion sets win over threat actors; ties go to the first name
    alphabetically so that the answer does not depend on object order.
    """
    indicates: dict[str, set[str]] = {}
    attributed: dict[str, set[str]] = {}
    for relationship in objects.values():
        if relationship.get("type") != "relationship" or _is_retired(relationship):
            continue
        source, target = relationship.get("source_ref"), relationship.get("target_ref")
        if not isinstance(source, str) or not isinstance(target, str):
            continue
        kind = relationship.get("relationship_type")
        if kind == "indicates":
            indicates.setdefault(source, set()).add(target)
        elif kind == "attributed-to":
            attributed.setdefault(source, set()).add(target)

    def actor(ref: str) -> tuple[int, str] | None:
        target = objects.get(ref)
        if target is None or not isinstance(target.get("name"), str):
            return None
        rank = {"intrusion-set": 0, "threat-actor": 1}.get(str(target.get("type")))
        return None if rank is None else (rank, str(target["name"]))

    names: dict[str, str] = {}
    for indicator_id, targets in indicates.items():
        candidates = [actor(t) for t in targets]
        candidates += [actor(a) for t in targets for a in attributed.get(t, ())]
        found = sorted(c for c in candidates if c is not None)
        if found:
            names[indicator_id] = found[0][1]
    return names


def parse_stix(document: object, origin: str) -> IntelReading:
    """Indicators and intel objects of a STIX 2.0/2.1 bundle already parsed from JSON.

    Indicator patterns yield one indicator per usable equality; observables
    (top-level SCOs in 2.1, or the `objects` of observed-data) yield
    indicators marked `for_detection=False` with low confidence. Revoked and
    deprecated objects are left out. `origin` (usually the file) prefixes
    every record's origin and names the input in errors.
    """
    if not isinstance(document, Mapping) or document.get("type") != "bundle":
        found = type(document).__name__
        if isinstance(document, Mapping):
            found = f"type {document.get('type')!r}"
        raise IngestError(origin, f"not a STIX bundle (expected type 'bundle', found {found})")
    raw_objects = document.get("objects", [])
    if not isinstance(raw_objects, list):
        raise IngestError(origin, "not a STIX bundle ('objects' is not a list)")
    skipped: Counter[str] = Counter()
    objects: dict[str, Mapping[str, Any]] = {}
    for stix_object in raw_objects:
        if not isinstance(stix_object, Mapping) or not isinstance(stix_object.get("id"), str):
            skipped["object without an id"] += 1
            continue
        objects.setdefault(stix_object["id"], stix_object)
    attributions = _attributions(objects)
    markings, caveats = _stix_markings(raw_objects, origin)

    indicators: list[Indicator] = []
    intel: list[IntelObject] = []
    for object_id, stix_object in objects.items():
        object_type = str(stix_object.get("type"))
        where = f"{origin}#{object_id}"
        if _is_retired(stix_object):
            skipped[f"revoked {object_type}"] += 1
            continue
        if object_type in INTEL_OBJECT_KINDS:
            name = stix_object.get("name")
            if not isinstance(name, str) or not name.strip():
                skipped[f"{object_type} without a name"] += 1
                continue
            intel.append(
                IntelObject(
                    kind=object_type,
                    name=name.strip(),
                    aliases=_aliases(stix_object),
                    external_ids=_attack_ids(stix_object),
                    description=stix_object.get("description") or None,
                    origin=where,
                )
            )
        elif object_type == "indicator":
            indicators.extend(_stix_indicators(stix_object, where, attributions, skipped))
        elif object_type == "observed-data":
            embedded = stix_object.get("objects")
            if isinstance(embedded, Mapping):  # STIX 2.0 form; 2.1 uses top-level SCOs
                for sco in embedded.values():
                    if isinstance(sco, Mapping):
                        indicators.extend(_observable_indicators(sco, where, skipped))
        else:
            indicators.extend(_observable_indicators(stix_object, where, skipped))
    return IntelReading(indicators, intel, dict(skipped), tuple(markings), frozenset(caveats))


# The TLP marking definitions STIX fixes by id (TLP 1.0 in STIX 2.1 §7.2.1.4,
# TLP 2.0 in the OASIS TLP 2.0 extension); bundles may refer to them without
# including them.
_STIX_TLP_IDS = {
    "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9": "WHITE",
    "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5f41da": "GREEN",
    "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82": "AMBER",
    "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed": "RED",
    "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487": "CLEAR",
    "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb": "GREEN",
    "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421": "AMBER",
    "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003": "AMBER+STRICT",
    "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1": "RED",
}
# MITRE ATT&CK's copyright statement, to which every ATT&CK object refers and
# which extracts of the catalogue leave out: an ownership notice, no marking.
_WELL_KNOWN_NOTICES = frozenset({"marking-definition--fa42a846-8d90-4e51-bc29-71d5b4802168"})
_TLP_2_EXTENSION = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
_COPYRIGHT = re.compile(r"^\s*(?:copyright\b|©|\(c\)\s)", re.IGNORECASE)


def _stix_markings(raw_objects: list[Any], origin: str) -> tuple[list[Marking], set[str]]:
    """The markings and TLP caveats of a bundle: every definition it holds or refers to."""
    definitions = {
        str(o["id"]): o
        for o in raw_objects
        if isinstance(o, Mapping) and o.get("type") == "marking-definition" and "id" in o
    }
    referenced: dict[str, str] = {}  # marking id → the object referring to it, for messages
    for stix_object in raw_objects:
        if not isinstance(stix_object, Mapping):
            continue
        refs = stix_object.get("object_marking_refs") or []
        granular = stix_object.get("granular_markings") or []
        if not isinstance(refs, list) or not isinstance(granular, list):
            raise IngestError(origin, f"{stix_object.get('id')}: marking references must be lists")
        refs = refs + [g.get("marking_ref") for g in granular if isinstance(g, Mapping)]
        for ref in refs:
            if not isinstance(ref, str):
                raise IngestError(origin, f"{stix_object.get('id')}: marking reference {ref!r}")
            referenced.setdefault(ref, str(stix_object.get("id")))
    markings: list[Marking] = []
    caveats: set[str] = set()
    for marking_id in sorted(definitions.keys() | referenced.keys()):
        where = f"{origin}#{marking_id}"
        try:
            if marking_id in _STIX_TLP_IDS:
                caveats |= tlp_caveats(_STIX_TLP_IDS[marking_id])
            definition = definitions.get(marking_id)
            if definition is None:
                if marking_id not in _STIX_TLP_IDS and marking_id not in _WELL_KNOWN_NOTICES:
                    raise IngestError(
                        where,
                        f"{referenced[marking_id]} refers to this marking definition, "
                        "which the bundle does not hold",
                    )
                continue
            found, tlp = _stix_definition(definition, where)
        except MarkingError as error:
            raise IngestError(where, str(error)) from None
        markings.extend(found)
        caveats |= tlp
    return markings, caveats


def _stix_definition(definition: Mapping[str, Any], where: str) -> tuple[list[Marking], set[str]]:
    kind = definition.get("definition_type")
    body = definition.get("definition")
    extension = (definition.get("extensions") or {}).get(_TLP_2_EXTENSION)
    if isinstance(extension, Mapping) and isinstance(extension.get("tlp_2_0"), str):
        return [], set(tlp_caveats(extension["tlp_2_0"]))
    if kind == "tlp" and isinstance(body, Mapping) and isinstance(body.get("tlp"), str):
        return [], set(tlp_caveats(body["tlp"]))
    if kind == "statement" and isinstance(body, Mapping) and isinstance(body.get("statement"), str):
        statement = body["statement"]
        if _COPYRIGHT.match(statement):
            return [], set()
        return [parse_marking(statement)], set()
    raise IngestError(
        where,
        f"a marking definition of type {kind!r} that guetteur cannot read "
        "(it reads statements and TLP): refused rather than stored unmarked",
    )


def _stix_indicators(
    stix_object: Mapping[str, Any],
    where: str,
    attributions: Mapping[str, str],
    skipped: Counter[str],
) -> list[Indicator]:
    pattern = stix_object.get("pattern")
    if stix_object.get("pattern_type", "stix") != "stix" or not isinstance(pattern, str):
        skipped[f"{stix_object.get('pattern_type')} pattern"] += 1
        return []
    values, unusable = _pattern_values(pattern)
    if unusable:
        skipped["unusable pattern comparison"] += unusable
    confidence = stix_object.get("confidence")
    return [
        Indicator(
            kind=kind,
            value=value,
            source="stix",
            name=stix_object.get("name") or None,
            description=stix_object.get("description") or None,
            intrusion_set=attributions.get(str(stix_object["id"])),
            confidence=confidence if isinstance(confidence, int) else None,
            valid_from=_timestamp(stix_object.get("valid_from")),
            valid_until=_timestamp(stix_object.get("valid_until")),
            origin=where,
        )
        for kind, value in dict.fromkeys(values)
    ]


def _observable_indicators(
    sco: Mapping[str, Any], where: str, skipped: Counter[str]
) -> list[Indicator]:
    found: list[Indicator] = []
    for kind, raw in _sco_values(sco):
        value = normalise_value(kind, raw)
        if value is None:
            skipped[f"invalid {kind} observable"] += 1
            continue
        found.append(
            Indicator(
                kind=kind,
                value=value,
                source="stix",
                confidence=OBSERVABLE_CONFIDENCE,
                origin=where,
                for_detection=False,
            )
        )
    return found


# --------------------------------------------------------------------------- MISP in

# MISP attribute type → kind of each "|"-separated part (None: a part we don't match).
_MISP_TYPES: dict[str, tuple[str | None, ...]] = {
    "ip-src": ("ip",),
    "ip-dst": ("ip",),
    "ip-src|port": ("ip", None),
    "ip-dst|port": ("ip", None),
    "domain": ("domain",),
    "hostname": ("domain",),
    "domain|ip": ("domain", "ip"),
    "hostname|port": ("domain", None),
    "url": ("url",),
    "md5": ("md5",),
    "sha1": ("sha1",),
    "sha256": ("sha256",),
    "filename|md5": (None, "md5"),
    "filename|sha1": (None, "sha1"),
    "filename|sha256": (None, "sha256"),
    "email": ("email",),
    "email-src": ("email",),
    "email-dst": ("email",),
}
# Galaxy type → (IntelObject kind, whether it names the actor an event is attributed to).
_MISP_GALAXIES = {
    "threat-actor": ("threat-actor", True),
    "mitre-intrusion-set": ("intrusion-set", True),
    "mitre-enterprise-attack-intrusion-set": ("intrusion-set", True),
    "mitre-attack-pattern": ("attack-pattern", False),
    "mitre-enterprise-attack-attack-pattern": ("attack-pattern", False),
    "mitre-malware": ("malware", False),
    "malpedia": ("malware", False),
    "mitre-tool": ("tool", False),
}
_GALAXY_TAG = re.compile(r'^misp-galaxy:(?P<galaxy>[a-z0-9-]+)="(?P<value>.+)"$')
# MITRE galaxies name clusters "APT28 - G0007".
_MITRE_SUFFIX = re.compile(r"^(?P<name>.+?)\s+-\s+(?P<id>[TGSC]\d{4}(?:\.\d{3})?)$")


def _events(document: object) -> Iterator[Mapping[str, Any]]:
    if isinstance(document, list):
        for item in document:
            yield from _events(item)
    elif isinstance(document, Mapping):
        if "response" in document:
            yield from _events(document["response"])
        elif isinstance(document.get("Event"), Mapping):
            yield document["Event"]


def _truthy(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


def _galaxy_objects(container: Mapping[str, Any], where: str) -> list[tuple[IntelObject, bool]]:
    """Intel objects named by a MISP event's or attribute's galaxies and galaxy tags."""
    found: list[tuple[IntelObject, bool]] = []
    for galaxy in container.get("Galaxy") or []:
        if not isinstance(galaxy, Mapping):
            continue
        kind, is_actor = _MISP_GALAXIES.get(str(galaxy.get("type")), (None, False))
        for cluster in galaxy.get("GalaxyCluster") or []:
            if kind is None or not isinstance(cluster, Mapping) or not cluster.get("value"):
                continue
            meta = cluster.get("meta") if isinstance(cluster.get("meta"), Mapping) else {}
            synonyms = tuple(str(s) for s in (meta or {}).get("synonyms") or [])
            intel = _mitre_named(kind, str(cluster["value"]), synonyms, where)
            description = cluster.get("description") or None
            found.append((replace(intel, description=description), is_actor))
    for tag in container.get("Tag") or []:
        name = tag.get("name") if isinstance(tag, Mapping) else None
        match = _GALAXY_TAG.match(name) if isinstance(name, str) else None
        if match and match["galaxy"] in _MISP_GALAXIES:
            kind, is_actor = _MISP_GALAXIES[match["galaxy"]]
            found.append((_mitre_named(kind, match["value"], (), where), is_actor))
    return found


def _mitre_named(kind: str, value: str, aliases: tuple[str, ...], where: str) -> IntelObject:
    match = _MITRE_SUFFIX.match(value.strip())
    if match:
        return IntelObject(kind, match["name"], aliases, (match["id"],), origin=where)
    return IntelObject(kind, value.strip(), aliases, origin=where)


def _actor_name(tagged: Sequence[tuple[IntelObject, bool]]) -> str | None:
    return next((intel.name for intel, is_actor in tagged if is_actor), None)


def parse_misp(document: object, origin: str, *, include_context: bool = False) -> IntelReading:
    """Indicators and intel objects of MISP event JSON already parsed.

    Accepts one `{"Event": …}`, a `{"response": [{"Event": …}]}` export or a
    list of events. Attributes flagged `to_ids` become indicators; the others
    are context, returned with `for_detection=False` only if `include_context`.
    The threat actor of an attribute's own galaxies/tags, else the event's,
    becomes `intrusion_set`. Object attributes count like event attributes.
    """
    events = list(_events(document))
    if not events:
        raise IngestError(origin, "not a MISP event export (no 'Event' object found)")
    skipped: Counter[str] = Counter()
    indicators: list[Indicator] = []
    intel: dict[tuple[str, str], IntelObject] = {}
    for event in events:
        event_where = f"{origin}#{event.get('uuid') or event.get('id') or '?'}"
        event_tags = _galaxy_objects(event, event_where)
        event_actor = _actor_name(event_tags)
        attributes = [a for a in event.get("Attribute") or [] if isinstance(a, Mapping)]
        for misp_object in event.get("Object") or []:
            if isinstance(misp_object, Mapping) and not _truthy(misp_object.get("deleted")):
                attributes += [
                    a for a in misp_object.get("Attribute") or [] if isinstance(a, Mapping)
                ]
        for attribute in attributes:
            attribute_tags = _galaxy_objects(attribute, event_where)
            event_tags.extend(attribute_tags)
            if _truthy(attribute.get("deleted")):
                continue
            for_detection = _truthy(attribute.get("to_ids"))
            if not for_detection and not include_context:
                skipped["attribute without to_ids"] += 1
                continue
            indicators.extend(
                _misp_indicators(
                    attribute,
                    event,
                    f"{event_where}/{attribute.get('uuid') or attribute.get('id') or '?'}",
                    _actor_name(attribute_tags) or event_actor,
                    for_detection,
                    skipped,
                )
            )
        for tagged, _ in event_tags:
            intel.setdefault((tagged.kind, tagged.name), tagged)
    markings: list[Marking] = []
    caveats: set[str] = set()
    for event in events:
        found, tlp = _misp_markings(
            event, f"{origin}#{event.get('uuid') or event.get('id') or '?'}"
        )
        markings.extend(found)
        caveats |= tlp
    return IntelReading(
        indicators, list(intel.values()), dict(skipped), tuple(markings), frozenset(caveats)
    )


# MISP taxonomies whose tags are classification markings ("classification:NATO SECRET"),
# and the NATO taxonomy's values with their caveat suffix ("CTS-A": ATOMAL).
_MISP_MARKING_NAMESPACES = frozenset(
    {"classification", "marking", "security-label", "security-classification"}
)
_NATO_TAXONOMY_SUFFIXES = {"A": "ATOMAL", "B": "BOHEMIA"}
_MISP_DISTRIBUTIONS = frozenset({0, 1, 2, 3, 4, 5})


def _misp_markings(event: Mapping[str, Any], where: str) -> tuple[list[Marking], set[str]]:
    """The markings and TLP caveats an event's tags state; its distribution is checked."""
    containers: list[Mapping[str, Any]] = [event]
    containers += [a for a in event.get("Attribute") or [] if isinstance(a, Mapping)]
    for misp_object in event.get("Object") or []:
        if isinstance(misp_object, Mapping):
            containers.append(misp_object)
            containers += [a for a in misp_object.get("Attribute") or [] if isinstance(a, Mapping)]
    markings: list[Marking] = []
    caveats: set[str] = set()
    for container in containers:
        distribution = container.get("distribution")
        if distribution is not None and _distribution(distribution) not in _MISP_DISTRIBUTIONS:
            raise IngestError(
                where, f"unknown MISP distribution {distribution!r} (0 to 5): refused"
            )
        for tag in container.get("Tag") or []:
            name = tag.get("name") if isinstance(tag, Mapping) else None
            if not isinstance(name, str):
                continue
            try:
                found, tlp = _misp_tag_marking(name)
            except MarkingError as error:
                raise IngestError(where, f"tag {name!r}: {error}") from None
            markings.extend(found)
            caveats |= tlp
    return markings, caveats


def _distribution(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _misp_tag_marking(name: str) -> tuple[list[Marking], set[str]]:
    namespace, colon, rest = name.partition(":")
    if not colon:
        # A bare tag that is a banner ("NATO SECRET") counts; "APT28" does not.
        return ([parse_marking(name)], set()) if is_banner_line(name) else ([], set())
    namespace = namespace.strip().lower()
    predicate, equals, value = rest.partition("=")
    if not equals:
        predicate, value = "", rest
    value = value.strip().strip('"').strip()
    if namespace == "tlp":
        return [], set(tlp_caveats(value))
    if namespace == "nato" and predicate.strip().lower() == "classification":
        label, dash, suffix = value.upper().partition("-")
        if dash and suffix in _NATO_TAXONOMY_SUFFIXES:
            value = f"{label} // {_NATO_TAXONOMY_SUFFIXES[suffix]}"
        return [parse_marking(value)], set()
    if namespace in _MISP_MARKING_NAMESPACES:
        return [parse_marking(value)], set()
    return [], set()


def _misp_indicators(
    attribute: Mapping[str, Any],
    event: Mapping[str, Any],
    where: str,
    actor: str | None,
    for_detection: bool,
    skipped: Counter[str],
) -> list[Indicator]:
    attribute_type = str(attribute.get("type"))
    parts_kinds = _MISP_TYPES.get(attribute_type)
    raw_value = attribute.get("value")
    if parts_kinds is None or not isinstance(raw_value, str):
        skipped[f"MISP attribute type {attribute_type}"] += 1
        return []
    parts = raw_value.split("|") if len(parts_kinds) > 1 else [raw_value]
    found: list[Indicator] = []
    for kind, part in zip(parts_kinds, parts, strict=False):
        if kind is None:
            continue
        if kind == "ip":
            kind = _ip_kind(_refang(part))
        value = normalise_value(kind, part)
        if value is None:
            skipped[f"invalid {attribute_type} value"] += 1
            continue
        found.append(
            Indicator(
                kind=kind,
                value=value,
                source="misp",
                name=event.get("info") or None,
                description=attribute.get("comment") or None,
                intrusion_set=actor,
                valid_from=_timestamp(attribute.get("first_seen")) or _timestamp(event.get("date")),
                valid_until=_timestamp(attribute.get("last_seen")),
                origin=where,
                for_detection=for_detection,
            )
        )
    return found


# --------------------------------------------------------------------------- matching


def _get(mapping: object, *path: str) -> object:
    for key in path:
        if not isinstance(mapping, Mapping):
            return None
        mapping = mapping.get(key)
    return mapping


def _sensor_value(kind: str, value: str) -> str | None:
    """`normalise_value` for what sensors write, which is never defanged.

    Matching runs once per alert, a million times in a triage run; the full
    normaliser (regexes, `ipaddress`) costs several times the dict lookups
    it feeds. Sensors already write IPv4 and hashes canonically, so only case
    and the DNS root dot need fixing; IPv6 (EVE writes it uncompressed) still
    goes through `ipaddress`.
    """
    if kind == "ipv4":
        return value
    if kind == "domain":
        return value.rstrip(".").lower()
    if kind in _HASH_LENGTHS:
        return value.lower()
    return normalise_value(kind, value)


def _add(found: list[tuple[str, str]], kind: str, value: object) -> None:
    if isinstance(value, str) and value:
        normalised = _sensor_value(kind, value)
        if normalised is not None:
            found.append((kind, normalised))


def alert_observables(alert: Alert) -> list[tuple[str, str]]:
    """(kind, normalised value) of every address, name, URL and hash an alert carries.

    Suricata EVE records keep them in http/dns/tls/fileinfo; Sysmon events
    (Sigma alerts keep theirs under raw.event.data, or at the top of raw).
    """
    found: list[tuple[str, str]] = []
    for address in (alert.src, alert.dst):
        if address:
            _add(found, _ip_kind(address), address)
    raw = alert.raw
    host = _get(raw, "http", "hostname")
    _add(found, "domain", host)
    path = _get(raw, "http", "url")
    if isinstance(host, str) and isinstance(path, str) and host:
        if path.startswith(("http://", "https://")):  # proxied requests carry the full URL
            _add(found, "url", path)
        else:
            # Built already normalised (see _normalise_url) rather than re-parsed.
            port = f":{alert.dst_port}" if alert.dst_port not in (None, 80) else ""
            found.append(("url", f"http://{host.lower()}{port}{path or '/'}"))
    _add(found, "domain", _get(raw, "dns", "rrname"))
    for key in ("query", "queries"):
        queries = _get(raw, "dns", key)
        for query in queries if isinstance(queries, list) else []:
            _add(found, "domain", _get(query, "rrname"))
    _add(found, "domain", _get(raw, "tls", "sni"))
    for kind in ("sha256", "sha1", "md5"):
        _add(found, kind, _get(raw, "fileinfo", kind))
    event_data = _get(raw, "event", "data")
    for fields in (raw, event_data if isinstance(event_data, Mapping) else None):
        if fields is None:
            continue
        destination = fields.get("DestinationIp")
        if isinstance(destination, str):
            _add(found, _ip_kind(destination), destination)
        _add(found, "domain", fields.get("DestinationHostname"))
        _add(found, "domain", fields.get("QueryName"))
        hashes = fields.get("Hashes")
        if isinstance(hashes, str):  # Sysmon: "SHA256=AB…,MD5=CD…,IMPHASH=…"
            for item in hashes.split(","):
                algorithm, _, digest = item.partition("=")
                hash_kind = _hash_kind(algorithm)
                if hash_kind:
                    _add(found, hash_kind, digest)
    return list(dict.fromkeys(found))


class IndicatorIndex:
    """Exact (kind, value) lookup over indicators, built once and matched per alert."""

    def __init__(self, indicators: Iterable[Indicator]) -> None:
        self._by_value: dict[tuple[str, str], list[Indicator]] = {}
        for indicator in indicators:
            self._by_value.setdefault((indicator.kind, indicator.value), []).append(indicator)

    def __len__(self) -> int:
        return len(self._by_value)

    def lookup(self, kind: str, value: str) -> list[Indicator]:
        """Indicators for a value already normalised with `normalise_value`."""
        return list(self._by_value.get((kind, value), ()))

    def match_alert(self, alert: Alert) -> list[Indicator]:
        """Indicators any of the alert's observables equals (see `alert_observables`)."""
        matched: list[Indicator] = []
        for key in alert_observables(alert):
            matched.extend(self._by_value.get(key, ()))
        return matched


# --------------------------------------------------------------------------- STIX out

# Fixed namespace: ids of exported objects depend only on their content, so
# exporting the same incident twice yields the same objects (consumers dedupe).
_GUETTEUR_NAMESPACE = uuid.UUID("6f1c2d7e-3b0a-5c4e-9a51-6775657474e5")
# The STIX 2.1 namespace for deterministic SCO ids (spec section 2.9).
_SCO_NAMESPACE = uuid.UUID("00abedb4-aa42-466c-9c01-fed23315a9b7")
# A marking definition is immutable and identified by its statement alone, so
# its creation time is fixed: every export of one marking is the same object.
_MARKING_CREATED = datetime(2026, 1, 1, tzinfo=UTC)

_PATTERN_PATHS = {
    "ipv4": "ipv4-addr:value",
    "ipv6": "ipv6-addr:value",
    "domain": "domain-name:value",
    "url": "url:value",
    "email": "email-addr:value",
    "md5": "file:hashes.MD5",
    "sha1": "file:hashes.'SHA-1'",
    "sha256": "file:hashes.'SHA-256'",
}
_SCO_TYPES = {
    "ipv4": "ipv4-addr",
    "ipv6": "ipv6-addr",
    "domain": "domain-name",
    "url": "url",
    "email": "email-addr",
}
_STIX_HASH_NAMES = {"md5": "MD5", "sha1": "SHA-1", "sha256": "SHA-256"}


def stix_pattern(kind: str, value: str) -> str:
    """The STIX pattern that matches exactly one indicator value."""
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"[{_PATTERN_PATHS[kind]} = '{escaped}']"


def _stix_time(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _sdo_id(object_type: str, *content: str) -> str:
    return f"{object_type}--{uuid.uuid5(_GUETTEUR_NAMESPACE, '|'.join((object_type, *content)))}"


def _sco(kind: str, value: str, marking_id: str) -> dict[str, Any]:
    if kind in _STIX_HASH_NAMES:
        contributing: dict[str, Any] = {"hashes": {_STIX_HASH_NAMES[kind]: value}}
        object_type = "file"
    else:
        contributing = {"value": value}
        object_type = _SCO_TYPES[kind]
    canonical = json.dumps(contributing, sort_keys=True, separators=(",", ":"))
    return {
        "type": object_type,
        "spec_version": "2.1",
        "id": f"{object_type}--{uuid.uuid5(_SCO_NAMESPACE, canonical)}",
        **contributing,
        "object_marking_refs": [marking_id],
    }


def incident_bundle(
    *,
    incident_id: str,
    title: str,
    summary: str,
    alerts: Sequence[Alert],
    techniques: Sequence[tuple[str, str]],
    indicators: Sequence[Indicator],
    marking: str,
    created: datetime,
) -> dict[str, Any]:
    """One incident as a STIX 2.1 bundle, every object under `marking`.

    Alerts that saw the same observables become one observed-data object
    (first/last seen, count) referencing ipv4/ipv6-addr, domain-name, url and
    file SCOs; each indicator becomes an indicator with its exact pattern,
    linked by "indicates" to an intrusion set when attributed; each (id, name)
    technique an attack-pattern; a report ties them together. Alerts with no
    address, name or hash (a host-only Sigma match) have no STIX observable
    and appear only in the report's count. Ids derive from content and the
    incident id, so the same input gives the same bundle.
    """
    stamp = _stix_time(created)
    marking_id = _sdo_id("marking-definition", marking)
    marking_object = {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": marking_id,
        "created": _stix_time(_MARKING_CREATED),
        "definition_type": "statement",
        "definition": {"statement": marking},
    }
    common = {
        "spec_version": "2.1",
        "created": stamp,
        "modified": stamp,
        "object_marking_refs": [marking_id],
    }

    scos: dict[str, dict[str, Any]] = {}
    groups: dict[tuple[str, ...], list[Alert]] = {}
    for alert in sorted(alerts, key=lambda a: (a.time, a.id)):
        refs: list[str] = []
        for kind, value in alert_observables(alert):
            if kind not in _SCO_TYPES and kind not in _STIX_HASH_NAMES:
                continue
            sco = _sco(kind, value, marking_id)
            scos.setdefault(sco["id"], sco)
            refs.append(sco["id"])
        if refs:
            groups.setdefault(tuple(sorted(set(refs))), []).append(alert)
    observed = [
        {
            "type": "observed-data",
            "id": _sdo_id("observed-data", incident_id, *refs),
            **common,
            "first_observed": _stix_time(group[0].time),
            "last_observed": _stix_time(group[-1].time),
            "number_observed": len(group),
            "object_refs": list(refs),
        }
        for refs, group in groups.items()
    ]

    stix_indicators: list[dict[str, Any]] = []
    intrusion_sets: dict[str, dict[str, Any]] = {}
    relationships: list[dict[str, Any]] = []
    for indicator in dict.fromkeys(indicators):
        stix_indicator = _stix_indicator(indicator, incident_id, common, stamp)
        if stix_indicator["id"] in {i["id"] for i in stix_indicators}:
            continue
        stix_indicators.append(stix_indicator)
        if indicator.intrusion_set:
            intrusion_set = intrusion_sets.setdefault(
                indicator.intrusion_set,
                {
                    "type": "intrusion-set",
                    "id": _sdo_id("intrusion-set", incident_id, indicator.intrusion_set),
                    **common,
                    "name": indicator.intrusion_set,
                },
            )
            relationships.append(
                {
                    "type": "relationship",
                    "id": _sdo_id("relationship", incident_id, stix_indicator["id"], "indicates"),
                    **common,
                    "relationship_type": "indicates",
                    "source_ref": stix_indicator["id"],
                    "target_ref": intrusion_set["id"],
                }
            )

    attack_patterns = [
        {
            "type": "attack-pattern",
            "id": _sdo_id("attack-pattern", incident_id, technique_id),
            **common,
            "name": name or technique_id,
            "external_references": [
                {
                    "source_name": "mitre-attack",
                    "external_id": technique_id,
                    "url": f"https://attack.mitre.org/techniques/{technique_id.replace('.', '/')}/",
                }
            ],
        }
        for technique_id, name in dict.fromkeys(techniques)
    ]

    content = [
        *scos.values(),
        *observed,
        *stix_indicators,
        *intrusion_sets.values(),
        *relationships,
        *attack_patterns,
    ]
    if not content:
        raise ValueError(
            f"incident {incident_id}: nothing to export (no observable, indicator or technique)"
        )
    report = {
        "type": "report",
        "id": _sdo_id("report", incident_id),
        **common,
        "name": title,
        "description": f"{summary}\n\n{len(alerts)} alert(s).".strip(),
        # "threat-report" is the report-type-ov value for an account of one threat's activity.
        "report_types": ["threat-report"],
        "published": stamp,
        "object_refs": [o["id"] for o in content],
        "external_references": [{"source_name": "guetteur", "external_id": incident_id}],
    }
    return {
        "type": "bundle",
        "id": _sdo_id("bundle", incident_id, stamp, marking),
        "objects": [marking_object, *content, report],
    }


def _stix_indicator(
    indicator: Indicator, incident_id: str, common: Mapping[str, Any], stamp: str
) -> dict[str, Any]:
    valid_from = _stix_time(indicator.valid_from) if indicator.valid_from else stamp
    stix_indicator: dict[str, Any] = {
        "type": "indicator",
        "id": _sdo_id("indicator", incident_id, indicator.kind, indicator.value),
        **common,
        "name": indicator.name or f"{indicator.kind} {indicator.value}",
        "indicator_types": ["malicious-activity"],
        "pattern": stix_pattern(indicator.kind, indicator.value),
        "pattern_type": "stix",
        "valid_from": valid_from,
    }
    # STIX requires valid_until after valid_from; a partner's inverted window is dropped.
    if indicator.valid_until and _stix_time(indicator.valid_until) > valid_from:
        stix_indicator["valid_until"] = _stix_time(indicator.valid_until)
    if indicator.description:
        stix_indicator["description"] = indicator.description
    if indicator.confidence is not None:
        stix_indicator["confidence"] = max(0, min(100, indicator.confidence))
    return stix_indicator


def validate_bundle(bundle: Mapping[str, Any]) -> None:
    """Raise InvalidStixError naming the first object `stix2` rejects or that refers outside.

    Each object is parsed on its own (allow_custom=False) so the error names
    it; references are then checked to resolve inside the bundle, which
    `stix2` does not do.
    """
    try:
        import stix2
        import stix2.exceptions
    except ImportError as error:
        raise MissingDependencyError("validating STIX needs the 'stix2' package") from error
    objects = bundle.get("objects")
    if bundle.get("type") != "bundle" or not isinstance(objects, list):
        raise InvalidStixError(str(bundle.get("id")), "not a bundle with an objects list")
    known = {o.get("id") for o in objects if isinstance(o, Mapping)}
    for stix_object in objects:
        object_id = str(stix_object.get("id")) if isinstance(stix_object, Mapping) else "?"
        try:
            stix2.parse(dict(stix_object), allow_custom=False, version="2.1")
        except (stix2.exceptions.STIXError, ValueError, TypeError) as error:
            raise InvalidStixError(object_id, str(error)) from error
        for ref in _references(stix_object):
            if ref not in known:
                raise InvalidStixError(object_id, f"refers to {ref}, which is not in the bundle")


def _references(stix_object: Mapping[str, Any]) -> Iterator[str]:
    for key, value in stix_object.items():
        if key.endswith("_ref") and isinstance(value, str):
            yield value
        elif key.endswith("_refs") and isinstance(value, list):
            yield from (v for v in value if isinstance(v, str))
