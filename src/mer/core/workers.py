"""Map a per-clip function over clips in worker processes, in order, with a progress bar.

Each clip is computed independently and single-threaded, so results do not depend on the
number of workers. Workers are spawned (not forked): forking a process whose OpenCV thread
pool is already running can hang the child.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from mer.interrupts import (
    ignore_ctrl_c_in_worker,
    stop_if_requested,
    workers_start_without_ctrl_c,
)

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

log = logging.getLogger(__name__)
Item = TypeVar("Item")
Result = TypeVar("Result")


def single_threaded() -> None:
    """Pin OpenCV to one thread: parallelism comes from processes, one per core."""
    import cv2

    cv2.setNumThreads(1)


def init_worker() -> None:
    """A worker of parallel_map or of another pool started in workers_start_without_ctrl_c:
    one OpenCV thread, and Ctrl-C (which reaches the whole process group) left to the parent,
    which stops the pool; a worker that died of it would leave its clip's result missing and
    the parent waiting for it."""
    ignore_ctrl_c_in_worker()
    single_threaded()


@contextmanager
def opencv_single_thread() -> Iterator[None]:
    """OpenCV on one thread inside the block, as it was after it.

    For work that is one task per core but runs OpenCV underneath (albumentations' warps in a
    CNN fit): OpenCV's own pool otherwise takes a second core. Measured on a 28 x 28 flow-image
    CNN fit alone on 2 cores: 9.8 s of CPU for 6.7 s of wall time with OpenCV's pool, 6.2 s for
    6.2 s without. A default `mer train` on 443 flow images (2 fold workers): 1638 s of CPU and
    846 s of wall time with it, 1543 s and 795 s without, and byte-identical predictions.
    """
    import cv2

    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(threads)


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity: a container's or `taskset`'s share)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def process_count(asked: int, tasks: int, key: str) -> int:
    """The worker processes to start for ``tasks`` tasks when the param ``key`` asks for
    ``asked``: no more than the tasks, nor than usable_cpus, with a warning naming ``key``
    when it asks for more CPUs than there are. The results never depend on it, and each
    process holds its own copy of the libraries and data (a break-it session:
    train.parallel_folds 100 on 2 CPUs started 28 processes and took 7 GB more memory, to
    run slower than 2)."""
    cpus = usable_cpus()
    count = max(1, min(asked, cpus, tasks))
    if asked > cpus:
        log.warning("%s asks for %d worker processes, and this machine gives mer %d CPUs: "
                    "starting %d (the results do not depend on it)", key, asked, cpus, count)
    return count


def parallel_map(function: Callable[[Item], Result], items: Sequence[Item], workers: int,
                 description: str, key: str) -> list[Result]:
    """[function(item) for item in items], over ``workers`` processes (fewer: process_count,
    ``key`` the param that asks for them); errors propagate."""
    from tqdm import tqdm

    workers = process_count(workers, len(items), key)
    bar = tqdm(total=len(items), desc=description, unit="clip", disable=None)
    results: list[Result] = []
    try:
        if workers == 1:
            single_threaded()
            for item in items:
                stop_if_requested()  # a Ctrl-C or SIGTERM Python dropped (mer.interrupts)
                results.append(function(item))
                bar.update()
            return results
        context = multiprocessing.get_context("spawn")
        with workers_start_without_ctrl_c():  # Pool starts its workers at once
            pool = context.Pool(workers, initializer=init_worker)
        with pool:
            for result in pool.imap(function, items, chunksize=1):
                stop_if_requested()
                results.append(result)
                bar.update()
        return results
    finally:
        bar.close()


def stop_workers(pool: ProcessPoolExecutor) -> None:
    """Cancel a spawned pool's queued tasks and kill its running ones: on an error, Ctrl-C or
    SIGTERM the parent must not wait minutes for results it will not use (a stopped command
    unwinds within cli.UNWIND_S, or exits without cleaning up). SIGKILL, since Lightning's
    SIGTERM handler in a fold worker only asks training to stop at the end of the epoch."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.kill()
    for child in workers_being_spawned({p.pid for p in processes}):
        child.kill()


def workers_being_spawned(known: set[int | None]) -> list[Any]:
    """Spawned children of this process the pool does not list yet: a worker is registered
    only once it has read its start-up data (the clips), which on a busy machine takes many
    seconds of imports; a signal in between would leave it running, and this process waiting
    for it at exit. Needs psutil (installed with dvc); without it, nothing."""
    try:
        import psutil

        children = psutil.Process().children()
    except Exception:
        return []
    spawned = []
    for child in children:
        try:
            command = " ".join(child.cmdline())
        except Exception:  # gone meanwhile
            continue
        if child.pid not in known and "spawn_main" in command:
            spawned.append(child)
    return spawned
