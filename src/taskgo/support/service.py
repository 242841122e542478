"""Support conversations: create, list, read, and send a message to the assistant.

A turn stores the user's message (cut and redacted), runs the assistant, stores its reply
with the tokens it cost, and flags the conversation for the admin when the model failed or
the user asked for a person. Everything happens in the caller's transaction.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.config import Settings, get_settings
from taskgo.errors import AppError
from taskgo.i18n import translate
from taskgo.pagination import apply_keyset, page_of
from taskgo.support import limits
from taskgo.support.assistant import DeltaSink, run_turn
from taskgo.support.history import cut_pasted_text
from taskgo.support.knowledge import fold
from taskgo.support.lookups import DomainOrderLookup
from taskgo.support.models import FlagReason, MessageRole, SupportConversation, SupportMessage
from taskgo.support.prompts import system_prompt
from taskgo.support.provider import ChatMessage, Usage
from taskgo.support.providers import get_provider
from taskgo.support.redaction import redact, redact_text
from taskgo.support.tools import SupportTools
from taskgo.users.models import User

log = structlog.get_logger(__name__)

# Older messages than this are never sent to the model, whatever the token budget.
HISTORY_MESSAGES = 40
_AGENT_PREFIX = "[Atendente do TaskGo] "
_KEPT_CONTROLS = frozenset("\n\t\u200d")
_HUMAN_REQUEST = re.compile(
    r"""^\s*(atendente|humano|atendimento\s+humano|human|agent)\s*[.!?]*\s*$
    |\b(falar|conversar|quero|preciso|chamar?|passa|transferir?)\b[^.?!]{0,30}
      \b(atendente|humano|uma\s+pessoa|pessoa\s+de\s+verdade|alguem\s+da\s+equipe)\b
    |\batendente\s+humano\b
    |\b(talk|speak)\s+to\s+(an?\s+|a\s+real\s+)?(agent|human|person)\b
    |\bhuman\s+agent\b""",
    re.VERBOSE,
)


@dataclass(slots=True)
class TurnResult:
    conversation: SupportConversation
    user_message: SupportMessage
    reply: SupportMessage
    notice: str | None = None
    replayed: bool = False


def _now() -> datetime:
    return datetime.now(UTC)


def wants_human(content: str) -> bool:
    return _HUMAN_REQUEST.search(fold(content)) is not None


async def create_conversation(session: AsyncSession, *, user: User) -> SupportConversation:
    conversation = SupportConversation(user_id=user.id)
    session.add(conversation)
    await session.flush()
    log.info("support.conversation.created", conversation_id=str(conversation.id))
    return conversation


async def get_own_conversation(
    session: AsyncSession, *, conversation_id: uuid.UUID, user_id: uuid.UUID
) -> SupportConversation:
    """Return the user's conversation; someone else's gets the same 404 as a missing one."""
    conversation = await session.get(SupportConversation, conversation_id)
    if conversation is None or conversation.user_id != user_id:
        raise AppError("support.conversation_not_found", status=404)
    return conversation


async def list_conversations(
    session: AsyncSession, *, user_id: uuid.UUID, cursor: str | None, limit: int
) -> tuple[list[SupportConversation], str | None]:
    query = apply_keyset(
        select(SupportConversation).where(SupportConversation.user_id == user_id),
        created_at=SupportConversation.created_at,
        row_id=SupportConversation.id,
        cursor=cursor,
        limit=limit,
    )
    rows = list(await session.scalars(query))
    return page_of(rows, limit=limit, key=lambda row: (row.created_at, row.id))


async def list_messages(
    session: AsyncSession, *, conversation: SupportConversation, cursor: str | None, limit: int
) -> tuple[list[SupportMessage], str | None]:
    """Return one page of messages, newest first."""
    query = apply_keyset(
        select(SupportMessage).where(SupportMessage.conversation_id == conversation.id),
        created_at=SupportMessage.created_at,
        row_id=SupportMessage.id,
        cursor=cursor,
        limit=limit,
    )
    rows = list(await session.scalars(query))
    return page_of(rows, limit=limit, key=lambda row: (row.created_at, row.id))


def _drop_invisible(content: str) -> str:
    """Remove zero-width spaces, BOM, bidi marks and terminal escapes from `content`.

    The zero-width joiner stays because emoji sequences need it.
    """
    return "".join(
        char
        for char in content
        if char in _KEPT_CONTROLS or unicodedata.category(char) not in ("Cc", "Cf")
    )


def validate_content(content: str, *, settings: Settings) -> str:
    if "\x00" in content:
        # PostgreSQL cannot store NUL in text. HTTP bodies are checked by the middleware,
        # but Socket.IO messages reach this point unchecked.
        raise AppError("support.message_null_character", field="content")
    stripped = _drop_invisible(content).strip()
    if not stripped:
        raise AppError("support.message_empty", field="content")
    if len(stripped) > settings.support_max_request_chars:
        raise AppError(
            "support.message_too_long",
            field="content",
            length=len(stripped),
            limit=settings.support_max_request_chars,
        )
    return stripped


def flag_conversation(
    conversation: SupportConversation, *, reason: FlagReason, detail: str | None, now: datetime
) -> None:
    if not conversation.needs_human:
        conversation.flagged_at = now
    conversation.needs_human = True
    conversation.flag_reason = reason.value
    conversation.flag_detail = detail
    log.warning(
        "support.conversation.flagged",
        conversation_id=str(conversation.id),
        reason=reason.value,
        detail=detail,
    )


async def _replay(
    session: AsyncSession, *, conversation: SupportConversation, client_message_id: str
) -> TurnResult | None:
    question = await session.scalar(
        select(SupportMessage).where(
            SupportMessage.conversation_id == conversation.id,
            SupportMessage.client_message_id == client_message_id,
        )
    )
    if question is None:
        return None
    reply = await session.scalar(
        select(SupportMessage)
        .where(
            SupportMessage.conversation_id == conversation.id,
            SupportMessage.role == MessageRole.ASSISTANT,
            SupportMessage.created_at >= question.created_at,
        )
        .order_by(SupportMessage.created_at, SupportMessage.id)
        .limit(1)
    )
    if reply is None:
        return None
    return TurnResult(conversation=conversation, user_message=question, reply=reply, replayed=True)


async def _history(
    session: AsyncSession, *, conversation: SupportConversation
) -> list[ChatMessage]:
    rows = list(
        await session.scalars(
            select(SupportMessage)
            .where(SupportMessage.conversation_id == conversation.id)
            .order_by(SupportMessage.created_at.desc(), SupportMessage.id.desc())
            .limit(HISTORY_MESSAGES)
        )
    )
    history: list[ChatMessage] = []
    for row in reversed(rows):
        if row.role == MessageRole.USER:
            history.append(ChatMessage(role="user", content=row.content))
        elif row.role == MessageRole.AGENT:
            history.append(ChatMessage(role="assistant", content=_AGENT_PREFIX + row.content))
        else:
            history.append(ChatMessage(role="assistant", content=row.content))
    return history


async def send_message(
    session: AsyncSession,
    *,
    user: User,
    conversation_id: uuid.UUID,
    content: str,
    locale: str,
    client_message_id: str | None = None,
    on_delta: DeltaSink | None = None,
) -> TurnResult:
    """Store the user's message, get the assistant's reply and store it too.

    NOTE: the caller's transaction (and its pooled connection) stays open during the model
    call, up to OPENAI_TIMEOUT_SECONDS times OPENAI_MAX_ATTEMPTS plus tool rounds, so
    concurrent support turns count against the database pool size.
    """
    settings = get_settings()
    text = validate_content(content, settings=settings)
    conversation = await get_own_conversation(
        session, conversation_id=conversation_id, user_id=user.id
    )
    await limits.lock_user_turn(session, user_id=user.id)

    if client_message_id is not None:
        replayed = await _replay(
            session, conversation=conversation, client_message_id=client_message_id
        )
        if replayed is not None:
            return replayed

    now = _now()
    await limits.check_rate_limit(session, user_id=user.id, settings=settings, now=now)
    await limits.check_daily_budget(session, user_id=user.id, settings=settings, now=now)

    history = await _history(session, conversation=conversation)
    # Redacted before the cut: a cut through a CPF would leave its first digits unredacted.
    redacted = redact(text)
    cut, was_cut = cut_pasted_text(
        redacted.text, max_chars=settings.support_max_message_chars, locale=locale
    )
    user_message = SupportMessage(
        conversation_id=conversation.id,
        user_id=user.id,
        role=MessageRole.USER,
        content=cut,
        truncated=was_cut,
        redactions=redacted.counts,
        client_message_id=client_message_id,
        created_at=now,
    )
    session.add(user_message)
    await session.flush()
    log_context = {"conversation_id": str(conversation.id), "user_id": str(user.id)}
    if redacted.redacted:
        log.info("support.message.redacted", kinds=sorted(redacted.counts), **log_context)

    if wants_human(text):
        reply = _reply_message(
            conversation,
            content=translate("support.human_requested", locale),
            usage=Usage(),
            provider=None,
            model=None,
        )
        flag_conversation(conversation, reason=FlagReason.HUMAN_REQUESTED, detail=None, now=now)
        if on_delta is not None:
            await on_delta(reply.content)
    else:
        reply = await _assistant_reply(
            session,
            user=user,
            conversation=conversation,
            history=history,
            latest=ChatMessage(role="user", content=cut),
            locale=locale,
            settings=settings,
            on_delta=on_delta,
            log_context=log_context,
        )

    session.add(reply)
    conversation.last_message_at = reply.created_at
    await session.flush()
    notice = (
        translate("support.message_cut", locale, limit=settings.support_max_message_chars)
        if was_cut
        else None
    )
    return TurnResult(
        conversation=conversation, user_message=user_message, reply=reply, notice=notice
    )


def _reply_message(
    conversation: SupportConversation,
    *,
    content: str,
    usage: Usage,
    provider: str | None,
    model: str | None,
    tools_called: list[str] | None = None,
    error_kind: str | None = None,
) -> SupportMessage:
    return SupportMessage(
        conversation_id=conversation.id,
        user_id=conversation.user_id,
        role=MessageRole.ASSISTANT,
        content=content,
        provider=provider,
        model=model,
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        tools_called=tools_called or [],
        error_kind=error_kind,
        redactions={},
        created_at=_now(),
    )


async def _assistant_reply(
    session: AsyncSession,
    *,
    user: User,
    conversation: SupportConversation,
    history: list[ChatMessage],
    latest: ChatMessage,
    locale: str,
    settings: Settings,
    on_delta: DeltaSink | None,
    log_context: dict[str, str],
) -> SupportMessage:
    provider = await get_provider(settings, locale=locale)
    tools = SupportTools(
        user_id=user.id, lookup=DomainOrderLookup(session, user=user, locale=locale)
    )
    system = ChatMessage(
        role="system",
        content=system_prompt(
            user_name=redact_text(user.name or ""), role=user.role, locale=locale
        ),
    )
    outcome = await run_turn(
        provider=provider,
        tools=tools,
        system=system,
        history=history,
        latest=latest,
        budget=settings.support_context_token_budget,
        max_rounds=settings.support_max_tool_rounds,
        locale=locale,
        on_delta=on_delta,
        log_context=log_context,
    )
    if outcome.error is not None:
        flag_conversation(
            conversation,
            reason=FlagReason.PROVIDER_FAILURE,
            detail=outcome.error.value,
            now=_now(),
        )
    log.info(
        "support.turn.completed",
        provider=outcome.provider,
        prompt_tokens=outcome.usage.prompt_tokens,
        completion_tokens=outcome.usage.completion_tokens,
        tools=outcome.tools_called,
        failed=outcome.error is not None,
        **log_context,
    )
    return _reply_message(
        conversation,
        content=outcome.content,
        usage=outcome.usage,
        provider=outcome.provider,
        model=outcome.model,
        tools_called=outcome.tools_called,
        error_kind=outcome.error.value if outcome.error else None,
    )
