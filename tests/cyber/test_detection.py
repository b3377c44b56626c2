"""The reader and the rules together, on the real Sigma regression data."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from guetteur import IngestError
from guetteur.cyber import load_rules, read_windows_events

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "sigma_regression_events"

pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason="../shared/data not present")


def test_every_labelled_event_file_fires_its_rule_through_the_real_reader() -> None:
    rules = load_rules(DATA / "rules")
    assert rules.unsupported == []
    errors: list[IngestError] = []
    missed = []
    with (DATA / "labels.csv").open(encoding="utf-8") as labels:
        rows = list(csv.DictReader(labels))
    for row in rows:
        events = list(read_windows_events(DATA / row["events_file"], on_error=errors.append))
        alerts = list(rules.alerts(events))
        fired = {a.rule_id for a in alerts}
        if row["rule_id"] not in fired:
            missed.append(row["events_file"])
            continue
        (alert, *_) = [a for a in alerts if a.rule_id == row["rule_id"]]
        expected = {t for t in row["attack_techniques"].split(";") if t}
        assert expected <= set(alert.techniques), row["events_file"]
    assert errors == [] and missed == []
    assert len(rows) == 101
