"""Correios SRO Rastro client against the local stand-in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from taskgo.tracking.client import (
    CorreiosAuthError,
    CorreiosClient,
    CorreiosCredentials,
    CorreiosRateLimited,
    CorreiosRequestRejected,
    CorreiosUnavailable,
)
from taskgo.tracking.ratelimit import AsyncRateLimiter
from taskgo.tracking.statuses import TrackingStatus
from tests.standins.correios import CorreiosStandin, StandinEvent
from tests.tracking.manual_time import ManualTime

DELIVERED_CODE = "RA123456785BR"
IN_TRANSIT_CODE = "QP003000000BR"
UNKNOWN_CODE = "AA473124829BR"


def _local(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _seed_delivered(standin: CorreiosStandin) -> None:
    standin.add_events(
        DELIVERED_CODE,
        StandinEvent("PO", "01", "Objeto postado", _local("2026-03-02T09:15:00"), "CASCAVEL", "PR"),
        StandinEvent(
            "RO", "01", "Objeto em trânsito - por favor aguarde", _local("2026-03-02T20:01:10")
        ),
        StandinEvent(
            "OEC", "01", "Objeto saiu para entrega ao destinatário", _local("2026-03-04T08:30:00")
        ),
        StandinEvent("BDE", "01", "Objeto entregue ao destinatário", _local("2026-03-04T14:40:30")),
    )


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_token_is_cached_between_requests(
    correios: CorreiosStandin, correios_client: CorreiosClient
) -> None:
    _seed_delivered(correios)

    await correios_client.fetch_objects([DELIVERED_CODE])
    await correios_client.fetch_objects([DELIVERED_CODE])

    assert correios.tokens_issued == 1
    assert [request.status for request in correios.objects_requests()] == [200, 200]


async def test_token_refreshed_before_expira_em(
    correios: CorreiosStandin, correios_credentials: CorreiosCredentials
) -> None:
    correios.token_ttl = timedelta(seconds=100)
    clock = FakeClock()
    client = CorreiosClient(
        base_url=correios.base_url, credentials=correios_credentials, clock=clock
    )
    try:
        first = await client.get_token()
        clock.now += 89  # a tenth of the 100 s lifetime is the refresh margin
        assert await client.get_token() == first
        assert correios.tokens_issued == 1

        clock.now += 2
        second = await client.get_token()
    finally:
        await client.aclose()

    assert second != first
    assert correios.tokens_issued == 2


async def test_expired_token_refetched_once(
    correios: CorreiosStandin, correios_client: CorreiosClient
) -> None:
    _seed_delivered(correios)
    await correios_client.get_token()
    correios.expire_all_tokens()

    answer = await correios_client.fetch_objects([DELIVERED_CODE])

    statuses = [request.status for request in correios.objects_requests()]
    assert statuses == [401, 200]
    assert correios.tokens_issued == 2
    assert answer.objects[DELIVERED_CODE].events[-1].status is TrackingStatus.DELIVERED


async def test_repeated_401_raises_auth_error(
    correios: CorreiosStandin, correios_client: CorreiosClient
) -> None:
    correios.fail_next(401, times=2)

    with pytest.raises(CorreiosAuthError) as caught:
        await correios_client.fetch_objects([DELIVERED_CODE])

    assert caught.value.status == 401
    assert len(correios.objects_requests()) == 2


async def test_forbidden_is_not_retried(
    correios: CorreiosStandin, correios_client: CorreiosClient
) -> None:
    correios.fail_next(403)

    with pytest.raises(CorreiosAuthError) as caught:
        await correios_client.fetch_objects([DELIVERED_CODE])

    assert caught.value.status == 403
    assert len(correios.objects_requests()) == 1


async def test_wrong_access_code_rejected(correios: CorreiosStandin) -> None:
    credentials = CorreiosCredentials(
        user=correios.user, access_code="wrong", postal_card=correios.postal_card
    )
    async with CorreiosClient(base_url=correios.base_url, credentials=credentials) as client:
        with pytest.raises(CorreiosAuthError) as caught:
            await client.fetch_objects([DELIVERED_CODE])

    assert caught.value.status == 401
    assert "GTW-001" in str(caught.value)
    assert correios.objects_requests() == []


async def test_wrong_postal_card_rejected(correios: CorreiosStandin) -> None:
    credentials = CorreiosCredentials(
        user=correios.user, access_code=correios.access_code, postal_card="9999999999"
    )
    async with CorreiosClient(base_url=correios.base_url, credentials=credentials) as client:
        with pytest.raises(CorreiosAuthError) as caught:
            await client.get_token()

    assert caught.value.status == 403


async def test_rate_limited_reports_retry_after(
    correios: CorreiosStandin, correios_client: CorreiosClient
) -> None:
    correios.fail_next(429, headers={"Retry-After": "7"})

    with pytest.raises(CorreiosRateLimited) as caught:
        await correios_client.fetch_objects([DELIVERED_CODE])

    assert caught.value.retry_after == 7.0
    assert caught.value.status == 429


async def test_server_error_is_unavailable(
    correios: CorreiosStandin, correios_client: CorreiosClient
) -> None:
    correios.fail_next(503)

    with pytest.raises(CorreiosUnavailable) as caught:
        await correios_client.fetch_objects([DELIVERED_CODE])

    assert caught.value.status == 503
    assert "Falha simulada 503" in str(caught.value)


async def test_bad_request_is_rejected(
    correios: CorreiosStandin, correios_client: CorreiosClient
) -> None:
    correios.fail_next(400)

    with pytest.raises(CorreiosRequestRejected) as caught:
        await correios_client.fetch_objects([DELIVERED_CODE])

    assert caught.value.status == 400


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        # A body that claims gzip but is not: httpx fails while decoding it.
        ({"Content-Encoding": "gzip"}, b'{"objetos": []}'),
        # JSON nested deeper than the parser's recursion limit.
        ({}, b"[" * 100_000 + b"]" * 100_000),
        ({}, b"\xff\xfe not json"),
    ],
)
async def test_garbled_body_is_unavailable(
    correios: CorreiosStandin,
    correios_client: CorreiosClient,
    headers: dict[str, str],
    body: bytes,
) -> None:
    correios.fail_next(200, headers=headers, body=body)

    with pytest.raises(CorreiosUnavailable):
        await correios_client.fetch_objects([DELIVERED_CODE])


async def test_unreachable_host_is_unavailable(
    correios_credentials: CorreiosCredentials,
) -> None:
    # Port 9 (discard) is closed on loopback, so the connection is refused at once.
    async with CorreiosClient(
        base_url="http://127.0.0.1:9", credentials=correios_credentials, timeout=2
    ) as client:
        with pytest.raises(CorreiosUnavailable):
            await client.fetch_objects([DELIVERED_CODE])


async def test_batch_answers_every_kind(
    correios: CorreiosStandin, correios_client: CorreiosClient
) -> None:
    _seed_delivered(correios)
    correios.add_events(
        IN_TRANSIT_CODE,
        StandinEvent("PO", "01", "Objeto postado", _local("2026-03-05T10:00:00"), "MANAUS", "AM"),
    )

    answer = await correios_client.fetch_objects(
        [DELIVERED_CODE, IN_TRANSIT_CODE, UNKNOWN_CODE, "xx12"]
    )

    requests = correios.objects_requests()
    assert len(requests) == 1
    assert requests[0].codes == [DELIVERED_CODE, IN_TRANSIT_CODE, UNKNOWN_CODE, "XX12"]
    assert answer.missing == ()
    assert answer.objects[UNKNOWN_CODE].not_found
    assert answer.objects[UNKNOWN_CODE].events == ()
    assert answer.objects["XX12"].invalid
    assert not answer.objects[DELIVERED_CODE].not_found

    manaus_posting = answer.objects[IN_TRANSIT_CODE].events[0]
    assert manaus_posting.status is TrackingStatus.POSTED
    assert manaus_posting.location == "MANAUS - AM"
    # Manaus is four hours behind UTC all year.
    assert manaus_posting.occurred_at == datetime(2026, 3, 5, 14, 0, tzinfo=UTC)


async def test_events_are_normalized_oldest_first(
    correios: CorreiosStandin, correios_client: CorreiosClient
) -> None:
    _seed_delivered(correios)

    answer = await correios_client.fetch_objects([DELIVERED_CODE])

    events = answer.objects[DELIVERED_CODE].events
    assert [event.status for event in events] == [
        TrackingStatus.POSTED,
        TrackingStatus.IN_TRANSIT,
        TrackingStatus.OUT_FOR_DELIVERY,
        TrackingStatus.DELIVERED,
    ]
    assert [event.carrier_code for event in events] == ["PO-01", "RO-01", "OEC-01", "BDE-01"]
    assert events[0].location == "CASCAVEL - PR"
    assert events[-1].description == "Objeto entregue ao destinatário"
    # São Paulo has had no daylight saving time since 2019, so it is UTC-3.
    assert events[-1].occurred_at == datetime(2026, 3, 4, 17, 40, 30, tzinfo=UTC)
    assert len({event.event_key for event in events}) == 4


async def test_partial_answer_lists_missing_codes(
    correios: CorreiosStandin, correios_client: CorreiosClient
) -> None:
    _seed_delivered(correios)
    correios.omit_codes = {IN_TRANSIT_CODE}

    answer = await correios_client.fetch_objects([DELIVERED_CODE, IN_TRANSIT_CODE])

    assert answer.missing == (IN_TRANSIT_CODE,)
    assert set(answer.objects) == {DELIVERED_CODE}


async def test_duplicate_codes_sent_once(
    correios: CorreiosStandin, correios_client: CorreiosClient
) -> None:
    await correios_client.fetch_objects([DELIVERED_CODE, DELIVERED_CODE.lower(), DELIVERED_CODE])

    assert correios.objects_requests()[0].codes == [DELIVERED_CODE]


async def test_more_than_fifty_codes_refused(correios_client: CorreiosClient) -> None:
    with pytest.raises(ValueError, match="at most 50"):
        await correios_client.fetch_objects([f"RA{index:08d}5BR" for index in range(51)])


async def test_fifty_codes_in_one_request(
    correios: CorreiosStandin, correios_client: CorreiosClient
) -> None:
    codes = [f"RA{index:08d}5BR" for index in range(50)]

    answer = await correios_client.fetch_objects(codes)

    assert len(correios.objects_requests()) == 1
    assert len(answer.objects) == 50


async def test_limiter_keeps_under_gateway_limit(
    correios: CorreiosStandin, correios_credentials: CorreiosCredentials
) -> None:
    # The limiter and the gateway share one manual clock, so the gateway counts each
    # request at the instant the limiter released it. With real time, a loaded machine
    # can deliver requests released 125 ms apart less than the gateway's 100 ms apart,
    # and the gateway rejects them for a reason that is not the limiter's.
    manual = ManualTime()
    correios.clock = manual.clock
    correios.rate_limit = 10.0
    correios.rate_burst = 1
    limiter = AsyncRateLimiter(rate=8.0, burst=1, clock=manual.clock, sleep=manual.sleep)
    client = CorreiosClient(
        base_url=correios.base_url, credentials=correios_credentials, rate_limiter=limiter
    )
    try:
        for _ in range(6):
            await client.fetch_objects([DELIVERED_CODE])
    finally:
        await client.aclose()

    assert [request.status for request in correios.requests] == [201] + [200] * 6
    # Seven requests (one token, six objects) at 8 per second: the burst token, then six
    # waits of 1/8 s, which the gateway's 10 per second bucket has refilled for.
    assert manual.sleeps == pytest.approx([0.125] * 6)
    assert manual.now == pytest.approx(0.75)


async def test_limiter_faster_than_gateway_is_refused(
    correios: CorreiosStandin, correios_credentials: CorreiosCredentials
) -> None:
    # A limiter faster than the gateway gets a 429, which shows the check above can fail.
    manual = ManualTime()
    correios.clock = manual.clock
    correios.rate_limit = 10.0
    correios.rate_burst = 1
    limiter = AsyncRateLimiter(rate=12.0, burst=1, clock=manual.clock, sleep=manual.sleep)
    client = CorreiosClient(
        base_url=correios.base_url, credentials=correios_credentials, rate_limiter=limiter
    )
    try:
        with pytest.raises(CorreiosRateLimited):
            await client.fetch_objects([DELIVERED_CODE])
    finally:
        await client.aclose()

    assert [request.status for request in correios.requests] == [201, 429]


async def test_without_limiter_gateway_answers_429(
    correios: CorreiosStandin, correios_client: CorreiosClient
) -> None:
    # The gateway's clock does not advance, so back-to-back requests are rejected however
    # slowly a loaded machine sends them.
    manual = ManualTime()
    correios.clock = manual.clock
    correios.rate_limit = 10.0
    correios.rate_burst = 1

    with pytest.raises(CorreiosRateLimited) as caught:
        await correios_client.fetch_objects([DELIVERED_CODE])

    assert caught.value.retry_after == 1.0
    assert [request.status for request in correios.requests] == [201, 429]
