"""Consultations of the regional council and its consultative bodies: phases, documents, forum meetings."""
