"""The published numbers the book measures itself against, each with its source.

Values are fractions (accuracy, IOU) unless the key says otherwise: ``speed/``
and ``size/`` are ratios, ``.../runs_per_arm`` and ``.../atari_games_better`` are counts. ``None``
means the source states the claim only in words. Sources: the paper
(Liu et al., 2018, §4 and §5, and figures), the Uber AI blog post (Liu et al.,
July 2018), and the independent Cambridge Spark reproduction (Cambridge Spark
tutorial, 2019); full references in ``book/references.bib``.
"""


from __future__ import annotations

__all__ = ["CLAIMS", "number"]

# key -> (value, source, wording)
CLAIMS: dict[str, tuple[float | None, str, str]] = {
    "classification/deconv/uniform/test_accuracy": (
        0.86, "paper §4", "best deconv never above ~86% test accuracy on the uniform split (train can be 100%)"),
    "classification/deconv/uniform/train_accuracy": (1.0, "paper §4", "train accuracy can reach 100%"),
    "classification/deconv/quadrant/test_accuracy": (0.0, "paper §4", "deconv test accuracy ~0% on the quadrant split"),
    "classification/coordconv/uniform/test_accuracy": (1.0, "paper §4", "CoordConv: 100% train and test"),
    "classification/coordconv/quadrant/test_accuracy": (1.0, "paper §4", "CoordConv: 100% train and test"),
    "rendering/deconv/uniform/test_iou": (0.83, "paper §4", "best deconv test IOU 0.83 on the uniform split"),
    "rendering/deconv/quadrant/test_iou": (0.36, "paper §4", "best deconv test IOU 0.36 on the quadrant split"),
    "rendering/coordconv/uniform/test_iou": (1.0, "paper §4", "CoordConv rendering perfect on both splits"),
    "rendering/coordconv/quadrant/test_iou": (1.0, "paper §4", "CoordConv rendering perfect on both splits"),
    "regression/conv/uniform/train_accuracy": (0.486, "Cambridge Spark reproduction", "conv regressor, rounded"),
    "regression/conv/uniform/test_accuracy": (0.477, "Cambridge Spark reproduction", "conv regressor, rounded"),
    "regression/conv/quadrant/train_accuracy": (0.402, "Cambridge Spark reproduction", "conv regressor, rounded"),
    "regression/conv/quadrant/test_accuracy": (0.071, "Cambridge Spark reproduction", "conv regressor, rounded"),
    "regression/coordconv/uniform/test_accuracy": (1.0, "Cambridge Spark reproduction", "CoordConv regressor 100/100"),
    "regression/coordconv/quadrant/test_accuracy": (1.0, "paper §4", "CoordConv regressor near perfect on both splits"),
    "speed/coordconv_vs_conv": (150.0, "paper §4", "CoordConv trains 150x faster than the best convs"),
    "size/conv_over_coordconv_low": (10.0, "paper §4", "CoordConv models have 10-100x fewer parameters"),
    "size/conv_over_coordconv_high": (100.0, "paper §4", "CoordConv models have 10-100x fewer parameters"),
    "detection/coordconv/iou_relative_gain": (
        0.24, "paper §5", "Faster R-CNN on MNIST digits on a canvas: 24% better IOU with CoordConv (absolute IOUs not published)"),
    "imagenet/coordconv/top5_gain": (
        0.0004, "paper §5", "ResNet-50 + one 1x1 CoordConv layer: top-5 +0.04%, mean of 5 runs per arm, not significant"),
    "imagenet/runs_per_arm": (5.0, "paper §5", "5 runs per arm"),
    "rl/a2c/atari_games_better": (
        6.0, "paper §5", "A2C on 9 Atari games: better in 6, similar in 2, worse in 1; Ape-X: no gain"),
    "rl/a2c/atari_games_similar": (2.0, "paper §5", "A2C on 9 Atari games: CoordConv similar in 2"),
    "rl/a2c/atari_games_worse": (1.0, "paper §5", "A2C on 9 Atari games: CoordConv worse in 1"),
    "rl/a2c/atari_games": (9.0, "paper §5", "A2C with and without CoordConv on 9 Atari games"),
    "generative/coordconv/smooth_interpolation": (
        None, "paper §5", "GAN/VAE on Sort-of-CLEVR: objects move smoothly instead of teleporting or fading"),
}


def number(key: str) -> float | None:
    """The published value for ``key`` (see :data:`CLAIMS`); a clear error for unknown keys."""
    if key not in CLAIMS:
        raise KeyError(f"no published number {key!r}; known keys: {', '.join(sorted(CLAIMS))}")
    return CLAIMS[key][0]
