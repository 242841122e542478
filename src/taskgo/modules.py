"""Import a domain module only when its package and module exist."""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType


def optional_module(name: str) -> ModuleType | None:
    try:
        if importlib.util.find_spec(name) is None:
            return None
    except ModuleNotFoundError:  # the parent package does not exist
        return None
    return importlib.import_module(name)
