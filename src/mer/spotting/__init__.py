"""Spotting: micro- and macro-expression intervals in long videos (signals, spotter, folds)."""

SCALES = ("micro", "macro")  # the interval kinds spotted, each at its own window
# The methods spotting reports and logs, each under its own name: the fitted spotter and the
# fixed-threshold baseline (never a bare "baseline": `dvc exp show` shows its columns beside
# the baseline commit's row, a break-it session).
SPOTTER = "spotter"
THRESHOLD_BASELINE = "threshold_baseline"
METHODS = (SPOTTER, THRESHOLD_BASELINE)
