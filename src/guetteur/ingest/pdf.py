"""PDF reports: the text layer, page by page, through pypdf.

`parse_pdf` turns one `.pdf` into one `RawDocument`. Only the text layer is
read: a scanned PDF has none and is refused with a hint to OCR it first, since
an empty document would be stored, marked and searched as if it said nothing.
Pages are joined with a blank line, so the banner printed at the top of page
one is the text's first line and the one at the foot of the last page its last
line, where the pipeline's marking stage looks for them. Every page prints its
own banner, and a page's may be higher than the first one's, so each page is
also a part whose first and last lines are read, and so are the /Title and any
document-information entry named like a marking (/Classification,
/SecurityClassification, /Marking…): the document takes the high-water mark
of all of them.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pypdf
import pypdf.errors

from guetteur._exceptions import IngestError
from guetteur.ingest._base import MarkedPart, PartKind, RawDocument
from guetteur.ingest._decode import one_line
from guetteur.ingest.text import guess_title

__all__ = ["parse_pdf"]

_MAGIC = b"%PDF-"
# The header may follow a little junk (some mail gateways prepend bytes); PDF
# readers accept it within the first kilobyte, and so do we.
_MAGIC_WINDOW = 1024
# Document-information keys (case, "_" and "-" ignored) that hold a marking.
_MARKING_ENTRIES = frozenset({
    "classification", "securityclassification", "marking", "securitymarking",
    "protectivemarking", "securitylabel",
})  # fmt: skip


def parse_pdf(path: Path, data: bytes) -> Iterator[RawDocument]:
    """Read the text layer of a PDF as one document; title from /Title or the first line."""
    origin = str(path)
    if _MAGIC not in data[:_MAGIC_WINDOW]:
        raise IngestError(origin, f"not a PDF (starts with {data[:4]!r})")
    # pypdf reports recoverable damage through `logging` and keeps reading; it
    # calls `warnings.warn` only for deprecated API, which we do not use.
    title, pages, statements = _read(origin, data)
    text = "\n\n".join(page.strip("\n") for page in pages)
    if not text.strip():
        raise IngestError(origin, "no text layer (scanned PDF? OCR it first)")
    parts = [
        MarkedPart(f"document information {key}", value, PartKind.STATEMENT)
        for key, value in statements
    ]
    if title.strip():
        parts.append(MarkedPart("document information /Title", title))
    parts.extend(
        MarkedPart(f"page {number}", page) for number, page in enumerate(pages, 1) if page.strip()
    )
    yield RawDocument(
        title=guess_title(title, fallback=guess_title(text, fallback=path.stem)),
        text=text,
        origin=origin,
        parts=tuple(parts),
    )


def _read(origin: str, data: bytes) -> tuple[str, list[str], list[tuple[str, str]]]:
    """(/Title, text of each page, marking entries of the document information)."""
    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            # Many PDFs are encrypted with an empty user password only to carry
            # permission flags; those open. The others need their password.
            raise IngestError(
                origin, "encrypted PDF: decrypt it first (e.g. qpdf --decrypt) and ingest the copy"
            )
        pages = [page.extract_text() for page in reader.pages]
        metadata = reader.metadata
        title = str(metadata.title or "") if metadata is not None else ""
        statements = [
            (str(key), str(value).replace("\x00", ""))
            for key, value in (metadata or {}).items()
            if _is_marking_entry(str(key)) and str(value).strip()
        ]
    except IngestError:
        raise
    except pypdf.errors.DependencyError as error:
        # AES-encrypted files need the optional `cryptography` package.
        raise IngestError(origin, f"encrypted PDF that cannot be opened here: {error}") from None
    except Exception as error:
        # Damaged files make pypdf raise its own errors but also KeyError,
        # ValueError, TypeError, RecursionError… from deep inside; all mean the
        # same to the user: this file cannot be read.
        raise IngestError(origin, f"unreadable PDF: {one_line(error)}") from None
    # Glyphs without a Unicode mapping come out as NUL, which no store keeps
    # (PostgreSQL text refuses it) and no reader needs.
    return title.replace("\x00", ""), [page.replace("\x00", "") for page in pages], statements


def _is_marking_entry(key: str) -> bool:
    folded = key.lstrip("/").replace("_", "").replace("-", "").replace(" ", "").lower()
    return folded in _MARKING_ENTRIES
