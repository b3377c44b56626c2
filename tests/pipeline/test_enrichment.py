"""Enrichment through the real pipeline: the scenario yields entities, places and events."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from guetteur.security.markings import parse_marking
from guetteur.workspace import Workspace

from conftest import SCENARIO, new_workspace

pytestmark = pytest.mark.skipif(not SCENARIO.is_dir(), reason="scenario not present")


@pytest.fixture(scope="module")
def enriched(tmp_path_factory: pytest.TempPathFactory, built_gazetteer: Path) -> Workspace:
    home = tmp_path_factory.mktemp("enriched")
    workspace = new_workspace(home / "ws", built_gazetteer)
    inputs = home / "in"
    for folder in ("spotrep", "intrep", "cyber"):
        shutil.copytree(SCENARIO / "reports" / folder, inputs / folder)
    report = workspace.ingest(
        workspace.user(), [inputs], source="ex", marking=parse_marking("NATO UNCLASSIFIED")
    )
    assert report.failed == []
    return workspace


def test_equipment_units_and_observables_become_entities(enriched: Workspace) -> None:
    ops = enriched.user("ops")
    equipment = {e.name for e in enriched.entities(ops, "equipment")}
    assert {"BTR-82A", "T-90M"} <= equipment
    assert enriched.entities(ops, "unit")
    observables = {e.name for e in enriched.entities(ops, "observable")}
    assert any(name.count(".") == 3 for name in observables)  # an IPv4 address


def test_places_have_coordinates(enriched: Workspace) -> None:
    narva = enriched.entity(enriched.user("ops"), "Narva")
    assert narva.entity.type == "place"
    assert narva.entity.lat is not None and abs(narva.entity.lat - 59.38) < 0.1
    assert narva.entity.lon is not None and abs(narva.entity.lon - 28.19) < 0.1


def test_spot_reports_become_events_on_the_map(enriched: Workspace) -> None:
    ops = enriched.user("ops")
    events = enriched.events(ops)
    salute = [e for e in events if e.kind == "salute"]
    assert len(salute) >= 10
    assert all(e.lat is not None for e in salute)
    narva_box = (27.5, 59.0, 28.6, 59.6)
    assert enriched.events(ops, bbox=narva_box)


def test_a_reader_sees_fewer_entities_and_events(enriched: Workspace) -> None:
    ops, lux = enriched.user("ops"), enriched.user("lux_nr")
    assert len(enriched.events(lux)) < len(enriched.events(ops))
    ops_names = {e.id for e in enriched.entities(ops)}
    lux_names = {e.id for e in enriched.entities(lux)}
    assert lux_names < ops_names


def test_reindex_rebuilds_the_same_picture(enriched: Workspace) -> None:
    ops = enriched.user("ops")
    before = {(e.id, e.mentions) for e in enriched.entities(ops)}
    assert enriched.reindex(ops) > 0
    assert {(e.id, e.mentions) for e in enriched.entities(ops)} == before


def test_user_lexicon_extends_equipment_after_reindex(enriched: Workspace, tmp_path: Path) -> None:
    del tmp_path  # the lexicon lives in the workspace
    ops = enriched.user("ops")
    assert "KAMAZ" not in {e.name for e in enriched.entities(ops, "equipment")}
    lexicon = enriched.home / "lexicon"
    lexicon.mkdir(exist_ok=True)
    (lexicon / "trucks.tsv").write_text(
        "canonical\ttype\tsubtype\taliases\nKAMAZ\tequipment\ttruck\tKamaz|KamAZ\n",
        encoding="utf-8",
    )
    enriched.reindex(ops)
    assert "KAMAZ" in {e.name for e in enriched.entities(ops, "equipment")}


def test_one_entity_across_languages_and_spellings(tmp_path: Path, built_gazetteer: Path) -> None:
    workspace = new_workspace(tmp_path / "ws", built_gazetteer)
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "fr.txt").write_text(
        "NATO RESTRICTED\nLe groupe APT28 a visé un ministère à Varsovie depuis Moscou.\n",
        encoding="utf-8",
    )
    (inputs / "en.txt").write_text(
        "NATO RESTRICTED\nAPT28 operators in Moscow targeted a ministry in Warsaw.\n",
        encoding="utf-8",
    )
    workspace.ingest(workspace.user(), [inputs], source="s")
    ops = workspace.user()
    for name, other in (("Moscou", "Moscow"), ("Varsovie", "Warsaw"), ("APT28", "apt28")):
        detail = workspace.entity(ops, name)
        assert detail.entity.documents == 2, name
        assert workspace.entity(ops, other).entity.id == detail.entity.id
    assert workspace.entity(ops, "Moscou").entity.name == "Moscow"
    workspace.close()


def test_a_village_far_from_everything_else_in_a_report_is_not_taken() -> None:
    from guetteur.model import Place
    from guetteur.pipeline.enrichment import _drop_stray_villages

    narva = Place(590447, "Narva", 59.3772, 28.1903, "EE", 58_000)
    tapa = Place(588335, "Tapa", 59.2606, 25.9586, "EE", 5_000)
    tartu = Place(588335 + 1, "Tartu", 58.3806, 26.7251, "EE", 90_000)
    val = Place(3042622, "Vál", 47.3630, 18.6790, "HU", 2_500)
    assert _drop_stray_villages([narva, val, tapa, tartu]) == [narva, None, tapa, tartu]
    assert _drop_stray_villages([narva, val]) == [narva, val]  # too little context to judge


def test_a_village_named_three_times_alone_is_kept() -> None:
    from guetteur.model import Place
    from guetteur.pipeline.enrichment import _drop_stray_villages

    val = Place(3042622, "Vál", 47.3630, 18.6790, "HU", 2_500)
    assert _drop_stray_villages([val, val, val]) == [val, val, val]
