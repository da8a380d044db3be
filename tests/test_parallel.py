"""The ordered process pool of the batch searches."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest

from xrdsym.parallel import ordered_map


@pytest.mark.parametrize("workers", [1, 2])
def test_results_come_back_with_their_items_in_order(workers: int) -> None:
    items = [9.0, 1.0, 16.0, 4.0, 25.0, 0.0, 36.0]
    assert list(ordered_map(math.sqrt, items, workers, ahead=1)) == [
        (x, math.sqrt(x)) for x in items
    ]


def test_items_are_consumed_lazily() -> None:
    """A stream is read as results are taken: nothing past the look-ahead is drawn."""
    drawn: list[int] = []

    def stream() -> Iterator[float]:
        for i in range(100):
            drawn.append(i)
            yield float(i)

    results = ordered_map(math.sqrt, stream(), workers=2, ahead=2)
    first = next(results)
    assert first == (0.0, 0.0)
    assert len(drawn) == 4  # 2 workers x 2 ahead submitted before the first was taken
    results.close()
