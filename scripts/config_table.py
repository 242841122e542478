"""Print the configuration table of README.md from the Settings class.

Run `uv run python scripts/config_table.py` after adding a setting and paste the output
into the README's configuration section (English descriptions are the field docs).
"""

from __future__ import annotations

from pydantic_core import PydanticUndefined

from taskgo.config import Settings


def main() -> None:
    print("| variable | default | meaning |")
    print("| --- | --- | --- |")
    for name, field in Settings.model_fields.items():
        default = field.default
        if default is PydanticUndefined or default is None:
            shown = "(unset)"
        elif default == "":
            shown = '""'
        else:
            shown = f"`{default}`"
        meaning = (field.description or "").replace("\n", " ").replace("|", "\\|")
        print(f"| `{name.upper()}` | {shown} | {meaning} |")


if __name__ == "__main__":
    main()
