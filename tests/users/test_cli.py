"""The `taskgo users` commands, run as a user runs them: a separate process."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from sqlalchemy import select

from taskgo.admin.models import AuditLog
from taskgo.db.session import session_scope
from taskgo.users.models import User
from tests.conftest import MakeUser

TASKGO = Path(sys.executable).parent / "taskgo"


async def _run_taskgo(*arguments: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        str(TASKGO),
        *arguments,
        env=dict(os.environ),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode or 0, output.decode()


async def test_grant_admin_makes_admin(make_live_user: MakeUser) -> None:
    user = await make_live_user(name="Rita Operadora")

    code, output = await _run_taskgo("users", "grant-admin", user.firebase_uid)

    assert code == 0, output
    assert f"({user.firebase_uid}) is now an admin" in output
    async with session_scope() as session:
        role = await session.scalar(select(User.role).where(User.id == user.id))
        audit = await session.scalar(select(AuditLog).where(AuditLog.target_id == str(user.id)))
    assert role == "admin"
    assert audit is not None


async def test_grant_admin_unknown_user(make_live_user: MakeUser) -> None:
    code, output = await _run_taskgo("users", "grant-admin", "uid-nobody-here")

    assert code == 1
    assert "Traceback" not in output
