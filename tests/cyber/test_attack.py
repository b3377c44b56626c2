"""ATT&CK: the catalogue read from STIX and CSV, and prose mapped to techniques."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from guetteur._exceptions import IngestError
from guetteur.cyber.attack import (
    CUES,
    Catalogue,
    TechniqueMapper,
    explicit_technique_ids,
    infer_prose_techniques,
    load_catalogue,
)
from guetteur.workspace import Workspace

ATTACK = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "attack"
BUNDLE = ATTACK / "enterprise_techniques_tactics_bundle.json"

needs_data = pytest.mark.skipif(not BUNDLE.is_file(), reason="../shared/data/attack absent")


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    if not BUNDLE.is_file():
        pytest.skip("../shared/data/attack absent")
    return load_catalogue(BUNDLE)


@pytest.fixture(scope="module")
def mapper(catalogue: Catalogue, request: pytest.FixtureRequest) -> TechniqueMapper:
    # pytest's own cache keeps the technique embeddings between runs (keyed by
    # catalogue digest and model); the first run embeds ~700 techniques.
    return TechniqueMapper(catalogue, cache_dir=request.config.cache.mkdir("attack-embeddings"))


@needs_data
def test_bundle_and_csv_give_the_same_catalogue(catalogue: Catalogue) -> None:
    from_csv = load_catalogue(ATTACK / "techniques.csv")
    assert len(catalogue) == 691
    assert set(catalogue.techniques) == set(from_csv.techniques)
    assert [t.shortname for t in catalogue.tactics] == [t.shortname for t in from_csv.tactics]
    assert catalogue.tactics[0].shortname == "reconnaissance"
    assert catalogue.tactics[-1].shortname == "impact"
    assert all(catalogue[i].tactics == from_csv[i].tactics for i in catalogue.techniques)
    # A folder holding the bundle reads the bundle: it carries the descriptions.
    assert load_catalogue(ATTACK)["T1059.001"].description.startswith("Adversaries may abuse")


@needs_data
def test_subtechniques_know_their_parent(catalogue: Catalogue) -> None:
    powershell = catalogue["T1059.001"]
    assert powershell.parent == "T1059" and powershell.is_subtechnique
    assert powershell.tactics == ("execution",)
    assert catalogue.full_name(powershell) == "Command and Scripting Interpreter: PowerShell"
    assert catalogue["T1059"].parent is None
    assert powershell in catalogue.subtechniques("T1059")


def test_revoked_and_deprecated_objects_are_skipped(tmp_path: Path) -> None:
    def pattern(external_id: str, **extra: object) -> dict[str, object]:
        return {
            "type": "attack-pattern",
            "id": f"attack-pattern--{external_id}",
            "name": f"Technique {external_id}",
            "description": "Adversaries may do things.",
            "external_references": [{"source_name": "mitre-attack", "external_id": external_id}],
            "kill_chain_phases": [{"kill_chain_name": "mitre-attack", "phase_name": "execution"}],
            **extra,
        }

    bundle = {
        "type": "bundle",
        "id": "bundle--1",
        "objects": [
            pattern("T1001"),
            pattern("T1001.001"),
            pattern("T1002", revoked=True),
            pattern("T1003", x_mitre_deprecated=True),
            {
                "type": "x-mitre-tactic",
                "id": "x-mitre-tactic--1",
                "name": "Execution",
                "x_mitre_shortname": "execution",
                "external_references": [{"source_name": "mitre-attack", "external_id": "TA0002"}],
            },
        ],
    }
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    loaded = load_catalogue(path)
    assert sorted(loaded.techniques) == ["T1001", "T1001.001"]
    assert loaded["T1001.001"].parent == "T1001"
    assert [t.id for t in loaded.tactics] == ["TA0002"]


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("broken.json", '{"type": "bundle", "objects": [', "not JSON"),
        ("list.json", "[1, 2]", "not a STIX bundle"),
        ("empty.json", '{"type": "bundle", "objects": []}', "no ATT&CK attack-pattern"),
        ("techniques.csv", "id,title\nT1001,x\n", "missing column"),
    ],
)
def test_a_bad_file_raises_an_error_naming_it(
    tmp_path: Path, name: str, content: str, reason: str
) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(IngestError, match=reason) as raised:
        load_catalogue(path)
    assert raised.value.origin == str(path)
    assert name in str(raised.value)


def test_bad_utf8_and_missing_file_are_ingest_errors(tmp_path: Path) -> None:
    path = tmp_path / "latin1.json"
    path.write_bytes(b'{"name": "t\xe9l\xe9chargement"}')
    with pytest.raises(IngestError, match="not UTF-8"):
        load_catalogue(path)
    with pytest.raises(IngestError, match="no such file"):
        load_catalogue(tmp_path / "absent.json")


@needs_data
def test_records_round_trip(catalogue: Catalogue) -> None:
    again = Catalogue.from_records(json.loads(json.dumps(catalogue.to_records())))
    assert again.digest == catalogue.digest
    assert again["T1566.001"] == catalogue["T1566.001"]
    assert again.tactics == catalogue.tactics
    with pytest.raises(IngestError, match="records#1"):
        Catalogue.from_records([{"kind": "technique"}])


@needs_data
def test_every_curated_cue_names_a_technique_of_the_catalogue(catalogue: Catalogue) -> None:
    assert set(CUES) <= set(catalogue.techniques)


def test_explicit_ids_are_found_in_the_order_written() -> None:
    text = "Seen: T1566.001, then t1059/001 and T1059.001 again; not AT1003 nor T10590."
    assert explicit_technique_ids(text) == ["T1566.001", "T1059.001"]


def top_ids(mapper: TechniqueMapper, text: str, top: int = 3) -> list[str]:
    return [technique.id for technique, _ in mapper.map_text(text, top)]


@needs_data
def test_explicit_ids_win_outright(mapper: TechniqueMapper) -> None:
    ranked = mapper.map_text("Dumped LSASS with Mimikatz (ATT&CK T1566.001).", top=3)
    assert ranked[0][0].id == "T1566.001" and ranked[0][1] == 1.0
    assert "T1003.001" in [t.id for t, _ in ranked]


@needs_data
@pytest.mark.parametrize(
    ("text", "expected", "within"),
    [
        ("The actor sent spearphishing emails with malicious Word attachments", "T1566.001", 3),
        ("Les attaquants ont exécuté des scripts PowerShell encodés", "T1059.001", 3),
        ("dumped credentials from LSASS memory with Mimikatz", "T1003.001", 1),
        ("Le logiciel malveillant crée une tâche planifiée pour persister", "T1053.005", 3),
        ("The implant takes screenshots of the desktop every minute", "T1113", 1),
    ],
)
def test_prose_maps_to_its_technique(
    mapper: TechniqueMapper, text: str, expected: str, within: int
) -> None:
    assert expected in top_ids(mapper, text, within)


@needs_data
def test_scores_are_in_unit_range_and_descending(mapper: TechniqueMapper) -> None:
    ranked = mapper.map_text("The malware connects to its C2 server over HTTPS.", top=10)
    scores = [score for _, score in ranked]
    assert len(ranked) == 10
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert scores == sorted(scores, reverse=True)


@needs_data
def test_batch_equals_single(mapper: TechniqueMapper) -> None:
    texts = [
        "dumped credentials from LSASS memory with Mimikatz",
        "",
        "Les attaquants ont exécuté des scripts PowerShell encodés",
        "The backdoor deletes itself after execution.",
    ]
    batch = mapper.map_batch(texts, top=3)
    singles = [mapper.map_text(text, top=3) for text in texts]
    assert [[t.id for t, _ in r] for r in batch] == [[t.id for t, _ in r] for r in singles]
    for one, other in zip(batch, singles, strict=True):
        assert [s for _, s in one] == pytest.approx([s for _, s in other], abs=1e-3)


@needs_data
def test_empty_text_maps_to_nothing(mapper: TechniqueMapper) -> None:
    assert mapper.map_text("") == []
    assert mapper.map_text("   \n") == []
    assert mapper.map_batch([]) == []


@needs_data
def test_cached_embeddings_are_reused(catalogue: Catalogue, tmp_path: Path) -> None:
    calls: list[int] = []

    def counting_embedder(texts: object) -> object:
        import numpy as np

        calls.append(len(texts))  # type: ignore[arg-type]
        rng = np.random.default_rng(len(texts))  # type: ignore[arg-type]
        vectors = rng.normal(size=(len(texts), 8)).astype(np.float32)  # type: ignore[arg-type]
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    TechniqueMapper(catalogue, cache_dir=tmp_path, embedder=counting_embedder, embedder_id="t")  # type: ignore[arg-type]
    techniques_embedded = sum(calls)
    assert techniques_embedded == len(catalogue)
    assert len(list(tmp_path.glob("attack-embeddings-*.npy"))) == 1
    TechniqueMapper(catalogue, cache_dir=tmp_path, embedder=counting_embedder, embedder_id="t")  # type: ignore[arg-type]
    assert sum(calls) == techniques_embedded


CERT_NOTE = (
    "CERT NOTE 0415. Since 16 November a spear-phishing campaign has hit freight forwarders. "
    "The e-mails carry a macro-enabled Word document attached to a fake customs notice. "
    "When the user enables macros, the macro launches an obfuscated PowerShell command that "
    "downloads a second stage. The loader then beacons to its C2 server over HTTPS every "
    "60 seconds. Credentials were dumped from the memory of the LSASS process."
)


@needs_data
def test_cyber_reports_get_inferred_techniques_on_their_sentences(
    mapper: TechniqueMapper,
) -> None:
    found = infer_prose_techniques(CERT_NOTE, mapper)
    assert len(found) >= 2
    ids = {technique.id for _, _, technique, _ in found}
    assert ids & {"T1566", "T1566.001", "T1204", "T1204.002", "T1059", "T1059.001", "T1003",
                  "T1003.001", "T1071", "T1071.001"}  # fmt: skip
    for start, end, _, score in found:
        assert CERT_NOTE[start:end].strip() and score >= 0.45


@needs_data
def test_prose_inference_skips_plain_reports_and_named_techniques(
    mapper: TechniqueMapper,
) -> None:
    plain = "A convoy of 45,000 litres of diesel arrived from Paldiski at 1410Z on 22 November."
    assert infer_prose_techniques(plain, mapper) == []
    named = CERT_NOTE.replace("obfuscated PowerShell command", "PowerShell command (T1059.001)")
    assert "T1059.001" not in {t.id for _, _, t, _ in infer_prose_techniques(named, mapper)}


@needs_data
def test_ingested_cyber_reports_name_their_inferred_techniques(
    workspace: Workspace, tmp_path: Path
) -> None:
    ops = workspace.user("ops")
    workspace.import_attack(ops, BUNDLE)
    report = tmp_path / "in" / "cert_note.txt"
    report.parent.mkdir()
    report.write_text(f"NATO RESTRICTED\n\n{CERT_NOTE}\n\nNATO RESTRICTED\n", encoding="utf-8")
    workspace.ingest(ops, [report.parent], source="cert")
    techniques = workspace.entities(ops, "technique")
    assert techniques
    detail = workspace.entity(ops, techniques[0].id)
    assert detail.mentions[0].text in CERT_NOTE  # the sentence it was read in
    lux = workspace.user("lux_nr")
    assert {t.id for t in workspace.entities(lux, "technique")} == {t.id for t in techniques}
