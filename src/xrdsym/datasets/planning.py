"""Planning the shards of a build (a stable, streamed order) and the executors that compute them:
local processes that end with the build, or a Dask cluster."""

from __future__ import annotations

import concurrent.futures as cf
import ctypes
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from xrdsym.datasets.build_config import BuildConfig
from xrdsym.datasets.shard_work import ShardTask


def plan_tasks(config: BuildConfig) -> Iterator[ShardTask]:
    """All shard tasks of a build, in a stable order, streamed (CIF texts are read lazily)."""
    # deferred until called: imports gemmi
    from xrdsym.structures.reader import iter_cif_sources

    for source_index, source in enumerate(config.cif_sources):
        chunk: list[tuple[str, str]] = []
        chunk_index = 0
        for item in iter_cif_sources(source):
            chunk.append(item)
            if len(chunk) == config.shard_size:
                yield ShardTask(f"cif{source_index:02d}-{chunk_index:05d}", source, tuple(chunk))
                chunk, chunk_index = [], chunk_index + 1
        if chunk:
            yield ShardTask(f"cif{source_index:02d}-{chunk_index:05d}", source, tuple(chunk))
    requests = [g for g in config.space_groups for _ in range(config.generated_per_group)]
    seeds = np.random.SeedSequence(config.seed).spawn(max(1, len(requests)))
    for chunk_index, start in enumerate(range(0, len(requests), config.shard_size)):
        groups = tuple(requests[start : start + config.shard_size])
        seed = int(seeds[chunk_index].generate_state(1)[0])
        yield ShardTask(f"gen-{chunk_index:05d}", "generated", requested_groups=groups, seed=seed)


def count_tasks(config: BuildConfig) -> int:
    """Number of shard tasks :func:`plan_tasks` yields (the total of the progress bar)."""
    # deferred until called: imports gemmi
    from xrdsym.structures.reader import count_sources

    per_source = (count_sources(source) for source in config.cif_sources)
    cif_shards = sum(-(-n // config.shard_size) for n in per_source)
    requests = len(config.space_groups) * config.generated_per_group
    return cif_shards + -(-requests // config.shard_size)


#: prctl option that sends a signal to a process when its parent ends (Linux).
PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int) -> None:
    """Worker initializer: end this process with SIGTERM when its parent ends (Linux only).

    A build killed at any point (an OOM kill, ``kill -9``) then leaves no worker computing
    shards for nobody. Elsewhere this does nothing.
    """
    if not sys.platform.startswith("linux"):
        return

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) != 0:
        return  # not permitted here: the worker still works, it only outlives a killed parent
    if os.getppid() != parent_pid:  # the parent ended before the signal was armed
        os._exit(1)


@contextmanager
def make_executor(workers: int, scheduler: str | None) -> Iterator[cf.Executor]:
    """Local worker processes, or a Dask cluster's executor when a scheduler address is given.

    Local workers end with this process (:func:`die_with_parent`). The Dask client is closed on
    exit, before the caller's cluster may shut down.
    """
    if not scheduler:
        with cf.ProcessPoolExecutor(
            max_workers=max(1, workers), initializer=die_with_parent, initargs=(os.getpid(),)
        ) as executor:
            yield executor
        return
    # deferred until called: imports dask
    from distributed import Client

    with Client(scheduler) as client, client.get_executor() as executor:
        yield executor
