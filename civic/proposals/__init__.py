"""Citizen proposals in a consultation: supports, comments, official answers and follow-up."""
