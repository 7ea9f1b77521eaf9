"""Notifications by email through an outbox table: written inside the transaction, sent later, retried."""
