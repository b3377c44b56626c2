"""Sigma rules: each modifier and condition form, the real regression set, bad and hostile files."""

from __future__ import annotations

import base64
import csv
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from guetteur.cyber.sigma import load_rule, load_rules, techniques_from_tags
from guetteur.cyber.winevents import read_windows_events
from guetteur.model.alert import Severity, WindowsEvent

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
REGRESSION = SHARED_DATA / "sigma_regression_events"
SYSMON = "Microsoft-Windows-Sysmon/Operational"


def sysmon(event_id: int = 1, **data: Any) -> WindowsEvent:
    return WindowsEvent(
        time=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
        channel=SYSMON,
        provider="Microsoft-Windows-Sysmon",
        event_id=event_id,
        computer="ws01.corp.local",
        data=data,
        record_id=42,
    )


def write_rule(folder: Path, name: str, detection: str, logsource: str = "") -> Path:
    logsource = logsource or "category: process_creation\nproduct: windows"
    lines = [
        f"title: Rule {name}",
        f"id: id-{name}",
        "level: high",
        "tags:",
        "    - attack.execution",
        "    - attack.t1059.001",
        "logsource:",
        textwrap.indent(logsource, "    "),
        "detection:",
        textwrap.indent(textwrap.dedent(detection), "    "),
    ]
    path = folder / f"{name}.yml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def fires(tmp_path: Path, detection: str, event: WindowsEvent, logsource: str = "") -> bool:
    rule = load_rule(write_rule(tmp_path, "r", detection, logsource))
    return rule.matches(event)


# --- modifiers -------------------------------------------------------------

CMD = r"C:\Windows\System32\cmd.exe"


@pytest.mark.parametrize(
    ("detection", "data", "expected"),
    [
        ("sel:\n    Image: 'c:\\windows\\system32\\CMD.EXE'\ncondition: sel", {"Image": CMD}, True),
        ("sel:\n    Image: 'cmd.exe'\ncondition: sel", {"Image": CMD}, False),
        ("sel:\n    image|endswith: '\\cmd.exe'\ncondition: sel", {"Image": CMD}, True),
        ("sel:\n    Image|startswith: 'C:\\Windows\\'\ncondition: sel", {"Image": CMD}, True),
        ("sel:\n    Image|startswith: 'D:\\'\ncondition: sel", {"Image": CMD}, False),
        ("sel:\n    Image|contains: 'system32'\ncondition: sel", {"Image": CMD}, True),
        ("sel:\n    Image: '*\\sys*32\\c?d.exe'\ncondition: sel", {"Image": CMD}, True),
        ("sel:\n    Image: '*\\sys*32\\c?d.ex'\ncondition: sel", {"Image": CMD}, False),
        # Escaped wildcards are literal characters.
        ("sel:\n    CommandLine: 'select \\*'\ncondition: sel", {"CommandLine": "select *"}, True),
        ("sel:\n    CommandLine: 'select \\*'\ncondition: sel", {"CommandLine": "select a"}, False),
        (
            "sel:\n    CommandLine|contains: '\\\\\\\\'\ncondition: sel",
            {"CommandLine": r"\\h"},
            True,
        ),
        # Lists are OR; |all makes them AND.
        (
            "sel:\n    Image|endswith: ['\\a.exe', '\\cmd.exe']\ncondition: sel",
            {"Image": CMD},
            True,
        ),
        (
            "sel:\n    CommandLine|contains|all: ['-enc', 'hidden']\ncondition: sel",
            {"CommandLine": "powershell -enc AAA -w hidden"},
            True,
        ),
        (
            "sel:\n    CommandLine|contains|all: ['-enc', 'hidden']\ncondition: sel",
            {"CommandLine": "powershell -enc AAA"},
            False,
        ),
        # |cased turns off case folding.
        (
            "sel:\n    CommandLine|contains|cased: 'AbC'\ncondition: sel",
            {"CommandLine": "xAbC"},
            True,
        ),
        (
            "sel:\n    CommandLine|contains|cased: 'AbC'\ncondition: sel",
            {"CommandLine": "xabc"},
            False,
        ),
        # |re is a case-sensitive search unless |i.
        (
            "sel:\n    CommandLine|re: '-e(nc)? [A-Z]+'\ncondition: sel",
            {"CommandLine": "p -e AB"},
            True,
        ),
        ("sel:\n    CommandLine|re: 'ENC'\ncondition: sel", {"CommandLine": "p -enc"}, False),
        ("sel:\n    CommandLine|re|i: 'ENC'\ncondition: sel", {"CommandLine": "p -enc"}, True),
        (
            "sel:\n    DestinationIp|cidr: '10.0.0.0/8'\ncondition: sel",
            {"DestinationIp": "10.2.3.4"},
            True,
        ),
        (
            "sel:\n    DestinationIp|cidr: '10.0.0.0/8'\ncondition: sel",
            {"DestinationIp": "11.0.0.1"},
            False,
        ),
        (
            "sel:\n    DestinationIp|cidr: 'fd00::/8'\ncondition: sel",
            {"DestinationIp": "fd00::1"},
            True,
        ),
        (
            "sel:\n    DestinationIp|cidr: '10.0.0.0/8'\ncondition: sel",
            {"DestinationIp": "n/a"},
            False,
        ),
        # |windash: '-' and '/' and the Unicode dashes are one character class.
        (
            "sel:\n    CommandLine|windash|contains: ' -urlcache '\ncondition: sel",
            {"CommandLine": "certutil /urlcache -f"},
            True,
        ),
        (
            "sel:\n    CommandLine|windash|contains: ' -urlcache '\ncondition: sel",
            {"CommandLine": "certutil \u2013urlcache -f"},
            True,
        ),
        (
            "sel:\n    CommandLine|windash|contains: ' -urlcache '\ncondition: sel",
            {"CommandLine": "certutil urlcache -f"},
            False,
        ),
        ("sel:\n    ParentUser|exists: true\ncondition: sel", {"ParentUser": "bob"}, True),
        ("sel:\n    ParentUser|exists: true\ncondition: sel", {"User": "bob"}, False),
        ("sel:\n    ParentUser|exists: false\ncondition: sel", {"User": "bob"}, True),
        ("sel:\n    User: null\ncondition: sel", {"Image": CMD}, True),
        ("sel:\n    User: null\ncondition: sel", {"User": "bob"}, False),
        ("sel:\n    ProcessId|gt: 100\ncondition: sel", {"ProcessId": 5624}, True),
        ("sel:\n    ProcessId|lt: 100\ncondition: sel", {"ProcessId": 5624}, False),
        ("sel:\n    ProcessId|lte: 5624\ncondition: sel", {"ProcessId": "5624"}, True),
        ("sel:\n    ProcessId|gte: 5625\ncondition: sel", {"ProcessId": 5624}, False),
        (
            "sel:\n    User|fieldref: ParentUser\ncondition: sel",
            {"User": "A", "ParentUser": "a"},
            True,
        ),
        (
            "sel:\n    User|fieldref: ParentUser\ncondition: sel",
            {"User": "A", "ParentUser": "b"},
            False,
        ),
        # Integers in rules compare with integers in events, field names fold.
        ("sel:\n    processid: 5624\ncondition: sel", {"ProcessId": 5624}, True),
        # System fields are testable as Sigma writes them.
        (
            "sel:\n    EventID: 1\n    Computer|startswith: ws01\ncondition: sel",
            {"Image": CMD},
            True,
        ),
    ],
)
def test_modifiers(tmp_path: Path, detection: str, data: dict[str, Any], expected: bool) -> None:
    assert fires(tmp_path, detection, sysmon(**data)) is expected


def test_base64_and_base64offset(tmp_path: Path) -> None:
    encoded = base64.b64encode(b"http://evil.example/x").decode()
    assert fires(
        tmp_path,
        "sel:\n    CommandLine|base64: 'http://evil'\ncondition: sel",
        sysmon(CommandLine=base64.b64encode(b"http://evil").decode()),
    )
    # base64offset|contains finds the value wherever it sits in a longer blob.
    for prefix in (b"", b"a", b"ab"):
        blob = base64.b64encode(prefix + b"Invoke-Mimikatz -x").decode()
        assert fires(
            tmp_path,
            "sel:\n    CommandLine|base64offset|contains: 'Invoke-Mimikatz'\ncondition: sel",
            sysmon(CommandLine=f"powershell -enc {blob}"),
        ), prefix
    assert not fires(
        tmp_path,
        "sel:\n    CommandLine|base64offset|contains: 'Invoke-Mimikatz'\ncondition: sel",
        sysmon(CommandLine=f"powershell -enc {encoded}"),
    )
    wide = base64.b64encode("IEX (New".encode("utf-16-le")).decode()
    assert fires(
        tmp_path,
        "sel:\n    CommandLine|wide|base64offset|contains: 'IEX'\ncondition: sel",
        sysmon(CommandLine=f"powershell -enc {wide}"),
    )


def test_keywords_match_any_field(tmp_path: Path) -> None:
    detection = "keywords:\n    - 'mimikatz'\n    - 'sekurlsa::'\ncondition: keywords"
    assert fires(tmp_path, detection, sysmon(CommandLine="run SEKURLSA::logonpasswords"))
    assert fires(tmp_path, detection, sysmon(Image=r"C:\t\Mimikatz.exe"))
    assert not fires(tmp_path, detection, sysmon(Image=CMD))
    both = "keywords:\n    '|all':\n        - 'alpha'\n        - 'beta'\ncondition: keywords"
    assert fires(tmp_path, both, sysmon(Image="alpha", CommandLine="beta"))
    assert not fires(tmp_path, both, sysmon(Image="alpha"))


# --- conditions ------------------------------------------------------------

SELECTIONS = """\
selection_img:
    Image|endswith: '\\cmd.exe'
selection_cli_a:
    CommandLine|contains: 'whoami'
selection_cli_b:
    CommandLine|contains: 'net user'
filter_main:
    ParentImage|endswith: '\\explorer.exe'
"""


@pytest.mark.parametrize(
    ("condition", "data", "expected"),
    [
        ("selection_img and selection_cli_a", {"Image": CMD, "CommandLine": "whoami"}, True),
        ("selection_img and selection_cli_a", {"Image": CMD, "CommandLine": "dir"}, False),
        ("selection_cli_a or selection_cli_b", {"CommandLine": "net user x"}, True),
        (
            "selection_img and not filter_main",
            {"Image": CMD, "ParentImage": r"C:\explorer.exe"},
            False,
        ),
        ("selection_img and not filter_main", {"Image": CMD, "ParentImage": r"C:\w3wp.exe"}, True),
        ("selection_img and 1 of selection_cli_*", {"Image": CMD, "CommandLine": "net user"}, True),
        ("all of selection_cli_*", {"CommandLine": "whoami & net user"}, True),
        ("all of selection_cli_*", {"CommandLine": "whoami"}, False),
        ("1 of them", {"ParentImage": r"C:\explorer.exe"}, True),
        ("all of them", {"Image": CMD, "CommandLine": "whoami"}, False),
        (
            "all of them",
            {"Image": CMD, "CommandLine": "whoami net user", "ParentImage": r"x\explorer.exe"},
            True,
        ),
        # not binds tighter than and, and tighter than or; parentheses override.
        ("not selection_img or selection_cli_a", {"Image": "x"}, True),
        ("not (selection_img or selection_cli_a)", {"Image": "x", "CommandLine": "whoami"}, False),
        (
            "selection_img and (selection_cli_a or selection_cli_b) and not filter_main",
            {"Image": CMD, "CommandLine": "net user"},
            True,
        ),
        ("selection_cli_a or selection_img and filter_main", {"CommandLine": "whoami"}, True),
        ("selection_cli_a or selection_img and filter_main", {"Image": CMD}, False),
    ],
)
def test_conditions(tmp_path: Path, condition: str, data: dict[str, Any], expected: bool) -> None:
    detection = SELECTIONS + f"condition: {condition}\n"
    assert fires(tmp_path, detection, sysmon(**data)) is expected


def test_list_of_maps_is_or_and_map_is_and(tmp_path: Path) -> None:
    detection = (
        "sel:\n"
        "    - Image|endswith: '\\a.exe'\n"
        "      CommandLine|contains: 'x'\n"
        "    - OriginalFileName: 'b.exe'\n"
        "condition: sel"
    )
    assert fires(tmp_path, detection, sysmon(Image=r"C:\a.exe", CommandLine="-x"))
    assert not fires(tmp_path, detection, sysmon(Image=r"C:\a.exe", CommandLine="-y"))
    assert fires(tmp_path, detection, sysmon(OriginalFileName="B.EXE"))


# --- routing, alerts -------------------------------------------------------


def test_logsource_routes_by_channel_and_event_id(tmp_path: Path) -> None:
    detection = "sel:\n    Image|endswith: '\\cmd.exe'\ncondition: sel"
    rule = load_rule(write_rule(tmp_path, "r", detection))
    assert rule.matches(sysmon(1, Image=CMD))
    assert not rule.matches(sysmon(11, Image=CMD))  # file_event, not process_creation
    security_4688 = WindowsEvent(
        time=datetime(2025, 1, 1, tzinfo=UTC),
        channel="Security",
        provider="Microsoft-Windows-Security-Auditing",
        event_id=4688,
        computer="dc01",
        data={"NewProcessName": CMD},
    )
    assert rule.matches(security_4688)  # Image is NewProcessName in Security 4688
    rules = load_rules(tmp_path)
    assert [r.id for r in rules.match(sysmon(1, Image=CMD))] == ["id-r"]
    assert rules.match(sysmon(3, Image=CMD)) == []


def test_alerts_carry_rule_level_techniques_and_a_stable_id(tmp_path: Path) -> None:
    write_rule(tmp_path, "r", "sel:\n    Image|endswith: '\\cmd.exe'\ncondition: sel")
    rules = load_rules(tmp_path)
    event = sysmon(1, Image=CMD)
    (alert,) = rules.alerts([event, sysmon(1, Image="notepad.exe")])
    assert alert.detector == "sigma"
    assert alert.signature == "Rule r"
    assert alert.rule_id == "id-r"
    assert alert.severity is Severity.HIGH
    assert alert.techniques == ("T1059.001",)
    assert alert.host == "ws01.corp.local"
    assert alert.time == event.time
    assert len(alert.id) == 16
    assert [a.id for a in rules.alerts([event])] == [alert.id]  # re-ingest dedupes
    other = WindowsEvent(**{**event.__dict__, "record_id": 43})
    assert next(rules.alerts([other])).id != alert.id


def test_techniques_from_tags() -> None:
    tags = ["attack.execution", "attack.t1059.001", "attack.T1105", "attack.g0016", "cve.2021"]
    assert techniques_from_tags(tags) == ("T1059.001", "T1105")


# --- bad, unsupported and hostile rules ------------------------------------


def test_bad_rules_are_listed_with_reasons_and_the_rest_load(tmp_path: Path) -> None:
    write_rule(tmp_path, "good", "sel:\n    Image|endswith: '\\cmd.exe'\ncondition: sel")
    (tmp_path / "syntax.yml").write_text("title: x\ndetection: [unclosed\n", encoding="utf-8")
    write_rule(tmp_path, "modifier", "sel:\n    Image|sortof: 'x'\ncondition: sel")
    write_rule(tmp_path, "expand", "sel:\n    Image|expand: '%paths%'\ncondition: sel")
    write_rule(tmp_path, "count", "sel:\n    Image: x\ncondition: sel | count() > 5")
    write_rule(tmp_path, "near", "a:\n    Image: x\nb:\n    Image: y\ncondition: a near b")
    write_rule(tmp_path, "undefined", "sel:\n    Image: x\ncondition: sel and other")
    write_rule(tmp_path, "linux", "sel:\n    Image: x\ncondition: sel", "product: linux")
    (tmp_path / "correlation.yml").write_text(
        "title: c\ncorrelation:\n    type: event_count\n    rules: [a]\n", encoding="utf-8"
    )
    (tmp_path / "list.yaml").write_text("- just\n- a list\n", encoding="utf-8")
    (tmp_path / "latin1.yml").write_bytes(b"title: caf\xe9\n")
    (tmp_path / "notes.txt").write_text("not a rule", encoding="utf-8")

    rules = load_rules(tmp_path)

    assert [r.id for r in rules.rules] == ["id-good"]
    reasons = {path.name: reason for path, reason in rules.unsupported}
    assert set(reasons) == {
        "syntax.yml",
        "modifier.yml",
        "expand.yml",
        "count.yml",
        "near.yml",
        "undefined.yml",
        "linux.yml",
        "correlation.yml",
        "list.yaml",
        "latin1.yml",
    }
    assert reasons["syntax.yml"].startswith("YAML syntax error")
    assert "line 2" in reasons["syntax.yml"]
    assert "unknown modifier 'sortof'" in reasons["modifier.yml"]
    assert "expand" in reasons["expand.yml"]
    assert "aggregation" in reasons["count.yml"]
    assert "near" in reasons["near.yml"]
    assert "undefined selection 'other'" in reasons["undefined.yml"]
    assert "'linux' is not Windows" in reasons["linux.yml"]
    assert reasons["correlation.yml"] == "correlation rule"
    assert reasons["latin1.yml"].startswith("not UTF-8")
    assert all("\n" not in reason for reason in reasons.values())


def test_billion_laughs_is_refused_quickly(tmp_path: Path) -> None:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, 10):
        previous = f"*a{level - 1}"
        lines.append(f"a{level}: &a{level} [{', '.join([previous] * 9)}]")
    bomb = "title: bomb\n" + "\n".join(lines) + "\n"
    (tmp_path / "bomb.yml").write_text(bomb, encoding="utf-8")
    write_rule(tmp_path, "good", "sel:\n    Image: x\ncondition: sel")
    started = time.perf_counter()
    rules = load_rules(tmp_path)
    assert time.perf_counter() - started < 2
    assert [r.id for r in rules.rules] == ["id-good"]
    ((path, reason),) = rules.unsupported
    assert path.name == "bomb.yml"
    assert "aliases are refused" in reason


def test_oversized_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "huge.yml").write_text("title: x\n#" + "x" * 2_000_000 + "\n", encoding="utf-8")
    ((_, reason),) = load_rules(tmp_path).unsupported
    assert "larger than any rule" in reason


# --- the real regression set -----------------------------------------------


@pytest.mark.skipif(not REGRESSION.exists(), reason="shared regression data not present")
def test_regression_events_fire_their_labelled_rule() -> None:
    rules = load_rules(REGRESSION / "rules")
    assert rules.unsupported == []
    with (REGRESSION / "labels.csv").open(encoding="utf-8") as handle:
        labels = list(csv.DictReader(handle))
    missed = []
    for label in labels:
        events = list(read_windows_events(REGRESSION / label["events_file"]))
        fired = {rule.id for event in events for rule in rules.match(event)}
        if label["rule_id"] not in fired:
            missed.append(label["rule_file"])
    share = 1 - len(missed) / len(labels)
    assert len(labels) == 101
    assert share >= 0.90, missed
    assert missed == []  # 101/101 today; a regression shows here first
