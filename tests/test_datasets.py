"""Dataset build: shards, resumption, Dask, duplicates and leakage-free splits."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from xrdsym.datasets.build import BuildConfig, build_dataset
from xrdsym.datasets.splits import find_duplicates, random_split, structure_type_split
from xrdsym.datasets.store import EXCLUDED, PART_CODES, open_dataset

N_CORPUS_ROWS = 24


@pytest.fixture(scope="module")
def small_table(shared_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first corpus rows plus one malformed CIF, as a CSV table."""
    import csv

    source = shared_dir / "data" / "structures" / "mp_structures.csv.gz"
    out = tmp_path_factory.mktemp("table") / "small.csv"
    with gzip.open(source, "rt", newline="") as fin, open(out, "w", newline="") as fout:
        reader = csv.DictReader(fin)
        writer = csv.DictWriter(fout, fieldnames=["material_id", "source", "cif"])
        writer.writeheader()
        for index, row in enumerate(reader):
            if index == N_CORPUS_ROWS:
                break
            writer.writerow({k: row[k] for k in ("material_id", "source", "cif")})
        writer.writerow({"material_id": "broken-1", "source": "test", "cif": "data_x\n_cell"})
    return out


def test_structure_type_split_shares_no_key() -> None:
    rng = np.random.default_rng(3)
    types = np.array([f"type{i}" for i in rng.integers(0, 400, size=2000)])
    excluded = np.zeros(2000, dtype=bool)
    parts = structure_type_split(types, excluded, seed=1)
    train_types = set(types[parts == PART_CODES["train"]])
    test_types = set(types[parts == PART_CODES["test"]])
    val_types = set(types[parts == PART_CODES["val"]])
    assert test_types and train_types
    assert not train_types & test_types
    assert not val_types & test_types
    assert not val_types & train_types


def test_structure_type_split_keeps_a_dominant_type_in_training() -> None:
    # 300 types of 5 structures and one of 500 (25 % of the kept structures); its
    # excluded duplicates do not count towards its share.
    types = np.array([f"type{i}" for i in range(300) for _ in range(5)] + ["big"] * 600)
    excluded = np.zeros(len(types), dtype=bool)
    excluded[-100:] = True
    for seed in range(6):
        parts = structure_type_split(types, excluded, seed=seed)
        assert np.all(parts[types == "big"][:500] == PART_CODES["train"])
        assert np.all(parts[-100:] == EXCLUDED)
        held_out = parts[:1500] != PART_CODES["train"]
        assert 0.1 < held_out.mean() < 0.4
    # with no share allowed, every type trains
    small = structure_type_split(types[:1500], excluded[:1500], seed=0, max_held_out_fraction=0.0)
    assert np.all(small == PART_CODES["train"])


def test_random_split_fractions_and_exclusion() -> None:
    excluded = np.zeros(10_000, dtype=bool)
    excluded[:100] = True
    parts = random_split(10_000, excluded, seed=0)
    assert np.all(parts[:100] == EXCLUDED)
    assert np.mean(parts == PART_CODES["test"]) == pytest.approx(0.2, abs=0.02)
    assert np.mean(parts == PART_CODES["val"]) == pytest.approx(0.08, abs=0.02)
    assert np.array_equal(parts, random_split(10_000, excluded, seed=0))


def test_find_duplicates_needs_same_key_and_cell() -> None:
    keys = np.array(["NaCl|225", "NaCl|225", "NaCl|225", "KCl|225"])
    cells = np.array(
        [
            [3.99, 3.99, 3.99, 60, 60, 60],
            [4.00, 4.00, 4.00, 60, 60, 60],  # within 1 %: duplicate of the first
            [4.20, 4.20, 4.20, 60, 60, 60],  # 5 % larger: another structure
            [4.00, 4.00, 4.00, 60, 60, 60],  # other formula
        ]
    )
    assert find_duplicates(keys, cells).tolist() == [False, True, False, False]


def test_build_resumes_to_the_same_dataset(small_table: Path, tmp_path: Path) -> None:
    config = BuildConfig(cif_sources=(str(small_table),), shard_size=5, seed=7)
    reference = build_dataset(tmp_path / "full", config, workers=1, progress=False)

    class InterruptedBuildError(Exception):
        pass

    seen: list[str] = []

    def stop_after_two(result: object) -> None:
        seen.append(getattr(result, "name", ""))
        if len(seen) == 2:
            raise InterruptedBuildError

    with pytest.raises(InterruptedBuildError):
        build_dataset(
            tmp_path / "resumed", config, workers=1, progress=False, on_shard=stop_after_two
        )
    finished_before = sorted(p.name for p in (tmp_path / "resumed" / "shards").glob("*.npz"))
    assert 2 <= len(finished_before) < 5
    resumed_names: list[str] = []
    report = build_dataset(
        tmp_path / "resumed",
        config,
        workers=1,
        progress=False,
        on_shard=lambda r: resumed_names.append(getattr(r, "name", "")),
    )
    assert not set(resumed_names) & {Path(n).stem for n in finished_before}
    assert report["structures"] == reference["structures"]
    full, resumed = open_dataset(tmp_path / "full"), open_dataset(tmp_path / "resumed")
    assert full.fingerprint() == resumed.fingerprint()
    assert list(full.data.ids) == list(resumed.data.ids)


def test_build_records_library_versions_and_resumes_only_with_them(
    small_table: Path, tmp_path: Path
) -> None:
    from xrdsym.datasets.build import library_versions
    from xrdsym.errors import DatasetError

    config = BuildConfig(cif_sources=(str(small_table),), shard_size=5, seed=7)
    build_dataset(tmp_path / "ds", config, workers=1, progress=False)
    manifest_path = tmp_path / "ds" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    assert manifest["library_versions"] == library_versions()
    assert manifest["library_versions"]["spglib"] not in ("", "missing")
    manifest["library_versions"]["spglib"] = "0.0.1"
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(DatasetError, match=r"spglib 0\.0\.1 \(installed: "):
        build_dataset(tmp_path / "ds", config, workers=1, progress=False)


def test_build_reports_bad_rows_and_keeps_the_rest(small_table: Path, tmp_path: Path) -> None:
    config = BuildConfig(cif_sources=(str(small_table),), shard_size=10)
    report = build_dataset(tmp_path / "ds", config, workers=1, progress=False)
    bad = [r for r in report["rejected_items"] if r["id"] == "broken-1"]
    assert len(bad) == 1 and bad[0]["reason"]
    dataset = open_dataset(tmp_path / "ds")
    assert len(dataset) + report["rejected"] == N_CORPUS_ROWS + 1
    assert len(dataset) >= N_CORPUS_ROWS - 2
    two_theta, intensity = dataset.peaks(0)
    assert len(two_theta) == len(intensity) > 0
    assert np.all(np.diff(two_theta) >= 0)
    assert intensity.max() == pytest.approx(100.0, rel=1e-3)
    saved = json.loads((tmp_path / "ds" / "report.json").read_text())
    assert saved["rejected"] == report["rejected"]


@pytest.mark.parametrize("generator", ["pyxtal", "synthetic"])
def test_build_on_local_dask_cluster_with_generated(
    small_table: Path, tmp_path: Path, generator: str
) -> None:
    distributed = pytest.importorskip("distributed")
    config = BuildConfig(
        cif_sources=(str(small_table),),
        generated_per_group=2 if generator == "synthetic" else 1,
        space_groups=(2, 14, 62, 225),
        shard_size=8,
        seed=11,
        generator=generator,
    )
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        report = build_dataset(
            tmp_path / "dask",
            config,
            workers=2,
            scheduler=cluster.scheduler_address,
            progress=False,
        )
    local = build_dataset(tmp_path / "local", config, workers=1, progress=False)
    assert report["structures"] == local["structures"]
    assert (
        open_dataset(tmp_path / "dask").fingerprint()
        == open_dataset(tmp_path / "local").fingerprint()
    )
    dataset = open_dataset(tmp_path / "dask")
    generated = dataset.data.requested_space_group > 0
    assert generated.sum() >= 2
    assert dataset.has_prototypes()
    if generator == "synthetic":  # labels are spglib's; the requested group mostly survives
        same = dataset.data.space_group[generated] == dataset.data.requested_space_group[generated]
        assert same.mean() >= 0.75
    for split in ("random", "structure_type"):
        used = sum(len(dataset.split_indices(split, p)) for p in PART_CODES)
        assert used == len(dataset) - report["duplicates"]


def test_dataset_cli_build_and_summary(
    small_table: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from xrdsym.cli import main

    out = tmp_path / "cli"
    assert (
        main(
            [
                "dataset",
                "build",
                str(out),
                "--cif",
                str(small_table),
                "--workers",
                "1",
                "--no-progress",
            ]
        )
        == 0
    )
    assert main(["dataset", "summary", str(out), "--json"]) == 0
    counts = json.loads(capsys.readouterr().out.split("report.json\n", 1)[1])
    assert counts["structures"] == sum(counts["crystal_system"].values())
    assert counts["structures"] == sum(counts["space_group"].values())
    assert main(["dataset", "build", str(tmp_path / "none")]) == 1


def test_the_progress_total_is_the_number_of_planned_shards(
    small_table: Path, tmp_path: Path
) -> None:
    from xrdsym.datasets.build import count_tasks, plan_tasks

    folder = tmp_path / "cifs"
    (folder / "sub").mkdir(parents=True)
    for name in ("a.cif", "b.CIF", "sub/c.cif"):
        (folder / name).write_text("data_x\n")
    (folder / "notes.txt").write_text("not a CIF")
    for shard_size, per_group in ((5, 0), (3, 2), (50, 1)):
        config = BuildConfig(
            cif_sources=(str(small_table), str(folder)),
            shard_size=shard_size,
            generated_per_group=per_group,
            space_groups=(2, 14, 62, 225),
        )
        assert count_tasks(config) == len(list(plan_tasks(config)))


STRUCTURES = Path(__file__).resolve().parent / "data" / "structures" / "good"


def _duplicate_table(folder: Path) -> dict[str, bool]:
    """CIFs of NaCl (conventional, 2x1x1 supercell, primitive 0.3 % larger, 5 % larger), KBr
    and CsCl; returns the duplicates expected by the rule of ``structures.symmetry``."""
    from pymatgen.core import Structure

    folder.mkdir()
    nacl = Structure.from_file(STRUCTURES / "NaCl.cif")
    for stem, structure in (
        ("a_NaCl", nacl),
        ("b_NaCl_supercell", nacl * (2, 1, 1)),
        ("c_NaCl_primitive", nacl.get_primitive_structure()),
        ("e_NaCl_expanded", nacl.copy()),
    ):
        if stem == "c_NaCl_primitive":
            structure = structure.copy()
            structure.scale_lattice(structure.volume * 1.003**3)
        if stem == "e_NaCl_expanded":
            structure.scale_lattice(structure.volume * 1.05**3)
        structure.to(filename=str(folder / f"{stem}.cif"))
    for name in ("KBr", "CsCl"):
        (folder / f"f_{name}.cif").write_text((STRUCTURES / f"{name}.cif").read_text())
    return {
        "a_NaCl": False,
        "b_NaCl_supercell": True,  # same primitive cell: a duplicate of a_NaCl
        "c_NaCl_primitive": True,  # lengths within 1 %
        "e_NaCl_expanded": False,  # 5 % larger: another structure
        "f_KBr": False,
        "f_CsCl": False,
    }


@pytest.mark.filterwarnings("ignore::UserWarning")  # pymatgen's notes on the CIFs it writes
def test_structures_summary_and_dataset_build_agree_on_duplicates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from xrdsym.cli import main
    from xrdsym.structures.labelling import Rejected, load_records

    expected = _duplicate_table(tmp_path / "cifs")
    summary = {
        item.id: isinstance(item, Rejected) and item.reason.startswith("duplicate of")
        for item in load_records(tmp_path / "cifs")
    }
    assert summary == expected
    assert main(["structures", "summary", str(tmp_path / "cifs"), "--json", "--no-progress"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["accepted"] == sum(not d for d in expected.values())

    config = BuildConfig(cif_sources=(str(tmp_path / "cifs"),), shard_size=4)
    report = build_dataset(tmp_path / "ds", config, workers=1, progress=False)
    dataset = open_dataset(tmp_path / "ds")
    excluded = dataset._splits["random"] == EXCLUDED
    built = {str(i): bool(e) for i, e in zip(dataset.data.ids, excluded, strict=True)}
    assert built == expected
    assert report["duplicates"] == sum(expected.values())
