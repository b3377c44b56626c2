"""The document parsers of ingest/, on real files and on hostile ones.

Every file here is built for real in tmp_path (PDFs with fpdf2, Word files with
python-docx, mails with the stdlib) and read back through the same functions
the pipeline calls. Hostile inputs must end in an IngestError that names the
file, never another exception, a hang or a memory blow-up.
"""

from __future__ import annotations

import codecs
import io
import random
import tracemalloc
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import docx
import pytest
from fpdf import FPDF
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guetteur._exceptions import IngestError
from guetteur.ingest import docx as docx_parser
from guetteur.ingest import registry
from guetteur.ingest._base import Parser, PartKind, RawDocument
from guetteur.ingest._decode import decode_text
from guetteur.ingest.docx import parse_docx
from guetteur.ingest.feeds import parse_feed
from guetteur.ingest.html import parse_html, visible_text
from guetteur.ingest.jsondocs import parse_json, parse_json_lines
from guetteur.ingest.mail import parse_email
from guetteur.ingest.pdf import parse_pdf
from guetteur.ingest.registry import (
    SUPPORTED_SUFFIXES,
    iter_input_files,
    parse_file,
    parser_for,
)
from guetteur.ingest.text import MAX_TITLE_CHARS, guess_title, parse_text

from conftest import SCENARIO

BILLION_LAUGHS_DTD = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
"""


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def read_until_error(
    parser: Parser, path: Path, data: bytes
) -> tuple[list[RawDocument], IngestError | None]:
    """What the pipeline sees: the documents yielded, then the error if one is raised."""
    documents: list[RawDocument] = []
    try:
        for document in parser(path, data):
            documents.append(document)
    except IngestError as error:
        return documents, error
    return documents, None


def ingest_error(parser: Parser, path: Path, data: bytes) -> IngestError:
    documents, error = read_until_error(parser, path, data)
    assert error is not None, f"expected an IngestError, got {documents!r}"
    assert str(error).startswith(str(path)), "the message must name the input first"
    assert "\n" not in str(error), "errors fit on one line"
    return error


def only_document(parser: Parser, path: Path, data: bytes) -> RawDocument:
    documents = list(parser(path, data))
    assert len(documents) == 1
    return documents[0]


def statements(document: RawDocument) -> list[str]:
    """The marking values a format states in fields and headers, as written."""
    return [part.text for part in document.parts if part.kind is PartKind.STATEMENT]


def random_bytes(size: int, seed: int = 7) -> bytes:
    return random.Random(seed).randbytes(size)


# --- builders of real files ---------------------------------------------------------


def build_pdf(pages: list[str], title: str | None = None) -> bytes:
    pdf = FPDF()
    if title:
        pdf.set_title(title)
    pdf.set_font("Helvetica", size=12)
    for page in pages:
        pdf.add_page()
        if page:
            pdf.multi_cell(0, 8, page)
    return bytes(pdf.output())


def build_docx() -> bytes:
    document = docx.Document()
    section = document.sections[0]
    section.header.paragraphs[0].text = "DIFFUSION RESTREINTE"
    section.footer.paragraphs[0].text = "DIFFUSION RESTREINTE - page 1"
    document.add_heading("Compte rendu de patrouille", level=1)
    document.add_paragraph("Patrouille effectuée le 12 mars au nord de Narva.")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text = "Unité"
    table.cell(0, 1).text = "Position"
    table.cell(1, 0).text = "6e brigade"
    table.cell(1, 1).text = "35VNE8261507291"
    document.add_paragraph("Fin du compte rendu.")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def build_mail() -> bytes:
    message = EmailMessage()
    message["From"] = "Cne Durand <durand@example.fr>"
    message["To"] = "cellule.renseignement@example.fr"
    message["Subject"] = "Compte rendu — secteur Est"
    message["Date"] = "Tue, 12 Mar 2024 14:30:00 +0100"
    message["X-Classification"] = "DIFFUSION RESTREINTE"
    message.set_content("Patrouille effectuée.\nRien à signaler au pont.")
    message.add_alternative("<p>Patrouille effectuée (HTML).</p>", subtype="html")
    message.add_attachment("unité;position\n6e brigade;Narva\n", filename="positions.csv")
    png = b"\x89PNG\r\n\x1a\n" + random_bytes(512)
    message.add_attachment(png, maintype="image", subtype="png", filename="photo.png")
    return message.as_bytes()


RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Veille cyber</title><link>http://cert.example</link>
<description>Alertes</description>
<item><title>Campagne de phishing</title><link>http://cert.example/1</link>
<description>&lt;p&gt;Campagne visant le &lt;b&gt;port de Riga&lt;/b&gt;.&lt;/p&gt;
&lt;p&gt;Second paragraphe.&lt;/p&gt;</description>
<pubDate>Tue, 12 Mar 2024 14:30:00 +0100</pubDate><author>cert@example.fr (CERT)</author></item>
<item><title>Vulnérabilité VPN</title><description>Texte brut de l'alerte.</description></item>
</channel></rss>""".encode()

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Baltic wire</title><id>urn:feed</id>
<updated>2024-03-12T10:00:00Z</updated>
<entry><title type="html">Drones over &lt;i&gt;Narva&lt;/i&gt;</title><id>urn:1</id>
<updated>2024-03-12T10:00:00+02:00</updated><author><name>Kadri Saar</name></author>
<content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>First paragraph.</p>
<p>Second paragraph.</p></div></content></entry></feed>"""

ARTICLE_HTML = """<!DOCTYPE html><html><head><title>Blindés près de Narva | Baltic Observer</title>
<meta property="article:published_time" content="2024-03-12T16:20:00Z"></head><body>
<p>NATO UNCLASSIFIED</p>
<nav><ul><li><a href="/">Accueil</a></li><li><a href="/archives">Archives du site</a></li>
<li><a href="/contact">Contactez-nous</a></li></ul></nav>
<article><h1>Mouvements de blindés près de Narva</h1>
<p>Le 12 mars, une colonne de vingt véhicules blindés a été observée se dirigeant vers le nord
le long de la route E20. Les observateurs estiment qu'il s'agit d'une unité de la 6e brigade.</p>
<p>Des unités du génie ont également été signalées près du pont, ce qui suggère une préparation
de franchissement dans les prochains jours.</p></article>
<footer>Copyright 2024 Baltic Observer. Mentions légales. Plan du site.</footer>
</body></html>"""


# --- plain text and decoding ----------------------------------------------------------


def test_markdown_title_is_its_heading_and_banner_stays_in_text(tmp_path: Path) -> None:
    data = "NATO SECRET\n\n# INTREP 004 — Guerre électronique\n\nTexte.\n".encode()
    document = only_document(parse_text, tmp_path / "r.md", data)
    assert document.title == "INTREP 004 — Guerre électronique"
    assert document.text.splitlines()[0] == "NATO SECRET"
    assert document.origin == str(tmp_path / "r.md")


def test_text_title_skips_banners_and_prefers_a_subject_line(tmp_path: Path) -> None:
    plain = "DIFFUSION RESTREINTE // REL TO FRA\n\nEXERCICE BOREAL SHIELD 26\nSPOTREP - Ämari\n"
    assert only_document(parse_text, tmp_path / "a.txt", plain.encode()).title == "SPOTREP - Ämari"
    message = "NATO SECRET\nINTREP 001/26\nSUBJ: VARNIAN BUILD-UP NEAR PSKOV\n\n1. SUMMARY.\n"
    assert (
        only_document(parse_text, tmp_path / "b.txt", message.encode()).title
        == "VARNIAN BUILD-UP NEAR PSKOV"
    )
    assert only_document(parse_text, tmp_path / "c.txt", b"NATO SECRET\n--\n").title == "c"


@pytest.mark.parametrize("heading", ["", "# "], ids=["line", "markdown heading"])
def test_the_title_of_a_huge_single_line_is_read_from_its_opening(heading: str) -> None:
    # Copies of a 5 MB line, stripped, upper-cased and split into words, once took
    # 16 times its size while a title was chosen (800 MB for a 50 MB document).
    line = heading + "Compilation of exercise reports. " + "Convoy seen near Tapa. " * 220_000
    tracemalloc.start()
    try:
        title = guess_title(line, fallback="big", markdown_headings=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert title.startswith("Compilation of exercise reports. Convoy seen near Tapa.")
    assert title.endswith("…") and len(title) <= MAX_TITLE_CHARS + 1
    assert peak < len(line) / 20


def test_text_newlines_and_byte_order_marks(tmp_path: Path) -> None:
    report = "Évaluation : B2\r\nLigne deux\rLigne trois"
    for data in (
        report.encode("utf-8-sig"),
        report.encode("utf-16"),
        codecs.BOM_UTF16_BE + report.encode("utf-16-be"),
    ):
        document = only_document(parse_text, tmp_path / "r.txt", data)
        assert document.text == "Évaluation : B2\nLigne deux\nLigne trois"


def test_cp1252_french_is_decoded(tmp_path: Path) -> None:
    data = "Évaluation : fiabilité B — « source sûre »".encode("cp1252")
    document = only_document(parse_text, tmp_path / "cp1252.txt", data)
    assert document.text == "Évaluation : fiabilité B — « source sûre »"


@pytest.mark.parametrize(
    "data",
    [
        random_bytes(4096),
        # Invalid UTF-8 without a single NUL byte, still binary: control bytes.
        bytes(range(1, 9)) * 200 + b"\xff\xfe\x81\x8d",
        b"\x00" * 64,
    ],
    ids=["random", "control-bytes", "nul-bytes"],
)
def test_binary_content_is_not_text(tmp_path: Path, data: bytes) -> None:
    error = ingest_error(parse_text, tmp_path / "blob.txt", data)
    assert error.reason == "not text (binary content)"


def test_a_20_mb_single_line_is_read_and_its_title_kept_short(tmp_path: Path) -> None:
    data = b"mot " * (5 * 1024 * 1024)
    document = only_document(parse_text, tmp_path / "long.txt", data)
    assert len(document.text) == len(data)
    assert len(document.title) <= 201 and document.title.endswith("…")


@pytest.mark.parametrize("suffix", sorted(SUPPORTED_SUFFIXES))
@pytest.mark.parametrize("data", [b"", b" \n\t\r\n"], ids=["empty", "blank"])
def test_empty_files_are_refused(tmp_path: Path, suffix: str, data: bytes) -> None:
    path = write(tmp_path, f"empty{suffix}", data)
    with pytest.raises(IngestError, match="empty") as raised:
        list(parse_file(path))
    assert raised.value.origin == str(path)
    # The parsers refuse it too when called directly.
    parser = parser_for(path)
    assert parser is not None
    ingest_error(parser, path, data)


def test_guess_title_falls_back_and_shortens() -> None:
    assert guess_title("", fallback="stem") == "stem"
    assert guess_title("CONFIDENTIEL DÉFENSE\n\n", fallback="stem") == "stem"
    assert guess_title("**SPOTREP 0118** — Ostrov", "x", markdown_headings=True) == (
        "SPOTREP 0118 — Ostrov"
    )


# --- HTML -----------------------------------------------------------------------------


def test_html_keeps_the_article_and_drops_the_boilerplate(tmp_path: Path) -> None:
    document = only_document(parse_html, tmp_path / "page.html", ARTICLE_HTML.encode())
    assert "colonne de vingt véhicules blindés" in document.text
    assert "franchissement dans les prochains jours" in document.text
    for boilerplate in ("Accueil", "Archives du site", "Contactez-nous", "Mentions légales"):
        assert boilerplate not in document.text
    assert document.title == "Mouvements de blindés près de Narva"
    # trafilatura drops the banner above the article; the parser puts it back first.
    assert document.text.splitlines()[0] == "NATO UNCLASSIFIED"
    assert document.reported_at == datetime(2024, 3, 12, 16, 20, tzinfo=UTC)


def test_html_title_is_not_the_site_masthead(tmp_path: Path) -> None:
    page = ARTICLE_HTML.replace(
        "<h1>Mouvements de blindés près de Narva</h1>", "<p>Mouvements de blindés</p>"
    ).replace("<body>", '<body><h1 class="masthead">Baltic Observer</h1>')
    document = only_document(parse_html, tmp_path / "page.html", page.encode())
    assert document.title == "Blindés près de Narva"


def test_html_without_article_falls_back_to_visible_text(tmp_path: Path) -> None:
    page = b"<html><body><div>Point de situation : calme.</div><script>x()</script></body></html>"
    document = only_document(parse_html, tmp_path / "short.htm", page)
    assert document.text == "Point de situation : calme."


def test_html_with_nothing_readable_is_refused(tmp_path: Path) -> None:
    page = b"<html><head><style>p{}</style></head><body><script>x()</script></body></html>"
    error = ingest_error(parse_html, tmp_path / "empty.html", page)
    assert error.reason == "no readable text in HTML"


def test_html_billion_laughs_is_not_expanded(tmp_path: Path) -> None:
    page = BILLION_LAUGHS_DTD + "<html><body><p>&lol9;</p><p>Texte ordinaire.</p></body></html>"
    documents, error = read_until_error(parse_html, tmp_path / "bomb.html", page.encode())
    assert error is None or str(error).startswith(str(tmp_path / "bomb.html"))
    for document in documents:
        assert "lollol" not in document.text
        assert len(document.text) < 1000


def test_visible_text_keeps_one_line_per_block() -> None:
    fragment = (
        "<p>Campagne de <b>phishing</b></p><p>deuxième &amp; fin</p>tail<br>x "
        "<script>hidden()</script>after script<noscript><p>no</p></noscript>\x0bend"
    )
    # A vertical tab is a line break to str.splitlines; lxml keeps it in the text.
    assert visible_text(fragment) == (
        "Campagne de phishing\ndeuxième & fin\ntail\nx after script\nend"
    )


# --- PDF ------------------------------------------------------------------------------


def test_pdf_text_layer_and_metadata_title(tmp_path: Path) -> None:
    data = build_pdf(
        ["NATO SECRET\nRapport de situation\nColonne de blindés près de Narva.", "Page deux."],
        title="INTSUM 12",
    )
    document = only_document(parse_pdf, tmp_path / "r.pdf", data)
    assert document.title == "INTSUM 12"
    assert document.text.splitlines()[0] == "NATO SECRET"
    assert "Colonne de blindés près de Narva." in document.text
    assert document.text.endswith("Page deux.")


def test_pdf_title_defaults_to_first_line_after_the_banner(tmp_path: Path) -> None:
    data = build_pdf(["NATO RESTRICTED\nSPOTREP 0116-01\nBTR-82A vus."])
    assert only_document(parse_pdf, tmp_path / "s.pdf", data).title == "SPOTREP 0116-01"


def test_truncated_pdf_is_one_clear_error(tmp_path: Path) -> None:
    data = build_pdf(["Un rapport qui sera coupé en deux."] * 3)
    error = ingest_error(parse_pdf, tmp_path / "cut.pdf", data[: len(data) // 2])
    assert error.reason.startswith("unreadable PDF")
    assert "Traceback" not in str(error)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (random_bytes(4096), "not a PDF (starts with"),
        (b"PK\x03\x04rest", "not a PDF (starts with b'PK\\x03\\x04')"),
        (b"%PDF-1.4\n" + random_bytes(4096), "unreadable PDF"),
    ],
    ids=["random", "zip", "pdf-header-then-noise"],
)
def test_hostile_pdf_bytes(tmp_path: Path, data: bytes, reason: str) -> None:
    assert ingest_error(parse_pdf, tmp_path / "x.pdf", data).reason.startswith(reason)


def test_pdf_without_text_layer_asks_for_ocr(tmp_path: Path) -> None:
    error = ingest_error(parse_pdf, tmp_path / "scan.pdf", build_pdf([""]))
    assert error.reason == "no text layer (scanned PDF? OCR it first)"


def test_encrypted_pdf(tmp_path: Path) -> None:
    locked = FPDF()
    locked.add_page()
    locked.set_font("Helvetica", size=12)
    locked.cell(0, 10, "Texte chiffré")
    locked.set_encryption(owner_password="owner", user_password="user")
    error = ingest_error(parse_pdf, tmp_path / "locked.pdf", bytes(locked.output()))
    assert error.reason.startswith("encrypted PDF")

    # Encrypted only to carry permissions (empty user password): it opens.
    flagged = FPDF()
    flagged.add_page()
    flagged.set_font("Helvetica", size=12)
    flagged.cell(0, 10, "Texte lisible")
    flagged.set_encryption(owner_password="owner")
    document = only_document(parse_pdf, tmp_path / "flagged.pdf", bytes(flagged.output()))
    assert document.text == "Texte lisible"


# --- DOCX -----------------------------------------------------------------------------


def test_docx_header_first_body_in_order_footer_last(tmp_path: Path) -> None:
    document = only_document(parse_docx, tmp_path / "cr.docx", build_docx())
    lines = document.text.splitlines()
    assert lines == [
        "DIFFUSION RESTREINTE",
        "Compte rendu de patrouille",
        "Patrouille effectuée le 12 mars au nord de Narva.",
        "Unité | Position",
        "6e brigade | 35VNE8261507291",
        "Fin du compte rendu.",
        "DIFFUSION RESTREINTE - page 1",
    ]
    assert document.title == "Compte rendu de patrouille"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (random_bytes(4096), "not a DOCX"),
        (b"\xd0\xcf\x11\xe0" + random_bytes(512), "a legacy Word .doc"),
    ],
    ids=["random", "ole2-doc"],
)
def test_hostile_docx_bytes(tmp_path: Path, data: bytes, reason: str) -> None:
    assert ingest_error(parse_docx, tmp_path / "x.docx", data).reason.startswith(reason)


def test_zip_that_is_not_a_word_document(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("notes.txt", "bonjour")
    error = ingest_error(parse_docx, tmp_path / "fake.docx", buffer.getvalue())
    assert error.reason.startswith("unreadable DOCX")


def test_docx_declaring_a_huge_size_is_refused_before_inflating(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("word/document.xml", "<w:document/>")
        # The central directory, written on close, will claim 250 MB.
        archive.getinfo("word/document.xml").file_size = 250 * 1024 * 1024
    error = ingest_error(parse_docx, tmp_path / "bomb.docx", buffer.getvalue())
    assert error.reason.startswith("refused: the archive declares 250 MB")


def test_docx_zip_bomb_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A real bomb of zeros, scaled down with the limit so the test stays fast.
    monkeypatch.setattr(docx_parser, "MAX_UNCOMPRESSED_BYTES", 1024 * 1024)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", b"\0" * (4 * 1024 * 1024))
    assert len(buffer.getvalue()) < 20_000
    error = ingest_error(parse_docx, tmp_path / "bomb.docx", buffer.getvalue())
    assert error.reason.startswith("refused: the archive declares 4 MB")


def test_docx_with_an_entity_bomb_inside_is_refused(tmp_path: Path) -> None:
    source = zipfile.ZipFile(io.BytesIO(build_docx()))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for member in source.infolist():
            data = source.read(member)
            if member.filename == "word/document.xml":
                body = data.decode().split("?>", 1)[1].replace("Fin du compte rendu.", "&lol9;")
                data = (BILLION_LAUGHS_DTD.replace("lolz", "w:document") + body).encode()
            archive.writestr(member, data)
    error = ingest_error(parse_docx, tmp_path / "lol.docx", buffer.getvalue())
    assert error.reason.startswith("unreadable DOCX")


# --- e-mail ---------------------------------------------------------------------------


def test_mail_with_text_and_binary_attachments(tmp_path: Path) -> None:
    document = only_document(parse_email, tmp_path / "cr.eml", build_mail())
    assert document.text.startswith(
        "From: Cne Durand <durand@example.fr>\n"
        "To: cellule.renseignement@example.fr\n"
        "Date: Tue, 12 Mar 2024 14:30:00 +0100\n"
        "Subject: Compte rendu — secteur Est\n\n"
        "Patrouille effectuée.\nRien à signaler au pont."
    )
    assert "(HTML)" not in document.text, "the plain part is preferred"
    assert "--- attachment: positions.csv ---\nunité;position\n6e brigade;Narva" in document.text
    assert "photo.png ---" not in document.text
    assert document.title == "Compte rendu — secteur Est"
    assert document.reported_at == datetime(2024, 3, 12, 13, 30, tzinfo=UTC)
    assert statements(document) == ["DIFFUSION RESTREINTE"]
    assert document.metadata == {
        "from": "Cne Durand <durand@example.fr>",
        "to": "cellule.renseignement@example.fr",
        "attachments": "positions.csv, photo.png",
    }


def test_mail_with_only_an_html_body(tmp_path: Path) -> None:
    message = EmailMessage()
    message["Subject"] = "Point de situation"
    message["Classification"] = "NATO RESTRICTED"
    message["Date"] = "Tue, 12 Mar 2024 14:30:00 -0000"
    message.set_content("<html><body><p>Calme &amp; <b>RAS</b>.</p></body></html>", subtype="html")
    document = only_document(parse_email, tmp_path / "h.eml", message.as_bytes())
    assert document.text.endswith("Calme & RAS.")
    assert "<p>" not in document.text
    assert statements(document) == ["NATO RESTRICTED"]
    assert document.reported_at == datetime(2024, 3, 12, 14, 30, tzinfo=UTC)


def test_mail_body_banner_is_lifted_above_the_headers(tmp_path: Path) -> None:
    message = EmailMessage()
    message["Subject"] = "Demande de gazole"
    message.set_content("NATO RESTRICTED\n\nBesoin de 40 m3.\n\nNATO RESTRICTED\n")
    document = only_document(parse_email, tmp_path / "b.eml", message.as_bytes())
    assert document.text == (
        "NATO RESTRICTED\n\nSubject: Demande de gazole\n\nBesoin de 40 m3.\n\nNATO RESTRICTED"
    )


def test_mail_attachment_named_txt_but_binary_is_listed_not_read(tmp_path: Path) -> None:
    message = EmailMessage()
    message["Subject"] = "Pièces jointes"
    message.set_content("Voir pièces jointes.")
    message.add_attachment(
        "texte accentué".encode("cp1252"), maintype="application", subtype="octet-stream",
        filename="notes.txt",
    )  # fmt: skip
    message.add_attachment(
        random_bytes(600), maintype="application", subtype="octet-stream", filename="faux.txt"
    )
    document = only_document(parse_email, tmp_path / "pj.eml", message.as_bytes())
    assert "--- attachment: notes.txt ---\ntexte accentué" in document.text
    assert "faux.txt ---" not in document.text
    assert document.metadata["attachments"] == "notes.txt, faux.txt"


def test_random_bytes_are_not_a_mail(tmp_path: Path) -> None:
    error = ingest_error(parse_email, tmp_path / "x.eml", random_bytes(4096))
    assert error.reason.startswith("not an e-mail message")


# --- feeds ----------------------------------------------------------------------------


def test_rss_entries(tmp_path: Path) -> None:
    path = tmp_path / "veille.rss"
    first, second = list(parse_feed(path, RSS))
    assert first.origin == f"{path}#1" and second.origin == f"{path}#2"
    assert first.title == "Campagne de phishing"
    assert first.text == "Campagne visant le port de Riga.\nSecond paragraphe."
    assert first.reported_at == datetime(2024, 3, 12, 13, 30, tzinfo=UTC)
    assert first.metadata == {
        "link": "http://cert.example/1",
        "author": "cert@example.fr (CERT)",
        "feed": "Veille cyber",
    }
    assert second.text == "Texte brut de l'alerte." and second.reported_at is None


def test_atom_entry(tmp_path: Path) -> None:
    (entry,) = parse_feed(tmp_path / "wire.atom", ATOM)
    assert entry.title == "Drones over Narva"
    assert entry.text == "First paragraph.\nSecond paragraph."
    assert entry.reported_at == datetime(2024, 3, 12, 8, 0, tzinfo=UTC)
    assert entry.metadata["author"] == "Kadri Saar"


def test_xml_files_are_read_only_when_they_are_feeds(tmp_path: Path) -> None:
    rdf = (
        b'<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"'
        b' xmlns="http://purl.org/rss/1.0/"><channel rdf:about="c"><title>t</title></channel>'
        b'<item rdf:about="i"><title>Entry</title><description>Body</description></item></rdf:RDF>'
    )
    (entry,) = parse_file(write(tmp_path, "feed.XML", rdf))
    assert (entry.title, entry.text) == ("Entry", "Body")
    cot = write(tmp_path, "track.xml", b'<event version="2.0" uid="x"><point lat="1"/></event>')
    error = ingest_error(parse_feed, cot, cot.read_bytes())
    assert error.reason == "XML but not an RSS/Atom feed"
    broken = write(tmp_path, "broken.xml", b"<rss><channel>")
    assert ingest_error(parse_feed, broken, broken.read_bytes()).reason.startswith(
        "not well-formed XML"
    )


@pytest.mark.parametrize("name", ["bomb.rss", "bomb.atom", "bomb.xml"])
def test_feed_billion_laughs_is_refused(tmp_path: Path, name: str) -> None:
    data = BILLION_LAUGHS_DTD + "<rss><channel><item><title>&lol9;</title></item></channel></rss>"
    error = ingest_error(parse_feed, tmp_path / name, data.encode())
    assert error.reason == "XML with a DTD is refused (entity expansion)"


def test_feed_with_an_external_entity_is_refused(tmp_path: Path) -> None:
    data = b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY x SYSTEM "file:///etc/passwd">]><rss>&x;</rss>'
    error = ingest_error(parse_feed, tmp_path / "xxe.rss", data)
    assert error.reason == "XML with a DTD is refused (entity expansion)"


def test_broken_feed_keeps_the_entries_it_has(tmp_path: Path) -> None:
    data = (
        b'<rss version="2.0"><channel><title>t</title><item><title>Un</title>'
        b"<description>Premier texte.</description></item><item><title>Deux</title>"
    )
    documents, error = read_until_error(parse_feed, tmp_path / "cut.rss", data)
    assert error is None
    assert documents[0].title == "Un" and documents[0].text == "Premier texte."


def test_feed_bad_entry_is_reported_after_the_good_ones(tmp_path: Path) -> None:
    data = RSS.replace(b"<item><title>Vuln", b"<item></item><item><title>Vuln")
    path = tmp_path / "veille.rss"
    documents, error = read_until_error(parse_feed, path, data)
    assert [document.origin for document in documents] == [f"{path}#1", f"{path}#3"]
    assert error is not None and error.origin == f"{path}#2"
    assert "1 of 3 entries unreadable" in error.reason


@pytest.mark.parametrize("suffix", [".rss", ".xml"])
@pytest.mark.parametrize("encoding", [b"\x80", b"bogus", b"utf-\x008"])
def test_feed_with_a_mangled_encoding_declaration_is_read_or_refused(
    tmp_path: Path, suffix: str, encoding: bytes
) -> None:
    # feedparser recovers some of these (.rss is read leniently), never crashes.
    declaration = b'<?xml version="1.0" encoding="' + encoding + b'"?>'
    data = declaration + b"<rss><channel><item><title>x</title></item></channel></rss>"
    path = tmp_path / f"f{suffix}"
    documents, error = read_until_error(parse_feed, path, data)
    assert (error is None and documents[0].title == "x") or str(error).startswith(str(path))


def test_random_bytes_are_not_a_feed(tmp_path: Path) -> None:
    error = ingest_error(parse_feed, tmp_path / "x.rss", random_bytes(4096))
    assert error.reason.startswith("not a readable feed")


# --- JSON -----------------------------------------------------------------------------


def test_json_array_maps_the_fields(tmp_path: Path) -> None:
    data = b"""[
      {"text": "Colonne observ\\u00e9e.", "title": "SPOTREP 12", "marking": "NATO SECRET",
       "grade": "B2", "date": "2024-03-12T14:30:00+01:00", "source": "OP Narva", "id": 42,
       "tags": ["a"]},
      {"text": "NATO RESTRICTED\\nSecond rapport.", "published": "2024-03-13"}
    ]"""
    path = tmp_path / "export.json"
    first, second = list(parse_json(path, data))
    assert first.origin == f"{path}#1"
    assert (first.title, first.text) == ("SPOTREP 12", "Colonne observée.")
    assert (statements(first), first.declared_grade) == (["NATO SECRET"], "B2")
    assert first.reported_at == datetime(2024, 3, 12, 13, 30, tzinfo=UTC)
    assert first.metadata == {"source": "OP Narva", "id": "42"}
    assert second.title == "Second rapport."
    assert second.reported_at == datetime(2024, 3, 13, tzinfo=UTC)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b'{"text": "x", ', "invalid JSON at line 1, column"),
        (b'{"title": "no text"}', 'a document needs a non-empty "text" string; it is missing'),
        (b'{"text": 3}', 'a document needs a non-empty "text" string; found a number'),
        (b'{"text": "x", "date": "mardi"}', "\"date\" is not an ISO 8601 date: 'mardi'"),
        (b'{"text": "x", "marking": 5}', '"marking" must be a marking string, found a number'),
        (b'{"text": "x", "Classification": [{}]}', '"Classification" must be a marking'),
        (b'"just a string"', "expected a JSON object, found a string"),
        (b"[]", "empty JSON array"),
        (b"[" * 100_000, "invalid JSON"),
    ],
)
def test_bad_json_documents(tmp_path: Path, data: bytes, reason: str) -> None:
    assert ingest_error(parse_json, tmp_path / "bad.json", data).reason.startswith(reason)


def test_jsonl_bad_lines_do_not_lose_the_good_ones(tmp_path: Path) -> None:
    lines = [
        b'{"text": "Ligne un.", "marking": "NATO RESTRICTED"}',
        b'{"text": "cass',
        b"",
        b'{"text": "Ligne quatre."}',
        b"[1, 2]",
        b'{"text": "Ligne six."}',
    ]
    path = tmp_path / "flux.jsonl"
    documents, error = read_until_error(parse_json_lines, path, b"\r\n".join(lines))
    assert [document.origin for document in documents] == [f"{path}#1", f"{path}#4", f"{path}#6"]
    assert statements(documents[0]) == ["NATO RESTRICTED"]
    assert error is not None and error.origin == f"{path}#2"
    assert error.reason.startswith("invalid JSON at column")
    assert "(2 of 5 lines unreadable, the others were read)" in error.reason


def test_json_nul_characters_are_dropped(tmp_path: Path) -> None:
    data = b'{"text": "a\\u0000b", "title": "t\\u0000", "note": "n\\u0000"}'
    document = only_document(parse_json, tmp_path / "nul.json", data)
    assert (document.text, document.title, document.metadata) == ("ab", "t", {"note": "n"})


def test_jsonl_line_over_10_mb_is_refused_alone(tmp_path: Path) -> None:
    huge = b'{"text": "' + b"a" * (10 * 1024 * 1024 + 1) + b'"}'
    data = b'{"text": "avant"}\n' + huge + b'\n{"text": "apr\\u00e8s"}\n'
    path = tmp_path / "big.ndjson"
    documents, error = read_until_error(parse_json_lines, path, data)
    assert [document.text for document in documents] == ["avant", "après"]
    assert error is not None and error.origin == f"{path}#2"
    assert "over the 10 MB limit" in error.reason


def test_jsonl_of_random_bytes(tmp_path: Path) -> None:
    ingest_error(parse_json_lines, tmp_path / "x.jsonl", random_bytes(4096))


# --- registry -------------------------------------------------------------------------


def test_parser_for_suffixes() -> None:
    assert parser_for(Path("a/B.PDF")) is parse_pdf
    assert parser_for(Path("feed.xml")) is parse_feed
    assert parser_for(Path("mail.eml")) is parse_email
    assert parser_for(Path("x.xyz")) is None and parser_for(Path("README")) is None
    assert {".txt", ".md", ".html", ".pdf", ".docx", ".eml", ".rss", ".jsonl"} <= (
        SUPPORTED_SUFFIXES
    )


def test_iter_input_files_walks_sorted_and_reports_explicit_files(tmp_path: Path) -> None:
    root = tmp_path / "in"
    for name in ("b.txt", "a.md", ".hidden.txt", ".git/x.txt", "sub/c.PDF", "sub/d.xyz", "z.json"):
        write(root, name, b"x")
    extra = write(tmp_path, "extra.xyz", b"x")
    missing = tmp_path / "missing.txt"
    found = list(iter_input_files([root, extra, root / "b.txt", missing]))
    assert found == [
        root / "a.md",
        root / "b.txt",
        root / "sub" / "c.PDF",
        root / "z.json",
        extra,
        missing,
    ]


def test_parse_file_errors_name_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    unsupported = write(tmp_path, "data.xyz", b"x")
    with pytest.raises(IngestError, match=r"data\.xyz: unsupported file type '\.xyz'"):
        list(parse_file(unsupported))
    with pytest.raises(IngestError, match=r"missing\.txt: No such file"):
        list(parse_file(tmp_path / "missing.txt"))
    monkeypatch.setattr(registry, "MAX_FILE_BYTES", 10)
    with pytest.raises(IngestError, match=r"big\.txt: too large"):
        list(parse_file(write(tmp_path, "big.txt", b"x" * 11)))


def test_parse_file_reads_a_folder_of_mixed_formats(tmp_path: Path) -> None:
    write(tmp_path, "a/r.pdf", build_pdf(["Rapport PDF."]))
    write(tmp_path, "a/r.docx", build_docx())
    write(tmp_path, "b/m.eml", build_mail())
    write(tmp_path, "b/f.rss", RSS)
    write(tmp_path, "c/p.html", ARTICLE_HTML.encode())
    write(tmp_path, "c/t.md", b"# Titre\n\nTexte.")
    origins = [doc.origin for path in iter_input_files([tmp_path]) for doc in parse_file(path)]
    assert [Path(origin).name for origin in origins] == [
        "r.docx", "r.pdf", "f.rss#1", "f.rss#2", "m.eml", "p.html", "t.md",
    ]  # fmt: skip


# --- inputs made to be slow -----------------------------------------------------------
# Each of these took seconds to minutes with a naive choice (a backtracking
# regex, the stdlib html.parser, feedparser's sanitizer, the stdlib's header
# decoder); they are here so such a choice cannot come back unnoticed.

LONG = 200_000


@pytest.mark.parametrize(
    "text",
    [
        "# a" + " " * LONG + "b",
        "SUBJ: x" + " " * LONG + "y",
        "SUBJ: " + "*" * LONG + "z",
        "# " + "#" * LONG + " x",
    ],
    ids=["heading-spaces", "subject-spaces", "subject-stars", "heading-hashes"],
)
def test_titles_of_pathological_lines(text: str) -> None:
    assert len(guess_title(text, "f", markdown_headings=True)) <= 201


@pytest.mark.parametrize("markup", ["</", "<!--", "<a ", "<!["])
def test_html_made_of_repeated_markup(tmp_path: Path, markup: str) -> None:
    page = markup * (LONG // len(markup))
    assert "<" not in visible_text(page)
    documents, error = read_until_error(parse_html, tmp_path / "x.html", page.encode())
    assert documents or error is not None
    escaped = page.replace("&", "&amp;").replace("<", "&lt;")
    feed = f"<rss><channel><item><title>t</title><description>{escaped}</description></item>"
    (entry,) = parse_feed(tmp_path / "x.rss", (feed + "</channel></rss>").encode())
    assert entry.title == "t"


def test_mail_with_enormous_headers_keeps_them_raw(tmp_path: Path) -> None:
    data = (
        "Subject: " + "=?utf-8?q?a?= " * 20_000 + "\nFrom: " + "a@b, " * 20_000 + "\n\nCorps."
    ).encode()
    document = only_document(parse_email, tmp_path / "big.eml", data)
    assert document.text.endswith("Corps.")
    assert document.metadata["from"].startswith("a@b, a@b")


# --- any bytes at all -----------------------------------------------------------------

# Each format's opening bytes, so fuzzing reaches past the first check.
PREFIXES = [
    b"",
    b"%PDF-1.4\n",
    b"PK\x03\x04",
    b"\xef\xbb\xbf",
    b'<?xml version="1.0"?><rss version="2.0"><channel><item><title>',
    b'<feed xmlns="http://www.w3.org/2005/Atom"><entry><content type="html">',
    b"From: a@b\nSubject: s\nContent-Type: multipart/mixed; boundary=X\n\n--X\n",
    b'{"text": "',
    b"<html><body><p>",
]


@pytest.mark.parametrize("suffix", sorted(SUPPORTED_SUFFIXES))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prefix=st.sampled_from(PREFIXES), tail=st.binary(max_size=2048))
def test_any_bytes_give_documents_or_an_ingest_error(
    suffix: str, prefix: bytes, tail: bytes
) -> None:
    path = Path(f"fuzz{suffix}")
    parser = parser_for(path)
    assert parser is not None
    try:
        for document in parser(path, prefix + tail):
            assert document.origin.startswith(str(path)) and document.title
            strings = [document.text, document.title, *document.metadata.values()]
            assert not any("\x00" in string for string in strings), "no store keeps NUL"
    except IngestError as error:
        assert str(error).startswith(str(path)) and "\n" not in str(error)


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=512))
def test_decode_text_returns_text_or_refuses(data: bytes) -> None:
    try:
        text = decode_text("x.txt", data)
    except IngestError as error:
        assert error.reason == "not text (binary content)"
    else:
        assert "\x00" not in text and "\r" not in text


# --- the exercise scenario, when it is there ------------------------------------------

# Suffixes only the document parsers read, and the feeds folder. Other .json,
# .jsonl and .xml files may be STIX bundles, EVE logs or CoT tracks, read by
# other layers: of those, only a clean failure is required here.
DOCUMENT_SUFFIXES = {".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx", ".eml", ".rss"}
DOCUMENT_SUFFIXES.add(".atom")


def is_scenario_document(path: Path) -> bool:
    suffix = path.suffix.lower()
    return suffix in DOCUMENT_SUFFIXES or (suffix == ".xml" and "feeds" in path.parts)


def scenario_files(document_formats: bool) -> Iterator[Path]:
    if SCENARIO.is_dir():
        for path in iter_input_files([SCENARIO]):
            if is_scenario_document(path) == document_formats:
                yield path


def scenario_params(document_formats: bool) -> list[object]:
    found = [
        pytest.param(path, id=str(path.relative_to(SCENARIO)))
        for path in scenario_files(document_formats)
    ]
    return found or [pytest.param(None, marks=pytest.mark.skip(reason="no such scenario files"))]


@pytest.mark.parametrize("path", scenario_params(document_formats=True))
def test_scenario_documents_parse(path: Path) -> None:
    documents = list(parse_file(path))
    assert documents
    for document in documents:
        assert document.origin.startswith(str(path))
        assert document.title.strip() and document.text.strip()
    if path.suffix.lower() in {".txt", ".md"}:
        (document,) = documents
        assert document.text == path.read_text(encoding="utf-8").replace("\r\n", "\n")


@pytest.mark.parametrize("path", scenario_params(document_formats=False))
def test_scenario_other_files_parse_or_fail_cleanly(path: Path) -> None:
    try:
        list(parse_file(path))
    except IngestError as error:
        assert str(error).startswith(str(path)) and "\n" not in str(error)


def test_os_errors_are_ingest_errors(tmp_path: Path) -> None:
    folder = tmp_path / "report.txt"
    folder.mkdir()
    with pytest.raises(IngestError, match="report.txt: Is a directory"):
        list(parse_file(folder))
