"""Purchase flows: escrow purchase (4), order chat (5), shipping and tracking (7), the support
assistant (8), and the buyer's confirmation that releases the escrow (4, end)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from taskgo.demo import data
from taskgo.demo.context import Context, short
from taskgo.demo.transport import ApiError, DemoError, new_key

PURCHASE_ROUTES = (
    ("post", "/api/purchases"),
    ("get", "/api/purchases/{purchase_id}"),
    ("post", "/api/dev/payments/{purchase_id}/confirm"),
    ("post", "/api/payments/connect/onboarding"),
)


def _for(purchase_id: str, status: str | None = None) -> Callable[[Any], bool]:
    """Match an event of `purchase_id`, with `status` when one is given."""

    def match(event: Any) -> bool:
        return event.get("purchaseId") == purchase_id and status in (None, event.get("status"))

    return match


def _with_id(message_id: str) -> Callable[[Any], bool]:
    def match(event: Any) -> bool:
        return bool(event.get("id") == message_id)

    return match


async def purchase(ctx: Context) -> None:
    ctx.log.flow("4", "client buys with escrow through the local payment provider")
    if not ctx.available("flow 4 (purchase)", *PURCHASE_ROUTES):
        return
    if not ctx.requires("flow 4 (purchase)", "brush_kit"):
        return
    ana, paulo = ctx.actor("ana"), ctx.actor("paulo")

    payout = await paulo.api.post("/api/payments/connect/onboarding")
    ctx.log.step(
        "flow4.payout_account",
        f"{paulo.name} opens his payout account (ready at once with the local provider)",
        account=payout["accountId"],
        transfers_enabled=payout["transfersEnabled"],
    )

    key = new_key()
    body = {"items": [{"productId": ctx.state["brush_kit"], "quantity": 1}]}
    created = await ana.api.post("/api/purchases", json=body, expect=(201,), idempotency_key=key)
    retried = await ana.api.post("/api/purchases", json=body, expect=(201,), idempotency_key=key)
    purchase_id = created["id"]
    ctx.log.step(
        "flow4.created",
        f"{ana.name} orders the brush kit; a retry with the same Idempotency-Key changes nothing",
        purchase=purchase_id,
        status=created["status"],
        total=created["total"],
        platform_fee=created["platformFee"],
        escrow=created["escrowAmount"],
        has_client_secret=bool(created["clientSecret"]),
        retry_same_purchase=retried["id"] == purchase_id,
    )

    paid = await ana.api.post(f"/api/dev/payments/{purchase_id}/confirm")
    seller_event = await ctx.socket("paulo").wait_for("purchase_updated", _for(purchase_id, "paid"))
    ctx.log.step(
        "flow4.paid",
        "the card is authorized (confirmPayment); the seller's socket hears about the order",
        status=paid["status"],
        paid_at=paid["paidAt"],
        seller_event_status=seller_event["status"],
    )
    ctx.state["purchase_id"] = purchase_id


async def chat(ctx: Context) -> None:
    ctx.log.flow("5", "buyer and seller chat over Socket.IO")
    routes = (
        ("get", "/api/purchases/{purchase_id}/chat"),
        ("get", "/api/conversations/{conversation_id}/messages"),
    )
    if not ctx.available("flow 5 (chat)", *routes):
        return
    if not ctx.requires("flow 5 (chat)", "purchase_id"):
        return
    ana, paulo = ctx.actor("ana"), ctx.actor("paulo")
    purchase_id = ctx.state["purchase_id"]

    conversation = (await ana.api.get(f"/api/purchases/{purchase_id}/chat"))["conversationId"]
    seller_view = (await paulo.api.get(f"/api/purchases/{purchase_id}/chat"))["conversationId"]
    joins = [
        await ctx.socket(key).call("join_conversation", {"conversationId": conversation})
        for key in ("ana", "paulo")
    ]
    ctx.log.step(
        "flow5.joined",
        "both open the purchase's chat and join its room",
        conversation=conversation,
        same_for_seller=seller_view == conversation,
        join_acks=joins,
    )

    exchanges = (("ana", "paulo", "Quando chega?"), ("paulo", "ana", "Chega em 3 dias"))
    for sender_key, receiver_key, text in exchanges:
        sender = ctx.actor(sender_key)
        ack = await ctx.socket(sender_key).call(
            "send_message",
            {"conversationId": conversation, "body": text, "clientMessageId": new_key()},
        )
        if "error" in ack:
            raise DemoError(f"send_message was rejected: {ack['error']}")
        received = await ctx.socket(receiver_key).wait_for("new_message", _with_id(ack["id"]))
        ctx.log.step(
            f"flow5.{sender_key}_says",
            f"{sender.name} sends “{text}”; {ctx.actor(receiver_key).name} receives new_message",
            message=short(ack["id"]),
            received_body=received["body"],
            sender_is_right=received["senderId"] == sender.user_id,
        )

    history = await ana.api.get(f"/api/conversations/{conversation}/messages")
    ctx.log.step(
        "flow5.history",
        "the history over HTTP holds both messages, newest first",
        bodies=[item["body"] for item in history["items"]],
    )


async def ship(ctx: Context) -> None:
    ctx.log.flow("7", "seller ships with a Correios code and tracking advances")
    routes = (
        ("post", "/api/purchases/{purchase_id}/ship"),
        ("get", "/api/purchases/{purchase_id}/tracking"),
        ("post", "/api/purchases/{purchase_id}/tracking/advance"),
    )
    if not ctx.available("flow 7 (tracking)", *routes):
        return
    if not ctx.requires("flow 7 (tracking)", "purchase_id"):
        return
    paulo = ctx.actor("paulo")
    purchase_id = ctx.state["purchase_id"]
    code = data.tracking_code(ctx.rng)

    typo = data.with_wrong_check_digit(code)
    try:
        await paulo.api.post(f"/api/purchases/{purchase_id}/ship", json={"trackingCode": typo})
    except ApiError as error:
        rejected = error.code
    else:
        raise DemoError(f"the server accepted {typo}, whose check digit is wrong")
    shipped = await paulo.api.post(
        f"/api/purchases/{purchase_id}/ship", json={"trackingCode": code}
    )
    buyer_event = await ctx.socket("ana").wait_for("purchase_updated", _for(purchase_id, "shipped"))
    ctx.log.step(
        "flow7.shipped",
        f"{paulo.name} types a code with a wrong check digit, then the right one",
        typo=typo,
        typo_error=rejected,
        tracking_code=shipped["trackingCode"],
        status=shipped["status"],
        buyer_event_status=buyer_event["status"],
    )
    ctx.state["tracking_code"] = code
    await advance_tracking(ctx, steps=2, label="in_transit")


async def advance_tracking(ctx: Context, *, steps: int, label: str) -> None:
    paulo = ctx.actor("paulo")
    purchase_id = ctx.state["purchase_id"]
    statuses = []
    for _ in range(steps):
        timeline = await paulo.api.post(
            f"/api/purchases/{purchase_id}/tracking/advance", idempotency_key=new_key()
        )
        status = timeline["status"]
        await ctx.socket("ana").wait_for("tracking_update", _for(purchase_id, status))
        statuses.append(status)
    timeline = await ctx.actor("ana").api.get(f"/api/purchases/{purchase_id}/tracking")
    ctx.log.step(
        f"flow7.{label}",
        "the seller advances the manual tracking; the buyer's socket gets each tracking_update",
        advanced_to=statuses,
        timeline_status=timeline["status"],
        timeline=[event["status"] for event in timeline["events"]],
        last_description=timeline["events"][-1]["description"] if timeline["events"] else None,
    )


async def support(ctx: Context) -> None:
    ctx.log.flow("8", "the support assistant replies to “onde está meu pedido?”")
    routes = (
        ("post", "/api/support/conversations"),
        ("post", "/api/support/conversations/{conversation_id}/messages"),
    )
    if not ctx.available("flow 8 (support)", *routes):
        return
    ana = ctx.actor("ana")
    started = await ana.api.post("/api/support/conversations", expect=(201,))
    conversation = started["conversationId"]
    answer = await ana.api.post(
        f"/api/support/conversations/{conversation}/messages",
        json={"content": "onde está meu pedido?"},
        idempotency_key=new_key(),
    )
    reply = answer["reply"]["content"]
    purchase_id: str | None = ctx.state.get("purchase_id")
    code: str | None = ctx.state.get("tracking_code")
    ctx.log.step(
        "flow8.reply",
        f"{ana.name} asks the assistant where her order is",
        conversation=short(conversation),
        role=answer["reply"]["role"],
        mentions_purchase=purchase_id is not None and short(purchase_id) in reply,
        mentions_tracking_code=code is not None and code in reply,
        reply=" ".join(reply.split()),
    )


async def deliver_and_release(ctx: Context) -> None:
    ctx.log.flow("4", "delivery, the buyer's confirmation and the escrow release")
    routes = (("post", "/api/purchases/{purchase_id}/confirm-delivery"),)
    if not ctx.available("flow 4 (release)", *routes):
        return
    if not ctx.requires("flow 4 (release)", "purchase_id", "tracking_code"):
        return
    await advance_tracking(ctx, steps=2, label="delivered")
    ana, paulo = ctx.actor("ana"), ctx.actor("paulo")
    purchase_id = ctx.state["purchase_id"]

    delivered = await ana.api.get(f"/api/purchases/{purchase_id}")
    released = await ana.api.post(f"/api/purchases/{purchase_id}/confirm-delivery")
    seller_event = await ctx.socket("paulo").wait_for(
        "purchase_updated", _for(purchase_id, "released")
    )
    notices = await paulo.api.get("/api/notifications")
    release_notice = next(
        (item for item in notices["items"] if item["kind"] == "purchase_released"), None
    )
    ctx.log.step(
        "flow4.released",
        f"{ana.name} confirms delivery; the escrow goes to {paulo.name}",
        status_after_carrier=delivered["status"],
        release_at_after_carrier=delivered["releaseAt"],
        status=released["status"],
        released_at=released["releasedAt"],
        escrow=released["escrowAmount"],
        platform_fee=released["platformFee"],
        seller_event_status=seller_event["status"],
        seller_notice=release_notice["body"] if release_notice else None,
    )
    await _ledger(ctx, purchase_id)


async def _ledger(ctx: Context, purchase_id: str) -> None:
    if ctx.missing(("get", "/api/admin/purchases/{purchase_id}/ledger")):
        ctx.log.skip("flow 4 (ledger)", "not available: GET /api/admin/purchases/{id}/ledger")
        return
    ledger = await ctx.actor("admin").api.get(f"/api/admin/purchases/{purchase_id}/ledger")
    ctx.log.step(
        "flow4.ledger",
        "the admin reads the purchase's double-entry ledger: nothing left in escrow",
        entries=len(ledger["entries"]),
        kinds=sorted({entry["kind"] for entry in ledger["entries"]}),
        sum_cents=sum(entry["amountCents"] for entry in ledger["entries"]),
        escrow_held_cents=ledger["escrowHeldCents"],
        net_cents=ledger["netCents"],
    )
