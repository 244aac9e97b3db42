"""mer: reproducible micro-expression recognition under leave-one-subject-out evaluation."""

__version__ = "0.1.0"
