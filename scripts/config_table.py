"""Write the configuration tables of README.md and README.pt-BR.md from the settings classes.

Run `uv run python scripts/config_table.py` after adding or changing a setting. The table
goes between the `config-table:start` and `config-table:end` markers of both READMEs;
descriptions are the fields' `description` texts.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import SecretStr
from pydantic_core import PydanticUndefined
from pydantic_settings import BaseSettings

from taskgo.config import Settings
from taskgo.realtime.settings import RealtimeSettings
from taskgo.tracking.settings import TrackingSettings

SETTINGS_CLASSES: list[type[BaseSettings]] = [Settings, RealtimeSettings, TrackingSettings]
READMES = [Path("README.md"), Path("README.pt-BR.md")]
MARKERS = re.compile(r"(<!-- config-table:start -->\n).*?(<!-- config-table:end -->)", re.S)


def _shown(default: object) -> str:
    if default is PydanticUndefined or default is None:
        return "(unset)"
    if isinstance(default, SecretStr):
        return '""' if not default.get_secret_value() else "(secret)"
    if default == "":
        return '""'
    return f"`{default}`"


def table() -> str:
    lines = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for settings_class in SETTINGS_CLASSES:
        for name, field in settings_class.model_fields.items():
            meaning = (field.description or "").replace("\n", " ").replace("|", "\\|")
            lines.append(f"| `{name.upper()}` | {_shown(field.default)} | {meaning} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    rendered = table()
    for readme in READMES:
        text = readme.read_text()
        updated, count = MARKERS.subn(
            lambda match: match.group(1) + rendered + match.group(2), text
        )
        if count != 1:
            raise SystemExit(f"{readme}: config-table markers not found")
        readme.write_text(updated)
        print(f"{readme}: {len(rendered.splitlines()) - 2} settings")


if __name__ == "__main__":
    main()
