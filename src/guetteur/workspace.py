"""A workspace: one folder holding a store, and the operations users perform on it.

This is the layer every face (CLI now, HTTP API next) calls. It resolves who
is acting (`--as USER`, else the workspace's default user), hands that user's
clearance to every read, and writes the audit event of every user change,
ingest, search and show — so the rules hold whatever face is used.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from guetteur._exceptions import (
    IngestError,
    InvalidInputError,
    InvalidStixError,
    NotFoundError,
    PermissionDeniedError,
    WorkspaceError,
)
from guetteur.accounts import Accounts
from guetteur.cop.cot import CotError, CotEvent, looks_like_cot, parse_events
from guetteur.cop.picture import events_near, name_key, tracks_named
from guetteur.cyber.attack import Catalogue, TechniqueMapper, load_catalogue
from guetteur.cyber.intel import incident_bundle, load_intel_json, parse_stix, validate_bundle
from guetteur.cyber.sigma import RuleSet, load_rule, load_rules
from guetteur.cyber.stix_out import (
    EPOCH,
    INCIDENTS,
    INTEL,
    INTEL_TITLE_PREFIX,
    StixEntry,
    TaxiiPage,
    TaxiiQuery,
    incident_entries,
    intel_document_objects,
    intel_entries,
    select_page,
    split_by_marking,
    stix_version,
    unseen,
)
from guetteur.cyber.triage import summarise
from guetteur.ingest.registry import COT_SUFFIXES, iter_input_files, read_input
from guetteur.llm import ChatModel, ModelSettings, open_model, resolve_settings
from guetteur.logistics import (
    THREAT_KINDS,
    Forecast,
    ImportReport,
    Plan,
    PlanOptions,
    forecast_consumption,
    plan_resupply,
    read_tables,
)
from guetteur.model import Clearance, Document, Grade, Marking, Severity, Track
from guetteur.pipeline.alerts import (
    AlertFormat,
    AlertIngestReport,
    RuleGroup,
    ingest_alerts,
    run_rules,
)
from guetteur.pipeline.enrichment import GAZETTEER_FILE, Enricher
from guetteur.pipeline.executors import EnrichmentRecipe, Executor, open_executor
from guetteur.pipeline.ingest import IngestOptions, IngestReport, ingest_paths, reindex
from guetteur.pipeline.intel import IntelImportReport, file_marking, import_intel
from guetteur.pipeline.tracks import CotIngestReport, store_positions
from guetteur.products import IncidentView, incidents_for
from guetteur.products.ask import Answer, answer_question
from guetteur.products.brief import Brief, write_brief
from guetteur.products.cited import ModelCall, reader_floor_marking
from guetteur.products.incident_synthesis import IncidentSynthesis, synthesise_incident
from guetteur.products.watch import WatchRun, evaluate_requirement, report_requirement
from guetteur.search import SearchResult, hybrid_search
from guetteur.security.anchor import (
    AnchorError,
    checked_checkpoint,
    read_key_file,
    read_trusted_key,
    signed_checkpoint,
)
from guetteur.security.audit import ChainHead
from guetteur.security.markings import high_water_mark
from guetteur.security.roles import (
    ANALYST,
    SECURITY_OFFICER,
    check_user_name,
    parse_role,
    require,
)
from guetteur.store import (
    BBox,
    DocumentStats,
    EntityDetail,
    EntitySummary,
    EventRow,
    Requirement,
    Spill,
    Store,
    StoredAlert,
    User,
)
from guetteur.store.factory import (
    DATABASE_NAME,
    STORE_CONFIG,
    create_store,
    open_store,
    store_exists,
)

__all__ = ["DATABASE_NAME", "DEFAULT_HOME", "RULES_DIR", "Workspace", "resolve_home"]

DEFAULT_HOME = ".guetteur"
RULES_DIR = "rules"  # the Sigma rules the workspace runs, copied in by `rules load`
SIGMA_SOURCE = "sigma"  # the source whose default marks rules loaded without --marking
CACHE_DIR = "cache"  # derived files (ATT&CK technique embeddings), safe to delete
ASSETS_FILE = "assets.csv"  # optional: host,criticality (1..5) for incident severity
CONFIG_FILE = "config.toml"  # optional: [llm] mode, url, model, gguf, timeout, ...
MODELS_MANIFEST = "models.sha256"  # SHA-256 of the weights files users bring
INTEL_DIR = "intel"  # bundles pulled from partners' TAXII servers, kept: origins point into them


def _split_cot(
    paths: Sequence[Path], follow_links: bool
) -> tuple[list[Path], list[tuple[Path, bytes | IngestError]], list[IngestError]]:
    """The inputs' files split into documents and CoT files (with their bytes, or why
    they cannot be read), and the walk's refusals (FIFOs, links out of the folders...)."""
    documents: list[Path] = []
    captures: list[tuple[Path, bytes | IngestError]] = []
    skipped: list[IngestError] = []
    for item in iter_input_files(paths, follow_links=follow_links):
        if isinstance(item, IngestError):
            skipped.append(item)
            continue
        suffix = item.suffix.lower()
        if suffix in COT_SUFFIXES:
            try:
                data: bytes | IngestError = read_input(item)
            except IngestError as error:
                data = error  # a .xml that cannot be read: the document parser says why
            if suffix == ".cot" or (isinstance(data, bytes) and looks_like_cot(data)):
                captures.append((item, data))
                continue
        documents.append(item)
    return documents, captures, skipped


def _without_prefix(message: str, where: str) -> str:
    """A refusal's reason without the file name it opens with (listed beside it)."""
    return message[len(where) :].lstrip(":").strip() if message.startswith(where) else message


def _check_forecast(horizon_days: int, quantile: float) -> None:
    if not 1 <= horizon_days <= 366:
        raise InvalidInputError(f"horizon of {horizon_days} days: between 1 and 366")
    if not 0 < quantile < 1:
        raise InvalidInputError(f"quantile {quantile:g}: between 0 and 1 (e.g. 0.9)")


def resolve_home(home: str | Path | None) -> Path:
    """--home, else $GUETTEUR_HOME, else ./.guetteur."""
    chosen = home or os.environ.get("GUETTEUR_HOME") or DEFAULT_HOME
    return Path(chosen).expanduser()


class Workspace:
    """An opened workspace. Use `Workspace.create` or `Workspace.open`."""

    def __init__(self, home: Path, store: Store) -> None:
        self.home = home
        self.store = store
        self.accounts = Accounts(store)  # logins of the server's users (accounts.py)
        self._enricher: Enricher | None = None
        self._model: ChatModel | None = None
        self._model_opened = False
        self._primary: Workspace | None = None  # see sibling()

    def sibling(self) -> Workspace:
        """The same workspace on a connection of its own, sharing the loaded models.

        The server gives each request thread one: SQLite (WAL) then serves many
        readers beside the one writer, and spaCy, the gazetteer and the language
        model are loaded once per process, not once per thread.
        """
        other = Workspace(self.home, open_store(self.home))
        other._primary = self
        return other

    @property
    def enricher(self) -> Enricher:
        """spaCy pipelines and the gazetteer, loaded on first need."""
        if self._primary is not None:
            return self._primary.enricher
        if self._enricher is None:
            self._enricher = Enricher(self.home, techniques=self._mapper_if_catalogue)
        return self._enricher

    # ------------------------------------------------------------ lifecycle
    @classmethod
    def create(
        cls, home: Path, user: str, clearance: Clearance, store: str | None = None
    ) -> Workspace:
        """A new workspace whose first user is the default for commands without --as.

        `store`: a postgresql:// URL to keep its records in PostgreSQL (the folder
        then holds store.toml naming it); None for the SQLite file."""
        if store_exists(home):
            raise WorkspaceError(f"{home}: a workspace already exists here")
        # Private to the operator whatever the umask: mkdir's and open's modes
        # are masked by it, chmod's are not. SQLite gives the -wal and -shm files
        # the mode of the database file they belong to.
        home.mkdir(parents=True, exist_ok=True)
        os.chmod(home, 0o700)
        (home / CACHE_DIR).mkdir(mode=0o700, exist_ok=True)
        os.chmod(home / CACHE_DIR, 0o700)
        # A gazetteer index placed here beforehand (copied from another workspace)
        # becomes this workspace's: private too.
        for name in (GAZETTEER_FILE, f"{GAZETTEER_FILE}-wal", f"{GAZETTEER_FILE}-shm"):
            if (home / name).is_file():
                os.chmod(home / name, 0o600)
        workspace = cls(home, create_store(home, store))
        # The first user is the operator and a security officer: someone must be
        # able to add the others.
        name = check_user_name(user, ())
        workspace.store.set_setting("default_user", name)
        workspace.store.add_user(name, clearance, SECURITY_OFFICER)
        workspace._audit_user(name, "user.add", name, clearance, SECURITY_OFFICER)
        return workspace

    @classmethod
    def open(cls, home: Path) -> Workspace:
        if not store_exists(home):
            raise WorkspaceError(
                f"no workspace at {home}: create one with `guetteur init --user NAME "
                f"--clearance LEVEL --nationality CCC` (or set GUETTEUR_HOME / --home)"
            )
        exposed = cls._readable_by_others(home)
        if exposed:
            # A warning, not a refusal: the operator may have reasons (a shared
            # group account), but must know that every record is readable with sqlite3.
            print(
                f"warning: other accounts on this machine can read the workspace {home} "
                f"({', '.join(exposed)}); make it private with `chmod -R go-rwx {home}`",
                file=sys.stderr,
            )
        return cls(home, open_store(home))

    def close(self) -> None:
        if self._model is not None:
            self._model.close()
        self.store.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- users
    def operator(self) -> User:
        """The workspace's operator: the account the CLI acts as (its first user)."""
        chosen = self.store.get_setting("default_user")
        if not chosen:
            raise WorkspaceError(f"{self.home}: no operator; this workspace was not initialised")
        return self.store.get_user(chosen)

    def user(self, name: str | None = None) -> User:
        """Who acts: the operator, or — `--as USER` — USER, whose view the operator takes.

        Only a security officer may take another user's view, and each time is
        audited as such.
        """
        operator = self.operator()
        if name is None or name == operator.name:
            return operator
        require(operator.role, SECURITY_OFFICER, "--as (acting as another user)")
        user = self.store.get_user(name)
        self.store.audit(operator.name, "act_as", {"operator": operator.name, "user": user.name})
        return user

    def add_user(
        self, name: str, clearance: Clearance, actor: str | User, role: str = ANALYST
    ) -> User:
        """A new user (security officers only); look-alike and unprintable names refused."""
        acting = actor if isinstance(actor, User) else self.store.get_user(actor)
        require(acting.role, SECURITY_OFFICER, "adding a user")
        name = check_user_name(name, (u.name for u in self.store.list_users()))
        self.store.add_user(name, clearance, parse_role(role))
        self._audit_user(acting.name, "user.add", name, clearance, role)
        return self.store.get_user(name)

    def set_user(self, actor: User, name: str, clearance: Clearance, role: str) -> User:
        """Change a user's clearance or role (security officers; never their own)."""
        require(actor.role, SECURITY_OFFICER, "changing a user's clearance")
        if name == actor.name:
            raise PermissionDeniedError(
                "nobody may change their own clearance or role: ask another security officer"
            )
        self.store.set_user(name, clearance, parse_role(role))
        self._audit_user(actor.name, "user.set", name, clearance, role)
        return self.store.get_user(name)

    def _audit_user(
        self, actor: str, action: str, name: str, clearance: Clearance, role: str
    ) -> None:
        self.store.audit(
            actor,
            action,
            {
                "user": name,
                "role": role,
                "level": clearance.level.name,
                "nationality": clearance.nationality,
                "caveats": sorted(clearance.caveats),
            },
        )

    def users(self, actor: User) -> list[User]:
        """Every user: security officers see all, others themselves only."""
        self.store.audit(actor.name, "users.list", {})
        if actor.role == SECURITY_OFFICER:
            return self.store.list_users()
        return [actor]

    # ----------------------------------------------------- markings (officers)
    def set_source_default(self, actor: User, source: str, marking: Marking) -> None:
        """The marking a source's unmarked inputs get (security officers only)."""
        require(actor.role, SECURITY_OFFICER, "setting a source's default marking")
        self.store.set_source_default_marking(source, marking)
        self.store.audit(actor.name, "source.default", {"source": source, "marking": str(marking)})

    def remark(self, actor: User, doc_id: str, marking: Marking, reason: str) -> str:
        """Give a document a new marking; returns its id under that marking.

        Raising needs read access (and the analyst role); anything else —
        lowering, widening releasability, dropping a caveat — needs a security
        officer. Passages, mentions, events and watch hits follow at once.
        """
        if not reason.strip():
            raise WorkspaceError("remark needs --reason: the audit keeps why a marking changed")
        document = self.store.get_document(doc_id, actor.clearance)
        raising = high_water_mark([document.marking, marking]) == marking
        require(actor.role, ANALYST if raising else SECURITY_OFFICER,
                "raising a marking" if raising else "lowering a marking")  # fmt: skip
        with self.store.atomic():  # the new marking and its audit record, or neither
            new_id = self.store.remark_document(doc_id, marking)
            self.store.audit(
                actor.name,
                "remark",
                {
                    "doc_id": doc_id,
                    "doc_ids": [new_id],
                    "from": str(document.marking),
                    "to": str(marking),
                    "reason": reason,
                },
            )
        return new_id

    def withdraw(self, actor: User, doc_id: str, reason: str) -> None:
        """Remove a document and all that derives from it (security officers only)."""
        require(actor.role, SECURITY_OFFICER, "withdrawing a document")
        if not reason.strip():
            raise WorkspaceError("withdraw needs --reason: the audit keeps why")
        document = self.store.get_document(doc_id, actor.clearance)
        with self.store.atomic():
            self.store.withdraw_document(doc_id)
            self.store.audit(
                actor.name,
                "withdraw",
                {
                    "doc_id": doc_id,
                    "sha256": document.sha256,
                    "marking": str(document.marking),
                    "title": document.title,
                    "reason": reason,
                },
            )

    def spills(self, actor: User) -> list[Spill]:
        """Content written lower than it was already held (security officers only)."""
        require(actor.role, SECURITY_OFFICER, "reading spills")
        spills = self.store.list_spills()
        self.store.audit(actor.name, "spills", {"count": len(spills)})
        return spills

    # ---------------------------------------------------------------- ingest
    def ingest(
        self,
        actor: User,
        paths: Sequence[Path],
        source: str,
        marking: Marking | None = None,
        grade: Grade | None = None,
        on_file: Callable[[Path], None] = lambda path: None,
        follow_links: bool = False,
        executor: str = "local",
    ) -> IngestReport:
        """Ingest files and folders: documents, and CoT events and captures (.cot, and
        .xml holding an <event>) as track positions at `marking` (or the source's default).

        `executor`: where embeddings and enrichment are computed — `local`, `dask`
        (a cluster on this machine) or `dask://host:port` (pipeline/executors.py)."""
        require(actor.role, ANALYST, "ingest")
        options = IngestOptions(
            source=source,
            marking=marking,
            grade=grade,
            actor=actor.name,
            clearance=actor.clearance,
            follow_links=follow_links,
        )
        documents, captures, skipped = _split_cot(paths, follow_links)
        if not captures:
            with self._executor(executor, lambda: self.enricher) as running:
                report = ingest_paths(self.store, paths, options, on_file=on_file, executor=running)
        else:
            report = IngestReport()
            if documents:
                with self._executor(executor, lambda: self.enricher) as running:
                    report = ingest_paths(
                        self.store, documents, options, on_file=on_file, executor=running
                    )
            for error in skipped:
                report.fail(error.origin, error.reason)
                on_file(Path(error.origin))
            report.positions = self._ingest_cot_files(actor, captures, options, report, on_file)
        if report.ingested:
            self.evaluate_watches()
        return report

    def _ingest_cot_files(
        self,
        actor: User,
        captures: list[tuple[Path, bytes | IngestError]],
        options: IngestOptions,
        report: IngestReport,
        on_file: Callable[[Path], None],
    ) -> CotIngestReport:
        """Each CoT file's events, at the run's --marking and the source's default (the
        higher); refused files and events go to `report.failed` with their reasons."""
        given = (options.marking, self.store.source_default_marking(options.source))
        stated = [m for m in given if m is not None]
        channel = high_water_mark(stated) if stated else None
        total = CotIngestReport()
        for path, data in captures:
            where = str(path)
            try:
                if isinstance(data, IngestError):
                    raise CotError(f"{where}: {data.reason}")
                if channel is None:
                    raise CotError(
                        f"{where}: no marking: a CoT file has no banner and none was given "
                        "(use --marking, e.g. --marking 'NATO RESTRICTED // REL TO FRA', "
                        "or set the source's default)"
                    )
                events, refused = parse_events(data, where)
                done = self.ingest_cot(actor, events, options.source, channel)
            except CotError as error:
                report.fail(where, _without_prefix(str(error), where))
                continue
            finally:
                on_file(path)
            total.stored += done.stored
            total.duplicates += done.duplicates
            for reason in [*refused, *done.failed]:
                report.fail(where, _without_prefix(reason, where))
                total.failed.append(reason)
        return total

    def reindex(self, actor: User, executor: str = "local") -> int:
        """Re-run enrichment over every document (after a model or lexicon change).

        The pass covers every document; what `actor` is told is how many of
        those they may read, never how many exist. `executor` as for `ingest`.
        """
        require(actor.role, ANALYST, "reindex")

        def fresh_enricher() -> Enricher:
            # Re-read the workspace lexicon (and the ATT&CK catalogue, if one was imported).
            self._enricher = Enricher(self.home, techniques=self._mapper_if_catalogue)
            return self._enricher

        with self._executor(executor, fresh_enricher) as running:
            reindex(self.store, running)
        count = self.store.stats(actor.clearance).documents
        self.store.audit(actor.name, "reindex", {"documents": count})
        return count

    def _executor(self, spec: str, local_enricher: Callable[[], Enricher]) -> Executor:
        """The executor of an ingest or reindex: `local` enriches with this process's
        Enricher; Dask workers build theirs from the workspace folder and the ATT&CK
        catalogue read here (workers never open the store)."""
        return open_executor(spec, local_enricher, self._enrichment_recipe)

    def _enrichment_recipe(self) -> tuple[EnrichmentRecipe, list[dict[str, Any]]]:
        from guetteur.enrich.places import Gazetteer

        # Built here, once, if missing: workers starting together would each build it.
        Gazetteer.open(self.home / GAZETTEER_FILE).close()
        catalogue = self.store.attack_catalogue()
        return EnrichmentRecipe.of(self.home, self.home / CACHE_DIR, catalogue), catalogue

    # ----------------------------------------------------------------- reads
    def search(self, reader: User, query: str, limit: int = 10) -> list[SearchResult]:
        results = hybrid_search(self.store, query, reader.clearance, limit)
        self.store.audit(
            reader.name,
            "search",
            {"query": query, "limit": limit, "doc_ids": [r.id for r in results]},
        )
        return results

    def show(self, reader: User, doc_id: str) -> Document:
        try:
            document = self.store.get_document(doc_id, reader.clearance)
        except NotFoundError:
            self.store.audit(reader.name, "show", {"doc_id": doc_id, "found": False})
            raise
        self.store.audit(
            reader.name,
            "show",
            {"doc_id": doc_id, "found": True, "marking": str(document.marking)},
        )
        return document

    def entities(self, reader: User, entity_type: str | None = None) -> list[EntitySummary]:
        found = self.store.list_entities(reader.clearance, entity_type)
        self.store.audit(reader.name, "entities", {"type": entity_type, "count": len(found)})
        return found

    def entity(self, reader: User, name_or_id: str) -> EntityDetail:
        """An entity from the reader's documents, with the tracks whose callsign it is;
        or, named by no readable document, a callsign only the reader's tracks give."""
        tracks = self.store.list_tracks(reader.clearance)
        try:
            detail = self.store.get_entity(name_or_id, reader.clearance)
            named = tracks_named(tracks, detail.entity.type, detail.aliases)
            detail = replace(detail, tracks=tuple(named))
        except NotFoundError:
            found = self._callsign_of_tracks(tracks, name_or_id)
            if found is None:
                self.store.audit(reader.name, "entity", {"query": name_or_id, "found": False})
                raise
            detail = found
        self.store.audit(
            reader.name, "entity", {"query": name_or_id, "found": True, "id": detail.entity.id}
        )
        return detail

    def _callsign_of_tracks(self, tracks: Sequence[Track], query: str) -> EntityDetail | None:
        """The callsign entity that tracks alone give (no readable report names it),
        found by its name or by its id — the id a report naming it would give it."""
        by_key: dict[str, list[Track]] = {}
        for track in tracks:
            if track.callsign:
                by_key.setdefault(name_key(track.callsign, "callsign"), []).append(track)
        key = name_key(query, "callsign")
        if key not in by_key:
            key = next(
                (k for k in by_key if self.store.opaque_id("entity", "callsign", k) == query), ""
            )
        named = by_key.get(key) if key else None
        if not named:
            return None
        spellings = sorted({t.callsign for t in named if t.callsign})
        name = min(spellings, key=lambda s: (-sum(t.callsign == s for t in named), s))
        # Named by the tracks' callsigns, each from its last readable position.
        marking = high_water_mark(t.positions[-1].marking for t in named)
        summary = EntitySummary(
            self.store.opaque_id("entity", "callsign", key), name, "callsign", 0, 0, marking
        )
        return EntityDetail(summary, spellings, [], [], tuple(named))

    def track_history(self, reader: User, track: Track) -> list[EventRow]:
        """Events of the reader's reports that name the track or happened near it
        (cop/picture.py: within 5 km and 6 hours of one of its positions)."""
        return events_near(track, self.store.list_events(reader.clearance))

    def events(
        self, reader: User, since: datetime | None = None, bbox: BBox | None = None
    ) -> list[EventRow]:
        found = self.store.list_events(reader.clearance, since, bbox)
        self.store.audit(reader.name, "events", {"since": since, "bbox": bbox, "count": len(found)})
        return found

    # ---------------------------------------------------------------- tracks
    def ingest_cot(
        self, actor: User, events: Sequence[CotEvent], source: str, marking: Marking
    ) -> CotIngestReport:
        """Store CoT events as track positions, each at `marking` raised by its `access`.

        `marking` is the channel's: a file run's --marking (or its source's
        default), a listener's declared marking. One transaction, one audit
        record ("cot.ingest", with counts) per call.
        """
        require(actor.role, ANALYST, "ingest")
        return store_positions(self.store, events, source, marking, actor.name, actor.clearance)

    def tracks(
        self, reader: User, bbox: BBox | None = None, since: datetime | None = None
    ) -> list[Track]:
        """Tracks as the positions the reader may read draw them (see TrackStore)."""
        found = self.store.list_tracks(reader.clearance, bbox, since)
        self.store.audit(reader.name, "tracks", {"since": since, "bbox": bbox, "count": len(found)})
        return found

    def track(self, reader: User, uid: str) -> Track:
        """One track; NotFoundError alike whether it is absent or wholly unreadable."""
        try:
            found = self.store.get_track(uid, reader.clearance)
        except NotFoundError:
            self.store.audit(reader.name, "track", {"uid": uid, "found": False})
            raise
        self.store.audit(reader.name, "track", {"uid": uid, "found": True})
        return found

    # ----------------------------------------------------- models and products
    def model_settings(self) -> ModelSettings:
        """Environment first, then WORKSPACE/config.toml; nothing set: extractive products."""
        return resolve_settings(self.home / CONFIG_FILE, os.environ)

    def model(self) -> ChatModel | None:
        """The configured language model, opened once (None: extractive mode)."""
        if self._primary is not None:
            return self._primary.model()
        if not self._model_opened:
            self._model = open_model(self.model_settings(), [self.home / MODELS_MANIFEST])
            self._model_opened = True
        return self._model

    def _recorder(self, user: User) -> Callable[[ModelCall], None]:
        def record(call: ModelCall) -> None:
            self.store.audit(
                user.name,
                "llm.call",
                {
                    "model": call.model_id,
                    "prompt_sha256": call.prompt_sha256,
                    "passages": list(call.passages),
                    "purpose": call.purpose,
                    **call.extra,
                },
            )

        return record

    def ask(
        self,
        reader: User,
        question: str,
        language: str | None = None,
        on_token: Callable[[str], None] | None = None,
    ) -> Answer:
        answer = answer_question(
            self.store,
            question,
            reader.clearance,
            model=self.model(),
            language=language,
            record=self._recorder(reader),
            on_token=on_token,
        )
        self.store.audit(
            reader.name,
            "ask",
            {
                "question": question,
                "supported": answer.supported,
                "mode": answer.mode,
                "marking": str(answer.marking),
                "doc_ids": sorted({c.doc_id for c in answer.citations}),
            },
        )
        return answer

    def brief(
        self,
        reader: User,
        *,
        form: str = "intsum",
        language: str = "en",
        since: datetime | None = None,
        topic: str | None = None,
        bbox: BBox | None = None,
        releasable_to: frozenset[str] = frozenset(),
    ) -> Brief:
        brief = write_brief(
            self.store,
            reader.clearance,
            form=form,
            language=language,
            since=since,
            topic=topic,
            bbox=bbox,
            releasable_to=releasable_to,
            model=self.model(),
            record=self._recorder(reader),
        )
        self.store.audit(
            reader.name,
            "brief",
            {
                "format": form,
                "topic": topic,
                "since": since,
                "releasable_to": sorted(releasable_to),
                "marking": str(brief.marking),
                "mode": brief.mode,
                "doc_ids": [s.doc_id for s in brief.sources],
            },
        )
        return brief

    def watch_add(self, owner: User, name: str, text: str) -> Requirement:
        require(owner.role, ANALYST, "watch add")
        requirement = self.store.add_requirement(owner.name, name, text)
        self.store.audit(owner.name, "watch.add", {"name": name, "text": text})
        return requirement

    def watch_list(self, owner: User) -> list[Requirement]:
        found = self.store.list_requirements(owner.name)
        self.store.audit(owner.name, "watch.list", {"names": [r.name for r in found]})
        return found

    def watch_run(self, owner: User) -> list[WatchRun]:
        """What is new for each of `owner`'s requirements since their last report."""
        runs = [
            report_requirement(self.store, requirement, owner.clearance)
            for requirement in self.store.list_requirements(owner.name)
        ]
        self.store.audit(
            owner.name,
            "watch.run",
            {r.requirement.name: [h.doc_id for h in r.hits] for r in runs},
        )
        return runs

    def evaluate_watches(self) -> int:
        """Evaluate every requirement on new passages, each under its owner's clearance."""
        found = 0
        for requirement in self.store.list_requirements():
            owner = self.store.get_user(requirement.owner)
            found += len(evaluate_requirement(self.store, requirement, owner.clearance))
        return found

    # ----------------------------------------------------------------- cyber
    def rule_groups(self) -> list[RuleGroup]:
        """The Sigma rules loaded into this workspace, grouped by their marking."""
        folder = self.home / RULES_DIR
        groups: dict[str, RuleGroup] = {}
        for key, _owner, _rule_id, marking in self.store.sigma_rules():
            path = folder / f"{key}.yml"
            if not path.is_file():
                continue  # removed by hand: nothing to run
            group = groups.setdefault(str(marking), (RuleSet(), marking))
            group[0].add(load_rule(path))
        return list(groups.values())

    def ingest_alerts(
        self,
        actor: User,
        paths: Sequence[Path],
        source: str,
        marking: Marking | None = None,
        fmt: AlertFormat = "auto",
    ) -> AlertIngestReport:
        require(actor.role, ANALYST, "alerts ingest")
        return ingest_alerts(
            self.store,
            paths,
            source,
            marking,
            self.rule_groups(),
            fmt=fmt,
            actor=actor.name,
            writer=actor.clearance,
        )

    def load_rules(
        self, actor: User, folder: Path, marking: Marking | None = None
    ) -> tuple[RuleSet, int]:
        """Compile a folder of Sigma rules, keep the usable ones under `actor`'s name and
        `marking`, run them over stored events. Returns the rules and how many new
        alerts `actor` may read (never a count of alerts on events above them)."""
        require(actor.role, ANALYST, "rules load")
        chosen = marking or self.store.source_default_marking(SIGMA_SOURCE)
        if chosen is None:
            raise WorkspaceError(
                f"{folder}: no marking for these rules; give --marking (a rule shows what "
                "you look for, and the alerts it raises carry its marking)"
            )
        loaded = load_rules(folder)
        target = self.home / RULES_DIR
        target.mkdir(mode=0o700, parents=True, exist_ok=True)
        for rule in loaded.rules:
            # Keyed by owner, rule id and marking: a user's newer copy replaces their
            # own rule at that marking, never another user's, and a copy loaded at
            # another marking is another rule — loading one above some reader never
            # takes away the alerts of the one they may read.
            key = self.store.opaque_id("sigma", actor.name, rule.id, str(chosen))
            shutil.copyfile(rule.path, target / f"{key}.yml")
            (target / f"{key}.yml").chmod(0o600)
            self.store.add_sigma_rule(key, actor.name, rule.id, chosen)
        raised = run_rules(self.store, loaded, chosen, actor.clearance)
        self.store.audit(
            actor.name,
            "rules.load",
            {
                "folder": str(folder),
                "marking": str(chosen),
                "rules": [rule.id for rule in loaded.rules],
                "unsupported": len(loaded.unsupported),
                "alerts": raised,
            },
        )
        return loaded, raised

    def alerts(
        self,
        reader: User,
        since: datetime | None = None,
        rule_id: str | None = None,
        limit: int | None = None,
    ) -> list[tuple[StoredAlert, str | None]]:
        """Alerts the reader may read, each with the id of the incident it belongs to."""
        listed = self.store.list_alerts(reader.clearance, since, rule_id, limit)
        incident_of = {
            alert.alert.id: view.incident.id
            for view in self._incidents(reader, since)
            for alert in view.alerts
        }
        self.store.audit(
            reader.name,
            "alerts",
            {"since": since, "rule": rule_id, "limit": limit, "count": len(listed)},
        )
        return [(stored, incident_of.get(stored.alert.id)) for stored in listed]

    def incidents(
        self, reader: User, since: datetime | None = None, min_severity: Severity | None = None
    ) -> list[IncidentView]:
        found = self._incidents(reader, since, min_severity)
        self.store.audit(
            reader.name,
            "incidents",
            {"since": since, "min_severity": min_severity, "ids": [v.incident.id for v in found]},
        )
        return found

    def _incidents(
        self, reader: User, since: datetime | None = None, min_severity: Severity | None = None
    ) -> list[IncidentView]:
        return incidents_for(
            self.store,
            reader.clearance,
            since,
            min_severity,
            self.asset_criticality(),
            technique_cache=self.home / CACHE_DIR,
        )

    def incident(self, reader: User, incident_id: str) -> IncidentView:
        found = next((v for v in self._incidents(reader) if v.incident.id == incident_id), None)
        self.store.audit(reader.name, "incident", {"id": incident_id, "found": found is not None})
        if found is None:
            raise NotFoundError(f"no incident {incident_id!r}")
        return found

    def incident_synthesis(
        self, reader: User, view: IncidentView, lang: str = "en"
    ) -> IncidentSynthesis:
        """The incident's synthesis for command, written by the model when one is configured."""
        return synthesise_incident(view, lang, self.model(), self._recorder(reader))

    def import_intel(
        self, actor: User, path: Path, source: str, marking: Marking | None = None
    ) -> IntelImportReport:
        """A partner's STIX bundle or MISP event: indicators to match, entities to know."""
        require(actor.role, ANALYST, "intel import")
        return import_intel(self.store, path, source, marking, self.enricher, actor.name)

    def incident_stix(self, view: IncidentView, lang: str = "en") -> dict[str, Any]:
        """The incident as a STIX 2.1 bundle (validated), marked like the incident."""
        records = self.store.attack_catalogue()
        names = {str(r.get("id")): str(r.get("name", "")) for r in records}
        incident = view.incident
        bundle = incident_bundle(
            incident_id=incident.id,
            title=incident.title,
            summary=summarise(incident, lang),
            alerts=[a.alert for a in view.alerts],
            techniques=[(t, names.get(t, t)) for t in incident.techniques],
            indicators=[i for i, _ in view.indicators],
            marking=str(view.marking),
            created=incident.last_seen,
        )
        validate_bundle(bundle)
        return bundle

    def import_intel_objects(
        self,
        actor: User,
        objects: Sequence[Mapping[str, Any]],
        name: str,
        source: str,
        marking: Marking | None = None,
    ) -> list[tuple[Path, Marking, IntelImportReport]]:
        """STIX objects pulled from a partner's TAXII collection, each kept at its own marking.

        Objects already pulled in the same version are left out (with what the
        new ones need: marking definitions, attributions), so pulling a whole
        collection again stores nothing twice. The rest is split into one
        bundle per set of markings (`split_by_marking`); each is kept in
        WORKSPACE/intel/ as NAME-N.json, the file its records' origins point
        into, and imported as `import_intel` imports a file. Every bundle's
        marking is decided before anything is stored: one that states none,
        with no `marking` and no default for `source`, refuses the whole pull.
        Returns each file with its marking and import report.
        """
        require(actor.role, ANALYST, "intel import")
        folder = self.home / INTEL_DIR
        folder.mkdir(mode=0o700, exist_ok=True)
        stem = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "taxii"
        default = self.store.source_default_marking(source)
        planned: list[tuple[Path, Marking, dict[str, Any]]] = []
        for number, bundle in enumerate(
            split_by_marking(unseen(objects, self._pulled_versions(folder))), start=1
        ):
            path = folder / f"{stem}-{number}.json"
            chosen = file_marking(path, parse_stix(bundle, str(path)), marking, default)
            planned.append((path, chosen, bundle))
        imported: list[tuple[Path, Marking, IntelImportReport]] = []
        for path, chosen, bundle in planned:
            # O_EXCL: a pull never overwrites the file an earlier one's origins point into.
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                json.dump(bundle, handle, ensure_ascii=False)
            try:
                report = self.import_intel(actor, path, source, marking)
            except BaseException:
                path.unlink()  # not imported: the next pull must not count it as pulled
                raise
            imported.append((path, chosen, report))
        return imported

    @staticmethod
    def _pulled_versions(folder: Path) -> set[tuple[str, str]]:
        """(id, version) of every object the kept pulls hold."""
        seen: set[tuple[str, str]] = set()
        for path in sorted(folder.glob("*.json")):
            bundle = load_intel_json(path)
            objects = bundle.get("objects") if isinstance(bundle, dict) else None
            for stix in objects if isinstance(objects, list) else []:
                if isinstance(stix, dict) and isinstance(stix.get("id"), str):
                    seen.add((stix["id"], stix_version(stix)))
        return seen

    def taxii_page(
        self, reader: User, collection: str, query: TaxiiQuery, endpoint: str = "objects"
    ) -> TaxiiPage:
        """One page of a TAXII collection ('intel' or 'incidents'), as `reader` may receive it.

        TAXII is the face partners pull from, so it serves what a tear-line
        release to the reader's own nation would pass: `may_read` under
        `Clearance.for_release_to({nationality})` — level within the reader's
        clearance, the nation within the marking's releasability (its REL TO,
        or what its label implies: NATO labels the NATO nations, French
        national labels FRA only, plain UNCLASSIFIED everyone), and no caveat
        at all, even one the reader holds. The page served is audited.
        """
        page = select_page(self._taxii_entries(reader, collection), query)
        self.store.audit(
            reader.name,
            "taxii.read",
            {"collection": collection, "endpoint": endpoint, "ids": [e.id for e in page.entries]},
        )
        return page

    def _taxii_entries(self, reader: User, collection: str) -> list[StixEntry]:
        nation = frozenset({reader.clearance.nationality})
        release = replace(reader, clearance=reader.clearance.for_release_to(nation))
        if collection == INCIDENTS.alias:
            exported = []
            for view in self._incidents(release):
                try:
                    bundle = self.incident_stix(view)
                except InvalidStixError:
                    raise
                except ValueError:  # no observable, indicator or technique: no STIX to carry
                    continue
                exported.append((bundle, view.marking, view.incident.last_seen))
            return incident_entries(exported)
        if collection != INTEL.alias:
            raise NotFoundError(f"no TAXII collection {collection!r}")
        # An indicator was added with the intel document its import wrote (same
        # file, same marking); the document's lines name the file's intel objects.
        added: dict[tuple[str, Marking], datetime] = {}
        objects = []
        for listed in self.store.iter_documents(release.clearance, text=False):
            if not listed.title.startswith(INTEL_TITLE_PREFIX):
                continue
            added.setdefault((listed.origin, listed.marking), listed.ingested_at)
            document = self.store.get_document(listed.id, release.clearance)
            stated = intel_document_objects(document.text)
            objects += [(item, document.marking, document.ingested_at) for item in stated]
        indicators = [
            (indicator, marking, added.get((indicator.origin.rpartition("#")[0], marking), EPOCH))
            for indicator, marking in self.store.list_indicators(release.clearance)
        ]
        return intel_entries(indicators, objects, self.store.opaque_id)

    def asset_criticality(self) -> dict[str, int]:
        """host → criticality 1..5, from WORKSPACE/assets.csv (columns host, criticality)."""
        path = self.home / ASSETS_FILE
        if not path.exists():
            return {}
        assets: dict[str, int] = {}
        with path.open(encoding="utf-8", newline="") as handle:
            for line, row in enumerate(csv.DictReader(handle), start=2):
                try:
                    level = int(row["criticality"])
                    if not 1 <= level <= 5:
                        raise ValueError(level)
                    assets[row["host"].strip()] = level
                except (KeyError, TypeError, ValueError, AttributeError):
                    raise WorkspaceError(
                        f"{path}:{line}: expected columns host,criticality with 1..5"
                    ) from None
        return assets

    def import_attack(self, actor: User, path: Path) -> Catalogue:
        require(actor.role, ANALYST, "attack import")
        catalogue = load_catalogue(path)
        self.store.set_attack_catalogue(catalogue.to_records())
        self.store.audit(
            actor.name,
            "attack.import",
            {"path": str(path), "techniques": len(catalogue), "digest": catalogue.digest},
        )
        return catalogue

    def _mapper_if_catalogue(self) -> TechniqueMapper | None:
        """The prose mapper when an ATT&CK catalogue is imported, for enrichment."""
        records = self.store.attack_catalogue()
        if not records:
            return None
        return TechniqueMapper(Catalogue.from_records(records), cache_dir=self.home / CACHE_DIR)

    def attack_mapper(self) -> TechniqueMapper:
        records = self.store.attack_catalogue()
        if not records:
            raise WorkspaceError(
                f"{self.home}: no ATT&CK catalogue; import one with `guetteur attack import FILE` "
                "(a STIX bundle of ATT&CK, or techniques.csv with tactics.csv beside it)"
            )
        return TechniqueMapper(Catalogue.from_records(records), cache_dir=self.home / CACHE_DIR)

    # ------------------------------------------------------------- logistics
    def logistics_import(
        self, actor: User, paths: Sequence[Path], marking: Marking | None = None
    ) -> ImportReport:
        """Logistics tables (CSV, XLSX) into the workspace, each row at its marking.

        Bad rows and tables are listed with their reasons and the rest loads.
        The report is a function of the files alone: it never says whether a
        row replaced one already held (which might be above the importer)."""
        require(actor.role, ANALYST, "logistics import")
        report = read_tables(paths, marking, lambda: self.enricher.gazetteer)
        with self.store.atomic():
            self.store.add_logistics_records(report.records, actor.name)
            self.store.audit(
                actor.name,
                "logistics.import",
                {
                    "paths": [str(path) for path in paths],
                    "marking": str(marking) if marking is not None else None,
                    "tables": [
                        {"path": t.path, "kind": t.kind, "rows": t.rows} for t in report.tables
                    ],
                    "records": len(report.records),
                    "failed": len(report.failed),
                },
            )
        return report

    def logistics_forecast(
        self, reader: User, horizon_days: int = 7, quantile: float = 0.9
    ) -> list[Forecast]:
        """Each unit's consumption per class over the horizon, from the history the
        reader may read, with its interval and the quantity to deliver."""
        _check_forecast(horizon_days, quantile)
        records = self.store.list_logistics_records(reader.clearance, ["consumption"])
        found = forecast_consumption(records, horizon_days, quantile)
        self.store.audit(
            reader.name,
            "logistics.forecast",
            {"horizon_days": horizon_days, "quantile": quantile, "series": len(found)},
        )
        return found

    def logistics_plan(
        self,
        reader: User,
        *,
        avoid_threats: bool = False,
        since: datetime | None = None,
        time_limit: float = 30.0,
        releasable_to: frozenset[str] = frozenset(),
        threat_kinds: Sequence[str] = THREAT_KINDS,
        radius_km: Mapping[str, float] | None = None,
        penalty_km: float | None = None,
        horizon_days: int = 1,
        quantile: float = 0.9,
        day: date | None = None,
    ) -> Plan:
        """A resupply plan from the tables and reports the reader may read.

        With `releasable_to`, a tear-line plan: only rows and reports releasable
        to those nations take part (the rule of `brief`), and the plan is marked
        by them alone. Threats (`avoid_threats`, or a `penalty_km` per crossing)
        come from the reader's events of `threat_kinds` since `since`.
        """
        _check_forecast(horizon_days, quantile)
        if not 0 < time_limit <= 3600:
            raise InvalidInputError(f"time limit {time_limit:g} s: between 0 and 3600 seconds")
        unknown = sorted(set(threat_kinds) - set(THREAT_KINDS))
        if unknown:
            raise InvalidInputError(
                f"threat kind {', '.join(unknown)}: choose from {', '.join(THREAT_KINDS)}"
            )
        if penalty_km is not None and penalty_km < 0:
            raise InvalidInputError(f"threat penalty {penalty_km:g} km: not negative")
        for kind, radius in (radius_km or {}).items():
            if kind not in THREAT_KINDS or not 0 < radius <= 500:
                raise InvalidInputError(f"radius {kind}={radius:g}: a threat kind, 0-500 km")
        clearance = (
            reader.clearance.for_release_to(releasable_to) if releasable_to else reader.clearance
        )
        records = self.store.list_logistics_records(clearance)
        threats = avoid_threats or penalty_km is not None
        events = self.store.list_events(clearance, since) if threats else []
        options = PlanOptions(
            avoid_threats=avoid_threats,
            threat_kinds=tuple(threat_kinds),
            radius_km=dict(radius_km or {}),
            penalty_km=penalty_km,
            since=since,
            time_limit_s=time_limit,
            horizon_days=horizon_days,
            quantile=quantile,
            day=day,
        )
        plan = plan_resupply(records, events, options, reader_floor_marking(clearance))
        self.store.audit(
            reader.name,
            "logistics.plan",
            {
                "avoid_threats": avoid_threats,
                "penalty_km": penalty_km,
                "since": since,
                "releasable_to": sorted(releasable_to),
                "doc_ids": sorted({a.doc_id for a in plan.avoided}),
                "marking": str(plan.marking),
                "feasible": plan.feasible,
            },
        )
        return plan

    def stats(self, reader: User) -> DocumentStats:
        found = self.store.stats(reader.clearance)
        self.store.audit(reader.name, "stats", {"documents": found.documents})
        return found

    def verify_audit(self, extends: ChainHead | None = None) -> tuple[int, str]:
        """(rows, head) of an intact, protected, complete chain that extends `extends`."""
        return self.store.verify_audit(extends)

    def read_anchor(self, path: Path, public_key: str) -> ChainHead:
        """The chain point an anchor file pins, once signed by the key the verifier trusts."""
        try:
            checkpoint = json.loads(path.read_text(encoding="utf-8"))
        except OSError as error:
            raise AnchorError(f"{path}: cannot read the anchor ({error.strerror})") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise AnchorError(f"{path}: not a guetteur audit anchor ({error})") from None
        if not isinstance(checkpoint, dict):
            raise AnchorError(f"{path}: not a guetteur audit anchor (not a JSON object)")
        return checked_checkpoint(checkpoint, read_trusted_key(public_key), str(path))

    def anchor_audit(self, actor: User, key_path: Path) -> dict[str, Any]:
        """A signed checkpoint of the chain as it is now (verified first: never sign a
        broken log), itself recorded in the audit."""
        require(actor.role, SECURITY_OFFICER, "anchoring the audit log")
        key = read_key_file(key_path, self.home)
        rows, head = self.verify_audit()
        checkpoint = signed_checkpoint(key, ChainHead(rows, head), datetime.now(UTC))
        self.store.audit(
            actor.name,
            "audit.anchor",
            {"rows": rows, "head": head, "fingerprint": checkpoint["fingerprint"]},
        )
        return checkpoint

    @staticmethod
    def _readable_by_others(home: Path) -> list[str]:
        """The workspace folder and files that group or others may read, with their modes."""
        exposed: list[str] = []
        try:
            folder_mode = home.stat().st_mode & 0o777
        except OSError:
            return exposed
        if folder_mode & 0o077:
            exposed.append(f"{home} is {folder_mode:04o}")
        if folder_mode & 0o011:  # others can reach the files: name the readable ones
            for name in (
                DATABASE_NAME,
                f"{DATABASE_NAME}-wal",
                f"{DATABASE_NAME}-shm",
                STORE_CONFIG,
            ):
                try:
                    mode = (home / name).stat().st_mode & 0o777
                except OSError:
                    continue
                if mode & 0o044:
                    exposed.append(f"{name} is {mode:04o}")
        return exposed
