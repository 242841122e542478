"""Test database and app fixtures.

Each pytest run creates its own database on the server named by TEST_DATABASE_URL or
DATABASE_URL (else 127.0.0.1:5432, else an embedded server), builds the schema by running
the Alembic migrations, and drops it at the end. The `db` fixture wraps each test in a
transaction that is rolled back; sessions opened by the app join it through savepoints.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from taskgo.config import Settings, reset_settings
from taskgo.db.migrate import upgrade_to_head
from taskgo.db.session import Database, close_database, init_database
from taskgo.jobs.queue import libpq_url
from taskgo.users.models import User

TEST_ENCRYPTION_KEY = "test1:" + "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


def _server_url(tmp_root: Path) -> str:
    url = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if url:
        return url
    if _port_open("127.0.0.1", 5432):
        return "postgresql://postgres@127.0.0.1:5432/postgres"
    from taskgo.db.embedded import start_embedded_postgres

    return start_embedded_postgres(Path("var/pgdata-test"), database="postgres")


def _with_database(url: str, name: str) -> str:
    base, sep, query = libpq_url(url).partition("?")
    head, _, _ = base.rpartition("/")
    return f"{head}/{name}{sep}{query}"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = _server_url(tmp_path_factory.getbasetemp())
    name = f"taskgo_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(libpq_url(server), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = _with_database(server, name)
    upgrade_to_head(url)
    yield url
    with psycopg.connect(libpq_url(server), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    key_dir = tmp_path_factory.mktemp("keys")
    values = {
        "ENVIRONMENT": "test",
        "DATABASE_URL": database_url,
        "AUTH_PROVIDER": "dev",
        "DEV_SIGNING_KEY_PATH": str(key_dir / "dev-key.pem"),
        "FIELD_ENCRYPTION_KEYS": TEST_ENCRYPTION_KEY,
        "STORAGE_URL": f"file://{tmp_path_factory.mktemp('storage')}",
        "LOG_JSON": "false",
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(values)
    reset_settings()
    from taskgo.config import get_settings

    return get_settings()


@pytest.fixture(scope="session")
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = init_database(settings.database_url or "")
    yield engine
    await close_database()


@pytest.fixture(scope="session")
async def asgi_app(settings: Settings, engine: AsyncEngine) -> AsyncIterator[Any]:
    from taskgo.app import create_app

    application = create_app(settings)
    async with LifespanManager(application, startup_timeout=60):
        yield application


@pytest.fixture
async def db(engine: AsyncEngine, asgi_app: Any) -> AsyncIterator[AsyncSession]:
    """A session inside a transaction that is rolled back after the test.

    The app's own sessions bind to the same connection and turn their commits into
    savepoint releases, so request code runs unchanged.
    """
    connection: AsyncConnection = await engine.connect()
    outer = await connection.begin()
    bound = async_sessionmaker(
        bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )
    previous = Database.sessionmaker
    Database.sessionmaker = bound
    session = bound()
    try:
        yield session
    finally:
        await session.close()
        Database.sessionmaker = previous
        if outer.is_active:
            await outer.rollback()
        await connection.close()


@pytest.fixture
async def client(db: AsyncSession, asgi_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=asgi_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture
async def live_client(engine: AsyncEngine, asgi_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose requests really commit, for races between concurrent requests.

    Rows are removed after the test by truncating every table that references users.
    """
    transport = httpx.ASGITransport(app=asgi_app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http
    finally:
        async with engine.begin() as connection:
            await connection.execute(text("TRUNCATE users, procrastinate_jobs CASCADE"))


MakeUser = Callable[..., Awaitable[User]]


@pytest.fixture
def make_user(db: AsyncSession) -> MakeUser:
    """Create a user row: `await make_user(role="partner", verification_status="verified")`."""

    async def create(
        *,
        role: str = "client",
        name: str = "Ana Souza",
        firebase_uid: str | None = None,
        session: AsyncSession | None = None,
        **fields: Any,
    ) -> User:
        target = session or db
        user = User(
            firebase_uid=firebase_uid or f"uid-{uuid.uuid4().hex[:12]}",
            role=role,
            name=name,
            **fields,
        )
        target.add(user)
        await target.flush()
        return user

    return create


@pytest.fixture
def auth_headers(asgi_app: Any) -> Callable[[User], dict[str, str]]:
    """Bearer headers with a dev token for a user created by `make_user`."""
    from taskgo.auth.service import dev_issuer

    def headers(user: User, **extra: str) -> dict[str, str]:
        issuer = dev_issuer()
        assert issuer is not None
        token = issuer.issue(uid=user.firebase_uid, role=user.role, name=user.name)
        return {"Authorization": f"Bearer {token}", **extra}

    return headers


@pytest.fixture
def make_live_user(engine: AsyncEngine, live_client: httpx.AsyncClient) -> MakeUser:
    """Like `make_user`, but the row is committed (for `live_client` tests)."""
    from taskgo.db.session import session_scope

    async def create(*, role: str = "client", name: str = "Ana Souza", **fields: Any) -> User:
        async with session_scope() as session:
            user = User(firebase_uid=f"uid-{uuid.uuid4().hex[:12]}", role=role, name=name, **fields)
            session.add(user)
        return user

    return create
