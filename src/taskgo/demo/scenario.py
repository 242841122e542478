"""The walk-through of every drawn flow against a running server, as the two apps use it.

`run_scenario(base_url)` signs in fresh demo users (dev tokens), plays the flows in the
order a story needs them, prints each step and returns what it observed. Each run uses new
uids, CPFs and bank numbers, so it can run again against the same server and database.
"""

from __future__ import annotations

import random
import secrets
import time
from collections.abc import Awaitable, Callable

import httpx

from taskgo.demo import flows_market, flows_partner, flows_purchase
from taskgo.demo.context import Actor, Context, Output, Recorder, ScenarioResult, route_key
from taskgo.demo.transport import HTTP_TIMEOUT_SECONDS, Api, DemoError, EventInbox

# key, role, name; the partners' names are also printed on their identity documents.
ACTORS = (
    ("ana", "client", "Ana Lima"),
    ("paulo", "partner", "Paulo Henrique Ribeiro"),
    ("rita", "partner", "Rita de Cássia Moura"),
    ("marcos", "partner", "Marcos Vinícius Tavares"),
    ("admin", "admin", "Helena Prado"),
)
PARTNER_CATEGORIES = {"paulo": ["pintura"], "rita": ["pintura", "eletrica"], "marcos": ["eletrica"]}
SOCKET_USERS = ("ana", "paulo", "rita")

Flow = Callable[[Context], Awaitable[None]]

# The story order: partners get verified and located before the client's order can reach
# them, and the purchase is tracked before the buyer confirms it.
FLOWS: tuple[Flow, ...] = (
    flows_partner.verification,
    flows_partner.bank_accounts,
    flows_partner.gps_updates,
    flows_market.create_products,
    flows_market.browse_cascavel,
    flows_market.service_order,
    flows_purchase.purchase,
    flows_purchase.chat,
    flows_purchase.ship,
    flows_purchase.support,
    flows_purchase.deliver_and_release,
    flows_market.travel_to_foz,
    flows_partner.move_city,
)


async def _published_routes(http: httpx.AsyncClient) -> frozenset[tuple[str, str]]:
    response = await http.get("/openapi.json")
    if response.status_code != 200:
        raise DemoError(f"GET /openapi.json returned HTTP {response.status_code}")
    return frozenset(
        route_key(method, path)
        for path, operations in response.json()["paths"].items()
        for method in operations
    )


async def _check_server(http: httpx.AsyncClient, base_url: str) -> None:
    try:
        response = await http.get("/healthz")
    except httpx.TransportError as error:
        raise DemoError(
            f"no TaskGo server responds at {base_url} ({error!r}); start one with `make run`"
        ) from error
    if response.status_code != 200:
        raise DemoError(f"{base_url}/healthz returned HTTP {response.status_code}")


async def _sign_in(ctx: Context, api: Api) -> None:
    if ctx.missing(("post", "/api/auth/dev/token")):
        raise DemoError(
            "POST /api/auth/dev/token is missing: the demo needs a server with AUTH_PROVIDER=dev"
        )
    ctx.log.flow("0", "everyone signs in with a dev token")
    for key, role, name in ACTORS:
        uid = f"demo-{ctx.run_id}-{key}"
        issued = await api.post(
            "/api/auth/dev/token", json={"uid": uid, "role": role, "name": name}
        )
        ctx.actors[key] = Actor(
            key=key,
            uid=uid,
            role=role,
            name=name,
            token=issued["token"],
            user_id=issued["user"]["id"],
            api=api.as_user(issued["token"]),
        )
        ctx.log.step(
            f"signin.{key}", f"{name} signs in as {role}", uid=uid, user=issued["user"]["id"]
        )


async def _choose_categories(ctx: Context) -> None:
    routes = (("get", "/api/service-categories"), ("put", "/api/partners/me/categories"))
    if not ctx.available("partner categories", *routes):
        return
    slugs = [item["slug"] for item in await ctx.actor("ana").api.get("/api/service-categories")]
    for key, wanted in PARTNER_CATEGORIES.items():
        partner = ctx.actor(key)
        chosen = await partner.api.put("/api/partners/me/categories", json={"categories": wanted})
        ctx.log.step(
            f"categories.{key}",
            f"{partner.name} chooses the services they offer",
            categories=[item["slug"] for item in chosen],
        )
    ctx.log.step("categories.list", "service categories on offer", slugs=slugs)
    ctx.state["categories"] = True


async def _connect_sockets(ctx: Context) -> None:
    for key in SOCKET_USERS:
        actor = ctx.actor(key)
        inbox = EventInbox(f"{actor.name}'s socket")
        ctx.sockets[key] = inbox
        await inbox.connect(ctx.base_url, token=actor.token)
    ctx.log.step(
        "sockets.connected",
        "the apps of the client and two partners connect to Socket.IO",
        users=[ctx.actor(key).name for key in SOCKET_USERS],
    )


# OCR of the two cards takes a few seconds each in the worker, longer on a busy machine.
ANALYSIS_WAIT_SECONDS = 45.0


async def run_scenario(
    base_url: str,
    *,
    output: Output = print,
    analysis_wait_seconds: float = ANALYSIS_WAIT_SECONDS,
) -> ScenarioResult:
    """Play every flow against the server at `base_url`; raise DemoError at the first
    response that differs from what the apps expect."""
    base_url = base_url.rstrip("/")
    result = ScenarioResult()
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=base_url, timeout=HTTP_TIMEOUT_SECONDS) as http:
        await _check_server(http, base_url)
        console = await http.get("/admin/login")
        ctx = Context(
            base_url=base_url,
            run_id=secrets.token_hex(4),
            rng=random.Random(secrets.randbits(64)),
            log=Recorder(output, result),
            routes=await _published_routes(http),
            console_available=console.status_code == 200,
            analysis_wait_seconds=analysis_wait_seconds,
        )
        api = Api(http)
        try:
            await _sign_in(ctx, api)
            await _choose_categories(ctx)
            await _connect_sockets(ctx)
            for flow in FLOWS:
                await flow(ctx)
        finally:
            for inbox in ctx.sockets.values():
                await inbox.close()
    result.seconds = time.monotonic() - started
    output("")
    if result.skipped:
        output(f"Done in {result.seconds:.1f} s, with {len(result.skipped)} step(s) skipped:")
        for reason in result.skipped:
            output(f"  skipped: {reason}")
    else:
        output(f"Done in {result.seconds:.1f} s: every flow ran.")
    return result
