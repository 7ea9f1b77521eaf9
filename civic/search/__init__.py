"""Search over consultations, proposals and petitions that folds Arabic and French spelling variants."""
