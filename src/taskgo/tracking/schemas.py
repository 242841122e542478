"""Request and response bodies of the tracking routes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from taskgo.i18n import translate
from taskgo.schemas import ApiModel
from taskgo.tracking.models import TrackingEvent
from taskgo.tracking.service import Timeline
from taskgo.tracking.statuses import TrackingStatus

# Shipment statuses besides the event statuses: no code yet, or no carrier event yet.
TimelineStatus = Literal[
    "not_shipped",
    "pending",
    "posted",
    "in_transit",
    "out_for_delivery",
    "awaiting_pickup",
    "delivery_failed",
    "delivered",
    "returning",
    "returned",
    "exception",
]


class TrackingEventOut(ApiModel):
    status: TrackingStatus
    status_label: str
    description: str
    location: str | None
    occurred_at: datetime
    source: Literal["correios", "manual"]

    @classmethod
    def of(cls, event: TrackingEvent) -> TrackingEventOut:
        return cls(
            status=TrackingStatus(event.status),
            status_label=translate(f"tracking.status.{event.status}"),
            description=event.description,
            location=event.location,
            occurred_at=event.occurred_at,
            source="manual" if event.source == "manual" else "correios",
        )


class TrackingOut(ApiModel):
    """Tracking code, current status and the timeline, oldest event first."""

    tracking_code: str | None
    status: TimelineStatus
    events: list[TrackingEventOut]

    @classmethod
    def of(cls, timeline: Timeline) -> TrackingOut:
        return cls(
            tracking_code=timeline.tracking_code,
            status=timeline.status,  # type: ignore[arg-type]
            events=[TrackingEventOut.of(event) for event in timeline.events],
        )


class ManualEventIn(ApiModel):
    status: TrackingStatus
    description: str | None = Field(
        default=None,
        max_length=500,
        description="Shown in the timeline; defaults to the status name in Portuguese.",
    )
    location: str | None = Field(default=None, max_length=200, description="City - UF.")
    occurred_at: datetime | None = Field(
        default=None, description="When it happened (ISO 8601 with offset); defaults to now."
    )
