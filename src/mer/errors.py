"""User-facing errors: the CLI prints these as one clear message instead of a traceback."""


class MerError(Exception):
    """A problem the user can fix: bad params, a broken dataset, a missing model.

    The message says what is wrong, where (file, row, key) and what to do.
    """


class ParamsError(MerError):
    """params.yaml is invalid."""


class DatasetError(MerError):
    """A dataset on disk or its annotation sheet is unusable."""
