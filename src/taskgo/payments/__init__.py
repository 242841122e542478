"""Payments: the provider interface, Stripe and local providers, ledger and webhooks."""
