"""Spotting: micro- and macro-expression intervals in long videos (signals, spotter, folds)."""
