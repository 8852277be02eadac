"""The training loop: determinism, resume, checkpoint errors, atomic saves, early stop."""

import pytest
import torch
from torch import nn

import coordlib.training.loop as train
from coordlib import training
from coordlib.training import CheckpointError, fit, pick_device


def make_model(init_seed=0):
    torch.manual_seed(init_seed)
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 2))


def make_data(n=48):
    g = torch.Generator().manual_seed(123)
    return torch.randn(n, 6, generator=g), torch.randn(n, 2, generator=g)


def run(model, epochs, seed=0, **kw):
    x, y = make_data()
    return fit(model, x, y, nn.functional.mse_loss, epochs=epochs, batch_size=8, seed=seed,
               lr=1e-2, device="cpu", progress=False, **kw)


def assert_same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


def weights_differ(a, b):
    return any(not torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())


def test_resume_equals_uninterrupted(tmp_path):
    full = make_model()
    h_full = run(full, 4, checkpoint=tmp_path / "a.pt")

    part = make_model()
    h_part = run(part, 2, checkpoint=tmp_path / "b.pt")
    assert len(h_part.epochs) == 2 and h_part.resumed_from == 0
    assert weights_differ(part, full)

    resumed = make_model()  # fresh instance, same init seed
    h_res = run(resumed, 4, checkpoint=tmp_path / "b.pt")
    assert h_res.resumed_from == 2
    assert h_res["epoch"] == [1, 2, 3, 4]
    assert h_res["loss"] == h_full["loss"]
    assert_same_weights(resumed, full)
    # the checkpoint now holds 4 epochs
    assert training.load_checkpoint(tmp_path / "b.pt")["epoch"] == 4


def test_full_checkpoint_loads_without_training(tmp_path, monkeypatch):
    ckpt = tmp_path / "c.pt"
    trained = make_model()
    h = run(trained, 3, checkpoint=ckpt)
    before = ckpt.read_bytes()

    fresh = make_model(init_seed=99)
    assert weights_differ(fresh, trained)

    def no_training(*a, **k):
        raise AssertionError("loss_fn called: fit trained instead of loading")

    x, y = make_data()
    h2 = fit(fresh, x, y, no_training, epochs=3, batch_size=8, seed=0, device="cpu",
             progress=False, checkpoint=ckpt)
    assert h2.resumed_from == 3
    assert h2["loss"] == h["loss"]
    assert_same_weights(fresh, trained)
    assert not fresh.training
    assert ckpt.read_bytes() == before


def _valid_checkpoint(tmp_path):
    ckpt = tmp_path / "v.pt"
    run(make_model(), 1, checkpoint=ckpt)
    return ckpt


def test_truncated_checkpoint_raises_with_path(tmp_path):
    ckpt = _valid_checkpoint(tmp_path)
    raw = ckpt.read_bytes()
    ckpt.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(CheckpointError) as err:
        run(make_model(), 2, checkpoint=ckpt)
    assert str(ckpt) in str(err.value)


def test_garbage_checkpoint_raises_with_path(tmp_path):
    ckpt = tmp_path / "junk.pt"
    ckpt.write_bytes(b"this is not a checkpoint \x00\x01\x02" * 20)
    with pytest.raises(CheckpointError) as err:
        run(make_model(), 2, checkpoint=ckpt)
    assert str(ckpt) in str(err.value)


def test_foreign_torch_file_raises(tmp_path):
    ckpt = tmp_path / "foreign.pt"
    torch.save({"model": make_model().state_dict()}, ckpt)
    with pytest.raises(CheckpointError) as err:
        run(make_model(), 2, checkpoint=ckpt)
    assert str(ckpt) in str(err.value)


def test_missing_checkpoint_file_trains_from_scratch(tmp_path):
    ckpt = tmp_path / "sub" / "new.pt"
    h = run(make_model(), 2, checkpoint=ckpt)
    assert h.resumed_from == 0 and len(h.epochs) == 2
    assert ckpt.is_file()
    with pytest.raises(FileNotFoundError):
        training.load_checkpoint(tmp_path / "absent.pt")


def test_failed_save_keeps_previous_checkpoint(tmp_path, monkeypatch):
    ckpt = _valid_checkpoint(tmp_path)
    before = ckpt.read_bytes()

    def broken_save(obj, f, *a, **k):
        f.write(b"PK\x03\x04 partial bytes")
        raise OSError("disk full")

    monkeypatch.setattr(train.torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        run(make_model(), 3, checkpoint=ckpt)
    assert ckpt.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [ckpt.name]
    monkeypatch.undo()
    assert training.load_checkpoint(ckpt)["epoch"] == 1


def test_callback_stop_ends_training(tmp_path):
    calls = []

    def callback(epoch, model):
        calls.append((epoch, model.training, torch.is_grad_enabled()))
        return {"stop": True, "acc": 1.0} if epoch == 2 else {"acc": epoch / 10}

    ckpt = tmp_path / "s.pt"
    h = run(make_model(), 6, callback=callback, checkpoint=ckpt)
    assert h.stopped_early
    assert h["epoch"] == [1, 2]
    assert h["acc"] == [0.1, 1.0]
    assert [c[0] for c in calls] == [1, 2]
    assert all(not training and not grad for _, training, grad in calls)  # eval mode, no_grad
    s = h["seconds"]
    assert s[0] >= 0 and all(b >= a for a, b in zip(s, s[1:]))
    # the stopped run was checkpointed at its last epoch and is not continued
    assert training.load_checkpoint(ckpt)["epoch"] == 2
    h2 = run(make_model(), 6, callback=callback, checkpoint=ckpt)
    assert h2.stopped_early and h2.resumed_from == 2 and h2["epoch"] == [1, 2]
    assert [c[0] for c in calls] == [1, 2]


def test_model_in_eval_mode_after_loading_stopped_checkpoint(tmp_path):
    """fit returns the model in eval mode on every path (training, loading a
    finished checkpoint), so it should also after loading a stopped-early one."""
    ckpt = tmp_path / "s.pt"
    run(make_model(), 6, callback=lambda e, m: {"stop": True}, checkpoint=ckpt)
    loaded = make_model()
    assert loaded.training
    h = run(loaded, 6, checkpoint=ckpt)
    assert h.stopped_early
    assert not loaded.training


def test_callback_none_result_is_allowed():
    h = run(make_model(), 2, callback=lambda e, m: None)
    assert not h.stopped_early and h["epoch"] == [1, 2]


def test_seed_mismatch_on_resume(tmp_path):
    ckpt = tmp_path / "m.pt"
    run(make_model(), 1, seed=0, checkpoint=ckpt)
    with pytest.raises(CheckpointError, match="seed"):
        run(make_model(), 2, seed=1, checkpoint=ckpt)


def test_length_mismatch_and_bad_arguments():
    x, y = make_data()
    with pytest.raises(ValueError):
        fit(make_model(), x, y[:-1], nn.functional.mse_loss, epochs=1, batch_size=8, device="cpu", progress=False)
    with pytest.raises(ValueError):
        fit(make_model(), x, y, nn.functional.mse_loss, epochs=1, batch_size=0, device="cpu", progress=False)
    with pytest.raises(ValueError):
        fit(make_model(), x, y, nn.functional.mse_loss, epochs=-1, batch_size=8, device="cpu", progress=False)


def test_pick_device(monkeypatch):
    monkeypatch.delenv(training.devices.DEVICE_ENV, raising=False)
    assert pick_device("cpu") == torch.device("cpu")
    d = pick_device()
    assert isinstance(d, torch.device)
    assert d.type in {"cuda", "mps", "cpu"}
    assert (d.type == "cuda") == torch.cuda.is_available()
    assert pick_device("auto") == d


def fake_gpus(monkeypatch, count):
    """A machine with ``count`` CUDA devices, as far as device selection can tell (no MPS)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


def test_pick_device_env_forces_a_device(monkeypatch):
    fake_gpus(monkeypatch, 2)
    monkeypatch.delenv(training.devices.DEVICE_ENV, raising=False)
    assert pick_device() == torch.device("cuda")
    monkeypatch.setenv(training.devices.DEVICE_ENV, "cpu")
    assert pick_device() == torch.device("cpu")  # forced off the GPU
    monkeypatch.setenv(training.devices.DEVICE_ENV, " cuda:1 ")
    assert pick_device() == torch.device("cuda:1")
    assert pick_device("cpu") == torch.device("cpu")  # an explicit argument wins over the environment
    monkeypatch.setenv(training.devices.DEVICE_ENV, "")
    assert pick_device() == torch.device("cuda")  # empty: unset
    assert training.device_choices() == ["auto", "cpu", "cuda", "cuda:0", "cuda:1"]


@pytest.mark.parametrize("gpus, name", [(0, "cuda"), (0, "mps"), (2, "cuda:2"), (2, "gpu"), (2, "cdua"), (0, "meta")])
def test_pick_device_rejects_unknown_or_missing(monkeypatch, gpus, name):
    fake_gpus(monkeypatch, gpus)
    monkeypatch.setenv(training.devices.DEVICE_ENV, name)
    valid = "auto, cpu" + (", cuda, cuda:0, cuda:1" if gpus else "")
    pattern = f"{name!r} \\(from \\$COORDLIB_DEVICE\\).*valid choices on this machine: {valid}$"
    with pytest.raises(ValueError, match=pattern):
        pick_device()
    monkeypatch.delenv(training.devices.DEVICE_ENV)
    with pytest.raises(ValueError, match="from the device argument"):
        pick_device(name)


def test_to_device_on_the_cpu_is_the_tensor_itself():
    x = torch.arange(6.0)
    assert training.to_device(x, "cpu") is x


def test_deterministic_cpu_changes_nothing(monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    calls = []
    monkeypatch.setattr(torch, "use_deterministic_algorithms", lambda *a, **k: calls.append((a, k)))
    before = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    out = training.deterministic(cuda=False)
    assert calls == [] and "CUBLAS_WORKSPACE_CONFIG" not in __import__("os").environ
    assert (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark) == before
    assert out["cuda"] is False and out["CUBLAS_WORKSPACE_CONFIG"] is None


@pytest.mark.parametrize("preset, expect", [(None, ":4096:8"), (":16:8", ":16:8"), ("junk", ":4096:8")])
def test_deterministic_cuda_settings(monkeypatch, preset, expect):
    import os

    fake_gpus(monkeypatch, 1)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: False)
    if preset is None:
        monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    else:
        monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", preset)
    calls = []
    monkeypatch.setattr(torch, "use_deterministic_algorithms", lambda *a, **k: calls.append((a, k)))
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", False)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", True)
    out = training.deterministic()  # cuda defaults to "available"
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == expect == out["CUBLAS_WORKSPACE_CONFIG"]
    assert calls == [((True,), {"warn_only": True})]
    assert torch.backends.cudnn.deterministic is True and torch.backends.cudnn.benchmark is False
    assert out["cuda"] is True and out["cudnn_deterministic"] and not out["cudnn_benchmark"]
    training.deterministic(cuda=True, warn_only=False)
    assert calls[-1] == ((True,), {"warn_only": False})


def test_deterministic_warns_when_cuda_is_already_up(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    monkeypatch.setattr(torch, "use_deterministic_algorithms", lambda *a, **k: None)
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", False)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    with pytest.warns(UserWarning, match="already initialised"):
        training.deterministic(cuda=True)


class Transfers(torch.utils._python_dispatch.TorchDispatchMode):
    """Counts what would stall the host or cross the bus on a GPU, in code that runs on the CPU.

    ``reads``: values read back from a tensor (``item``, ``float``: the
    dispatcher's ``_local_scalar_dense``; ``tolist``), a synchronisation on a GPU.
    ``moves``: calls of ``Tensor.to`` / ``.cpu`` / ``.cuda`` (counted at the
    Python level, since on the CPU they are no-ops the dispatcher never sees).
    """

    def __init__(self, monkeypatch):
        super().__init__()
        self.reads = self.moves = 0
        for name, kind in (("to", "moves"), ("cpu", "moves"), ("cuda", "moves"), ("tolist", "reads")):
            original = getattr(torch.Tensor, name)

            def counted(t, *args, _original=original, _kind=kind, **kwargs):
                setattr(self, _kind, getattr(self, _kind) + 1)
                return _original(t, *args, **kwargs)

            monkeypatch.setattr(torch.Tensor, name, counted)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func is torch.ops.aten._local_scalar_dense.default:
            self.reads += 1
        return func(*args, **(kwargs or {}))


def test_hot_loop_reads_and_moves_nothing_per_batch(monkeypatch):
    """fit's batch loop keeps everything on the device: per epoch one read (the epoch's loss) and one move
    (the shuffled order), however many batches. SGD, because Adam reads its host-side step counter each step.
    """
    counts = []
    for n in (16, 64):  # 4 and 16 batches per epoch
        g = torch.Generator().manual_seed(0)
        x, y = torch.randn(n, 6, generator=g), torch.randn(n, 2, generator=g)
        model = nn.Linear(6, 2)
        with Transfers(monkeypatch) as seen:
            fit(model, x, y, nn.functional.mse_loss, epochs=3, batch_size=4, device="cpu", progress=False,
                optimizer=lambda p: torch.optim.SGD(p, lr=0.01))
        monkeypatch.undo()
        counts.append((seen.reads, seen.moves))
    # moves: the model's 2 tensors, inputs and targets once, then the order once per epoch
    assert counts[0] == counts[1] == (3, 2 + 2 + 3)


def test_same_seed_same_weights_different_seed_differs():
    a, b, c = make_model(), make_model(), make_model()
    ha = run(a, 3, seed=5)
    hb = run(b, 3, seed=5)
    hc = run(c, 3, seed=6)
    assert_same_weights(a, b)
    assert ha["loss"] == hb["loss"]
    assert weights_differ(a, c)
    assert ha["loss"] != hc["loss"]
    assert all(isinstance(v, float) for v in ha["loss"])
    assert not a.training  # returned in eval mode


def test_training_reduces_loss():
    h = run(make_model(), 8)
    assert h["loss"][-1] < h["loss"][0]


def test_history_accessors():
    h = train.History()
    assert h.last == {} and h["loss"] == []
    h.epochs = [{"epoch": 1, "loss": 2.0}, {"epoch": 2, "loss": 1.0, "acc": 0.5}]
    assert h.last == {"epoch": 2, "loss": 1.0, "acc": 0.5}
    assert h["acc"] == [None, 0.5]


# --- coordlib.training.optim: the release's L2 and step schedule ----------------------------


def _small_model():
    from coordlib.layers import CoordConv2d

    torch.manual_seed(0)
    return torch.nn.Sequential(
        CoordConv2d(1, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
        torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 2),
    )


def test_param_groups_decay_kernels_only():
    from coordlib import training

    model = _small_model()
    groups = training.param_groups(model, 1e-3)
    decay, rest = groups
    assert decay["weight_decay"] == pytest.approx(2e-3) and rest["weight_decay"] == 0.0
    ids = {id(p) for p in decay["params"]}
    assert ids == {id(model[0].weight), id(model[4].weight)}
    for p in (model[0].bias, model[1].weight, model[1].bias, model[4].bias):
        assert id(p) in {id(q) for q in rest["params"]}
    assert len(decay["params"]) + len(rest["params"]) == len(list(model.parameters()))


def test_adam_step_equals_gradient_of_loss_plus_l2():
    """One step with weight_decay = 2*l2 on kernels equals one step on loss + l2*sum(w^2)."""
    import copy

    from coordlib import training

    l2, lr = 1e-2, 1e-2
    a = _small_model()
    b = copy.deepcopy(a)
    x = torch.randn(8, 1, 6, 6, generator=torch.Generator().manual_seed(1))
    y = torch.randn(8, 2, generator=torch.Generator().manual_seed(2))
    for sgd in (True, False):
        m1, m2 = copy.deepcopy(a), copy.deepcopy(b)
        if sgd:
            o1 = torch.optim.SGD(training.param_groups(m1, l2), lr=lr)
            o2 = torch.optim.SGD(m2.parameters(), lr=lr)
        else:
            o1 = training.adam(m1, lr, l2)
            o2 = torch.optim.Adam(m2.parameters(), lr=lr, betas=(0.9, 0.99), eps=1e-8)
        torch.nn.functional.mse_loss(m1(x), y).backward()
        o1.step()
        (torch.nn.functional.mse_loss(m2(x), y) + training.l2_penalty(m2, l2)).backward()
        o2.step()
        for p, q in zip(m1.parameters(), m2.parameters()):
            torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-7)


def test_l2_penalty_is_sum_of_squares_of_kernels():
    from coordlib import training

    model = _small_model()
    want = 0.5 * (model[0].weight.pow(2).sum() + model[4].weight.pow(2).sum())
    torch.testing.assert_close(training.l2_penalty(model, 0.5), want)


def test_step_schedule_release_and_scaled():
    from coordlib import training

    rel = training.step_schedule(1000)  # the release: x0.1 every 200 epochs, at most 4 times
    assert [rel(e) for e in (0, 199, 200, 399, 400, 600, 800, 999)] == pytest.approx(
        [1, 1, 0.1, 0.1, 0.01, 1e-3, 1e-4, 1e-4]
    )
    ten = training.step_schedule(10)
    assert ten.every == 2
    assert [ten(e) for e in range(10)] == pytest.approx([1, 1, 0.1, 0.1, 1e-2, 1e-2, 1e-3, 1e-3, 1e-4, 1e-4])
    assert training.step_schedule(1)(0) == 1.0


def test_fit_applies_the_schedule_per_epoch():
    from coordlib import training

    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    x, y = torch.randn(16, 3), torch.randn(16, 1)
    seen = []
    history = fit(
        model, x, y, torch.nn.functional.mse_loss, epochs=5, batch_size=8, progress=False,
        optimizer=lambda p: torch.optim.Adam(p, lr=0.1), schedule=training.step_schedule(5),
        callback=lambda e, m: seen.append(e) or {},
    )
    assert history["lr"] == pytest.approx([0.1, 0.01, 1e-3, 1e-4, 1e-5])
