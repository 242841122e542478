"""Request and response bodies of the service order and category routes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from taskgo.geo.schemas import Latitude, Longitude
from taskgo.money import MoneyOut, Price
from taskgo.schemas import MULTILINE_TEXT, ApiModel
from taskgo.users.schemas import CityOut

Slug = Annotated[str, Field(min_length=2, max_length=50, pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")]
Description = Annotated[str, Field(min_length=10, max_length=2000), MULTILINE_TEXT]

# A partner choosing more kinds of work than this is almost certainly not curating them.
MAX_PARTNER_CATEGORIES = 10

OrderRole = Literal["client", "partner", "assigned"]


class CategoryOut(ApiModel):
    slug: str
    name: str


class PartnerCategoriesIn(ApiModel):
    categories: Annotated[list[Slug], Field(max_length=MAX_PARTNER_CATEGORIES)]


class ServiceOrderCreateIn(ApiModel):
    category: Slug
    description: Description
    lat: Latitude
    lng: Longitude
    # What the client expects to pay, shown to partners; the price is agreed later.
    budget: Price | None = None


class ServiceOrderCancelIn(ApiModel):
    reason: Annotated[str, Field(max_length=500), MULTILINE_TEXT] | None = None


class ServiceOrderOut(ApiModel):
    id: uuid.UUID
    status: str
    category: str
    category_name: str
    description: str
    budget: MoneyOut | None
    city: CityOut | None
    # Exact for the client and the assigned partner; rounded to about 1 km for others.
    lat: float
    lng: float
    client_id: uuid.UUID
    partner_id: uuid.UUID | None
    notified_partners: int
    created_at: datetime
    updated_at: datetime
    expires_at: datetime
    accepted_at: datetime | None
    started_at: datetime | None
    completed_at: datetime | None
    cancelled_at: datetime | None
    expired_at: datetime | None
    cancel_reason: str | None


class ServiceOrderPage(ApiModel):
    items: list[ServiceOrderOut]
    next_cursor: str | None
