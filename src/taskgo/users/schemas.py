"""Bodies of the `/api/me` routes."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import Field

from taskgo.schemas import ApiModel


class CityOut(ApiModel):
    id: int
    name: str
    uf: str


class MeOut(ApiModel):
    id: uuid.UUID
    role: str
    name: str
    email: str | None = None
    phone: str | None = None
    locale: str
    current_city: CityOut | None
    verification_status: str


class MeUpdateIn(ApiModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    locale: Literal["pt_BR", "en"] | None = None
