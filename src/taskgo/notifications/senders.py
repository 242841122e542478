"""Choose and hold the process's push sender (`PUSH_PROVIDER=fcm|log`)."""

from __future__ import annotations

from typing import Any

import orjson
import structlog

from taskgo.config import Settings, get_settings
from taskgo.notifications.client import FcmConfig, FcmSender
from taskgo.notifications.log_sender import LogSender
from taskgo.notifications.push import PushSender

log = structlog.get_logger(__name__)


class PushConfigurationError(RuntimeError):
    pass


class _Current:
    sender: PushSender | None = None


_current = _Current()


def _service_account_info(settings: Settings) -> dict[str, Any]:
    if settings.fcm_service_account_json:
        raw = settings.fcm_service_account_json.encode()
    elif settings.fcm_service_account_file:
        try:
            raw = settings.fcm_service_account_file.read_bytes()
        except OSError as error:
            raise PushConfigurationError(
                f"cannot read FCM_SERVICE_ACCOUNT_FILE {settings.fcm_service_account_file}: "
                f"{error.strerror}"
            ) from None
    else:
        raise PushConfigurationError(
            "PUSH_PROVIDER=fcm needs FCM_SERVICE_ACCOUNT_FILE or FCM_SERVICE_ACCOUNT_JSON"
        )
    try:
        info = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise PushConfigurationError("the FCM service account key is not valid JSON") from None
    missing = [name for name in ("client_email", "private_key", "token_uri") if not info.get(name)]
    if missing:
        raise PushConfigurationError(
            f"the FCM service account key lacks {', '.join(missing)}; download a new key "
            "from the Firebase console"
        )
    return dict(info)


def fcm_config_from(settings: Settings) -> FcmConfig:
    info = _service_account_info(settings)
    project_id = settings.fcm_project_id or info.get("project_id")
    if not project_id:
        raise PushConfigurationError("set FCM_PROJECT_ID; the service account key has none")
    return FcmConfig(
        project_id=str(project_id),
        service_account_info=info,
        base_url=settings.fcm_base_url,
        token_uri=settings.fcm_token_uri,
        ca_file=str(settings.fcm_ca_file) if settings.fcm_ca_file else None,
        max_concurrency=settings.fcm_max_concurrency,
        connections=settings.fcm_connections,
        max_attempts=settings.fcm_max_attempts,
        retry_base_seconds=settings.fcm_retry_base_seconds,
        retry_max_seconds=settings.fcm_retry_max_seconds,
        max_inline_wait_seconds=settings.fcm_max_inline_wait_seconds,
        timeout_seconds=settings.fcm_timeout_seconds,
    )


def build_push_sender(settings: Settings) -> PushSender:
    if settings.push_provider == "fcm":
        config = fcm_config_from(settings)
        log.info("push.sender_configured", provider="fcm", project_id=config.project_id)
        return FcmSender(config)
    log.info("push.sender_configured", provider="log")
    return LogSender()


def get_push_sender() -> PushSender:
    """Return the sender of this process, built from the settings on first use."""
    if _current.sender is None:
        _current.sender = build_push_sender(get_settings())
    return _current.sender


def use_push_sender(sender: PushSender | None) -> PushSender | None:
    """Install `sender` (None rebuilds from the settings on next use); return the old one.

    The caller owns the old sender and closes it.
    """
    previous = _current.sender
    _current.sender = sender
    return previous


async def close_push_sender() -> None:
    sender = use_push_sender(None)
    if sender is not None:
        await sender.aclose()
