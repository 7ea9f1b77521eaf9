"""Civic: a participatory-democracy platform for Moroccan regional councils."""

__version__ = "0.1.0"
