"""Experiment tracking: every MLflow call of the project lives in this package."""
