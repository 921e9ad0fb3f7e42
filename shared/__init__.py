"""Plumbing shared by the creditflow workers: settings, logging, broker and database factories,
idempotency helpers and the embedded local stack. No business rules live here."""
