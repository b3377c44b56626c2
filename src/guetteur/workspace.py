"""A workspace: one folder holding a store, and the operations users perform on it.

This is the layer every face (CLI now, HTTP API next) calls. It resolves who
is acting (`--as USER`, else the workspace's default user), hands that user's
clearance to every read, and writes the audit event of every user change,
ingest, search and show — so the rules hold whatever face is used.
"""

from __future__ import annotations

import csv
import os
import shutil
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from guetteur._exceptions import NotFoundError, WorkspaceError
from guetteur.cyber.attack import Catalogue, TechniqueMapper, load_catalogue
from guetteur.cyber.intel import incident_bundle, validate_bundle
from guetteur.cyber.sigma import RuleSet, load_rules
from guetteur.cyber.triage import summarise
from guetteur.llm import ChatModel, ModelSettings, open_model, resolve_settings
from guetteur.model import Clearance, Document, Grade, Marking, Severity
from guetteur.pipeline.alerts import AlertFormat, AlertIngestReport, ingest_alerts, run_rules
from guetteur.pipeline.enrichment import Enricher
from guetteur.pipeline.ingest import IngestOptions, IngestReport, ingest_paths, reindex
from guetteur.pipeline.intel import IntelImportReport, import_intel
from guetteur.products import IncidentView, incidents_for
from guetteur.products.ask import Answer, answer_question
from guetteur.products.brief import Brief, write_brief
from guetteur.products.cited import ModelCall
from guetteur.products.incident_synthesis import IncidentSynthesis, synthesise_incident
from guetteur.products.watch import WatchRun, evaluate_requirement, report_requirement
from guetteur.search import SearchResult, hybrid_search
from guetteur.store import (
    BBox,
    DocumentStats,
    EntityDetail,
    EntitySummary,
    EventRow,
    Requirement,
    Store,
    StoredAlert,
    User,
)
from guetteur.store.sqlite import open_store

__all__ = ["DATABASE_NAME", "DEFAULT_HOME", "RULES_DIR", "Workspace", "resolve_home"]

DEFAULT_HOME = ".guetteur"
DATABASE_NAME = "guetteur.db"
RULES_DIR = "rules"  # the Sigma rules the workspace runs, copied in by `rules load`
CACHE_DIR = "cache"  # derived files (ATT&CK technique embeddings), safe to delete
ASSETS_FILE = "assets.csv"  # optional: host,criticality (1..5) for incident severity
CONFIG_FILE = "config.toml"  # optional: [llm] mode, url, model, gguf, timeout, ...
MODELS_MANIFEST = "models.sha256"  # SHA-256 of the weights files users bring


def resolve_home(home: str | Path | None) -> Path:
    """--home, else $GUETTEUR_HOME, else ./.guetteur."""
    chosen = home or os.environ.get("GUETTEUR_HOME") or DEFAULT_HOME
    return Path(chosen).expanduser()


class Workspace:
    """An opened workspace. Use `Workspace.create` or `Workspace.open`."""

    def __init__(self, home: Path, store: Store) -> None:
        self.home = home
        self.store = store
        self._enricher: Enricher | None = None
        self._model: ChatModel | None = None
        self._model_opened = False

    @property
    def enricher(self) -> Enricher:
        """spaCy pipelines and the gazetteer, loaded on first need."""
        if self._enricher is None:
            self._enricher = Enricher(self.home, techniques=self._mapper_if_catalogue)
        return self._enricher

    # ------------------------------------------------------------ lifecycle
    @classmethod
    def create(cls, home: Path, user: str, clearance: Clearance) -> Workspace:
        """A new workspace whose first user is the default for commands without --as."""
        database = home / DATABASE_NAME
        if database.exists():
            raise WorkspaceError(f"{home}: a workspace already exists here")
        home.mkdir(parents=True, exist_ok=True)
        workspace = cls(home, open_store(database))
        workspace.store.set_setting("default_user", user)
        workspace.add_user(user, clearance, actor=user)
        return workspace

    @classmethod
    def open(cls, home: Path) -> Workspace:
        database = home / DATABASE_NAME
        if not database.exists():
            raise WorkspaceError(
                f"no workspace at {home}: create one with `guetteur init --user NAME "
                f"--clearance LEVEL --nationality CCC` (or set GUETTEUR_HOME / --home)"
            )
        return cls(home, open_store(database))

    def close(self) -> None:
        if self._model is not None:
            self._model.close()
        self.store.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- users
    def user(self, name: str | None = None) -> User:
        """The named user, or the workspace's default user."""
        chosen = name or self.store.get_setting("default_user")
        if not chosen:
            raise WorkspaceError(f"{self.home}: no default user; pass --as USER")
        return self.store.get_user(chosen)

    def add_user(self, name: str, clearance: Clearance, actor: str) -> User:
        self.store.add_user(name, clearance)
        self.store.audit(
            actor,
            "user.add",
            {
                "user": name,
                "level": clearance.level.name,
                "nationality": clearance.nationality,
                "caveats": sorted(clearance.caveats),
            },
        )
        return self.store.get_user(name)

    def users(self) -> list[User]:
        return self.store.list_users()

    # ---------------------------------------------------------------- ingest
    def ingest(
        self,
        actor: User,
        paths: Sequence[Path],
        source: str,
        marking: Marking | None = None,
        grade: Grade | None = None,
        on_file: Callable[[Path], None] = lambda path: None,
    ) -> IngestReport:
        options = IngestOptions(source=source, marking=marking, grade=grade, actor=actor.name)
        report = ingest_paths(self.store, paths, options, enricher=self.enricher, on_file=on_file)
        if report.ingested:
            self.evaluate_watches()
        return report

    def reindex(self, actor: User, on_document: Callable[[str], None] = lambda d: None) -> int:
        """Re-run enrichment over every document (after a model or lexicon change)."""
        # Re-read the workspace lexicon (and the ATT&CK catalogue, if one was imported).
        self._enricher = Enricher(self.home, techniques=self._mapper_if_catalogue)
        count = reindex(self.store, self._enricher, on_document)
        self.store.audit(actor.name, "reindex", {"documents": count})
        return count

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
        return self.store.list_entities(reader.clearance, entity_type)

    def entity(self, reader: User, name_or_id: str) -> EntityDetail:
        try:
            detail = self.store.get_entity(name_or_id, reader.clearance)
        except NotFoundError:
            self.store.audit(reader.name, "entity", {"query": name_or_id, "found": False})
            raise
        self.store.audit(
            reader.name, "entity", {"query": name_or_id, "found": True, "id": detail.entity.id}
        )
        return detail

    def events(
        self, reader: User, since: datetime | None = None, bbox: BBox | None = None
    ) -> list[EventRow]:
        return self.store.list_events(reader.clearance, since, bbox)

    # ----------------------------------------------------- models and products
    def model_settings(self) -> ModelSettings:
        """Environment first, then WORKSPACE/config.toml; nothing set: extractive products."""
        return resolve_settings(self.home / CONFIG_FILE, os.environ)

    def model(self) -> ChatModel | None:
        """The configured language model, opened once (None: extractive mode)."""
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
        requirement = self.store.add_requirement(owner.name, name, text)
        self.store.audit(owner.name, "watch.add", {"name": name, "text": text})
        return requirement

    def watch_list(self, owner: User) -> list[Requirement]:
        return self.store.list_requirements(owner.name)

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
    def rules(self) -> RuleSet | None:
        """The Sigma rules loaded into this workspace, if any."""
        folder = self.home / RULES_DIR
        return load_rules(folder) if folder.is_dir() else None

    def ingest_alerts(
        self,
        actor: User,
        paths: Sequence[Path],
        source: str,
        marking: Marking | None = None,
        fmt: AlertFormat = "auto",
    ) -> AlertIngestReport:
        return ingest_alerts(
            self.store, paths, source, marking, self.rules(), fmt=fmt, actor=actor.name
        )

    def load_rules(self, actor: User, folder: Path) -> tuple[RuleSet, int]:
        """Compile a folder of Sigma rules, keep the usable ones, run them over stored events."""
        loaded = load_rules(folder)
        target = self.home / RULES_DIR
        target.mkdir(parents=True, exist_ok=True)
        for rule in loaded.rules:
            # Named by the rule's own id: loading a newer copy of a rule replaces it.
            shutil.copyfile(rule.path, target / f"{rule.id}.yml")
        raised = run_rules(self.store, loaded)
        self.store.audit(
            actor.name,
            "rules.load",
            {
                "folder": str(folder),
                "loaded": len(loaded.rules),
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
            for view in self.incidents(reader, since)
            for alert in view.alerts
        }
        return [(stored, incident_of.get(stored.alert.id)) for stored in listed]

    def incidents(
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
        found = next((v for v in self.incidents(reader) if v.incident.id == incident_id), None)
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

    def stats(self, reader: User) -> DocumentStats:
        return self.store.stats(reader.clearance)

    def verify_audit(self) -> tuple[int, str]:
        return self.store.verify_audit()
