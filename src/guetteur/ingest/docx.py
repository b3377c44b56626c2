"""Word reports (`.docx`): paragraphs, tables, headers and footers through python-docx.

`parse_docx` turns one `.docx` into one `RawDocument`. Staff reports carry
their classification banner in the page header and footer, not in the body, so
the header's text comes first and the footer's last: the pipeline's marking
stage reads the first and last lines of every document. Tables become one line
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
from docx.text.paragraph import Paragraph

from guetteur._exceptions import IngestError
from guetteur.ingest._base import RawDocument
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
    yield RawDocument(title=title, text=text, origin=origin)


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
