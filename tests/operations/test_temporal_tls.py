"""Temporal Cloud settings: TLS, mTLS and an API key reach the client that ``connect()`` builds.

``temporal server start-dev`` has no TLS options, so the time-skipping test server stands behind
a TLS front of the test's own (asyncio, on a free port) that requires a client certificate
signed by the test's CA and records what each connection presented. A client built from the
settings then talks gRPC through it; without the certificate, or checking the wrong server
name, it cannot.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.service import TLSConfig
from temporalio.testing import WorkflowEnvironment

from runtime import temporal
from runtime.settings import Settings

SERVER_NAME = "temporal.test"


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(subject: str, issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None, *, ca: bool = False,
                 dns: str | None = None) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    issuer_name, issuer_key = issuer or (_name(subject), key)
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                          key_encipherment=False, data_encipherment=False, key_agreement=False,
                          encipher_only=False, decipher_only=False), critical=True)
    if dns:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(dns)]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256()), key


def _write(path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey | None = None) -> None:
    path.with_suffix(".pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    if key is not None:
        path.with_suffix(".key").write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


@dataclass
class Pki:
    dir: Path

    def path(self, name: str) -> str:
        return str(self.dir / name)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    where = tmp_path_factory.mktemp("pki")
    ca, ca_key = _certificate("aftersales test CA", None, ca=True)
    server, server_key = _certificate(SERVER_NAME, (ca.subject, ca_key), dns=SERVER_NAME)
    client, client_key = _certificate("aftersales-worker", (ca.subject, ca_key))
    _write(where / "ca", ca)
    _write(where / "server", server, server_key)
    _write(where / "client", client, client_key)
    return Pki(where)


@dataclass
class TlsFront:
    port: int
    #: The client certificate's common name of each connection that completed the handshake.
    clients: list[str] = field(default_factory=list)


@contextlib.asynccontextmanager
async def tls_front(pki: Pki, backend_port: int) -> AsyncIterator[TlsFront]:
    """Terminates TLS (client certificate required) and pipes the bytes to the plain server."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=pki.path("ca.pem"))
    context.load_cert_chain(pki.path("server.pem"), pki.path("server.key"))
    context.verify_mode = ssl.CERT_REQUIRED
    context.set_alpn_protocols(["h2"])
    front = TlsFront(0)
    pipes: set[asyncio.Task[None]] = set()

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("ssl_object").getpeercert()
        front.clients.append(dict(part[0] for part in peer["subject"])["commonName"])
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", backend_port)
        for task in (asyncio.create_task(pipe(reader, up_writer)), asyncio.create_task(pipe(up_reader, writer))):
            pipes.add(task)
            task.add_done_callback(pipes.discard)

    server = await asyncio.start_server(accept, "127.0.0.1", 0, ssl=context)
    front.port = server.sockets[0].getsockname()[1]
    try:
        yield front
    finally:
        server.close()
        for task in list(pipes):
            task.cancel()


@pytest.fixture
async def backend() -> AsyncIterator[int]:
    async with await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=temporal.test_server_path(), data_converter=temporal.DATA_CONVERTER
    ) as env:
        yield int(env.client.service_client.config.target_host.rsplit(":", 1)[1])


def cloud_settings(pki: Pki, **overrides: str) -> Settings:
    values = {
        "TEMPORAL_TLS_CLIENT_CERT_PATH": pki.path("client.pem"),
        "TEMPORAL_TLS_CLIENT_KEY_PATH": pki.path("client.key"),
        "TEMPORAL_TLS_SERVER_CA_CERT_PATH": pki.path("ca.pem"),
        "TEMPORAL_TLS_SERVER_NAME": SERVER_NAME,
        "TEMPORAL_API_KEY": "key-for-cloud",
        **overrides,
    }
    return Settings(**{k: v for k, v in values.items() if v})


async def test_a_client_from_mtls_settings_talks_through_tls(pki, backend):
    async with tls_front(pki, backend) as front:
        client = await asyncio.wait_for(
            temporal.connect(f"127.0.0.1:{front.port}", settings=cloud_settings(pki)), timeout=20
        )
        info = await client.workflow_service.get_system_info(GetSystemInfoRequest())
    assert info.server_version is not None
    assert front.clients and set(front.clients) == {"aftersales-worker"}  # it presented our certificate
    assert client.api_key == "key-for-cloud"
    tls = client.service_client.config.tls
    assert isinstance(tls, TLSConfig) and tls.domain == SERVER_NAME


async def test_without_the_client_certificate_or_with_the_wrong_server_name_it_cannot(pki, backend):
    async with tls_front(pki, backend) as front:
        for overrides in (
            {"TEMPORAL_TLS_CLIENT_CERT_PATH": "", "TEMPORAL_TLS_CLIENT_KEY_PATH": ""},
            {"TEMPORAL_TLS_SERVER_NAME": "other.test"},
        ):
            with pytest.raises(RuntimeError):
                await asyncio.wait_for(
                    temporal.connect(f"127.0.0.1:{front.port}", settings=cloud_settings(pki, **overrides)), timeout=20
                )
    assert front.clients == []


def test_security_options_follow_the_settings(pki):
    assert temporal.security_options(Settings()) == {}  # the dev server: plain TCP, no key
    api_key_only = temporal.security_options(Settings(TEMPORAL_API_KEY="k"))
    assert api_key_only["api_key"] == "k" and isinstance(api_key_only["tls"], TLSConfig)  # Cloud: TLS implied
    mtls = temporal.security_options(cloud_settings(pki, TEMPORAL_API_KEY=""))
    assert "api_key" not in mtls
    assert mtls["tls"].client_cert == Path(pki.path("client.pem")).read_bytes()
    assert mtls["tls"].client_private_key == Path(pki.path("client.key")).read_bytes()
    assert mtls["tls"].server_root_ca_cert == Path(pki.path("ca.pem")).read_bytes()


def test_bad_tls_settings_say_which_and_why(tmp_path):
    with pytest.raises(ValueError, match="go together"):
        Settings(TEMPORAL_TLS_CLIENT_CERT_PATH=str(tmp_path / "c.pem"))
    missing = Settings(TEMPORAL_TLS_CLIENT_CERT_PATH=str(tmp_path / "c.pem"),
                       TEMPORAL_TLS_CLIENT_KEY_PATH=str(tmp_path / "c.key"))
    with pytest.raises(ValueError, match="TEMPORAL_TLS_CLIENT_CERT_PATH=.*cannot be read"):
        temporal.security_options(missing)


def test_the_api_key_is_not_in_the_settings_repr():
    assert "s3cret-key" not in repr(Settings(TEMPORAL_API_KEY="s3cret-key"))
