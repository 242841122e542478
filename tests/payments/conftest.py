from tests.standins.stripe_fixtures import stripe_payments, stripe_standin

__all__ = ["stripe_payments", "stripe_standin"]
