"""Answer latency: question to first token and to full answer, retrieval and model apart.

    .venv/bin/python benchmarks/answer_latency.py [--repeat 3] [--no-model] [--json]

Builds a workspace of the exercise scenario once, as `guetteur demo` does
(examples/scenario ingested with source "exercise" and the NATO UNCLASSIFIED
floor marking, the demo's four users), then asks twelve questions about it,
six in French and six in English, as the FRA NATO SECRET user (who may read
every report). Each question is put, in turn:

- to the hybrid search alone (`guetteur.search.hybrid_search`, 10 documents):
  the baseline, every answer starts with it;
- to `answer_question` in extractive mode (no model): retrieval (passages,
  question embedding, sentence scoring: `Answer.retrieval_seconds`) and wall
  time to the full answer;
- to `answer_question` with the embedded model (SmolLM2-135M-Instruct through
  llama.cpp, `GUETTEUR_LLM=embedded`): retrieval, time to the first token
  counted from the question (wall time to the first `on_token` call, i.e.
  retrieval plus the model's prompt processing), and wall time to the full
  answer, citation check included.

Search and extractive times are the median of `--repeat` runs per question;
the model is asked once per question (greedy decoding: a second run writes
the same tokens). The products are called directly on the store, without the
workspace's audit writes, which cost the same in both modes. Two warm-up
questions, not counted, load the sentence encoder and the model's weights.
The tables give each question, then the median and 90th percentile (nearest
rank) of each column, and ratios of medians: extractive / search, model /
extractive, and the share of the model answer's time spent in retrieval. The
last lines count the model answers that kept at least one of the model's own
sentences after the citation check (the others show the extractive fallback
or "the sources do not answer"), and the model sentences the check dropped.

Measured on this machine (2 cores shared with other jobs: load average 4.8
when the run started, 2.5 when it ended) with
`.venv/bin/python benchmarks/answer_latency.py` (whole run 256 s, of which
45 s to build the scenario workspace):

    scenario workspace: 88 documents, built in 45.1 s; model opened in 1.0 s
    load average at the end: [2.51, 3.61, 3.97]
    seconds per question (FRA NATO SECRET reader; search and extractive: median of runs)
     # lang   search ext retr  ext tot mdl retr  1st tok  mdl tot kept/drop  question
     1 en       0.01     0.05     0.05     0.05     8.03    14.98     2/7    What hit the fuel depo…
     2 en       0.14     0.53     0.53     0.78    10.94    16.90     0/4    How many days of diese…
     3 en       0.02     0.12     0.12     0.21     5.77     9.83     0/4    Which intrusion set is…
     4 en       0.02     0.21     0.21     0.14     6.79    11.47     2/5    Which Varnian units mo…
     5 en       0.02     0.13     0.13     0.25     8.02    12.90     1/1    What bridging equipmen…
     6 en       0.23     0.91     0.91     0.92     6.53    10.68     2/5    Where were Orlan-10 dr…
     7 fr       0.01     0.05     0.05     0.05     9.01    14.13     0/3    Où se trouve la statio…
     8 fr       0.23     0.59     0.59     0.14    10.54    16.01     3/0    Qui est soupçonné du s…
     9 fr       0.02     0.14     0.14     0.51     6.87    11.49     5/2    Combien de temps la li…
    10 fr       0.04     0.72     0.72     0.94     7.49    12.60     4/0    Quel est le mode d'act…
    11 fr       0.15     0.51     0.51     0.94     8.73    13.84     0/1    Quel est l'état des st…
    12 fr       0.24     1.23     1.23     1.26     9.58    14.84     2/0    Quels sont les effets …
    median      0.03     0.36     0.36     0.38     8.02    13.37
    p90         0.23     0.91     0.91     0.94    10.54    16.01

    extractive_total / search                    12.6x
    model_total / extractive_total               37.3x
    first_token / extractive_total               22.4x
    retrieval share of model total (median)         3%

    extractive answers that found supporting evidence: 11/12
    model answers keeping at least one model sentence after the citation check: 8/12
    (21 sentences kept, 32 dropped); median prompt 922 tokens, median completion 200 tokens
    whole run: 256 s

Reading: retrieval is 3% of a model answer; the 135M model costs 8 s before
its first token (prompt processing of about 900 tokens on two busy cores) and
writes until the 200-token cap (`MODEL_MAX_TOKENS`) on every question, so the
full answer takes 37 times the extractive one. The citation check dropped
more model sentences than it kept; four answers fell back to the extractive
quotes. Search and extractive rows swing by 10x between questions with the
machine's load (0.01 to 0.24 s for the search alone), hence medians.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from guetteur.demo import DEMO_FLOOR_MARKING, DEMO_USERS, scenario_path  # noqa: E402
from guetteur.llm import ChatModel, Completion, Message, open_model, resolve_settings  # noqa: E402
from guetteur.products.ask import Answer, answer_question  # noqa: E402
from guetteur.search import hybrid_search  # noqa: E402
from guetteur.security.markings import parse_clearance, parse_marking  # noqa: E402
from guetteur.workspace import Workspace  # noqa: E402

# Questions a staff officer could ask of the scenario, each answered by at least one report.
QUESTIONS: tuple[tuple[str, str], ...] = (
    ("en", "What hit the fuel depot at Tapa on 21 November?"),
    ("en", "How many days of diesel does BG LYNX have left after the strike?"),
    ("en", "Which intrusion set is behind the phishing campaign against the port of Riga?"),
    ("en", "Which Varnian units moved by rail into the Pskov - Ostrov area?"),
    ("en", "What bridging equipment has Varnia positioned opposite Narva?"),
    ("en", "Where were Orlan-10 drones seen on 16 November?"),
    ("fr", "Où se trouve la station de guerre électronique Krasukha-4 ?"),
    ("fr", "Qui est soupçonné du sabotage du pont ferroviaire de Daugavpils ?"),
    ("fr", "Combien de temps la ligne Riga - Daugavpils - Vilnius sera-t-elle coupée ?"),
    ("fr", "Quel est le mode d'action adverse le plus probable ?"),
    ("fr", "Quel est l'état des stocks de munitions du détachement à Tapa ?"),
    ("fr", "Quels sont les effets du brouillage GNSS sur les véhicules du 2e RH ?"),
)
# Not counted: the first question of each language loads the sentence encoder, the language
# detector and the model's weights.
WARM_UP = ("Quelle unité a été frappée à Tapa ?", "Which unit was hit at Tapa?")


def build_scenario_workspace(home: Path) -> Workspace:
    """The demo's workspace: its four users, the scenario ingested at the demo's floor."""
    (name, (level, nation, caveats)), *others = DEMO_USERS.items()
    workspace = Workspace.create(home, name, parse_clearance(level, nation, caveats))
    for other, (level, nation, caveats) in others:
        workspace.add_user(other, parse_clearance(level, nation, caveats), actor=name)
    report = workspace.ingest(
        workspace.user(),
        [scenario_path()],
        source="exercise",
        marking=parse_marking(DEMO_FLOOR_MARKING),
    )
    if report.failed:
        raise SystemExit(f"scenario ingest failed: {report.failed}")
    return workspace


def open_embedded_model() -> ChatModel:
    model = open_model(resolve_settings(None, {"GUETTEUR_LLM": "embedded"}))
    if model is None:
        raise SystemExit("embedded model unavailable: pip install 'guetteur[embedded]'")
    return model


@dataclass
class CountingModel:
    """The embedded model, keeping each completion so token counts can be reported."""

    inner: ChatModel
    completions: list[Completion] = field(default_factory=list)

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    def complete(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
        on_token: Callable[[str], None] | None = None,
    ) -> Completion:
        completion = self.inner.complete(
            messages, max_tokens=max_tokens, temperature=temperature, on_token=on_token
        )
        self.completions.append(completion)
        return completion

    def close(self) -> None:
        self.inner.close()


def timed(call: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result


def model_sentences(answer: Answer) -> int:
    """Sentences of an answer written by the model and kept by the citation check."""
    if answer.mode != "model" or not answer.supported:
        return 0
    return sum(1 for s in answer.statements if not s.note.startswith("extractive"))


def p90(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of search and extractive")
    parser.add_argument("--no-model", action="store_true", help="extractive and search only")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    args = parser.parse_args()
    run_started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="guetteur-latency-") as scratch:
        build_seconds, workspace = timed(lambda: build_scenario_workspace(Path(scratch) / "ws"))
        with workspace:
            store, clearance = workspace.store, workspace.user("ops").clearance
            documents = workspace.stats(workspace.user("ops")).documents
            model: CountingModel | None = None
            open_seconds = 0.0
            if not args.no_model:
                open_seconds, inner = timed(open_embedded_model)
                model = CountingModel(inner)
            for question in WARM_UP:
                hybrid_search(store, question, clearance)
                answer_question(store, question, clearance)
            if model is not None:
                answer_question(store, WARM_UP[0], clearance, model=model)
                model.completions.clear()
            for language, question in QUESTIONS:
                rows.append(measure(store, clearance, question, language, model, args.repeat))
            if model is not None:
                model.close()
    total = time.perf_counter() - run_started
    summary = summarise(rows)
    result = {
        "documents": documents,
        "build_seconds": round(build_seconds, 1),
        "model_open_seconds": round(open_seconds, 1),
        "run_seconds": round(total, 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "questions": rows,
        "summary": summary,
    }
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
        return
    print_tables(result)


def measure(
    store: Any,
    clearance: Any,
    question: str,
    language: str,
    model: CountingModel | None,
    repeat: int,
) -> dict[str, Any]:
    search_runs, extractive_runs, retrieval_runs = [], [], []
    extractive: Answer | None = None
    for _ in range(repeat):
        seconds, _ = timed(lambda: hybrid_search(store, question, clearance, 10))
        search_runs.append(seconds)
        seconds, extractive = timed(lambda: answer_question(store, question, clearance))
        extractive_runs.append(seconds)
        assert extractive is not None
        retrieval_runs.append(extractive.retrieval_seconds)
    assert extractive is not None
    row: dict[str, Any] = {
        "language": language,
        "question": question,
        "search_s": statistics.median(search_runs),
        "extractive_retrieval_s": statistics.median(retrieval_runs),
        "extractive_total_s": statistics.median(extractive_runs),
        "extractive_supported": extractive.supported,
    }
    if model is None:
        return row
    first_token: list[float] = []
    started = time.perf_counter()

    def on_token(piece: str) -> None:
        if not first_token:
            first_token.append(time.perf_counter() - started)

    answer = answer_question(store, question, clearance, model=model, on_token=on_token)
    total = time.perf_counter() - started
    completion = model.completions[-1]
    row |= {
        "model_retrieval_s": answer.retrieval_seconds,
        "model_first_token_s": first_token[0] if first_token else None,
        "model_first_token_in_model_s": answer.first_token_seconds,
        "model_generation_s": answer.generation_seconds,
        "model_total_s": total,
        "prompt_tokens": completion.prompt_tokens,
        "completion_tokens": completion.completion_tokens,
        "model_supported": answer.supported,
        "model_sentences_kept": model_sentences(answer),
        "model_sentences_dropped": len(answer.dropped),
        "model_answer": answer.text,
    }
    return row


COLUMNS = (
    ("search_s", "search"),
    ("extractive_retrieval_s", "ext retr"),
    ("extractive_total_s", "ext tot"),
    ("model_retrieval_s", "mdl retr"),
    ("model_first_token_s", "1st tok"),
    ("model_total_s", "mdl tot"),
)


def summarise(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for key, _ in COLUMNS:
        values = [r[key] for r in rows if r.get(key) is not None]
        if values:
            summary[key] = {"median": statistics.median(values), "p90": p90(values)}
    median = {key: value["median"] for key, value in summary.items()}
    summary["ratios"] = {
        "extractive_total / search": median["extractive_total_s"] / median["search_s"]
    }
    if "model_total_s" in median:
        shares = [r["model_retrieval_s"] / r["model_total_s"] for r in rows]
        summary["ratios"] |= {
            "model_total / extractive_total": median["model_total_s"]
            / median["extractive_total_s"],
            "first_token / extractive_total": median["model_first_token_s"]
            / median["extractive_total_s"],
            "retrieval share of model total (median)": statistics.median(shares),
        }
        summary["model_answers_with_own_sentence"] = sum(
            1 for r in rows if r["model_sentences_kept"]
        )
        summary["model_sentences_kept"] = sum(r["model_sentences_kept"] for r in rows)
        summary["model_sentences_dropped"] = sum(r["model_sentences_dropped"] for r in rows)
        summary["completion_tokens_median"] = statistics.median(
            r["completion_tokens"] or 0 for r in rows
        )
        summary["prompt_tokens_median"] = statistics.median(r["prompt_tokens"] or 0 for r in rows)
    return summary


def print_tables(result: dict[str, Any]) -> None:
    rows, summary = result["questions"], result["summary"]
    has_model = "model_total_s" in summary
    columns = [(k, h) for k, h in COLUMNS if has_model or not k.startswith("model")]
    print(
        f"scenario workspace: {result['documents']} documents, built in "
        f"{result['build_seconds']:.1f} s; model opened in {result['model_open_seconds']:.1f} s"
    )
    print(f"load average at the end: {result['load_average']}")
    print("seconds per question (FRA NATO SECRET reader; search and extractive: median of runs)")
    print(f"{'#':>2} {'lang':<5}" + " ".join(f"{h:>8}" for _, h in columns), end="")
    print(f" {'kept/drop':>9}  question" if has_model else "  question")
    for number, row in enumerate(rows, start=1):
        cells = " ".join(
            f"{row[k]:8.2f}" if row.get(k) is not None else f"{'-':>8}" for k, _ in columns
        )
        kept = (
            f" {row['model_sentences_kept']:>5}/{row['model_sentences_dropped']:<3}"
            if has_model
            else ""
        )
        print(f"{number:>2} {row['language']:<5}{cells}{kept}  {row['question'][:22]}…")
    for stat in ("median", "p90"):
        cells = " ".join(f"{summary[k][stat]:8.2f}" for k, _ in columns)
        print(f"{stat:<8}{cells}")
    print()
    for name, value in summary["ratios"].items():
        shown = f"{value:.0%}" if "share" in name else f"{value:.1f}x"
        print(f"{name:<42}{shown:>8}")
    answered = sum(1 for r in rows if r["extractive_supported"])
    print(f"\nextractive answers that found supporting evidence: {answered}/{len(rows)}")
    if has_model:
        print(
            f"model answers keeping at least one model sentence after the citation check: "
            f"{summary['model_answers_with_own_sentence']}/{len(rows)}\n"
            f"({summary['model_sentences_kept']} sentences kept, "
            f"{summary['model_sentences_dropped']} dropped); median prompt "
            f"{summary['prompt_tokens_median']:.0f} tokens, median completion "
            f"{summary['completion_tokens_median']:.0f} tokens"
        )
    print(f"whole run: {result['run_seconds']:.0f} s")


if __name__ == "__main__":
    main()
