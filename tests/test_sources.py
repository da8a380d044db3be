"""The registry of structure sources: every name list derives from it, and the build and the
stream dispatch through it to the same crystals and peak lists as the generators called
directly (and as recorded before the registry existed)."""

from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
from synthetic import PrototypePeaks

from xrdsym.datasets.build_config import BuildConfig
from xrdsym.datasets.sources import (
    BUILD_SOURCES,
    SOURCES,
    STREAM_SOURCES,
    crystal_maker,
    item_maker,
)
from xrdsym.datasets.stream import StreamMix, StructureStream, check_mix
from xrdsym.errors import DatasetError


@pytest.fixture(scope="module")
def stored_cells(shared_dir: Path) -> PrototypePeaks:
    """The first 6 structures of the shared Materials Project table, with their cells."""
    from xrdsym.structures.prototype import read_prototypes

    path = shared_dir / "data" / "structures" / "mp_structures.csv.gz"
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    return PrototypePeaks(read_prototypes(path, 6))


def test_the_name_lists_are_the_registry_keys() -> None:
    assert set(BUILD_SOURCES) | set(STREAM_SOURCES) == set(SOURCES)
    # The orders are part of the outputs: the first build source is the default generator,
    # and the stream draws its kind as an index into STREAM_SOURCES.
    assert BUILD_SOURCES == ("pyxtal", "synthetic")
    assert STREAM_SOURCES == ("corpus", "perturbed", "synthetic")
    assert [n for n in SOURCES if SOURCES[n].needs_cells] == ["perturbed"]
    assert tuple(f.name for f in fields(StreamMix)) == STREAM_SOURCES
    assert BuildConfig().generator == BUILD_SOURCES[0]


def test_the_cli_and_configs_take_their_choices_from_the_registry() -> None:
    from xrdsym.cli import dataset

    parser = argparse.ArgumentParser()
    dataset.register(parser.add_subparsers())
    build = parser.parse_args(["dataset", "build", "out", "--generator", BUILD_SOURCES[-1]])
    assert build.generator == BUILD_SOURCES[-1]
    with pytest.raises(SystemExit):
        parser.parse_args(["dataset", "build", "out", "--generator", "corpus"])
    for name in STREAM_SOURCES:
        assert check_mix({name: 1.0}).probabilities()[STREAM_SOURCES.index(name)] == 1.0
    with pytest.raises(DatasetError, match="generator"):
        BuildConfig(generator="perturbed")
    with pytest.raises(ValueError, match="unknown crystal generator"):
        crystal_maker("corpus")
    with pytest.raises(ValueError, match="unknown stream kind"):
        item_maker("pyxtal", None)  # type: ignore[arg-type]


def test_every_stream_source_has_an_item_maker(stored_cells: PrototypePeaks) -> None:
    stream = StructureStream(stored_cells, StreamMix(corpus=1, perturbed=1, synthetic=1))
    assert set(stream._item_makers) == set(STREAM_SOURCES)


def test_the_synthetic_build_source_is_the_generators_draw() -> None:
    from xrdsym.structures.synthetic import SyntheticGenerator, load_statistics

    generator = SyntheticGenerator(load_statistics(None))
    make = crystal_maker("synthetic")
    for group in (2, 14, 225):
        made = make(group, np.random.default_rng(group))
        direct = generator.sample_group(group, np.random.default_rng(group)).crystal
        assert made is not None
        assert np.array_equal(made.lattice, direct.lattice)
        assert np.array_equal(made.frac_coords, direct.frac_coords)
        assert list(made.elements) == list(direct.elements)


#: (space group, number of peaks, sum of 2theta in degrees) of the items (epoch 0 and 2,
#: index 0-5, seed 11, odd indices sharing a synthetic crystal per pair) of the mixed stream
#: on ``stored_cells``, recorded with the dispatch the registry replaced.
RECORDED_ITEMS = [
    (194, 81, 5932.9192),
    (12, 175, 13792.5722),
    (227, 33, 2243.9258),
    (227, 51, 3413.9897),
    (160, 48, 3532.9298),
    (221, 8, 537.6252),
    (194, 8, 655.4648),
    (217, 47, 3323.8549),
    (227, 45, 3171.5690),
    (227, 39, 2730.0033),
    (160, 48, 3532.9298),
    (44, 95, 7318.4663),
]


def stream_items(source: PrototypePeaks) -> tuple[list[tuple[int, int, float]], dict[str, int]]:
    """(space group, peaks, sum of 2theta) of the items of :data:`RECORDED_ITEMS`, and the
    items drawn per kind."""
    stream = StructureStream(source, StreamMix(corpus=1, perturbed=1, synthetic=1))
    items = []
    for epoch in (0, 2):
        for index in range(len(source)):
            rng = np.random.default_rng([11, epoch + 1, index])
            key = (11, epoch, index // 2) if index % 2 else None
            two_theta, _, group = stream.draw(index, rng, crystal_key=key, epoch=epoch)
            items.append((int(group), len(two_theta), float(np.sum(two_theta, dtype=np.float64))))
    return items, stream.counts.drawn


def test_stream_items_are_the_recorded_ones(stored_cells: PrototypePeaks) -> None:
    items, drawn = stream_items(stored_cells)
    assert all(drawn[kind] > 0 for kind in STREAM_SOURCES)
    assert [item[:2] for item in items] == [item[:2] for item in RECORDED_ITEMS]
    assert np.allclose([i[2] for i in items], [i[2] for i in RECORDED_ITEMS], rtol=1e-6)
