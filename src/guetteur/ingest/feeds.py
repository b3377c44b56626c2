"""RSS and Atom feeds saved to disk: one document per entry, through feedparser.

`parse_feed` reads `.rss`, `.atom` and feed-shaped `.xml` files (RSS 0.9x, 1.0,
2.0, Atom) and yields one `RawDocument` per entry, with origin `path#N`, the
entry's published (else updated) time as `reported_at`, and its HTML reduced to
plain text. The XML is first checked with defusedxml and any DTD is refused:
feeds come from outside, and a DTD is how entity-expansion ("billion laughs")
and external-entity attacks get in; no real feed needs one today.

An entry's title is shown as the document's title but is not part of its
text when the entry has a body; a banner there ("NATO SECRET - Column near
Narva", "[NS] …") must still count, so the title, and the feed's own title,
are parts of each entry's document whose markings are read.

A broken entry does not cost the others: good entries are yielded, then an
IngestError names the first bad one (see the contract in `registry`).
"""

from __future__ import annotations

import calendar
import io
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import defusedxml.ElementTree
import feedparser
from defusedxml import DefusedXmlException

from guetteur._exceptions import IngestError
from guetteur.ingest._base import MarkedPart, RawDocument
from guetteur.ingest._decode import normalise_newlines, one_line
from guetteur.ingest.html import visible_text
from guetteur.ingest.text import guess_title

__all__ = ["is_feed_root", "parse_feed"]

# Local names of the root element: <rss>, Atom's <feed>, RSS 1.0's <rdf:RDF>.
_FEED_ROOTS = frozenset({"rss", "feed", "RDF"})
_DTD_MARKUP = re.compile(rb"<!(DOCTYPE|ENTITY)", re.IGNORECASE)
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})


def is_feed_root(tag: str) -> bool:
    """True for the root tag of an RSS/Atom document, with or without namespace."""
    return tag.rsplit("}", 1)[-1] in _FEED_ROOTS


def parse_feed(path: Path, data: bytes) -> Iterator[RawDocument]:
    """Read a saved feed: one document per entry, bad entries reported after the good."""
    origin = str(path)
    _check_xml(origin, data, strict=path.suffix.lower() == ".xml")
    # A stream, never bytes or str: feedparser.parse treats a str as a URL or a
    # file name to open, and would fetch or read it. Its HTML sanitizer and URI
    # resolver are off: we keep text only, and both take quadratic time on
    # hostile entries ("<!--" repeated: 30 s for 400 kB).
    try:
        parsed = feedparser.parse(
            io.BytesIO(data), sanitize_html=False, resolve_relative_uris=False
        )
    except Exception as error:
        # feedparser records most damage as "bozo", but a mangled encoding
        # declaration still escapes as UnicodeDecodeError or ValueError.
        raise IngestError(origin, f"not a readable feed: {one_line(error)}") from None
    entries = parsed.get("entries") or []
    if not entries:
        if parsed.get("bozo"):
            reason = one_line(parsed.get("bozo_exception") or Exception("unknown error"))
            raise IngestError(origin, f"not a readable feed: {reason}")
        raise IngestError(origin, "feed has no entries")
    feed_title = _plain(parsed.feed.get("title_detail")) if "feed" in parsed else ""

    first_error: IngestError | None = None
    bad_entries = 0
    for number, entry in enumerate(entries, start=1):
        try:
            document = _entry_document(origin, number, entry, feed_title or path.stem, feed_title)
        except IngestError as error:
            bad_entries += 1
            first_error = first_error or error
            continue
        yield document
    if first_error is not None and len(entries) == 1:
        raise first_error
    if first_error is not None:
        raise IngestError(
            first_error.origin,
            f"{first_error.reason} ({bad_entries} of {len(entries)} entries unreadable, "
            "the others were read)",
        )


def _check_xml(origin: str, data: bytes, *, strict: bool) -> None:
    """Refuse DTDs and non-feed XML; let broken feeds through to feedparser unless `strict`."""
    try:
        root = defusedxml.ElementTree.fromstring(data, forbid_dtd=True)
    except DefusedXmlException:
        raise IngestError(origin, "XML with a DTD is refused (entity expansion)") from None
    except (defusedxml.ElementTree.ParseError, ValueError, LookupError) as error:
        # LookupError: an encoding declaration naming no known codec.
        # The parser stopped before the end, so it may not have seen a DTD that
        # feedparser's lenient parser would then read.
        if _DTD_MARKUP.search(data):
            raise IngestError(origin, "XML with a DTD is refused (entity expansion)") from None
        if strict:
            raise IngestError(origin, f"not well-formed XML: {one_line(error)}") from None
        # .rss/.atom: feedparser recovers entries from many ill-formed feeds.
        return
    if not is_feed_root(str(root.tag)):
        raise IngestError(origin, "XML but not an RSS/Atom feed")


def _entry_document(
    origin: str, number: int, entry: Any, feed_name: str, feed_title: str
) -> RawDocument:
    entry_origin = f"{origin}#{number}"
    contents = entry.get("content") or []
    # Atom <content> holds the full text; <summary>/RSS <description> often a teaser.
    body = _plain(contents[0]) if contents else _plain(entry.get("summary_detail"))
    title = _plain(entry.get("title_detail"))
    if not body and not title:
        raise IngestError(entry_origin, "entry has neither a title nor any text")
    metadata = {
        "link": _field(entry, "link"),
        "author": _field(entry, "author"),
        "id": _field(entry, "id"),
        "feed": feed_name,
    }
    parts = [MarkedPart("entry title", title)] if title else []
    if feed_title:
        parts.append(MarkedPart("feed title", feed_title))
    return RawDocument(
        title=guess_title(title, fallback=guess_title(body, fallback=f"{feed_name} #{number}")),
        text=body or title,
        origin=entry_origin,
        parts=tuple(parts),
        reported_at=_entry_time(entry),
        metadata={key: value for key, value in metadata.items() if value},
    )


def _field(entry: Any, key: str) -> str:
    return str(entry.get(key) or "").replace("\x00", "")


def _plain(detail: Any) -> str:
    """Text of a feedparser text construct ({type, value}), HTML reduced to visible text."""
    if not detail:
        return ""
    # feedparser's lenient parser lets NUL through; no store keeps it.
    value = str(detail.get("value") or "").replace("\x00", "")
    if detail.get("type") in _HTML_TYPES:
        return visible_text(value)
    return normalise_newlines(value).strip()


def _entry_time(entry: Any) -> datetime | None:
    # `in`, not .get(): reading a missing "updated_parsed" makes feedparser warn.
    for key in ("published_parsed", "updated_parsed"):
        if key in entry and isinstance(entry[key], time.struct_time):
            # feedparser normalises every date it parses to a UTC struct_time.
            return datetime.fromtimestamp(calendar.timegm(entry[key]), tz=UTC)
    return None
