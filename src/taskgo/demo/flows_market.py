"""Marketplace flows: products created from GPS (1), browsing by GPS while travelling (2),
and service orders dispatched to partners' sockets (3)."""

from __future__ import annotations

from typing import Any

from taskgo.demo import data
from taskgo.demo.context import Actor, Context, short
from taskgo.demo.transport import ApiError, DemoError, new_key

# Listings are newest first, so the demo's products are on the first page of their city.
LISTING_LIMIT = 50

_CATALOG: tuple[tuple[str, data.Place, dict[str, Any]], ...] = (
    (
        "paulo",
        data.CASCAVEL,
        {
            "title": "Kit de pincéis profissionais",
            "description": "Cinco pincéis de cerdas gris para látex e esmalte.",
            "price": "100.00",
            "category": "ferramentas",
            "stock": 5,
        },
    ),
    (
        "paulo",
        data.CASCAVEL,
        {
            "title": "Lata de tinta acrílica 18 L",
            "description": "Branco neve, fosco, rende até 380 m² por demão.",
            "price": "389.90",
            "category": "tintas",
            "stock": 3,
        },
    ),
    (
        "rita",
        data.CASCAVEL_NORTH,
        {
            "title": "Fita crepe 48 mm",
            "description": "Rolo de 50 m para proteger rodapés e batentes.",
            "price": "18.75",
            "category": "ferramentas",
            "stock": 20,
        },
    ),
    (
        "marcos",
        data.FOZ,
        {
            "title": "Disjuntor bipolar 40 A",
            "description": "Curva C, padrão DIN, para quadros residenciais.",
            "price": "64.00",
            "category": "eletrica",
            "stock": 8,
        },
    ),
    (
        "marcos",
        data.FOZ,
        {
            "title": "Cabo flexível 2,5 mm² (100 m)",
            "description": "Antichama, 750 V, rolo azul.",
            "price": "219.00",
            "category": "eletrica",
            "stock": 2,
        },
    ),
)


async def create_products(ctx: Context) -> None:
    ctx.log.flow("1", "partners create products from their GPS position")
    if not ctx.available("flow 1 (products)", ("post", "/api/products")):
        return
    created: dict[str, list[str]] = {}
    for index, (key, place, fields) in enumerate(_CATALOG, start=1):
        seller = ctx.actor(key)
        product = await seller.api.post(
            "/api/products",
            json={**fields, **place.fix()},
            expect=(201,),
            idempotency_key=new_key(),
        )
        created.setdefault(key, []).append(product["id"])
        city = product["createdInCity"]
        ctx.log.step(
            f"flow1.product{index}",
            f"{seller.name} creates “{product['title']}”",
            at=(place.lat, place.lng),
            product=short(product["id"]),
            city=f"{city['name']}/{city['uf']}",
            city_id=city["id"],
            price=product["price"],
        )
    ctx.state["products"] = created
    ctx.state["brush_kit"] = created["paulo"][0]
    ctx.state["rita_product"] = created["rita"][0]


async def _browse(ctx: Context, client: Actor, place: data.Place) -> dict[str, Any]:
    listing: dict[str, Any] = await client.api.get(
        "/api/products", params={**place.query(), "limit": str(LISTING_LIMIT)}
    )
    return listing


def _seen(listing: dict[str, Any], ids: list[str]) -> list[str]:
    listed = {item["id"] for item in listing["items"]}
    return [short(value) for value in ids if value in listed]


async def browse_cascavel(ctx: Context) -> None:
    ctx.log.flow("2", "client browses products by GPS in Cascavel")
    if not ctx.available("flow 2 (browse)", ("get", "/api/products")):
        return
    if not ctx.requires("flow 2 (browse)", "products"):
        return
    ana = ctx.actor("ana")
    listing = await _browse(ctx, ana, data.CASCAVEL)
    products = ctx.state["products"]
    ctx.log.step(
        "flow2.cascavel",
        f"{ana.name} opens the app in Cascavel",
        city=listing["city"]["name"],
        city_id=listing["city"]["id"],
        listed=len(listing["items"]),
        cascavel_products_seen=_seen(listing, products["paulo"] + products["rita"]),
        foz_products_seen=_seen(listing, products["marcos"]),
    )


async def travel_to_foz(ctx: Context) -> None:
    ctx.log.flow("2", "the client travels to Foz do Iguaçu and browses again")
    if not ctx.available("flow 2 (travel)", ("get", "/api/products")):
        return
    if not ctx.requires("flow 2 (travel)", "products"):
        return
    ana = ctx.actor("ana")
    listing = await _browse(ctx, ana, data.FOZ)
    me = await ana.api.get("/api/me")
    products = ctx.state["products"]
    ctx.log.step(
        "flow2.foz",
        f"{ana.name} opens the app in Foz do Iguaçu",
        city=listing["city"]["name"],
        city_id=listing["city"]["id"],
        listed=len(listing["items"]),
        foz_products_seen=_seen(listing, products["marcos"]),
        cascavel_products_seen=_seen(listing, products["paulo"] + products["rita"]),
        me_current_city=me["currentCity"]["id"] if me["currentCity"] else None,
    )


async def service_order(ctx: Context) -> None:
    ctx.log.flow("3", "client posts a service order and partners' sockets receive it")
    routes = (
        ("get", "/api/service-categories"),
        ("post", "/api/service-orders"),
        ("post", "/api/service-orders/{order_id}/accept"),
    )
    if not ctx.available("flow 3 (service orders)", *routes):
        return
    if not ctx.requires("flow 3 (service orders)", "verified", "partners_located", "categories"):
        return
    ana, paulo, rita = ctx.actor("ana"), ctx.actor("paulo"), ctx.actor("rita")

    order = await ana.api.post(
        "/api/service-orders",
        json={
            "category": "pintura",
            "description": "Pintar a sala e dois quartos, paredes de 2,6 m de altura.",
            "budget": "1200.00",
            **data.CASCAVEL.fix(),
        },
        expect=(201,),
        idempotency_key=new_key(),
    )
    order_id = order["id"]
    ctx.log.step(
        "flow3.posted",
        f"{ana.name} posts a painting order in Cascavel",
        order=order_id,
        status=order["status"],
        city=order["city"]["name"],
        category=order["category"],
        notified_partners=order["notifiedPartners"],
    )

    received = {}
    for partner in (paulo, rita):
        event = await ctx.socket(partner.key).wait_for(
            "order_created", lambda payload: payload.get("serviceOrderId") == order_id
        )
        received[partner.key] = event
        ctx.log.step(
            f"flow3.{partner.key}_socket",
            f"{partner.name}'s socket receives order_created",
            service_order=short(event["serviceOrderId"]),
            category=event["category"],
            city=(event.get("city") or {}).get("name"),
        )

    accepted = await rita.api.post(f"/api/service-orders/{order_id}/accept")
    taken_event = await ctx.socket("paulo").wait_for(
        "order_taken", lambda payload: payload.get("serviceOrderId") == order_id
    )
    try:
        await paulo.api.post(f"/api/service-orders/{order_id}/accept")
    except ApiError as error:
        late_code = error.code
    else:
        raise DemoError("a second partner could accept an order that was already taken")
    ctx.log.step(
        "flow3.accepted",
        f"{rita.name} accepts; {paulo.name} is told it was taken and cannot take it too",
        status=accepted["status"],
        partner_is_rita=accepted["partnerId"] == rita.user_id,
        order_taken_event=short(taken_event["serviceOrderId"]),
        late_accept_error=late_code,
    )
    ctx.state["order_id"] = order_id
