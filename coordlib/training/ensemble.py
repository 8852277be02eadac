"""Batched ensembles: the seeds of one experiment trained as one model.

The models of the Not-so-Clevr chapters are tiny (906 to about 400,000
parameters at batch 16), so one run leaves a GPU nearly idle and spends most of
its time in Python. An :class:`Ensemble` holds ``M`` members of one
architecture as stacked tensors (``torch.func.stack_module_state``: every
parameter and buffer gets a leading member dimension) and runs all of them in
one call, ``vmap`` over ``functional_call``. :func:`fit` trains them together so
that member ``m`` follows exactly the run :func:`coordlib.training.loop.fit` would give
it alone, up to float rounding:

* the same initial weights (the caller builds member ``m`` as the single run
  does, after seeding with its seed);
* the same batches: member ``m`` shuffles every epoch with the generator of
  its own seed, as :func:`coordlib.training.loop.fit` does;
* per-member gradients: the losses of the members are summed before the
  backward pass; member ``m``'s parameters appear in its own loss only, so
  their gradient is exactly the gradient of that loss;
* Adam per member identical to ``torch.optim.Adam``: it *is*
  ``torch.optim.Adam``, run on the stacked tensors. Adam is elementwise and
  all members take their steps together, so each slice is updated exactly as
  the member's own optimiser would update it. The release's L2 on kernels
  (:mod:`coordlib.training.optim`) is the same ``weight_decay = 2 * l2`` group on the
  stacked kernels;
* BatchNorm with per-member running statistics. ``vmap`` cannot update an
  unbatched buffer in place from a batched input, and in-place updates of
  tensors captured from outside a ``vmap`` are easy to get wrong, so the
  forward pass is functional: each call copies the members' buffers, lets the
  modules update the copies (batched, so legal) and returns them; the ensemble
  then stores them. Evaluation runs in eval mode on the running statistics.

Members can leave early (time-to-solution runs): a member whose callback says
``"stop"`` is taken out of the stacks, with its Adam state, and the others go
on unchanged. Random operations (dropout) inside the model are refused: a
member's random stream could not match its single run.

What "equal" means: the losses, the outputs in training mode, the kernels
and BatchNorm's scales agree with the single runs to float rounding. A few
parameters get a zero gradient in exact arithmetic, so their single-run
values are rounding noise amplified by Adam (whose step is about ``lr`` for
any nonzero gradient): the bias of a convolution that BatchNorm follows, and
the last bias of a model whose loss ignores a constant shift (the softmax over
pixels). Batched and single kernels round differently, so these biases (and
the running means that follow them) differ between the two, as they would
between two machines, and so do eval-mode outputs of BatchNorm models, by a
little.

Speed: on a CPU the ensemble is not faster than its members one by one
(``benchmarks/ensemble.py``: 0.5 to 0.95 times their speed on 2 busy cores);
it is meant for GPUs, which one tiny run leaves idle.

Memory layout: some models ask for ``channels_last`` inputs, a speed hint that
``vmap`` cannot honour ("querying is_contiguous inside of vmap"); inside the
ensemble's calls such requests on batched tensors give the default layout,
with the same values.
"""


from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap
from tqdm.auto import tqdm

from coordlib.training import optim
from coordlib.training.devices import to_device
from coordlib.training.loop import History, epoch_seed

__all__ = ["Ensemble", "Trained", "adam", "fit", "step"]


@contextlib.contextmanager
def _vmap_layouts() -> Iterator[None]:
    """Within the block, ``Tensor.contiguous(memory_format=...)`` on a batched tensor keeps the default layout."""
    original = torch.Tensor.contiguous
    is_batched = torch._C._functorch.is_batchedtensor

    def contiguous(self, memory_format=torch.contiguous_format):
        if memory_format is not torch.contiguous_format and is_batched(self):
            return original(self)
        return original(self, memory_format=memory_format)

    torch.Tensor.contiguous = contiguous
    try:
        yield
    finally:
        torch.Tensor.contiguous = original


def _random_error(err: RuntimeError) -> RuntimeError:
    if "randomness" in str(err):
        return ValueError(
            "an ensemble cannot train a model with random operations (dropout, ...): each member's random "
            f"stream could not match its single run; train it with coordlib.training.loop.fit ({err})"
        )
    return err


class Ensemble:
    """``M`` members of one architecture as stacked tensors.

    ``params[name]`` and ``buffers[name]`` have shape ``(M, *shape)``, the member
    dimension first; ``members`` lists which of the original members the rows
    are (it shrinks when members leave, :meth:`keep`). Built from a list of
    modules of identical structure (same parameter and buffer names and
    shapes), on their device.
    """

    def __init__(self, models: Sequence[nn.Module]) -> None:
        models = list(models)
        if not models:
            raise ValueError("an ensemble needs at least one member, got none")
        if not all(isinstance(m, nn.Module) for m in models):
            raise TypeError(f"ensemble members must be nn.Modules, got {[type(m).__name__ for m in models]}")
        first = models[0]
        shapes = {k: (tuple(v.shape), v.dtype, v.device) for k, v in first.state_dict().items()}
        for i, m in enumerate(models[1:], 1):
            other = {k: (tuple(v.shape), v.dtype, v.device) for k, v in m.state_dict().items()}
            if type(m) is not type(first) or other != shapes:
                diff = sorted(set(shapes.items()) ^ set(other.items()), key=str)[:3]
                raise ValueError(
                    f"ensemble members must share one architecture: member {i} ({type(m).__name__}) differs "
                    f"from member 0 ({type(first).__name__}), e.g. {diff}"
                )
        self.base = copy.deepcopy(first).to("meta")  # structure only; the tensors live in the stacks
        params, buffers = stack_module_state(models)
        self.params = {k: v.detach().requires_grad_() for k, v in params.items()}
        self.buffers = {k: v.detach() for k, v in buffers.items()}
        self.kernels = {name for name, _ in optim.decayed(first)}
        self._saved = list(first.state_dict())  # persistent entries: what load_state_dict expects
        tied = [k for k in self._saved if k not in self.params and k not in self.buffers]
        if tied:
            raise ValueError(f"ensembles do not support shared (tied) parameters or buffers, got {tied[:3]}")
        self.members = list(range(len(models)))

    def __len__(self) -> int:
        return len(self.members)

    def forward(self, x: torch.Tensor, train: bool) -> torch.Tensor:
        """``x`` ``(M, B, ...)``, one batch per member -> outputs ``(M, B, ...)``.

        With ``train`` the modules run in training mode and the members' BatchNorm
        statistics are updated (functionally: the updated copies replace
        ``buffers``); otherwise eval mode, nothing is updated.
        """
        if x.shape[0] != len(self):
            raise ValueError(f"expected inputs with {len(self)} members first, got shape {tuple(x.shape)}")
        self.base.train(train)

        def member(params, buffers, xb):
            buffers = {k: v.clone() for k, v in buffers.items()}  # updated in place by BatchNorm, then returned
            return functional_call(self.base, (params, buffers), (xb,)), buffers

        try:
            with _vmap_layouts():
                out, buffers = vmap(member, randomness="error")(self.params, self.buffers, x)
        except RuntimeError as err:
            raise _random_error(err) from err
        if train:
            self.buffers = {k: v.detach() for k, v in buffers.items()}
        return out

    @property
    def device(self) -> torch.device:
        return next(iter(self.params.values())).device

    @torch.no_grad()
    def predict(self, inputs: torch.Tensor, index: torch.Tensor | None = None, batch_size: int = 256) -> torch.Tensor:
        """Eval-mode outputs ``(M, N, ...)``, computed in no-grad chunks of ``batch_size``, on the CPU.

        ``inputs`` is ``(M, N, ...)``, one set per member, or, with ``index``
        ``(M, N)`` int64, examples ``(K, ...)`` shared by all members, member
        ``m`` reading ``inputs[index[m]]`` (no stacked copy of the examples).
        """
        n = inputs.shape[1] if index is None else index.shape[1]
        chunks = []
        for i in range(0, n, batch_size):
            x = inputs[:, i : i + batch_size] if index is None else inputs[index[:, i : i + batch_size]]
            chunks.append(self.forward(x.to(self.device), train=False))
        return torch.cat(chunks, dim=1).cpu()

    def state_dict(self, row: int) -> dict[str, torch.Tensor]:
        """The state dict of the member in row ``row`` (copies), loadable into the original architecture."""
        stacks = {**self.params, **self.buffers}
        return {k: stacks[k][row].detach().clone() for k in self._saved}

    def keep(self, rows: Sequence[int], optimizer: torch.optim.Optimizer) -> dict[torch.Tensor, torch.Tensor]:
        """Keep only the members in ``rows`` (others leave); returns ``{old parameter: new parameter}``.

        The new parameters are fresh leaves; ``optimizer`` is pointed at them, with
        its per-member state (Adam's moments) sliced to the same rows.
        """
        index = torch.as_tensor(list(rows), dtype=torch.long, device=self.device)
        moved = {}
        for k, v in self.params.items():
            self.params[k] = v.detach().index_select(0, index).requires_grad_()
            moved[v] = self.params[k]
        self.buffers = {k: v.index_select(0, index) for k, v in self.buffers.items()}
        self.members = [self.members[r] for r in rows]
        _move_state(optimizer, moved, index)
        return moved


def _move_state(opt: torch.optim.Optimizer, moved: dict, index: torch.Tensor) -> None:
    """Point ``opt`` at the new parameters, slicing their per-member state (``step`` is shared)."""
    for group in opt.param_groups:
        group["params"] = [moved[p] for p in group["params"]]
    state = {}
    for old, new in moved.items():
        if old in opt.state:
            state[new] = {
                k: (v.index_select(0, index) if torch.is_tensor(v) and v.dim() > 0 else v)
                for k, v in opt.state[old].items()
            }
    opt.state.clear()
    opt.state.update(state)


def adam(ens: Ensemble, lr: float, l2: float = 0.0, *, weight_decay: float = 0.0, betas=(0.9, 0.99),
         eps: float = 1e-8) -> torch.optim.Adam:
    """``torch.optim.Adam`` over the stacked parameters, grouped as :func:`coordlib.training.optim.adam` groups one member.

    ``l2``: the release's ``l2 * sum(w^2)`` on kernels (``weight_decay = 2 * l2``
    on the conv and linear weights only); ``weight_decay``: Adam's own decay on
    every parameter. Give one or the other.
    """
    if l2 and weight_decay:
        raise ValueError("give l2 (the release's, kernels only) or weight_decay (Adam's, every parameter), not both")
    if l2 < 0 or weight_decay < 0:
        raise ValueError(f"l2 and weight_decay must be >= 0, got l2={l2}, weight_decay={weight_decay}")
    if weight_decay:
        return torch.optim.Adam(list(ens.params.values()), lr=lr, betas=tuple(betas), eps=eps,
                                weight_decay=weight_decay)
    decay = [v for k, v in ens.params.items() if k in ens.kernels]
    rest = [v for k, v in ens.params.items() if k not in ens.kernels]
    groups = [{"params": decay, "weight_decay": 2.0 * l2}]
    if rest:
        groups.append({"params": rest, "weight_decay": 0.0})
    return torch.optim.Adam(groups, lr=lr, betas=tuple(betas), eps=eps)


def step(ens: Ensemble, opt: torch.optim.Optimizer, loss_fn, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """One training step of every member on its batch: ``x`` ``(M, B, ...)``, ``y`` ``(M, B, ...)``.

    Returns the members' losses ``(M,)`` (detached). The losses are summed
    before the backward pass; each member's parameters appear in its own loss
    only, so they get exactly that loss's gradient.
    """
    losses = vmap(loss_fn)(ens.forward(x, train=True), y)
    opt.zero_grad(set_to_none=True)
    losses.sum().backward()
    opt.step()
    return losses.detach()


@dataclass
class Trained:
    """What :func:`fit` returns for one member: its :class:`~coordlib.training.loop.History` and final state dict."""

    history: History
    state: dict


def fit(
    ens: Ensemble,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    indices: torch.Tensor,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    *,
    seeds: Sequence[int],
    epochs: int,
    batch_size: int,
    optimizer: Callable[[Ensemble], torch.optim.Optimizer],
    schedule: Callable[[int], float] | None = None,
    callback: Callable[[int, Ensemble], Sequence[dict]] | None = None,
    progress: bool = True,
    desc: str = "ensemble",
) -> list[Trained]:
    """Train every member of ``ens`` on its own examples, as :func:`coordlib.training.loop.fit` trains one model.

    Args:
        ens: the members, rows in the order of ``seeds``.
        inputs, targets: ``(N, ...)`` examples shared by all members (e.g. a task's
            3,136), on the ensemble's device or the CPU.
        indices: ``(M, n)`` int64: member ``m`` trains on ``inputs[indices[m]]``,
            in that order before shuffling (its single run's ``train_idx``).
        loss_fn: ``loss_fn(outputs, targets) -> scalar`` for one member's batch.
        seeds: member ``m`` shuffles every epoch with its single run's generator
            (:func:`coordlib.training.loop.fit`'s ``(seed, epoch)`` seeding).
        optimizer: ``ensemble -> Optimizer`` (e.g. ``lambda e: adam(e, lr, l2)``).
        schedule: as in :func:`coordlib.training.loop.fit`, the same for every member.
        callback: ``callback(epoch, ens) -> one mapping per row of ens``, called
            after each epoch under ``no_grad``; recorded in that member's history,
            and a true ``"stop"`` takes the member out (time-to-solution).

    Returns:
        one :class:`Trained` per member, in the order of ``seeds``: its history
        (``"seconds"`` is the ensemble's cumulative training time, which all
        members share) and its final state dict (at its stop, if it stopped).
    """
    seeds = [int(s) for s in seeds]
    if ens.members != list(range(len(seeds))):
        raise ValueError(f"expected one seed per member of a fresh ensemble ({len(ens)} members), got {len(seeds)}")
    if indices.dim() != 2 or indices.shape[0] != len(ens):
        raise ValueError(f"indices must be (members={len(ens)}, n), got shape {tuple(indices.shape)}")
    if len(inputs) != len(targets):
        raise ValueError(f"inputs and targets must have the same length, got {len(inputs)} and {len(targets)}")
    if epochs < 0 or batch_size <= 0:
        raise ValueError(f"expected epochs >= 0 and batch_size > 0, got epochs={epochs}, batch_size={batch_size}")
    if indices.numel() and (int(indices.min()) < 0 or int(indices.max()) >= len(inputs)):
        raise ValueError(f"indices must lie in [0, {len(inputs)}), got [{int(indices.min())}, {int(indices.max())}]")
    device = ens.device
    inputs, targets = inputs.to(device), targets.to(device)
    indices = indices.cpu()
    opt = optimizer(ens)
    base_lrs = [g.get("initial_lr", g["lr"]) for g in opt.param_groups]
    histories = [History() for _ in seeds]
    finished: dict[int, dict] = {}
    n = indices.shape[1]
    elapsed = 0.0
    bar = tqdm(range(epochs), desc=desc, disable=not progress, total=epochs, leave=False)
    for epoch in bar:
        if not len(ens):
            break
        tic = time.perf_counter()
        # (M, n): member m's examples in its single run's order, as indices into inputs
        orders = torch.stack([
            indices[m][torch.randperm(n, generator=torch.Generator().manual_seed(epoch_seed(seeds[m], epoch)))]
            for m in ens.members
        ])
        orders = to_device(orders, device)
        if schedule is not None:
            for g, base in zip(opt.param_groups, base_lrs):
                g["lr"] = base * schedule(epoch)
        total = torch.zeros(len(ens), device=device)
        for begin in range(0, n, batch_size):
            idx = orders[:, begin : begin + batch_size]
            total += step(ens, opt, loss_fn, inputs[idx], targets[idx]) * idx.shape[1]
        elapsed += time.perf_counter() - tic
        per_member = [v / n for v in total.tolist()]  # float(total) / n of each single run
        extra = [{} for _ in ens.members]
        if callback is not None:
            with torch.no_grad():
                extra = [dict(e or {}) for e in callback(epoch + 1, ens)]
            if len(extra) != len(ens):
                raise ValueError(f"callback must return one mapping per member ({len(ens)}), got {len(extra)}")
        stay = []
        for row, (m, loss, more) in enumerate(zip(ens.members, per_member, extra)):
            record = {"epoch": epoch + 1, "loss": loss, "seconds": elapsed}
            if schedule is not None:
                record["lr"] = opt.param_groups[0]["lr"]
            stop = bool(more.pop("stop", False))
            record.update(more)
            histories[m].epochs.append(record)
            if stop:
                histories[m].stopped_early = True
                finished[m] = ens.state_dict(row)
            else:
                stay.append(row)
        if len(stay) < len(ens):
            ens.keep(stay, opt)
        bar.set_postfix(members=len(ens))
    bar.close()
    for row, m in enumerate(ens.members):
        finished[m] = ens.state_dict(row)
    return [Trained(histories[m], finished[m]) for m in range(len(seeds))]
