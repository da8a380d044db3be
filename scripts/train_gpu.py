"""Continue the bundled training run on a GPU with profiles drawn in batches on the device.

Copies ``training_state/xrdnet_small_stream`` (checkpoint, config, history) into ``--run-dir``
once and trains it ``--minutes`` more with ``prefetch = "batched"``: peak lists held in memory,
profiles drawn on the device in bf16 autocast training, synthetic crystals made by all cores
but two, a checkpoint every ``--checkpoint-minutes``. Run it again to continue the same folder.

    python scripts/train_gpu.py --minutes 12 [--run-dir training_state/xrdnet_small_gpu]
        [--continue-from training_state/xrdnet_small_stream] [--device cuda] [--workers 14]
        [--set key=value ...]

On a CPU (``--device cpu``) it runs the same way, which is how the test suite checks it.
"""

from __future__ import annotations

import argparse

from xrdsym.training.continued import continue_batched


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, required=True, help="training minutes to add")
    parser.add_argument("--run-dir", default="training_state/xrdnet_small_gpu")
    parser.add_argument("--continue-from", default="training_state/xrdnet_small_stream")
    parser.add_argument("--config", default=None, help="settings of a fresh run")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--workers", type=int, default=None, help="synthetic crystal makers")
    parser.add_argument("--checkpoint-minutes", type=float, default=3.0)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    result = continue_batched(
        args.run_dir,
        args.minutes,
        continue_from=args.continue_from,
        config_path=args.config,
        device=args.device,
        workers=args.workers,
        checkpoint_minutes=args.checkpoint_minutes,
        overrides=args.set,
    )
    print(
        f"{result.run_dir}: step {result.step}, {result.patterns_seen} patterns, "
        f"{result.wall_seconds / 60:.1f} training minutes in all ({result.stop_reason})"
    )


if __name__ == "__main__":
    main()
