"""Sigma rules, compiled once into Python matchers and run over Windows events.

Place in the data flow: the Windows-event readers (`cyber.winevents`) turn
Sysmon / Security logs into `WindowsEvent`s; `load_rules` compiles a folder of
Sigma YAML rules into a `RuleSet`; `RuleSet.alerts` runs every routed rule on
every event and yields one `Alert` per match, with the rule's level and ATT&CK
tags, for the store and for triage (clustering into incidents).

Why our own matcher rather than pySigma and a backend: a backend emits a query
language (Splunk, Elastic…) that we would then have to interpret again in
Python. Compiling each rule straight into closures over the event's fields is
simpler, has no dependency beyond PyYAML, and `benchmarks/sigma_quality.py`
measures it against a naive per-event interpretation of the rule's YAML.

Semantics follow the Sigma specification (v2): values are compared
case-insensitively unless `|cased`; `*` and `?` are wildcards, `\\` escapes
them (as in pySigma); field names are matched case-insensitively; keyword
(field-less) values match as substrings of any field. A rule that needs
something we do not implement (correlations, aggregations, `|expand`
placeholders, a log source we cannot route) is listed in
`RuleSet.unsupported` with its reason, as are files that are not valid rules —
nothing is silently dropped and one bad file never stops a load.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import ipaddress
import json
import operator
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from guetteur._exceptions import SigmaRuleError, UnsupportedRule
from guetteur.model.alert import Alert, Severity, WindowsEvent

__all__ = [
    "MAX_RULE_BYTES",
    "RuleSet",
    "SigmaRule",
    "SigmaRuleError",
    "UnsupportedRule",
    "alert_for",
    "fold_field_name",
    "load_rule",
    "load_rules",
    "route_logsource",
    "techniques_from_tags",
]

# A Sigma rule is a few kilobytes; anything far larger is not a rule, and
# refusing it early bounds the memory one hostile file can take.
MAX_RULE_BYTES = 1_000_000


# ---------------------------------------------------------------------------
# Log-source routing: the Sigma taxonomy for Windows, onto (channel, EventID).

_SYSMON = "microsoft-windows-sysmon/operational"
_SECURITY = "security"
_POWERSHELL = ("microsoft-windows-powershell/operational", "powershellcore/operational")
_POWERSHELL_CLASSIC = "windows powershell"

_Route = tuple[tuple[str, int | None], ...]


def _sysmon(*event_ids: int) -> _Route:
    return tuple((_SYSMON, event_id) for event_id in event_ids)


def _powershell(event_id: int) -> _Route:
    return tuple((channel, event_id) for channel in _POWERSHELL)


# Categories are event types; the standard Windows mapping (the one pySigma's
# Sysmon and Windows pipelines apply) names the channel and EventIDs.
_CATEGORY_ROUTES: dict[str, _Route] = {
    "process_creation": (*_sysmon(1), (_SECURITY, 4688)),
    "process_termination": (*_sysmon(5), (_SECURITY, 4689)),
    "file_change": _sysmon(2),
    "network_connection": _sysmon(3),
    "sysmon_status": _sysmon(4, 16),
    "driver_load": _sysmon(6),
    "image_load": _sysmon(7),
    "create_remote_thread": _sysmon(8),
    "raw_access_thread": _sysmon(9),
    "process_access": _sysmon(10),
    "file_event": _sysmon(11),
    "registry_add": _sysmon(12),
    "registry_delete": _sysmon(12),
    "registry_set": _sysmon(13),
    "registry_rename": _sysmon(14),
    "registry_event": _sysmon(12, 13, 14),
    "create_stream_hash": _sysmon(15),
    "pipe_created": _sysmon(17, 18),
    "wmi_event": _sysmon(19, 20, 21),
    "dns_query": _sysmon(22),
    "file_delete": _sysmon(23, 26),
    "clipboard_capture": _sysmon(24),
    "process_tampering": _sysmon(25),
    "file_block_executable": _sysmon(27),
    "file_block_shredding": _sysmon(28),
    "file_executable_detected": _sysmon(29),
    "sysmon_error": _sysmon(255),
    "ps_module": _powershell(4103),
    "ps_script": _powershell(4104),
    "ps_classic_start": ((_POWERSHELL_CLASSIC, 400),),
    "ps_classic_provider_start": ((_POWERSHELL_CLASSIC, 600),),
    "ps_classic_script": ((_POWERSHELL_CLASSIC, 800),),
}

# Services are channels; the rule's own detection usually narrows the EventID.
_SERVICE_CHANNELS: dict[str, tuple[str, ...]] = {
    "security": (_SECURITY,),
    "system": ("system",),
    "application": ("application",),
    "sysmon": (_SYSMON,),
    "powershell": _POWERSHELL,
    "powershell-classic": (_POWERSHELL_CLASSIC,),
    "taskscheduler": ("microsoft-windows-taskscheduler/operational",),
    "windefend": ("microsoft-windows-windows defender/operational",),
    "wmi": ("microsoft-windows-wmi-activity/operational",),
    "dns-server": ("dns server",),
    "dns-server-audit": ("microsoft-windows-dns-server/audit",),
    "dns-client": ("microsoft-windows-dns client events/operational",),
    "driver-framework": ("microsoft-windows-driverframeworks-usermode/operational",),
    "ntlm": ("microsoft-windows-ntlm/operational",),
    "firewall-as": ("microsoft-windows-windows firewall with advanced security/firewall",),
    "bits-client": ("microsoft-windows-bits-client/operational",),
    "codeintegrity-operational": ("microsoft-windows-codeintegrity/operational",),
    "terminalservices-localsessionmanager": (
        "microsoft-windows-terminalservices-localsessionmanager/operational",
    ),
    "openssh": ("openssh/operational",),
    "msexchange-management": ("msexchange management",),
    "microsoft-servicebus-client": ("microsoft-servicebus-client",),
    "applocker": (
        "microsoft-windows-applocker/exe and dll",
        "microsoft-windows-applocker/msi and script",
        "microsoft-windows-applocker/packaged app-deployment",
        "microsoft-windows-applocker/packaged app-execution",
    ),
    "printservice-admin": ("microsoft-windows-printservice/admin",),
    "printservice-operational": ("microsoft-windows-printservice/operational",),
    "smbclient-security": ("microsoft-windows-smbclient/security",),
    "smbclient-connectivity": ("microsoft-windows-smbclient/connectivity",),
    "security-mitigations": (
        "microsoft-windows-security-mitigations/kernel mode",
        "microsoft-windows-security-mitigations/user mode",
    ),
    "shell-core": ("microsoft-windows-shell-core/operational",),
    "appxdeployment-server": ("microsoft-windows-appxdeploymentserver/operational",),
    "appxpackaging-om": ("microsoft-windows-appxpackagingom/operational",),
    "appmodel-runtime": ("microsoft-windows-appmodel-runtime/admin",),
    "ldap_debug": ("microsoft-windows-ldap-client/debug",),
    "lsa-server": ("microsoft-windows-lsa/operational",),
    "capi2": ("microsoft-windows-capi2/operational",),
    "certificateservicesclient-lifecycle-system": (
        "microsoft-windows-certificateservicesclient-lifecycle-system/operational",
    ),
    "bitlocker": ("microsoft-windows-bitlocker/bitlocker management",),
    "vhdmp": ("microsoft-windows-vhdmp-operational",),
    "diagnosis-scripted": ("microsoft-windows-diagnosis-scripted/operational",),
    "kernel-shimengine": ("microsoft-windows-kernel-shimengine/operational",),
    "hyper-v-worker": ("microsoft-windows-hyper-v-worker",),
    "iis-configuration": ("microsoft-iis-configuration/operational",),
    "sense": ("microsoft-windows-sense/operational",),
}

# Security 4688 names the process fields differently from Sysmon 1; Sigma's
# process_creation rules use the Sysmon names, so expose both.
_FIELD_ALIASES: dict[tuple[str, int], tuple[tuple[str, str], ...]] = {
    (_SECURITY, 4688): (("image", "newprocessname"), ("parentimage", "parentprocessname")),
}


def route_logsource(logsource: Mapping[str, Any]) -> _Route:
    """(channel, EventID or None) pairs a rule's log source reads; raises UnsupportedRule."""
    product = str(logsource.get("product") or "").lower()
    category = str(logsource.get("category") or "").lower()
    service = str(logsource.get("service") or "").lower()
    if product != "windows":
        raise UnsupportedRule(f"log source product {product or '(none)'!r} is not Windows")
    if category:
        if category not in _CATEGORY_ROUTES:
            raise UnsupportedRule(f"log source category {category!r} has no Windows event mapping")
        return _CATEGORY_ROUTES[category]
    if service:
        if service not in _SERVICE_CHANNELS:
            raise UnsupportedRule(f"log source service {service!r} has no Windows channel mapping")
        return tuple((channel, None) for channel in _SERVICE_CHANNELS[service])
    raise UnsupportedRule("log source names neither a category nor a service")


# ---------------------------------------------------------------------------
# The event as matchers see it: field names folded once per event.


def fold_field_name(name: str) -> str:
    """Field names compare case-insensitively and without spaces.

    Sigma writes Defender's "Threat Name" as ThreatName; folding both sides
    the same way also covers exports that keep the spaced names.
    """
    return name.replace(" ", "").lower()


class _EventView:
    """Case-folded field names → value, text and lower-cased text, built once per event."""

    __slots__ = ("lower", "raw", "text")

    def __init__(self, event: WindowsEvent) -> None:
        raw: dict[str, Any] = {}
        # System fields rules commonly test; EventData wins on a name clash.
        raw["eventid"] = event.event_id
        raw["channel"] = event.channel
        raw["provider_name"] = event.provider
        raw["computer"] = event.computer
        for name, value in event.data.items():
            raw[fold_field_name(name)] = value
        for alias, source in _FIELD_ALIASES.get((event.channel.lower(), event.event_id), ()):
            if alias not in raw and source in raw:
                raw[alias] = raw[source]
        text: dict[str, str] = {}
        for name, value in raw.items():
            if isinstance(value, str):
                text[name] = value
            elif isinstance(value, bool | int | float):
                text[name] = str(value)
        self.raw = raw
        self.text = text
        self.lower = {name: value.lower() for name, value in text.items()}


_Matcher = Callable[[_EventView], bool]


def _always(_view: _EventView) -> bool:
    return True


# ---------------------------------------------------------------------------
# Sigma strings: wildcards, escapes, windash — compiled to the cheapest test.


class _Special:
    """A non-literal token inside a Sigma string."""

    def __init__(self, regex: str) -> None:
        self.regex = regex


_STAR = _Special(".*")
_QMARK = _Special(".")
# windash: Windows tools take "-x", "/x" and the Unicode dashes alike.
_DASH = _Special("[-/\u2013\u2014\u2015]")

_Token = str | _Special


def _parse_sigma_string(text: str) -> list[_Token]:
    """Split on wildcards; `\\` escapes `*`, `?` and itself, else stays a backslash (pySigma)."""
    tokens: list[_Token] = []
    literal: list[str] = []
    escaped = False
    for char in text:
        if escaped:
            literal.append(char if char in "*?\\" else "\\" + char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in "*?":
            if literal:
                tokens.append("".join(literal))
                literal = []
            tokens.append(_STAR if char == "*" else _QMARK)
        else:
            literal.append(char)
    if escaped:
        literal.append("\\")
    if literal:
        tokens.append("".join(literal))
    return tokens


def _apply_windash(tokens: list[_Token]) -> list[_Token]:
    out: list[_Token] = []
    for token in tokens:
        if isinstance(token, _Special):
            out.append(token)
            continue
        for part in re.split(r"([-/])", token):
            if part in ("-", "/"):
                out.append(_DASH)
            elif part:
                out.append(part)
    return out


@dataclass
class _StringTests:
    """OR-able string tests grouped so one call tests many values (endswith takes a tuple)."""

    equals: set[str] = field(default_factory=set)
    starts: list[str] = field(default_factory=list)
    ends: list[str] = field(default_factory=list)
    contains: list[str] = field(default_factory=list)
    regexes: list[re.Pattern[str]] = field(default_factory=list)
    anything: bool = False

    def add(self, tokens: list[_Token], cased: bool) -> None:
        def fold(token: _Token) -> _Token:
            return token if cased or isinstance(token, _Special) else token.lower()

        tokens = [fold(token) for token in tokens]
        literals = [t for t in tokens if isinstance(t, str)]
        shape = tuple("L" if isinstance(t, str) else ("*" if t is _STAR else "x") for t in tokens)
        if shape in ((), ("L",)):
            self.equals.add(literals[0] if literals else "")
        elif shape == ("*",) or shape == ("*", "*"):
            self.anything = True
        elif shape == ("L", "*"):
            self.starts.append(literals[0])
        elif shape == ("*", "L"):
            self.ends.append(literals[0])
        elif shape == ("*", "L", "*"):
            self.contains.append(literals[0])
        else:
            pattern = "".join(t.regex if isinstance(t, _Special) else re.escape(t) for t in tokens)
            self.regexes.append(re.compile(pattern, re.DOTALL))

    def tests(self) -> list[Callable[[str], bool]]:
        """One predicate per group, so `all` can test each value and OR can short-cut."""
        out: list[Callable[[str], bool]] = []
        if self.anything:
            out.append(lambda _v: True)
        if self.equals:
            equals = frozenset(self.equals)
            out.append(equals.__contains__)
        if self.starts:
            starts = tuple(self.starts)
            out.append(lambda v: v.startswith(starts))
        if self.ends:
            ends = tuple(self.ends)
            out.append(lambda v: v.endswith(ends))
        if self.contains:
            needles = tuple(self.contains)
            out.append(lambda v: any(n in v for n in needles))
        out.extend(_regex_test(regex, whole=True) for regex in self.regexes)
        return out


def _regex_test(regex: re.Pattern[str], whole: bool) -> Callable[[str], bool]:
    if whole:
        return lambda v: regex.fullmatch(v) is not None
    return lambda v: regex.search(v) is not None


def _base64_variants(value: bytes, offset: bool) -> list[str]:
    if not offset:
        return [base64.b64encode(value).decode("ascii")]
    # The three alignments a value can take inside a longer encoded blob,
    # trimmed of the characters that depend on the neighbouring bytes (pySigma).
    starts = (0, 2, 3)
    ends: tuple[int | None, ...] = (None, -3, -2)
    return [
        base64.b64encode(i * b" " + value)[starts[i] : ends[(len(value) + i) % 3]].decode("ascii")
        for i in range(3)
    ]


_ENCODINGS = {
    "wide": "utf-16-le",
    "utf16le": "utf-16-le",
    "utf16be": "utf-16-be",
    "utf16": "utf-16",
}
_NUMERIC: dict[str, Callable[[float, float], bool]] = {
    "lt": operator.lt,
    "lte": operator.le,
    "gt": operator.gt,
    "gte": operator.ge,
}
_REGEX_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL}
_KNOWN_MODIFIERS = {
    "contains",
    "startswith",
    "endswith",
    "all",
    "re",
    "cidr",
    "base64",
    "base64offset",
    "windash",
    "exists",
    "cased",
    "fieldref",
    *_ENCODINGS,
    *_NUMERIC,
    *_REGEX_FLAGS,
}


def _sigma_scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _compile_item(key: str, values: Any) -> _Matcher:
    """One `Field|mod|mod: value(s)` entry (an empty field name means a keyword search)."""
    field_name, *modifiers = key.split("|")
    field_name = fold_field_name(field_name)
    for modifier in modifiers:
        if modifier == "expand":
            raise UnsupportedRule(f"{key}: |expand placeholders need site-specific value lists")
        if modifier not in _KNOWN_MODIFIERS:
            raise UnsupportedRule(f"{key}: unknown modifier {modifier!r}")
    mods = set(modifiers)
    value_list: list[Any] = list(values) if isinstance(values, list) else [values]
    for value in value_list:
        if isinstance(value, dict | list):
            raise SigmaRuleError(f"{key}: a value must be a scalar, not {type(value).__name__}")
    match_all = "all" in mods

    if "exists" in mods:
        if not field_name:
            raise SigmaRuleError(f"{key}: |exists needs a field name")
        wanted = value_list[0] is True or str(value_list[0]).lower() == "true"
        return lambda view: (view.raw.get(field_name) is not None) == wanted

    if "fieldref" in mods:
        if mods - {"fieldref", "all", "cased"}:
            raise UnsupportedRule(f"{key}: |fieldref combined with other modifiers")
        return _fieldref_matcher(field_name, [str(v).lower() for v in value_list], match_all, mods)

    if "cidr" in mods:
        networks = [ipaddress.ip_network(str(v), strict=False) for v in value_list]

        def in_networks(text: str) -> bool:
            try:
                address = ipaddress.ip_address(text.strip())
            except ValueError:
                return False
            return any(address in network for network in networks)

        return _field_matcher(field_name, [in_networks], match_all=False, cased=True)

    numeric = mods & set(_NUMERIC)
    if numeric:
        compare = _NUMERIC[numeric.pop()]
        bounds = [float(v) for v in value_list]

        def numeric_test(text: str) -> bool:
            try:
                number = float(text)
            except ValueError:
                return False
            return any(compare(number, bound) for bound in bounds)

        return _field_matcher(field_name, [numeric_test], match_all=False, cased=True)

    if "re" in mods:
        flags = 0
        for flag in mods & set(_REGEX_FLAGS):
            flags |= _REGEX_FLAGS[flag]
        try:
            regexes = [re.compile(str(v), flags) for v in value_list]
        except re.error as error:
            raise SigmaRuleError(f"{key}: bad regular expression ({error})") from None
        tests = [_regex_test(regex, whole=False) for regex in regexes]
        return _field_matcher(field_name, tests, match_all, cased=True)

    cased = "cased" in mods
    accepts_null = any(v is None for v in value_list)
    groups: list[_StringTests] = []
    encoding = next((_ENCODINGS[m] for m in modifiers if m in _ENCODINGS), "utf-8")
    for value in value_list:
        if value is None:
            continue
        if "base64" in mods or "base64offset" in mods:
            raw = _sigma_scalar(value).encode(encoding)
            variants: list[list[_Token]] = [
                [v] for v in _base64_variants(raw, offset="base64offset" in mods)
            ]
        else:
            variants = [_parse_sigma_string(_sigma_scalar(value))]
        if "windash" in mods:
            variants = [_apply_windash(tokens) for tokens in variants]
        if "contains" in mods:
            variants = [[_STAR, *tokens, _STAR] for tokens in variants]
        elif "startswith" in mods:
            variants = [[*tokens, _STAR] for tokens in variants]
        elif "endswith" in mods:
            variants = [[_STAR, *tokens] for tokens in variants]
        # Under |all each value is its own test; its variants (windash,
        # base64offset) are still alternatives of one another.
        if match_all or not groups:
            groups.append(_StringTests())
        for tokens in variants:
            groups[-1].add(_merge_literals(tokens), cased)
    if match_all:
        tests = [_any_of(group.tests()) for group in groups]
    else:
        tests = groups[0].tests() if groups else []
    string_matcher = _field_matcher(field_name, tests, match_all, cased)
    if not accepts_null:
        return string_matcher
    if not field_name:
        raise SigmaRuleError(f"{key}: a keyword cannot be null")
    return lambda view: view.raw.get(field_name) is None or string_matcher(view)


def _merge_literals(tokens: list[_Token]) -> list[_Token]:
    """Join adjacent literals and collapse `**`, so shapes like `*L*` are recognised."""
    out: list[_Token] = []
    for token in tokens:
        if isinstance(token, str):
            if not token:
                continue
            if out and isinstance(out[-1], str):
                out[-1] = out[-1] + token
                continue
        elif token is _STAR and out and out[-1] is _STAR:
            continue
        out.append(token)
    return out


def _any_of(tests: list[Callable[[str], bool]]) -> Callable[[str], bool]:
    if len(tests) == 1:
        return tests[0]
    return lambda v: any(test(v) for test in tests)


def _field_matcher(
    field_name: str, tests: Sequence[Callable[[str], bool]], match_all: bool, cased: bool
) -> _Matcher:
    if not tests:
        return lambda _view: False
    combine = all if match_all else any
    single = tests[0] if len(tests) == 1 else None
    if not field_name:
        # Keyword: any field's text; under |all each test may hit a different field.
        def keyword(view: _EventView) -> bool:
            texts = (view.text if cased else view.lower).values()
            return combine(any(test(text) for text in texts) for test in tests)

        return keyword

    def one_field(view: _EventView) -> bool:
        text = (view.text if cased else view.lower).get(field_name)
        if text is None:
            return False
        if single is not None:
            return single(text)
        return combine(test(text) for test in tests)

    return one_field


def _fieldref_matcher(
    field_name: str, others: list[str], match_all: bool, mods: set[str]
) -> _Matcher:
    cased = "cased" in mods

    def same_as(view: _EventView) -> bool:
        texts = view.text if cased else view.lower
        mine = texts.get(field_name)
        if mine is None:
            return False
        results = (texts.get(other) == mine for other in others)
        return all(results) if match_all else any(results)

    return same_as


def _compile_selection(name: str, definition: Any) -> _Matcher:
    """A named detection: map (AND of fields), list of maps (OR), or keyword list."""
    if isinstance(definition, dict):
        if not definition:
            raise SigmaRuleError(f"selection {name!r} is empty")
        items = [_compile_item(str(key), value) for key, value in definition.items()]
        if len(items) == 1:
            return items[0]
        return lambda view: all(item(view) for item in items)
    if isinstance(definition, list):
        if definition and all(isinstance(entry, dict) for entry in definition):
            alternatives = [_compile_selection(name, entry) for entry in definition]
            return lambda view: any(alternative(view) for alternative in alternatives)
        if any(isinstance(entry, dict | list) for entry in definition):
            raise SigmaRuleError(f"selection {name!r} mixes maps and keywords")
        return _compile_item("|contains", definition)
    if isinstance(definition, str | int | float):
        return _compile_item("|contains", [definition])
    raise SigmaRuleError(f"selection {name!r} is neither a map, a list nor a keyword")


# ---------------------------------------------------------------------------
# Conditions: `and`, `or`, `not`, parentheses, `1 of x*`, `all of them`.

_CONDITION_TOKEN = re.compile(r"\(|\)|[^\s()]+")


class _ConditionParser:
    def __init__(self, condition: str, selections: Mapping[str, _Matcher]) -> None:
        if "|" in condition:
            raise UnsupportedRule(f"aggregation in condition {condition!r}")
        self.tokens = _CONDITION_TOKEN.findall(condition)
        self.position = 0
        self.selections = selections
        self.condition = condition

    def parse(self) -> _Matcher:
        if not self.tokens:
            raise SigmaRuleError("empty condition")
        matcher = self._or()
        if self.position != len(self.tokens):
            raise SigmaRuleError(f"unexpected {self.tokens[self.position]!r} in condition")
        return matcher

    def _peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def _take(self) -> str:
        token = self._peek()
        if token is None:
            raise SigmaRuleError(f"condition {self.condition!r} ends too early")
        self.position += 1
        return token

    def _or(self) -> _Matcher:
        parts = [self._and()]
        while (self._peek() or "").lower() == "or":
            self._take()
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else (lambda view: any(p(view) for p in parts))

    def _and(self) -> _Matcher:
        parts = [self._not()]
        while (self._peek() or "").lower() == "and":
            self._take()
            parts.append(self._not())
        return parts[0] if len(parts) == 1 else (lambda view: all(p(view) for p in parts))

    def _not(self) -> _Matcher:
        if (self._peek() or "").lower() == "not":
            self._take()
            inner = self._not()
            return lambda view: not inner(view)
        return self._atom()

    def _atom(self) -> _Matcher:
        token = self._take()
        lowered = token.lower()
        if token == "(":
            inner = self._or()
            if self._take() != ")":
                raise SigmaRuleError(f"unbalanced parentheses in condition {self.condition!r}")
            return inner
        if lowered == "near":
            raise UnsupportedRule("'near' (temporal proximity) condition")
        if lowered in ("1", "any", "all") and (self._peek() or "").lower() == "of":
            self._take()
            return self._quantified(lowered == "all", self._take())
        if lowered in ("and", "or", "not", "of", ")"):
            raise SigmaRuleError(f"unexpected {token!r} in condition {self.condition!r}")
        if token not in self.selections:
            raise SigmaRuleError(f"condition names undefined selection {token!r}")
        return self.selections[token]

    def _quantified(self, every: bool, pattern: str) -> _Matcher:
        if pattern == "them":
            names = [name for name in self.selections if not name.startswith("_")]
        else:
            names = [name for name in self.selections if fnmatch.fnmatchcase(name, pattern)]
        if not names:
            raise SigmaRuleError(f"{pattern!r} in condition matches no selection")
        parts = [self.selections[name] for name in names]
        if every:
            return lambda view: all(p(view) for p in parts)
        return lambda view: any(p(view) for p in parts)


def _compile_detection(detection: Any) -> _Matcher:
    if not isinstance(detection, dict):
        raise SigmaRuleError("detection is not a map")
    if "timeframe" in detection:
        raise UnsupportedRule("timeframe (aggregation over time)")
    condition = detection.get("condition")
    if condition is None:
        raise SigmaRuleError("detection has no condition")
    selections = {
        str(name): _compile_selection(str(name), definition)
        for name, definition in detection.items()
        if name != "condition"
    }
    conditions = condition if isinstance(condition, list) else [condition]
    if not conditions or not all(isinstance(c, str) for c in conditions):
        raise SigmaRuleError("condition must be a string or a list of strings")
    # A list of conditions is the old form of OR-ing them.
    compiled = [_ConditionParser(c, selections).parse() for c in conditions]
    if len(compiled) == 1:
        return compiled[0]
    return lambda view: any(c(view) for c in compiled)


# ---------------------------------------------------------------------------
# Rules and rule sets.

_TECHNIQUE_TAG = re.compile(r"^attack\.(t\d{4}(?:\.\d{3})?)$", re.IGNORECASE)


def techniques_from_tags(tags: Iterable[str]) -> tuple[str, ...]:
    """ATT&CK technique ids from Sigma tags: `attack.t1059.001` → `T1059.001`."""
    found: list[str] = []
    for tag in tags:
        match = _TECHNIQUE_TAG.match(str(tag).strip())
        if match and match.group(1).upper() not in found:
            found.append(match.group(1).upper())
    return tuple(found)


@dataclass(frozen=True)
class SigmaRule:
    """One compiled Sigma rule."""

    id: str
    title: str
    level: str | None
    status: str | None
    tags: tuple[str, ...]
    logsource: Mapping[str, Any]
    path: Path
    route: tuple[tuple[str, int | None], ...]  # (lower-case channel, EventID or None = any)
    _matcher: _Matcher = field(repr=False, compare=False)

    @property
    def severity(self) -> Severity:
        return Severity.from_sigma(self.level)

    @property
    def techniques(self) -> tuple[str, ...]:
        return techniques_from_tags(self.tags)

    def routes(self, event: WindowsEvent) -> bool:
        """Whether this rule's log source covers the event's channel and EventID."""
        channel = event.channel.lower()
        return any(c == channel and e in (None, event.event_id) for c, e in self.route)

    def matches(self, event: WindowsEvent) -> bool:
        return self.routes(event) and self._matcher(_EventView(event))


class _NoAliasLoader(yaml.SafeLoader):
    """Refuses YAML aliases: expanding them is how a tiny file becomes gigabytes."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(
                None, None, "YAML aliases are refused in rules", event.start_mark
            )
        return super().compose_node(parent, index)


def _read_yaml(path: Path) -> Any:
    size = path.stat().st_size
    if size > MAX_RULE_BYTES:
        raise SigmaRuleError(f"{size} bytes, larger than any rule ({MAX_RULE_BYTES} max)")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        raise SigmaRuleError(f"not UTF-8 (byte {error.start})") from None
    try:
        documents = list(yaml.load_all(text, Loader=_NoAliasLoader))
    except yaml.YAMLError as error:
        reason = " ".join(str(error).split())
        raise SigmaRuleError(f"YAML syntax error: {reason}") from None
    documents = [d for d in documents if d is not None]
    if len(documents) != 1:
        if len(documents) > 1:
            raise UnsupportedRule("multi-document rule collection")
        raise SigmaRuleError("empty file")
    return documents[0]


def load_rule(path: Path) -> SigmaRule:
    """Read and compile one rule; SigmaRuleError / UnsupportedRule say why it cannot be."""
    document = _read_yaml(path)
    if not isinstance(document, dict):
        raise SigmaRuleError("not a YAML map")
    if "correlation" in document:
        raise UnsupportedRule("correlation rule")
    if "filter" in document and "detection" not in document:
        raise UnsupportedRule("filter (meta) rule")
    title = document.get("title")
    if not isinstance(title, str) or not title.strip():
        raise SigmaRuleError("no title")
    logsource = document.get("logsource")
    if not isinstance(logsource, dict):
        raise SigmaRuleError("no logsource map")
    tags = document.get("tags") or []
    if not isinstance(tags, list):
        raise SigmaRuleError("tags is not a list")
    route = route_logsource(logsource)
    try:
        matcher = _compile_detection(document.get("detection"))
    except (ValueError, TypeError) as error:
        if isinstance(error, SigmaRuleError):
            raise
        raise SigmaRuleError(f"bad value in detection: {error}") from None
    level = document.get("level")
    status = document.get("status")
    # The id is what alerts cite; a rule without one is still usable, cited by file name.
    rule_id = str(document.get("id") or path.stem)
    return SigmaRule(
        id=rule_id,
        title=title.strip(),
        level=str(level) if level is not None else None,
        status=str(status) if status is not None else None,
        tags=tuple(str(tag) for tag in tags),
        logsource=dict(logsource),
        path=path,
        route=route,
        _matcher=matcher,
    )


@dataclass
class RuleSet:
    """Compiled rules indexed by (channel, EventID), plus the files that did not load."""

    rules: list[SigmaRule] = field(default_factory=list)
    unsupported: list[tuple[Path, str]] = field(default_factory=list)
    _index: dict[tuple[str, int | None], list[SigmaRule]] = field(
        default_factory=dict, init=False, repr=False
    )

    def __post_init__(self) -> None:
        for rule in self.rules:
            self._add_to_index(rule)

    def _add_to_index(self, rule: SigmaRule) -> None:
        for key in dict.fromkeys(rule.route):
            self._index.setdefault(key, []).append(rule)

    def add(self, rule: SigmaRule) -> None:
        self.rules.append(rule)
        self._add_to_index(rule)

    def __len__(self) -> int:
        return len(self.rules)

    def match(self, event: WindowsEvent) -> list[SigmaRule]:
        """The rules that fire on this event, in load order within each route."""
        channel = event.channel.lower()
        by_id = self._index.get((channel, event.event_id), [])
        any_id = self._index.get((channel, None), [])
        if not by_id and not any_id:
            return []
        view = _EventView(event)
        return [rule for rule in (*by_id, *any_id) if rule._matcher(view)]

    def alerts(self, events: Iterable[WindowsEvent]) -> Iterator[Alert]:
        """One Alert per (rule, event) match."""
        for event in events:
            for rule in self.match(event):
                yield alert_for(rule, event)


def _event_identity(event: WindowsEvent) -> str:
    identity = (
        f"{event.computer}|{event.channel}|{event.event_id}|{event.record_id}"
        f"|{event.time.isoformat()}"
    )
    if event.record_id is None:
        # Without a record number, the content is what tells two events apart.
        identity += "|" + json.dumps(dict(event.data), sort_keys=True, default=str)
    return identity


def _port(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def alert_for(rule: SigmaRule, event: WindowsEvent) -> Alert:
    """The Alert a rule match becomes: stable id, rule level and ATT&CK techniques."""
    digest = hashlib.sha256(f"{rule.id}|{_event_identity(event)}".encode()).hexdigest()
    data = event.data
    return Alert(
        id=digest[:16],
        time=event.time,
        detector="sigma",
        signature=rule.title,
        rule_id=rule.id,
        severity=rule.severity,
        host=event.computer or None,
        src=data.get("SourceIp") or None,
        src_port=_port(data.get("SourcePort")),
        dst=data.get("DestinationIp") or None,
        dst_port=_port(data.get("DestinationPort")),
        protocol=data.get("Protocol") or None,
        category=rule.logsource.get("category") or rule.logsource.get("service"),
        techniques=rule.techniques,
        raw={
            "rule": {"id": rule.id, "title": rule.title, "level": rule.level},
            "event": {
                "channel": event.channel,
                "provider": event.provider,
                "event_id": event.event_id,
                "record_id": event.record_id,
                "data": dict(data),
            },
        },
    )


def load_rules(folder: Path) -> RuleSet:
    """Compile every *.yml / *.yaml under `folder`; what cannot be used goes to `unsupported`."""
    ruleset = RuleSet()
    paths = sorted(p for p in folder.rglob("*") if p.suffix in (".yml", ".yaml") and p.is_file())
    for path in paths:
        try:
            ruleset.add(load_rule(path))
        except SigmaRuleError as error:
            ruleset.unsupported.append((path, str(error)))
        except (OSError, RecursionError) as error:
            ruleset.unsupported.append((path, f"cannot read: {type(error).__name__}: {error}"))
    return ruleset
