"""Connection lifecycle: token check at connect, the user's room, and token expiry."""

import asyncio
import time
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import jwt
import socketio
import structlog

from taskgo.realtime import presence
from taskgo.realtime.locale import locale_from_environ, translate_code
from taskgo.realtime.settings import realtime_settings

log = structlog.get_logger(__name__)


@dataclass
class _Expiry:
    expires_at: float
    warning: asyncio.TimerHandle | None
    deadline: asyncio.TimerHandle


# Expiry timers of this process's sockets, by sid. Timers hold no reference to the socket
# itself, so a disconnect only has to cancel them.
_expiries: dict[str, _Expiry] = {}
_expiry_tasks: set[asyncio.Task[None]] = set()


class AuthFailure(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


async def authenticate(token: object) -> tuple[Any, float | None]:
    """Verify ``token`` like the HTTP API does; return the user and the token's expiry time.

    Raises AuthFailure with a stable code when the token is missing, invalid or expired.
    """
    if not isinstance(token, str) or not token.strip():
        raise AuthFailure("auth.missing_token")

    from taskgo.auth.service import verify_token
    from taskgo.errors import AppError

    try:
        user = await verify_token(token)
    except AppError as exc:
        raise AuthFailure(exc.code) from exc

    return user, _token_expiry(token)


def _token_expiry(token: str) -> float | None:
    # The signature was checked by verify_token just before; only the `exp` claim is read.
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    exp = claims.get("exp")
    return float(exp) if isinstance(exp, int | float) else None


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

        if expires_at is not None and expires_at <= time.time():
            raise socketio.exceptions.ConnectionRefusedError(
                translate_code("auth.token_expired", locale), {"code": "auth.token_expired"}
            )

        # Nothing below can reject the connection, so a refusal above leaves no session, room
        # membership, presence entry or timer behind.
        user_id: UUID = user.id
        await sio.save_session(sid, {"user_id": user_id, "locale": locale})
        await sio.enter_room(sid, f"user:{user_id}")
        await presence.add(sid=sid, user_id=user_id)
        if expires_at is not None:
            _schedule_expiry(sio, sid=sid, expires_at=expires_at)
        log.info("realtime.connected", sid=sid, user_id=str(user_id))

    async def disconnect(sid: str, reason: object = None) -> None:
        _cancel_expiry(sid)
        await presence.remove(sid=sid)
        log.info("realtime.disconnected", sid=sid, reason=str(reason))

    async def reauthenticate(sid: str, data: object = None) -> dict[str, Any]:
        session = await sio.get_session(sid)
        try:
            user, expires_at = await authenticate(_token_from(data))
        except AuthFailure as failure:
            return {"error": {"code": failure.code,
                              "message": translate_code(failure.code, session["locale"])}}

        if user.id != session["user_id"]:
            code = "realtime.user_mismatch"
            return {"error": {"code": code, "message": translate_code(code, session["locale"])}}

        _cancel_expiry(sid)
        if expires_at is not None:
            _schedule_expiry(sio, sid=sid, expires_at=expires_at)
        log.info("realtime.reauthenticated", sid=sid, user_id=str(user.id))
        return {"ok": True, "expiresAt": _iso(expires_at)}

    sio.on("connect", connect)
    sio.on("disconnect", disconnect)
    sio.on("reauthenticate", reauthenticate)


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


def _spawn(coro: Any) -> None:
    task = asyncio.get_running_loop().create_task(coro)
    _expiry_tasks.add(task)
    task.add_done_callback(_expiry_tasks.discard)


def _schedule_expiry(sio: socketio.AsyncServer, *, sid: str, expires_at: float) -> None:
    loop = asyncio.get_running_loop()
    now = time.time()
    warn_at = expires_at - realtime_settings().token_expiry_warning_seconds

    warning = None
    if warn_at > now:
        warning = loop.call_later(
            warn_at - now, lambda: _spawn(_warn(sio, sid=sid, expires_at=expires_at))
        )
    deadline = loop.call_later(
        max(expires_at - now, 0.0), lambda: _spawn(_expire(sio, sid=sid))
    )
    _expiries[sid] = _Expiry(expires_at=expires_at, warning=warning, deadline=deadline)


def _cancel_expiry(sid: str) -> None:
    expiry = _expiries.pop(sid, None)
    if expiry is None:
        return
    if expiry.warning is not None:
        expiry.warning.cancel()
    expiry.deadline.cancel()


async def _warn(sio: socketio.AsyncServer, *, sid: str, expires_at: float) -> None:
    await sio.emit(
        "session_expiring", {"expiresAt": _iso(expires_at)}, to=sid, ignore_queue=True
    )


async def _expire(sio: socketio.AsyncServer, *, sid: str) -> None:
    if sid not in _expiries:
        return
    _expiries.pop(sid, None)

    log.info("realtime.session_expired", sid=sid)
    await sio.emit(
        "session_expired", {"code": "auth.token_expired"}, to=sid, ignore_queue=True
    )
    # Local disconnect: the timer runs in the process that holds the socket.
    await sio.disconnect(sid, ignore_queue=True)
