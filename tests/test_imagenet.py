"""The ImageNet entry point on a tiny ImageFolder: checkpoints, resume, metrics, errors, 2-process DDP."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from coordlib.datasets import DataDirError, check_data_dir
from coordlib.programs import imagenet
from coordlib.programs.imagenet import evaluate, main, scaled_milestones, step_schedule
from coordlib.training import CheckpointError

REPO = Path(__file__).resolve().parents[1]
CLASSES = ["cat", "dog", "eel"]


def make_tree(root: Path, train=CLASSES, val=CLASSES, per_class=4, seed=0) -> Path:
    """``root/train/<class>/<i>.jpg`` and ``root/val/...``: random 40x40 RGB JPEGs."""
    rng = np.random.default_rng(seed)
    for split, classes in (("train", train), ("val", val)):
        for c in classes:
            (root / split / c).mkdir(parents=True)
            for i in range(per_class):
                pixels = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(root / split / c / f"{i}.jpg")
    return root


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_tree(tmp_path_factory.mktemp("imagenet"))


def args(data, output, *extra, arch="coord_small_resnet", epochs=1, steps=1):
    return [
        "--data", str(data), "--arch", arch, "--output", str(output), "--image-size", "32",
        "--batch-size", "4", "--epochs", str(epochs), "--max-steps", str(steps), "--workers", "0",
        "--print-freq", "0", *extra,
    ]


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def test_check_data_dir_returns_imagefolder_classes(data):
    assert check_data_dir(data) == CLASSES


@pytest.mark.parametrize(
    "train, val, message",
    [
        (CLASSES, CLASSES[:2] + ["fox"],
         r"val classes differ from train classes: .*missing from val: \['eel'\], only in val: \['fox'\]"),
        (CLASSES, [], r"expected class subfolders in .*val/ .*found no subfolder and no files"),
    ],
)
def test_mismatched_or_empty_val_is_refused_before_training(tmp_path, train, val, message):
    root = make_tree(tmp_path / "data", train, val, per_class=1)
    (root / "val").mkdir(exist_ok=True)
    with pytest.raises(DataDirError, match=message):
        main(args(root, tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_missing_directories_are_refused(tmp_path):
    with pytest.raises(DataDirError, match=r"data directory .*nowhere does not exist; expected a directory holding "
                                           r"train/ and val/"):
        main(args(tmp_path / "nowhere", tmp_path / "out"))
    root = make_tree(tmp_path / "data", CLASSES, [], per_class=1)
    with pytest.raises(DataDirError, match=r"expected .*data/val/ \(an ImageFolder.*holds \['train/'\]"):
        check_data_dir(root)
    (root / "val").mkdir()
    (root / "val" / "labels.txt").write_text("not a class folder")
    with pytest.raises(DataDirError, match=r"found no subfolder, only files \['labels.txt'\]"):
        check_data_dir(root)
    assert not (tmp_path / "out").exists()


def test_empty_class_folder_is_refused(tmp_path):
    root = make_tree(tmp_path / "data", per_class=1)
    (root / "train" / "dog" / "0.jpg").rename(root / "train" / "dog" / "0.txt")
    with pytest.raises(DataDirError, match=r"1 of 3 class folders in .*train/ hold no image \(expected .*\.jpg.*\): "
                                           r"\['dog'\]"):
        check_data_dir(root)


def test_coord_resnet50_run_writes_checkpoint_and_metrics_then_resumes(data, tmp_path):
    out = tmp_path / "run"
    history = main(args(data, out, arch="coord_resnet50"))
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt", "metrics.jsonl"]
    [record] = lines(out / "metrics.jsonl")
    assert record == history[0]
    assert (record["epoch"], record["arch"], record["world_size"], record["device"], record["amp"]) == (
        1, "coord_resnet50", 1, "cpu", False)
    assert record["lr"] == pytest.approx(0.1 * 4 / 256)  # linear scaling rule
    assert (record["train_images"], record["train_steps"], record["val_images"]) == (4, 1, 12)
    assert record["top1"] in {k / 12 for k in range(13)}
    assert record["top5"] == 1.0  # 3 classes: top-5 is top-3
    state = load(out / "checkpoint.pt")
    assert (state["epoch"], state["arch"], state["classes"]) == (1, "coord_resnet50", CLASSES)
    assert state["model"]["conv1.coordconv.weight"].shape == (8, 6, 1, 1)
    assert state["model"]["fc.weight"].shape == (3, 2048)
    assert state["scheduler"]["last_epoch"] == 1

    with pytest.raises(ValueError, match="checkpoint.pt already exists; pass --resume"):
        main(args(data, out, arch="coord_resnet50", epochs=2))
    with pytest.raises(CheckpointError, match="trained with arch 'coord_resnet50', but this run has arch 'resnet50'"):
        main(args(data, out, "--resume", arch="resnet50", epochs=2))

    resumed = main(args(data, out, "--resume", arch="coord_resnet50", epochs=2))
    assert [r["epoch"] for r in resumed] == [1, 2]
    assert resumed[0] == record  # epoch 1 was not re-trained
    assert lines(out / "metrics.jsonl") == resumed
    state = load(out / "checkpoint.pt")
    assert state["epoch"] == 2 and state["scheduler"]["last_epoch"] == 2
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt", "metrics.jsonl"]


def test_resumed_run_equals_uninterrupted_run(data, tmp_path):
    straight = main(args(data, tmp_path / "a", epochs=2, steps=2))
    main(args(data, tmp_path / "b", epochs=1, steps=2))
    resumed = main(args(data, tmp_path / "b", "--resume", epochs=2, steps=2))
    a, b = load(tmp_path / "a" / "checkpoint.pt"), load(tmp_path / "b" / "checkpoint.pt")
    assert a["model"].keys() == b["model"].keys()
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    for k, s in a["optimizer"]["state"].items():
        assert torch.equal(s["momentum_buffer"], b["optimizer"]["state"][k]["momentum_buffer"])
    timeless = [{k: v for k, v in r.items() if "seconds" not in k} for r in (straight[1], resumed[1])]
    assert timeless[0] == timeless[1]
    # 2 epochs: the milestones 30, 60, 80 of 90 scale to epoch 1, so epoch 2 runs at a tenth
    assert resumed[1]["lr"] == pytest.approx(0.1 * 4 / 256 / 10)


def test_command_line_reports_data_errors_without_a_traceback(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["coordlib.programs.imagenet", "--data", str(tmp_path / "nowhere")])
    assert imagenet._cli() == 2
    assert capsys.readouterr().err.startswith("error: data directory ")


def test_batch_larger_than_the_train_set_is_refused(data, tmp_path):
    argv = args(data, tmp_path / "out")
    argv[argv.index("--batch-size") + 1] = "16"
    with pytest.raises(ValueError, match=r"has 12 images, 12 per process of 1: fewer than one batch of 16"):
        main(argv)


def test_step_schedule_divides_by_ten_at_30_60_80_of_90():
    f = step_schedule(90)
    assert [f(e) for e in (0, 29, 30, 59, 60, 79, 80, 89)] == pytest.approx(
        [1, 1, 0.1, 0.1, 0.01, 0.01, 0.001, 0.001])
    assert scaled_milestones(90) == [30, 60, 80]
    assert scaled_milestones(9) == [3, 6, 8]
    assert scaled_milestones(1) == []
    warm = step_schedule(90, warmup_epochs=4)
    assert [warm(e) for e in range(6)] == pytest.approx([0.25, 0.5, 0.75, 1, 1, 1])
    with pytest.raises(ValueError, match="expected epochs >= 1 and warmup_epochs >= 0, got 0 and 0"):
        step_schedule(0)


class _Lookup(nn.Module):
    """A 'model' whose logits for example ``i`` are row ``i`` of a fixed table."""

    def __init__(self, table):
        super().__init__()
        self.table = table

    def forward(self, index):
        return self.table[index]


def test_evaluate_counts_top1_top5_and_loss():
    # 7 classes; the true class has rank 0, 1, 4, 5, 6, 0 among the logits of its example
    ranks = [0, 1, 4, 5, 6, 0]
    table = torch.arange(7, 0, -1, dtype=torch.float32).repeat(6, 1)  # class c has rank c
    labels = torch.tensor(ranks)
    loader = DataLoader(TensorDataset(torch.arange(6), labels), batch_size=4)  # batches of 4 and 2
    result = evaluate(_Lookup(table), loader, nn.CrossEntropyLoss(), torch.device("cpu"))
    assert result["images"] == 6
    assert result["top1"] == pytest.approx(2 / 6)
    assert result["top5"] == pytest.approx(4 / 6)  # ranks 0, 1, 4, 0 are in the top 5
    assert result["loss"] == pytest.approx(float(F.cross_entropy(table, labels)))


def test_two_process_ddp_run_with_torchrun(data, tmp_path):
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "coordlib.programs.imagenet", *args(data, out)]
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    [record] = lines(out / "metrics.jsonl")
    assert record["world_size"] == 2
    # each rank took 2 images (global batch 4) and evaluated half of val; the sums cover both ranks
    assert (record["train_images"], record["train_steps"], record["val_images"]) == (4, 1, 12)
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt", "metrics.jsonl"]  # rank 0 wrote once
    assert done.stdout.count("epoch 1: train loss") == 1  # only rank 0 prints
    assert load(out / "checkpoint.pt")["epoch"] == 1


def test_unknown_arch_is_refused():
    with pytest.raises(ValueError, match=r"unknown arch 'vgg'; expected one of \['coord_resnet50', "):
        imagenet.build_model("vgg", 10)
