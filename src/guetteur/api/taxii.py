"""TAXII 2.1: the face partner nations pull guetteur's threat intelligence from.

Under /taxii2/: discovery, one API root (/taxii2/guetteur/), its two
collections — `intel` and `incidents`, see cyber/stix_out.py — their objects
(paged with `added_after`, `limit` and `next`, filtered with `match[id]`,
`match[type]`, `match[version]` and `match[spec_version]`), one object, its
versions, and the manifest. Read-only: no collection accepts writes.

Partners authenticate like everyone else (`caller`: a session, a bearer token
or a client certificate), each as a user of their nation, and receive only
what a tear-line release to that nation passes (`Workspace.taxii_page`).
Bodies are `application/taxii+json;version=2.1`, or `application/json` when
that is all the client accepts. `X-TAXII-Date-Added-First`/`-Last` span the
dates added of a page, and `X-Guetteur-Marking` states the high-water mark of
its objects, each of which carries its own marking definitions. Errors are
the API's problem details (problems.py), with TAXII's status codes: 400 for a
bad filter or cursor, 404 for a collection or object the caller cannot see
(the same whether it does not exist or is not theirs), 406 for an Accept
header that names no TAXII 2.1 media type.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from guetteur._exceptions import InvalidInputError
from guetteur.api.auth import Caller, caller, workspace
from guetteur.api.guard import Limits
from guetteur.api.problems import Problem
from guetteur.api.records import MARKING_HEADER
from guetteur.cyber.stix_out import (
    COLLECTIONS,
    DEFAULT_PAGE,
    MAX_PAGE,
    STIX_MEDIA_TYPE,
    StixEntry,
    TaxiiCollection,
    TaxiiPage,
    TaxiiQuery,
    parse_timestamp,
    select_page,
    taxii_time,
)
from guetteur.security.markings import high_water_mark
from guetteur.views import NOTHING_MARKED
from guetteur.workspace import Workspace

__all__ = ["API_ROOT", "TAXII_MEDIA_TYPE", "router"]

TAXII_MEDIA_TYPE = "application/taxii+json;version=2.1"
JSON_MEDIA_TYPE = "application/json"
API_ROOT = "guetteur"

router = APIRouter(prefix="/taxii2", tags=["taxii"])


def accepted_media_type(accept: str) -> str:
    """The media type to answer an Accept header with; Problem 406 when it allows none."""
    if not accept.strip():
        return TAXII_MEDIA_TYPE
    plain_json = False
    for item in accept.split(","):
        media, *raw_params = (part.strip() for part in item.split(";"))
        params = dict(p.partition("=")[::2] for p in raw_params)
        try:
            if float(params.get("q", "1")) <= 0:
                continue
        except ValueError:
            continue
        media = media.lower()
        if media in ("*/*", "application/*"):
            return TAXII_MEDIA_TYPE
        if media == "application/taxii+json" and params.get("version", "2.1") == "2.1":
            return TAXII_MEDIA_TYPE
        plain_json = plain_json or media == JSON_MEDIA_TYPE
    if plain_json:
        return JSON_MEDIA_TYPE
    raise Problem(
        406,
        f"Accept: {accept[:100]!r} names no media type this TAXII server serves "
        f"({TAXII_MEDIA_TYPE}, or {JSON_MEDIA_TYPE})",
    )


@dataclass(frozen=True)
class TaxiiCaller:
    who: Caller
    media_type: str


def taxii_caller(request: Request, who: Caller = Depends(caller)) -> TaxiiCaller:
    """The authenticated caller (first: nobody else learns anything), and what they accept."""
    return TaxiiCaller(who, accepted_media_type(request.headers.get("accept", "")))


def _answer(
    body: dict[str, Any], taxii: TaxiiCaller, headers: dict[str, str] | None = None
) -> Response:
    content = json.dumps(body, ensure_ascii=False).encode("utf-8")
    return Response(content, media_type=taxii.media_type, headers=headers)


def _root_url(request: Request) -> str:
    return f"{request.base_url}taxii2/{API_ROOT}/"


def _collection(collection_id: str) -> TaxiiCollection:
    """A collection by id or alias; 404 naming it otherwise."""
    for found in COLLECTIONS:
        if collection_id in (found.id, found.alias):
            return found
    raise Problem(404, f"no collection {collection_id!r} in API root {API_ROOT!r}")


def _collection_json(collection: TaxiiCollection) -> dict[str, Any]:
    return {
        "id": collection.id,
        "title": collection.title,
        "description": collection.description,
        "alias": collection.alias,
        "can_read": True,
        "can_write": False,
        "media_types": [STIX_MEDIA_TYPE],
    }


def _listed(request: Request, name: str) -> list[str]:
    """A match filter's values: comma-separated, and the parameter may repeat."""
    return [
        value.strip()
        for raw in request.query_params.getlist(name)
        for value in raw.split(",")
        if value.strip()
    ]


def _query(request: Request) -> TaxiiQuery:
    """The filters and paging of a request; Problem 400 naming a bad one."""
    params = request.query_params
    limit = DEFAULT_PAGE
    if "limit" in params:
        raw = params["limit"].strip()
        if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:
            raise Problem(400, f"limit: {raw[:20]!r} is not a positive whole number")
        limit = min(int(raw), MAX_PAGE)  # a server may return fewer than asked
    try:
        added_after = (
            parse_timestamp(params["added_after"], "added_after")
            if "added_after" in params
            else None
        )
    except InvalidInputError as error:
        raise Problem(400, str(error)) from None
    return TaxiiQuery(
        added_after=added_after,
        limit=limit,
        next=params.get("next") or None,
        ids=frozenset(_listed(request, "match[id]")),
        types=frozenset(_listed(request, "match[type]")),
        versions=tuple(_listed(request, "match[version]")) or ("last",),
        spec_versions=frozenset(_listed(request, "match[spec_version]")),
    )


def _page(ws: Workspace, who: Caller, alias: str, query: TaxiiQuery, endpoint: str) -> TaxiiPage:
    try:
        return ws.taxii_page(who.user, alias, query, endpoint)
    except InvalidInputError as error:  # a cursor or version the query cannot use
        raise Problem(400, str(error)) from None


def _headers(entries: list[StixEntry]) -> dict[str, str]:
    markings = [e.marking for e in entries if e.marking is not None]
    headers = {MARKING_HEADER: str(high_water_mark(markings) if markings else NOTHING_MARKED)}
    if entries:
        headers["X-TAXII-Date-Added-First"] = taxii_time(entries[0].added)
        headers["X-TAXII-Date-Added-Last"] = taxii_time(entries[-1].added)
    return headers


def _envelope(page: TaxiiPage) -> dict[str, Any]:
    body: dict[str, Any] = {"more": page.more}
    if page.next is not None:
        body["next"] = page.next
    if page.entries:  # TAXII: "one or more" objects, else none at all
        body["objects"] = [dict(e.object) for e in page.entries]
    return body


@router.get("/")
def discovery(request: Request, taxii: TaxiiCaller = Depends(taxii_caller)) -> Response:
    """TAXII discovery: this server and its one API root."""
    root = _root_url(request)
    body = {
        "title": "guetteur",
        "description": "Threat intelligence and incidents releasable to the caller's nation.",
        "default": root,
        "api_roots": [root],
    }
    return _answer(body, taxii)


@router.get(f"/{API_ROOT}/")
def api_root(taxii: TaxiiCaller = Depends(taxii_caller)) -> Response:
    """The API root: versions served (TAXII 2.1) and the largest request accepted."""
    body = {
        "title": "guetteur",
        "description": "Collections of STIX 2.1, read-only, each object under its own marking.",
        "versions": [TAXII_MEDIA_TYPE],
        "max_content_length": Limits().body_bytes,
    }
    return _answer(body, taxii)


@router.get(f"/{API_ROOT}/collections/")
def collections(taxii: TaxiiCaller = Depends(taxii_caller)) -> Response:
    """The collections: `intel` and `incidents`."""
    return _answer({"collections": [_collection_json(c) for c in COLLECTIONS]}, taxii)


@router.get(f"/{API_ROOT}/collections/{{collection_id}}/")
def collection(collection_id: str, taxii: TaxiiCaller = Depends(taxii_caller)) -> Response:
    """One collection, by id or alias."""
    return _answer(_collection_json(_collection(collection_id)), taxii)


@router.get(f"/{API_ROOT}/collections/{{collection_id}}/objects/")
def objects(
    collection_id: str,
    request: Request,
    taxii: TaxiiCaller = Depends(taxii_caller),
    ws: Workspace = Depends(workspace),
) -> Response:
    """The collection's objects the caller may receive, oldest first, one page at a time."""
    found = _collection(collection_id)
    page = _page(ws, taxii.who, found.alias, _query(request), "objects")
    return _answer(_envelope(page), taxii, _headers(page.entries))


def _one(ws: Workspace, who: Caller, found: TaxiiCollection, object_id: str) -> list[StixEntry]:
    """Every version of one object the caller may receive; 404 when there is none."""
    whole = TaxiiQuery(ids=frozenset({object_id}), versions=("all",), limit=MAX_PAGE)
    entries = _page(ws, who, found.alias, whole, "object").entries
    if not entries:
        raise Problem(404, f"no object {object_id!r} in collection {found.alias!r}")
    return entries


@router.get(f"/{API_ROOT}/collections/{{collection_id}}/objects/{{object_id}}/")
def one_object(
    collection_id: str,
    object_id: str,
    request: Request,
    taxii: TaxiiCaller = Depends(taxii_caller),
    ws: Workspace = Depends(workspace),
) -> Response:
    """One object (in the versions asked for), as an envelope."""
    found = _collection(collection_id)
    entries = _one(ws, taxii.who, found, object_id)
    query = replace(_query(request), ids=frozenset({object_id}))
    try:
        page = select_page(entries, query)
    except InvalidInputError as error:
        raise Problem(400, str(error)) from None
    return _answer(_envelope(page), taxii, _headers(page.entries))


@router.get(f"/{API_ROOT}/collections/{{collection_id}}/objects/{{object_id}}/versions/")
def object_versions(
    collection_id: str,
    object_id: str,
    request: Request,
    taxii: TaxiiCaller = Depends(taxii_caller),
    ws: Workspace = Depends(workspace),
) -> Response:
    """The versions of one object: guetteur serves each in its latest version only."""
    found = _collection(collection_id)
    entries = _one(ws, taxii.who, found, object_id)
    query = _query(request)
    versions = [
        e.version for e in entries if query.added_after is None or e.added > query.added_after
    ]
    body: dict[str, Any] = {"more": False}
    if versions:
        body["versions"] = versions
    return _answer(body, taxii, _headers(entries))


@router.get(f"/{API_ROOT}/collections/{{collection_id}}/manifest/")
def manifest(
    collection_id: str,
    request: Request,
    taxii: TaxiiCaller = Depends(taxii_caller),
    ws: Workspace = Depends(workspace),
) -> Response:
    """What the objects endpoint would serve, described: id, date added, version, media type."""
    found = _collection(collection_id)
    page = _page(ws, taxii.who, found.alias, _query(request), "manifest")
    body: dict[str, Any] = {"more": page.more}
    if page.next is not None:
        body["next"] = page.next
    if page.entries:
        body["objects"] = [
            {
                "id": e.id,
                "date_added": taxii_time(e.added),
                "version": e.version,
                "media_type": STIX_MEDIA_TYPE,
            }
            for e in page.entries
        ]
    return _answer(body, taxii, _headers(page.entries))
