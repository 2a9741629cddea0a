"""The one process pool of every stage: ordered results, one start method, inline for one worker.

- ``START_METHOD`` is ``"spawn"`` everywhere: a forked child can inherit locks held by OpenCV's,
  Arrow's or torch's threads in the parent and hang; spawned workers start clean (and behave the
  same on Linux and macOS). Work items and results travel pickled.
- ``ordered_map(fn, items, workers=...)`` yields ``fn(item)`` in the order of ``items`` whatever
  ``workers`` is, so a stage that writes results in that order writes the same bytes for any
  worker count. ``workers <= 1`` (or a single item) runs inline in this process: no pool, the
  same code path, easy to debug; ``initializer(*initargs)`` then runs here once.
- ``progress``: a hook ``progress(iterable, desc=..., total=..., unit=...)`` wrapped around the
  results (``portraitkit.cli_common.progress`` is one).
- ``executor(workers, ...)``: a started pool to pass to several ``ordered_map`` calls (``pool=``),
  e.g. to keep worker start-up out of a benchmark's timing.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Callable, Iterable, Iterator, Sequence, TypeVar

T = TypeVar("T")
R = TypeVar("R")

START_METHOD = "spawn"


def executor(workers: int, initializer: Callable[..., Any] | None = None, initargs: tuple = ()) -> ProcessPoolExecutor:
    """A process pool of ``workers`` processes started with ``START_METHOD``."""
    return ProcessPoolExecutor(
        max_workers=max(1, int(workers)), mp_context=multiprocessing.get_context(START_METHOD),
        initializer=initializer, initargs=initargs,
    )


def ordered_map(
    fn: Callable[[T], R],
    items: Sequence[T] | Iterable[T],
    workers: int = 1,
    *,
    initializer: Callable[..., Any] | None = None,
    initargs: tuple = (),
    chunksize: int = 1,
    progress: Callable[..., Iterable[R]] | None = None,
    desc: str = "",
    unit: str = "it",
    pool: ProcessPoolExecutor | None = None,
) -> Iterator[R]:
    """``fn(item)`` for every item, in order; in ``workers`` spawned processes (inline for one).

    ``pool``: an already started :func:`executor` to use (its own initializer applies; it is not
    shut down here).
    """
    items = list(items)
    inline = pool is None and (int(workers) <= 1 or len(items) <= 1)

    def wrapped(results: Iterable[R]) -> Iterator[R]:
        if progress is not None:
            results = progress(results, desc=desc, total=len(items), unit=unit)
        yield from results

    if inline:
        if initializer is not None:
            initializer(*initargs)
        yield from wrapped(map(fn, items))
        return
    if pool is not None:
        yield from wrapped(pool.map(fn, items, chunksize=chunksize))
        return
    with executor(min(int(workers), len(items)), initializer, initargs) as own:
        try:
            yield from wrapped(own.map(fn, items, chunksize=chunksize))
        except BaseException:
            own.shutdown(wait=True, cancel_futures=True)
            raise
