"""FCM HTTP v1 sender against the local stand-in (TLS, HTTP/2, OAuth2 service account)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import uvloop

from taskgo.notifications.client import FcmConfig, FcmSender
from taskgo.notifications.push import PushMessage, PushOutcome
from tests.standins.fcm import FcmStandin, make_device_token
from tests.standins.fcm_failures import Failure


def push(token: str, key: str = "k1", **changes: object) -> PushMessage:
    message = PushMessage(
        key=key,
        token=token,
        title="Nova ordem de serviço: Pintura em Cascavel",
        body="Pintar a sala e dois quartos",
        data={"kind": "order_created", "serviceOrderId": "8d0c8d9e"},
        collapse_key="order-8d0c8d9e",
    )
    return replace(message, **changes)  # type: ignore[arg-type]


async def test_delivers_over_http2(fcm_standin: FcmStandin, fcm_sender: FcmSender) -> None:
    tokens = [make_device_token() for _ in range(20)]
    fcm_standin.register(*tokens)

    results = await fcm_sender.send([push(token, key=str(i)) for i, token in enumerate(tokens)])

    assert [result.outcome for result in results] == [PushOutcome.DELIVERED] * 20
    assert [result.message.key for result in results] == [str(i) for i in range(20)]
    assert all(
        result.provider_message_id
        and result.provider_message_id.startswith("projects/taskgo-test/messages/")
        for result in results
    )
    assert sorted(fcm_standin.delivered_tokens()) == sorted(tokens)
    assert {record.http_version for record in fcm_standin.send_requests} == {"2"}
    # Twenty concurrent sends share one access token.
    assert fcm_standin.oauth.token_requests == 1


async def test_sends_v1_message_shape(fcm_standin: FcmStandin, fcm_sender: FcmSender) -> None:
    token = make_device_token()
    fcm_standin.register(token)

    await fcm_sender.send([push(token)])

    message = fcm_standin.deliveries[0].message
    assert message["token"] == token
    assert message["notification"] == {
        "title": "Nova ordem de serviço: Pintura em Cascavel",
        "body": "Pintar a sala e dois quartos",
    }
    assert message["data"] == {"kind": "order_created", "serviceOrderId": "8d0c8d9e"}
    assert message["android"] == {"priority": "HIGH", "collapse_key": "order-8d0c8d9e"}
    assert message["apns"]["headers"]["apns-collapse-id"] == "order-8d0c8d9e"
    assert message["apns"]["headers"]["apns-priority"] == "10"


async def test_unregistered_token(fcm_standin: FcmStandin, fcm_sender: FcmSender) -> None:
    token = make_device_token()
    fcm_standin.register(token)
    fcm_standin.unregister(token)

    [result] = await fcm_sender.send([push(token)])

    assert result.outcome is PushOutcome.TOKEN_UNREGISTERED
    assert result.outcome.deactivates_token
    assert [(a.status_code, a.error_code) for a in result.attempts] == [(404, "UNREGISTERED")]
    assert len(fcm_standin.requests_for(token)) == 1


async def test_malformed_token_is_invalid(fcm_standin: FcmStandin, fcm_sender: FcmSender) -> None:
    [result] = await fcm_sender.send([push("not a token")])

    assert result.outcome is PushOutcome.TOKEN_INVALID
    assert result.outcome.deactivates_token
    assert [(a.status_code, a.error_code) for a in result.attempts] == [(400, "INVALID_ARGUMENT")]
    assert fcm_standin.deliveries == []


async def test_invalid_token_named_in_message(
    fcm_standin: FcmStandin, fcm_sender: FcmSender
) -> None:
    token = make_device_token()
    fcm_standin.register(token)
    fcm_standin.script(token, Failure.invalid_token_message_only())

    [result] = await fcm_sender.send([push(token)])

    assert result.outcome is PushOutcome.TOKEN_INVALID
    assert len(result.attempts) == 1


async def test_payload_error_keeps_token(fcm_standin: FcmStandin, fcm_sender: FcmSender) -> None:
    token = make_device_token()
    fcm_standin.register(token)
    fcm_standin.script(token, Failure.invalid_payload("message.android.ttl"))

    [result] = await fcm_sender.send([push(token)])

    assert result.outcome is PushOutcome.PAYLOAD_REJECTED
    assert not result.outcome.deactivates_token
    assert len(result.attempts) == 1
    assert len(fcm_standin.requests_for(token)) == 1


async def test_rate_limit_honours_retry_after(
    fcm_standin: FcmStandin, fcm_sender: FcmSender
) -> None:
    token = make_device_token()
    fcm_standin.register(token)
    fcm_standin.script(token, Failure.rate_limited(retry_after=1))

    [result] = await fcm_sender.send([push(token)])

    assert result.outcome is PushOutcome.DELIVERED
    assert [a.status_code for a in result.attempts] == [429, 200]
    assert result.attempts[0].error_code == "QUOTA_EXCEEDED"
    assert result.attempts[0].retry_after_seconds == 1.0
    first, second = fcm_standin.requests_for(token)
    # The configured backoff is 10 ms; only Retry-After explains a one-second gap.
    assert second.received_at - first.received_at >= 0.95


async def test_retries_503_then_delivers(fcm_standin: FcmStandin, fcm_sender: FcmSender) -> None:
    token = make_device_token()
    fcm_standin.register(token)
    fcm_standin.script(token, Failure.unavailable(), Failure.internal())

    [result] = await fcm_sender.send([push(token)])

    assert result.outcome is PushOutcome.DELIVERED
    assert [a.status_code for a in result.attempts] == [503, 500, 200]
    assert [a.number for a in result.attempts] == [1, 2, 3]


async def test_gives_up_after_five_attempts(fcm_standin: FcmStandin, fcm_sender: FcmSender) -> None:
    token = make_device_token()
    fcm_standin.register(token)
    fcm_standin.script(token, *[Failure.unavailable()] * 8)

    [result] = await fcm_sender.send([push(token)])

    assert result.outcome is PushOutcome.FAILED
    assert not result.outcome.deactivates_token
    assert [a.status_code for a in result.attempts] == [503] * 5
    assert len(fcm_standin.requests_for(token)) == 5


async def test_attempt_budget_spans_runs(fcm_standin: FcmStandin, fcm_sender: FcmSender) -> None:
    token = make_device_token()
    fcm_standin.register(token)
    fcm_standin.script(token, *[Failure.unavailable()] * 8)

    [result] = await fcm_sender.send([push(token, attempts_made=3)])

    assert result.outcome is PushOutcome.FAILED
    assert [a.number for a in result.attempts] == [4, 5]
    assert len(fcm_standin.requests_for(token)) == 2


async def test_long_retry_after_defers(fcm_standin: FcmStandin, fcm_config: FcmConfig) -> None:
    token = make_device_token()
    fcm_standin.register(token)
    fcm_standin.script(token, Failure.rate_limited(retry_after=120))
    sender = FcmSender(replace(fcm_config, max_inline_wait_seconds=5))

    before = datetime.now(UTC)
    try:
        [result] = await sender.send([push(token)])
    finally:
        await sender.aclose()

    assert result.outcome is PushOutcome.DEFERRED
    assert not result.outcome.is_final
    assert result.retry_at is not None
    assert before + timedelta(seconds=119) <= result.retry_at
    assert result.retry_at <= datetime.now(UTC) + timedelta(seconds=121)
    assert len(fcm_standin.requests_for(token)) == 1


async def test_broken_message_spares_batch(fcm_standin: FcmStandin, fcm_sender: FcmSender) -> None:
    """A message the sender itself chokes on (a data key that is not a string) fails
    alone, and every result reaches the callback."""
    healthy = make_device_token()
    fcm_standin.register(healthy)
    broken = push(make_device_token(), key="broken", data={1: "one"})
    seen: list[str] = []

    results = await fcm_sender.send(
        [broken, push(healthy, key="healthy")],
        on_result=lambda result: seen.append(result.message.key),
    )

    assert [(r.message.key, r.outcome, r.error_code) for r in results] == [
        ("broken", PushOutcome.FAILED, "SENDER_ERROR"),
        ("healthy", PushOutcome.DELIVERED, None),
    ]
    assert sorted(seen) == ["broken", "healthy"]
    assert fcm_standin.delivered_tokens() == [healthy]


async def test_refreshes_rejected_access_token(
    fcm_standin: FcmStandin, fcm_sender: FcmSender
) -> None:
    first, second = make_device_token(), make_device_token()
    fcm_standin.register(first, second)
    await fcm_sender.send([push(first)])
    fcm_standin.revoke_access_tokens()

    [result] = await fcm_sender.send([push(second)])

    assert result.outcome is PushOutcome.DELIVERED
    assert [a.status_code for a in result.attempts] == [401, 200]
    assert fcm_standin.oauth.token_requests == 2


async def test_wrong_key_is_rejected(fcm_standin: FcmStandin, fcm_config: FcmConfig) -> None:
    other = FcmStandin(project_id="taskgo-test")
    # A key for the same project that the stand-in's token endpoint never issued.
    info = other.oauth.service_account_info(token_uri=fcm_standin.token_uri)
    sender = FcmSender(replace(fcm_config, service_account_info=info))
    token = make_device_token()
    fcm_standin.register(token)

    try:
        [result] = await sender.send([push(token)])
    finally:
        await sender.aclose()

    assert result.outcome is PushOutcome.FAILED
    assert [a.error_code for a in result.attempts] == ["ACCESS_TOKEN_UNAVAILABLE"]
    assert fcm_standin.send_requests == []


async def test_concurrency_is_bounded(fcm_standin: FcmStandin, fcm_config: FcmConfig) -> None:
    tokens = [make_device_token() for _ in range(40)]
    fcm_standin.register(*tokens)
    fcm_standin.response_delay_seconds = 0.02
    sender = FcmSender(replace(fcm_config, max_concurrency=4))

    started = time.perf_counter()
    try:
        results = await sender.send([push(token, key=token) for token in tokens])
    finally:
        await sender.aclose()

    assert all(result.outcome is PushOutcome.DELIVERED for result in results)
    assert fcm_standin.max_in_flight == 4
    # Forty 20 ms responses, four at a time, cannot finish sooner than ten rounds.
    assert time.perf_counter() - started >= 0.2


async def test_oversized_payload_sends_nothing(
    fcm_standin: FcmStandin, fcm_sender: FcmSender
) -> None:
    token = make_device_token()
    fcm_standin.register(token)

    [result] = await fcm_sender.send([push(token, body="x" * 5000)])

    assert result.outcome is PushOutcome.PAYLOAD_REJECTED
    assert result.attempts == []
    assert fcm_standin.send_requests == []


async def test_one_bad_token_spares_others(fcm_standin: FcmStandin, fcm_sender: FcmSender) -> None:
    good = [make_device_token() for _ in range(5)]
    gone = make_device_token()
    fcm_standin.register(*good)

    results = await asyncio.wait_for(
        fcm_sender.send([push(token, key=token) for token in [*good, gone]]), timeout=10
    )

    outcomes = {result.message.key: result.outcome for result in results}
    assert outcomes == {
        **{token: PushOutcome.DELIVERED for token in good},
        gone: PushOutcome.TOKEN_UNREGISTERED,
    }


async def test_streams_spread_over_connections(
    fcm_standin: FcmStandin, fcm_config: FcmConfig
) -> None:
    tokens = [make_device_token() for _ in range(60)]
    fcm_standin.register(*tokens)
    sender = FcmSender(replace(fcm_config, max_concurrency=30, connections=3))

    try:
        # Three at once open the three connections, so the timed batch finds them ready.
        await sender.send([push(token, key=token) for token in tokens[:3]])
        fcm_standin.send_requests.clear()
        fcm_standin.response_delay_seconds = 0.3
        results = await sender.send([push(token, key=token) for token in tokens])
        assert sender.http.connects == 3
    finally:
        await sender.aclose()

    assert all(result.outcome is PushOutcome.DELIVERED for result in results)
    ports = [record.client_port for record in fcm_standin.send_requests]
    # Thirty streams in flight, ten on each connection.
    assert len(set(ports)) == 3
    assert all(ports[:30].count(port) == 10 for port in set(ports))
    assert fcm_standin.max_in_flight == 30
    assert {record.http_version for record in fcm_standin.send_requests} == {"2"}


async def test_slow_response_times_out(fcm_standin: FcmStandin, fcm_config: FcmConfig) -> None:
    token = make_device_token()
    fcm_standin.register(token)
    fcm_standin.response_delay_seconds = 1.0
    sender = FcmSender(replace(fcm_config, timeout_seconds=0.2, max_attempts=1))

    try:
        [result] = await sender.send([push(token)])
    finally:
        await sender.aclose()

    assert result.outcome is PushOutcome.FAILED
    assert [(a.status_code, a.error_code) for a in result.attempts] == [(None, "TIMEOUT")]


async def test_unreachable_server_is_a_network_error(fcm_config: FcmConfig) -> None:
    sender = FcmSender(
        replace(fcm_config, base_url="https://127.0.0.1:9", max_attempts=2, timeout_seconds=2)
    )
    try:
        [result] = await sender.send([push(make_device_token())])
    finally:
        await sender.aclose()

    assert result.outcome is PushOutcome.FAILED
    assert [a.error_code for a in result.attempts] == ["NETWORK_ERROR", "NETWORK_ERROR"]


def lean_config(standin: FcmStandin) -> FcmConfig:
    """Sender settings for a stand-in that a test starts itself, with fast retries."""
    return FcmConfig(
        project_id=standin.project_id,
        service_account_info=standin.service_account_info(),
        base_url=standin.base_url,
        ca_file=standin.ca_file,
        retry_base_seconds=0.01,
        retry_max_seconds=0.05,
        timeout_seconds=5,
    )


def test_sends_on_uvloop(tmp_path: Path) -> None:
    """The worker may run on uvloop, whose transports are not asyncio.Transport objects."""

    async def scenario() -> list[PushOutcome]:
        standin = FcmStandin(project_id="taskgo-test", server="lean")
        await standin.start(tmp_path / "fcm")
        tokens = [make_device_token() for _ in range(3)]
        standin.register(*tokens)
        sender = FcmSender(lean_config(standin))
        try:
            results = await sender.send([push(token, key=token) for token in tokens])
        finally:
            await sender.aclose()
            await standin.stop()
        return [result.outcome for result in results]

    assert uvloop.run(scenario()) == [PushOutcome.DELIVERED] * 3


@pytest.mark.parametrize("goaway", [False, True])
async def test_reconnects_after_drop(tmp_path: Path, goaway: bool) -> None:
    standin = FcmStandin(project_id="taskgo-test", server="lean")
    await standin.start(tmp_path / "fcm")
    tokens = [make_device_token() for _ in range(6)]
    standin.register(*tokens)
    sender = FcmSender(replace(lean_config(standin), connections=1))
    try:
        [first] = await sender.send([push(tokens[0])])
        standin.drop_connections(goaway=goaway)
        await asyncio.sleep(0.1)
        later = await sender.send([push(token, key=token) for token in tokens[1:]])
    finally:
        await sender.aclose()
        await standin.stop()

    assert first.outcome is PushOutcome.DELIVERED
    assert [result.outcome for result in later] == [PushOutcome.DELIVERED] * 5
    assert sender.http.connects == 2


async def test_drop_mid_flight_is_retried(tmp_path: Path) -> None:
    """Requests in flight when the connection dies fail as network errors and are sent
    again on a new connection."""
    standin = FcmStandin(project_id="taskgo-test", server="lean")
    await standin.start(tmp_path / "fcm")
    tokens = [make_device_token() for _ in range(5)]
    standin.register(*tokens)
    sender = FcmSender(replace(lean_config(standin), connections=1))
    try:
        await sender.send([push(tokens[0])])
        standin.response_delay_seconds = 0.3
        sending = asyncio.create_task(sender.send([push(token, key=token) for token in tokens]))
        await asyncio.sleep(0.1)
        standin.response_delay_seconds = 0
        standin.drop_connections()
        results = await asyncio.wait_for(sending, timeout=10)
    finally:
        await sender.aclose()
        await standin.stop()

    assert [result.outcome for result in results] == [PushOutcome.DELIVERED] * 5
    for result in results:
        assert [a.error_code for a in result.attempts] == ["NETWORK_ERROR", None]


async def test_respects_server_stream_limit(tmp_path: Path) -> None:
    standin = FcmStandin(project_id="taskgo-test", server="lean", max_concurrent_streams=3)
    await standin.start(tmp_path / "fcm")
    tokens = [make_device_token() for _ in range(12)]
    standin.register(*tokens)
    standin.response_delay_seconds = 0.05
    sender = FcmSender(replace(lean_config(standin), connections=1, max_concurrency=20))
    try:
        results = await sender.send([push(token, key=token) for token in tokens])
    finally:
        await sender.aclose()
        await standin.stop()

    assert [result.outcome for result in results] == [PushOutcome.DELIVERED] * 12
    assert all(len(result.attempts) == 1 for result in results)
    assert standin.max_in_flight == 3
