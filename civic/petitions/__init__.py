"""Petitions to the regional council under Organic Law 111-14 (shared/domain.md §2)."""
