"""Brazilian municipalities: shipped data, the nearest-seat index and coordinate types."""
