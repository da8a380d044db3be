"""One ordered process pool for independent per-item work (the lattice searches of a batch).

:func:`ordered_map` is the single place where ``xrdsym index``, ``xrdsym classify`` and the
research evaluation spread their searches over processes: results come back in the order of
the items, and at most ``ahead`` x workers items wait in the pool beyond the one the caller
waits for, so a long stream (items rendered on the fly) holds a bounded number in memory.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

#: Items submitted per worker beyond the one waited for.
AHEAD = 3


def ordered_map(
    function: Callable[[Item], Result],
    items: Iterable[Item],
    workers: int,
    ahead: int = AHEAD,
) -> Iterator[tuple[Item, Result]]:
    """Each item with ``function(item)``, in the order of ``items``.

    Args:
        function: a module-level function (worker processes import it by name).
        items: the work, consumed lazily.
        workers: processes; 1 or fewer runs everything in this process.
        ahead: items submitted per worker beyond the one waited for.
    """
    if workers <= 1:
        for item in items:
            yield item, function(item)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        pending: deque[tuple[Item, Future[Result]]] = deque()
        for item in items:
            pending.append((item, pool.submit(function, item)))
            if len(pending) >= ahead * workers:
                done, future = pending.popleft()
                yield done, future.result()
        while pending:
            done, future = pending.popleft()
            yield done, future.result()
