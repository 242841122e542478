"""The Socket.IO JSON codec: orjson, with a fallback for lone surrogates."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from socketio.packet import Packet

from taskgo.realtime.codec import FastPacket, OrjsonCodec


def test_lone_surrogate_replaced() -> None:
    packet = OrjsonCodec.loads('["send_message", {"body": "a\\ud800b", "\\udfff": 1}]')
    assert packet == ["send_message", {"body": "a\ufffdb", "\ufffd": 1}]


def test_valid_packet_unchanged() -> None:
    assert OrjsonCodec.loads(b'{"body": "ol\\u00e1"}') == {"body": "olá"}


def test_invalid_json_still_raises() -> None:
    with pytest.raises(ValueError):
        OrjsonCodec.loads("{not json")


def test_deep_nesting_raises_value_error() -> None:
    # Past orjson's 1,024 levels the standard library parses, and it would hit the recursion
    # limit.
    with pytest.raises(ValueError):
        OrjsonCodec.loads("[" * 100_000)


def test_dumps_exact_types() -> None:
    row_id = uuid.UUID("12345678-1234-5678-1234-567812345678")
    text = OrjsonCodec.dumps({"id": row_id, "amount": Decimal("95.00")})
    assert text == '{"id":"12345678-1234-5678-1234-567812345678","amount":"95.00"}'


@pytest.mark.parametrize(
    "data",
    [
        None,
        "texto",
        ["new_message", {"id": "x", "body": "oi", "n": 1, "ok": True, "none": None}],
        ["evento", {"nested": [{"deep": [1, 2, {"bin": b"\x00"}]}]}],
        [bytearray(b"abc")],
        b"raw",
        {"list": [], "dict": {}},
        ("tuple", b"not looked into"),
    ],
)
def test_fast_binary_check_agrees_with_python_socketio(data: object) -> None:
    assert FastPacket.data_is_binary(data) == Packet.data_is_binary(data)


def test_fast_packet_encodes_binary_as_attachments() -> None:
    packet = FastPacket(data=["file", {"chunk": b"\x01\x02"}])
    encoded = packet.encode()
    assert isinstance(encoded, list)
    assert encoded[0].startswith("51-")
    assert encoded[1] == b"\x01\x02"
