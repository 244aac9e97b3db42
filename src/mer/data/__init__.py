"""Corpus adapters, the embedded synthetic dataset, and the clip manifest they all produce."""
