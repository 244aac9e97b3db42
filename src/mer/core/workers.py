"""Map a per-clip function over clips in worker processes, in order, with a progress bar.

Each clip is computed independently and single-threaded, so results do not depend on the
number of workers. Workers are spawned (not forked): forking a process whose OpenCV thread
pool is already running can hang the child.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


def single_threaded() -> None:
    """Pin OpenCV to one thread: parallelism comes from processes, one per core."""
    import cv2

    cv2.setNumThreads(1)


def parallel_map(function: Callable[[Item], Result], items: Sequence[Item], workers: int,
                 description: str) -> list[Result]:
    """[function(item) for item in items], over ``workers`` processes; errors propagate."""
    from tqdm import tqdm

    workers = max(1, min(workers, len(items)))
    bar = tqdm(total=len(items), desc=description, unit="clip", disable=None)
    results: list[Result] = []
    try:
        if workers == 1:
            single_threaded()
            for item in items:
                results.append(function(item))
                bar.update()
            return results
        context = multiprocessing.get_context("spawn")
        with context.Pool(workers, initializer=single_threaded) as pool:
            for result in pool.imap(function, items, chunksize=1):
                results.append(result)
                bar.update()
        return results
    finally:
        bar.close()

