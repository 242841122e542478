"""orjson adapter in the shape python-socketio expects of a ``json`` module."""

import json
from decimal import Decimal
from typing import Any
from uuid import UUID

import orjson
import socketio.packet


def _default(value: Any) -> Any:
    # Decimal never reaches the wire as a float so amounts keep their exact digits.
    if isinstance(value, Decimal):
        return str(value)
    # orjson writes only exact uuid.UUID; asyncpg returns its own subclass from arrays.
    if isinstance(value, UUID):
        return str(value)
    raise TypeError(f"cannot serialize {type(value).__name__} in a Socket.IO packet")


class OrjsonCodec:
    """JSON codec for Engine.IO and Socket.IO packets and the Redis manager channel.

    python-socketio calls ``dumps(obj, separators=...)`` and ``loads(text)``; orjson has no
    whitespace to configure, so extra keyword arguments are ignored. UUIDs and datetimes are
    written natively (ISO 8601 with the UTC offset).
    """

    @staticmethod
    def dumps(obj: Any, **_: Any) -> str:
        return orjson.dumps(obj, default=_default).decode()

    @staticmethod
    def loads(data: str | bytes, **_: Any) -> Any:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            # orjson rejects lone UTF-16 surrogates ("\ud800"), which JavaScript clients can
            # send. Parse with the standard library instead and replace them with U+FFFD,
            # so the handler replies to the call rather than the packet being dropped.
            try:
                return _replace_lone_surrogates(json.loads(data))
            except RecursionError:
                # orjson rejects JSON nested deeper than 1,024 levels, and the standard
                # library's parser runs out of stack on it, which is not a ValueError.
                raise ValueError("JSON nested too deeply") from None


def _replace_lone_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(value, list):
        return [_replace_lone_surrogates(item) for item in value]
    if isinstance(value, dict):
        return {
            _replace_lone_surrogates(key): _replace_lone_surrogates(item)
            for key, item in value.items()
        }
    return value


_SCALARS = (str, int, float, bool, type(None))
_BINARY_PACKET_TYPES = (socketio.packet.BINARY_EVENT, socketio.packet.BINARY_ACK)
_CLIENT_PACKET_TYPES = (
    socketio.packet.CONNECT,
    socketio.packet.DISCONNECT,
    socketio.packet.EVENT,
    socketio.packet.ACK,
    *_BINARY_PACKET_TYPES,
)


class PacketDecodeError(ValueError):
    """A Socket.IO packet from a client whose framing or JSON does not parse."""


class FastPacket(socketio.packet.Packet):
    """Socket.IO packet whose binary check costs one pass over the payload.

    python-socketio looks for bytes in every packet it builds (events and acks) by
    recursing with ``functools.reduce`` over a list built at each level. This version walks
    the payload with an explicit stack and stops at the first bytes value. For a
    `new_message` event it took 1.0 µs against 3.8 µs (timeit, development machine).
    """

    @classmethod
    def data_is_binary(cls, data: Any) -> bool:
        pending = [data]
        while pending:
            item = pending.pop()
            if isinstance(item, _SCALARS):
                continue
            if isinstance(item, (bytes, bytearray)):
                return True
            if isinstance(item, dict):
                pending.extend(item.values())
            elif isinstance(item, list):
                pending.extend(item)
        return False

    def decode(self, encoded_packet: Any) -> int:
        """Decode a packet from a client and return its number of binary attachments.

        Raises PacketDecodeError for a packet python-socketio would fail on later with a
        traceback: bad framing or JSON, a type a client may not send (CONNECT_ERROR), or a
        binary packet without attachments, which would leave the session waiting for ever.
        """
        try:
            attachments = int(super().decode(encoded_packet))
        except ValueError as exc:
            raise PacketDecodeError(str(exc)) from exc
        if self.packet_type not in _CLIENT_PACKET_TYPES:
            raise PacketDecodeError(f"invalid packet type {self.packet_type!r} from a client")
        if self.packet_type in _BINARY_PACKET_TYPES and attachments < 1:
            raise PacketDecodeError("invalid binary packet: no attachment declared")
        return attachments

    @classmethod
    def reconstruct_binary(cls, data: Any, attachments: list[Any]) -> Any:
        try:
            return super().reconstruct_binary(data, attachments)
        except (IndexError, KeyError, TypeError) as exc:
            raise PacketDecodeError(
                f"invalid binary placeholder, no such attachment: {exc!r}"
            ) from exc
