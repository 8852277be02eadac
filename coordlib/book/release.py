"""The release's settings, as data, each with the file it comes from.

"The release" is the authors' code, uber-research/CoordConv at commit 27fab8b.
Every setting below names its file there; profiles (:mod:`coordlib.book.profiles`)
and chapters read these values instead of typing them again, and
:func:`departures` turns "the release against this profile" into the table a
chapter shows.

Experiments are keyed ``(task, arch)`` with task in ``classification``,
``rendering``, ``regression`` and arch in ``deconv``, ``coordconv``, ``conv``
(the regression task has ``conv_uniform`` and ``conv_quadrant``: the release
builds a different conventional network per split). :data:`SWEEPS` holds the
logged hyperparameter grids of experiment_logs.sh.

Known quirks of the release recorded here: the README labels its two
regression commands the wrong way round (the one marked "coordconv version"
runs ``--arch conv_regressor``); the README's deconv commands run 2,000
epochs at a constant learning rate while the logged sweeps run 1,000 epochs
with a step schedule; as released, the rendering path of train.py does not run.
"""


from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Mapping

__all__ = [
    "COMMIT", "REPO", "cite", "Setting", "ADAM", "STEP_SCHEDULE", "EXPERIMENTS", "SWEEPS", "setting", "values",
    "departures", "fmt_value", "PAPER_EXPERIMENTS",
]

REPO = "uber-research/CoordConv"
COMMIT = "27fab8b"


def cite(file: str) -> str:
    """How the book cites a file of the release: ``release (uber-research/CoordConv @ 27fab8b): <file>``."""
    return f"release ({REPO} @ {COMMIT}): {file}"


@dataclass(frozen=True)
class Setting:
    """One setting of the release: its ``value``, the ``file`` it is read from, and an optional ``note``."""

    value: Any
    file: str
    note: str = ""

    @property
    def source(self) -> str:
        # Settings of experiments the release has no code for name the paper's section instead.
        return self.file if self.file.startswith("paper") else cite(self.file)


# Adam as train.py builds it from util.py's parser defaults.
ADAM = MappingProxyType({"betas": (0.9, 0.99), "eps": 1e-8})
# --lrpolicy step --lrstepratio 0.1 --lrstepevery 200 --lrmaxsteps 4 (deconv sweeps, 1,000 epochs).
STEP_SCHEDULE = MappingProxyType({"ratio": 0.1, "every": 200, "max_steps": 4, "epochs": 1000})

_S = Setting
_COMMON = {
    "optimizer": _S("Adam", "train.py", "--opt adam"),
    "betas": _S(ADAM["betas"], "util.py", "--beta1 0.9, --beta2 0.99 (parser defaults)"),
    "eps": _S(ADAM["eps"], "util.py", "--adameps default"),
    "seeds": _S(1, "util.py", "one run per configuration, --seed 0"),
    "init": _S("he_normal", "model_builders.py", "kernel_initializer=he_normal; biases zero"),
    "l2_on": _S("kernels", "tf_plus/regularizers.py", "l2 * sum(w^2) on kernels; no biases, no BatchNorm"),
}
_DECONV = {
    "lr": _S(0.01, "README.md", "-L 0.01"),
    "l2": _S(1e-3, "README.md", "--l2 0.001"),
    "width": _S(2, "README.md", "-mul 2"),
    "kernel_size": _S(3, "README.md", "-fs 3"),
    "batch_size": _S(16, "README.md", "-mb 16"),
    "epochs": _S(1000, "experiment_logs.sh", "-E 1000 in the logged sweeps (the README runs -E 2000)"),
    "lr_schedule": _S(
        "step", "experiment_logs.sh", "lr x0.1 every 200 epochs, at most 4 times (general/lr_policy.py)"
    ),
    "inputs": _S("pixels", "train.py", "train_locations loaded as int, fed as raw pixel values"),
}
_COORDCONV_PAINTER = {
    "lr": _S(0.005, "README.md", "-L 0.005"),
    "l2": _S(1e-3, "README.md", "--l2 0.001"),
    "width": _S(1, "README.md", "-mul 1"),
    "batch_size": _S(16, "README.md", "-mb 16"),
    "epochs": _S(50, "experiment_logs.sh", "-E 50 in the logged sweep (the README runs -E 100)"),
    "lr_schedule": _S("constant", "train.py", "--lrpolicy default constant"),
    "inputs": _S("pixels", "train.py", "raw pixel values tiled beside AddCoords' [-1, 1] channels"),
}
_REGRESSION = {
    "lr": _S(0.01, "README.md", "--lr 0.01"),
    "l2": _S(1e-5, "README.md", "--l2 0.00001"),
    "batch_size": _S(256, "util.py", "-mb default 256 (no -mb given)"),
    "epochs": _S(100, "README.md", "-E 100"),
    "lr_schedule": _S("constant", "train.py", "--lrpolicy default constant"),
}

_EXPERIMENTS: dict[tuple[str, str], dict[str, Setting]] = {
    ("classification", "deconv"): {**_COMMON, **_DECONV, "model": _S("DeconvPainter", "model_builders.py")},
    ("rendering", "deconv"): {
        **_COMMON, **_DECONV, "model": _S("DeconvPainter", "model_builders.py"),
        "loss": _S("sigmoid", "experiment_logs.sh", "-sig or -mse (the README's command needs one of them)"),
        "targets": _S("gray squares", "train.py", "train_imagegray / 255: the square's gray 128 -> 0.502"),
    },
    ("classification", "coordconv"): {
        **_COMMON, **_COORDCONV_PAINTER, "model": _S("CoordConvPainter", "model_builders.py"),
    },
    ("rendering", "coordconv"): {
        **_COMMON, **_COORDCONV_PAINTER, "model": _S("CoordConvImagePainter", "model_builders.py"),
        "targets": _S("gray squares", "train.py", "train_imagegray / 255: the square's gray 128 -> 0.502"),
    },
    ("regression", "coordconv"): {
        **_COMMON, **_REGRESSION,
        "model": _S("ConvRegressor coordconv_model", "model_builders.py", "906 parameters, no ReLU, global max"),
    },
    ("regression", "conv_uniform"): {
        **_COMMON, **_REGRESSION, "width": _S(1, "experiment_logs.sh", "-mul 1"),
        "model": _S("ConvRegressor big_conv", "model_builders.py"),
        "init_dense": _S("glorot_uniform", "model_builders.py", "Dense layers set no initializer (TF default)"),
    },
    ("regression", "conv_quadrant"): {
        **_COMMON, **_REGRESSION, "width": _S(1, "experiment_logs.sh", "-mul 1"),
        "model": _S("ConvRegressor big_conv2", "model_builders.py", "all-conv, BatchNorm, global average pool"),
    },
    # Detection (chapter 6): no command line was published, so the parser defaults of util.py and
    # train_faster_rcnn.py are the release's settings.
    ("detection", "rpn"): {
        "model": _S("RPN only", "model_builder_faster_rcnn.py", "RegionProposalSampler: no second stage"),
        "optimizer": _S("SGD, momentum 0.9", "util.py", "--opt default sgd, --mom 0.9"),
        "lr": _S(1e-3, "util.py", "--lr default"),
        "l2": _S(0.0, "util.py", "--l2 default"),
        "batch_size": _S(1, "train_faster_rcnn.py", "minibatch_size = 1"),
        "steps": _S(45000, "util.py", "--epochs default 5, x 9,000 training images, one image a step"),
        "train_images": _S(9000, "train_faster_rcnn.py", "field_of_mnist_cropped_64x64_5objs.h5"),
        "val_images": _S(1000, "train_faster_rcnn.py", "field_of_mnist_cropped_64x64_5objs.h5"),
        "seeds": _S(1, "util.py", "--seed 0"),
        "padding": _S("valid", "model_builder_faster_rcnn.py", "filtersame=False unless --same"),
        "anchors": _S("release layout", "utils_faster_rcnn.py",
                      "9 shapes in a (4, K, H, W) array read as (K, 4) per location"),
        "init": _S("he_normal", "model_builder_faster_rcnn.py", "box-regression 1x1 conv zero"),
        "coordinates": _S("[0, 1]", "model_builder_faster_rcnn.py", "its own AddCoords: col / (W - 1), row / (H - 1)"),
        "pixels": _S("binary", "data/field_of_mnist/loader.py", "8-bit digits summed, clipped to 1"),
        "digits": _S("ink box scaled to U(15, 25)", "data/field_of_mnist/loader.py",
                     "real-valued sizes; PIL bilinear"),
        "gt_boxes": _S("5 per image, unclipped", "data/field_of_mnist/loader.py",
                       "boxes partly or wholly outside the crop kept"),
        "clip": _S(False, "train_faster_rcnn.py", "--clip not set"),
        "sampler": _S("IOU > 0.5 / < 0.1, 12 samples", "train_faster_rcnn.py", "BoxSamplerParams"),
        "nms": _S("IOU 0.8, 10 proposals", "train_faster_rcnn.py", "NMSParams"),
        "metric": _S("mean_argmax_nms_iou", "model_builder_faster_rcnn.py"),
    },
}

# Chapter 5: the GANs on Sort-of-CLEVR (README "Generative Tasks": train_gan.py
# --arch clevr_gan / clevr_coordconv_in_gd -mb 16 -E 50 -L 0.0001 --lr2 .0005 --opt adam
# --z_dim 256). -L is the discriminator's learning rate, --lr2 the generator's.
_GAN = {
    "optimizer": _S("Adam", "README.md", "--opt adam"),
    "betas": _S(ADAM["betas"], "util.py", "--beta1 0.9, --beta2 0.99 (parser defaults)"),
    "lr_d": _S(1e-4, "README.md", "-L 0.0001: the discriminator's (train_gan.py: d_opt gets args.lr)"),
    "lr_g": _S(5e-4, "README.md", "--lr2 .0005: the generator's"),
    "updates": _S("1 D + 2 G", "train_gan.py", "one d_train_step, then g_train_step twice, same batch"),
    "batch_size": _S(16, "README.md", "-mb 16"),
    "iterations": _S(156250, "train_gan.py", "-E 50 epochs x 50,000 // 16 iterations"),
    "z_dim": _S(256, "README.md", "--z_dim 256"),
    "latent": _S("uniform", "train_gan.py", "np.random.uniform(-1, 1)"),
    "l2": _S(0.0, "util.py", "--l2 default 0"),
    "seeds": _S(1, "util.py", "one run per configuration, --seed 0"),
    "size": _S(64, "data/sort_of_clevr_generator.py", "img_size = 64"),
    "images": _S(50000, "data/sort_of_clevr_generator.py", "train_size = 50000"),
    "placement": _S("centres >= 2r apart", "data/sort_of_clevr_generator.py",
                    "size = 10; center_generate: blue first, red redrawn until 20 px away; red on top"),
    "width": _S(64, "model_builders.py", "CoordConvGAN: channels 64 x (8, 4, 2, 1)"),
    "batchnorm": _S("momentum 0.9 (TF), eps 1e-5", "model_builders.py",
                    "BatchNormalization(momentum=0.9, epsilon=1e-5); 0.1 in PyTorch's convention"),
    "instance_noise": _S(0.0, "train_gan.py", "none"),
}
_EXPERIMENTS[("gan", "deconv")] = {
    **_GAN, "model": _S("deconv_generator", "model_builders.py", "--arch clevr_gan"),
    "init": _S("glorot_uniform", "model_builders.py", "no kernel_initializer: TF's default"),
    "coordinates": _S("none", "train_gan.py", "clevr_gan: coords_in_g=False, coords_in_d=False"),
    "d_sees": _S("tanh output", "model_builders.py", "the deconv generator ends in Tanh"),
}
_EXPERIMENTS[("gan", "coordconv")] = {
    **_GAN, "model": _S("coordconv_generator", "model_builders.py", "--arch clevr_coordconv_in_gd"),
    "init": _S("he_normal G, glorot_uniform D", "model_builders.py", "G sets he_normal, D sets none"),
    "coordinates": _S("G and D", "train_gan.py", "clevr_coordconv_in_gd: coords_in_g and coords_in_d"),
    "d_sees": _S("pre-tanh output", "model_builders.py",
                 "CoordConvGAN.call feeds D g_out; Tanh(g_out) is only shown (probably a bug)"),
    "generator_batchnorm": _S("none", "model_builders.py", "coordconv_generator: Conv2D + ReLU only"),
}
EXPERIMENTS: Mapping[tuple[str, str], Mapping[str, Setting]] = MappingProxyType(
    {k: MappingProxyType(v) for k, v in _EXPERIMENTS.items()}
)

# Experiments the release ships no code for (ImageNet): their settings as the paper states them,
# each sourced "paper §N"; :func:`departures` reads them like the release's.
PAPER_EXPERIMENTS: Mapping[tuple[str, str], Mapping[str, Setting]] = MappingProxyType({
    ("imagenet", "coordconv"): MappingProxyType({
        "dataset": _S("ImageNet", "paper §5", "1,000 classes"),
        "model": _S("ResNet-50", "paper §5"),
        "extra_layer": _S("1x1 CoordConv, 8 channels, with r, at the bottom", "paper §5"),
        "extra_layer_init": _S("not stated", "paper §5", "the release has no ImageNet code"),
        "after_extra_layer": _S("not stated", "paper §5"),
        "training": _S("not stated", "paper §5"),
        "seeds": _S(5, "paper §5", "5 runs per arm"),
        "metric": _S("top-5 accuracy", "paper §5"),
    }),
})

# The logged sweeps of experiment_logs.sh (one seed each).
_DECONV_SWEEP = {
    "lr": [1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2], "l2": [0.0, 1e-3, 1e-2], "kernel_size": [2, 3, 4],
    "width": [1, 2, 3], "batch_size": [16, 32], "epochs": [1000],
}
SWEEPS: Mapping[tuple[str, str], Mapping[str, list]] = MappingProxyType({
    ("classification", "deconv"): MappingProxyType(_DECONV_SWEEP),
    ("rendering", "deconv"): MappingProxyType({**_DECONV_SWEEP, "loss": ["sigmoid", "mse"]}),
    ("classification", "coordconv"): MappingProxyType(
        {"lr": [1e-3, 5e-3, 1e-2], "l2": [0.0, 1e-3], "width": [1], "batch_size": [16], "epochs": [50]}
    ),
    ("rendering", "coordconv"): MappingProxyType(
        {"lr": [1e-3, 5e-3], "l2": [0.0, 1e-3], "width": [1, 2], "batch_size": [16], "epochs": [50]}
    ),
    ("regression", "conv"): MappingProxyType(
        {"lr": [5e-4, 1e-3, 1e-2], "l2": [1e-5, 1e-4, 5e-4], "width": [1], "batch_size": [256], "epochs": [100]}
    ),
    ("regression", "coordconv"): MappingProxyType(
        {"lr": [1e-2], "l2": [1e-5], "batch_size": [256], "epochs": [100]}
    ),
})
SWEEP_SOURCE = cite("experiment_logs.sh")


def setting(task: str, arch: str, name: str) -> Setting:
    """The release's setting ``name`` of experiment ``(task, arch)``."""
    try:
        exp = EXPERIMENTS[(task, arch)]
    except KeyError:
        raise KeyError(f"no release experiment {(task, arch)!r}; known: {', '.join(map(str, EXPERIMENTS))}") from None
    if name not in exp:
        raise KeyError(f"release experiment {(task, arch)!r} has no setting {name!r}; it has {', '.join(exp)}")
    return exp[name]


def values(task: str, arch: str, *names: str) -> dict[str, Any]:
    """``{name: value}`` of the release's settings of ``(task, arch)`` (all of them when no names are given)."""
    exp = EXPERIMENTS[(task, arch)]
    return {n: setting(task, arch, n).value for n in (names or exp)}


def fmt_value(v: Any) -> str:
    """A setting's value as the departures table prints it."""
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, tuple):
        return "(" + ", ".join(fmt_value(x) for x in v) + ")"
    return str(v)


def departures(
    task: str, arch: str, used: Mapping[str, Any], why: Mapping[str, str], *, label: str = ""
) -> list[list[str]]:
    """Rows ``[setting, release value (source), this profile's value, why]`` where ``used`` departs from the release.

    ``used`` maps setting names (those of :data:`EXPERIMENTS`) to what this
    profile runs; settings it does not name are taken as the release's. Every
    departure must have a reason in ``why`` (a :class:`KeyError` otherwise), so
    no departure goes unexplained. ``label`` prefixes the setting (e.g. the arm).
    """
    exp = EXPERIMENTS[(task, arch)] if (task, arch) in EXPERIMENTS else PAPER_EXPERIMENTS[(task, arch)]
    unknown = set(used) - set(exp)
    if unknown:
        raise KeyError(f"settings {sorted(unknown)} are not release settings of {(task, arch)!r}")
    rows = []
    for name, s in exp.items():
        if name not in used or _same(used[name], s.value):
            continue
        if name not in why:
            raise KeyError(f"departure of {label or (task, arch)} from the release in {name!r} has no reason in `why`")
        note = f"; {s.note}" if s.note else ""
        rows.append([
            f"{label}: {name}" if label else name,
            f"{fmt_value(s.value)} ({s.source}{note})",
            fmt_value(used[name]),
            why[name],
        ])
    return rows


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return abs(a - b) <= 1e-12 * max(1.0, abs(a), abs(b))
    return a == b


DEPARTURES_HEADER = ["setting", "release (source)", "this profile", "why"]
