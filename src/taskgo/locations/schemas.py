"""Bodies of the location routes."""

from __future__ import annotations

from datetime import datetime

from taskgo.geo.schemas import Accuracy, CityOut, Latitude, Longitude
from taskgo.schemas import ApiModel


class LocationUpdateIn(ApiModel):
    lat: Latitude
    lng: Longitude
    accuracy: Accuracy | None = None


class LocationUpdateOut(ApiModel):
    city: CityOut
    changed: bool


class LocationStayOut(ApiModel):
    city: CityOut
    entered_at: datetime
    exited_at: datetime | None
    is_current: bool
    last_seen_at: datetime
