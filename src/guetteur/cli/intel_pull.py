"""`guetteur intel pull`: import a partner's TAXII 2.1 collection, keeping their markings.

Every page of the collection is fetched with `taxii2-client` (the OASIS
client), with the marking definitions the objects refer to that an
incremental pull (`--added-after`) did not bring. The objects are then stored
through the same path as `intel import`, one bundle per set of markings
(`Workspace.import_intel_objects`), so each keeps the marking its partner gave
it: a statement is read as the marking it states, TLP as its caveats.

Credentials: `--token` (sent as `Authorization: Bearer`); `--user` with the
password on stdin, sent as HTTP Basic — what most TAXII servers take — unless
the server's challenge shows it is a guetteur (`WWW-Authenticate: Bearer
realm="guetteur"`), which takes no Basic: the password then opens a session
(`POST /api/login`), closed when the pull is done; or a client certificate
(`--client-cert`, `--client-key`), alone or with either.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import click
import requests
import requests.auth
from taxii2client.exceptions import TAXIIServiceException
from taxii2client.v21 import ApiRoot, Collection, Server, as_pages

from guetteur._exceptions import IngestError
from guetteur.cli._common import (
    as_option,
    emit_json,
    handle_errors,
    json_option,
    open_workspace,
    parse_since,
)
from guetteur.cli.cyber import intel
from guetteur.security.markings import parse_marking
from guetteur.views import intel_import_json

__all__ = ["BearerAuth", "fetch_collection", "intel_pull"]

TAXII_MEDIA_TYPE = "application/taxii+json;version=2.1"
PAGE = 1000  # objects asked per request; a server may send fewer
TIMEOUT = 60  # seconds, for the requests made outside taxii2-client


class BearerAuth(requests.auth.AuthBase):
    """`Authorization: Bearer TOKEN` on every request (taxii2-client's TokenAuth says Token)."""

    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request


class _SessionAuth(requests.auth.AuthBase):
    """A guetteur session's cookie on every request (reads need no CSRF token)."""

    def __init__(self, key: str) -> None:
        self.key = key

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Cookie"] = f"guetteur_session={self.key}"
        return request


@dataclass(frozen=True)
class Connection:
    """How to reach a TAXII server: credentials, and TLS verification and client certificate."""

    auth: requests.auth.AuthBase | None = None
    verify: bool | str = True
    cert: tuple[str, str] | str | None = None

    def options(self) -> dict[str, Any]:
        return {"auth": self.auth, "verify": self.verify, "cert": self.cert}


def _refused(url: str, error: Exception) -> IngestError:
    """A TAXII failure as one line naming the URL, with the server's own detail if it gave one."""
    if isinstance(error, requests.HTTPError) and error.response is not None:
        response = error.response
        detail = ""
        try:
            body = response.json()
            if isinstance(body, dict):
                detail = str(
                    body.get("detail") or body.get("description") or body.get("title") or ""
                )
        except ValueError:
            pass
        reason = f"the server answered {response.status_code} {response.reason}"
        return IngestError(url, f"{reason}: {detail}" if detail else reason)
    if isinstance(error, requests.ConnectionError):
        return IngestError(url, "cannot connect (is the server up, and the URL right?)")
    if isinstance(error, requests.exceptions.SSLError):
        return IngestError(url, f"TLS failed ({error}); --ca-cert names the server's CA")
    return IngestError(url, f"not a TAXII 2.1 answer ({error})")


@contextmanager
def _answers(url: str) -> Iterator[None]:
    try:
        yield
    except (requests.RequestException, TAXIIServiceException, KeyError, ValueError) as error:
        raise _refused(url, error) from None


@contextmanager
def password_connection(
    url: str, user: str, password: str, verify: bool | str, cert: tuple[str, str] | str | None
) -> Iterator[Connection]:
    """Credentials from a user name and password: HTTP Basic, or a guetteur session."""
    with _answers(url):
        probe = requests.get(
            url, headers={"Accept": TAXII_MEDIA_TYPE}, verify=verify, cert=cert, timeout=TIMEOUT
        )
    challenge = probe.headers.get("WWW-Authenticate", "")
    if probe.status_code != 401 or 'realm="guetteur"' not in challenge:
        yield Connection(requests.auth.HTTPBasicAuth(user, password), verify, cert)
        return
    origin = "{0.scheme}://{0.netloc}/".format(urlsplit(url))
    with requests.Session() as http, _answers(url):
        http.verify, http.cert = verify, cert
        answer = http.post(
            urljoin(origin, "api/login"),
            json={"username": user, "password": password},
            timeout=TIMEOUT,
        )
        answer.raise_for_status()
        login = answer.json()
        if login.get("must_change_password"):
            raise IngestError(url, f"{user} holds a one-time password: change it first")
        key = http.cookies.get("guetteur_session")
        if not key:
            raise IngestError(url, "the login set no session cookie")
        try:
            yield Connection(_SessionAuth(key), verify, cert)
        finally:
            try:
                http.post(
                    urljoin(origin, "api/logout"),
                    headers={"X-CSRF-Token": str(login.get("csrf_token", ""))},
                    timeout=TIMEOUT,
                )
            except requests.RequestException:
                pass  # the session expires on its own; the pull's outcome stands


def find_collection(url: str, reference: str, connection: Connection) -> Collection:
    """The collection with id or alias `reference`, under `url` (discovery or an API root)."""
    with _answers(url):
        server = Server(url, **connection.options())
        roots = server.api_roots or [ApiRoot(url, **connection.options())]
        if server.default is not None:
            roots.sort(key=lambda root: root.url != server.default.url)
        offered: list[str] = []
        for root in roots:
            for collection in root.collections:
                if reference in (collection.id, collection.alias):
                    # By id: taxii2-client checks the id against the collection's URL.
                    return Collection(
                        f"{root.url}collections/{collection.id}/", **connection.options()
                    )
                offered.append(collection.alias or collection.id)
    raise IngestError(url, f"no collection {reference!r} (offered: {', '.join(offered) or 'none'})")


def fetch_collection(
    collection: Collection, added_after: datetime | None = None
) -> list[dict[str, Any]]:
    """Every object of every page (only those added after `added_after`, if given), with the
    marking definitions they refer to that the pages did not hold."""
    objects: list[dict[str, Any]] = []
    with _answers(collection.url):
        filters = {"added_after": added_after} if added_after else {}
        for envelope in as_pages(collection.get_objects, per_request=PAGE, **filters):
            objects.extend(envelope.get("objects") or [])
        held = {o.get("id") for o in objects}
        wanted = sorted({ref for o in objects for ref in o.get("object_marking_refs") or []} - held)
        for marking_id in wanted:
            try:
                envelope = collection.get_object(marking_id)
            except requests.HTTPError as error:
                if error.response is not None and error.response.status_code == 404:
                    continue  # a well-known definition (TLP) the collection does not hold
                raise
            objects.extend(envelope.get("objects") or [])
    return objects


@intel.command("pull")
@click.argument("url")
@click.option("--collection", "reference", required=True, help="The collection's id or alias.")
@click.option("--token", help="An API token, sent as Authorization: Bearer.")
@click.option("--user", help="A user name; the password is read from stdin (--password-stdin).")
@click.option("--password-stdin", is_flag=True, help="Read --user's password from stdin.")
@click.option(
    "--ca-cert",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Verify the server's certificate against this CA (PEM).",
)
@click.option(
    "--client-cert",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Present this client certificate (PEM; mutual TLS).",
)
@click.option(
    "--client-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The client certificate's private key (PEM), if not in --client-cert.",
)
@click.option("--source", default="taxii", show_default=True, help="Name of the partner feed.")
@click.option("--marking", help="Marking for objects the partner left unmarked (or the source's).")
@click.option(
    "--added-after", help="Only objects added after: a duration (24h, 7d) or an ISO time."
)
@json_option
@as_option
@click.pass_context
@handle_errors
def intel_pull(
    context: click.Context,
    url: str,
    reference: str,
    token: str | None,
    user: str | None,
    password_stdin: bool,
    ca_cert: Path | None,
    client_cert: Path | None,
    client_key: Path | None,
    source: str,
    marking: str | None,
    added_after: str | None,
    as_json: bool,
    as_user: str | None,
) -> None:
    """Import a partner's TAXII 2.1 collection, each object under the partner's marking."""
    if token and user:
        raise click.UsageError("give --token or --user, not both")
    if bool(user) != password_stdin:
        raise click.UsageError("--user and --password-stdin go together")
    if client_key and not client_cert:
        raise click.UsageError("--client-key goes with --client-cert")
    since = parse_since(added_after)
    given = parse_marking(marking) if marking else None
    workspace = open_workspace(context)
    actor = workspace.user(as_user)
    verify: bool | str = str(ca_cert) if ca_cert else True
    cert: tuple[str, str] | str | None = None
    if client_cert is not None:
        cert = (str(client_cert), str(client_key)) if client_key else str(client_cert)

    manager: AbstractContextManager[Connection]
    if user:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise click.UsageError("--password-stdin: no password on stdin")
        manager = password_connection(url, user, password, verify, cert)
    else:
        manager = nullcontext(Connection(BearerAuth(token) if token else None, verify, cert))
    with manager as connection:
        collection = find_collection(url, reference, connection)
        objects = fetch_collection(collection, since)
    host = urlsplit(url).netloc or "taxii"
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    parts = workspace.import_intel_objects(
        actor, objects, f"taxii-{host}-{reference}-{stamp}", source, given
    )
    if as_json:
        emit_json(
            {
                "collection": collection.url,
                "objects": len(objects),
                "parts": [
                    {"file": path.name, "marking": str(chosen), **intel_import_json(report)}
                    for path, chosen, report in parts
                ],
            }
        )
        return
    click.echo(f"{collection.url}: {len(objects)} objects, {len(parts)} new part(s)")
    for path, chosen, report in parts:
        click.echo(
            f"  {chosen}: {report.indicators} new indicators ({report.duplicates} known), "
            f"{report.objects} objects → {path.name}"
        )
        for reason, count in report.skipped.items():
            click.echo(f"    skipped {count}: {reason}")
