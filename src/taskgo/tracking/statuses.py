"""Normalized shipment statuses shared by the Correios provider and the manual provider."""

from __future__ import annotations

from enum import StrEnum


class TrackingStatus(StrEnum):
    """Carrier-neutral status of one tracking event and of the shipment as a whole."""

    POSTED = "posted"
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    AWAITING_PICKUP = "awaiting_pickup"
    DELIVERY_FAILED = "delivery_failed"
    DELIVERED = "delivered"
    RETURNING = "returning"
    RETURNED = "returned"
    EXCEPTION = "exception"


# Events that deserve a push notification besides the realtime timeline update.
MAJOR_STATUSES: frozenset[TrackingStatus] = frozenset(
    {
        TrackingStatus.POSTED,
        TrackingStatus.OUT_FOR_DELIVERY,
        TrackingStatus.AWAITING_PICKUP,
        TrackingStatus.DELIVERY_FAILED,
        TrackingStatus.DELIVERED,
        TrackingStatus.RETURNING,
        TrackingStatus.RETURNED,
        TrackingStatus.EXCEPTION,
    }
)

# Statuses after which the carrier has nothing more to report, so polling stops.
FINAL_STATUSES: frozenset[TrackingStatus] = frozenset(
    {TrackingStatus.DELIVERED, TrackingStatus.RETURNED}
)
