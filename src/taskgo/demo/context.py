"""State shared by the demo flows: actors, sockets, what was observed, what was skipped."""

from __future__ import annotations

import random
import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from taskgo.demo.transport import Api, EventInbox

Output = Callable[[str], None]

_PATH_PARAMETER = re.compile(r"\{[^}]*\}")


def route_key(method: str, path: str) -> tuple[str, str]:
    """Return a route's key without parameter names: ("post", "/api/purchases/{}/ship")."""
    return method.lower(), _PATH_PARAMETER.sub("{}", path)


@dataclass(slots=True)
class Actor:
    key: str
    uid: str
    role: str
    name: str
    token: str
    user_id: str
    api: Api


@dataclass(slots=True)
class ScenarioResult:
    """Values the walk-through observed, by step key (`flow4.paid`), and the flows it skipped."""

    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def __getitem__(self, key: str) -> dict[str, Any]:
        return self.steps[key]


# Longer texts (an assistant's reply) get lines of their own below the short values.
_INLINE_MAX_CHARS = 90
_WRAP_WIDTH = 96


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.5f}".rstrip("0").rstrip(".")
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_show(item) for item in value) + "]"
    return str(value)


class Recorder:
    """Printer of each flow and step with its values, which keeps the values for the caller."""

    def __init__(self, output: Output, result: ScenarioResult) -> None:
        self._output = output
        self.result = result

    def flow(self, number: str, title: str) -> None:
        self._output("")
        self._output(f"Flow {number} · {title}")

    def step(self, key: str, text: str, **values: Any) -> dict[str, Any]:
        if key in self.result.steps:
            raise ValueError(f"step {key} recorded twice")
        self.result.steps[key] = values
        self._output(f"  ✓ {text}")
        rendered = {name: _show(value) for name, value in values.items() if value is not None}
        short_values = {
            name: text for name, text in rendered.items() if len(text) <= _INLINE_MAX_CHARS
        }
        inline = [f"{name}={text}" for name, text in short_values.items()]
        if inline:
            self._output("      " + "  ".join(inline))
        for name, text in rendered.items():
            if name not in short_values:
                self._output(f"      {name}:")
                for line in textwrap.wrap(text, _WRAP_WIDTH):
                    self._output(f"        {line}")
        return values

    def skip(self, flow: str, reason: str) -> None:
        self.result.skipped.append(f"{flow}: {reason}")
        self._output(f"  skipped: {flow} — {reason}")


@dataclass(slots=True)
class Context:
    base_url: str
    run_id: str
    rng: random.Random
    log: Recorder
    routes: frozenset[tuple[str, str]]
    console_available: bool
    # How long the admin waits for the worker's analysis of both submissions together.
    analysis_wait_seconds: float
    actors: dict[str, Actor] = field(default_factory=dict)
    sockets: dict[str, EventInbox] = field(default_factory=dict)
    # Values one flow leaves for the next ones.
    state: dict[str, Any] = field(default_factory=dict)

    def actor(self, key: str) -> Actor:
        return self.actors[key]

    def socket(self, key: str) -> EventInbox:
        return self.sockets[key]

    def missing(self, *routes: tuple[str, str]) -> list[str]:
        """Return the routes (method, path template) that the server does not publish."""
        return [
            f"{method.upper()} {path}"
            for method, path in routes
            if route_key(method, path) not in self.routes
        ]

    def available(self, flow: str, *routes: tuple[str, str]) -> bool:
        """Tell whether every route of `flow` exists, and record a skip naming any missing."""
        absent = self.missing(*routes)
        if absent:
            self.log.skip(flow, "not available: " + ", ".join(absent) + " missing on the server")
            return False
        return True

    def requires(self, flow: str, *state_keys: str) -> bool:
        """Tell whether earlier flows left the values `flow` builds on, and record a skip if not."""
        absent = [key for key in state_keys if key not in self.state]
        if absent:
            needed = ", ".join(absent)
            self.log.skip(flow, f"not available: needs {needed} from a flow that was skipped")
            return False
        return True


def short(identifier: str) -> str:
    """Return the first block of a UUID, enough to tell objects apart in the printout."""
    return identifier.split("-", 1)[0]
