"""Build a peak-list dataset from CIF sources and generated crystals, in parallel shards.

The work is cut into shards of ``shard_size`` structures. Each shard is computed by a worker
(local processes by default, or a Dask cluster given its scheduler address) and written
atomically; a shard is finished work once the shard index lists it with its checksums, so an
interrupted build run again with the same settings and inputs computes only the missing (or
damaged) shards and gives the same dataset. Tasks are submitted through a bounded window, so
memory stays bounded whatever the corpus size. One build at a time writes to a folder (a lock
file), and local worker processes end with the build process however it ends (Linux).
"""

from __future__ import annotations

import concurrent.futures as cf
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from xrdsym.atomic import atomic_write_json
from xrdsym.datasets.build_config import (
    MAX_GENERATED_PER_GROUP,
    MAX_SHARD_SIZE,
    STORED_TWO_THETA_RANGE,
    BuildConfig,
    check_build_config,
    is_int,
)
from xrdsym.datasets.planning import (
    PR_SET_PDEATHSIG,
    count_tasks,
    die_with_parent,
    make_executor,
    plan_tasks,
)
from xrdsym.datasets.resume import (
    BUILD_LIBRARIES,
    RESUME_KEYS,
    adopt_unindexed_shard,
    check_resumable,
    input_digest,
    library_versions,
    prepare_folder,
    read_manifest,
)
from xrdsym.datasets.shard_work import (
    ShardResult,
    ShardTask,
    build_shard,
    dedupe_key,
    iter_task_crystals,
    niggli_cell,
    rows_to_shard,
    structure_row,
)
from xrdsym.datasets.shards import (
    FORMAT_VERSION,
    MANIFEST_NAME,
    REPORT_NAME,
    SHARD_DIR,
    SPLITS_NAME,
    atomic_write_npz,
    folder_lock,
    read_shard_index,
    read_shards,
    write_shard_index,
)
from xrdsym.datasets.splits import make_splits
from xrdsym.errors import DatasetError

__all__ = [
    "BUILD_LIBRARIES",
    "MAX_GENERATED_PER_GROUP",
    "MAX_SHARD_SIZE",
    "PR_SET_PDEATHSIG",
    "RESUME_KEYS",
    "STORED_TWO_THETA_RANGE",
    "BuildConfig",
    "ShardResult",
    "ShardTask",
    "adopt_unindexed_shard",
    "build_dataset",
    "build_shard",
    "check_build_config",
    "check_resumable",
    "count_tasks",
    "dedupe_key",
    "die_with_parent",
    "finalize_dataset",
    "input_digest",
    "iter_task_crystals",
    "library_versions",
    "make_executor",
    "niggli_cell",
    "plan_tasks",
    "prepare_folder",
    "read_manifest",
    "record_finished",
    "rows_to_shard",
    "run_shards",
    "structure_row",
]


def build_dataset(
    output: str | Path,
    config: BuildConfig,
    workers: int = 2,
    scheduler: str | None = None,
    progress: bool = True,
    on_shard: Callable[[ShardResult], None] | None = None,
) -> dict[str, Any]:
    """Build (or resume) a dataset in ``output`` and finalise it; returns the report.

    The folder is locked for the whole build. On a resume the settings, the content of the
    inputs and the library versions must match the earlier build; temporary files are
    deleted, and damaged shards are named in the report (``rebuilt_shards``) and computed
    again. ``on_shard`` is called after each newly finished shard (used to test interruption).

    Raises:
        DatasetError: another build holds the folder, the settings or inputs differ from the
            earlier build's, ``workers`` < 1, or a shard cannot be read at the end.
    """
    if not is_int(workers) or workers < 1:
        raise DatasetError(f"workers must be an integer >= 1, got {workers!r}")
    root = Path(output)
    if root.exists() and not root.is_dir():
        raise DatasetError(f"{root}: exists and is not a folder; a dataset is written to a folder")
    inputs = {source: input_digest(source) for source in config.cif_sources}
    with folder_lock(root):
        check_resumable(root, config, inputs)
        index, damaged, legacy = prepare_folder(root)
        manifest = {
            "format_version": FORMAT_VERSION,
            "config": asdict(config),
            "input_sha256": inputs,
            "wavelength": config.wavelength,
            "library_versions": library_versions(),
        }
        atomic_write_json(root / MANIFEST_NAME, manifest, sort_keys=True)
        (root / SPLITS_NAME).unlink(missing_ok=True)
        planned = run_shards(root, config, index, legacy, workers, scheduler, progress, on_shard)
        write_shard_index(root, {name: index[name] for name in planned})
        return finalize_dataset(root, config.seed, rebuilt=sorted(damaged))


def run_shards(
    root: Path,
    config: BuildConfig,
    index: dict[str, dict[str, str]],
    legacy: bool,
    workers: int,
    scheduler: str | None,
    progress: bool,
    on_shard: Callable[[ShardResult], None] | None,
) -> list[str]:
    """Compute every planned shard that ``index`` does not list, adding each to the index
    (written after every batch of finished shards); returns the planned shard names."""
    shard_dir = root / SHARD_DIR
    window = max(2, 2 * workers)
    total = count_tasks(config) if progress else None
    bar = tqdm(total=total, desc="shards", unit="shard", disable=not progress)
    done_structures = 0
    planned: list[str] = []
    with make_executor(workers, scheduler) as executor:
        pending: set[cf.Future[ShardResult]] = set()

        def collect(futures: set[cf.Future[ShardResult]]) -> None:
            nonlocal done_structures
            results = [f.result() for f in futures if f.exception() is None]
            for result in results:
                index[result.name] = result.checksums
            write_shard_index(root, index)  # shards that finished count even if one failed
            for future in futures:
                future.result()  # raises the first failure
            for result in sorted(results, key=lambda r: r.name):
                done_structures += result.accepted
                bar.update(1)
                bar.set_postfix(structures=done_structures)
                if on_shard is not None:
                    on_shard(result)

        try:
            for task in plan_tasks(config):
                planned.append(task.name)
                if task.name not in index and legacy:
                    adopted = adopt_unindexed_shard(shard_dir, task.name)
                    if adopted is not None:
                        index[task.name] = adopted
                if task.name in index:
                    bar.update(1)
                    continue
                pending.add(executor.submit(build_shard, task, config, shard_dir))
                if len(pending) >= window:
                    finished, pending = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
                    collect(finished)
            finished, pending = cf.wait(pending)
            collect(finished)
        except BaseException:
            record_finished(root, index, pending)
            raise
        finally:
            bar.close()
    return planned


def record_finished(
    root: Path, index: dict[str, dict[str, str]], futures: set[cf.Future[ShardResult]]
) -> None:
    """On the way out of a stopped build: wait for the shards in flight and index those that
    finished, so that a resume does not compute them again."""
    cf.wait(futures)
    for future in futures:
        if not future.cancelled() and future.exception() is None:
            result = future.result()
            index[result.name] = result.checksums
    write_shard_index(root, index)


def finalize_dataset(root: Path, seed: int, rebuilt: list[str] | None = None) -> dict[str, Any]:
    """Mark duplicates, record both splits, and write the report of counts and skips.

    The shards are those of the shard index, each checked against its checksum; ``rebuilt``
    names the damaged shards a resume computed again (kept in the report).

    Raises:
        DatasetError: naming every indexed shard that is missing, damaged or unreadable.
    """
    data = read_shards(root)
    splits = make_splits(data.structure_type, data.dedupe_key, data.cell, seed)
    rejected: list[dict[str, str]] = []
    for name in sorted(read_shard_index(root) or {}):
        rejected.extend(json.loads((root / SHARD_DIR / f"{name}.rejects.json").read_text()))
    report = {
        "structures": int(len(data)),
        "duplicates": int(np.sum(splits["random"] < 0)),
        "rejected": len(rejected),
        "rejected_reasons": dict(
            Counter(r["reason"].split(":")[-1].strip()[:80] for r in rejected).most_common(20)
        ),
        "rejected_items": rejected,
        "rebuilt_shards": list(rebuilt or []),
    }
    atomic_write_npz(root / SPLITS_NAME, splits, compressed=False)
    atomic_write_json(root / REPORT_NAME, report, sort_keys=True)
    return report
