"""HTML pages saved from open sources, and the HTML-to-text functions mail and feeds reuse.

`parse_html` reads `.html`/`.htm` files into one `RawDocument` holding the
article without its boilerplate (menus, navigation, footers), extracted by
trafilatura, so that search and synthesis cite the report and not the site's
"Contact us"; the page's `article:published_time` becomes `reported_at`.
Classification banners sit outside the article and trafilatura drops them, so
the first and last visible lines of the page are put back around the article
when they read like a banner, where the pipeline's marking stage looks for
them. Every visible line the page opens or closes with is read for a banner,
and so are its <title> and any `<meta name="classification">` (or
"security-classification", "marking"…) it states: the document takes the
high-water mark of all of them. Nothing is fetched, and no DTD or entity declaration is ever read:
lxml's HTML parser (here and inside trafilatura) does not expand them, which
makes "billion laughs" pages harmless.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# lxml ships no type information and the project's mypy overrides do not list it.
import lxml.etree
import lxml.html
import trafilatura
from trafilatura.settings import Document as Extraction

from guetteur._exceptions import IngestError
from guetteur.ingest._base import MarkedPart, PartKind, RawDocument
from guetteur.ingest._decode import decode_text
from guetteur.ingest.text import guess_title, is_banner_line

__all__ = ["Article", "extract_article", "parse_html", "visible_text"]

# Elements that start a new line in a browser; text inside them is kept on its
# own line so line-based stages (banner lines, titles) see the page's lines.
_BLOCK_TAGS = frozenset({
    "address", "article", "aside", "blockquote", "br", "caption", "dd", "div", "dl", "dt",
    "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5",
    "h6", "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section", "table",
    "td", "th", "tr", "ul",
})  # fmt: skip
_HIDDEN_TAGS = frozenset({"head", "script", "style", "noscript", "template"})
_PUBLISHED_TIME = (
    "//meta[@property='article:published_time' or @name='article:published_time']/@content"
)
# What separates a story from the site name in "Story title - Site name".
_SEPARATOR_CHARS = "-|–—·:"
_TITLE_SEPARATORS = tuple(f" {separator}" for separator in _SEPARATOR_CHARS)
_META_MARKING_NAMES = frozenset({
    "classification", "security-classification", "marking", "security-marking",
    "protective-marking", "security-label", "dc.rights.classification",
})  # fmt: skip


@dataclass(frozen=True)
class Article:
    """What a page says: its title, main text, and the facts its markup states."""

    title: str
    text: str
    author: str = ""
    site: str = ""
    published_at: datetime | None = None
    # Where a page can state its marking outside the article: the <title>,
    # every visible line (banners sit above and below the article) and
    # <meta> marking fields, as parts whose markings count.
    marked_parts: tuple[MarkedPart, ...] = ()


def _parse(html: str) -> Any | None:
    """The page as an lxml tree, or None when there is nothing to parse.

    lxml (libxml2), not the stdlib's html.parser: the latter takes quadratic time
    on inputs such as "</" repeated, which a hostile page can be made of.
    """
    # A parser per call: lxml parsers must not be shared between threads. The
    # text is already decoded; saying so makes lxml ignore a <meta charset>.
    parser = lxml.html.HTMLParser(encoding="utf-8", remove_comments=True, remove_pis=True)
    try:
        return lxml.html.document_fromstring(html.encode("utf-8"), parser=parser)
    except (lxml.etree.ParserError, ValueError):
        # "Document is empty"
        return None


def _visible_text(root: Any) -> str:
    # A walk that reads the tree, never edits it: lxml refuses to store back
    # some characters it accepted from the page (control characters).
    parts: list[str] = []
    hidden_depth = 0
    for event, element in lxml.etree.iterwalk(root, events=("start", "end")):
        tag = element.tag if isinstance(element.tag, str) else ""
        if event == "start":
            if hidden_depth or tag in _HIDDEN_TAGS:
                hidden_depth += 1
                continue
            if tag in _BLOCK_TAGS:
                parts.append("\n")
            parts.append(element.text or "")
            continue
        if hidden_depth:
            hidden_depth -= 1
            if hidden_depth:
                continue
        elif tag in _BLOCK_TAGS:
            parts.append("\n")
        # The tail follows the element: shown even after a hidden one.
        parts.append(element.tail or "")
    lines = (" ".join(line.split()) for line in "".join(parts).splitlines())
    return "\n".join(line for line in lines if line)


def visible_text(html: str) -> str:
    """Every piece of text a browser would show, one line per block, blank lines dropped.

    Used for short HTML fragments (feed summaries) where article extraction has
    too little to work on, and as the fallback when it finds no article.
    """
    root = _parse(html)
    return _visible_text(root) if root is not None else ""


def extract_article(html: str) -> Article:
    """The main content of a page; an empty `text` when the page shows nothing.

    Falls back to all visible text when trafilatura finds no article, and keeps
    banner lines that open or close the page (see the module docstring).
    """
    extraction = trafilatura.bare_extraction(
        html, favor_recall=True, include_comments=False, with_metadata=True
    )
    root = _parse(html)
    if root is None:
        return Article(title="", text="")
    page_title = " ".join(str(root.findtext(".//title") or "").split())
    published_at = next(filter(None, map(_moment, root.xpath(_PUBLISHED_TIME))), None)
    visible = _visible_text(root)
    marked_parts = _marked_parts(root, page_title, visible)
    if not isinstance(extraction, Extraction):
        return Article(
            title=page_title, text=visible, published_at=published_at, marked_parts=marked_parts
        )
    article = str(extraction.text or "").strip()
    if _squeezed(article) == _squeezed(visible):
        # Nothing was boilerplate (short pages, mail bodies); trafilatura's
        # fallback then breaks lines at inline tags ("Calme &\nRAS\n."), the
        # visible text keeps the lines the reader saw.
        article = visible
    return Article(
        title=_best_title(str(extraction.title or ""), page_title),
        text=_with_page_banners(article, visible) if article else visible,
        author=str(extraction.author or ""),
        site=str(extraction.sitename or ""),
        published_at=published_at,
        marked_parts=marked_parts,
    )


def _marked_parts(root: Any, page_title: str, visible: str) -> tuple[MarkedPart, ...]:
    parts = [
        MarkedPart(f'<meta name="{name}">', content, PartKind.STATEMENT)
        for name, content in _meta_markings(root)
    ]
    if page_title:
        parts.append(MarkedPart("page title", page_title))
    if visible:
        parts.append(MarkedPart("page", visible))
    return tuple(parts)


def _meta_markings(root: Any) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for meta in root.iter("meta"):
        name = str(meta.get("name") or meta.get("property") or "")
        content = " ".join(str(meta.get("content") or "").split())
        if content and name.strip().lower().replace("_", "-") in _META_MARKING_NAMES:
            found.append((name.strip(), content.replace("\x00", "")))
    return found


def _squeezed(text: str) -> str:
    return "".join(text.split())


def _best_title(extracted: str, page_title: str) -> str:
    # trafilatura takes a page's only <h1> as its title, and news sites often
    # put their name there (the masthead): when that name ends <title>, after
    # a separator ("Story - Site"), the story part is the title.
    extracted = extracted.strip()
    if extracted and page_title != extracted and page_title.endswith(extracted):
        story = page_title[: -len(extracted)].rstrip()
        if story.endswith(_TITLE_SEPARATORS) and story.rstrip(_SEPARATOR_CHARS).strip():
            return story.rstrip(_SEPARATOR_CHARS).strip()
    return extracted or page_title


def _moment(stated: object) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(stated).strip())
    except ValueError:
        return None
    # A date without zone, on a page published for readers anywhere: UTC.
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def _with_page_banners(article: str, visible: str) -> str:
    page_lines = visible.splitlines()
    if not page_lines:
        return article
    first, last = page_lines[0], page_lines[-1]
    article_lines = article.splitlines()
    if is_banner_line(first) and article_lines[0].strip() != first:
        article = f"{first}\n{article}"
    if len(page_lines) > 1 and is_banner_line(last) and article_lines[-1].strip() != last:
        article = f"{article}\n{last}"
    return article


def parse_html(path: Path, data: bytes) -> Iterator[RawDocument]:
    """Read a saved web page as one document: its article, title, date and banners."""
    html = decode_text(str(path), data)
    article = extract_article(html)
    if not article.text.strip():
        raise IngestError(str(path), "no readable text in HTML")
    metadata = {"author": article.author, "site": article.site}
    yield RawDocument(
        # guess_title on the stated title too: it shortens it and skips a banner.
        title=guess_title(article.title, fallback=guess_title(article.text, fallback=path.stem)),
        text=article.text,
        origin=str(path),
        reported_at=article.published_at,
        metadata={key: value for key, value in metadata.items() if value},
        parts=article.marked_parts,
    )
