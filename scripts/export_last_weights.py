"""Write the weights of a run's last step (its ``checkpoint.pt``), not its best validation
weights, as a model folder that ``xrdsym evaluate`` reads.

A run folder's ``model.safetensors`` holds the weights of its best validation. Two runs
continued from the same state whose validations never beat that state's best export the same
weights; to compare what each run learned, score the last step of each:

    python scripts/export_last_weights.py RUN_DIR OUT_DIR
    xrdsym evaluate OUT_DIR --dataset data_cache/mp_gen40 --split structure_type --renderer lab
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from xrdsym.models.pretrained import load_pretrained, save_pretrained
from xrdsym.training.checkpoint import CHECKPOINT_NAME, load_checkpoint


def export_last_weights(run_dir: Path, out_dir: Path) -> Path:
    """Save the model of ``run_dir/checkpoint.pt`` with the run's ``model.json`` (its
    ``weights`` field set to ``"last step"``) into ``out_dir``."""
    model, _ = load_pretrained(run_dir)
    model.load_state_dict(load_checkpoint(run_dir / CHECKPOINT_NAME)["model"])
    config = json.loads((run_dir / "model.json").read_text())
    config["weights"] = "last step"
    return save_pretrained(model, config, out_dir)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("run_dir", type=Path, help="run folder with checkpoint.pt and model.json")
    parser.add_argument("out_dir", type=Path, help="model folder to write")
    args = parser.parse_args(argv)
    print(export_last_weights(args.run_dir, args.out_dir))


if __name__ == "__main__":
    main()
