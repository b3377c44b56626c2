"""Sigma rules: detection quality on the regression events, load coverage, match speed.

Quality: on ../shared/data/sigma_regression_events, the share of event files
that fire their labelled rule, how many also fire other rules, and the ATT&CK
techniques recovered on the alert against the rule's labelled techniques.
Coverage: how many of ../shared/data/sigma_rules compile, and why the others
do not. Speed: events/s of the compiled `RuleSet` over every regression event,
against a naive interpreter that re-walks each rule's YAML for every event,
in the same run (ratio), with the two checked to agree match for match.

    .venv/bin/python benchmarks/sigma_quality.py [--repeats N]
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import functools
import ipaddress
import re
import sys
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from guetteur.cyber.sigma import (
    RuleSet,
    SigmaRule,
    UnsupportedRule,
    alert_for,
    fold_field_name,
    load_rules,
    route_logsource,
)
from guetteur.cyber.winevents import read_windows_events
from guetteur.model.alert import WindowsEvent

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
REGRESSION = DATA / "sigma_regression_events"
CORPUS = DATA / "sigma_rules"


# --- the baseline: interpret the rule's YAML afresh for every event ---------


class NaiveRule:
    """Keeps only the parsed YAML; every match re-reads logsource, selections and condition."""

    def __init__(self, rule: SigmaRule) -> None:
        self.id = rule.id
        self.document = yaml.safe_load(rule.path.read_text(encoding="utf-8"))

    def matches(self, event: WindowsEvent) -> bool:
        route = route_logsource(self.document["logsource"])
        channel = event.channel.lower()
        if not any(c == channel and e in (None, event.event_id) for c, e in route):
            return False
        fields: dict[str, Any] = {
            "eventid": event.event_id,
            "channel": event.channel,
            "provider_name": event.provider,
            "computer": event.computer,
        }
        fields.update({fold_field_name(k): v for k, v in event.data.items()})
        if channel == "security" and event.event_id == 4688:
            fields.setdefault("image", fields.get("newprocessname"))
            fields.setdefault("parentimage", fields.get("parentprocessname"))
        detection = self.document["detection"]
        conditions = detection["condition"]
        if isinstance(conditions, str):
            conditions = [conditions]
        return any(_evaluate(c, detection, fields) for c in conditions)


def _evaluate(condition: str, detection: Mapping[str, Any], fields: dict[str, Any]) -> bool:
    tokens = re.findall(r"\(|\)|[^\s()]+", condition)
    position = 0

    def peek() -> str:
        return tokens[position].lower() if position < len(tokens) else ""

    def take() -> str:
        nonlocal position
        position += 1
        return tokens[position - 1]

    def or_() -> bool:
        result = and_()
        while peek() == "or":
            take()
            result = and_() or result
        return result

    def and_() -> bool:
        result = not_()
        while peek() == "and":
            take()
            result = not_() and result
        return result

    def not_() -> bool:
        if peek() == "not":
            take()
            return not not_()
        token = take()
        if token == "(":
            result = or_()
            take()
            return result
        if token.lower() in ("1", "all", "any") and peek() == "of":
            take()
            pattern = take()
            names = [
                n
                for n in detection
                if n != "condition"
                and (
                    (pattern == "them" and not n.startswith("_")) or fnmatch.fnmatchcase(n, pattern)
                )
            ]
            results = [_selection(detection[n], fields) for n in names]
            return all(results) if token.lower() == "all" else any(results)
        return _selection(detection[token], fields)

    return or_()


def _selection(definition: Any, fields: dict[str, Any]) -> bool:
    if isinstance(definition, dict):
        return all(_item(key, values, fields) for key, values in definition.items())
    if isinstance(definition, list) and all(isinstance(d, dict) for d in definition):
        return any(_selection(d, fields) for d in definition)
    return _item("|contains", definition, fields)


def _text(value: Any) -> str | None:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, str | int | float):
        return str(value)
    return None


def _item(key: str, values: Any, fields: dict[str, Any]) -> bool:
    name, *mods = key.split("|")
    name = fold_field_name(name)
    values = values if isinstance(values, list) else [values]
    if "exists" in mods:
        return (fields.get(name) is not None) == (values[0] is True)
    if name:
        texts = [_text(fields.get(name))]
    else:
        texts = [_text(v) for v in fields.values()]
    present = [t for t in texts if t is not None]
    results = []
    for value in values:
        if value is None:
            results.append(bool(name) and fields.get(name) is None)
            continue
        results.append(any(_value_matches(t, value, mods, fields) for t in present))
    return all(results) if "all" in mods else any(results)


def _value_matches(text: str, value: Any, mods: list[str], fields: dict[str, Any]) -> bool:
    value = ("true" if value else "false") if isinstance(value, bool) else str(value)
    if "re" in mods:
        flags = re.IGNORECASE if "i" in mods else 0
        return _regex(value, flags).search(text) is not None
    if "cidr" in mods:
        try:
            return ipaddress.ip_address(text) in ipaddress.ip_network(value, strict=False)
        except ValueError:
            return False
    if "fieldref" in mods:
        other = _text(fields.get(fold_field_name(value)))
        return other is not None and other.lower() == text.lower()
    for op in ("lt", "lte", "gt", "gte"):
        if op in mods:
            try:
                number, bound = float(text), float(value)
            except ValueError:
                return False
            return {
                "lt": number < bound,
                "lte": number <= bound,
                "gt": number > bound,
                "gte": number >= bound,
            }[op]
    pattern = ""
    escaped = False
    for char in value:
        if escaped:
            pattern += re.escape(char if char in "*?\\" else "\\" + char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "*":
            pattern += ".*"
        elif char == "?":
            pattern += "."
        elif "windash" in mods and char in "-/":
            pattern += "[-/\u2013\u2014\u2015]"
        else:
            pattern += re.escape(char)
    if escaped:
        pattern += re.escape("\\")
    if "contains" in mods:
        pattern = f".*{pattern}.*"
    elif "startswith" in mods:
        pattern += ".*"
    elif "endswith" in mods:
        pattern = ".*" + pattern
    flags = re.DOTALL | (0 if "cased" in mods else re.IGNORECASE)
    return _regex(pattern, flags).fullmatch(text) is not None


# Without this cache the baseline would be dominated by re-compiling patterns
# (the `re` module's own cache holds 512); with it, it measures interpretation.
@functools.cache
def _regex(pattern: str, flags: int) -> re.Pattern[str]:
    return re.compile(pattern, flags)


# --- the measurements -------------------------------------------------------


def quality(rules: RuleSet, wide: RuleSet) -> None:
    with (REGRESSION / "labels.csv").open(encoding="utf-8") as handle:
        labels = list(csv.DictReader(handle))
    unsupported = {path.name: reason for path, reason in rules.unsupported}
    by_id = {rule.id: rule for rule in rules.rules}
    fired_own = fired_other = fired_other_wide = 0
    techniques_expected = techniques_recovered = exact = 0
    misses: list[str] = []
    for label in labels:
        events = list(read_windows_events(REGRESSION / label["events_file"]))
        fired = {rule.id for event in events for rule in rules.match(event)}
        fired_wide = {rule.id for event in events for rule in wide.match(event)}
        wanted = label["rule_id"]
        fired_other += bool(fired - {wanted})
        fired_other_wide += bool(fired_wide - {wanted})
        expected = {t for t in label["attack_techniques"].split(";") if t}
        techniques_expected += len(expected)
        if wanted in fired:
            fired_own += 1
            rule = by_id[wanted]
            event = next(e for e in events if rule.matches(e))
            got = set(alert_for(rule, event).techniques)
            techniques_recovered += len(expected & got)
            exact += got == expected
            continue
        rule_name = Path(label["rule_file"]).name
        if rule_name in unsupported:
            reason = f"rule not loaded: {unsupported[rule_name]}"
        elif wanted not in by_id:
            reason = "rule not in the folder"
        elif not any(by_id[wanted].routes(e) for e in events):
            reason = f"no event routed to {by_id[wanted].logsource}"
        else:
            reason = "routed, detection false"
        misses.append(f"  {label['events_file']}: {reason}")
    total = len(labels)
    print(f"regression set: {total} event files, {len(rules.rules)} rules compiled")
    print(f"  fire their labelled rule: {fired_own}/{total} = {fired_own / total:.1%}")
    print(f"  also fire another rule of the set: {fired_other}/{total}")
    print(
        f"  also fire another rule with the {len(wide.rules)}-rule corpus added: "
        f"{fired_other_wide}/{total}"
    )
    print(
        f"  ATT&CK techniques recovered: {techniques_recovered}/{techniques_expected} "
        f"({techniques_recovered / max(techniques_expected, 1):.1%}), "
        f"exact technique set on {exact}/{fired_own} alerts"
    )
    print(f"  misses: {len(misses)}")
    for line in misses:
        print(line)


def coverage() -> RuleSet:
    started = time.perf_counter()
    corpus = load_rules(CORPUS)
    elapsed = time.perf_counter() - started
    total = len(corpus.rules) + len(corpus.unsupported)
    print(
        f"\nrule corpus {CORPUS.name}: {total} files, {len(corpus.rules)} compiled, "
        f"{len(corpus.unsupported)} unsupported, loaded in {elapsed:.2f} s"
    )
    reasons = Counter(_reason_family(reason) for _, reason in corpus.unsupported)
    for reason, count in reasons.most_common():
        print(f"  {count:4d}  {reason}")
    return corpus


def _reason_family(reason: str) -> str:
    if reason.startswith("log source product"):
        return "log source is not a Windows event log (" + reason.split("'")[1] + ")"
    return reason


def speed(rules: RuleSet, repeats: int, naive_repeats: int) -> None:
    paths = sorted((REGRESSION / "events").glob("*.json"))
    events = [event for path in paths for event in read_windows_events(path)]
    naive = [NaiveRule(rule) for rule in rules.rules]

    started = time.perf_counter()
    compiled_hits = []
    for _ in range(repeats):
        compiled_hits = [[rule.id for rule in rules.match(event)] for event in events]
    compiled_seconds = time.perf_counter() - started

    started = time.perf_counter()
    naive_hits = []
    for _ in range(naive_repeats):
        naive_hits = [[rule.id for rule in naive if rule.matches(event)] for event in events]
    naive_seconds = (time.perf_counter() - started) * repeats / naive_repeats

    agree = sum(sorted(a) == sorted(b) for a, b in zip(compiled_hits, naive_hits, strict=True))
    checked = len(events) * repeats
    print(
        f"\nmatch speed: {len(events)} events x {len(rules.rules)} rules "
        f"(compiled x{repeats} repeats, naive x{naive_repeats})"
    )
    print(f"  compiled RuleSet : {checked / compiled_seconds:10,.0f} events/s")
    print(f"  naive interpreter: {checked / naive_seconds:10,.0f} events/s")
    print(f"  ratio            : {naive_seconds / compiled_seconds:10.1f}x faster")
    print(f"  same matches on {agree}/{len(events)} events")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--naive-repeats", type=int, default=1)
    args = parser.parse_args()
    if not REGRESSION.exists():
        print(f"missing data: {REGRESSION}", file=sys.stderr)
        return 2
    rules = load_rules(REGRESSION / "rules")
    corpus = coverage()
    wide = RuleSet(rules=[*rules.rules, *corpus.rules])
    print()
    quality(rules, wide)
    speed(wide, args.repeats, args.naive_repeats)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except UnsupportedRule as error:  # a routing table change that breaks the naive baseline
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
