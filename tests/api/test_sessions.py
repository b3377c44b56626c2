"""Logging in over real HTTP: sessions, CSRF, one-time passwords, tokens, back-off."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from guetteur._exceptions import AuthenticationError, LoginBlockedError
from guetteur.workspace import Workspace

from api.conftest import PASSWORDS
from api.server import LiveServer, login


def test_health_answers_without_authentication_and_says_nothing_else(served: LiveServer) -> None:
    with served.client() as client:
        answer = client.get("/api/health")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/search?q=Narva"),
        ("GET", "/api/me"),
        ("GET", "/api/stats"),
        ("GET", "/api/documents/abc"),
        ("GET", "/api/openapi.json"),
        ("GET", "/api/admin/users"),
        ("POST", "/api/ask"),
        ("GET", "/api/no-such-path-at-all"),
    ],
)
def test_nothing_answers_without_authentication(served: LiveServer, method: str, path: str) -> None:
    with served.client() as client:
        answer = client.request(method, path, json={"question": "Narva?"})
    assert answer.status_code in (401, 404)
    assert answer.headers["content-type"] == "application/problem+json"
    if path != "/api/no-such-path-at-all":
        assert answer.status_code == 401
        assert "Narva" not in answer.text


def test_login_sets_a_strict_http_only_cookie_and_gives_a_csrf_token(served: LiveServer) -> None:
    with served.client() as client:
        answer = client.post(
            "/api/login", json={"username": "lux_nr", "password": PASSWORDS["lux_nr"]}
        )
        assert answer.status_code == 200
        body = answer.json()
        assert body["user"]["name"] == "lux_nr"
        assert body["must_change_password"] is False
        assert len(body["csrf_token"]) >= 32
        cookie = answer.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        me = client.get("/api/me").json()
        assert me["user"]["clearance"] == "RESTRICTED" and me["method"] == "session"


def test_an_unknown_user_and_a_wrong_password_get_the_same_answer(served: LiveServer) -> None:
    with served.client() as client:
        wrong = client.post("/api/login", json={"username": "deu_nc", "password": "not-it-at-all"})
        unknown = client.post(
            "/api/login", json={"username": "nobody", "password": "not-it-at-all"}
        )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


def test_state_changing_requests_need_the_csrf_token(served: LiveServer) -> None:
    with served.client() as client:
        csrf = login(client, "ops", PASSWORDS["ops"])
        del client.headers["X-CSRF-Token"]
        refused = client.post("/api/watch", json={"name": "bridges", "requirement": "Narva bridge"})
        assert refused.status_code == 403
        assert "CSRF" in refused.json()["detail"]
        forged = client.post(
            "/api/watch",
            json={"name": "bridges", "requirement": "Narva bridge"},
            headers={"X-CSRF-Token": csrf[:-2] + "xx"},
        )
        assert forged.status_code == 403
        done = client.post(
            "/api/watch",
            json={"name": "bridges", "requirement": "Narva bridge"},
            headers={"X-CSRF-Token": csrf},
        )
        assert done.status_code == 201, done.text


def test_logout_ends_the_session_on_the_server(served: LiveServer) -> None:
    with served.client() as client:
        login(client, "deu_nc", PASSWORDS["deu_nc"])
        cookie = client.cookies.get("guetteur_session")
        assert client.post("/api/logout").status_code == 204
    with served.client() as replay:
        replay.cookies.set("guetteur_session", cookie or "")
        assert replay.get("/api/me").status_code == 401


def test_responses_carry_the_security_headers(served: LiveServer) -> None:
    with served.client() as client:
        answer = client.get("/api/health")
    csp = answer.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert "strict-transport-security" not in answer.headers  # not under TLS


def test_a_one_time_password_must_be_changed_first(tmp_path: Path, built_gazetteer: Path) -> None:
    from conftest import new_workspace

    home = tmp_path / "ws"
    workspace: Workspace = new_workspace(home, built_gazetteer)
    one_time = workspace.accounts.set_password(workspace.operator(), "lux_nr")
    workspace.close()
    with LiveServer(home) as server, server.client() as client:
        body = client.post("/api/login", json={"username": "lux_nr", "password": one_time}).json()
        assert body["must_change_password"] is True
        client.headers["X-CSRF-Token"] = body["csrf_token"]
        blocked = client.get("/api/search", params={"q": "Narva"})
        assert blocked.status_code == 403 and "one-time password" in blocked.json()["detail"]
        short = client.post("/api/password", json={"old": one_time, "new": "short"})
        assert short.status_code == 422 and "too short" in short.json()["detail"]
        named = client.post("/api/password", json={"old": one_time, "new": "lux_nr-is-my-password"})
        assert named.status_code == 422 and "name" in named.json()["detail"]
        changed = client.post(
            "/api/password", json={"old": one_time, "new": "a much longer passphrase"}
        )
        assert changed.status_code == 204
        # Every session ends with a password change: log in again with the new one.
        assert client.get("/api/me").status_code == 401
        login(client, "lux_nr", "a much longer passphrase")
        assert client.get("/api/search", params={"q": "Narva"}).status_code == 200


def test_tokens_are_scoped_revocable_and_shown_once(
    served: LiveServer, as_user: dict[str, httpx.Client]
) -> None:
    ops = as_user["ops"]
    created = ops.post("/api/tokens", json={"user": "lux_nr", "scope": "read", "expires": "1d"})
    assert created.status_code == 201, created.text
    secret, token_id = created.json()["secret"], created.json()["token"]["id"]
    listed = ops.get("/api/tokens").json()["tokens"]
    assert token_id in [t["id"] for t in listed]
    assert secret not in str(listed)
    with served.client(headers={"Authorization": f"Bearer {secret}"}) as script:
        assert script.get("/api/me").json()["user"]["name"] == "lux_nr"
        write = script.post("/api/watch", json={"name": "n", "requirement": "Narva"})
        assert write.status_code == 403 and "only read" in write.json()["detail"]
        assert ops.delete(f"/api/tokens/{token_id}").status_code == 200
        assert script.get("/api/me").status_code == 401
    with served.client(headers={"Authorization": "Bearer gtr_forged"}) as forged:
        assert forged.get("/api/me").status_code == 401


def test_failed_logins_back_off_and_a_lockout_is_reported(
    tmp_path: Path, built_gazetteer: Path
) -> None:
    from conftest import new_workspace

    home = tmp_path / "ws"
    workspace = new_workspace(home, built_gazetteer)
    workspace.accounts.set_password(workspace.operator(), "deu_nc", "a fine long passphrase")
    workspace.close()
    with LiveServer(home) as server, server.client() as client:
        codes = []
        for attempt in range(3):
            answer = client.post(
                "/api/login", json={"username": "deu_nc", "password": f"wrong-{attempt}"}
            )
            codes.append(answer.status_code)
        assert codes[:2] == [401, 401]
        blocked = client.post(
            "/api/login", json={"username": "deu_nc", "password": "a fine long passphrase"}
        )
        assert blocked.status_code == 429
        assert int(blocked.headers["retry-after"]) >= 1
        # From another address, a name that does not exist backs off as a real one does.
    with Workspace.open(home) as workspace:
        accounts = workspace.accounts
        for name in ("lux_nr", "ghost"):
            for attempt in range(3):
                with pytest.raises(AuthenticationError):
                    accounts.login(name, f"wrong-{attempt}", f"10.0.0.{len(name)}")
            with pytest.raises(LoginBlockedError) as blocked:
                accounts.login(name, "x", "10.0.0.99")
            assert str(blocked.value).startswith("too many failed logins")
        actions = [row.action for row in workspace.store.audit_rows()]
        assert actions.count("login.failed") == 3 + 6
        assert actions.count("login.blocked") == 1 + 2
