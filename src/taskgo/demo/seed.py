"""Demo accounts and products for `taskgo dev`, and the dev tokens to act as each account.

Runs before the server starts, so it writes through the domains' service functions rather
than the HTTP API. It is idempotent: users are keyed by fixed uids, a product is created
only when its seller has none with that title, and a partner's location is recorded only
when they are not in their city yet. A second run changes nothing and takes well under a
second once the municipality index is built.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime

import click
import structlog
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.auth.service import configure_auth, dev_issuer
from taskgo.config import Settings, get_settings
from taskgo.crypto import encrypt_field
from taskgo.db.session import close_database, init_database, session_scope
from taskgo.demo import data
from taskgo.locations.service import record_fix
from taskgo.logging import configure_logging
from taskgo.payments import connect
from taskgo.payments import startup as payments_startup
from taskgo.products import service as products
from taskgo.products.schemas import ProductCreateIn
from taskgo.service_orders import service as service_orders
from taskgo.users.models import User, VerificationStatus
from taskgo.verification.service import USER_CPF_CONTEXT

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class SeedProduct:
    title: str
    description: str
    price: str
    category: str
    stock: int


@dataclass(frozen=True, slots=True)
class SeedUser:
    uid: str
    role: str
    name: str
    place: data.Place | None = None
    categories: tuple[str, ...] = ()
    products: tuple[SeedProduct, ...] = field(default_factory=tuple)


SEED_USERS: tuple[SeedUser, ...] = (
    SeedUser("demo-client-cascavel", "client", "Juliana Ferreira", data.CASCAVEL),
    SeedUser("demo-client-foz", "client", "Roberto Almeida", data.FOZ),
    SeedUser(
        "demo-partner-cascavel-1",
        "partner",
        "Carlos Eduardo Souza",
        data.CASCAVEL,
        ("pintura", "reformas"),
        (
            SeedProduct(
                "Tinta acrílica fosca 3,6 L",
                "Branco gelo, para paredes internas.",
                "89.90",
                "tintas",
                12,
            ),
            SeedProduct(
                "Massa corrida 25 kg",
                "Para nivelar paredes antes da pintura.",
                "74.50",
                "tintas",
                6,
            ),
        ),
    ),
    SeedUser(
        "demo-partner-cascavel-2",
        "partner",
        "Fernanda Oliveira",
        data.CASCAVEL_NORTH,
        ("eletrica", "ar-condicionado"),
        (
            SeedProduct(
                "Tomada 20 A com placa", "Padrão brasileiro, branca, 4x2.", "16.90", "eletrica", 40
            ),
        ),
    ),
    SeedUser(
        "demo-partner-foz-1",
        "partner",
        "Tiago Nascimento",
        data.FOZ,
        ("pintura", "hidraulica"),
        (
            SeedProduct(
                "Registro de gaveta 3/4", "Metal cromado, para água fria.", "58.00", "hidraulica", 9
            ),
            SeedProduct(
                "Lixa d'água grão 220 (10 un.)",
                "Para acabamento de massa e madeira.",
                "22.00",
                "ferramentas",
                30,
            ),
        ),
    ),
    SeedUser(
        "demo-partner-foz-2",
        "partner",
        "Luciana Barros",
        data.FOZ_CENTRE,
        ("eletrica", "limpeza"),
        (
            SeedProduct(
                "Lâmpada LED 12 W (6 un.)", "Luz branca 6500 K, bocal E27.", "45.90", "eletrica", 15
            ),
        ),
    ),
    SeedUser("demo-admin", "admin", "Admin TaskGo"),
)

# Fixed so the seeded partners keep the same CPF on every run and machine.
_CPF_SEED = 20260412


async def _upsert_user(session: AsyncSession, seed: SeedUser) -> User:
    await session.execute(
        insert(User)
        .values(firebase_uid=seed.uid, role=seed.role, name=seed.name)
        .on_conflict_do_nothing(index_elements=[User.firebase_uid])
    )
    user = await session.scalar(select(User).where(User.firebase_uid == seed.uid))
    assert user is not None
    # A dev token with another role may have changed the account; put it back.
    user.role = seed.role
    user.name = seed.name
    return user


def _mark_verified(user: User, *, cpf: str) -> None:
    if user.verification_status == VerificationStatus.VERIFIED:
        return
    user.verification_status = VerificationStatus.VERIFIED
    user.verified_cpf_encrypted = encrypt_field(cpf, context=USER_CPF_CONTEXT)
    user.verified_at = datetime.now(UTC)


async def _seed_partner(
    session: AsyncSession, user: User, seed: SeedUser, *, settings: Settings
) -> int:
    await service_orders.set_partner_categories(session, partner=user, slugs=list(seed.categories))
    existing = await products.list_seller_products(session, seller=user, cursor=None, limit=100)
    titles = {product["title"] for product in existing.rows}
    created = 0
    for item in seed.products:
        if item.title in titles:
            continue
        assert seed.place is not None
        body = ProductCreateIn.model_validate(
            {
                "title": item.title,
                "description": item.description,
                "price": item.price,
                "category": item.category,
                "stock": item.stock,
                **seed.place.fix(),
            }
        )
        await products.create_product(session, seller=user, data=body)
        created += 1
    if settings.effective_payments_provider == "local":
        # Local payout accounts are ready at once, so purchases from these sellers release.
        await connect.start_onboarding(session, partner=user)
    return created


async def _seed(settings: Settings) -> list[SeedUser]:
    rng = random.Random(_CPF_SEED)
    created_products = 0
    seeded: list[SeedUser] = []
    async with session_scope() as session:
        for seed in SEED_USERS:
            user = await _upsert_user(session, seed)
            cpf = data.random_cpf(rng)
            if seed.role == "partner":
                _mark_verified(user, cpf=cpf)
            if seed.place is not None and user.current_city_id != seed.place.city_id:
                await record_fix(session, user=user, **seed.place.fix())
            if seed.role == "partner":
                created_products += await _seed_partner(session, user, seed, settings=settings)
            seeded.append(seed)
    log.info("demo.seeded", users=len(seeded), products_created=created_products)
    return seeded


async def _run(database_url: str, settings: Settings) -> list[SeedUser]:
    init_database(database_url, pool_size=2)
    await payments_startup.startup(settings)
    try:
        return await _seed(settings)
    finally:
        await payments_startup.shutdown()
        await close_database()


def _print_accounts(seeded: list[SeedUser], settings: Settings, *, base_url: str | None) -> None:
    configure_auth(settings)
    issuer = dev_issuer()
    base = (base_url or settings.public_base_url).rstrip("/")
    click.echo("")
    click.echo("Demo accounts:")
    for seed in seeded:
        where = seed.place.name if seed.place is not None else "-"
        extra = f"  services: {', '.join(seed.categories)}" if seed.categories else ""
        click.echo(f"  {seed.role:<8} {seed.name:<22} {where:<18} uid={seed.uid}{extra}")
        if issuer is not None:
            token = issuer.issue(
                uid=seed.uid,
                role=seed.role,
                name=seed.name,
                ttl_seconds=settings.dev_token_ttl_seconds,
            )
            click.echo(f"           Authorization: Bearer {token}")
    if issuer is None:
        click.echo("  (no dev tokens: AUTH_PROVIDER is not `dev`)")
        return
    minutes = settings.dev_token_ttl_seconds // 60
    click.echo(
        f"  The tokens expire in {minutes} min. For a new one: "
        f"curl -X POST {base}/api/auth/dev/token -H 'Content-Type: application/json' "
        """-d '{"uid": "demo-client-cascavel", "role": "client"}'"""
    )
    click.echo(f"  Play every flow against this server: make demo (taskgo demo --base-url {base})")


def seed_from_cli(database_url: str, *, base_url: str | None = None) -> None:
    """Create or refresh the demo data in `database_url` and print how to act as each user.

    `base_url` is where the server about to start listens (`taskgo dev --port`); without it
    the hints use PUBLIC_BASE_URL.
    """
    settings = get_settings()
    configure_logging(json_logs=settings.json_logs, level=settings.log_level)
    click.echo("taskgo dev: seeding demo accounts and products …")
    seeded = asyncio.run(_run(database_url, settings))
    _print_accounts(seeded, settings, base_url=base_url)
