"""Connection lifecycle: token check at connect, the user's room, and token expiry."""

import asyncio
import time
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import socketio
import structlog

from taskgo.auth.service import authenticate_with_expiry
from taskgo.errors import AppError
from taskgo.realtime import presence
from taskgo.realtime.locale import error_ack, locale_from_environ, translate_code
from taskgo.realtime.settings import realtime_settings

log = structlog.get_logger(__name__)

# Event names echoed in an error ack and in logs are cut to this length.
MAX_EVENT_NAME_CHARS = 100


@dataclass
class _Expiry:
    expires_at: float
    warning: asyncio.TimerHandle
    deadline: asyncio.TimerHandle


# Expiry timers of this process's sockets, by sid. Timers hold no reference to the socket
# itself, so a disconnect only has to cancel them.
_expiries: dict[str, _Expiry] = {}
_expiry_tasks: set[asyncio.Task[None]] = set()


class AuthFailure(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


async def authenticate(token: object) -> tuple[Any, float]:
    """Verify ``token`` like the HTTP API does; return the user and its expiry (Unix time).

    Raises AuthFailure with a stable code when the token is missing, invalid or expired.
    """
    if not isinstance(token, str) or not token.strip():
        raise AuthFailure("auth.missing_token")

    try:
        user, verified = await authenticate_with_expiry(token.strip())
    except AppError as exc:
        raise AuthFailure(exc.code) from exc

    return user, float(verified.expires_at)


def _token_from(auth: object) -> object:
    if isinstance(auth, dict):
        return auth.get("token")
    return None


def register(sio: socketio.AsyncServer) -> None:
    async def connect(sid: str, environ: dict[str, Any], auth: object = None) -> None:
        locale = locale_from_environ(environ, auth)
        try:
            user, expires_at = await authenticate(_token_from(auth))
        except AuthFailure as failure:
            log.info("realtime.connect_rejected", sid=sid, code=failure.code)
            # Two arguments make python-socketio send `{message, data}`, which stock clients
            # surface as the error's message and its `data` ({code}).
            raise socketio.exceptions.ConnectionRefusedError(
                translate_code(failure.code, locale), {"code": failure.code}
            ) from failure

        if expires_at <= time.time():
            raise socketio.exceptions.ConnectionRefusedError(
                translate_code("auth.token_expired", locale), {"code": "auth.token_expired"}
            )

        # Nothing below can reject the connection, so a refusal above leaves no session, room
        # membership, presence entry or timer behind.
        user_id: UUID = user.id
        await sio.save_session(sid, {"user_id": user_id, "locale": locale})
        await sio.enter_room(sid, f"user:{user_id}")
        await presence.add(sid=sid, user_id=user_id)
        _schedule_expiry(sio, sid=sid, expires_at=expires_at)
        log.info("realtime.connected", sid=sid, user_id=str(user_id))

    async def disconnect(sid: str, reason: object = None) -> None:
        _cancel_expiry(sid)
        await presence.remove(sid=sid)
        log.info("realtime.disconnected", sid=sid, reason=str(reason))

    # Arguments after the payload are ignored, so a call with more of them is still acked.
    async def reauthenticate(sid: str, data: object = None, *_extra: object) -> dict[str, Any]:
        session = await sio.get_session(sid)
        try:
            user, expires_at = await authenticate(_token_from(data))
        except AuthFailure as failure:
            return error_ack(failure.code, session["locale"])

        if user.id != session["user_id"]:
            return error_ack("realtime.user_mismatch", session["locale"])

        _cancel_expiry(sid)
        _schedule_expiry(sio, sid=sid, expires_at=expires_at)
        log.info("realtime.reauthenticated", sid=sid, user_id=str(user.id))
        return {"ok": True, "expiresAt": _iso(expires_at)}

    async def unknown_event(event: str, sid: str, *_arguments: object) -> dict[str, Any]:
        # Without this, a call of an event with no handler would wait for its timeout.
        session = await sio.get_session(sid)
        name = str(event)[:MAX_EVENT_NAME_CHARS]
        log.info("realtime.unknown_event", sid=sid, event_name=name)
        return error_ack("realtime.unknown_event", session["locale"], event=name)

    sio.on("connect", connect)
    sio.on("disconnect", disconnect)
    sio.on("reauthenticate", reauthenticate)
    sio.on("*", unknown_event)


def _iso(timestamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


def _spawn(coro: Any) -> None:
    task = asyncio.get_running_loop().create_task(coro)
    _expiry_tasks.add(task)
    task.add_done_callback(_expiry_tasks.discard)


def _schedule_expiry(sio: socketio.AsyncServer, *, sid: str, expires_at: float) -> None:
    loop = asyncio.get_running_loop()
    now = time.time()
    # A token that is already inside the warning window gets its warning right away.
    warn_in = max(expires_at - realtime_settings().token_expiry_warning_seconds - now, 0.0)

    warning = loop.call_later(warn_in, lambda: _spawn(_warn(sio, sid=sid, expires_at=expires_at)))
    deadline = loop.call_later(max(expires_at - now, 0.0), lambda: _spawn(_expire(sio, sid=sid)))
    _expiries[sid] = _Expiry(expires_at=expires_at, warning=warning, deadline=deadline)


def _cancel_expiry(sid: str) -> None:
    expiry = _expiries.pop(sid, None)
    if expiry is None:
        return
    expiry.warning.cancel()
    expiry.deadline.cancel()


async def _warn(sio: socketio.AsyncServer, *, sid: str, expires_at: float) -> None:
    await sio.emit("session_expiring", {"expiresAt": _iso(expires_at)}, to=sid, ignore_queue=True)


async def _expire(sio: socketio.AsyncServer, *, sid: str) -> None:
    if _expiries.pop(sid, None) is None:
        return

    try:
        locale = (await sio.get_session(sid)).get("locale", "pt_BR")
    except KeyError:
        return  # disconnected meanwhile
    log.info("realtime.session_expired", sid=sid)
    await sio.emit(
        "session_expired",
        {
            "code": "auth.token_expired",
            "message": translate_code("realtime.session_expired", locale),
        },
        to=sid,
        ignore_queue=True,
    )
    # Local disconnect, because the timer runs in the process that owns the socket.
    await sio.disconnect(sid, ignore_queue=True)
