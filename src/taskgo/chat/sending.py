"""Sending messages: validation, the batched write, the `new_message` event and pushes.

The HTTP route sends one message in its request transaction (``write_messages``). The
Socket.IO path goes through ``taskgo.chat.writer``, which stores the messages of many
sockets with one autocommitted statement (``write_direct``).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.chat.notify import offline_recipients, push_new_message, queue_push
from taskgo.chat.ratelimit import (
    rate_limited,
    refund_message_token,
    take_control_tokens,
    take_message_tokens,
)
from taskgo.chat.service import conversation_not_found, event_rooms
from taskgo.chat.store import (
    Draft,
    MessageKey,
    StoredMessage,
    StoreResult,
    driver_connection,
    previous_on,
    store_on,
)
from taskgo.chat.validation import check_client_message_id, normalize_body
from taskgo.db.session import session_scope
from taskgo.errors import AppError
from taskgo.realtime import emit_after_commit
from taskgo.realtime.emitter import emit_batch_now
from taskgo.realtime.server import Emit

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class SentMessage:
    message: StoredMessage
    # False when the message already existed under the same clientMessageId (a resend).
    created: bool
    # False when the send took no message token: a resend found after the sender's message
    # bucket ran out, which paid with a control token instead.
    charged: bool = True


@dataclass(frozen=True)
class Outgoing:
    draft: Draft
    # The sending socket, which gets the ack instead of the `new_message` event.
    origin_sid: str | None = None


@dataclass(frozen=True)
class Announcement:
    """A stored message with what its event and push need."""

    message: StoredMessage
    members: list[uuid.UUID]
    origin_sid: str | None

    @property
    def recipients(self) -> list[uuid.UUID]:
        return [uid for uid in self.members if uid != self.message.sender_id]


def message_payload(message: StoredMessage) -> dict[str, Any]:
    """Serialize a message as the API and the `new_message` event show it."""
    return {
        "id": message.id,
        "conversationId": message.conversation_id,
        "senderId": message.sender_id,
        "body": message.body,
        "clientMessageId": message.client_message_id,
        "createdAt": message.created_at,
    }


def prepare_draft(
    *, conversation_id: uuid.UUID, sender_id: uuid.UUID, body: object, client_message_id: object
) -> Draft:
    """Validate a message and give it its id; raise AppError naming the bad field."""
    return Draft(
        message_id=uuid.uuid4(),
        conversation_id=conversation_id,
        sender_id=sender_id,
        body=normalize_body(body),
        client_message_id=check_client_message_id(client_message_id),
    )


async def _store(
    connection: Any, drafts: list[Draft]
) -> tuple[list[StoreResult], dict[MessageKey, StoredMessage]]:
    results = await store_on(connection, drafts)
    unsent = [result.draft for result in results if result.created_at is None]
    return results, await previous_on(connection, unsent)


def _outcomes(
    outgoing: list[Outgoing],
    results: list[StoreResult],
    previous: dict[MessageKey, StoredMessage] | None,
) -> tuple[list[SentMessage | AppError], list[Announcement]]:
    """Turn store results into one outcome per draft and the messages to announce.

    Idempotent by clientMessageId per sender. A resend with the same body gets the stored
    message and announces nothing. A resend with another body gets a 409 error. A sender
    who is not a participant gets the 404 that hides the conversation. ``previous`` is None
    when the stored messages could not be read: the drafts not stored then get a 503.
    """
    outcomes: list[SentMessage | AppError] = []
    announcements: list[Announcement] = []
    # The hot path skips building the log event when INFO is off: structlog runs its
    # processors (time stamp included) before the standard library drops the record.
    log_sent = log.isEnabledFor(logging.INFO)
    for item, result in zip(outgoing, results, strict=True):
        draft = result.draft
        if result.created_at is None:
            if previous is None:
                outcomes.append(AppError("chat.unavailable", status=503))
            else:
                outcomes.append(_resend(previous.get(draft.key), body=draft.body))
            continue

        # A plain record rather than an ORM instance: nothing here is loaded or flushed
        # through a session, and instrumented instances cost several times more to build.
        message = StoredMessage(
            id=draft.message_id,
            conversation_id=draft.conversation_id,
            sender_id=draft.sender_id,
            body=draft.body,
            client_message_id=draft.client_message_id,
            created_at=result.created_at,
        )
        announcements.append(
            Announcement(message=message, members=result.members, origin_sid=item.origin_sid)
        )
        outcomes.append(SentMessage(message=message, created=True))
        if log_sent:
            log.info(
                "chat.message_sent",
                conversation_id=str(draft.conversation_id),
                message_id=str(draft.message_id),
                sender_id=str(draft.sender_id),
            )
    return outcomes, announcements


def _resend(stored: StoredMessage | None, *, body: str) -> SentMessage | AppError:
    if stored is None:
        return conversation_not_found()
    if stored.body != body:
        return AppError("chat.client_message_id_reused", status=409, field="clientMessageId")
    return SentMessage(message=stored, created=False)


async def write_messages(
    session: AsyncSession, outgoing: list[Outgoing]
) -> list[SentMessage | AppError]:
    """Store the drafts in ``session``'s transaction and queue their events and pushes.

    Returns one outcome per draft: the sent message, or the error for that draft alone.
    """
    connection = await driver_connection(session)
    results, previous = await _store(connection, [item.draft for item in outgoing])
    outcomes, announcements = _outcomes(outgoing, results, previous)

    for announcement in announcements:
        message = announcement.message
        emit_after_commit(
            session,
            "new_message",
            message_payload(message),
            room=event_rooms(message.conversation_id, announcement.members),
            skip_sid=announcement.origin_sid,
        )
        await push_new_message(session, message=message, recipients=announcement.recipients)
    return outcomes


async def write_direct(
    connection: Any, outgoing: list[Outgoing]
) -> tuple[list[SentMessage | AppError], list[Announcement]]:
    """Store the drafts with one statement that commits on its own, then send their events.

    ``connection`` is an asyncpg connection outside any transaction. Returns the outcomes
    and the stored messages, whose pushes the caller queues with ``queue_pushes`` once the
    senders have their acks.
    """
    results = await store_on(connection, [item.draft for item in outgoing])
    unsent = [result.draft for result in results if result.created_at is None]
    previous: dict[MessageKey, StoredMessage] | None
    try:
        previous = await previous_on(connection, unsent)
    except Exception as exc:
        # The new messages committed with the statement above, so they are still announced.
        # Only the drafts it did not store fail, and their senders send them again.
        log.warning("chat.previous_lookup_failed", drafts=len(unsent), error=repr(exc))
        previous = None
    outcomes, announcements = _outcomes(outgoing, results, previous)

    await emit_batch_now(
        [
            Emit(
                event="new_message",
                data=message_payload(item.message),
                room=event_rooms(item.message.conversation_id, item.members),
                skip_sid=item.origin_sid,
            )
            for item in announcements
        ]
    )
    return outcomes, announcements


async def outcomes_over_rate(
    connection: Any | None, limited: list[tuple[Draft, int]]
) -> list[SentMessage | AppError]:
    """Return the outcome of each draft whose sender had no message token left.

    ``limited`` pairs each draft with the milliseconds until its sender gets a token.

    A client back from a lost connection resends every message it has no ack for, often
    more than its burst. A resend of a stored message gets that message, as it would
    within the rate, and pays with a control token. Anything else, and a resend when the
    control bucket is empty too, gets ``chat.rate_limited`` (429), as does every draft
    when there is no ``connection`` to look them up on.
    """
    previous: dict[MessageKey, StoredMessage] = {}
    if connection is not None:
        control_waits = await take_control_tokens([draft.sender_id for draft, _ in limited])
        lookup = [
            draft for (draft, _), wait_ms in zip(limited, control_waits, strict=True) if not wait_ms
        ]
        try:
            previous = await previous_on(connection, lookup)
        except Exception as exc:
            # The resends then get the 429 error, and their senders send them again later.
            log.warning("chat.previous_lookup_failed", drafts=len(lookup), error=repr(exc))
    outcomes: list[SentMessage | AppError] = []
    for draft, wait_ms in limited:
        stored = previous.get(draft.key)
        if stored is None:
            outcomes.append(rate_limited(wait_ms))
            continue
        outcome = _resend(stored, body=draft.body)
        if isinstance(outcome, SentMessage):
            outcome = SentMessage(message=outcome.message, created=False, charged=False)
        outcomes.append(outcome)
    return outcomes


async def queue_pushes(announcements: list[Announcement]) -> None:
    """Queue pushes for the recipients of ``announcements`` that have no connected socket.

    NOTE: this runs in its own transaction after the messages committed, so a crash in
    between loses those pushes (never the messages, which clients fetch from the history).
    """
    # One presence lookup for the whole batch: with Redis it is one round trip, not one per
    # message.
    recipients = list(dict.fromkeys(uid for item in announcements for uid in item.recipients))
    offline = set(await offline_recipients(recipients))
    pending = []
    for announcement in announcements:
        absent = [uid for uid in announcement.recipients if uid in offline]
        if absent:
            pending.append((announcement.message, absent))
    if not pending:
        return

    async with session_scope() as session:
        for message, recipients in pending:
            await queue_push(session, message=message, recipients=recipients)


async def send_message(
    session: AsyncSession,
    *,
    conversation_id: uuid.UUID,
    sender_id: uuid.UUID,
    body: object,
    client_message_id: object,
    origin_sid: str | None = None,
) -> SentMessage:
    """Validate, rate-limit and store one message in ``session``'s transaction.

    Raises AppError on failure. A resend of a stored message gets its message token back
    (``refund_message_token``). ``outcomes_over_rate`` decides the outcome of a message
    past the message rate.
    """
    # Validated before the rate limit, so a rejected message costs no token.
    draft = prepare_draft(
        conversation_id=conversation_id,
        sender_id=sender_id,
        body=body,
        client_message_id=client_message_id,
    )
    (wait_ms,) = await take_message_tokens([sender_id])
    outcome: SentMessage | AppError
    if wait_ms:
        (outcome,) = await outcomes_over_rate(await driver_connection(session), [(draft, wait_ms)])
    else:
        (outcome,) = await write_messages(session, [Outgoing(draft=draft, origin_sid=origin_sid)])
    if isinstance(outcome, AppError):
        raise outcome
    if not outcome.created and outcome.charged:
        await refund_message_token(sender_id)
    return outcome
