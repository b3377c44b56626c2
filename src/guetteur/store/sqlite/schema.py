"""Versioned schema of the SQLite store.

`MIGRATIONS[i]` brings a database from version i to i+1; the version lives in
`PRAGMA user_version`. Add a migration, never edit a released one.
"""

from __future__ import annotations

from typing import Any

from guetteur._exceptions import WorkspaceError
from guetteur.store.base import GROWN_OPENING_CHARS, PASSAGE_CHARS
from guetteur.store.sqlite._connect import complete_statement

__all__ = ["MIGRATIONS", "migrate"]

MIGRATIONS: list[str] = [
    # 0 → 1: users, markings, documents, chunks, full text, vectors, audit.
    """
    CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);

    CREATE TABLE users (
        name TEXT PRIMARY KEY,
        level INTEGER NOT NULL,
        nationality TEXT NOT NULL,
        caveats TEXT NOT NULL,            -- JSON array
        created_at TEXT NOT NULL
    );

    -- Each distinct marking once; rows point at it, and reads filter on the
    -- ids of the markings a reader may read.
    CREATE TABLE markings (
        id INTEGER PRIMARY KEY,
        canonical TEXT NOT NULL UNIQUE
    );

    CREATE TABLE sources (
        name TEXT PRIMARY KEY,
        default_marking_id INTEGER REFERENCES markings(id)
    );

    CREATE TABLE documents (
        id TEXT PRIMARY KEY,
        sha256 TEXT NOT NULL UNIQUE,
        title TEXT NOT NULL,
        text TEXT NOT NULL,
        language TEXT NOT NULL,
        marking_id INTEGER NOT NULL REFERENCES markings(id),
        grade TEXT,
        source TEXT NOT NULL,
        origin TEXT NOT NULL,
        ingested_at TEXT NOT NULL,
        reported_at TEXT,
        metadata TEXT NOT NULL            -- JSON object
    );
    CREATE INDEX documents_marking ON documents(marking_id);

    CREATE TABLE chunks (
        id INTEGER PRIMARY KEY,
        doc_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
        idx INTEGER NOT NULL,
        start INTEGER NOT NULL,
        end INTEGER NOT NULL,
        marking_id INTEGER NOT NULL REFERENCES markings(id),
        embedding BLOB NOT NULL           -- float32, sqlite-vec's vec_f32 layout
    );
    CREATE INDEX chunks_doc ON chunks(doc_id);
    CREATE INDEX chunks_marking ON chunks(marking_id);

    -- Accents folded so that "equipement" finds "équipement"; no stemmer, since
    -- FTS5's porter is English-only and would mangle French.
    CREATE VIRTUAL TABLE chunks_fts USING fts5(
        title, text, tokenize = 'unicode61 remove_diacritics 2'
    );

    CREATE TABLE audit (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        detail TEXT NOT NULL,             -- canonical JSON
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    );
    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    """,
    # 1 → 2: entities, their mentions, events (issue 3). Mentions and events carry
    # their document's marking so reads filter on them like on chunks.
    """
    CREATE TABLE entities (
        id TEXT PRIMARY KEY,
        type TEXT NOT NULL,
        key TEXT NOT NULL,
        canonical TEXT,                   -- from the lexicon or gazetteer; NULL: surface forms only
        lat REAL,
        lon REAL,
        geonameid INTEGER,
        UNIQUE (type, key)
    );
    CREATE INDEX entities_type ON entities(type);

    CREATE TABLE mentions (
        id INTEGER PRIMARY KEY,
        entity_id TEXT NOT NULL REFERENCES entities(id),
        doc_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
        marking_id INTEGER NOT NULL REFERENCES markings(id),
        start INTEGER NOT NULL,
        end INTEGER NOT NULL,
        text TEXT NOT NULL,
        source TEXT NOT NULL
    );
    CREATE INDEX mentions_entity ON mentions(entity_id, marking_id);
    CREATE INDEX mentions_doc ON mentions(doc_id);

    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        doc_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
        marking_id INTEGER NOT NULL REFERENCES markings(id),
        kind TEXT NOT NULL,
        what TEXT NOT NULL,
        start INTEGER NOT NULL,
        end INTEGER NOT NULL,
        at TEXT,
        lat REAL,
        lon REAL,
        place_entity_id TEXT REFERENCES entities(id),
        detail TEXT NOT NULL              -- JSON object
    );
    CREATE INDEX events_doc ON events(doc_id);
    CREATE INDEX events_at ON events(at);

    CREATE TABLE event_participants (
        event_id INTEGER NOT NULL REFERENCES events(id) ON DELETE CASCADE,
        entity_id TEXT NOT NULL REFERENCES entities(id),
        PRIMARY KEY (event_id, entity_id)
    );
    """,
    # 2 → 3: cyber (issue 5). Alerts, the network and Windows events they come
    # from or are explained by, and the user's ATT&CK catalogue.
    """
    CREATE TABLE alerts (
        id TEXT PRIMARY KEY,
        time TEXT NOT NULL,
        detector TEXT NOT NULL,
        signature TEXT NOT NULL,
        rule_id TEXT NOT NULL,
        severity INTEGER NOT NULL,
        host TEXT,
        src TEXT,
        src_port INTEGER,
        dst TEXT,
        dst_port INTEGER,
        protocol TEXT,
        flow_id TEXT,
        category TEXT,
        techniques TEXT NOT NULL,         -- JSON array of ATT&CK ids
        raw TEXT NOT NULL,                -- JSON object, the detector's record
        source TEXT NOT NULL,
        marking_id INTEGER NOT NULL REFERENCES markings(id)
    );
    CREATE INDEX alerts_time ON alerts(time);
    CREATE INDEX alerts_rule ON alerts(rule_id);
    CREATE INDEX alerts_marking ON alerts(marking_id);

    CREATE TABLE network_events (
        id TEXT PRIMARY KEY,              -- hash of the record: re-ingest adds nothing
        time TEXT NOT NULL,
        event_type TEXT NOT NULL,
        flow_id TEXT,
        src TEXT,
        dst TEXT,
        data TEXT NOT NULL,
        source TEXT NOT NULL,
        marking_id INTEGER NOT NULL REFERENCES markings(id)
    );
    CREATE INDEX network_events_flow ON network_events(flow_id);

    CREATE TABLE windows_events (
        id TEXT PRIMARY KEY,
        time TEXT NOT NULL,
        channel TEXT NOT NULL,
        provider TEXT NOT NULL,
        event_id INTEGER NOT NULL,
        computer TEXT NOT NULL,
        record_id INTEGER,
        data TEXT NOT NULL,
        source TEXT NOT NULL,
        marking_id INTEGER NOT NULL REFERENCES markings(id)
    );
    CREATE INDEX windows_events_time ON windows_events(time);

    CREATE TABLE attack_techniques (
        id TEXT PRIMARY KEY,
        record TEXT NOT NULL              -- JSON, guetteur.cyber.attack.Catalogue.to_records()
    );
    """,
    # 3 → 4: indicators from partners' STIX and MISP files, marked like any record.
    """
    CREATE TABLE indicators (
        kind TEXT NOT NULL,
        value TEXT NOT NULL,
        origin TEXT NOT NULL,
        source TEXT NOT NULL,             -- the feed it came from (--source)
        record TEXT NOT NULL,             -- JSON of the Indicator
        marking_id INTEGER NOT NULL REFERENCES markings(id),
        PRIMARY KEY (kind, value, origin)
    );
    """,
    # 4 → 5: standing intelligence requirements (issue 4). Each belongs to the
    # user who wrote it and is evaluated under that user's clearance; a hit
    # carries the marking of the passage it points at.
    """
    CREATE TABLE requirements (
        id INTEGER PRIMARY KEY,
        owner TEXT NOT NULL REFERENCES users(name),
        name TEXT NOT NULL,
        text TEXT NOT NULL,
        created_at TEXT NOT NULL,
        last_chunk_id INTEGER NOT NULL DEFAULT 0,   -- passages up to this id were evaluated
        last_run_at TEXT,
        UNIQUE (owner, name)
    );

    CREATE TABLE watch_hits (
        id INTEGER PRIMARY KEY,
        requirement_id INTEGER NOT NULL REFERENCES requirements(id),
        chunk_id INTEGER NOT NULL REFERENCES chunks(id) ON DELETE CASCADE,
        doc_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
        marking_id INTEGER NOT NULL REFERENCES markings(id),
        score REAL NOT NULL,
        reason TEXT NOT NULL,
        found_at TEXT NOT NULL,
        UNIQUE (requirement_id, chunk_id)
    );
    CREATE INDEX watch_hits_requirement ON watch_hits(requirement_id, found_at);
    """,
    # 5 → 6: noninterference (issue 9). Passages keep their own text, so ranked
    # reads never load a whole document; users get a role; the same content may
    # be held at several markings (a lower copy is a spill, reported to security
    # officers), so the content hash is no longer unique; Sigma rules belong to
    # the user who loaded them and carry a marking.
    """
    ALTER TABLE chunks ADD COLUMN text TEXT NOT NULL DEFAULT '';
    UPDATE chunks SET text = (
        SELECT substr(d.text, chunks.start + 1, chunks.end - chunks.start)
        FROM documents d WHERE d.id = chunks.doc_id
    );
    -- Ranking sums the lengths of the reader's passages (store/sqlite/fulltext.py):
    -- covered by this index, it never reads the wide chunk rows.
    DROP INDEX chunks_marking;
    CREATE INDEX chunks_marking_span ON chunks(marking_id, start, end);

    ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'analyst';
    UPDATE users SET role = 'security_officer'
        WHERE name = (SELECT value FROM settings WHERE key = 'default_user');

    CREATE TABLE documents_v6 (
        id TEXT PRIMARY KEY,
        sha256 TEXT NOT NULL,
        title TEXT NOT NULL,
        text TEXT NOT NULL,
        language TEXT NOT NULL,
        marking_id INTEGER NOT NULL REFERENCES markings(id),
        grade TEXT,
        source TEXT NOT NULL,
        origin TEXT NOT NULL,
        ingested_at TEXT NOT NULL,
        reported_at TEXT,
        metadata TEXT NOT NULL
    );
    INSERT INTO documents_v6 SELECT id, sha256, title, text, language, marking_id, grade,
        source, origin, ingested_at, reported_at, metadata FROM documents;
    DROP TABLE documents;
    ALTER TABLE documents_v6 RENAME TO documents;
    CREATE INDEX documents_marking ON documents(marking_id);
    CREATE INDEX documents_sha256 ON documents(sha256);

    CREATE TABLE spills (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,              -- who wrote the lower copy
        sha256 TEXT NOT NULL,
        doc_id TEXT,                      -- the copy stored at the writer's marking
        marking_id INTEGER NOT NULL REFERENCES markings(id),
        held TEXT NOT NULL,               -- JSON: [[doc id, canonical marking], ...] already held
        origin TEXT NOT NULL
    );

    -- An indicator held at two markings is two rows (see spills above).
    CREATE TABLE indicators_v6 (
        kind TEXT NOT NULL,
        value TEXT NOT NULL,
        origin TEXT NOT NULL,
        source TEXT NOT NULL,
        record TEXT NOT NULL,
        marking_id INTEGER NOT NULL REFERENCES markings(id),
        PRIMARY KEY (kind, value, origin, marking_id)
    );
    INSERT INTO indicators_v6 SELECT kind, value, origin, source, record, marking_id
        FROM indicators;
    DROP TABLE indicators;
    ALTER TABLE indicators_v6 RENAME TO indicators;

    CREATE TABLE sigma_rules (
        key TEXT PRIMARY KEY,             -- opaque: owner, rule id and marking, keyed
        owner TEXT NOT NULL REFERENCES users(name),
        rule_id TEXT NOT NULL,            -- the rule's own Sigma id
        marking_id INTEGER NOT NULL REFERENCES markings(id),
        loaded_at TEXT NOT NULL,
        UNIQUE (owner, rule_id, marking_id)
    );
    """,
    # 6 → 7: entities as each reader may know them (issue 9). The lexicon's or
    # gazetteer's name moves from the entity to each mention that gave it, so an
    # entity is named after it only for readers of such a mention. Earlier
    # workspaces merged spellings at ingest against every stored name:
    # `guetteur reindex` re-keys their mentions.
    """
    ALTER TABLE mentions ADD COLUMN canonical TEXT;
    UPDATE mentions SET canonical = (
        SELECT e.canonical FROM entities e WHERE e.id = mentions.entity_id
    ) WHERE source != 'model'
        OR entity_id IN (SELECT id FROM entities WHERE geonameid IS NOT NULL);
    ALTER TABLE entities DROP COLUMN canonical;
    """,
    # 7 → 8: how often each word occurs in each passage (col 0 title, 1 text),
    # counted at ingest, so that ranking costs the passages holding a word, not
    # its occurrences (store/sqlite/fulltext.py). Filled for older passages when
    # the store opens (it needs Python's tokeniser).
    """
    CREATE TABLE passage_terms (
        term TEXT NOT NULL,
        chunk_id INTEGER NOT NULL,
        col INTEGER NOT NULL,
        tf INTEGER NOT NULL,
        PRIMARY KEY (term, chunk_id, col)
    ) WITHOUT ROWID;
    CREATE INDEX passage_terms_chunk ON passage_terms(chunk_id);
    """,
    # 8 → 9: the server's credentials (issue 10). Secrets are never stored:
    # passwords as argon2id hashes, session keys, CSRF tokens and API tokens as
    # SHA-256 digests (they are random, so a fast hash suffices).
    """
    CREATE TABLE passwords (
        user TEXT PRIMARY KEY REFERENCES users(name),
        hash TEXT NOT NULL,               -- argon2id, with its parameters and salt
        must_change INTEGER NOT NULL,     -- a one-time password: change at first login
        set_at TEXT NOT NULL
    );
    CREATE TABLE sessions (
        key_hash TEXT PRIMARY KEY,        -- SHA-256 of the cookie's value
        user TEXT NOT NULL REFERENCES users(name),
        csrf_hash TEXT NOT NULL,
        method TEXT NOT NULL,             -- password | certificate
        client TEXT NOT NULL,             -- the address that logged in
        created_at TEXT NOT NULL,
        last_seen TEXT NOT NULL
    );
    CREATE INDEX sessions_user ON sessions(user);
    CREATE TABLE api_tokens (
        id TEXT PRIMARY KEY,              -- public: listed, and named when revoked
        user TEXT NOT NULL REFERENCES users(name),
        secret_hash TEXT NOT NULL UNIQUE,
        scope TEXT NOT NULL,              -- read | write
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        revoked_at TEXT,
        last_used TEXT
    );
    -- Failed logins per account name (known or not) and per client address.
    CREATE TABLE login_failures (
        key TEXT PRIMARY KEY,             -- 'user:NAME' or 'address:ADDR'
        failures INTEGER NOT NULL,
        last_at TEXT NOT NULL,
        blocked_until TEXT NOT NULL
    );
    -- Mutual TLS: a client certificate's subject (RFC 4514) names a user.
    CREATE TABLE certificate_subjects (
        subject TEXT PRIMARY KEY,
        user TEXT NOT NULL REFERENCES users(name)
    );
    """,
    # 9 → 10: passage_terms also counts each pair of consecutive words ("au
    # dessus"), so that a two-word phrase such as the query word "au-dessus"
    # costs the passages holding it, not the positions of its words
    # (store/sqlite/fulltext.py). Older counts are dropped here and counted
    # again, pairs included, when the store opens.
    """
    DELETE FROM passage_terms;
    DELETE FROM settings WHERE key = 'passage_terms_counted';
    """,
    # 10 → 11: tracks (issue 11). One row per CoT position report, with the
    # marking it came in at and the type, callsign and group it gave; keyed by
    # (uid, time, marking), so a report received again is a duplicate and the
    # same position at another marking another row (store/sqlite/tracks.py).
    """
    CREATE TABLE track_positions (
        id INTEGER PRIMARY KEY,
        uid TEXT NOT NULL,                -- the CoT uid, from the device
        time TEXT NOT NULL,               -- ISO 8601 UTC with microseconds
        marking_id INTEGER NOT NULL REFERENCES markings(id),
        type TEXT NOT NULL,               -- CoT type, as this report gave it
        callsign TEXT,
        grp TEXT,                         -- TAK team or unit group
        lat REAL NOT NULL,
        lon REAL NOT NULL,
        hae REAL,
        ce REAL,
        le REAL,
        course REAL,
        speed REAL,
        how TEXT NOT NULL,
        stale TEXT,
        source TEXT NOT NULL,
        doc_id TEXT,                      -- the report it came from, if any
        remarks TEXT,
        received_at TEXT NOT NULL,
        UNIQUE (uid, time, marking_id)
    );
    CREATE INDEX track_positions_marking_time ON track_positions(marking_id, time);
    """,
    # 11 → 12: logistics tables (issue 13). One row per table row that loaded
    # (depot, unit, vehicle, consumption day and class, a unit's windows, a
    # matrix leg), keyed (kind, key, marking): the same row imported again at
    # the same marking replaces it, at another marking is another row. Reads
    # take, per (kind, key), the latest readable row (store/sqlite/logistics.py).
    """
    CREATE TABLE logistics_rows (
        id INTEGER PRIMARY KEY,           -- insertion order: latest wins among readable rows
        kind TEXT NOT NULL,               -- depot | unit | vehicle | consumption | window | matrix
        key TEXT NOT NULL,                -- the row's identity in its kind (a name, unit|day|class)
        marking_id INTEGER NOT NULL REFERENCES markings(id),
        data TEXT NOT NULL,               -- JSON: the row's fields as read
        origin TEXT NOT NULL,             -- FILE[#SHEET]:ROW
        imported_by TEXT NOT NULL,
        imported_at TEXT NOT NULL,
        UNIQUE (kind, key, marking_id)
    );
    CREATE INDEX logistics_rows_marking ON logistics_rows(marking_id, kind);
    """,
    # 12 → 13: approximate vector search (issue 14, store/sqlite/vectors.py). Each
    # passage's embedding also as its sign bits (sqlite-vec's vec_quantize_binary:
    # 64 bytes for 512 dimensions), numbered by a sequence that is never reused, so
    # a store's copy in memory appends what was added since it last looked; a
    # marking whose passages were deleted or changed gets its generation bumped,
    # and that marking alone is reloaded. Triggers on chunks keep both in step
    # with every write path; existing passages are quantised here.
    """
    CREATE TABLE passage_bits (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        chunk_id INTEGER NOT NULL UNIQUE,
        marking_id INTEGER NOT NULL,
        bits BLOB NOT NULL
    );
    CREATE INDEX passage_bits_marking ON passage_bits(marking_id, seq);
    CREATE TABLE passage_bits_generations (
        marking_id INTEGER PRIMARY KEY,
        generation INTEGER NOT NULL
    );
    INSERT INTO passage_bits(chunk_id, marking_id, bits)
        SELECT id, marking_id, vec_quantize_binary(embedding) FROM chunks ORDER BY id;
    -- Tells the copy in memory (shared by path) that a file is another database.
    INSERT INTO settings(key, value) VALUES ('passage_bits_identity', hex(randomblob(16)));
    CREATE TRIGGER passage_bits_insert AFTER INSERT ON chunks BEGIN
        INSERT INTO passage_bits(chunk_id, marking_id, bits)
            VALUES (NEW.id, NEW.marking_id, vec_quantize_binary(NEW.embedding));
    END;
    CREATE TRIGGER passage_bits_delete AFTER DELETE ON chunks BEGIN
        DELETE FROM passage_bits WHERE chunk_id = OLD.id;
        INSERT INTO passage_bits_generations(marking_id, generation) VALUES (OLD.marking_id, 1)
            ON CONFLICT(marking_id) DO UPDATE SET generation = generation + 1;
    END;
    CREATE TRIGGER passage_bits_update AFTER UPDATE OF marking_id, embedding ON chunks
    WHEN OLD.marking_id IS NOT NEW.marking_id OR OLD.embedding IS NOT NEW.embedding BEGIN
        UPDATE passage_bits SET marking_id = NEW.marking_id,
            bits = vec_quantize_binary(NEW.embedding) WHERE chunk_id = NEW.id;
        INSERT INTO passage_bits_generations(marking_id, generation) VALUES (OLD.marking_id, 1)
            ON CONFLICT(marking_id) DO UPDATE SET generation = generation + 1;
        INSERT INTO passage_bits_generations(marking_id, generation) VALUES (NEW.marking_id, 1)
            ON CONFLICT(marking_id) DO UPDATE SET generation = generation + 1;
    END;
    """,
    # 13 → 14: the server's jobs (api/jobs.py), here rather than in one worker
    # process's memory, so that every worker of `guetteur serve --workers N`
    # finds them: the worker running a job writes its state and progress, any
    # worker reads it or sets `cancel_requested`, which the running one polls.
    # `worker` names the process running it (host, boot id, pid, start time),
    # so that a job whose process died is found and reported failed.
    """
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        kind TEXT NOT NULL,
        created_at TEXT NOT NULL,
        state TEXT NOT NULL,              -- queued, running, done, failed or cancelled
        done INTEGER NOT NULL,
        total INTEGER NOT NULL,
        result TEXT,                      -- JSON object, once done
        error TEXT,
        cancel_requested INTEGER NOT NULL,
        version INTEGER NOT NULL,         -- bumped on every change (the event stream)
        worker TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX jobs_owner ON jobs(owner, created_at);
    CREATE INDEX jobs_state ON jobs(state);
    """,
    # 14 → 15: full-text statistics kept per marking, so that ranking reads the
    # postings of a query's rare words and looks up its common ones only for
    # the passages that can still make the cut (store/sqlite/fulltext.py):
    # - passage_spans, each passage's marking and length, narrow rows to join
    #   postings with (chunks' rows carry text and embedding);
    # - marking_passages, the passages of each marking and their total length;
    # - term_passages, how many passages of each marking hold each term.
    # Triggers on chunks keep the first two and move a passage's terms when its
    # marking changes; the store counts terms as it writes and deletes them
    # (a trigger per term row would triple the cost of writing them).
    """
    CREATE TABLE passage_spans (
        chunk_id INTEGER PRIMARY KEY,
        marking_id INTEGER NOT NULL,
        length INTEGER NOT NULL
    );
    INSERT INTO passage_spans(chunk_id, marking_id, length)
        SELECT id, marking_id, end - start FROM chunks;
    CREATE TABLE marking_passages (
        marking_id INTEGER PRIMARY KEY,
        passages INTEGER NOT NULL,
        length INTEGER NOT NULL
    );
    INSERT INTO marking_passages(marking_id, passages, length)
        SELECT marking_id, COUNT(*), SUM(length) FROM passage_spans GROUP BY marking_id;
    CREATE TABLE term_passages (
        term TEXT NOT NULL,
        marking_id INTEGER NOT NULL,
        passages INTEGER NOT NULL,
        PRIMARY KEY (term, marking_id)
    ) WITHOUT ROWID;
    INSERT INTO term_passages(term, marking_id, passages)
        SELECT t.term, s.marking_id, COUNT(DISTINCT t.chunk_id)
        FROM passage_terms t JOIN passage_spans s ON s.chunk_id = t.chunk_id
        GROUP BY t.term, s.marking_id;
    CREATE TRIGGER passage_spans_insert AFTER INSERT ON chunks BEGIN
        INSERT INTO passage_spans(chunk_id, marking_id, length)
            VALUES (NEW.id, NEW.marking_id, NEW.end - NEW.start);
        INSERT INTO marking_passages(marking_id, passages, length)
            VALUES (NEW.marking_id, 1, NEW.end - NEW.start)
            ON CONFLICT(marking_id) DO UPDATE
            SET passages = passages + 1, length = length + excluded.length;
    END;
    CREATE TRIGGER passage_spans_delete AFTER DELETE ON chunks BEGIN
        DELETE FROM passage_spans WHERE chunk_id = OLD.id;
        UPDATE marking_passages
            SET passages = passages - 1, length = length - (OLD.end - OLD.start)
            WHERE marking_id = OLD.marking_id;
    END;
    CREATE TRIGGER passage_spans_update AFTER UPDATE OF marking_id, start, end ON chunks
    WHEN OLD.marking_id IS NOT NEW.marking_id OR OLD.end - OLD.start IS NOT NEW.end - NEW.start
    BEGIN
        UPDATE passage_spans SET marking_id = NEW.marking_id, length = NEW.end - NEW.start
            WHERE chunk_id = NEW.id;
        UPDATE marking_passages
            SET passages = passages - 1, length = length - (OLD.end - OLD.start)
            WHERE marking_id = OLD.marking_id;
        INSERT INTO marking_passages(marking_id, passages, length)
            VALUES (NEW.marking_id, 1, NEW.end - NEW.start)
            ON CONFLICT(marking_id) DO UPDATE
            SET passages = passages + 1, length = length + excluded.length;
    END;
    CREATE TRIGGER term_passages_remark AFTER UPDATE OF marking_id ON chunks
    WHEN OLD.marking_id IS NOT NEW.marking_id BEGIN
        UPDATE term_passages SET passages = passages - 1
            WHERE marking_id = OLD.marking_id
            AND term IN (SELECT term FROM passage_terms WHERE chunk_id = OLD.id);
        INSERT INTO term_passages(term, marking_id, passages)
            SELECT DISTINCT term, NEW.marking_id, 1 FROM passage_terms WHERE chunk_id = NEW.id
            ON CONFLICT(term, marking_id) DO UPDATE SET passages = passages + 1;
    END;
    """,
    # 15 → 16: a document's text moves to the end of its row. SQLite reads a
    # row's columns in order, and a text too long for its page continues on a
    # chain of overflow pages: every column after it (language, marking, grade,
    # source...) cost a walk of the whole chain, 0.3-1.3 ms for a 50 MB
    # document, on every search hit of it.
    """
    CREATE TABLE documents_v16 (
        id TEXT PRIMARY KEY,
        sha256 TEXT NOT NULL,
        title TEXT NOT NULL,
        language TEXT NOT NULL,
        marking_id INTEGER NOT NULL REFERENCES markings(id),
        grade TEXT,
        source TEXT NOT NULL,
        origin TEXT NOT NULL,
        ingested_at TEXT NOT NULL,
        reported_at TEXT,
        metadata TEXT NOT NULL,
        text TEXT NOT NULL
    );
    INSERT INTO documents_v16(id, sha256, title, language, marking_id, grade, source, origin,
        ingested_at, reported_at, metadata, text)
        SELECT id, sha256, title, language, marking_id, grade, source, origin,
        ingested_at, reported_at, metadata, text FROM documents;
    DROP TABLE documents;
    ALTER TABLE documents_v16 RENAME TO documents;
    CREATE INDEX documents_marking ON documents(marking_id);
    CREATE INDEX documents_sha256 ON documents(sha256);
    """,
    # 16 → 17: each term's passages packed per marking (store/sqlite/postings.py),
    # so that ranking reads a word's readable passages whole, without reading
    # one row per passage or the passages of markings the reader may not read.
    # Filled from passage_terms when the store opens (numpy packs the blocks).
    # A rowid table: its rows carry blobs of up to megabytes, which a WITHOUT
    # ROWID table keeps badly.
    """
    CREATE TABLE term_blocks (
        term TEXT NOT NULL,
        marking_id INTEGER NOT NULL,
        block INTEGER NOT NULL,
        postings INTEGER NOT NULL,
        first INTEGER NOT NULL,
        last INTEGER NOT NULL,
        data BLOB NOT NULL
    );
    CREATE UNIQUE INDEX term_blocks_key ON term_blocks(term, marking_id, block);
    DELETE FROM settings WHERE key = 'term_blocks_built';
    """,
    # 17 → 18: a grown passage's opening (a document of one 50 MB line makes
    # passages of tens of kilobytes) kept apart, so that a search hit reads
    # 700 characters, not the chain of overflow pages that holds its text
    # (substr() loads a text whole). Kept by triggers on chunks.
    f"""
    CREATE TABLE passage_openings (
        chunk_id INTEGER PRIMARY KEY,
        opening TEXT NOT NULL
    );
    INSERT INTO passage_openings(chunk_id, opening)
        SELECT id, substr(text, 1, {GROWN_OPENING_CHARS}) FROM chunks
        WHERE end - start > {PASSAGE_CHARS};
    CREATE TRIGGER passage_openings_insert AFTER INSERT ON chunks
    WHEN NEW.end - NEW.start > {PASSAGE_CHARS} BEGIN
        INSERT INTO passage_openings(chunk_id, opening)
            VALUES (NEW.id, substr(NEW.text, 1, {GROWN_OPENING_CHARS}));
    END;
    CREATE TRIGGER passage_openings_delete AFTER DELETE ON chunks
    WHEN OLD.end - OLD.start > {PASSAGE_CHARS} BEGIN
        DELETE FROM passage_openings WHERE chunk_id = OLD.id;
    END;
    """,
]


def migrate(connection: Any) -> int:
    """Apply the missing migrations, each in its own transaction; return the version."""
    version: int = connection.execute("PRAGMA user_version").fetchone()[0]
    if version > len(MIGRATIONS):
        raise WorkspaceError(
            f"workspace schema version {version} is newer than this guetteur "
            f"({len(MIGRATIONS)}): upgrade guetteur"
        )
    # Foreign keys off while tables are rebuilt (SQLite's documented procedure:
    # dropping a parent table would otherwise cascade into its children).
    connection.execute("PRAGMA foreign_keys = OFF")
    try:
        _apply(connection, version)
    finally:
        connection.execute("PRAGMA foreign_keys = ON")
    return len(MIGRATIONS)


def _apply(connection: Any, version: int) -> None:
    for target in range(version + 1, len(MIGRATIONS) + 1):
        connection.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(MIGRATIONS[target - 1]):
                connection.execute(statement)
            problems = connection.execute("PRAGMA foreign_key_check").fetchall()
            if problems:
                raise WorkspaceError(f"migration to schema {target} broke references: {problems}")
            connection.execute(f"PRAGMA user_version = {target}")
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise


def _statements(script: str) -> list[str]:
    """Split a migration into statements, keeping trigger bodies whole."""
    statements: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if complete_statement(buffer):
            if buffer.strip():
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements
