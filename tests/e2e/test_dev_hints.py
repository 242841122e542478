"""The hints `taskgo dev` prints after seeding point at the port it listens on."""

from __future__ import annotations

import pytest

from taskgo.config import Settings
from taskgo.demo.seed import _print_accounts


def test_hints_use_listening_port(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    _print_accounts([], settings, base_url="http://127.0.0.1:8012")

    printed = capsys.readouterr().out
    assert "curl -X POST http://127.0.0.1:8012/api/auth/dev/token" in printed
    assert "taskgo demo --base-url http://127.0.0.1:8012" in printed
    assert ":8000" not in printed
