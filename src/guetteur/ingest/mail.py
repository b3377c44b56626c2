"""Saved e-mails (`.eml`): headers, body and text attachments, through the stdlib `email` package.

`parse_email` turns one message into one `RawDocument`. Its text opens with a
From/To/Cc/Date/Subject block so that search and entity extraction see who
wrote to whom and when — below the body's classification banner, when the body
opens with one, which is lifted to the first line where the pipeline's marking
stage looks for banners — then the body (the text/plain part, or the HTML part
made readable when there is no plain one), then every text attachment after a
"--- attachment: NAME ---" line: reports often travel as a `.txt` or `.csv`
attached to a two-line cover note. The Date header becomes `reported_at`.

An attachment often carries a higher banner than its cover note, and in the
combined text its banner lands in the middle, where no banner is looked for.
So the body, the Subject and every text attachment are also listed as parts
of their own, whose banners and portion markings all count, and an
`X-Classification` or `Classification` header is a marking statement: the
document is stored at the high-water mark of all of them. Binary attachments
are not read (their text is never stored), only listed in the metadata so a
reader knows they existed. (A module named `mail`, not `email`, so it can never
shadow the stdlib.)
"""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import Message
from pathlib import Path

from guetteur._exceptions import IngestError
from guetteur.ingest._base import MarkedPart, PartKind, RawDocument
from guetteur.ingest._decode import decode_text, looks_like_text, normalise_newlines, one_line
from guetteur.ingest.html import extract_article
from guetteur.ingest.text import guess_title, is_banner_line

__all__ = ["parse_email"]

_HEADER_BLOCK = ("From", "To", "Cc", "Date", "Subject")
_MARKING_HEADERS = ("X-Classification", "Classification")
_TEXT_ATTACHMENT_SUFFIXES = (".txt", ".csv", ".md")
# The stdlib decodes structured headers in quadratic time (20 000 encoded words
# in a Subject: 5 s). Longer headers than this, which no real mail has — 300
# recipients fit in it — are kept raw.
_MAX_DECODED_HEADER_CHARS = 16 * 1024
_MAX_NAME_CHARS = 200


def parse_email(path: Path, data: bytes) -> Iterator[RawDocument]:
    """Read one `.eml` message as one document: header block, body, text attachments."""
    origin = str(path)
    # policy.default: decoded headers (RFC 2047 subjects, Date as datetime) and
    # get_body/iter_attachments, which know which part a mail client would show.
    message = email.message_from_bytes(data, policy=email.policy.default)
    headers = {name: _header(message, name) for name in _HEADER_BLOCK}
    if not any(headers[name] for name in ("From", "To", "Subject", "Date")):
        raise IngestError(origin, "not an e-mail message (no From, To, Subject or Date header)")

    try:
        body_part = message.get_body(preferencelist=("plain", "html"))
        attachments = list(message.iter_attachments())
    except Exception as error:
        # The stdlib walks whatever MIME tree it was given; a malformed one can
        # make it raise (KeyError, IndexError…) rather than record a defect.
        raise IngestError(origin, f"unreadable MIME structure: {one_line(error)}") from None
    body, body_parts = _part_text(origin, body_part) if body_part is not None else ("", ())
    body = body.strip()

    parts = [
        MarkedPart(f"header {name}", _without_nul(mark), PartKind.STATEMENT)
        for name in _MARKING_HEADERS
        if (mark := _header(message, name))
    ]
    if headers["Subject"]:
        parts.append(MarkedPart("Subject", _without_nul(headers["Subject"])))
    if body:
        parts.append(MarkedPart("body", _without_nul(body)))
    parts.extend(_within("body", body_parts))
    banner, body = _opening_banner(body)
    sections = [banner] if banner else []
    sections.append("\n".join(f"{name}: {value}" for name, value in headers.items() if value))
    if body:
        sections.append(body)
    names: list[str] = []
    for number, part in enumerate(attachments, start=1):
        name = _attachment_name(part, number)
        names.append(name)
        if not _is_text_attachment(part, name):
            continue
        try:
            attached, attached_parts = _part_text(f"{origin} attachment {name}", part)
            attached = attached.strip()
        except IngestError:
            # Named .txt but binary inside: listed in the metadata, not read.
            continue
        if attached:
            sections.append(f"--- attachment: {name} ---\n{attached}")
            parts.append(MarkedPart(f"attachment {name!r}", _without_nul(attached)))
            parts.extend(_within(f"attachment {name!r}", attached_parts))

    metadata = {"from": headers["From"], "to": headers["To"], "attachments": ", ".join(names)}
    yield RawDocument(
        title=_without_nul(
            guess_title(headers["Subject"], fallback=guess_title(body, fallback=path.stem))
        ),
        text=_without_nul("\n\n".join(sections)),
        origin=origin,
        parts=tuple(parts),
        reported_at=_sent_at(message),
        metadata={key: _without_nul(value) for key, value in metadata.items() if value},
    )


def _without_nul(text: str) -> str:
    # Raw header bytes, parameters and names can carry NUL, which no store
    # keeps (PostgreSQL text refuses it); bodies never do (decode_text).
    return text.replace("\x00", "")


def _opening_banner(body: str) -> tuple[str, str]:
    """(banner, rest of the body) when the body opens with a classification banner."""
    first, _, rest = body.partition("\n")
    if is_banner_line(first):
        return first.strip(), rest.lstrip("\n")
    return "", body


def _header(message: Message, name: str) -> str:
    """A header's decoded value on one line, "" when absent."""
    raw = _raw_header(message, name)
    if raw is None:
        return ""
    value = raw
    if len(raw) <= _MAX_DECODED_HEADER_CHARS:
        try:
            value = str(message.get(name, ""))
        except Exception:
            # The stdlib's structured header parser still raises on some
            # hostile values (IndexError, HeaderParseError…); the raw value is
            # better than losing the message.
            value = raw
    return " ".join(value.split())


def _raw_header(message: Message, name: str) -> str | None:
    for raw_name, raw_value in message.raw_items():
        if raw_name.lower() == name.lower():
            return str(raw_value)
    return None


def _sent_at(message: Message) -> datetime | None:
    raw = _raw_header(message, "Date")
    if raw is None or len(raw) > _MAX_DECODED_HEADER_CHARS:
        return None
    try:
        sent = getattr(message.get("Date"), "datetime", None)
    except Exception:
        return None
    if not isinstance(sent, datetime):
        # Absent, or unparseable (the header then carries an InvalidDateDefect).
        return None
    if sent.tzinfo is None:
        # "-0000": UTC, with the sender's local zone unknown (RFC 5322 §3.3).
        sent = sent.replace(tzinfo=UTC)
    return sent.astimezone(UTC)


def _attachment_name(part: Message, number: int) -> str:
    try:
        name = part.get_filename()
    except Exception:
        name = None
    if not name:
        return f"attachment-{number} ({part.get_content_type()})"
    # A name is a label in a list; a hostile one can be megabytes long.
    return " ".join(name.split())[:_MAX_NAME_CHARS]


def _is_text_attachment(part: Message, name: str) -> bool:
    return part.get_content_maintype() == "text" or name.lower().endswith(_TEXT_ATTACHMENT_SUFFIXES)


def _within(container: str, parts: tuple[MarkedPart, ...]) -> list[MarkedPart]:
    return [
        MarkedPart(f"{container} {part.name}", _without_nul(part.text), part.kind) for part in parts
    ]


def _part_text(origin: str, part: Message) -> tuple[str, tuple[MarkedPart, ...]]:
    """A leaf part's content as text, and the marked parts of an HTML part.

    IngestError naming `origin` if the part is binary.
    """
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return "", ()
    text: str | None = None
    charset = part.get_content_charset()
    if charset:
        try:
            text = payload.decode(charset)
        except (LookupError, UnicodeDecodeError):
            # Unknown or wrong charset label: let content sniffing decide.
            text = None
    if text is None or not looks_like_text(text):
        text = decode_text(origin, payload)
    text = normalise_newlines(text)
    if part.get_content_type() == "text/html":
        article = extract_article(text)
        return article.text, article.marked_parts
    return text, ()
