"""Mutual TLS, as defence networks and TAK authenticate: a client certificate
signed by the server's client CA, whose subject a security officer mapped to
a user, logs that user in.

Every certificate is made here with `cryptography`: a CA, a server
certificate for 127.0.0.1, client certificates from that CA and from another.
The server is uvicorn on loopback with the same protocol class as
`guetteur serve --tls-cert --tls-key --client-ca`; clients are httpx.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from api.conftest import PASSWORDS
from api.server import LiveServer, login
from conftest import new_workspace


@dataclass(frozen=True)
class Issued:
    cert: Path
    key: Path
    subject: str  # RFC 4514, as the server reads it


def _name(common: str, organisation: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
            x509.NameAttribute(NameOID.COMMON_NAME, common),
        ]
    )


def _write(
    folder: Path, stem: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> Issued:
    cert_path, key_path = folder / f"{stem}.crt", folder / f"{stem}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return Issued(cert_path, key_path, cert.subject.rfc4514_string())


class Authority:
    """A certificate authority that issues server and client certificates."""

    def __init__(self, folder: Path, name: str) -> None:
        self.folder = folder
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = _name(f"{name} CA", name)
        now = dt.datetime.now(dt.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(self.name)
            .issuer_name(self.name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )  # fmt: skip
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False
            )
            .sign(self.key, hashes.SHA256())
        )
        self.issued = _write(folder, name.lower(), self.cert, self.key)

    def issue(self, stem: str, common: str, *, server: bool = False) -> Issued:
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common, "BOREAL SHIELD"))
            .issuer_name(self.name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False,
            )
        return _write(self.folder, stem, builder.sign(self.key, hashes.SHA256()), key)


@dataclass(frozen=True)
class Pki:
    ca: Authority
    server: Issued
    lux: Issued  # mapped to lux_nr with `guetteur users certificate`
    deu: Issued  # mapped to deu_nc through the Python API
    unmapped: Issued  # signed by the CA, mapped to nobody
    stranger: Issued  # a client certificate of another CA, whose subject IS mapped


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    ca, other = Authority(folder, "GUETTEUR"), Authority(folder, "ELSEWHERE")
    lux = ca.issue("lux", "lux_nr.recce")
    return Pki(
        ca=ca,
        server=ca.issue("server", "127.0.0.1", server=True),
        lux=lux,
        deu=ca.issue("deu", "deu_nc.liaison"),
        unmapped=ca.issue("unmapped", "nobody.known"),
        # Same subject as lux's: only the signature tells them apart.
        stranger=other.issue("stranger", "lux_nr.recce"),
    )


@pytest.fixture(scope="module")
def served_tls(
    tmp_path_factory: pytest.TempPathFactory, built_gazetteer: Path, pki: Pki
) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("mtls") / "ws"
    workspace = new_workspace(home, built_gazetteer)
    operator = workspace.operator()
    for name in ("lux_nr", "deu_nc"):
        one_time = workspace.accounts.set_password(operator, name)
        workspace.accounts.change_password(
            workspace.store.get_user(name), one_time, PASSWORDS[name]
        )
    workspace.accounts.map_certificate(operator, pki.deu.subject, "deu_nc")
    workspace.close()
    # The security officer's command, as a real process.
    mapped = subprocess.run(
        [sys.executable, "-m", "guetteur", "--home", str(home), "users", "certificate",
         "lux_nr", pki.lux.subject],
        capture_output=True, text=True, env=dict(os.environ), timeout=120,
    )  # fmt: skip
    assert mapped.returncode == 0, mapped.stderr
    server_cert = (pki.server.cert, pki.server.key)
    with LiveServer(home, tls=server_cert, client_ca=pki.ca.issued.cert) as server:
        yield server


def context(pki: Pki, client: Issued | None) -> ssl.SSLContext:
    """What a client trusts (our CA) and, when given, the certificate it presents."""
    made = ssl.create_default_context(cafile=str(pki.ca.issued.cert))
    if client is not None:
        made.load_cert_chain(str(client.cert), str(client.key))
    return made


def test_a_mapped_certificate_is_its_user(served_tls: LiveServer, pki: Pki) -> None:
    for issued, name in ((pki.lux, "lux_nr"), (pki.deu, "deu_nc")):
        with served_tls.client(verify=context(pki, issued)) as client:
            me = client.get("/api/me")
            assert me.status_code == 200, me.text
            assert me.json()["user"]["name"] == name
            assert me.json()["method"] == "certificate"
            assert client.get("/api/search", params={"q": "Narva"}).status_code == 200


def test_an_unmapped_certificate_is_refused(served_tls: LiveServer, pki: Pki) -> None:
    with served_tls.client(verify=context(pki, pki.unmapped)) as client:
        me = client.get("/api/me")
    assert me.status_code == 401
    assert me.headers["content-type"] == "application/problem+json"
    assert "nobody.known" not in me.text


def test_a_certificate_of_another_authority_is_refused(served_tls: LiveServer, pki: Pki) -> None:
    """Its subject is mapped, but the server does not trust its issuer."""
    with served_tls.client(verify=context(pki, pki.stranger)) as client:
        try:
            answer = client.get("/api/me")
        except httpx.TransportError:
            return  # the handshake failed: the server never accepted it
    assert answer.status_code == 401, answer.text


def test_without_a_certificate_nothing_answers(served_tls: LiveServer, pki: Pki) -> None:
    with served_tls.client(verify=context(pki, None)) as client:
        assert client.get("/api/me").status_code == 401
        assert client.post("/api/login/certificate").status_code == 401
        assert client.get("/api/health").status_code == 200
        # A password still works over TLS, without a certificate.
        login(client, "lux_nr", PASSWORDS["lux_nr"])
        assert client.get("/api/me").json()["method"] == "session"


def test_a_certificate_opens_a_session_for_writes(served_tls: LiveServer, pki: Pki) -> None:
    requirement = {"name": "bridges", "requirement": "Narva bridge convoy"}
    with served_tls.client(verify=context(pki, pki.lux)) as client:
        # A certificate alone reads; a browser presents it to any site, so it never writes.
        refused = client.post("/api/watch", json=requirement)
        assert refused.status_code == 403 and "session" in refused.json()["detail"]
        opened = client.post("/api/login/certificate")
        assert opened.status_code == 200, opened.text
        body = opened.json()
        assert body["user"]["name"] == "lux_nr" and body["must_change_password"] is False
        cookie = opened.headers["set-cookie"].lower()
        assert "secure" in cookie and "httponly" in cookie and "samesite=strict" in cookie
        # The session, without its CSRF token: refused.
        assert client.post("/api/watch", json=requirement).status_code == 403
        done = client.post(
            "/api/watch", json=requirement, headers={"X-CSRF-Token": body["csrf_token"]}
        )
        assert done.status_code == 201, done.text
        assert client.get("/api/me").json()["method"] == "session"
        listed = client.get("/api/watch").json()["requirements"]
        assert [r["name"] for r in listed] == ["bridges"]


def test_tls_responses_carry_hsts_and_secure_cookies(served_tls: LiveServer, pki: Pki) -> None:
    with served_tls.client(verify=context(pki, None)) as client:
        health = client.get("/api/health")
        assert health.headers["strict-transport-security"].startswith("max-age=")
        answer = client.post(
            "/api/login", json={"username": "deu_nc", "password": PASSWORDS["deu_nc"]}
        )
        assert answer.status_code == 200
        assert "strict-transport-security" in answer.headers
        cookie = next(c for c in client.cookies.jar if c.name == "guetteur_session")
        assert cookie.secure
    with served_tls.client(verify=context(pki, pki.unmapped)) as client:
        assert "strict-transport-security" in client.get("/api/me").headers


def test_plain_http_to_the_tls_port_gets_no_answer(served_tls: LiveServer) -> None:
    with httpx.Client(base_url=served_tls.url.replace("https:", "http:"), timeout=10) as client:
        with pytest.raises(httpx.TransportError):
            client.get("/api/health")
