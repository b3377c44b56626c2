"""Word reports (`.docx`): paragraphs, tables, headers and footers through python-docx.

`parse_docx` turns one `.docx` into one `RawDocument`. Staff reports carry
their classification banner in the page header and footer, not in the body, so
the header's text comes first and the footer's last. Each section has its own
headers and footers (default, first-page, even-page), which can each state a
different marking, so every one of them that the file defines — shown or not,
text boxes included — is also a part whose every line is read as a banner
position: the document takes the high-water mark of them all. Tables become one line
per row, cells joined by " | ", in their place in the body. A `.docx` is a zip
archive whose XML parts python-docx reads whole into memory, so the archive's
directory is checked first and an archive declaring more than
`MAX_UNCOMPRESSED_BYTES` is refused before anything is inflated (Python's
zipfile never inflates a member beyond its declared size).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docx
from docx.oxml.ns import qn
from docx.text.paragraph import Paragraph

from guetteur._exceptions import IngestError
from guetteur.ingest._base import MarkedPart, PartKind, RawDocument
from guetteur.ingest._decode import one_line
from guetteur.ingest.text import guess_title

__all__ = ["MAX_UNCOMPRESSED_BYTES", "parse_docx"]

# Far above any real report (a 500-page report with images is ~50 MB) and far
# below what would exhaust a laptop once python-docx builds its XML trees.
MAX_UNCOMPRESSED_BYTES = 200 * 1024 * 1024

_OLE2_MAGIC = b"\xd0\xcf\x11\xe0"


def parse_docx(path: Path, data: bytes) -> Iterator[RawDocument]:
    """Read a Word document as one document: header, body in order, footer."""
    origin = str(path)
    _check_archive(origin, data)
    try:
        document = docx.Document(io.BytesIO(data))
        headers, footers = _page_furniture(document)
        parts = _furniture_parts(document)
        body = "\n".join(_block_lines(document))
        stated_title = str(document.core_properties.title or "")
    except Exception as error:
        # A zip that is not a Word document, or damaged XML inside one: python-docx
        # raises KeyError, PackageNotFoundError, lxml errors… all mean "unreadable".
        raise IngestError(origin, f"unreadable DOCX: {one_line(error)}") from None
    text = "\n".join(part for part in (headers, body, footers) if part.strip())
    if not text.strip():
        raise IngestError(origin, "empty document")
    # The body, not the header: headers hold banners and letterheads.
    title = guess_title(stated_title, fallback=guess_title(body, fallback=path.stem))
    if stated_title.strip():
        parts.append(MarkedPart("document title", stated_title))
    yield RawDocument(title=title, text=text, origin=origin, parts=tuple(parts))


def _check_archive(origin: str, data: bytes) -> None:
    if data.startswith(_OLE2_MAGIC):
        raise IngestError(origin, "a legacy Word .doc, not a .docx: save it as .docx first")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            declared = sum(member.file_size for member in archive.infolist())
    except (zipfile.BadZipFile, ValueError, EOFError) as error:
        raise IngestError(
            origin, f"not a DOCX (not a zip archive: {one_line(error)}; starts with {data[:4]!r})"
        ) from None
    if declared > MAX_UNCOMPRESSED_BYTES:
        raise IngestError(
            origin,
            f"refused: the archive declares {declared / 2**20:.0f} MB once uncompressed, over "
            f"the {MAX_UNCOMPRESSED_BYTES / 2**20:.0f} MB limit (a zip bomb, or a document "
            "to split)",
        )


# python-docx ships no type information; its objects are `Any` to mypy.
def _block_lines(container: Any) -> Iterator[str]:
    """Lines of a body, header, footer or table cell, paragraphs and tables in order."""
    for block in container.iter_inner_content():
        if isinstance(block, Paragraph):
            yield block.text
        else:
            yield from _table_lines(block)


def _table_lines(table: Any) -> Iterator[str]:
    for row in table.rows:
        cells: list[str] = []
        previous = None
        for cell in row.cells:
            # A cell spanning several grid columns is returned once per column,
            # as the same object.
            if cell is previous:
                continue
            previous = cell
            cell_text = " ".join(line.strip() for line in _block_lines(cell) if line.strip())
            if cell_text:
                cells.append(cell_text)
        if cells:
            yield " | ".join(cells)


def _page_furniture(document: Any) -> tuple[str, str]:
    """(header text, footer text) of all sections, each distinct block once."""
    odd_even = document.settings.odd_and_even_pages_header_footer
    headers: list[str] = []
    footers: list[str] = []
    for section in document.sections:
        for texts, primary, first, even in (
            (headers, section.header, section.first_page_header, section.even_page_header),
            (footers, section.footer, section.first_page_footer, section.even_page_footer),
        ):
            candidates = [primary]
            if section.different_first_page_header_footer:
                candidates.insert(0, first)
            if odd_even:
                candidates.append(even)
            for part in candidates:
                # A linked header has no content of its own (it repeats the
                # previous section's); reading it would make python-docx add one.
                if part.is_linked_to_previous:
                    continue
                block = "\n".join(line for line in _block_lines(part) if line.strip())
                if block and block not in texts:
                    texts.append(block)
    return "\n".join(headers), "\n".join(footers)


_PARAGRAPH, _TEXT, _TAB, _BREAK, _CARRIAGE_RETURN = (
    qn(tag) for tag in ("w:p", "w:t", "w:tab", "w:br", "w:cr")
)
_FURNITURE = (
    ("header", "header"),
    ("first_page_header", "first-page header"),
    ("even_page_header", "even-page header"),
    ("footer", "footer"),
    ("first_page_footer", "first-page footer"),
    ("even_page_footer", "even-page footer"),
)


def _furniture_parts(document: Any) -> list[MarkedPart]:
    """Every header and footer each section defines, as parts read line by line.

    All six kinds, whether or not the document's settings show them: a hidden
    first-page header with a higher banner still says what the file holds.
    Paragraphs are read from the XML, so text boxes (where banners often sit)
    count too.
    """
    parts: list[MarkedPart] = []
    for number, section in enumerate(document.sections, start=1):
        for attribute, label in _FURNITURE:
            furniture = getattr(section, attribute)
            # Linked: no definition of its own (reading it would add one).
            if furniture.is_linked_to_previous:
                continue
            text = "\n".join(
                line
                for paragraph in furniture._element.iter(_PARAGRAPH)
                for line in _zones(paragraph)
                if line.strip()
            )
            if text:
                parts.append(MarkedPart(f"section {number} {label}", text, PartKind.FURNITURE))
    return parts


def _zones(paragraph: Any) -> list[str]:
    """A header paragraph's text, split where a tab or break separates its zones.

    Headers lay out "Ministry<tab>NATO SECRET<tab>Page 1" on one line; read as
    one line, the banner in the middle would not be one.
    """
    text: list[str] = []
    for node in paragraph.iter(_TEXT, _TAB, _BREAK, _CARRIAGE_RETURN):
        text.append(node.text or "" if node.tag == _TEXT else "\n")
    return "".join(text).split("\n")
