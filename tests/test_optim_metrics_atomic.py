import pytest
import torch

from data_processor.base.atomic import append_jsonl, atomic_path, write_json
from data_processor.base.errors import ConfigError
from train.common.metrics import classification_metrics, format_confusion
from train.common.optim import DEFAULT_LR, OPTIMIZERS, build_optimizer, build_scheduler


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_every_optimizer_reduces_a_quadratic(name):
    w = torch.nn.Parameter(torch.tensor([3.0, -2.0]))
    opt = build_optimizer(name, [w])
    assert opt.param_groups[0]["lr"] == DEFAULT_LR[name]
    start = float((w.detach() ** 2).sum())
    for _ in range(50):
        opt.zero_grad()
        (w**2).sum().backward()
        opt.step()
    assert float((w.detach() ** 2).sum()) < start


def test_optimizer_options_and_errors():
    w = torch.nn.Parameter(torch.ones(2))
    frozen = torch.nn.Parameter(torch.ones(2), requires_grad=False)
    opt = build_optimizer("momentum", [w, frozen], lr=0.3, weight_decay=0.01, momentum=0.8)
    group = opt.param_groups[0]
    assert (group["lr"], group["weight_decay"], group["momentum"], len(group["params"])) == (0.3, 0.01, 0.8, 1)
    with pytest.raises(ConfigError, match="unknown optimizer 'lbfgs'"):
        build_optimizer("lbfgs", [w])
    with pytest.raises(ConfigError, match="--lr must be > 0"):
        build_optimizer("adam", [w], lr=0)


def test_schedules():
    w = torch.nn.Parameter(torch.ones(1))
    opt = build_optimizer("sgd", [w], lr=1.0)
    assert build_scheduler("none", opt, 9) is None
    step = build_scheduler("step", opt, 9)
    for _ in range(3):
        opt.step()
        step.step()
    assert opt.param_groups[0]["lr"] == 0.5
    with pytest.raises(ConfigError, match="unknown schedule"):
        build_scheduler("warmup", opt, 3)


def test_metrics_match_hand_computation():
    m = classification_metrics([0, 0, 1, 1, 1], [0, 1, 1, 1, 0], ["neg", "pos"])
    assert m["accuracy"] == pytest.approx(3 / 5)
    # neg: p=1/2 r=1/2 f=1/2; pos: p=2/3 r=2/3 f=2/3
    assert m["macro_f1"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert m["confusion"] == [[1, 1], [1, 2]]
    assert "neg" in m["report"] and "pos" in m["report"]
    table = format_confusion(m["confusion"], ["neg", "pos"])
    assert table.splitlines()[1].split() == ["neg", "1", "1"]


def test_atomic_write_leaves_old_file_on_failure(tmp_path):
    target = tmp_path / "state.json"
    write_json(target, {"v": 1})
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half", encoding="utf-8")
            raise RuntimeError("interrupted")
    assert target.read_text(encoding="utf-8").strip().replace(" ", "").replace("\n", "") == '{"v":1}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]
    append_jsonl(tmp_path / "m.jsonl", {"epoch": 1})
    append_jsonl(tmp_path / "m.jsonl", {"epoch": 2})
    assert (tmp_path / "m.jsonl").read_text(encoding="utf-8").splitlines() == ['{"epoch": 1}', '{"epoch": 2}']


def test_atomic_files_get_the_usual_permissions_not_mkstemps_private_ones(tmp_path):
    import os

    umask = os.umask(0o022)
    try:
        write_json(tmp_path / "config.json", {"a": 1})
    finally:
        os.umask(umask)
    assert (tmp_path / "config.json").stat().st_mode & 0o777 == 0o666 & ~0o022
