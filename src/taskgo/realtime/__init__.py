"""Realtime events over Socket.IO.

Domains send events with ``emit_after_commit`` (inside a request or job transaction) or
``emit_now`` (after their own commit). Rooms are ``user:<uuid>`` for every socket of a user
and ``conversation:<uuid>`` for a chat.
"""

from uuid import UUID

from taskgo.realtime.emitter import emit_after_commit, emit_now


def user_room(user_id: UUID | str) -> str:
    return f"user:{user_id}"


def conversation_room(conversation_id: UUID | str) -> str:
    return f"conversation:{conversation_id}"


__all__ = ["conversation_room", "emit_after_commit", "emit_now", "user_room"]
