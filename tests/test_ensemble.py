"""Batched ensembles (coordlib.training.ensemble, tasks.run_ensemble) equal their runs trained one by one.

Each member of an ensemble must end where its single run ends: same initial
weights, same batches, same Adam (with the release's L2 on kernels), same
BatchNorm statistics, to float tolerance. Parameters with a zero gradient in
exact arithmetic (a bias right before BatchNorm; the running mean that follows
it) are rounding noise amplified by Adam in both ways of training, so they are
compared only where the test can tell noise from signal (see the module
docstring of coordlib.training.ensemble). Runs are tiny: a few dozen training examples
and a thinned test split.
"""

import pytest
import torch
from torch import nn

from coordlib import datasets, models, training
from coordlib.book import tasks

THIN = 40  # keep every THIN-th test index: evaluation stays cheap


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    yield


@pytest.fixture
def thin(monkeypatch):
    real = datasets.notsoclevr.split

    def split(name, seed=0):
        train_idx, test_idx = real(name, seed=seed)
        return train_idx, test_idx[::THIN]

    monkeypatch.setattr(datasets.notsoclevr, "split", split)  # tasks looks it up as datasets.notsoclevr.split


def null_biases(model: nn.Module) -> set[str]:
    """Names of biases of convolutions directly followed by BatchNorm, and of the running means after them."""
    leaves = [(n, m) for n, m in model.named_modules() if not list(m.children())]
    out = set()
    for (name, m), (next_name, nxt) in zip(leaves, leaves[1:]):
        if isinstance(m, nn.modules.conv._ConvNd) and isinstance(nxt, nn.modules.batchnorm._BatchNorm):
            out |= {f"{name}.bias", f"{next_name}.running_mean"}
    return out


def assert_same_runs(ens_results, single_results, skip=(), atol=1e-5, rtol=1e-4):
    for a, b in zip(ens_results, single_results, strict=True):
        assert set(a.numbers()) == set(b.numbers())
        assert a.params == b.params and a.epochs == b.epochs and a.solved_at == b.solved_at
        sa, sb = a.model.state_dict(), b.model.state_dict()
        assert sa.keys() == sb.keys()
        for k in sb:
            if k not in skip:
                torch.testing.assert_close(sa[k], sb[k], atol=atol, rtol=rtol, msg=lambda m, k=k: f"{k}: {m}")
        assert [set(r) for r in a.curve] == [set(r) for r in b.curve]
        for ra, rb in zip(a.curve, b.curve):
            assert ra["epoch"] == rb["epoch"]
            assert ra["loss"] == pytest.approx(rb["loss"], rel=1e-5)
            assert ra.get("lr") == rb.get("lr")


def test_ensemble_equals_runs_without_batchnorm(thin):
    kw = {"epochs": 2, "batch_size": 16, "lr": 1e-3, "l2": 1e-3, "train_limit": 32,
          "lr_schedule": training.step_schedule(2)}
    make = lambda: models.ConvRegressor()
    ens = tasks.run_ensemble("regression", make, "uniform", seeds=[3, 4], progress=False, **kw)
    single = [tasks.run("regression", make, "uniform", seed=s, progress=False, **kw) for s in (3, 4)]
    assert null_biases(make()) == set()
    assert_same_runs(ens, single)
    for a, b in zip(ens, single):  # no null directions: the measures agree too
        assert a.test["error_px"] == pytest.approx(b.test["error_px"], rel=1e-4)
        assert a.train["error_px"] == pytest.approx(b.train["error_px"], rel=1e-4)
        assert a.test["accuracy"] == b.test["accuracy"]
    # the seeds differ (split, subset, initialisation): members are not copies of one another
    assert not torch.equal(ens[0].model.head[1].weight, ens[1].model.head[1].weight)


def test_ensemble_equals_runs_with_batchnorm(thin):
    kw = {"epochs": 2, "batch_size": 16, "lr": 1e-3, "l2": 1e-3, "train_limit": 32, "eval_every": 2}
    make = lambda: models.ConvRegressorQuadrant()
    ens = tasks.run_ensemble("regression", make, "quadrant", seeds=[0, 1, 2], progress=False, **kw)
    single = [tasks.run("regression", make, "quadrant", seed=s, progress=False, **kw) for s in (0, 1, 2)]
    skip = null_biases(make())
    assert len(skip) == 2  # one conv feeds BatchNorm directly; the other BatchNorm follows a ReLU
    assert_same_runs(ens, single, skip=skip)
    for a, b in zip(ens, single):  # every member's own running statistics were updated, 2 x 2 batches
        assert int(a.model.state_dict()["net.4.num_batches_tracked"]) == 4
        assert not torch.equal(a.model.net[4].running_var, torch.ones_like(a.model.net[4].running_var))
        assert [r["epoch"] for r in a.curve] == [2]


def test_deconv_batchnorm_outputs_in_training_mode(thin):
    """DeconvNet (BatchNorm after every layer, softmax over pixels): losses and centred logits agree."""
    kw = {"epochs": 1, "batch_size": 8, "lr": 1e-2, "l2": 1e-3, "train_limit": 16}
    make = lambda: models.DeconvNet()
    ens = tasks.run_ensemble("classification", make, "uniform", seeds=[0, 1], progress=False, **kw)
    single = [tasks.run("classification", make, "uniform", seed=s, progress=False, **kw) for s in (0, 1)]
    skip = null_biases(make()) | {"net.15.bias"}  # the softmax ignores the last bias, a constant shift
    assert_same_runs(ens, single, skip=skip, atol=1e-4)
    x = tasks.task("classification").inputs[:64]
    for a, b in zip(ens, single):
        a.model.train(), b.model.train()
        with torch.no_grad():
            la, lb = a.model(x), b.model(x)
        centre = lambda v: v - v.mean(dim=(1, 2), keepdim=True)
        torch.testing.assert_close(centre(la), centre(lb), atol=1e-3, rtol=1e-4)


# ----------------------------------------------------------------------------- the parts


class TinyBN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.relu = nn.ReLU()
        self.bn = nn.BatchNorm2d(4)
        self.head = nn.Linear(4 * 6 * 6, 2)

    def forward(self, x):
        return self.head(self.bn(self.relu(self.conv(x))).flatten(1))


def tiny_models(seeds):
    out = []
    for s in seeds:
        torch.manual_seed(s)
        out.append(TinyBN())
    return out


def test_adam_on_stacks_is_torch_adam_per_member():
    """Same gradients in, bit-identical parameters out, with the release's L2 on kernels only."""
    singles = tiny_models([0, 1, 2])
    ens = training.Ensemble(singles)
    opt = training.ensemble.adam(ens, 1e-2, l2=0.5)
    opts = [training.adam(m, 1e-2, l2=0.5) for m in singles]
    assert [g["weight_decay"] for g in opt.param_groups] == [g["weight_decay"] for g in opts[0].param_groups]
    g = torch.Generator().manual_seed(0)
    for _ in range(3):
        grads = {k: torch.randn(v.shape, generator=g) for k, v in ens.params.items()}
        for k, v in ens.params.items():
            v.grad = grads[k].clone()
        opt.step()
        for m, (model, o) in enumerate(zip(singles, opts)):
            for k, p in model.named_parameters():
                p.grad = grads[k][m].clone()
            o.step()
    for m, model in enumerate(singles):
        for k, p in model.named_parameters():
            assert torch.equal(ens.params[k][m], p.detach()), k


def _synthetic(n=24):
    g = torch.Generator().manual_seed(7)
    return torch.randn(n, 1, 6, 6, generator=g), torch.randn(n, 2, generator=g)


def test_fit_equals_train_fit_and_members_leave_with_their_adam_state():
    """Member 1 stops after epoch 1 and leaves; member 0 goes on to 4 epochs, as in its own training.fit."""
    x, y = _synthetic()
    seeds = [5, 9]
    indices = torch.stack([torch.arange(0, 20), torch.arange(4, 24)])  # each member its own 20 examples
    stop_at = {5: None, 9: 1}
    ens = training.Ensemble(tiny_models(seeds))

    def callback(epoch, e):
        return [{"test_x": float(epoch), "stop": stop_at[seeds[m]] == epoch} for m in e.members]

    trained = training.ensemble.fit(ens, x, y, indices, nn.functional.mse_loss, seeds=seeds, epochs=4, batch_size=8,
                           optimizer=lambda e: training.ensemble.adam(e, 1e-2, 1e-3), schedule=training.step_schedule(4),
                           callback=callback, progress=False)
    assert ens.members == [0]
    for m, (seed, model) in enumerate(zip(seeds, tiny_models(seeds))):
        history = training.fit(model, x[indices[m]], y[indices[m]], nn.functional.mse_loss, epochs=4, batch_size=8,
                            seed=seed, optimizer=lambda p, model=model: training.adam(model, 1e-2, 1e-3),
                            schedule=training.step_schedule(4), progress=False,
                            callback=lambda epoch, _m, seed=seed: {"test_x": float(epoch),
                                                                   "stop": stop_at[seed] == epoch})
        got = trained[m]
        assert got.history.stopped_early == history.stopped_early == (seed == 9)
        assert [r["epoch"] for r in got.history.epochs] == [r["epoch"] for r in history.epochs]
        assert [r["loss"] for r in got.history.epochs] == pytest.approx([r["loss"] for r in history.epochs],
                                                                        rel=1e-5)
        assert [r["lr"] for r in got.history.epochs] == [r["lr"] for r in history.epochs]
        for k, v in model.state_dict().items():
            torch.testing.assert_close(got.state[k], v, atol=1e-5, rtol=1e-4, msg=lambda s, k=k: f"{k}: {s}")


def test_batchnorm_buffers_are_per_member():
    """One training-mode forward updates each member's running statistics from its own batch only."""
    singles = tiny_models([0, 1])
    ens = training.Ensemble(singles)
    x, _ = _synthetic(16)
    xb = torch.stack([x[:8], 3 * x[8:] + 1])
    out = ens.forward(xb, train=True)
    for m, model in enumerate(singles):
        model.train()
        torch.testing.assert_close(out[m], model(xb[m]), atol=1e-6, rtol=1e-5)
        for k, v in model.named_buffers():
            torch.testing.assert_close(ens.buffers[k][m], v, atol=1e-6, rtol=1e-5)
    assert not torch.allclose(ens.buffers["bn.running_var"][0], ens.buffers["bn.running_var"][1])
    before = {k: v.clone() for k, v in ens.buffers.items()}
    ens.predict(xb)  # eval mode: nothing changes
    assert all(torch.equal(before[k], v) for k, v in ens.buffers.items())


class VmapPerfect(nn.Module):
    """The exact answer of the classification task, written with vmap-friendly ops (nothing to learn)."""

    def __init__(self):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, coords):
        grid = torch.arange(64.0)
        x, y = coords[:, :1, None].float(), coords[:, 1:, None].float()
        return -((grid[None, None, :] - x) ** 2 + (grid[None, :, None] - y) ** 2) + 0.0 * self.dummy


def test_run_ensemble_stops_when_solved_like_run(thin):
    kw = {"epochs": 3, "batch_size": 64, "lr": 1e-3, "train_limit": 64, "stop_when_solved": True}
    ens = tasks.run_ensemble("classification", VmapPerfect, "quadrant", seeds=[0, 1], progress=False, **kw)
    single = [tasks.run("classification", VmapPerfect, "quadrant", seed=s, progress=False, **kw) for s in (0, 1)]
    for a, b in zip(ens, single):
        assert a.solved_at == b.solved_at == 1 and a.epochs == 1
        assert a.test == b.test == {"accuracy": 1.0} and a.train == b.train


def test_hot_loop_reads_and_moves_nothing_per_batch(monkeypatch):
    """training.ensemble.fit, like training.fit: per epoch one read (the losses) and one move (the orders), whatever the batches."""
    from test_train import Transfers

    counts = []
    for n in (16, 64):
        x, y = _synthetic(n)
        ens = training.Ensemble(tiny_models([0, 1]))
        indices = torch.stack([torch.arange(n), torch.arange(n).flip(0)])
        with Transfers(monkeypatch) as seen:
            training.ensemble.fit(ens, x, y, indices, nn.functional.mse_loss, seeds=[0, 1], epochs=3, batch_size=4,
                         optimizer=lambda e: torch.optim.SGD(list(e.params.values()), lr=0.01), progress=False)
        monkeypatch.undo()
        counts.append((seen.reads, seen.moves))
    # reads: the index range check (2) and the losses of each epoch (3, one tolist);
    # moves: inputs, targets and indices once, then the orders once per epoch
    assert counts[0] == counts[1] == (2 + 3, 3 + 3)


# ----------------------------------------------------------------------------- bad input


def test_bad_input_errors(thin):
    make = lambda: models.ConvRegressor()
    kw = {"epochs": 1, "batch_size": 8, "lr": 1e-3, "train_limit": 8, "progress": False}
    with pytest.raises(ValueError, match="at least one seed"):
        tasks.run_ensemble("regression", make, "uniform", seeds=[], **kw)
    with pytest.raises(ValueError, match="distinct"):
        tasks.run_ensemble("regression", make, "uniform", seeds=[1, 1], **kw)
    with pytest.raises(ValueError, match="checkpoint"):
        tasks.run_ensemble("regression", make, "uniform", seeds=[1, 2], checkpoint="x.pt", **kw)
    with pytest.raises(ValueError, match="not both"):
        tasks.run_ensemble("regression", make, "uniform", seeds=[1, 2], l2=1e-3, weight_decay=1e-3, **kw)
    with pytest.raises(ValueError, match="unknown task"):
        tasks.run_ensemble("nope", make, "uniform", seeds=[1, 2], **kw)
    with pytest.raises(ValueError, match="one architecture"):
        training.Ensemble([nn.Linear(2, 3), nn.Linear(2, 4)])
    shared = nn.Linear(2, 2)
    with pytest.raises(ValueError, match="tied"):
        training.Ensemble([nn.Sequential(shared, shared), nn.Sequential(shared, shared)])
    with pytest.raises(ValueError, match="at least one member"):
        training.Ensemble([])
    ens = training.Ensemble(tiny_models([0, 1]))
    with pytest.raises(ValueError, match="2 members first"):
        ens.forward(torch.zeros(3, 4, 1, 6, 6), train=False)
    x, y = _synthetic()
    fit = lambda **kw: training.ensemble.fit(ens, x, y, loss_fn=nn.functional.mse_loss, progress=False,
                                    optimizer=lambda e: training.ensemble.adam(e, 1e-3), **kw)
    with pytest.raises(ValueError, match="one seed per member"):
        fit(indices=torch.zeros(2, 4, dtype=torch.long), seeds=[0], epochs=1, batch_size=2)
    with pytest.raises(ValueError, match="indices must be"):
        fit(indices=torch.zeros(3, 4, dtype=torch.long), seeds=[0, 1], epochs=1, batch_size=2)
    with pytest.raises(ValueError, match="lie in"):
        fit(indices=torch.full((2, 4), 99, dtype=torch.long), seeds=[0, 1], epochs=1, batch_size=2)
    with pytest.raises(ValueError, match="batch_size > 0"):
        fit(indices=torch.zeros(2, 4, dtype=torch.long), seeds=[0, 1], epochs=1, batch_size=0)
    dropout = []
    for s in (0, 1):
        torch.manual_seed(s)
        dropout.append(nn.Sequential(nn.Linear(2, 4), nn.Dropout(0.5)))
    with pytest.raises(ValueError, match="random operations"):
        training.Ensemble(dropout).forward(torch.zeros(2, 3, 2), train=True)


def test_run_seeds_is_run_per_seed_or_one_ensemble(thin):
    kw = {"epochs": 1, "batch_size": 16, "lr": 1e-3, "l2": 1e-3, "train_limit": 32, "progress": False}
    make = lambda: models.ConvRegressor()
    one_by_one = tasks.run_seeds("regression", make, "uniform", seeds=[3, 4], **kw)
    single = [tasks.run("regression", make, "uniform", seed=s, **kw) for s in (3, 4)]
    for a, b in zip(one_by_one, single, strict=True):  # the same code path: bit for bit
        assert a.train == b.train and a.test == b.test
        for k, v in b.model.state_dict().items():
            assert torch.equal(a.model.state_dict()[k], v), k
    together = tasks.run_seeds("regression", make, "uniform", seeds=[3, 4], ensemble=True, **kw)
    assert_same_runs(together, single)
    assert together[0].train_seconds == together[1].train_seconds  # the ensemble's time, shared
    assert tasks.run_seeds("regression", make, "uniform", seeds=[], ensemble=True, **kw) == []
