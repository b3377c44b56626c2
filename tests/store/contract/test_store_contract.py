"""The Store contract, on SQLite and on PostgreSQL alike (the `store` fixture runs each
test on both): what a reader may read is filtered inside every read, rankings and
names come from readable records only, and the audit chain is whole."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from guetteur import AuditChainError, NotFoundError
from guetteur.enrich.embeddings import DIMENSIONS, embed
from guetteur.enrich.resolution import to_ref
from guetteur.model import (
    Alert,
    Chunk,
    Document,
    EntityMention,
    Event,
    Indicator,
    Place,
    Position,
    PositionReport,
    Severity,
)
from guetteur.security.markings import parse_clearance, parse_marking
from guetteur.store import NewDocument, Session, Store, Token, WatchHit
from guetteur.store.postgres import PostgresStore
from guetteur.store.sqlite import SQLiteStore

FRA_NS = parse_clearance("NATO SECRET", "FRA")
FRA_CRYPTO = parse_clearance("NATO SECRET", "FRA", ["CRYPTO"])
LUX_NR = parse_clearance("NATO RESTRICTED", "LUX")
SECRET = "NATO SECRET"
OPEN = "NATO RESTRICTED // REL TO FRA, LUX"
SHARED_SECRET = "ab" * 32
NARVA = Place(590447, "Narva", 59.3772, 28.1903, "EE", 58_000)
T0 = datetime(2026, 11, 21, 6, tzinfo=UTC)


def document(
    doc_id: str,
    text: str,
    marking: str,
    *,
    language: str = "en",
    title: str | None = None,
    pieces: Sequence[str] | None = None,
    vectors: np.ndarray | None = None,
    names: Sequence[tuple[str, str]] = (),
) -> NewDocument:
    pieces = list(pieces) if pieces is not None else [text]
    text = " ".join(pieces)
    chunks, start = [], 0
    for index, piece in enumerate(pieces):
        chunks.append(Chunk(index, start, start + len(piece), piece))
        start += len(piece) + 1
    doc = Document(
        id=doc_id,
        title=title if title is not None else doc_id,
        text=text,
        language=language,
        marking=parse_marking(marking),
        grade=None,
        source="test",
        origin=f"{doc_id}.txt",
        sha256=doc_id.ljust(64, "0"),
        ingested_at=T0,
    )
    refs = []
    for surface, kind in names:
        at = text.index(surface)
        mention = EntityMention(at, at + len(surface), surface, kind)  # type: ignore[arg-type]
        refs.append(to_ref(mention, NARVA if surface == "Narva" else None))
    events = []
    if refs:
        places = [r for r in refs if r.type == "place"]
        events.append(
            Event("sentence", text, 0, len(text), T0, NARVA.lat, NARVA.lon,
                  places[0] if places else None, tuple(r for r in refs if r.type != "place"))
        )  # fmt: skip
    embeddings = vectors if vectors is not None else embed(pieces)
    return NewDocument(doc, chunks, embeddings, refs, events)


def unit_vectors(count: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((count, DIMENSIONS))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def backend(store: Store) -> str:
    return "postgresql" if isinstance(store, PostgresStore) else "sqlite"


# ------------------------------------------------------------------ documents
def test_documents_round_trip_and_duplicates_are_skipped(store: Store) -> None:
    item = document("r1", "Fuel depot at Tapa, 12 trucks.", OPEN, title="Depot report")
    assert store.add_documents([item, item]) == ["r1"]
    assert store.add_documents([item]) == []
    stored = store.get_document("r1", LUX_NR)
    assert (stored.title, stored.text, stored.marking) == (
        "Depot report",
        "Fuel depot at Tapa, 12 trucks.",
        parse_marking(OPEN),
    )
    assert stored.ingested_at == T0
    assert [d.id for d in store.iter_documents(LUX_NR, text=False)] == ["r1"]
    assert next(store.iter_documents(LUX_NR, text=False)).text == ""
    stats = store.stats(FRA_NS)
    assert (stats.documents, stats.chunks, dict(stats.by_language)) == (1, 1, {"en": 1})
    assert store.held_copies(["r1".ljust(64, "0")]) == {
        "r1".ljust(64, "0"): [("r1", parse_marking(OPEN))]
    }


def test_a_hidden_document_and_a_missing_one_get_the_same_answer(store: Store) -> None:
    store.add_documents([document("s1", "Agent report.", SECRET)])
    with pytest.raises(NotFoundError) as hidden:
        store.get_document("s1", LUX_NR)
    with pytest.raises(NotFoundError) as missing:
        store.get_document("s2", LUX_NR)
    assert str(hidden.value).replace("s1", "?") == str(missing.value).replace("s2", "?")


def test_remark_and_withdraw_move_every_index(store: Store) -> None:
    store.add_documents([document("d", "Bridge at Narva destroyed.", SECRET)])
    assert store.search_text('"bridge"', LUX_NR, 5) == []
    new_id = store.remark_document("d", parse_marking(OPEN))
    assert [h.doc_id for h in store.search_text('"bridge"', LUX_NR, 5)] == [new_id]
    vector = embed(["Bridge at Narva destroyed."])[0]
    assert [h.doc_id for h in store.search_vector(vector, LUX_NR, 5)] == [new_id]
    assert store.stats(LUX_NR).chunks == 1
    store.withdraw_document(new_id)
    assert store.search_text('"bridge"', FRA_NS, 5) == []
    assert store.search_vector(vector, FRA_NS, 5) == []
    assert store.stats(FRA_NS).documents == 0
    with pytest.raises(NotFoundError):
        store.withdraw_document(new_id)


def test_ranked_reads_give_a_grown_passage_opening_and_show_the_whole(store: Store) -> None:
    # One line of 30,000 characters is one grown passage: search shows its opening
    # (700 characters), `show` the whole document, and a withdrawal leaves nothing.
    line = "Convoy of fuel trucks seen near Tapa, copy {n}. "
    grown = "".join(line.format(n=n) for n in range(700))
    store.add_documents([document("g", grown, OPEN, title="Long line")])
    vector = embed([grown[:700]])[0]
    for hits in (
        store.search_text('"convoy" OR "tapa"', LUX_NR, 5),
        store.search_vector(vector, LUX_NR, 5),
    ):
        assert [(h.doc_id, h.text, h.end - h.start) for h in hits] == [
            ("g", grown[:700], len(grown))
        ]
    assert store.get_document("g", LUX_NR).text == grown
    store.withdraw_document("g")
    assert store.search_text('"convoy"', LUX_NR, 5) == []
    if backend(store) == "sqlite":
        assert store._db.execute("SELECT COUNT(*) FROM passage_openings").fetchone() == (0,)


def test_reads_return_only_what_the_reader_may_read(store: Store) -> None:
    # 60 SECRET documents that match better than the one RESTRICTED document:
    # filtering after ranking and limit would leave LUX with nothing.
    batch = [document(f"s{i:02}", f"fuel depot fuel depot strike {i}", SECRET) for i in range(60)]
    batch.append(document("r", "a fuel depot report", OPEN))
    store.add_documents(batch)
    text_hits = store.search_text('"fuel" OR "depot"', LUX_NR, limit=5)
    vector_hits = store.search_vector(embed(["fuel depot"])[0], LUX_NR, limit=5)
    assert [h.doc_id for h in text_hits] == ["r"] == [h.doc_id for h in vector_hits]
    assert len(store.search_text('"fuel"', FRA_NS, limit=100)) == 61
    assert store.stats(LUX_NR).documents == 1 and store.stats(FRA_NS).documents == 61
    ids = [h.chunk_id for h in store.search_text('"fuel"', FRA_NS, limit=100)]
    assert [h.doc_id for h in store.get_chunks(ids, LUX_NR)] == ["r"]
    assert [hit.doc_id for hit, _ in store.chunks_after(0, LUX_NR)] == ["r"]
    (_, vector) = store.chunks_after(0, LUX_NR)[0]
    assert np.allclose(vector, embed(["a fuel depot report"])[0], atol=1e-6)


def test_both_ranked_reads_at_once_are_each_read_alone_and_see_the_open_transaction(
    store: Store,
) -> None:
    """A hybrid search's two reads (`search_both`: at once on PostgreSQL, on two
    connections) give what each gives alone, for every reader; inside a write
    transaction they see what it wrote."""
    batch = [document(f"s{i:02}", f"fuel depot strike {i} at Tapa", SECRET) for i in range(30)]
    batch += [document(f"r{i:02}", f"a fuel convoy report {i}", OPEN) for i in range(30)]
    store.add_documents(batch)
    vectors = embed(["fuel depot", "convoy near Tapa"])
    for clearance in (LUX_NR, FRA_NS):
        for query, vector in zip(('"fuel" OR "depot"', '"convoy" OR "tapa"'), vectors, strict=True):
            alone = (
                store.search_text(query, clearance, 8),
                store.search_vector(vector, clearance, 8),
            )
            assert store.search_both(query, vector, clearance, 8) == alone
            assert alone[0] and alone[1]
        assert store.search_both(None, vectors[0], clearance, 8)[0] == []
        assert store.search_both('"fuel"', None, clearance, 8)[1] == []
    late = document("late", "the Narva bridge convoy", OPEN)
    with store._transaction():
        store.add_documents([late])
        text, near = store.search_both('"narva"', late.embeddings[0], LUX_NR, 3)
        assert [h.doc_id for h in text] == ["late"] and near[0].doc_id == "late"


def test_caveats_are_required(store: Store) -> None:
    store.add_documents(
        [document("c", "key material handover", "NATO SECRET // REL TO FRA // CRYPTO")]
    )
    assert store.search_text('"key"', FRA_NS, 5) == []
    assert store.search_vector(embed(["key material"])[0], FRA_NS, 5) == []
    assert [h.doc_id for h in store.search_text('"key"', FRA_CRYPTO, 5)] == ["c"]


# ------------------------------------------------------------------ full text
def test_full_text_folds_accents_and_finds_designators_in_both_languages(store: Store) -> None:
    store.add_documents(
        [
            document("fr", "Les équipements blindés BTR-82A ont franchi le pont au-dessus de "
                     "la Narva au point 35VNF6763382659.", OPEN, language="fr",
                     title="Rapport de la brigade"),
            document("en", "Enemy armoured vehicles were seen crossing the bridge; the strikes "
                     "continued overnight near Tapa.", OPEN),
            document("other", "Nothing to report from the northern sector.", OPEN),
        ]
    )  # fmt: skip

    def found(expression: str) -> list[str]:
        return [h.doc_id for h in store.search_text(expression, LUX_NR, 10)]

    assert found('"equipements"') == ["fr"]  # accents folded in the text
    assert found('"Équipements"') == ["fr"]  # and in the query
    assert found('"btr 82a"') == ["fr"] == found('"btr-82a"')  # designator as a phrase
    assert found('"35vnf6763382659"') == ["fr"]  # grid reference, exact
    assert found('"au-dessus"') == ["fr"]
    assert found('"brigade"') == ["fr"]  # the title counts
    assert found('"bridge"') == ["en"]
    assert found('"vehicles" OR "pont"') in (["en", "fr"], ["fr", "en"])
    assert found('"tanks"') == []
    # Exact words on both stores, no stems: the same workspace ranks alike on each.
    assert found('"équipement"') == [] == found('"vehicle"')


def test_full_text_scores_depend_on_readable_passages_only(
    new_store: Callable[[], Store],
) -> None:
    readable = [
        document("a", "convoy of fuel trucks near the depot", OPEN),
        document("b", "fuel shortage reported at the depot, fuel rationed", OPEN),
        document("c", "a quiet night, no convoy", OPEN),
    ]
    hidden = [
        document(f"h{i}", f"fuel fuel fuel convoy depot secret line {i}", SECRET) for i in range(30)
    ]
    alone, twin = new_store(), new_store()
    alone.add_documents(readable)
    twin.add_documents(hidden[:15] + readable + hidden[15:])
    for query in ('"fuel"', '"convoy" OR "depot"', '"fuel" OR "night" OR "convoy"'):
        seen = [(h.doc_id, h.start, h.score) for h in alone.search_text(query, LUX_NR, 10)]
        assert seen == [(h.doc_id, h.start, h.score) for h in twin.search_text(query, LUX_NR, 10)]
        assert seen
    vector = embed(["fuel convoy"])[0]
    assert [(h.doc_id, round(h.score, 5)) for h in alone.search_vector(vector, LUX_NR, 3)] == [
        (h.doc_id, round(h.score, 5)) for h in twin.search_vector(vector, LUX_NR, 3)
    ]


# ------------------------------------------------------------------- vectors
def test_a_one_percent_reader_gets_a_full_list_of_the_nearest_readable_passages(
    store: Store,
) -> None:
    # 2,000 passages above the reader, 20 they may read, in random directions:
    # a filtered approximate search that looked at the nearest passages first
    # and then dropped the unreadable ones would return almost nothing.
    hidden, readable = unit_vectors(2_000, seed=1), unit_vectors(20, seed=2)
    per = 100
    store.add_documents(
        [
            document(f"s{d:02}", "", SECRET, pieces=[f"secret {d} {i}" for i in range(per)],
                     vectors=hidden[d * per : (d + 1) * per])
            for d in range(len(hidden) // per)
        ]
        + [document("open", "", OPEN, pieces=[f"open {i}" for i in range(20)], vectors=readable)]
    )  # fmt: skip
    query = unit_vectors(1, seed=3)[0]
    exact = np.argsort(-(readable @ query), kind="stable")
    for limit in (10, 30, 50):
        hits = store.search_vector(query, LUX_NR, limit)
        assert len(hits) == min(limit, 20)
        assert {h.doc_id for h in hits} == {"open"}
        assert [h.text for h in hits] == [f"open {i}" for i in exact[: len(hits)]]
    everything = store.search_vector(query, FRA_NS, 20)
    assert len(everything) == 20


# ------------------------------------------------------------ entities, events
def _with_entities(store: Store) -> None:
    store.add_documents(
        [
            document("open", "T-90M tanks seen in Narva.", OPEN,
                     names=[("T-90M", "equipment"), ("Narva", "place")]),
            document("secret", "Agent GAMMA met APT28 handlers in Narva.", SECRET,
                     names=[("GAMMA", "person"), ("APT28", "org"), ("Narva", "place")]),
        ]
    )  # fmt: skip


def test_entities_are_known_from_readable_mentions_only(store: Store) -> None:
    _with_entities(store)
    assert {e.name for e in store.list_entities(FRA_NS)} == {"T-90M", "Narva", "GAMMA", "APT28"}
    assert {e.name for e in store.list_entities(LUX_NR)} == {"T-90M", "Narva"}
    with pytest.raises(NotFoundError):
        store.get_entity("APT28", LUX_NR)
    narva = store.get_entity("narva", LUX_NR)
    assert [m.doc_id for m in narva.mentions] == ["open"]
    assert {c.name for c in narva.cooccurring} == {"T-90M"}
    assert (narva.entity.lat, narva.entity.lon) == (NARVA.lat, NARVA.lon)
    assert narva.entity.marking == parse_marking(OPEN)
    mentions = store.document_mentions(["open", "secret"], LUX_NR)
    assert {(m.doc_id, m.name) for m in mentions} == {("open", "T-90M"), ("open", "Narva")}
    store.replace_enrichment("secret", [], [])
    assert {e.name for e in store.list_entities(FRA_NS)} == {"T-90M", "Narva"}


def test_events_are_filtered_and_filterable_by_time_and_box(store: Store) -> None:
    _with_entities(store)
    (event,) = store.list_events(LUX_NR)
    assert event.doc_id == "open" and [name for _, name, _ in event.participants] == ["T-90M"]
    assert event.place == "Narva" and event.at == T0
    assert len(store.list_events(FRA_NS)) == 2
    assert store.list_events(FRA_NS, since=T0 + timedelta(days=1)) == []
    assert len(store.list_events(FRA_NS, bbox=(27.0, 59.0, 29.0, 60.0))) == 2
    assert store.list_events(FRA_NS, bbox=(0.0, 40.0, 5.0, 50.0)) == []


def test_ids_are_keyed_by_the_workspace_secret(new_store: Callable[[], Store]) -> None:
    one, two = new_store(), new_store()
    for each in (one, two):
        each.set_id_secret(SHARED_SECRET)  # type: ignore[attr-defined]
        _with_entities(each)
    assert one.opaque_id("x", "y") == two.opaque_id("x", "y")
    assert [e.id for e in one.list_entities(FRA_NS)] == [e.id for e in two.list_entities(FRA_NS)]
    assert [e.id for e in one.list_events(FRA_NS)] == [e.id for e in two.list_events(FRA_NS)]


# ---------------------------------------------------------------------- cyber
def _alert(n: int) -> Alert:
    return Alert(
        id=f"alert-{n}", time=datetime(2017, 3, 24, 16, 0, n, tzinfo=UTC), detector="suricata",
        signature="ET SCAN Potential SSH Scan", rule_id="2001219", severity=Severity.HIGH,
        host="10.1.2.3", src="203.0.113.7", src_port=40000 + n, dst="10.1.2.3", dst_port=22,
        flow_id=str(1000 + n), techniques=("T1046",), raw={"n": n, "é": "ü"},
    )  # fmt: skip


def test_alerts_and_indicators_are_counted_and_filtered(store: Store) -> None:
    restricted = parse_marking("NATO RESTRICTED")
    assert store.add_alerts([_alert(0), _alert(1), _alert(1)], restricted, "sensor") == 2
    assert store.add_alerts([_alert(1), _alert(2)], restricted, "sensor") == 1
    assert store.add_alerts([_alert(3)], parse_marking(SECRET), "sensor") == 1
    assert len(store.list_alerts(FRA_NS)) == 4
    seen = store.list_alerts(parse_clearance("NATO RESTRICTED", "FRA"))
    assert [s.alert.raw["n"] for s in seen] == [0, 1, 2]
    assert replace(seen[0].alert, id="alert-0") == _alert(0)
    assert len(store.list_alerts(FRA_NS, limit=2)) == 2
    later = store.list_alerts(FRA_NS, since=datetime(2017, 3, 24, 16, 0, 2, tzinfo=UTC))
    assert [s.alert.raw["n"] for s in later] == [2, 3]
    indicator = Indicator("ipv4", "203.0.113.7", "stix", name="scanner", origin="f.json#1")
    assert store.add_indicators([indicator, indicator], parse_marking(SECRET), "partner") == 1
    assert store.list_indicators(LUX_NR) == []
    assert store.list_indicators(FRA_NS) == [(indicator, parse_marking(SECRET))]


# ---------------------------------------------------------------------- audit
def _tamper(store: Store, statement: str) -> None:
    """Do what someone with the database's credentials could: drop the guard, edit."""
    if isinstance(store, PostgresStore):
        store._pg.execute("ALTER TABLE audit DISABLE TRIGGER USER")
        store._pg.execute(statement)
    else:
        assert isinstance(store, SQLiteStore)
        store._db.execute("DROP TRIGGER audit_no_update")
        store._db.execute("DROP TRIGGER audit_no_delete")
        store._db.execute(statement)


def test_audit_chain_verifies_and_refuses_edits(store: Store) -> None:
    rows = [store.audit("ops", "search", {"query": f"q{n}", "é": n}) for n in range(5)]
    assert store.verify_audit() == (5, rows[-1].hash)
    assert [r.detail for r in store.audit_rows()] == [r.detail for r in rows]
    with pytest.raises(Exception, match="append-only"):
        if isinstance(store, PostgresStore):
            store._pg.execute("UPDATE audit SET actor = 'someone else'")
        else:
            assert isinstance(store, SQLiteStore)
            store._db.execute("UPDATE audit SET actor = 'someone else'")
    assert store.verify_audit()[0] == 5


def test_an_edited_audit_row_is_named(store: Store) -> None:
    for n in range(5):
        store.audit("ops", "search", {"query": f"q{n}"})
    _tamper(store, 'UPDATE audit SET detail = \'{"query":"other"}\' WHERE id = 3')
    with pytest.raises(AuditChainError) as error:
        store.verify_audit()
    assert error.value.row_id == 3


def test_a_dropped_guard_breaks_trust(store: Store) -> None:
    store.audit("ops", "search", {"query": "x"})
    _tamper(store, "SELECT 1")
    with pytest.raises(AuditChainError, match="trigger"):
        store.verify_audit()


# ---------------------------------------------------------------- credentials
def test_users_and_credentials(store: Store) -> None:
    store.add_user("ops", FRA_NS, "security_officer")
    store.add_user("lux", LUX_NR, "reader")
    with pytest.raises(Exception, match="already exists"):
        store.add_user("ops", LUX_NR)
    assert [u.name for u in store.list_users()] == ["lux", "ops"]
    assert store.get_user("lux").clearance == LUX_NR
    now = datetime(2026, 11, 21, 8, tzinfo=UTC)
    store.set_password("lux", "$argon2id$x", True, now)
    assert store.get_password("lux") == ("$argon2id$x", True)
    store.add_session(Session("lux", "password", "127.0.0.1", now, now), "k1", "c1")
    session, csrf = store.get_session("k1") or (None, None)
    assert session is not None and session.user == "lux" and csrf == "c1"
    store.touch_session("k1", now + timedelta(minutes=5))
    assert store.delete_sessions_before(now, now + timedelta(minutes=1)) == 0
    assert store.delete_sessions_before(now + timedelta(hours=1), now) == 1
    assert store.get_session("k1") is None
    token = Token("t1", "lux", "read", now, now + timedelta(days=1))
    store.add_token(token, "secret-digest")
    assert store.token_by_secret("secret-digest") == token
    store.revoke_token("t1", now)
    assert [t.revoked_at for t in store.list_tokens("lux")] == [now]
    store.set_login_failures("user:lux", 3, now, now + timedelta(minutes=1))
    assert store.login_failures("user:lux") == (3, now + timedelta(minutes=1))
    assert store.blocked_logins(now) == [("user:lux", 3, now + timedelta(minutes=1))]
    store.clear_login_failures("user:lux")
    assert store.login_failures("user:lux") is None
    store.set_certificate_subject("CN=lux", "lux")
    assert store.user_for_certificate("CN=lux") == "lux"


def test_watch_requirements_and_hits_are_filtered(store: Store) -> None:
    store.add_user("ops", FRA_NS)
    store.add_documents(
        [document("s", "secret convoy", SECRET), document("o", "open convoy", OPEN)]
    )
    requirement = store.add_requirement("ops", "convoys", "convoy movements")
    passages = {hit.doc_id: hit for hit, _ in store.chunks_after(0, FRA_NS)}
    hits = [
        WatchHit(requirement.id, passages[d].chunk_id, d, passages[d].marking, 0.5, "words")
        for d in ("s", "o")
    ]
    store.record_watch_run(requirement.id, hits, max(h.chunk_id for h in hits))
    assert [h.doc_id for h in store.watch_hits(requirement.id, LUX_NR)] == ["o"]
    assert len(store.watch_hits(requirement.id, FRA_NS)) == 2
    (listed,) = store.list_requirements("ops")
    assert listed.last_chunk_id == max(h.chunk_id for h in hits)


# --------------------------------------------------------------------- tracks
def _report(uid: str, minute: int, marking: str, callsign: str, lat: float) -> PositionReport:
    position = Position(T0 + timedelta(minutes=minute), lat, 28.0, parse_marking(marking), "tak")
    return PositionReport(uid, "a-h-G", callsign, None, position)


def test_tracks_are_drawn_by_readable_positions(store: Store) -> None:
    reports = [
        _report("u1", 0, OPEN, "ALPHA", 59.0),
        _report("u1", 5, SECRET, "GHOST", 59.5),
        _report("u2", 1, SECRET, "BRAVO", 58.0),
    ]
    assert store.add_positions(reports + reports[:1]) == [True, True, True, False]
    (track,) = store.list_tracks(LUX_NR)
    assert (track.uid, track.callsign, len(track.positions)) == ("u1", "ALPHA", 1)
    assert store.get_track("u1", FRA_NS).callsign == "GHOST"
    assert [t.uid for t in store.list_tracks(FRA_NS, bbox=(27.0, 59.2, 29.0, 60.0))] == ["u1"]
    with pytest.raises(NotFoundError):
        store.get_track("u2", LUX_NR)
