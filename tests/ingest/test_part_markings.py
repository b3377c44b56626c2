"""Markings of parts, banner variants and fail-closed refusals, through the real ingest (issue 9).

Findings 1, 2 and 9: an e-mail attachment's banner, the header of a later
DOCX section, a banner written in a common variant, an RSS entry's title and a
JSON `classification` field were all ignored, so a lower --marking won. Every
file is built here for real (python-docx, the stdlib `email` package, plain
XML and JSON), ingested with `ingest_paths` into a real SQLiteStore, and read
back as readers of different clearances would.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import docx
import pytest

from guetteur._exceptions import IngestError, NotFoundError
from guetteur.ingest.registry import iter_input_files, parse_file
from guetteur.model import Clearance, Document
from guetteur.pipeline.ingest import IngestOptions, IngestReport, decide_marking, ingest_paths
from guetteur.security.markings import parse_clearance, parse_marking
from guetteur.store.sqlite.store import SQLiteStore

from conftest import SCENARIO

NS_FRA = parse_clearance("NATO SECRET", "FRA")
NR_LUX = parse_clearance("NATO RESTRICTED", "LUX")
NU = parse_marking("NATO UNCLASSIFIED")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    opened = SQLiteStore(tmp_path / "g.db")
    yield opened
    opened.close()


def ingest(
    store: SQLiteStore, path: Path, marking: str | None = "NATO UNCLASSIFIED"
) -> IngestReport:
    options = IngestOptions(source="s", marking=parse_marking(marking) if marking else None)
    return ingest_paths(store, [path], options)


def only_stored(store: SQLiteStore, report: IngestReport, reader: Clearance = NS_FRA) -> Document:
    assert report.failed == [] and report.ingested == 1, report.failed
    return store.get_document(report.doc_ids[0], reader)


def assert_unreadable(store: SQLiteStore, report: IngestReport, reader: Clearance) -> None:
    assert list(store.iter_documents(reader)) == []
    with pytest.raises(NotFoundError):
        store.get_document(report.doc_ids[0], reader)


# --- finding 1: e-mail attachments ---------------------------------------------------


def mail_with_attachment(body: str, attachment: str, *, subtype: str = "plain") -> bytes:
    """An NU cover note, `attachment`, then an NU distribution list attached last.

    The attachment's banner lands in the middle of the combined text, where
    no banner was ever looked for (finding 1).
    """
    message = EmailMessage()
    message["From"] = "Cne Durand <durand@example.fr>"
    message["To"] = "cellule.renseignement@example.fr"
    message["Subject"] = "Compte rendu et annexe"
    message["Date"] = "Tue, 12 Mar 2024 14:30:00 +0100"
    message.set_content(body)
    name = "annexe.html" if subtype == "html" else "annexe.txt"
    message.add_attachment(attachment, subtype=subtype, filename=name)
    message.add_attachment(NU_LIST, filename="diffusion.txt")
    return message.as_bytes()


NU_BODY = "NATO UNCLASSIFIED\n\nVeuillez trouver l'annexe ci-jointe.\n\nNATO UNCLASSIFIED\n"
NU_LIST = "NATO UNCLASSIFIED\nDiffusion : S2, S3, S4.\nNATO UNCLASSIFIED\n"
NS_ANNEX = (
    "NATO SECRET\n\nAnnexe : la batterie TOS-1A est en position à Ostrov, "
    "grille 35VNE8261507291.\n\nObservée le 17 à 0600Z.\n\nFin de l'annexe.\n"
)


def test_mail_with_nu_body_and_ns_attachment_is_stored_ns(
    store: SQLiteStore, tmp_path: Path
) -> None:
    path = tmp_path / "cr.eml"
    path.write_bytes(mail_with_attachment(NU_BODY, NS_ANNEX))
    report = ingest(store, path)
    stored = only_stored(store, report)
    assert str(stored.marking) == "NATO SECRET"
    assert "TOS-1A est en position à Ostrov" in stored.text
    # The NATO RESTRICTED reader cannot read the attachment's text, nor know the mail exists.
    assert_unreadable(store, report, NR_LUX)


def test_mail_html_attachment_with_its_banner_under_a_title(
    store: SQLiteStore, tmp_path: Path
) -> None:
    annex = (
        "<html><body><h1>Annexe B</h1><p>NATO SECRET // REL TO FRA</p>"
        "<p>Positions des batteries.</p></body></html>"
    )
    path = tmp_path / "cr.eml"
    path.write_bytes(mail_with_attachment(NU_BODY, annex, subtype="html"))
    stored = only_stored(store, ingest(store, path))
    assert str(stored.marking) == "NATO SECRET // REL TO FRA"


def test_mail_attachment_with_a_malformed_banner_refuses_the_mail(
    store: SQLiteStore, tmp_path: Path
) -> None:
    path = tmp_path / "cr.eml"
    path.write_bytes(mail_with_attachment(NU_BODY, "NATO SECRETT\n\nAnnexe.\n\nFin.\n\nSigné.\n"))
    report = ingest(store, path)
    assert report.ingested == 0
    assert report.failed == [
        {
            "path": str(path),
            "error": "attachment 'annexe.txt', line 1: 'NATO SECRETT' looks like a marking "
            "but does not parse (write it as e.g. 'NATO SECRET // REL TO FRA')",
        }
    ]
    assert list(store.iter_documents(NS_FRA)) == []


# --- finding 2: every header and footer of every DOCX section ----------------------------


def docx_with_sections(furniture: dict[tuple[int, str], str]) -> bytes:
    """Three sections; `furniture` maps (section index, "header"/"first_page_footer"…) to text."""
    document = docx.Document()
    document.add_paragraph("Compte rendu de la semaine, première partie.")
    for number in (1, 2):
        document.add_section()
        document.add_paragraph(f"Partie {number + 1} du compte rendu.")
    for (index, attribute), text in furniture.items():
        section = document.sections[index]
        if attribute.startswith("first_page"):
            section.different_first_page_header_footer = True
        if attribute.startswith("even_page"):
            document.settings.odd_and_even_pages_header_footer = True
        part = getattr(section, attribute)
        part.is_linked_to_previous = False
        part.paragraphs[0].text = text
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def test_docx_sections_marked_nu_ns_nr_are_stored_ns(store: SQLiteStore, tmp_path: Path) -> None:
    path = tmp_path / "cr.docx"
    path.write_bytes(
        docx_with_sections(
            {
                (0, "header"): "NATO UNCLASSIFIED",
                (0, "footer"): "NATO UNCLASSIFIED",
                (1, "header"): "NATO SECRET",
                (1, "footer"): "NATO SECRET - page 2",
                (2, "header"): "NATO RESTRICTED",
                (2, "footer"): "NATO RESTRICTED",
            }
        )
    )
    report = ingest(store, path, marking=None)
    assert str(only_stored(store, report).marking) == "NATO SECRET"
    assert_unreadable(store, report, NR_LUX)


@pytest.mark.parametrize(
    "attribute",
    ["first_page_header", "even_page_header", "first_page_footer", "even_page_footer"],
)
def test_docx_first_page_and_even_page_furniture_counts(
    store: SQLiteStore, tmp_path: Path, attribute: str
) -> None:
    path = tmp_path / "cr.docx"
    path.write_bytes(
        docx_with_sections({(0, "header"): "NATO RESTRICTED", (1, attribute): "NATO SECRET"})
    )
    assert str(only_stored(store, ingest(store, path)).marking) == "NATO SECRET"


def test_docx_header_zones_split_by_tabs_are_each_read(store: SQLiteStore, tmp_path: Path) -> None:
    path = tmp_path / "cr.docx"
    path.write_bytes(docx_with_sections({(1, "header"): "Ministère des Armées\tNATO SECRET\tp. 2"}))
    assert str(only_stored(store, ingest(store, path)).marking) == "NATO SECRET"


def test_docx_footer_that_looks_like_a_marking_refuses_the_file(
    store: SQLiteStore, tmp_path: Path
) -> None:
    path = tmp_path / "cr.docx"
    path.write_bytes(docx_with_sections({(2, "footer"): "NATO SEKRET"}))
    report = ingest(store, path)
    assert report.ingested == 0
    assert report.failed[0]["error"].startswith(
        "section 3 footer, line 1: 'NATO SEKRET' looks like a marking but does not parse"
    )


# --- finding 9: banner variants, feed titles, JSON fields --------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("NATO SECRET - REL TO FRA\nColonne près de Narva.\n", "NATO SECRET // REL TO FRA"),
        ("NATO SECRET.\nColonne près de Narva.\n", "NATO SECRET"),
        ("NATO SECRET / REL TO FRA\nColonne près de Narva.\n", "NATO SECRET // REL TO FRA"),
        ("NATO-SECRET\nColonne près de Narva.\n", "NATO SECRET"),
        ("INTREP 42 — Colonne\nNATO SECRET\n\nColonne près de Narva.\n", "NATO SECRET"),
        ("*** NATO SECRET ***\nColonne près de Narva.\n", "NATO SECRET"),
        ("Colonne près de Narva.\nNATO SECRET REL TO FRA, LUX\n", "NATO SECRET // REL TO FRA, LUX"),
        ("Colonne près de Narva.\n\n(NS) La batterie est à Ostrov.\n\nFin.\n", "NATO SECRET"),
    ],
    ids=[
        "dash-rel",
        "period",
        "slash-rel",
        "hyphen",
        "second-line",
        "stars",
        "space-rel",
        "portion",
    ],
)
def test_each_banner_variant_beats_a_lower_marking(
    store: SQLiteStore, tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "r.txt"
    path.write_text(text, encoding="utf-8")
    report = ingest(store, path, marking="NATO UNCLASSIFIED")
    assert str(only_stored(store, report).marking) == expected
    assert_unreadable(store, report, NR_LUX)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (
            "Rapport\nNATO-SECRETT\n\nColonne.\n",
            "line 2: 'NATO-SECRETT' looks like a marking but does not parse",
        ),
        ("Colonne.\n\nClassification : Diffusion Restreintte\n", "line 3: 'Classification : "),
        ("Colonne.\n\n(NS // REL TO FRANCE) La batterie.\n\nFin.\n", "line 3: 'NS // REL TO "),
        ("CONFIDENTIAL\nColonne.\n", "line 1: 'CONFIDENTIAL': a plain-English marking needs"),
    ],
    ids=["typo", "prefixed", "portion", "plain-english"],
)
def test_a_line_that_looks_like_a_marking_refuses_the_document(
    store: SQLiteStore, tmp_path: Path, text: str, error: str
) -> None:
    path = tmp_path / "r.txt"
    path.write_text(text, encoding="utf-8")
    report = ingest(store, path, marking="NATO SECRET")
    assert report.ingested == 0 and len(report.failed) == 1
    assert report.failed[0]["path"] == str(path)
    assert report.failed[0]["error"].startswith(error)


@pytest.mark.parametrize(
    "text",
    [
        "SECRET plans of the enemy, a novel\nby someone\n",
        "Originator: NATO deployable cyber analysis team\nNothing to report.\n",
        "NATO OTAN\nCompte rendu.\n",
        "(C) 2026 Baltic Observer\nNothing to report.\n",
        "Secret: how the plan leaked\nA press story.\n",
    ],
)
def test_prose_near_the_edges_is_not_taken_for_a_marking(
    store: SQLiteStore, tmp_path: Path, text: str
) -> None:
    path = tmp_path / "r.txt"
    path.write_text(text, encoding="utf-8")
    assert str(only_stored(store, ingest(store, path)).marking) == "NATO UNCLASSIFIED"


RSS_WITH_TITLE_BANNER = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Veille</title><link>http://veille.example</link>
<description>Veille</description>
<item><title>{title}</title><link>http://veille.example/1</link>
<description>Une colonne de blindés a été vue près de Narva.</description></item>
</channel></rss>"""


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("NATO SECRET - Colonne près de Narva", "NATO SECRET"),
        ("[NS // REL TO FRA] Colonne près de Narva", "NATO SECRET // REL TO FRA"),
        ("NATO SECRET", "NATO SECRET"),
    ],
)
def test_rss_entry_title_banner_counts(
    store: SQLiteStore, tmp_path: Path, title: str, expected: str
) -> None:
    path = tmp_path / "veille.rss"
    path.write_text(RSS_WITH_TITLE_BANNER.format(title=title), encoding="utf-8")
    report = ingest(store, path)
    stored = only_stored(store, report)
    assert str(stored.marking) == expected
    assert "NATO" not in stored.text, "the body alone holds no banner: the title decided"
    assert_unreadable(store, report, NR_LUX)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"classification": "NATO SECRET"}, "NATO SECRET"),
        ({"Security_Label": "NS // REL TO FRA, LUX"}, "NATO SECRET // REL TO FRA, LUX"),
        ({"meta": {"classificationMarking": "NATO SECRET"}}, "NATO SECRET"),
        ({"marking": "NATO RESTRICTED", "classification": ["NATO SECRET"]}, "NATO SECRET"),
        ({"title": "NATO SECRET - Colonne"}, "NATO SECRET"),
    ],
    ids=["classification", "security-label", "nested-camel", "list", "title"],
)
def test_json_marking_fields_beat_a_lower_marking(
    store: SQLiteStore, tmp_path: Path, fields: dict[str, object], expected: str
) -> None:
    path = tmp_path / "export.json"
    path.write_text(json.dumps({"text": "Colonne près de Narva.", **fields}), encoding="utf-8")
    report = ingest(store, path)
    assert str(only_stored(store, report).marking) == expected
    assert_unreadable(store, report, NR_LUX)


def test_json_classification_that_does_not_parse_refuses_the_record(
    store: SQLiteStore, tmp_path: Path
) -> None:
    path = tmp_path / "export.json"
    path.write_text(json.dumps({"text": "Colonne.", "classification": "NATO SECRETT"}))
    report = ingest(store, path)
    assert report.ingested == 0
    assert report.failed[0]["path"] == f"{path}#1"
    assert report.failed[0]["error"].startswith(
        "field \"classification\": 'NATO SECRETT': not a marking"
    )


# --- the exercise scenario keeps its markings -------------------------------------------

# The markings `guetteur demo` gives the 88 scenario documents (NU floor), counted
# before issue 9: reading more parts and more variants must not change one of them.
SCENARIO_MARKINGS = {
    "NATO UNCLASSIFIED": 30,
    "NATO RESTRICTED": 11,
    "NATO CONFIDENTIAL": 8,
    "NATO SECRET": 6,
    "NATO UNCLASSIFIED // REL TO FRA": 6,
    "DIFFUSION RESTREINTE": 6,
    "NATO CONFIDENTIAL // REL TO DEU, EST, FRA": 5,
    "NATO SECRET // REL TO FRA, LUX": 5,
    "SECRET": 4,
    "NATO RESTRICTED // REL TO FRA, LUX": 2,
    "NATO SECRET // REL TO FRA // CRYPTO": 2,
    "DIFFUSION RESTREINTE // REL TO FRA, LUX": 2,
    "CONFIDENTIEL DÉFENSE": 1,
}


def test_scenario_documents_keep_their_markings() -> None:
    markings: Counter[str] = Counter()
    for path in iter_input_files([SCENARIO]):
        if isinstance(path, IngestError):  # a file the walk would not open
            pytest.fail(str(path))
        try:
            documents = list(parse_file(path))
        except IngestError as error:
            pytest.fail(str(error))
        for raw in documents:
            markings[str(decide_marking(raw, NU, None))] += 1
    assert sum(markings.values()) == 88
    assert dict(markings) == SCENARIO_MARKINGS
