"""Escrow purchases: orders, stock reservation, shipping, delivery and release."""
