"""The ImageNet recipe of the paper's ResNet-50 experiment, as a real training entry point.

Run on one process (CPU or one GPU)::

    python -m coordlib.programs.imagenet --data DIR --arch coord_resnet50 --output runs/coord-seed0

or on many GPUs / machines with ``torchrun`` (one process per GPU)::

    torchrun --nproc_per_node 8 -m coordlib.programs.imagenet --data DIR --arch coord_resnet50 ...

``DIR/train`` and ``DIR/val`` are torchvision ``ImageFolder`` trees (one
subfolder of images per class, the same class folders in both). The recipe is
the standard one (Goyal et al., 2017): SGD with momentum 0.9, weight decay
1e-4 on all parameters, ``lr = 0.1 * global_batch / 256``, divided by 10 at
epochs 30, 60 and 80 of 90 (scaled proportionally for other epoch counts),
optional linear warm-up, RandomResizedCrop + flip for training and
Resize(size * 256 / 224) + CenterCrop for validation.

* ``--batch-size`` is the *global* batch; each of the ``WORLD_SIZE`` processes
  takes ``batch_size / WORLD_SIZE`` images per step.
* Mixed precision (``torch.autocast`` float16 + ``GradScaler``) is used on CUDA
  only, and only with ``--amp`` (the default); the CPU always runs in float32.
* Each epoch rank 0 writes ``OUTPUT/checkpoint.pt`` (model, optimizer,
  scheduler, scaler, epoch, history; atomically, loadable with
  ``torch.load(weights_only=True)``) and rewrites ``OUTPUT/metrics.jsonl``
  (one JSON object per epoch: top-1/top-5 on val, losses, ``world_size`` ...).
* ``--resume`` continues from ``OUTPUT/checkpoint.pt`` at the next epoch; a
  resumed run ends with exactly the weights of an uninterrupted one (same
  device and world size): the sampler, the augmentation RNG and the learning
  rate are all functions of ``(seed, epoch, rank)`` and the command line. The
  schedule of the resuming command applies, so raising ``--epochs`` extends a
  run (its milestones move with it). Without ``--resume`` an existing
  checkpoint is an error, never overwritten.
* A missing or malformed data directory raises :class:`~coordlib.datasets.imagenet.DataDirError` before
  anything is built.

The tests use ``--arch small_resnet`` / ``coord_small_resnet`` (a
:class:`~coordlib.models.resnet.SmallResNet` on RGB) so that a run takes seconds.
"""


from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader

from coordlib._io import atomic_write
from coordlib.datasets.imagenet import DataDirError, build_loaders, check_data_dir
from coordlib.models.resnet import SmallResNet, coord_resnet50, resnet50_baseline
from coordlib.training.checkpoint import check_matches, read_state, write_state

__all__ = ["ARCHS", "build_model", "step_schedule", "train_one_epoch", "evaluate", "parse_args", "main"]

_FORMAT = "coordlib.imagenet/1"  # bump when the checkpoint layout changes
CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.jsonl"
MILESTONES_OF_90 = (30, 60, 80)  # the standard step schedule for 90 epochs

#: ``--arch`` name -> ``num_classes -> model``. The small ones exist for tests and CPU smoke runs.
ARCHS: dict[str, Callable[[int], nn.Module]] = {
    "resnet50": lambda n: resnet50_baseline(n),
    "coord_resnet50": lambda n: coord_resnet50(n),
    "small_resnet": lambda n: SmallResNet(False, n, in_channels=3),
    "coord_small_resnet": lambda n: SmallResNet(True, n, in_channels=3),
}


# ---------------------------------------------------------------------------
# model, schedule, one epoch


def build_model(arch: str, num_classes: int) -> nn.Module:
    """A fresh model of ``arch`` (a key of :data:`ARCHS`) with ``num_classes`` outputs."""
    if arch not in ARCHS:
        raise ValueError(f"unknown arch {arch!r}; expected one of {sorted(ARCHS)}")
    return ARCHS[arch](num_classes)


def scaled_milestones(epochs: int) -> list[int]:
    """Epochs 30, 60, 80 of 90, scaled to ``epochs``; those in ``[1, epochs)``, sorted."""
    return sorted({round(m * epochs / 90) for m in MILESTONES_OF_90} & set(range(1, epochs)))


def step_schedule(epochs: int, warmup_epochs: int = 0) -> Callable[[int], float]:
    """The learning-rate factor of epoch ``e`` (0-based), for :class:`~torch.optim.lr_scheduler.LambdaLR`.

    ``0.1 ** (number of milestones <= e)`` with the milestones of
    :func:`scaled_milestones`, times ``(e + 1) / warmup_epochs`` during the
    first ``warmup_epochs`` epochs (a linear warm-up, stepped per epoch).
    """
    if epochs < 1 or warmup_epochs < 0:
        raise ValueError(f"expected epochs >= 1 and warmup_epochs >= 0, got {epochs} and {warmup_epochs}")
    milestones = scaled_milestones(epochs)

    def factor(epoch: int) -> float:
        f = 0.1 ** sum(epoch >= m for m in milestones)
        if epoch < warmup_epochs:
            f *= (epoch + 1) / warmup_epochs
        return f

    return factor


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def _sum_across_ranks(values: Sequence[float], device: torch.device) -> list[float]:
    """Element-wise sum of ``values`` over all processes (identity on one process)."""
    t = torch.tensor(values, dtype=torch.float64, device=device)
    if _distributed():
        dist.all_reduce(t)
    return t.tolist()


def train_one_epoch(
    model: nn.Module,
    loader: DataLoader,
    criterion: nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler,
    device: torch.device,
    *,
    amp: bool = False,
    max_steps: int | None = None,
    print_freq: int = 0,
    log: Callable[[str], None] | None = None,
) -> dict:
    """One pass over ``loader`` (at most ``max_steps`` steps); the model is left in train mode.

    ``scaler`` is a ``GradScaler`` (disabled unless ``amp``). With ``log`` and
    ``print_freq > 0`` the running loss is reported every ``print_freq`` steps.
    Returns ``{"loss", "images", "steps", "seconds"}``, with ``loss`` the mean
    over every image of every process and ``images`` their total.
    """
    model.train()
    tic = time.perf_counter()
    total_loss = torch.zeros((), dtype=torch.float64, device=device)
    images = steps = 0
    n_steps = len(loader) if max_steps is None else min(len(loader), max_steps)
    for x, y in loader:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=amp):
            loss = criterion(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        total_loss += loss.detach().double() * len(y)
        images += len(y)
        steps += 1
        if log is not None and print_freq > 0 and steps % print_freq == 0:
            log(f"  step {steps}/{n_steps}  loss {float(total_loss) / images:.4f}")
        if steps == n_steps:  # --max-steps: stop before loading another batch
            break
    loss_sum, images_all = _sum_across_ranks([float(total_loss), images], device)
    return {
        "loss": loss_sum / max(images_all, 1),
        "images": int(images_all),
        "steps": steps,
        "seconds": time.perf_counter() - tic,
    }


@torch.no_grad()
def evaluate(
    model: nn.Module, loader: DataLoader, criterion: nn.Module, device: torch.device, *, amp: bool = False
) -> dict:
    """Top-1 / top-5 accuracy and mean loss of ``model`` on ``loader``, summed over all processes.

    Pass the bare module, not its ``DistributedDataParallel`` wrapper: the ranks'
    shards may have different numbers of batches, and DDP's forward would wait
    for the others. With fewer than 5 classes, ``top5`` is top-``num_classes``
    (always 1). Returns ``{"loss", "top1", "top5", "images"}``, accuracies in [0, 1].
    """
    model.eval()
    sums = torch.zeros(4, dtype=torch.float64, device=device)  # loss, top1, top5, images
    for x, y in loader:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=amp):
            logits = model(x)
        logits = logits.float()
        k = min(5, logits.shape[1])
        hit = logits.topk(k, dim=1).indices == y[:, None]  # (B, k); at most one True per row
        sums += torch.stack(
            [
                criterion(logits, y).double() * len(y),
                hit[:, 0].sum().double(),
                hit.any(dim=1).sum().double(),
                torch.tensor(len(y), dtype=torch.float64, device=device),
            ]
        )
    loss, top1, top5, images = _sum_across_ranks(sums.tolist(), device)
    n = max(images, 1)
    return {"loss": loss / n, "top1": top1 / n, "top5": top5 / n, "images": int(images)}


# ---------------------------------------------------------------------------
# command line, process group, checkpoints


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an int >= 1, got {text}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an int >= 0, got {text}")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text}")
    return value


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line (``argv`` without the program name; ``None``: ``sys.argv[1:]``)."""
    p = argparse.ArgumentParser(
        prog="python -m coordlib.programs.imagenet", description="Train a (CoordConv) ResNet-50 on ImageNet."
    )
    p.add_argument("--data", required=True, help="directory holding train/ and val/ ImageFolder trees")
    p.add_argument("--arch", default="coord_resnet50", choices=sorted(ARCHS))
    p.add_argument("--epochs", type=_positive_int, default=90)
    p.add_argument("--batch-size", type=_positive_int, default=256, help="global batch, over all processes")
    p.add_argument("--lr", type=_non_negative_float, default=0.1, help="learning rate for a batch of 256 (scaled)")
    p.add_argument("--momentum", type=_non_negative_float, default=0.9)
    p.add_argument("--weight-decay", type=_non_negative_float, default=1e-4)
    p.add_argument("--warmup-epochs", type=_non_negative_int, default=0, help="linear warm-up (0: none)")
    p.add_argument("--label-smoothing", type=_non_negative_float, default=0.0)
    p.add_argument("--workers", type=_non_negative_int, default=4, help="data-loading processes per rank")
    p.add_argument("--image-size", type=_positive_int, default=224)
    p.add_argument("--output", default=None, help="run directory (default runs/imagenet/ARCH-seedSEED)")
    p.add_argument("--resume", action="store_true", help="continue from OUTPUT/checkpoint.pt if it exists")
    p.add_argument("--seed", type=_non_negative_int, default=0)
    p.add_argument("--amp", action=argparse.BooleanOptionalAction, default=True, help="float16 autocast (CUDA only)")
    p.add_argument("--max-steps", type=_positive_int, default=None, help="cap on steps per epoch (smoke tests)")
    p.add_argument("--print-freq", type=_non_negative_int, default=100, help="steps between log lines (0: none)")
    args = p.parse_args(argv)
    if args.output is None:
        args.output = os.path.join("runs", "imagenet", f"{args.arch}-seed{args.seed}")
    return args


@dataclass
class _Context:
    rank: int
    world_size: int
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0


def _init_distributed() -> _Context:
    """Join the process group when launched by ``torchrun`` (``WORLD_SIZE > 1``); else a single process."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    cuda = torch.cuda.is_available()
    if world_size <= 1:
        return _Context(0, 1, torch.device("cuda" if cuda else "cpu"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if cuda:
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend="nccl" if cuda else "gloo", init_method="env://")
    device = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
    return _Context(dist.get_rank(), dist.get_world_size(), device)


def _epoch_seed(seed: int, epoch: int, rank: int) -> int:
    return (seed * 1_000_003 + epoch * 1_009 + rank) % 2**63


def _grad_scaler(enabled: bool):
    if hasattr(torch, "amp") and hasattr(torch.amp, "GradScaler"):
        return torch.amp.GradScaler("cuda", enabled=enabled)
    return torch.cuda.amp.GradScaler(enabled=enabled)  # torch < 2.3


def _load_checkpoint(path: Path, args: argparse.Namespace, classes: list[str]) -> dict:
    state = read_state(path, _FORMAT, "coordlib ImageNet checkpoint")
    check_matches(state, path, arch=args.arch, seed=args.seed, classes=classes)
    return state


def _write_metrics(path: Path, history: list[dict]) -> None:
    text = "".join(json.dumps(record, sort_keys=True) + "\n" for record in history)
    atomic_write(path, lambda f: f.write(text.encode()))


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def main(argv: Sequence[str] | None = None) -> list[dict]:
    """Train as the command line says; returns the per-epoch metric records (also in ``metrics.jsonl``).

    Callable in-process (``main(["--data", ...])``). The caller's global RNG
    state is left untouched: the run seeds a forked RNG.
    """
    args = parse_args(argv)
    classes = check_data_dir(args.data)  # before any process group, model or output exists
    ctx = _init_distributed()
    try:
        devices = [ctx.device.index or 0] if ctx.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            return _run(args, classes, ctx)
    finally:
        if _distributed():
            dist.destroy_process_group()


def _run(args: argparse.Namespace, classes: list[str], ctx: _Context) -> list[dict]:
    log = print if ctx.main else (lambda *_: None)
    if args.batch_size % ctx.world_size:
        raise ValueError(
            f"--batch-size is the global batch and must be a multiple of the {ctx.world_size} processes, "
            f"got {args.batch_size}"
        )
    cuda = ctx.device.type == "cuda"
    amp = bool(args.amp and cuda)
    if cuda:
        torch.backends.cudnn.benchmark = True
    output = Path(args.output)
    ckpt_path = output / CHECKPOINT
    state = None
    if ckpt_path.exists():
        if not args.resume:
            raise ValueError(f"{ckpt_path} already exists; pass --resume to continue it or choose another --output")
        state = _load_checkpoint(ckpt_path, args, classes)  # refuse a foreign checkpoint before building anything
    elif args.resume:
        log(f"no checkpoint at {ckpt_path}: training from scratch")

    train_loader, val_loader, _ = build_loaders(
        args.data,
        args.image_size,
        args.batch_size // ctx.world_size,
        args.workers,
        rank=ctx.rank,
        world_size=ctx.world_size,
        seed=args.seed,
        pin_memory=cuda,
    )
    torch.manual_seed(args.seed)  # same initial weights on every rank (DDP also broadcasts rank 0's)
    model = build_model(args.arch, len(classes)).to(ctx.device)
    lr = args.lr * args.batch_size / 256
    criterion = nn.CrossEntropyLoss(label_smoothing=args.label_smoothing)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=args.momentum, weight_decay=args.weight_decay)
    schedule = step_schedule(args.epochs, args.warmup_epochs)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    scaler = _grad_scaler(amp)

    history: list[dict] = []
    start = 0
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if state["scaler"] and amp:  # a CPU (disabled) scaler saves {}: nothing to restore
            scaler.load_state_dict(state["scaler"])
        start, history = state["epoch"], list(state["history"])
        # The schedule and hyperparameters of *this* command line apply from here on (so --epochs
        # can be raised to extend a run): the checkpoint gives the position, not the learning rates.
        scheduler.base_lrs = [lr] * len(optimizer.param_groups)
        for group in optimizer.param_groups:
            group["initial_lr"], group["lr"] = lr, lr * schedule(start)
            group["momentum"], group["weight_decay"] = args.momentum, args.weight_decay
        keys = ("epochs", "warmup_epochs", "lr", "batch_size", "momentum", "weight_decay")
        changed = [k for k in keys if state["args"][k] != getattr(args, k)]
        state = None  # free the loaded copy (a ResNet-50 checkpoint holds ~190 MB)
        log(f"resuming {ckpt_path} after epoch {start}"
            + (f" (with new settings: {', '.join('--' + k.replace('_', '-') for k in changed)})"
               if changed else ""))
        if ctx.main:  # metrics.jsonl may lag the checkpoint if a run died between the two writes
            _write_metrics(output / METRICS, history)

    if ctx.world_size > 1:
        model = nn.parallel.DistributedDataParallel(model, device_ids=[ctx.device.index] if cuda else None)
    bare = _unwrap(model)
    n_params = sum(p.numel() for p in bare.parameters())
    log(
        f"{args.arch}: {n_params:,} parameters, {len(classes)} classes, {ctx.world_size} process(es) on "
        f"{ctx.device.type}, global batch {args.batch_size}, lr {lr:g}, amp {amp}, "
        f"train {len(train_loader.dataset)} / val {len(val_loader.dataset.dataset)} images"
    )
    for epoch in range(start, args.epochs):
        tic = time.perf_counter()
        train_loader.sampler.set_epoch(epoch)
        # The augmentations draw from torch's global RNG (data workers are seeded from it):
        # a function of (seed, epoch, rank) makes a resumed epoch repeat the original one.
        torch.manual_seed(_epoch_seed(args.seed, epoch, ctx.rank))
        epoch_lr = optimizer.param_groups[0]["lr"]
        log(f"epoch {epoch + 1}/{args.epochs}  lr {epoch_lr:.4g}")
        train = train_one_epoch(
            model, train_loader, criterion, optimizer, scaler, ctx.device,
            amp=amp, max_steps=args.max_steps, print_freq=args.print_freq, log=log,
        )
        scheduler.step()
        if ctx.world_size > 1:
            # BatchNorm statistics drift apart in each rank's last forward; evaluate rank 0's
            # model (the one checkpointed) on every shard.
            for buffer in bare.buffers():
                dist.broadcast(buffer, 0)
        val = evaluate(bare, val_loader, criterion, ctx.device, amp=amp)
        record = {
            "epoch": epoch + 1,
            "arch": args.arch,
            "seed": args.seed,
            "world_size": ctx.world_size,
            "global_batch": args.batch_size,
            "lr": epoch_lr,
            "device": ctx.device.type,
            "amp": amp,
            "train_loss": train["loss"],
            "train_images": train["images"],
            "train_steps": train["steps"],
            "train_seconds": train["seconds"],
            "val_loss": val["loss"],
            "top1": val["top1"],
            "top5": val["top5"],
            "val_images": val["images"],
            "epoch_seconds": time.perf_counter() - tic,
        }
        history.append(record)
        log(
            f"epoch {epoch + 1}: train loss {train['loss']:.4f}  val loss {val['loss']:.4f}  "
            f"top-1 {val['top1']:.4f}  top-5 {val['top5']:.4f}  ({record['epoch_seconds']:.0f} s)"
        )
        if ctx.main:
            state = {  # tensors and plain types only, for torch.load(weights_only=True)
                "format": _FORMAT,
                "arch": args.arch,
                "seed": args.seed,
                "classes": classes,
                "epoch": epoch + 1,
                "model": bare.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict(),
                "history": history,
                "args": {k: v for k, v in vars(args).items()},
            }
            write_state(ckpt_path, state)
            _write_metrics(output / METRICS, history)
    return history


def _cli() -> int:
    try:
        main()
    except DataDirError as err:  # a usage problem: the message says it all
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(_cli())
