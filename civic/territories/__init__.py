"""Territories: the region, its provinces and communes (shared/domain.md §1)."""
