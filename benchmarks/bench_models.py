"""Training and inference throughput (patterns/s) of every registered model on this machine.

Training throughput includes rendering: patterns are rendered from peak lists with fresh
random profiles exactly as in ``xrdsym train`` (DataLoader workers or a background thread),
then normalised, batched, and used for one AdamW step each. Model-only figures (random
inputs) and inference figures are printed beside them, then the ratio of ``--efficient`` to
``--baseline``. Wall-clock figures depend on whatever else runs on the machine; the
"per CPU-s" columns (one torch thread, ``time.process_time``) count the CPU work of rendering
plus one training step per pattern and are robust to other load: 1 / (1/render + 1/train).

    python benchmarks/bench_models.py                       # all models, ~20 s each
    python benchmarks/bench_models.py --models park_space_group xrdnet --seconds 20
    python benchmarks/bench_models.py --prefetch thread --precision bf16
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F  # noqa: N812
from torch.utils.data import DataLoader, DistributedSampler

from xrdsym.models import create_model, list_models
from xrdsym.patterns.grid import Grid
from xrdsym.training.data import EpochSampler, RenderedPatterns, ThreadPrefetcher
from xrdsym.training.loop import _single_thread_worker

#: Peaks per synthetic structure: the corpus spans roughly 50-300 peaks over 10-110 deg.
PEAK_COUNT_RANGE = (50, 300)
WARMUP_STEPS = 3


class RandomPeaks:
    """In-memory peak lists with random positions and intensities (strongest = 100)."""

    def __init__(self, n: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.items = []
        for _ in range(n):
            count = int(rng.integers(*PEAK_COUNT_RANGE))
            tt = np.sort(rng.uniform(10.5, 109.5, count)).astype(np.float32)
            inten = (100 * rng.power(0.3, count)).astype(np.float32)
            inten[rng.integers(count)] = 100.0
            self.items.append((tt, inten, int(rng.integers(1, 231))))

    def __len__(self) -> int:
        return len(self.items)

    def peaks(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        return self.items[index][0], self.items[index][1]

    def space_group(self, index: int) -> int:
        return self.items[index][2]


def precision_of(name: str, choice: str) -> str:
    """``auto``: bf16 autocast for the xrdnet family (it speeds them up about 1.6-2x here),
    fp32 for the Park et al. models as published; otherwise ``choice`` for every model."""
    if choice != "auto":
        return choice
    return "bf16" if name.startswith("xrdnet") else "fp32"


def input_length(name: str) -> int:
    """The architecture's default input length."""
    return int(getattr(create_model(name), "input_length", 10001))


def train_step(
    model: torch.nn.Module, optimizer: Any, x: torch.Tensor, y: torch.Tensor, bf16: bool
) -> None:
    """One AdamW step on the space-group loss (or the model's only task)."""
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        out = model(x)
    task = "space_group" if "space_group" in out else next(iter(out))
    n_classes = out[task].shape[-1]
    loss = F.cross_entropy(out[task].float(), y % n_classes)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def timed(
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    step: Any,
    seconds: float,
    clock: Any = time.perf_counter,
) -> float:
    """Patterns per second of ``step`` over ``batches`` after a warm-up, for ``seconds``.

    ``clock`` is wall time by default; ``time.process_time`` counts this process's CPU time.
    """
    count, start = 0, 0.0
    for i, (x, y) in enumerate(batches):
        step(x, y)
        if i + 1 == WARMUP_STEPS:
            start = clock()
        elif i + 1 > WARMUP_STEPS:
            count += len(y)
            if clock() - start >= seconds:
                break
    return count / (clock() - start)


def render_cpu_rate(source: RandomPeaks, grid: Grid, seconds: float) -> float:
    """Patterns rendered and normalised per CPU-second, in this process."""
    dataset = RenderedPatterns(source, grid, seed=0)
    count, start = 0, time.process_time()
    while time.process_time() - start < seconds:
        dataset.render(0, count % len(source))
        count += 1
    return count / (time.process_time() - start)


def rendered_batches(
    source: RandomPeaks, grid: Grid, batch: int, prefetch: str, workers: int
) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
    """Endless training batches rendered as in ``xrdsym train``."""
    dataset = RenderedPatterns(source, grid, seed=0)
    base: DistributedSampler[int] = DistributedSampler(
        range(len(source)),  # type: ignore[arg-type]
        num_replicas=1,
        rank=0,
        seed=0,
    )
    epoch = 0
    while True:
        loader: Any = DataLoader(
            dataset,
            batch_size=batch,
            sampler=EpochSampler(base, np.arange(len(source)), epoch),
            num_workers=workers if prefetch == "workers" else 0,
            drop_last=True,
            worker_init_fn=_single_thread_worker if prefetch == "workers" else None,
        )
        yield from ThreadPrefetcher(loader) if prefetch == "thread" else loader
        epoch += 1


def random_batches(length: int, batch: int) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
    """Endless batches of random inputs (model cost only)."""
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(batch, 1, length, generator=generator)
    y = torch.randint(0, 230, (batch,), generator=generator)
    while True:
        yield x, y


def bench_model(name: str, args: argparse.Namespace, source: RandomPeaks) -> dict[str, float]:
    """Training (with rendering), training (model only) and inference patterns/s."""
    torch.manual_seed(0)
    length = input_length(name)
    model = create_model(name, input_length=length)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    bf16 = precision_of(name, args.precision) == "bf16"

    def step(x: torch.Tensor, y: torch.Tensor) -> None:
        train_step(model, optimizer, x, y, bf16)

    grid = Grid(n_points=length)
    model.train()
    rendered = timed(
        rendered_batches(source, grid, args.batch_size, args.prefetch, args.workers),
        step,
        args.seconds,
    )
    model_only = timed(random_batches(length, args.batch_size), step, args.seconds / 2)
    model.eval()

    @torch.inference_mode()
    def infer(x: torch.Tensor, y: torch.Tensor) -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            model(x)

    inference = timed(random_batches(length, args.inference_batch), infer, args.seconds / 2)
    params = sum(p.numel() for p in model.parameters())
    model.train()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    model_cpu = timed(
        random_batches(length, args.batch_size), step, args.seconds / 2, time.process_time
    )
    torch.set_num_threads(threads)
    render_cpu = render_cpu_rate(source, grid, args.seconds / 4)
    return {
        "train_cpu": 1.0 / (1.0 / model_cpu + 1.0 / render_cpu),
        "render_cpu": render_cpu,
        "input": length,
        "params_M": params / 1e6,
        "train_rendered": rendered,
        "train_model": model_only,
        "infer": inference,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=None, help="default: every registered")
    parser.add_argument("--seconds", type=float, default=15.0, help="per training measurement")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--inference-batch", type=int, default=256)
    parser.add_argument("--prefetch", choices=("workers", "thread", "none"), default="workers")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--structures", type=int, default=2000)
    parser.add_argument("--baseline", default="park_space_group")
    parser.add_argument("--efficient", nargs="+", default=["xrdnet", "xrdnet_small"])
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    names = args.models or list_models()
    source = RandomPeaks(args.structures, seed=1)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch_size}, "
        f"prefetch {args.prefetch} ({args.workers} workers), precision {args.precision}"
    )
    header = f"{'model':24s} {'prec':>5s} {'input':>6s} {'params':>8s} {'train+render':>13s} "
    print(
        header + f"{'train model':>12s} {'inference':>10s} | {'per CPU-s: render':>17s} "
        f"{'train+render':>12s}"
    )
    results = {}
    for name in names:
        r = bench_model(name, args, source)
        results[name] = r
        print(
            f"{name:24s} {precision_of(name, args.precision):>5s} {r['input']:6d} "
            f"{r['params_M']:7.2f}M {r['train_rendered']:13.0f} "
            f"{r['train_model']:12.0f} {r['infer']:10.0f} | {r['render_cpu']:17.0f} "
            f"{r['train_cpu']:12.0f}",
            flush=True,
        )
    for efficient in args.efficient:
        if args.baseline not in results or efficient not in results:
            continue
        base, eff = results[args.baseline], results[efficient]
        print(
            f"{efficient} / {args.baseline}: training with rendering "
            f"{eff['train_rendered'] / base['train_rendered']:.1f}x, model only "
            f"{eff['train_model'] / base['train_model']:.1f}x, inference "
            f"{eff['infer'] / base['infer']:.1f}x; per CPU-second (one thread, rendering "
            f"included) {eff['train_cpu'] / base['train_cpu']:.1f}x"
        )


if __name__ == "__main__":
    main()
