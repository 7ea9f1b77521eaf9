"""Moderation: reports (flags) by users, the moderation queue, hiding and restoring, blocks and appeals."""
