"""The paper's three supervised Not-so-Clevr tasks, and one function that trains and scores a model on them.

* ``classification``: ``(x, y)`` -> which of the 4,096 pixels is hot. Softmax
  cross-entropy; measured by accuracy (argmax pixel == target pixel).
* ``rendering``: ``(x, y)`` -> the 9x9 square. Per-pixel sigmoid cross-entropy
  against 0/1 targets (not the release's gray 128); measured by the mean IOU of
  the prediction thresholded at 0.5.
* ``regression``: one-hot image -> ``(x, y) / 64``. Mean squared error, as
  released; measured by the mean Euclidean error in pixels and the accuracy of
  the rounded coordinates (both must be right).
"""


from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from coordlib.book import release
from coordlib.datasets import notsoclevr
from coordlib.metrics import masks
from coordlib.models.notsoclevr import count_parameters
from coordlib.training import ensemble, optim
from coordlib.training.devices import pick_device, to_device
from coordlib.training.loop import fit, seed_everything

__all__ = ["TASKS", "Task", "task", "predict", "evaluate", "run", "run_ensemble", "run_seeds", "RunResult", "numbers"]



@dataclass(frozen=True)
class Task:
    """A task's data, loss and measures. ``inputs``/``targets`` cover all 3,136 examples."""

    name: str
    inputs: torch.Tensor
    targets: torch.Tensor
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    score: Callable[[torch.Tensor, torch.Tensor], dict]  # (outputs, targets) -> measures
    solved: str  # the measure that equals 1.0 when the task is solved


def _classification_loss(logits, target):
    return F.cross_entropy(logits.flatten(1), target)


def _classification_score(logits, target):
    return {"accuracy": (logits.flatten(1).argmax(1) == target).double().mean().item()}


def _rendering_loss(logits, target):
    return F.binary_cross_entropy_with_logits(logits, target)


def _rendering_score(logits, target):
    return {"iou": masks.iou(torch.sigmoid(logits), target, threshold=0.5).mean().item()}


def _regression_loss(pred, target):
    return F.mse_loss(pred, target)


def _regression_score(pred, target):
    pixels, true = pred * notsoclevr.CANVAS, target * notsoclevr.CANVAS
    return {
        "error_px": (pixels - true).norm(dim=1).mean().item(),
        "accuracy": (pixels.round() == true.round()).all(dim=1).double().mean().item(),
    }


TASKS = ("classification", "rendering", "regression")


def task(name: str) -> Task:
    """The :class:`Task` called ``name`` (one of :data:`TASKS`)."""
    ds = notsoclevr.not_so_clevr()
    x, y = ds.centers[:, 0], ds.centers[:, 1]
    if name == "classification":
        return Task(name, ds.centers, y * notsoclevr.CANVAS + x, _classification_loss, _classification_score, "accuracy")
    if name == "rendering":
        return Task(name, ds.centers, ds.squares, _rendering_loss, _rendering_score, "iou")
    if name == "regression":
        return Task(name, ds.onehots[:, None], ds.centers.float() / notsoclevr.CANVAS, _regression_loss, _regression_score,
                    "accuracy")
    raise ValueError(f"unknown task {name!r}; valid tasks are {', '.join(map(repr, TASKS))}")


@torch.no_grad()
def predict(model: nn.Module, inputs: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Model outputs for ``inputs`` in large no-grad batches, on the model's device, returned on the CPU.

    The outputs are gathered on the device and copied back once (one
    synchronisation per call, not one per batch).
    """
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        return torch.cat([model(to_device(inputs[i : i + batch_size], device))
                          for i in range(0, len(inputs), batch_size)]).cpu()
    finally:
        model.train(was_training)


def evaluate(model: nn.Module, t: Task, idx: torch.Tensor) -> dict:
    """Measures of ``model`` on the examples ``idx`` of task ``t``."""
    return t.score(predict(model, t.inputs[idx]), t.targets[idx])


def _indices(split: str, seed: int, train_limit: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(train, test)`` example indices of ``split`` for ``seed``; with ``train_limit``, a seeded
    subset of the training examples (a quick run, as in the smoke profile)."""
    train_idx, test_idx = notsoclevr.split(split, seed=seed)
    if train_limit is not None:
        keep = torch.randperm(len(train_idx), generator=torch.Generator().manual_seed(seed))[:train_limit]
        train_idx = train_idx[keep.sort().values]
    return train_idx, test_idx


def run(
    task_name: str,
    make_model: Callable[[], nn.Module],
    split: str,
    *,
    seed: int,
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float = 0.0,
    l2: float = 0.0,
    lr_schedule: Callable[[int], float] | None = None,
    betas: tuple[float, float] = release.ADAM["betas"],
    eps: float = release.ADAM["eps"],
    stop_when_solved: bool = False,
    solved_on: tuple[str, ...] = ("train", "test"),
    eval_every: int = 1,
    train_limit: int | None = None,
    checkpoint=None,
    device=None,
    progress: bool = True,
) -> "RunResult":
    """Train a fresh ``make_model()`` on one split of one task; return its measures.

    The model is built after seeding, so ``seed`` fixes the initialisation, the
    data order and the split (for the uniform split). Adam with ``lr``,
    ``betas`` (default the release's (0.9, 0.99)) and ``eps``. ``l2`` is the
    release's regularisation, ``l2 * sum(w^2)`` on convolution and linear
    kernels only (:func:`coordlib.training.optim.param_groups`); ``weight_decay`` is
    Adam's own decay on every parameter (biases and BatchNorm too), kept for
    ablations; give one or the other. ``lr_schedule(epoch) -> multiplier``
    (e.g. :func:`coordlib.training.optim.step_schedule`) scales the learning rate per
    epoch; ``None`` keeps it constant.
    ``train_limit`` trains on a seeded subset of that many training examples
    (quick runs). After every ``eval_every`` epochs the test measures are recorded; with
    ``stop_when_solved``, training stops at the first evaluation where every part
    in ``solved_on`` (train and test by default) reaches 1.0 on the task's
    ``solved`` measure (time-to-solution).

    Returns a :class:`RunResult`: the trained ``model`` (in eval mode) and its
    plain numbers ``train``, ``test``, ``params``, ``epochs``, ``train_seconds``,
    ``wall_seconds``, ``solved_at`` (epoch or ``None``) and ``curve``.
    """
    if l2 and weight_decay:
        raise ValueError("give l2 (the release's, kernels only) or weight_decay (Adam's, every parameter), not both")
    t = task(task_name)
    train_idx, test_idx = _indices(split, seed, train_limit)
    seed_everything(seed)
    model = make_model()
    device = pick_device(device)
    model.to(device)
    test_inputs, test_targets = to_device(t.inputs[test_idx], device), t.targets[test_idx]
    # on the device once: fit's batches and the callback's solved check then copy nothing
    train_inputs, train_targets = to_device(t.inputs[train_idx], device), t.targets[train_idx]

    last: dict = {}  # the latest evaluation: the final one is reused, not recomputed

    def callback(epoch: int, m: nn.Module):
        if epoch % eval_every and epoch != epochs:
            return {}
        test = t.score(predict(m, test_inputs), test_targets)
        last.clear()
        last.update(epoch=epoch, test=test)
        out = {f"test_{k}": v for k, v in test.items()}
        if stop_when_solved and ("test" not in solved_on or test[t.solved] == 1.0):
            if "train" in solved_on:
                last["train"] = t.score(predict(m, train_inputs), train_targets)
            out["stop"] = "train" not in solved_on or last["train"][t.solved] == 1.0
        return out

    tic = time.perf_counter()
    history = fit(
        model, train_inputs, train_targets, t.loss,
        epochs=epochs, batch_size=batch_size, seed=seed, device=device,
        optimizer=lambda p: (
            optim.adam(model, lr, l2, betas=betas, eps=eps) if not weight_decay
            else torch.optim.Adam(p, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
        ),
        schedule=lr_schedule, callback=callback, checkpoint=checkpoint, progress=progress, desc=f"{task_name}/{split}/seed {seed}",
    )
    wall = time.perf_counter() - tic
    # The model has not changed since the last epoch's evaluation (same batches, same numbers).
    final = last if history.epochs and last.get("epoch") == history.epochs[-1]["epoch"] else {}
    return RunResult(
        model=model,
        train=final["train"] if "train" in final else evaluate(model, t, train_idx),
        test=final["test"] if "test" in final else evaluate(model, t, test_idx),
        params=count_parameters(model),
        epochs=len(history.epochs),
        train_seconds=history.last.get("seconds", 0.0),
        wall_seconds=wall,
        solved_at=len(history.epochs) if history.stopped_early else None,
        curve=[e for e in history.epochs if any(k.startswith("test_") for k in e)],
    )


def run_ensemble(
    task_name: str,
    make_model: Callable[[], nn.Module],
    split: str,
    *,
    seeds: Sequence[int],
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float = 0.0,
    l2: float = 0.0,
    lr_schedule: Callable[[int], float] | None = None,
    betas: tuple[float, float] = release.ADAM["betas"],
    eps: float = release.ADAM["eps"],
    stop_when_solved: bool = False,
    solved_on: tuple[str, ...] = ("train", "test"),
    eval_every: int = 1,
    train_limit: int | None = None,
    checkpoint=None,
    device=None,
    progress: bool = True,
) -> list["RunResult"]:
    """:func:`run` for several seeds at once, trained as one batched model (:mod:`coordlib.training.ensemble`).

    Same arguments as :func:`run`, with ``seeds`` (distinct) for ``seed``;
    returns one :class:`RunResult` per seed, in order, equal to
    ``run(..., seed=s)`` up to float rounding: the same split, training subset,
    initial weights, batch order, Adam and L2, schedule, evaluations and
    stopping rule per seed. A member that solves the task (``stop_when_solved``)
    leaves the ensemble; the others go on. Two differences: ``train_seconds``
    (and each curve's ``seconds``) are the ensemble's training time, shared by
    its members, and ``wall_seconds`` the ensemble's wall time; ``checkpoint``
    is not supported (``None`` only). Every seed's split must have the same
    number of training and test examples (true of both splits).
    """
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("run_ensemble needs at least one seed, got none")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"run_ensemble seeds must be distinct, got {seeds}")
    if checkpoint is not None:
        raise ValueError("run_ensemble does not checkpoint; train resumable runs one by one with run(checkpoint=...)")
    if l2 and weight_decay:
        raise ValueError("give l2 (the release's, kernels only) or weight_decay (Adam's, every parameter), not both")
    if eval_every < 1:
        raise ValueError(f"eval_every must be >= 1, got {eval_every}")
    t = task(task_name)
    device = pick_device(device)
    splits, models = [], []
    for seed in seeds:  # exactly as run() does, seed by seed
        train_idx, test_idx = _indices(split, seed, train_limit)
        seed_everything(seed)
        models.append(make_model().to(device))
        splits.append((train_idx, test_idx))
    if len({(len(a), len(b)) for a, b in splits}) != 1:
        raise ValueError(f"every seed's split must have the same sizes, got {[(len(a), len(b)) for a, b in splits]}")
    train_index = torch.stack([a for a, _ in splits])  # (M, n_train) into the task's examples
    test_index = torch.stack([b for _, b in splits])
    inputs = to_device(t.inputs, device)
    dev_train, dev_test = train_index.to(device), test_index.to(device)
    ens = ensemble.Ensemble(models)

    def callback(epoch: int, e: ensemble.Ensemble) -> list[dict]:
        rows = e.members
        if epoch % eval_every and epoch != epochs:
            return [{} for _ in rows]
        outs = e.predict(inputs, dev_test[rows])
        tests = [t.score(outs[r], t.targets[test_index[m]]) for r, m in enumerate(rows)]
        out = [{f"test_{k}": v for k, v in s.items()} for s in tests]
        if stop_when_solved:
            ready = [r for r, s in enumerate(tests) if "test" not in solved_on or s[t.solved] == 1.0]
            train_outs = e.predict(inputs, dev_train[rows]) if ready and "train" in solved_on else None
            for r in ready:
                out[r]["stop"] = train_outs is None or (
                    t.score(train_outs[r], t.targets[train_index[rows[r]]])[t.solved] == 1.0)
        return out

    tic = time.perf_counter()
    trained = ensemble.fit(
        ens, inputs, t.targets, train_index, t.loss, seeds=seeds, epochs=epochs, batch_size=batch_size,
        optimizer=lambda e: ensemble.adam(e, lr, l2, weight_decay=weight_decay, betas=betas, eps=eps),
        schedule=lr_schedule, callback=callback, progress=progress, desc=f"{task_name}/{split}/seeds {seeds}",
    )
    wall = time.perf_counter() - tic
    results = []
    for model, done, (train_idx, test_idx) in zip(models, trained, splits):
        model.load_state_dict(done.state)
        model.eval()
        history = done.history
        results.append(RunResult(
            model=model,
            train=evaluate(model, t, train_idx),
            test=evaluate(model, t, test_idx),
            params=count_parameters(model),
            epochs=len(history.epochs),
            train_seconds=history.last.get("seconds", 0.0),
            wall_seconds=wall,
            solved_at=len(history.epochs) if history.stopped_early else None,
            curve=[r for r in history.epochs if any(k.startswith("test_") for k in r)],
        ))
    return results



def run_seeds(
    task_name: str,
    make_model: Callable[[], nn.Module],
    split: str,
    *,
    seeds: Sequence[int],
    ensemble: bool = False,
    **kwargs,
) -> list["RunResult"]:
    """One :class:`RunResult` per seed, in order: :func:`run` seed by seed, or one :func:`run_ensemble`.

    ``ensemble=True`` trains the seeds as one batched model (a profile's ``"ensemble"`` setting: a GPU
    spends a tiny model's step in Python either way, so M members cost about one); the results equal
    the single runs up to float rounding, but their ``train_seconds`` are the ensemble's, shared.
    ``kwargs`` go to both unchanged. No seeds gives an empty list.
    """
    seeds = [int(s) for s in seeds]
    if not seeds:
        return []
    if ensemble:
        return run_ensemble(task_name, make_model, split, seeds=seeds, **kwargs)
    return [run(task_name, make_model, split, seed=s, **kwargs) for s in seeds]


@dataclass
class RunResult:
    """One training run of :func:`run`: the trained model and its plain numbers.

    ``train``/``test`` map a measure name to its value; ``curve`` lists
    ``{"epoch", "loss", "seconds", "test_<measure>"}`` per evaluated epoch.
    Item access (``result["test"]``) reads the fields, so a result reads like
    the dict it serialises to.
    """

    model: nn.Module = field(repr=False)
    train: dict
    test: dict
    params: int
    epochs: int
    train_seconds: float
    wall_seconds: float
    solved_at: int | None
    curve: list = field(default_factory=list, repr=False)

    def __getitem__(self, key: str):
        if key not in self.__dataclass_fields__:
            raise KeyError(f"a run result has no {key!r}; fields: {', '.join(self.__dataclass_fields__)}")
        return getattr(self, key)

    def numbers(self, curve: bool = True) -> dict:
        """Everything but the model, as JSON-ready values (``curve=False`` drops the learning curve)."""
        out = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "model"}
        if not curve:
            out.pop("curve")
        return out

    def as_dict(self) -> dict:
        return self.numbers()


def numbers(result) -> dict:
    """``result`` of :func:`run` (or its dict form) without the model: what goes into results JSON."""
    if isinstance(result, RunResult):
        return result.numbers()
    return {k: v for k, v in result.items() if k != "model"}
