"""Products as JSON, Markdown and PDF, with their markings where a reader expects them.

The banner marking of a product is printed at the top and at the bottom (of
every page, in PDF); each sentence is preceded by its portion marking and
followed by the grades of its sources and its citation numbers; the sources
are listed at the end with their own markings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from guetteur.model import Authority, Level, Marking
from guetteur.products.ask import Answer
from guetteur.products.brief import Brief
from guetteur.products.cited import Statement, citations_json
from guetteur.products.watch import WatchRun

__all__ = [
    "answer_json",
    "answer_markdown",
    "brief_json",
    "brief_markdown",
    "brief_pdf",
    "portion",
    "watch_json",
]

_PORTION = {
    Authority.NATO: {
        Level.UNCLASSIFIED: "NU", Level.RESTRICTED: "NR", Level.CONFIDENTIAL: "NC",
        Level.SECRET: "NS", Level.TOP_SECRET: "CTS",
    },
    Authority.NATIONAL_FRA: {
        Level.UNCLASSIFIED: "NP", Level.RESTRICTED: "DR", Level.CONFIDENTIAL: "CD",
        Level.SECRET: "S", Level.TOP_SECRET: "TS",
    },
    Authority.PLAIN: {
        Level.UNCLASSIFIED: "U", Level.RESTRICTED: "R", Level.CONFIDENTIAL: "C",
        Level.SECRET: "S", Level.TOP_SECRET: "TS",
    },
}  # fmt: skip


def portion(marking: Marking, banner: Marking | None = None) -> str:
    """The short portion mark, e.g. '(NR)', with REL TO when it differs from the banner's."""
    text = _PORTION[marking.authority][marking.level]
    if marking.releasable_to is not None and (
        banner is None or marking.releasable_to != banner.releasable_to
    ):
        if marking.releasable_to != marking.default_releasability():
            text += " REL " + "/".join(marking.releasability_tokens() or ["NONE"])
    if marking.caveats:
        text += " " + "/".join(sorted(marking.caveats))
    return f"({text})"


def _sentence_line(statement: Statement, banner: Marking) -> str:
    grades = f" [{', '.join(statement.grades)}]" if statement.grades else ""
    cites = "".join(f"[{n}]" for n in statement.citations)
    note = f" _({statement.note})_" if statement.note else ""
    return f"{portion(statement.marking, banner)} {statement.text}{grades} {cites}{note}".rstrip()


# ----------------------------------------------------------------------- answers
def answer_json(answer: Answer) -> dict[str, Any]:
    return {
        "question": answer.question,
        "answer": answer.text,
        "marking": str(answer.marking),
        "supported": answer.supported,
        "language": answer.language,
        "mode": answer.mode,
        "model": answer.model_id,
        "sentences": [
            {
                "text": s.text,
                "marking": str(s.marking),
                "citations": list(s.citations),
                "note": s.note,
            }
            for s in answer.statements
        ],
        "citations": citations_json(answer.citations),
        "dropped": list(answer.dropped),
    }


def answer_markdown(answer: Answer) -> str:
    lines = [f"**{answer.marking}**", "", f"> {answer.question}", ""]
    lines += [_sentence_line(s, answer.marking) for s in answer.statements]
    if answer.citations:
        lines += ["", "Sources:"]
        for c in answer.citations:
            grade = f", {c.grade}" if c.grade else ""
            lines.append(f"[{c.n}] {c.doc_id} — {c.title} ({c.marking}{grade}): “{c.quote}”")
    if answer.dropped:
        lines += ["", f"{len(answer.dropped)} model sentence(s) dropped by the citation check."]
    lines += ["", f"**{answer.marking}**"]
    return "\n".join(lines)


# ------------------------------------------------------------------------ briefs
def brief_json(brief: Brief) -> dict[str, Any]:
    numbers = {s.n: s.doc_id for s in brief.sources}
    return {
        "title": brief.title,
        "marking": str(brief.marking),
        "format": brief.format,
        "language": brief.language,
        "since": brief.since.isoformat() if brief.since else None,
        "until": brief.until.isoformat(),
        "topic": brief.topic,
        "releasable_to": list(brief.releasable_to),
        "mode": brief.mode,
        "model": brief.model_id,
        "documents_read": brief.documents_read,
        "sections": [
            {
                "heading": section.heading,
                "sentences": [
                    {
                        "text": s.text,
                        "marking": str(s.marking),
                        "citations": [numbers[n] for n in s.citations],
                        "grades": list(s.grades),
                        "language": s.language,
                        "note": s.note,
                    }
                    for s in section.statements
                ],
            }
            for section in brief.sections
        ],
        "sources": [
            {
                "n": s.n,
                "doc_id": s.doc_id,
                "title": s.title,
                "marking": str(s.marking),
                "grade": s.grade,
            }
            for s in brief.sources
        ],  # fmt: skip
        "dropped": list(brief.dropped),
    }


_NOTHING = {"en": "Nothing reported.", "fr": "Rien à signaler."}
_SOURCES = {"en": "Sources", "fr": "Sources"}


def _period(brief: Brief) -> str:
    start = brief.since.strftime("%d %H%MZ %b %Y").upper() if brief.since else "…"
    end = brief.until.strftime("%d %H%MZ %b %Y").upper()
    tear = f" · REL TO {', '.join(brief.releasable_to)} (tear-line)" if brief.releasable_to else ""
    return f"{start} – {end}{tear}"


def brief_markdown(brief: Brief) -> str:
    lines = [f"**{brief.marking}**", "", f"# {brief.title}", "", _period(brief), ""]
    for section in brief.sections:
        lines += [f"## {section.heading}", ""]
        if not section.statements:
            lines.append(_NOTHING[brief.language])
        lines += [f"- {_sentence_line(s, brief.marking)}" for s in section.statements]
        lines.append("")
    lines += [f"## {_SOURCES[brief.language]}", ""]
    for s in brief.sources:
        grade = f", {s.grade}" if s.grade else ""
        lines.append(f"[{s.n}] {s.doc_id} — {s.title} ({s.marking}{grade})")
    lines += ["", f"**{brief.marking}**"]
    return "\n".join(lines)


# The PDF core fonts cover Latin-1 only: map the few typographic signs outside it.
_LATIN1 = str.maketrans(
    {"’": "'", "‘": "'", "“": '"', "”": '"', "–": "-", "—": "-", "…": "...", "œ": "oe",
     "Œ": "OE", "\u202f": " ", "\u2009": " ", "•": "-", "→": "->"}
)  # fmt: skip


def _pdf_text(text: str) -> str:
    return text.translate(_LATIN1).encode("latin-1", "replace").decode("latin-1")


def brief_pdf(brief: Brief, path: Path) -> None:
    """Write the brief as a PDF with the banner marking at the top and bottom of every page."""
    from fpdf import FPDF

    banner = _pdf_text(str(brief.marking))

    class _Document(FPDF):
        def header(self) -> None:
            self.set_font("Helvetica", "B", 10)
            self.cell(0, 8, banner, align="C", new_x="LMARGIN", new_y="NEXT")

        def footer(self) -> None:
            self.set_y(-15)
            self.set_font("Helvetica", "B", 10)
            self.cell(0, 8, banner, align="C")

    pdf = _Document(format="A4")
    pdf.set_auto_page_break(auto=True, margin=20)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.multi_cell(0, 9, _pdf_text(brief.title), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 9)
    pdf.multi_cell(0, 6, _pdf_text(_period(brief)), new_x="LMARGIN", new_y="NEXT")
    for section in brief.sections:
        pdf.ln(2)
        pdf.set_font("Helvetica", "B", 12)
        pdf.multi_cell(0, 7, _pdf_text(section.heading), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 10)
        if not section.statements:
            pdf.multi_cell(0, 5, _NOTHING[brief.language], new_x="LMARGIN", new_y="NEXT")
        for statement in section.statements:
            line = _sentence_line(statement, brief.marking).replace("_(", "(").replace(")_", ")")
            pdf.multi_cell(0, 5, _pdf_text("- " + line), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_font("Helvetica", "B", 12)
    pdf.multi_cell(0, 7, _SOURCES[brief.language], new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 9)
    for s in brief.sources:
        grade = f", {s.grade}" if s.grade else ""
        text = f"[{s.n}] {s.doc_id} - {s.title} ({s.marking}{grade})"
        pdf.multi_cell(0, 5, _pdf_text(text), new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))


# ------------------------------------------------------------------------- watch
def watch_json(run: WatchRun) -> dict[str, Any]:
    return {
        "name": run.requirement.name,
        "requirement": run.requirement.text,
        "new_hits": len(run.hits),
        "marking": str(run.marking) if run.marking else None,
        "hits": [
            {"doc_id": h.doc_id, "score": h.score, "reason": h.reason, "marking": str(h.marking)}
            for h in run.hits
        ],
        "digest": [
            {
                "text": s.text,
                "marking": str(s.marking),
                "citations": [run.doc_ids[n - 1] for n in s.citations],
                "grades": list(s.grades),
            }
            for s in run.digest
        ],
    }
