"""Classifiers trained inside a LOSO fold: the flow CNN, RBF SVMs, the hybrid, and baselines."""
