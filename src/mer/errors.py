"""User-facing errors: the CLI prints these as one clear message instead of a traceback."""

from collections.abc import Iterator


class MerError(Exception):
    """A problem the user can fix: bad params, a broken dataset, a missing model.

    The message says what is wrong, where (file, row, key) and what to do.
    """


class ParamsError(MerError):
    """params.yaml is invalid."""


class DatasetError(MerError):
    """A dataset on disk or its annotation sheet is unusable."""


def exception_chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and the exceptions it was raised from or while handling (``__cause__``, else
    ``__context__``), each once, outermost first: where a library's own exception wraps the
    one that says what happened (MLflow's around requests', Ray's ConnectionError around its
    AuthenticationError)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__
