"""The demo's generated values and its bookkeeping, checked without a server."""

from __future__ import annotations

import random

from taskgo.bank_accounts.documents import normalize_cpf
from taskgo.bank_accounts.exceptions import InvalidValue
from taskgo.demo import data
from taskgo.demo.context import Context, Recorder, ScenarioResult, route_key
from taskgo.tracking.codes import is_valid_tracking_code, s10_check_digit


def _is_valid_cpf(value: str) -> bool:
    try:
        normalize_cpf(value)
    except InvalidValue:
        return False
    return True


def test_cpf_check_digits_known_value() -> None:
    assert data.cpf_check_digits("529982247") == "25"
    assert data.cpf_check_digits("111444777") == "35"


def test_random_cpfs_pass_server_rules() -> None:
    rng = random.Random(7)
    for _ in range(500):
        cpf = data.random_cpf(rng)
        assert _is_valid_cpf(cpf), cpf
        assert _is_valid_cpf(data.format_cpf(cpf)), cpf
        assert data.mask_cpf(cpf) == f"***.{cpf[3:6]}.{cpf[6:9]}-**"


def test_tracking_codes_pass_server_rules() -> None:
    rng = random.Random(11)
    for _ in range(500):
        code = data.tracking_code(rng)
        assert is_valid_tracking_code(code), code
        assert not is_valid_tracking_code(data.with_wrong_check_digit(code)), code
        assert data.s10_check_digit(code[2:10]) == s10_check_digit(code[2:10])


def test_s10_remainder_rules() -> None:
    # Sums whose remainder mod 11 is 0 and 1 map to 5 and 0 under the S10 rule.
    serials = [f"{value:08d}" for value in range(0, 3000)]
    by_digit = {data.s10_check_digit(serial) for serial in serials}
    assert by_digit == set(range(10))
    for serial in serials:
        assert data.s10_check_digit(serial) == s10_check_digit(serial)


def test_route_key_ignores_parameter_names() -> None:
    assert route_key("POST", "/api/purchases/{purchase_id}/ship") == (
        "post",
        "/api/purchases/{}/ship",
    )
    assert route_key("get", "/api/products") == ("get", "/api/products")


def _context(routes: set[tuple[str, str]], lines: list[str]) -> Context:
    return Context(
        base_url="http://127.0.0.1:9",
        run_id="test",
        rng=random.Random(1),
        log=Recorder(lines.append, ScenarioResult()),
        routes=frozenset(route_key(method, path) for method, path in routes),
        console_available=True,
        analysis_wait_seconds=1.0,
    )


def test_missing_route_skips_flow() -> None:
    lines: list[str] = []
    ctx = _context({("post", "/api/purchases"), ("get", "/api/purchases/{id}")}, lines)

    assert ctx.available("flow 4", ("post", "/api/purchases"), ("get", "/api/purchases/{x}"))
    assert not ctx.available("flow 7", ("post", "/api/purchases/{purchase_id}/ship"))

    assert ctx.log.result.skipped == [
        "flow 7: not available: POST /api/purchases/{purchase_id}/ship missing on the server"
    ]
    assert lines == [
        "  skipped: flow 7 — not available: POST /api/purchases/{purchase_id}/ship "
        "missing on the server"
    ]


def test_missing_state_skips_flow() -> None:
    lines: list[str] = []
    ctx = _context(set(), lines)
    ctx.state["purchase_id"] = "abc"

    assert ctx.requires("flow 5", "purchase_id")
    assert not ctx.requires("flow 7", "purchase_id", "tracking_code")
    assert ctx.log.result.skipped == [
        "flow 7: not available: needs tracking_code from a flow that was skipped"
    ]


def test_recorder_keeps_and_prints_values() -> None:
    lines: list[str] = []
    result = ScenarioResult()
    recorder = Recorder(lines.append, result)
    long_reply = "Seu pedido está em trânsito. " * 8

    recorder.flow("8", "support")
    values = recorder.step(
        "flow8.reply", "the assistant replies", role="assistant", reply=long_reply
    )

    assert result["flow8.reply"] == {"role": "assistant", "reply": long_reply}
    assert values is result["flow8.reply"]
    assert lines[:4] == [
        "",
        "Flow 8 · support",
        "  ✓ the assistant replies",
        "      role=assistant",
    ]
    assert lines[4] == "      reply:"
    assert all(len(line) <= 8 + 96 for line in lines[5:])
    assert " ".join(line.strip() for line in lines[5:]) == long_reply.strip()
