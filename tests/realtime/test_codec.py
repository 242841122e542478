"""The Socket.IO JSON codec: orjson, with a fallback for lone surrogates."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from taskgo.realtime.codec import OrjsonCodec


def test_lone_surrogate_replaced() -> None:
    packet = OrjsonCodec.loads('["send_message", {"body": "a\\ud800b", "\\udfff": 1}]')
    assert packet == ["send_message", {"body": "a\ufffdb", "\ufffd": 1}]


def test_valid_packet_unchanged() -> None:
    assert OrjsonCodec.loads(b'{"body": "ol\\u00e1"}') == {"body": "olá"}


def test_invalid_json_still_raises() -> None:
    with pytest.raises(ValueError):
        OrjsonCodec.loads("{not json")


def test_dumps_exact_types() -> None:
    row_id = uuid.UUID("12345678-1234-5678-1234-567812345678")
    text = OrjsonCodec.dumps({"id": row_id, "amount": Decimal("95.00")})
    assert text == '{"id":"12345678-1234-5678-1234-567812345678","amount":"95.00"}'
