"""What a resumed run may change: the checkpoint's config against the current one.

A resume compares the config stored in the checkpoint and the dataset fingerprint of the
run's ``config.json`` with the current ones; a change of an option outside
:data:`RESUMABLE_CHANGES` is refused unless forced, and every change is recorded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from xrdsym.training.config import ConfigError, TrainConfig

CONFIG_NAME = "config.json"

#: Options a resume may change without ``force_resume``: how the run is executed and how long
#: it goes on (a larger epoch or time budget continues the run; a smaller one is refused, see
#: :data:`BUDGETS`). Changes are still recorded in ``config.json``.
RESUMABLE_CHANGES = (
    "num_workers",
    "prefetch",
    "threads",
    "checkpoint_interval_s",
    "eval_interval_s",
    "device",
    "max_epochs",
    "max_minutes",
    "patience",
)


#: Budgets a resume may only enlarge (0 means no limit); a smaller one needs ``force_resume``.
BUDGETS = ("max_epochs", "max_minutes")


def smaller_budget(before: Any, after: Any) -> bool:
    """Whether budget ``after`` allows less than ``before`` (0 or None: no limit)."""
    if not isinstance(after, int | float) or after <= 0:
        return False
    return not isinstance(before, int | float) or before <= 0 or after < before


def _plain(value: Any) -> Any:
    """A JSON round trip of ``value`` (tuples become lists), for comparisons."""
    return json.loads(json.dumps(value))


def config_changes(stored: dict[str, Any], current: dict[str, Any]) -> dict[str, list[Any]]:
    """Options whose value differs between a stored and a current config: key -> [old, new].

    An option missing from the stored config (it did not exist when the checkpoint was
    written) counts as its current default, the behaviour of the code that wrote it.
    """
    old = {**_plain(TrainConfig().to_dict()), **_plain(stored)}
    new = _plain(current)
    return {
        key: [old.get(key), new.get(key)]
        for key in sorted(set(old) | set(new))
        if old.get(key) != new.get(key)
    }


def resume_record(
    run_dir: Path,
    stored: dict[str, Any] | None,
    previous_fingerprint: str | None,
    config: TrainConfig,
    fingerprint: str,
    step: int,
    force: bool,
) -> dict[str, Any] | None:
    """What changed since the run's checkpoint, or None when nothing did.

    Raises:
        ConfigError: an option other than ``RESUMABLE_CHANGES``, or the dataset's content,
            differs and ``force`` is not set; the message lists every change.
    """
    changes = config_changes(stored, config.to_dict()) if stored is not None else {}
    if previous_fingerprint is not None and previous_fingerprint != fingerprint:
        changes["dataset_fingerprint"] = [previous_fingerprint, fingerprint]
    if not changes:
        return None
    blocking = [
        key
        for key, (before, after) in changes.items()
        if key not in RESUMABLE_CHANGES or (key in BUDGETS and smaller_budget(before, after))
    ]
    if blocking and not force:
        listed = "; ".join(f"{k}: {changes[k][0]!r} -> {changes[k][1]!r}" for k in blocking)
        raise ConfigError(
            f"{run_dir}: its checkpoint was trained with other settings ({listed}); resume "
            "with the same settings, start afresh (--no-resume), or continue with the new "
            "ones (--force-resume; the change is recorded in config.json)"
        )
    return {"step": step, "changed": changes, "forced": bool(blocking)}


def previous_resolved_config(run_dir: Path) -> dict[str, Any]:
    """The ``config.json`` of an earlier session of a run ({} when none or unreadable)."""
    try:
        resolved = json.loads((run_dir / CONFIG_NAME).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return resolved if isinstance(resolved, dict) else {}
