"""Correios shipment tracking for purchases."""
