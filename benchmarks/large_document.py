"""One huge single-line document: its ingest cost, and whether search and ask slow down after it.

    .venv/bin/python benchmarks/large_document.py [--megabytes 50] [--repeats 5] [--keep DIR]
        [--stages]

Builds two workspaces from the exercise scenario (examples/scenario), and adds
to the second one a generated document of N MB on a single line: the
scenario's reports flattened and repeated, each copy numbered (so the big
document matches the same questions as the scenario does: the hard case for
search). The big document is ingested in a child process, so its wall time
and peak RSS (the child's own `getrusage`) are its own, next to the same
child ingesting one short report first (the cost of any ingest: models,
gazetteer, store). Then the same questions are searched and asked in both
workspaces, in this process with warm models, the two workspaces taking turns
question by question, and the median latencies are printed with their ratio
(with / without; the target is at most 1.2), wall clock and this process's CPU
time (which other programs' load does not inflate).

A third workspace holds the scenario plus ordinary copies of its reports, as
many passages as the big document's workspace: search scores every readable
passage that holds a query word, so this says what the big document costs
beyond its number of passages.

With --keep DIR the two workspaces are built in DIR and kept; a later run with
the same DIR and size reuses them (only search and ask are timed again, and
the ingest figures printed are those of the build, said so).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path

from guetteur.enrich.embeddings import embed
from guetteur.search import fts_query
from guetteur.search.hybrid import POOL
from guetteur.security.markings import is_banner_line, parse_clearance, parse_marking
from guetteur.store.sqlite.fulltext import rank_passages
from guetteur.workspace import Workspace

SCENARIO = Path(__file__).resolve().parents[1] / "examples" / "scenario"
MARKING = "NATO UNCLASSIFIED"
QUESTIONS = (
    "convoi logistique vers Narva",
    "Where were the TOS-1A launchers seen?",
    "drones au-dessus de Tapa",
    "phishing campaign against the brigade",
    "Quel est l'état des stocks de carburant ?",
)


def make_big_document(path: Path, megabytes: float) -> None:
    """The scenario's reports on one line, repeated and numbered up to `megabytes` MB.

    Banner lines are left out: the document's marking is given with --marking,
    and a classification banner repeated in the middle of one line is not what
    the benchmark is about.
    """
    reports = [
        " ".join(
            line.strip()
            for line in p.read_text(encoding="utf-8").splitlines()
            if line.strip() and not is_banner_line(line)
        )
        for p in sorted((SCENARIO / "reports").rglob("*"))
        if p.suffix in {".txt", ".md"}
    ]
    target = int(megabytes * 2**20)
    written = 0
    with path.open("w", encoding="utf-8") as out:
        out.write("Compilation of exercise reports.")
        copy = 0
        while written < target:
            for report in reports:
                piece = f" Copy {copy}. {report}"
                out.write(piece)
                written += len(piece.encode("utf-8"))
            copy += 1
        out.write("\n")


def new_workspace(home: Path) -> Workspace:
    workspace = Workspace.create(home, "ops", parse_clearance("NATO SECRET", "FRA"))
    report = workspace.ingest(
        workspace.user(), [SCENARIO], source="exercise", marking=parse_marking(MARKING)
    )
    assert report.ingested, report.failed[:3]
    return workspace


def ingest_in_child(home: Path, document: Path) -> tuple[float, float, dict[str, object]]:
    """Wall seconds and peak RSS (MB) of ingesting `document` in a fresh process."""
    code = (
        "import json, sys; from pathlib import Path\n"
        "from guetteur.security.markings import parse_marking\n"
        "from guetteur.workspace import Workspace\n"
        "ws = Workspace.open(Path(sys.argv[1]))\n"
        "r = ws.ingest(ws.user(), [Path(sys.argv[2])], source='bulk',"
        f" marking=parse_marking({MARKING!r}))\n"
        "import resource\n"
        "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
        "print(json.dumps({'ingested': r.ingested, 'failed': r.failed, 'peak_mb': peak}))\n"
    )
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code, str(home), str(document)],
        capture_output=True,
        text=True,
        check=True,
    )
    seconds = time.perf_counter() - started
    report = json.loads(done.stdout.splitlines()[-1])
    return seconds, float(report["peak_mb"]), report


def median_latencies(
    workspaces: Sequence[Workspace], action: str, repeats: int
) -> tuple[list[float], list[float]]:
    """Median seconds of `action` in each workspace: wall clock, and this process's
    CPU time.

    The workspaces take turns question by question, so that a machine busy
    with something else slows all alike instead of one of them; CPU time does
    not count the waits for a core another program holds.
    """

    def run(workspace: Workspace, question: str) -> None:
        reader = workspace.user()
        if action == "search":
            workspace.search(reader, question)
        else:
            workspace.ask(reader, question)

    for question in QUESTIONS:  # warm models and caches
        for workspace in workspaces:
            run(workspace, question)
    wall: list[list[float]] = [[] for _ in workspaces]
    cpu: list[list[float]] = [[] for _ in workspaces]
    for _ in range(repeats):
        for question in QUESTIONS:
            for n, workspace in enumerate(workspaces):
                started, started_cpu = time.perf_counter(), time.process_time()
                run(workspace, question)
                wall[n].append(time.perf_counter() - started)
                cpu[n].append(time.process_time() - started_cpu)
    return [statistics.median(t) for t in wall], [statistics.median(t) for t in cpu]


def stage_latencies(workspaces: Sequence[Workspace], repeats: int) -> dict[str, list[float]]:
    """Median CPU seconds of each store read of a search, per workspace (--stages)."""
    stages: dict[str, Callable[[Workspace, str], object]] = {
        "embed the question": lambda w, q: embed([q]),
        "BM25 ranking": lambda w, q: rank_passages(
            w.store._db,  # noqa: SLF001 - the benchmark times the store's own query
            fts_query(q),
            w.store.readable_marking_ids(w.user().clearance),
            POOL,
        ),
        "search_text (ranking + hits)": lambda w, q: w.store.search_text(
            fts_query(q), w.user().clearance, POOL
        ),
        "search_vector": lambda w, q: w.store.search_vector(
            embed([q])[0], w.user().clearance, POOL
        ),
        "whole search": lambda w, q: w.search(w.user(), q),
    }
    times: dict[str, list[list[float]]] = {name: [[] for _ in workspaces] for name in stages}
    for round_ in range(repeats + 1):
        for question in QUESTIONS:
            for n, workspace in enumerate(workspaces):
                for name, call in stages.items():
                    started = time.process_time()
                    call(workspace, question)
                    if round_:  # the first round warms caches
                        times[name][n].append(time.process_time() - started)
    return {name: [statistics.median(t) for t in per] for name, per in times.items()}


def build_ordinary(root: Path, passages: int) -> None:
    """The third workspace: the scenario plus copies of its reports, numbered, until
    it holds at least `passages` passages (as many as the big document's workspace).

    It tells what the big document costs against the same number of ordinary
    passages: search scores every readable passage that holds a query word.
    """
    home = root / "ordinary"
    copies = root / "ordinary-reports"
    copies.mkdir()
    reports = [
        p.read_text(encoding="utf-8")
        for p in sorted((SCENARIO / "reports").rglob("*"))
        if p.suffix in {".txt", ".md"}
    ]
    with new_workspace(home) as workspace:
        round_ = 0
        while workspace.store.stats(workspace.user().clearance).chunks < passages:
            folder = copies / f"round{round_}"
            folder.mkdir()
            for n, text in enumerate(reports):
                lines = text.splitlines()
                lines.insert(1, f"Copy {round_} of the exercise reports.")
                (folder / f"r{n:03}.txt").write_text("\n".join(lines) + "\n", "utf-8")
            workspace.ingest(
                workspace.user(), [folder], source="copies", marking=parse_marking(MARKING)
            )
            round_ += 1


def build(root: Path, megabytes: float) -> dict[str, object]:
    """Both workspaces in `root` (plain, big) and the figures of the big ingest."""
    big = root / "big.txt"
    make_big_document(big, megabytes)
    size_mb = big.stat().st_size / 2**20
    new_workspace(root / "plain").close()
    new_workspace(root / "big").close()
    # Baseline: the same child process ingesting one short report (models,
    # gazetteer and store loaded: what any ingest costs).
    small = root / "small.txt"
    small.write_text("Compilation of one report. Convoy seen near Tapa.\n", "utf-8")
    base_seconds, base_mb, _ = ingest_in_child(root / "big", small)
    seconds, peak_mb, report = ingest_in_child(root / "big", big)
    assert report["ingested"] == 1, report
    big.unlink()
    return {
        "megabytes": megabytes,
        "size_mb": size_mb,
        "seconds": seconds,
        "peak_mb": peak_mb,
        "base_seconds": base_seconds,
        "base_mb": base_mb,
        "built_at": time.strftime("%Y-%m-%d %H:%M"),
    }


def measure(
    root: Path, built: dict[str, object], repeats: int, reused: bool, stages: bool = False
) -> None:
    if not (root / "ordinary").exists():
        with Workspace.open(root / "big") as loaded:
            build_ordinary(root, loaded.store.stats(loaded.user().clearance).chunks)
    names = ("plain", "big", "ordinary")
    with ExitStack() as stack:
        workspaces = [stack.enter_context(Workspace.open(root / name)) for name in names]
        plain, loaded, ordinary = workspaces
        stats = loaded.store.stats(loaded.user().clearance)
        print(f"big document: {built['size_mb']:.1f} MB on one line")
        print(
            f"  ingest{' (at the build, ' + str(built['built_at']) + ')' if reused else ''}: "
            f"{built['seconds']:.1f} s, peak RSS {built['peak_mb']:.0f} MB (child process); "
            f"one short report: {built['base_seconds']:.1f} s, {built['base_mb']:.0f} MB"
        )
        print(f"  workspace after it: {stats.documents} documents, {stats.chunks} passages")
        sizes = [(root / name / "guetteur.db").stat().st_size / 2**20 for name in ("plain", "big")]
        print(f"  database: {sizes[1]:.0f} MB with it, {sizes[0]:.0f} MB without")
        same = ordinary.store.stats(ordinary.user().clearance)
        print(
            f"  comparison: the scenario plus ordinary copies of its reports, "
            f"{same.documents} documents, {same.chunks} passages"
        )
        for action in ("search", "ask"):
            wall, cpu = median_latencies(workspaces, action, repeats)
            for clock, (without, with_big, with_copies) in (("wall", wall), ("cpu", cpu)):
                print(
                    f"{action:6} ({clock:4}): {without * 1000:7.1f} ms without, "
                    f"{with_big * 1000:7.1f} ms with it: ratio {with_big / without:.2f}x; "
                    f"with as many ordinary passages {with_copies * 1000:7.1f} ms "
                    f"({with_copies / without:.2f}x)"
                )
        if stages:
            print("store reads of a search, CPU ms: without / with it / ordinary passages")
            for name, medians in stage_latencies(workspaces, repeats).items():
                print(f"  {name:30}" + " / ".join(f"{m * 1000:6.2f}" for m in medians))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=float, default=50.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--stages", action="store_true", help="also time each store read of a search"
    )
    parser.add_argument(
        "--keep",
        type=Path,
        metavar="DIR",
        help="build the workspaces in DIR and keep them; reuse them if DIR holds a build "
        "of the same size",
    )
    args = parser.parse_args()
    if args.keep is None:
        with tempfile.TemporaryDirectory() as scratch:
            root = Path(scratch)
            measure(
                root, build(root, args.megabytes), args.repeats, reused=False, stages=args.stages
            )
        return
    figures = args.keep / "build.json"
    if figures.exists():
        built = json.loads(figures.read_text("utf-8"))
        if built["megabytes"] != args.megabytes:
            sys.exit(
                f"{args.keep}: holds a build of {built['megabytes']} MB, not "
                f"{args.megabytes}; give another directory"
            )
        measure(args.keep, built, args.repeats, reused=True, stages=args.stages)
        return
    if args.keep.exists() and any(args.keep.iterdir()):
        sys.exit(f"{args.keep}: not empty and not a build of this benchmark")
    args.keep.mkdir(parents=True, exist_ok=True)
    built = build(args.keep, args.megabytes)
    figures.write_text(json.dumps(built), "utf-8")
    measure(args.keep, built, args.repeats, reused=False, stages=args.stages)


if __name__ == "__main__":
    main()
