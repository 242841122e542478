"""The Correios poll over real purchases: new events, delivery, and what never changes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.notifications.models import Notification
from taskgo.purchases.models import Purchase, PurchaseStatus
from taskgo.tracking import service
from taskgo.tracking.client import CorreiosClient, CorreiosCredentials
from taskgo.tracking.models import TrackingEvent, TrackingShipment
from taskgo.tracking.polling import run_poll
from taskgo.tracking.settings import (
    TrackingSettings,
    get_tracking_settings,
    reset_tracking_settings,
)
from tests.standins.correios import CorreiosStandin, StandinEvent
from tests.tracking.conftest import MakeShipped

CODE_A = "RA123456785BR"
CODE_B = "QP003000000BR"
CODE_C = "AA473124829BR"


def _local(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _recent_local(hours_ago: float) -> datetime:
    """A Brasília wall-clock time some hours ago, as SRO would print it."""
    brasilia = datetime.now(UTC) - timedelta(hours=3 + hours_ago)
    return brasilia.replace(tzinfo=None, microsecond=0)


def _journey(until: str) -> list[StandinEvent]:
    steps = [
        StandinEvent("PO", "01", "Objeto postado", _recent_local(30), "CASCAVEL", "PR"),
        StandinEvent("RO", "01", "Objeto em trânsito - por favor aguarde", _recent_local(20)),
        StandinEvent("OEC", "01", "Objeto saiu para entrega ao destinatário", _recent_local(5)),
        StandinEvent("BDE", "01", "Objeto entregue ao destinatário", _recent_local(1)),
    ]
    count = {"posted": 1, "in_transit": 2, "out_for_delivery": 3, "delivered": 4}[until]
    return steps[:count]


@pytest.fixture
async def standin_client(
    correios: CorreiosStandin, correios_credentials: CorreiosCredentials
) -> Any:
    async with CorreiosClient(
        base_url=correios.base_url, credentials=correios_credentials
    ) as client:
        yield client


async def _events(db: AsyncSession, purchase: Purchase) -> list[TrackingEvent]:
    query = (
        select(TrackingEvent)
        .where(TrackingEvent.purchase_id == purchase.id)
        .order_by(TrackingEvent.occurred_at)
    )
    return list((await db.scalars(query)).all())


async def _shipment(db: AsyncSession, purchase: Purchase) -> TrackingShipment:
    query = select(TrackingShipment).where(TrackingShipment.purchase_id == purchase.id)
    return (await db.scalars(query.execution_options(populate_existing=True))).one()


async def _notifications(db: AsyncSession, kind: str) -> list[Notification]:
    query = select(Notification).where(Notification.kind == kind).order_by(Notification.user_id)
    return list((await db.scalars(query)).all())


async def test_poll_stores_new_events_once(
    db: AsyncSession,
    correios: CorreiosStandin,
    correios_provider: TrackingSettings,
    standin_client: CorreiosClient,
    make_purchase: MakeShipped,
) -> None:
    purchase = await make_purchase(tracking_code=CODE_A)
    correios.add_events(CODE_A, *_journey("in_transit"))

    first = await run_poll(correios_provider, client=standin_client)
    second = await run_poll(correios_provider, client=standin_client)

    assert first.new_events == 2
    assert second.new_events == 0
    events = await _events(db, purchase)
    assert [event.status for event in events] == ["posted", "in_transit"]
    assert events[0].location == "CASCAVEL - PR"
    assert events[0].source == "correios"
    shipment = await _shipment(db, purchase)
    assert shipment.status == "in_transit"
    assert shipment.last_polled_at is not None
    await db.refresh(purchase)
    assert purchase.status == PurchaseStatus.SHIPPED
    # Posted is major and newest-major of the batch is posted: both sides get one push.
    assert len(await _notifications(db, "tracking_update")) == 2


async def test_delivery_marks_purchase_delivered(
    db: AsyncSession,
    correios: CorreiosStandin,
    correios_provider: TrackingSettings,
    standin_client: CorreiosClient,
    make_purchase: MakeShipped,
) -> None:
    purchase = await make_purchase(tracking_code=CODE_A)
    journey = _journey("delivered")
    correios.add_events(CODE_A, *journey[:3])
    await run_poll(correios_provider, client=standin_client)
    correios.add_events(CODE_A, journey[3])

    report = await run_poll(correios_provider, client=standin_client)

    assert report.new_events == 1
    await db.refresh(purchase)
    assert purchase.status == PurchaseStatus.DELIVERED
    # SRO prints Brasília wall-clock time, three hours behind UTC.
    delivered_at = journey[3].local_time.replace(tzinfo=UTC) + timedelta(hours=3)
    assert purchase.carrier_delivered_at == delivered_at
    assert purchase.release_at is not None
    shipment = await _shipment(db, purchase)
    assert shipment.status == "delivered"
    assert shipment.finished_at is not None

    # A finished shipment is not requested again.
    requests_before = len(correios.objects_requests())
    await run_poll(correios_provider, client=standin_client)
    assert len(correios.objects_requests()) == requests_before


async def test_delivery_push_goes_to_seller(
    db: AsyncSession,
    correios: CorreiosStandin,
    correios_provider: TrackingSettings,
    standin_client: CorreiosClient,
    make_purchase: MakeShipped,
) -> None:
    purchase = await make_purchase(tracking_code=CODE_A)
    correios.add_events(CODE_A, *_journey("delivered"))

    await run_poll(correios_provider, client=standin_client)

    tracking_pushes = await _notifications(db, "tracking_update")
    assert [row.user_id for row in tracking_pushes] == [purchase.seller_id]
    assert tracking_pushes[0].title == "Pedido entregue"
    # The buyer hears about delivery from the purchase itself, with the release date.
    assert [row.user_id for row in await _notifications(db, "purchase_delivered")] == [
        purchase.buyer_id
    ]


async def test_only_shipped_purchases_polled(
    db: AsyncSession,
    correios: CorreiosStandin,
    correios_provider: TrackingSettings,
    standin_client: CorreiosClient,
    make_purchase: MakeShipped,
) -> None:
    await make_purchase(status=PurchaseStatus.PAID)
    await make_purchase(status=PurchaseStatus.DELIVERED, tracking_code=CODE_B)
    await make_purchase(status=PurchaseStatus.SHIPPED, tracking_code=CODE_C)

    await run_poll(correios_provider, client=standin_client)

    assert [request.codes for request in correios.objects_requests()] == [[CODE_C]]


async def test_not_found_changes_nothing(
    db: AsyncSession,
    correios: CorreiosStandin,
    correios_provider: TrackingSettings,
    standin_client: CorreiosClient,
    make_purchase: MakeShipped,
) -> None:
    purchase = await make_purchase(
        tracking_code=CODE_A, shipped_at=datetime.now(UTC) - timedelta(hours=2)
    )

    report = await run_poll(correios_provider, client=standin_client)

    assert not report.failed
    await db.refresh(purchase)
    assert purchase.status == PurchaseStatus.SHIPPED
    assert purchase.canceled_at is None
    shipment = await _shipment(db, purchase)
    assert shipment.status is None
    assert shipment.not_found_since is not None
    assert shipment.last_carrier_message is not None
    assert shipment.last_carrier_message.startswith("SRO-020")
    assert await _notifications(db, "tracking_not_found") == []


async def test_long_not_found_warns_seller_once(
    db: AsyncSession,
    correios: CorreiosStandin,
    correios_provider: TrackingSettings,
    standin_client: CorreiosClient,
    make_purchase: MakeShipped,
) -> None:
    purchase = await make_purchase(
        tracking_code=CODE_A, shipped_at=datetime.now(UTC) - timedelta(days=4)
    )

    await run_poll(correios_provider, client=standin_client)
    await run_poll(correios_provider, client=standin_client)

    warnings = await _notifications(db, "tracking_not_found")
    assert [row.user_id for row in warnings] == [purchase.seller_id]
    assert CODE_A in warnings[0].body
    await db.refresh(purchase)
    assert purchase.status == PurchaseStatus.SHIPPED


async def test_partial_answer_skips_missing(
    db: AsyncSession,
    correios: CorreiosStandin,
    correios_provider: TrackingSettings,
    standin_client: CorreiosClient,
    make_purchase: MakeShipped,
) -> None:
    answered = await make_purchase(tracking_code=CODE_A)
    left_out = await make_purchase(tracking_code=CODE_B)
    correios.add_events(CODE_A, *_journey("posted"))
    correios.add_events(CODE_B, *_journey("delivered"))
    correios.omit_codes = {CODE_B}

    report = await run_poll(correios_provider, client=standin_client)

    assert not report.failed
    assert (await _shipment(db, answered)).last_polled_at is not None
    skipped = await _shipment(db, left_out)
    assert skipped.last_polled_at is None
    assert skipped.status is None
    assert await _events(db, left_out) == []
    await db.refresh(left_out)
    assert left_out.status == PurchaseStatus.SHIPPED


@pytest.mark.parametrize("status", [401, 403])
async def test_auth_failure_changes_nothing(
    db: AsyncSession,
    correios: CorreiosStandin,
    correios_provider: TrackingSettings,
    standin_client: CorreiosClient,
    make_purchase: MakeShipped,
    status: int,
) -> None:
    purchase = await make_purchase(tracking_code=CODE_A)
    correios.add_events(CODE_A, *_journey("delivered"))
    correios.fail_next(status, times=2)

    report = await run_poll(correios_provider, client=standin_client)

    assert report.failed
    await db.refresh(purchase)
    assert purchase.status == PurchaseStatus.SHIPPED
    assert await _events(db, purchase) == []
    assert (await _shipment(db, purchase)).last_polled_at is None


async def test_returned_parcel_alerts_admins(
    db: AsyncSession,
    correios: CorreiosStandin,
    correios_provider: TrackingSettings,
    standin_client: CorreiosClient,
    make_purchase: MakeShipped,
    make_user: Any,
) -> None:
    admin = await make_user(role="admin")
    purchase = await make_purchase(tracking_code=CODE_A)
    correios.add_events(
        CODE_A,
        *_journey("posted"),
        StandinEvent("BDE", "23", "Objeto entregue ao remetente", _recent_local(2)),
    )

    await run_poll(correios_provider, client=standin_client)

    await db.refresh(purchase)
    assert purchase.status == PurchaseStatus.SHIPPED
    assert purchase.canceled_at is None
    assert (await _shipment(db, purchase)).status == "returned"
    alerts = await _notifications(db, "tracking_returned")
    assert [row.user_id for row in alerts] == [admin.id]
    assert str(purchase.id) in alerts[0].body


async def test_recoded_shipment_follows_new_code(
    db: AsyncSession,
    correios: CorreiosStandin,
    correios_provider: TrackingSettings,
    standin_client: CorreiosClient,
    make_purchase: MakeShipped,
) -> None:
    purchase = await make_purchase(tracking_code=CODE_A)
    await run_poll(correios_provider, client=standin_client)
    purchase.tracking_code = CODE_B
    await db.flush()
    correios.add_events(CODE_B, *_journey("posted"))

    await run_poll(correios_provider, client=standin_client)

    assert [request.codes for request in correios.objects_requests()] == [[CODE_A], [CODE_B]]
    shipment = await _shipment(db, purchase)
    assert shipment.tracking_code == CODE_B
    assert shipment.not_found_since is None
    assert shipment.status == "posted"


async def test_recode_drops_wrong_parcel_events(
    db: AsyncSession,
    correios: CorreiosStandin,
    correios_provider: TrackingSettings,
    standin_client: CorreiosClient,
    make_purchase: MakeShipped,
) -> None:
    purchase = await make_purchase(tracking_code=CODE_A)
    correios.add_events(CODE_A, *_journey("in_transit"))
    await run_poll(correios_provider, client=standin_client)
    purchase.tracking_code = CODE_B
    await db.flush()
    # The right parcel was posted before the mistyped one last moved.
    correios.add_events(CODE_B, StandinEvent("PO", "01", "Objeto postado", _recent_local(40)))

    await run_poll(correios_provider, client=standin_client)

    timeline = await service.timeline_of(db, purchase=purchase)
    assert timeline.tracking_code == CODE_B
    assert timeline.status == "posted"
    assert [(event.tracking_code, event.status) for event in timeline.events] == [
        (CODE_B, "posted")
    ]


async def test_unit_address_change_stores_once(
    db: AsyncSession,
    correios: CorreiosStandin,
    correios_provider: TrackingSettings,
    standin_client: CorreiosClient,
    make_purchase: MakeShipped,
) -> None:
    """SRO sends a Porto Velho unit's address in one response and leaves it out of the next."""
    purchase = await make_purchase(tracking_code=CODE_A)
    event = StandinEvent(
        "OEC", "01", "Objeto saiu para entrega", _recent_local(3), "PORTO VELHO", "RO"
    )
    correios.add_events(CODE_A, event)
    first = await run_poll(correios_provider, client=standin_client)
    event.with_address = False

    second = await run_poll(correios_provider, client=standin_client)

    assert (first.new_events, second.new_events) == (1, 0)
    assert [event.location for event in await _events(db, purchase)] == ["PORTO VELHO - RO"]
    assert len(await _notifications(db, "tracking_update")) == 2


async def test_database_failure_counts_as_failed_run(
    db: AsyncSession,
    correios: CorreiosStandin,
    correios_provider: TrackingSettings,
    standin_client: CorreiosClient,
    make_purchase: MakeShipped,
    make_user: Any,
) -> None:
    """An error that is not Correios's, here the database refusing a new shipment row,
    still fails the run: the streak grows and the admins hear of it."""
    from taskgo.tracking import poll_state

    admin = await make_user(role="admin")
    await make_purchase(tracking_code=CODE_A)
    await db.execute(
        text(
            "CREATE FUNCTION test_reject_shipment() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'rejected by the test'; END $$"
        )
    )
    await db.execute(
        text(
            "CREATE TRIGGER test_reject_shipment BEFORE INSERT ON tracking_shipments "
            "FOR EACH ROW EXECUTE FUNCTION test_reject_shipment()"
        )
    )
    for _ in range(3):
        report = await run_poll(correios_provider, client=standin_client)
        assert report.failed
        state = await poll_state.load(db)
        state.paused_until = None
        await db.flush()

    assert state.consecutive_failures == 3
    assert state.last_error is not None
    assert "rejected by the test" in state.last_error
    alerts = await _notifications(db, "tracking_poll_failing")
    assert [row.user_id for row in alerts] == [admin.id]
    assert correios.objects_requests() == []


async def test_failed_runs_alert_admins(
    db: AsyncSession,
    correios: CorreiosStandin,
    correios_provider: TrackingSettings,
    standin_client: CorreiosClient,
    make_purchase: MakeShipped,
    make_user: Any,
) -> None:
    from taskgo.tracking import poll_state

    admin = await make_user(role="admin")
    await make_purchase(tracking_code=CODE_A)
    settings = correios_provider.model_copy(update={"tracking_max_attempts": 1})
    for _ in range(3):
        correios.fail_next(503)
        report = await run_poll(settings, client=standin_client)
        assert report.failed
        state = await poll_state.load(db)
        state.paused_until = None
        await db.flush()

    alerts = await _notifications(db, "tracking_poll_failing")
    assert [row.user_id for row in alerts] == [admin.id]
    assert "3" in alerts[0].body
    count = await db.scalar(select(func.count()).select_from(TrackingEvent))
    assert count == 0


@dataclass
class _RawFieldsEvent(StandinEvent):
    """An SRO event with some fields replaced by raw JSON values."""

    overrides: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(), **(self.overrides or {})}


@pytest.mark.parametrize(
    "overrides",
    [
        {"codigo": "X" * 100},
        {"descricao": "Objeto\u0000postado"},
        {"descricao": "Objeto \ud800 postado"},
        {"unidade": {"endereco": {"cidade": "CAS\u0000CAVEL", "uf": "PR"}}},
        {"dtHrCriado": "9999-12-31T23:00:00"},
    ],
)
async def test_malformed_event_spares_other_parcels(
    db: AsyncSession,
    correios: CorreiosStandin,
    correios_provider: TrackingSettings,
    standin_client: CorreiosClient,
    make_purchase: MakeShipped,
    overrides: dict[str, Any],
) -> None:
    malformed = await make_purchase(tracking_code=CODE_A)
    plain = await make_purchase(tracking_code=CODE_B)
    raw_event = _RawFieldsEvent(
        "RO", "01", "Objeto em trânsito", _recent_local(2), overrides=overrides
    )
    correios.add_events(CODE_A, *_journey("posted"), raw_event)
    correios.add_events(CODE_B, *_journey("posted"))

    report = await run_poll(correios_provider, client=standin_client)

    assert not report.failed
    assert [event.status for event in await _events(db, plain)] == ["posted"]
    assert (await _events(db, malformed))[0].status == "posted"
    assert (await _shipment(db, malformed)).last_polled_at is not None


async def test_failed_batch_spares_other_batches(
    db: AsyncSession,
    correios: CorreiosStandin,
    correios_provider: TrackingSettings,
    standin_client: CorreiosClient,
    make_purchase: MakeShipped,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRACKING_BATCH_SIZE", "1")
    reset_tracking_settings()
    failing = await make_purchase(tracking_code=CODE_A)
    plain = await make_purchase(tracking_code=CODE_B)
    correios.add_events(CODE_A, *_journey("posted"))
    correios.add_events(CODE_B, *_journey("posted"))
    # A real database failure for one parcel's events, rolled back with the test.
    await db.execute(
        text(
            "CREATE FUNCTION test_reject_event() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'rejected by the test'; END $$"
        )
    )
    await db.execute(
        text(
            "CREATE TRIGGER test_reject_event BEFORE INSERT ON tracking_events FOR EACH ROW "
            f"WHEN (NEW.tracking_code = '{CODE_A}') EXECUTE FUNCTION test_reject_event()"
        )
    )

    report = await run_poll(get_tracking_settings(), client=standin_client)

    assert report.batches_failed == 1
    assert report.batches_done == 1
    assert not report.failed
    assert [event.status for event in await _events(db, plain)] == ["posted"]
    assert await _events(db, failing) == []


async def test_future_event_is_skipped(
    db: AsyncSession,
    correios: CorreiosStandin,
    correios_provider: TrackingSettings,
    standin_client: CorreiosClient,
    make_purchase: MakeShipped,
) -> None:
    purchase = await make_purchase(tracking_code=CODE_A)
    future = StandinEvent("BDE", "01", "Objeto entregue ao destinatário", _recent_local(-24 * 30))
    correios.add_events(CODE_A, *_journey("posted"), future)

    await run_poll(correios_provider, client=standin_client)

    # Stored, a month ahead it would stay the latest event and freeze the status.
    assert [event.status for event in await _events(db, purchase)] == ["posted"]
    assert (await _shipment(db, purchase)).status == "posted"
