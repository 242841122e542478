"""Links to the server itself follow the port `taskgo serve` and `taskgo dev` listen on."""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from taskgo.cli import _pin_public_base_url
from taskgo.config import Settings, get_settings, reset_settings
from taskgo.jobs.queue import libpq_url

STARTUP_SECONDS = 60.0
# A 1×1 PNG image to upload.
PIXEL_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC"
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"exited with code {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"not ready within {STARTUP_SECONDS:.0f} s:\n{log.read_text()}")


@pytest.fixture
def restored_settings() -> Iterator[None]:
    """Put back PUBLIC_BASE_URL and the cached settings that a test changed."""
    saved = os.environ.get("PUBLIC_BASE_URL")
    yield
    if saved is None:
        os.environ.pop("PUBLIC_BASE_URL", None)
    else:
        os.environ["PUBLIC_BASE_URL"] = saved
    reset_settings()


@pytest.mark.parametrize("command", [["serve"], ["dev", "--no-seed"]], ids=["serve", "dev"])
@pytest.mark.timeout(120)
def test_upload_url_uses_listening_port(
    settings: Settings, database_url: str, tmp_path: Path, command: list[str]
) -> None:
    # The `settings` fixture exported the test database, dev auth and local storage. The
    # working folder is empty, so no .env file sets PUBLIC_BASE_URL either.
    environment = {k: v for k, v in os.environ.items() if k != "PUBLIC_BASE_URL"}
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    uid = f"base-url-{command[0]}-{port}"
    log = tmp_path / "server.log"
    with log.open("wb") as output:
        server = subprocess.Popen(  # noqa: S603 - our own entry point and a port number
            [
                str(Path(sys.executable).with_name("taskgo")),
                *command,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env=environment,
            cwd=tmp_path,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_ready(base, server, log)
        token = httpx.post(
            f"{base}/api/auth/dev/token", json={"uid": uid, "role": "partner", "name": "Ana"}
        ).json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
        created = httpx.post(
            f"{base}/api/uploads",
            headers=headers,
            data={"purpose": "product_image"},
            files={"file": ("pixel.png", PIXEL_PNG, "image/png")},
        )
        assert created.status_code == 201, created.text
        url = created.json()["url"]

        assert url.startswith(f"{base}/api/uploads/"), url
        assert httpx.get(url, headers=headers).status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=30)
        # The upload row goes with its owner.
        with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
            connection.execute("DELETE FROM users WHERE firebase_uid = %s", (uid,))


@pytest.mark.usefixtures("restored_settings")
@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", "http://127.0.0.1:8302"),
        ("localhost", "http://localhost:8302"),
        ("192.0.2.7", "http://192.0.2.7:8302"),
        # A wildcard address accepts connections but cannot be connected to.
        ("0.0.0.0", "http://127.0.0.1:8302"),  # noqa: S104 - only a string here
        ("::", "http://[::1]:8302"),
        ("::1", "http://[::1]:8302"),
    ],
)
def test_unset_base_url_follows_listening_address(host: str, expected: str) -> None:
    os.environ.pop("PUBLIC_BASE_URL", None)
    reset_settings()

    assert _pin_public_base_url(host, 8302) == expected
    # Exported, so that every server process and the in-process worker build the same links.
    assert os.environ["PUBLIC_BASE_URL"] == expected
    assert get_settings().public_base_url == expected


@pytest.mark.usefixtures("restored_settings")
def test_explicit_base_url_wins() -> None:
    os.environ["PUBLIC_BASE_URL"] = "https://api.taskgo.example"
    reset_settings()

    assert _pin_public_base_url("127.0.0.1", 8302) == "https://api.taskgo.example"
    assert get_settings().public_base_url == "https://api.taskgo.example"
