"""Model registry, forward/backward of every architecture, safetensors round trip."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from xrdsym.errors import ModelFileError
from xrdsym.models import (
    TASK_CLASSES,
    create_model,
    list_models,
    load_pretrained,
    save_pretrained,
)
from xrdsym.models.layers import same_padding
from xrdsym.models.park import park_trunk_length
from xrdsym.spacegroups import label_maps, reconcile_probabilities

EXPECTED_TASKS = {
    "park_crystal_system": {"crystal_system"},
    "park_extinction_group": {"extinction_group"},
    "park_space_group": {"space_group"},
    "park_multitask": {"crystal_system", "extinction_group", "space_group"},
}


def test_registry_lists_the_paper_models_and_rejects_unknown_names() -> None:
    names = list_models()
    assert set(EXPECTED_TASKS) <= set(names)
    assert "xrdnet" in names
    with pytest.raises(ValueError, match="park_space_group"):
        create_model("park_spacegroup")


@pytest.mark.parametrize("name", list_models())
def test_forward_backward_shapes_and_finite(name: str) -> None:
    torch.manual_seed(0)
    model = create_model(name)
    length = int(model.input_length)
    x = torch.rand(3, 1, length)
    out = model(x)
    tasks = EXPECTED_TASKS.get(name, {"crystal_system", "extinction_group", "space_group"})
    assert tasks <= set(out)
    for key, logits in out.items():
        classes = TASK_CLASSES[key.removeprefix("aux_")]
        assert logits.shape == (3, classes)
        assert torch.isfinite(logits).all()
    loss = sum(torch.nn.functional.cross_entropy(v, torch.tensor([0, 1, 2])) for v in out.values())
    loss.backward()  # type: ignore[union-attr]
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(float(g.abs().sum()) > 0 for g in grads if g is not None)


def test_park_geometry_follows_the_paper() -> None:
    # 10,001 -> conv s5 2,001 -> pool 667 -> conv s5 134 -> pool 44 -> conv s2 22 -> pool 7.
    assert park_trunk_length(10001) == 7
    assert same_padding(10001, 100, 5) == (49, 50)
    model = create_model("park_space_group")
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv1d)]
    assert [(c.out_channels, c.kernel_size[0], c.stride[0]) for c in convs] == [
        (80, 100, 5),
        (80, 50, 5),
        (80, 25, 2),
    ]
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [(lin.in_features, lin.out_features) for lin in linears] == [
        (560, 2300),
        (2300, 1150),
        (1150, 230),
    ]
    dropouts = {m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)}
    assert dropouts == {0.3}
    head = create_model("park_extinction_group").heads["extinction_group"]
    assert [m.out_features for m in head if isinstance(m, torch.nn.Linear)] == [4040, 202, 101]
    head = create_model("park_crystal_system").heads["crystal_system"]
    assert [m.out_features for m in head if isinstance(m, torch.nn.Linear)] == [700, 70, 7]


def test_xrdnet_hierarchy_is_the_sum_of_space_group_probabilities() -> None:
    torch.manual_seed(1)
    model = create_model("xrdnet_tiny").eval()
    with torch.no_grad():
        out = model(torch.rand(4, 1, model.input_length))
    p_sg = torch.softmax(out["space_group"], -1).double().numpy()
    p_cs, p_eg = reconcile_probabilities(p_sg)
    np.testing.assert_allclose(torch.softmax(out["crystal_system"], -1).numpy(), p_cs, atol=1e-5)
    np.testing.assert_allclose(torch.softmax(out["extinction_group"], -1).numpy(), p_eg, atol=1e-5)
    # Space group 225 (Fm-3m) is cubic: its crystal-system share includes it.
    cs_of_225 = int(label_maps()[0][224])
    assert cs_of_225 == 6
    assert p_cs[:, cs_of_225].min() >= p_sg[:, 224].min()


def test_xrdnet_is_position_aware() -> None:
    """The same peak at two 2theta positions gives different space-group logits."""
    torch.manual_seed(2)
    model = create_model("xrdnet_tiny").eval()
    x = torch.zeros(2, 1, model.input_length)
    x[0, 0, 1000:1004] = 1.0
    x[1, 0, 3000:3004] = 1.0
    with torch.no_grad():
        logits = model(x)["space_group"]
    assert not torch.allclose(logits[0], logits[1], atol=1e-4)


def test_save_and_load_pretrained_roundtrip(tmp_path: Path) -> None:
    torch.manual_seed(3)
    model = create_model("xrdnet_tiny", widths=(8, 16), head_cells=4).eval()
    config = {
        "architecture": "xrdnet_tiny",
        "model_kwargs": {"widths": (8, 16), "head_cells": 4},
        "grid": {"start": 10.0, "stop": 110.0, "n_points": 5001},
    }
    save_pretrained(model, config, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json", "model.safetensors"]
    loaded, spec = load_pretrained(tmp_path)
    assert spec.kwargs["widths"] == [8, 16]
    x = torch.rand(2, 1, 5001)
    with torch.no_grad():
        a, b = model(x), loaded(x)
    for key in a:
        assert torch.equal(a[key], b[key])


def test_load_pretrained_names_the_bad_file(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="model.json"):
        load_pretrained(tmp_path)
    model = create_model("xrdnet_tiny")
    grid = {"n_points": model.input_length}
    save_pretrained(model, {"architecture": "xrdnet_tiny", "grid": grid}, tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ModelFileError, match="model.safetensors"):
        load_pretrained(tmp_path)
    save_pretrained(model, {"architecture": "xrdnet_tiny", "grid": grid}, tmp_path)
    (tmp_path / "model.json").write_text(
        json.dumps(
            {"architecture": "xrdnet_tiny", "model_kwargs": {"widths": [8, 16]}, "grid": grid}
        )
    )
    with pytest.raises(ModelFileError, match="do not match|wrong shape"):
        load_pretrained(tmp_path)
    (tmp_path / "model.json").write_text(json.dumps({"architecture": "resnet50"}))
    with pytest.raises(ModelFileError, match="unknown model"):
        load_pretrained(tmp_path)
    # Without a grid, model.json means the paper's grid (10,001 points): a network reading
    # another length is refused as inconsistent.
    (tmp_path / "model.json").write_text(json.dumps({"architecture": "xrdnet_tiny"}))
    with pytest.raises(ModelFileError, match="the grid has 10001 points but the network reads"):
        load_pretrained(tmp_path)
    (tmp_path / "model.safetensors").unlink()
    (tmp_path / "model.json").write_text(json.dumps({"architecture": "xrdnet_tiny", "grid": grid}))
    with pytest.raises(ModelFileError, match="model.safetensors"):
        load_pretrained(tmp_path)


def test_position_pool_matches_adaptive_average_pooling() -> None:
    from xrdsym.models.layers import position_pool

    x = torch.rand(2, 5, 1, 79).contiguous(memory_format=torch.channels_last)
    expected = torch.nn.functional.adaptive_avg_pool2d(x, (1, 16)).squeeze(2)
    torch.testing.assert_close(position_pool(x, 16), expected)


def test_summed_log_probabilities_handle_vanishing_classes() -> None:
    from xrdsym.models.layers import space_group_membership, summed_log_probabilities

    membership = space_group_membership(torch.as_tensor(label_maps()[0]), 7)
    logits = torch.full((1, 230), -200.0)
    logits[0, 224] = 200.0  # all probability on Fm-3m (cubic)
    log_p = summed_log_probabilities(logits, membership)
    assert torch.isfinite(log_p).all()
    assert float(log_p[0, 6]) == pytest.approx(0.0, abs=1e-6)
    assert float(log_p[0, 0]) < -60
