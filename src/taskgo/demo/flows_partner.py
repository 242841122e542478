"""Partner flows: identity verification (9), bank accounts (10), GPS updates (11) and a
move to another city (6)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from taskgo.demo import data
from taskgo.demo.console import AdminConsole
from taskgo.demo.context import Actor, Context, short
from taskgo.demo.documents import Holder, identity_images
from taskgo.demo.transport import DemoError, new_key

POLL_INTERVAL_SECONDS = 0.5

_BIRTH_DATES = {"paulo": "14/03/1988", "rita": "02/11/1991"}
_UPLOAD_PURPOSES = {"documentFront": "document", "documentBack": "document", "selfie": "selfie"}

VERIFICATION_ROUTES = (
    ("post", "/api/uploads"),
    ("post", "/api/verification/submit"),
    ("get", "/api/verification/status"),
)


async def _submit_identity(ctx: Context, partner: Actor) -> dict[str, Any]:
    cpf = data.random_cpf(ctx.rng)
    holder = Holder(
        name=partner.name, cpf_formatted=data.format_cpf(cpf), birth_date=_BIRTH_DATES[partner.key]
    )
    upload_ids: dict[str, str] = {}
    for field_name, image in identity_images(holder).items():
        uploaded = await partner.api.post(
            "/api/uploads",
            files={"file": (f"{field_name}.jpg", image, "image/jpeg")},
            data={"purpose": _UPLOAD_PURPOSES[field_name]},
            expect=(201,),
        )
        upload_ids[field_name] = uploaded["uploadId"]

    submitted = await partner.api.post(
        "/api/verification/submit", json=upload_ids, expect=(202,), idempotency_key=new_key()
    )
    ctx.state[f"{partner.key}.cpf"] = cpf
    return ctx.log.step(
        f"flow9.{partner.key}.submitted",
        f"{partner.name} uploads document front, back and selfie, then submits them",
        submission=submitted["id"],
        status=submitted["status"],
        uploads=[short(value) for value in upload_ids.values()],
        cpf_on_document=data.mask_cpf(cpf),
    )


async def _wait_for_analysis(partner: Actor, *, deadline: float) -> dict[str, Any]:
    """Poll the status until the worker has analysed the images or `deadline` (monotonic)
    passes. The admin decides either way, as one would after reading the card."""
    while True:
        status = await partner.api.get("/api/verification/status")
        if status["analysisComplete"] or time.monotonic() >= deadline:
            return dict(status)
        await asyncio.sleep(POLL_INTERVAL_SECONDS)


async def verification(ctx: Context) -> None:
    ctx.log.flow("9", "partner identity verification, approved by an admin")
    if not ctx.available("flow 9 (verification)", *VERIFICATION_ROUTES):
        return
    if not ctx.console_available:
        ctx.log.skip("flow 9 (verification)", "not available: GET /admin/login did not return 200")
        return

    partners = [ctx.actor("paulo"), ctx.actor("rita")]
    submissions = {p.key: await _submit_identity(ctx, p) for p in partners}
    deadline = time.monotonic() + ctx.analysis_wait_seconds
    console = AdminConsole(ctx.base_url)
    try:
        await console.sign_in(ctx.actor("admin").token)
        for partner in partners:
            status = await _wait_for_analysis(partner, deadline=deadline)
            extracted = status.get("extracted") or {}
            ctx.log.step(
                f"flow9.{partner.key}.analysis",
                f"the worker analyses {partner.name}'s images (faces, OCR of the card)",
                analysis_complete=status["analysisComplete"],
                status=status["status"],
                extracted_name=extracted.get("name"),
                extracted_cpf=extracted.get("cpf"),
                extracted_birth_date=extracted.get("birthDate"),
            )
            submission_id = submissions[partner.key]["submission"]
            in_queue = await console.queue_lists(submission_id)
            cpf = data.format_cpf(ctx.state[f"{partner.key}.cpf"])
            redirect = await console.approve(submission_id, cpf=cpf)
            after = await partner.api.get("/api/verification/status")
            me = await partner.api.get("/api/me")
            ctx.log.step(
                f"flow9.{partner.key}.approved",
                f"the admin opens the console queue and approves {partner.name}",
                listed_in_queue=in_queue,
                redirect=redirect,
                status=after["status"],
                me_verification_status=me["verificationStatus"],
            )
    finally:
        await console.close()
    ctx.state["verified"] = [partner.key for partner in partners]


async def bank_accounts(ctx: Context) -> None:
    ctx.log.flow("10", "partner adds two bank accounts and switches the primary")
    routes = (
        ("get", "/api/banks"),
        ("post", "/api/bank-accounts"),
        ("get", "/api/bank-accounts"),
        ("put", "/api/bank-accounts/{account_id}/set-primary"),
    )
    if not ctx.available("flow 10 (bank accounts)", *routes):
        return
    paulo = ctx.actor("paulo")
    cpf = ctx.state.get("paulo.cpf") or data.random_cpf(ctx.rng)

    banks = {bank["code"]: bank for bank in await paulo.api.get("/api/banks")}
    # Banco do Brasil and Nubank when the list has them, else the first two banks.
    preferred = ["001", "260"]
    first_bank, second_bank = preferred if set(preferred) <= banks.keys() else sorted(banks)[:2]
    created = []
    for details in (
        data.bank_details(
            ctx.rng, bank=first_bank, account_type="checking", pix_key=data.format_cpf(cpf)
        ),
        data.bank_details(
            ctx.rng, bank=second_bank, account_type="payment", pix_key=data.random_pix_key(ctx.rng)
        ),
    ):
        account = await paulo.api.post(
            "/api/bank-accounts",
            json=details.body(holder=paulo.name, cpf=cpf),
            expect=(201,),
            idempotency_key=new_key(),
        )
        created.append(account)
        ctx.log.step(
            f"flow10.account{len(created)}",
            f"{paulo.name} adds an account at {banks[details.bank]['shortName']}",
            account_id=short(account["id"]),
            account=account["account"],
            pix_key=account["pixKey"],
            pix_key_type=account["pixKeyType"],
            is_primary=account["isPrimary"],
            review_status=account["reviewStatus"],
        )

    switched = await paulo.api.put(f"/api/bank-accounts/{created[1]['id']}/set-primary")
    listing = await paulo.api.get("/api/bank-accounts")
    primary_flags = {item["id"]: item["isPrimary"] for item in listing["items"]}
    ctx.log.step(
        "flow10.switched",
        "the second account becomes the primary one",
        account_id=short(switched["id"]),
        is_primary=switched["isPrimary"],
        first_is_primary=primary_flags.get(created[0]["id"]),
        second_is_primary=primary_flags.get(created[1]["id"]),
    )


async def gps_updates(ctx: Context) -> None:
    ctx.log.flow("11", "background GPS updates from the partner app")
    if not ctx.available("flow 11 (GPS update)", ("post", "/api/locations/update")):
        return
    for key, place in (("paulo", data.CASCAVEL), ("rita", data.CASCAVEL_NORTH)):
        partner = ctx.actor(key)
        located = await partner.api.post("/api/locations/update", json=place.fix())
        ctx.log.step(
            f"flow11.{key}",
            f"{partner.name}'s phone reports its position",
            at=(place.lat, place.lng),
            city=f"{located['city']['name']}/{located['city']['uf']}",
            city_id=located["city"]["id"],
            changed=located["changed"],
        )
    ctx.state["partners_located"] = True


async def move_city(ctx: Context) -> None:
    ctx.log.flow("6", "partner moves from Cascavel to Foz do Iguaçu")
    routes = (
        ("post", "/api/locations/update"),
        ("get", "/api/locations/history"),
        ("get", "/api/me"),
    )
    if not ctx.available("flow 6 (city change)", *routes):
        return
    rita = ctx.actor("rita")
    await _post_foz_order(ctx)
    moved = await rita.api.post("/api/locations/update", json=data.FOZ_CENTRE.fix())
    me = await rita.api.get("/api/me")
    history = await rita.api.get("/api/locations/history")
    stays = [
        {"city": item["city"]["name"], "current": item["isCurrent"], "exited": item["exitedAt"]}
        for item in history["items"]
    ]
    ctx.log.step(
        "flow6.moved",
        f"{rita.name}'s phone reports a fix in Foz do Iguaçu",
        city=f"{moved['city']['name']}/{moved['city']['uf']}",
        city_id=moved["city"]["id"],
        changed=moved["changed"],
        me_current_city=me["currentCity"]["id"] if me["currentCity"] else None,
        stays=[f"{stay['city']} ({'current' if stay['current'] else 'left'})" for stay in stays],
        cascavel_closed=any(
            stay["city"] == "Cascavel" and not stay["current"] and stay["exited"] for stay in stays
        ),
    )

    foz_order = ctx.state.get("foz_order_id")
    if foz_order is not None and "rita" in ctx.sockets:
        # Rita hears of the Foz order once, one of two ways. Usually the order's dispatch job
        # ran before she arrived (no partner in Foz matched), so the arrival summary names it.
        # When the dispatch job runs after her fix, it finds her in Foz and sends her
        # order_created instead, and the summary leaves the order out.
        event, payload = await ctx.socket("rita").wait_for_any(
            {
                "notification": lambda event: (
                    event.get("kind") == "city_orders"
                    and foz_order in event.get("data", {}).get("serviceOrderIds", [])
                ),
                "order_created": lambda event: event.get("serviceOrderId") == foz_order,
            }
        )
        if event == "notification":
            ctx.log.step(
                "flow6.summary",
                f"{rita.name} is told about the open orders of her categories in Foz",
                told_by="city_orders",
                kind=payload["kind"],
                title=payload["title"],
                body=payload["body"],
                order_ids=[short(value) for value in payload["data"]["serviceOrderIds"]],
            )
        else:
            ctx.log.step(
                "flow6.summary",
                f"{rita.name} gets the Foz order as it is dispatched, after her arrival",
                told_by="order_created",
                order_ids=[short(payload["serviceOrderId"])],
            )

    await _products_stay_put(ctx, rita)


async def _post_foz_order(ctx: Context) -> None:
    """Leave an electrical order open in Foz, for a partner who serves that category to
    hear about on arrival."""
    if not ctx.available("flow 6 (open order in Foz)", ("post", "/api/service-orders")):
        return
    ana = ctx.actor("ana")
    order = await ana.api.post(
        "/api/service-orders",
        json={
            "category": "eletrica",
            "description": "Trocar o quadro de disjuntores e instalar duas tomadas 20 A.",
            **data.FOZ.fix(),
        },
        expect=(201,),
        idempotency_key=new_key(),
    )
    ctx.log.step(
        "flow6.foz_order",
        f"{ana.name}, now in Foz, posts an electrical order there",
        order=short(order["id"]),
        city=order["city"]["name"],
        status=order["status"],
    )
    ctx.state["foz_order_id"] = order["id"]


async def _products_stay_put(ctx: Context, rita: Actor) -> None:
    old_product = ctx.state.get("rita_product")
    if old_product is None or not ctx.available(
        "flow 6 (products after the move)", ("post", "/api/products")
    ):
        return
    new_product = await rita.api.post(
        "/api/products",
        json={
            "title": "Rolo de pintura antirrespingo",
            "description": "Rolo de lã 23 cm para paredes, com cabo.",
            "price": "42.50",
            "category": "ferramentas",
            "stock": 4,
            **data.FOZ_CENTRE.fix(),
        },
        expect=(201,),
        idempotency_key=new_key(),
    )
    old = await rita.api.get(f"/api/products/{old_product}")
    if old["createdInCity"]["id"] != data.CASCAVEL_IBGE:
        raise DemoError("the product Rita created before moving left Cascavel")
    ctx.log.step(
        "flow6.products",
        "her old product stays in Cascavel; a new one is created in Foz",
        old_product=short(old["id"]),
        old_city=old["createdInCity"]["id"],
        new_product=short(new_product["id"]),
        new_city=new_product["createdInCity"]["id"],
    )
