"""The three supervised Not-so-Clevr tasks (coordlib.book.tasks): data, measures, batching, run().

Training is kept tiny: runs of the real CoordConv classifier use a thinned
quadrant split (every 40th train and test index, ~80 examples), and the
early-stopping tests use a hand-built "perfect" model that needs no training.
"""

import dataclasses
import json
import math

import pytest
import torch
from torch import nn

from coordlib import datasets, metrics
from coordlib.book import tasks
from coordlib.models import CoordConvClassifier, DeconvNet

RUN_KEYS = {"model", "train", "test", "params", "epochs", "train_seconds", "wall_seconds", "solved_at", "curve"}
THIN = 40  # keep every THIN-th index of a split in the tiny runs


@pytest.fixture(scope="module")
def ds():
    return datasets.not_so_clevr()


def one_hot_logits(x, y, hot=20.0, cold=-20.0):
    """(N, 64, 64) logits: ``hot`` at [n, y[n], x[n]], ``cold`` elsewhere."""
    n = len(x)
    logits = torch.full((n, 64, 64), cold)
    logits[torch.arange(n), y, x] = hot
    return logits


class PerfectClassifier(nn.Module):
    """Gives the exact one-hot logits of the classification task; nothing to learn.

    ``only_test_quadrant``: perfect only where x > 32 and y > 32 (the quadrant
    split's test set) and one pixel off elsewhere, i.e. solved on test, not on train.
    """

    def __init__(self, only_test_quadrant: bool = False) -> None:
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(()))  # so that the optimizer has something to hold
        self.only_test_quadrant = only_test_quadrant

    def forward(self, coords):
        x, y = coords[:, 0], coords[:, 1]
        if self.only_test_quadrant:
            x = torch.where((x > 32) & (y > 32), x, x + 1)
        return one_hot_logits(x.cpu(), y.cpu()).to(coords.device) + 0.0 * self.dummy


def thinned_split(monkeypatch):
    real = datasets.notsoclevr.split

    def split(name, seed=0):
        train_idx, test_idx = real(name, seed=seed)
        return train_idx[::THIN], test_idx[::THIN]

    monkeypatch.setattr(datasets.notsoclevr, "split", split)  # tasks.run looks it up as datasets.notsoclevr.split


# ----------------------------------------------------------------------------- task data


def test_classification_task(ds):
    t = tasks.task("classification")
    assert t.name == "classification" and t.solved == "accuracy"
    assert torch.equal(t.inputs, ds.centers)
    x, y = ds.centers[:, 0], ds.centers[:, 1]
    assert t.targets.dtype == torch.int64
    assert torch.equal(t.targets, y * 64 + x)
    # independent check: the target is the hot pixel of the one-hot image, flattened row-major
    assert torch.equal(t.targets, ds.onehots.flatten(1).argmax(1))


def test_rendering_task(ds):
    t = tasks.task("rendering")
    assert t.solved == "iou"
    assert torch.equal(t.inputs, ds.centers)
    assert torch.equal(t.targets, ds.squares)
    assert t.targets.shape == (3136, 64, 64)


def test_regression_task(ds):
    t = tasks.task("regression")
    assert t.solved == "accuracy"
    assert t.inputs.shape == (3136, 1, 64, 64)
    assert t.inputs.dtype == torch.float32
    assert torch.equal(t.inputs[:, 0], ds.onehots)
    assert t.targets.shape == (3136, 2) and t.targets.is_floating_point()
    assert torch.equal(t.targets, ds.centers.float() / 64)
    # the hot pixel of each input is at (x, y) = targets * 64
    k = 1234
    x, y = (t.targets[k] * 64).long().tolist()
    assert t.inputs[k, 0, y, x] == 1 and t.inputs[k].sum() == 1


def test_unknown_task_lists_names():
    with pytest.raises(ValueError) as err:
        tasks.task("detection")
    msg = str(err.value)
    assert "detection" in msg
    for name in ("classification", "rendering", "regression"):
        assert name in msg
    assert tasks.TASKS == ("classification", "rendering", "regression")


# ----------------------------------------------------------------------------- measures


def test_classification_score():
    t = tasks.task("classification")
    idx = torch.arange(0, 3136, 97)
    x, y = t.inputs[idx, 0], t.inputs[idx, 1]
    assert t.score(one_hot_logits(x, y), t.targets[idx]) == {"accuracy": 1.0}
    assert t.score(one_hot_logits(x + 1, y), t.targets[idx])["accuracy"] == 0.0  # one pixel right
    assert t.score(one_hot_logits(x, y + 1), t.targets[idx])["accuracy"] == 0.0  # one pixel down
    assert t.score(one_hot_logits(y, x), t.targets[idx])["accuracy"] < 0.1  # x and y swapped
    half = one_hot_logits(x, y)
    half[::2] = one_hot_logits(x[::2] + 1, y[::2])
    assert t.score(half, t.targets[idx])["accuracy"] == pytest.approx(len(idx[1::2]) / len(idx))


def test_classification_loss_prefers_the_target():
    t = tasks.task("classification")
    idx = torch.arange(10)
    x, y = t.inputs[idx, 0], t.inputs[idx, 1]
    good = t.loss(one_hot_logits(x, y), t.targets[idx])
    bad = t.loss(one_hot_logits(x + 1, y), t.targets[idx])
    assert good < 1e-6 < 30 < bad


def test_rendering_score():
    t = tasks.task("rendering")
    idx = torch.arange(0, 3136, 211)
    squares = t.targets[idx]
    perfect = torch.where(squares > 0, 20.0, -20.0)
    assert t.score(perfect, squares)["iou"] == 1.0
    assert t.score(torch.full_like(squares, -20.0), squares)["iou"] == 0.0
    # one column too many on every square: IOU = 81 / 90
    wider = squares.clone()
    for n, k in enumerate(idx.tolist()):
        xc, yc = t.inputs[k].tolist()
        col = xc + 5 if xc + 5 < 64 else xc - 5
        wider[n, yc - 4 : yc + 5, col] = 1.0
    assert t.score(torch.where(wider > 0, 20.0, -20.0), squares)["iou"] == pytest.approx(81 / 90)


def test_regression_score():
    t = tasks.task("regression")
    idx = torch.arange(0, 3136, 101)
    target = t.targets[idx]
    assert t.score(target.clone(), target) == {"error_px": 0.0, "accuracy": 1.0}

    off_x = target + torch.tensor([0.6 / 64, 0.0])
    s = t.score(off_x, target)
    assert s["accuracy"] == 0.0
    assert s["error_px"] == pytest.approx(0.6, abs=1e-5)

    near = target + torch.tensor([-0.4 / 64, 0.3 / 64])  # rounds back to the right pixel
    s = t.score(near, target)
    assert s["accuracy"] == 1.0
    assert s["error_px"] == pytest.approx(0.5, abs=1e-5)

    off_y = target + torch.tensor([0.0, 1.0 / 64])  # both coordinates must be right
    assert t.score(off_y, target)["accuracy"] == 0.0


# ----------------------------------------------------------------------------- predict / evaluate


def test_predict_batches_like_one_batch():
    torch.manual_seed(0)
    model = DeconvNet(1, 2)  # BatchNorm: batch-dependent in train mode, so eval mode is checked too
    model.train()
    inputs = torch.randint(4, 60, (30, 2))
    small = tasks.predict(model, inputs, batch_size=7)  # 4 full batches and one of 2
    large = tasks.predict(model, inputs, batch_size=1024)
    assert small.shape == large.shape == (30, 64, 64)
    torch.testing.assert_close(small, large, rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        reference = model.eval()(inputs)
    torch.testing.assert_close(large, reference, rtol=1e-5, atol=1e-6)
    assert not small.requires_grad


def test_predict_restores_training_mode():
    model = DeconvNet(1, 2).train()
    tasks.predict(model, torch.randint(4, 60, (5, 2)), batch_size=2)
    assert model.training and all(m.training for m in model.modules())
    model.eval()
    tasks.predict(model, torch.randint(4, 60, (5, 2)), batch_size=2)
    assert not any(m.training for m in model.modules())


def test_evaluate_uses_the_given_examples():
    t = tasks.task("classification")
    model = PerfectClassifier(only_test_quadrant=True)
    train_idx, test_idx = datasets.notsoclevr.split("quadrant")
    assert tasks.evaluate(model, t, test_idx) == {"accuracy": 1.0}
    assert tasks.evaluate(model, t, train_idx) == {"accuracy": 0.0}
    mixed = torch.cat([train_idx[:10], test_idx[:30]])
    assert tasks.evaluate(model, t, mixed)["accuracy"] == pytest.approx(30 / 40)


# ----------------------------------------------------------------------------- run()


@pytest.fixture(scope="module")
def tiny_runs():
    """Three one-epoch runs of the CoordConv classifier on a thinned quadrant split: seeds 0, 0, 1."""
    with pytest.MonkeyPatch.context() as mp:
        thinned_split(mp)
        kw = dict(epochs=1, batch_size=256, lr=5e-3, progress=False, device="cpu")
        return [tasks.run("classification", CoordConvClassifier, "quadrant", seed=s, **kw) for s in (0, 0, 1)]


def test_run_returns_documented_keys(tiny_runs):
    r = tiny_runs[0]
    assert isinstance(r, tasks.RunResult)
    assert {f.name for f in dataclasses.fields(r)} == RUN_KEYS
    assert isinstance(r["model"], CoordConvClassifier) and not r["model"].training
    assert set(tasks.numbers(r)) == set(r.numbers()) == RUN_KEYS - {"model"}
    assert set(r.numbers(curve=False)) == RUN_KEYS - {"model", "curve"}
    json.dumps(r.numbers())  # plain numbers only: serialises without the live model
    with pytest.raises(KeyError, match="no 'modle'"):
        r["modle"]
    assert r["params"] == 7553
    assert r["epochs"] == 1
    assert r["solved_at"] is None
    for part in ("train", "test"):
        assert set(r[part]) == {"accuracy"}
        assert isinstance(r[part]["accuracy"], float) and 0.0 <= r[part]["accuracy"] <= 1.0
    assert isinstance(r["train_seconds"], float) and isinstance(r["wall_seconds"], float)
    assert 0.0 < r["train_seconds"] <= r["wall_seconds"]
    assert len(r["curve"]) == 1
    point = r["curve"][0]
    assert {"epoch", "loss", "seconds", "test_accuracy"} <= set(point)
    assert point["epoch"] == 1
    assert math.isfinite(point["loss"]) and point["loss"] > 0
    assert point["seconds"] == r["train_seconds"]
    # the curve's last test measure is the final model's test measure
    assert point["test_accuracy"] == r["test"]["accuracy"]


def test_run_is_reproducible(tiny_runs):
    a, b, c = tiny_runs
    for key in ("train", "test", "params", "epochs", "solved_at"):
        assert a[key] == b[key], key
    assert [p["loss"] for p in a["curve"]] == [p["loss"] for p in b["curve"]]
    assert [p["test_accuracy"] for p in a["curve"]] == [p["test_accuracy"] for p in b["curve"]]
    # and the seed matters (initialisation and order), so the check above can fail
    assert a["curve"][0]["loss"] != c["curve"][0]["loss"]


def _run_perfect(make_model, **kw):
    args = dict(seed=0, epochs=5, batch_size=512, lr=5e-3, progress=False, device="cpu")
    args.update(kw)
    return tasks.run("classification", make_model, "quadrant", **args)


def test_stop_when_solved_stops_at_first_epoch():
    r = _run_perfect(PerfectClassifier, stop_when_solved=True)
    assert r["solved_at"] == 1
    assert r["epochs"] == 1
    assert r["train"] == r["test"] == {"accuracy": 1.0}
    assert [p["epoch"] for p in r["curve"]] == [1]
    assert r["curve"][0]["test_accuracy"] == 1.0
    assert "stop" not in r["curve"][0]
    assert r["params"] == 1


def test_no_early_stop_without_the_flag():
    r = _run_perfect(PerfectClassifier, epochs=3)
    assert r["solved_at"] is None
    assert r["epochs"] == 3
    assert [p["epoch"] for p in r["curve"]] == [1, 2, 3]


def test_stop_needs_train_and_test_solved():
    r = _run_perfect(lambda: PerfectClassifier(only_test_quadrant=True), epochs=2, stop_when_solved=True)
    assert r["test"]["accuracy"] == 1.0 and r["train"]["accuracy"] == 0.0
    assert r["solved_at"] is None
    assert r["epochs"] == 2


def test_eval_every_and_stop(monkeypatch):
    thinned_split(monkeypatch)
    r = _run_perfect(PerfectClassifier, epochs=5, eval_every=2)
    assert [p["epoch"] for p in r["curve"]] == [2, 4, 5]  # and always the last epoch
    r = _run_perfect(PerfectClassifier, epochs=5, eval_every=2, stop_when_solved=True)
    assert r["solved_at"] == 2 and r["epochs"] == 2


def test_rendering_targets_are_binary_not_gray():
    """The release stores squares as gray 128 / 255 ~ 0.502, which caps a perfect
    rendering's IOU near 0.5; the book's targets are exactly 0 and 1."""
    t = tasks.task("rendering")
    assert set(torch.unique(t.targets).tolist()) == {0.0, 1.0}
    idx = torch.arange(0, 3136, 97)
    perfect = torch.where(t.targets[idx] > 0, 20.0, -20.0)  # logits of a perfect rendering
    assert t.score(perfect, t.targets[idx])["iou"] == 1.0
    gray = t.targets[idx] * (128 / 255)
    iou_gray = metrics.iou(torch.sigmoid(perfect), gray)
    assert torch.allclose(iou_gray, torch.full_like(iou_gray, 128 / 255), atol=1e-6)


def test_run_release_optimiser(monkeypatch):
    """l2 decays kernels only (biases untouched by it), the schedule sets each epoch's lr, betas default 0.99."""
    thinned_split(monkeypatch)
    seen = {}
    real_adam = torch.optim.Adam

    def spy(params, **kw):
        opt = real_adam(params, **kw)
        seen["groups"] = [(len(g["params"]), g["weight_decay"]) for g in opt.param_groups]
        seen["betas"] = kw["betas"]
        return opt

    monkeypatch.setattr(torch.optim, "Adam", spy)
    from coordlib import training

    r = tasks.run("classification", CoordConvClassifier, "quadrant", seed=0, epochs=3, batch_size=256,
                  lr=5e-3, l2=1e-3, lr_schedule=training.step_schedule(3), progress=False, device="cpu")
    assert seen["betas"] == (0.9, 0.99)
    assert seen["groups"] == [(5, pytest.approx(2e-3)), (5, 0.0)]  # 5 kernels, 5 biases
    assert [p["lr"] for p in r.curve] == pytest.approx([5e-3, 5e-4, 5e-5])
    with pytest.raises(ValueError, match="not both"):
        tasks.run("classification", CoordConvClassifier, "quadrant", seed=0, epochs=1, batch_size=256,
                  lr=5e-3, l2=1e-3, weight_decay=1e-3, progress=False, device="cpu")


def test_run_reuses_its_last_evaluation_and_reports_what_a_fresh_one_gives(monkeypatch):
    """The final measures are the last epoch's evaluation, not a second pass over the data."""
    thinned_split(monkeypatch)
    calls = []
    real = tasks.predict
    monkeypatch.setattr(tasks, "predict", lambda m, x, **kw: calls.append(len(x)) or real(m, x, **kw))
    kw = dict(seed=0, epochs=2, batch_size=256, lr=5e-3, progress=False, device="cpu")
    r = tasks.run("classification", CoordConvClassifier, "quadrant", **kw)
    train_idx, test_idx = datasets.notsoclevr.split("quadrant")
    # two epochs' test passes, then only the train pass the last epoch did not make
    assert calls == [len(test_idx), len(test_idx), len(train_idx)]
    t = tasks.task("classification")
    assert r["test"] == tasks.evaluate(r["model"], t, test_idx)
    assert r["train"] == tasks.evaluate(r["model"], t, train_idx)
    # a solved run's stop check measured both: nothing is evaluated again
    calls.clear()
    s = _run_perfect(PerfectClassifier, stop_when_solved=True)
    assert calls == [len(test_idx), len(train_idx)] and s["train"] == s["test"] == {"accuracy": 1.0}
