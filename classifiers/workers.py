"""Worker processes a classifier starts on first use, each loading its model once."""

from __future__ import annotations

import multiprocessing
import weakref
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any


class LazyWorkerPool:
    """A spawned process pool started by the first `map`: a run whose batches are all small, or all
    cached, never pays the workers' start-up. Stopped by `close`, or when the pool is collected."""

    def __init__(self, workers: int, initializer: Callable[..., None], initargs: tuple[Any, ...]) -> None:
        self.workers = workers
        self._initializer = initializer
        self._initargs = initargs
        self._executor: ProcessPoolExecutor | None = None

    @property
    def started(self) -> bool:
        return self._executor is not None

    def map(self, function: Callable[[Any], Any], tasks: Iterable[Any]) -> Iterator[Any]:
        """`function` over `tasks` in the workers, results in task order."""
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),  # forking a threaded process is unsafe
                initializer=self._initializer,
                initargs=self._initargs,
            )
            weakref.finalize(self, self._executor.shutdown)
        return self._executor.map(function, tasks)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown()
            self._executor = None
