"""The traps the reproduction guards against, each with its public source and the tests that guard it.

Chapter 8 tabulates them and checks that every named test exists. A trap's
handling may quote a measured number, so :func:`traps` takes the results of
chapters 1 and 4 (as saved in ``book/results``).
"""


from __future__ import annotations

from typing import Mapping, NamedTuple

__all__ = ["Trap", "traps"]

_L, _M, _D, _T = "tests/test_layers.py", "tests/test_models.py", "tests/test_data.py", "tests/test_tasks.py"
_RELEASE = "release (uber-research/CoordConv @ 27fab8b)"


class Trap(NamedTuple):
    """A mistake a reproduction could make, where it is documented, what the book does, and its guards."""

    trap: str
    source: str
    handling: str
    guards: tuple[str, ...]


def traps(ch1: Mapping, ch4: Mapping) -> list[Trap]:
    """Every trap, with the handling text filled in from chapter 1's and chapter 4's results."""
    init = ch4["hot_pixel_wins_at_init"]
    uni, quad, rel = ch1["splits"]["uniform"], ch1["splits"]["quadrant"], ch1["release_uniform_split"]
    return [
        Trap("non-square normalisation: the column channel is divided by the height and the row channel by "
             "the width", f"{_RELEASE}: CoordConv.py",
             "each axis is normalised by its own length; ch. 4 prints both on a 4x8 image",
             (f"{_L}::test_addcoords_exact_values_non_square", f"{_L}::test_addcoords_matches_formula")),
        Trap("off-centre radius: r computed from (x - 0.5, y - 0.5) after mapping to [-1, 1]",
             "mkocabas/CoordConv-pytorch, issue #13", "r = sqrt(x² + y²) of the normalised channels, 0 at the centre",
             (f"{_L}::test_addcoords_exact_values_non_square", f"{_L}::test_addcoords_matches_formula")),
        Trap("an axis of length 1 divides by W - 1 = 0", "found here (the layer's contract)",
             "an axis of length 1 maps to 0, never NaN", (f"{_L}::test_addcoords_size_one_axis_maps_to_zero",)),
        Trap("channel order: ports disagree on [x, y] against [row, col]",
             "mkocabas/CoordConv-pytorch, walsvid/CoordConv",
             "x (the column, varying along W), then y (the row), after the input channels",
             (f"{_L}::test_addcoords_exact_values_non_square", f"{_M}::test_scale_coords_matches_addcoords_grid")),
        Trap("gray-128 targets: squares stored as 128/255 cap the rendering IOU near 0.5",
             f"{_RELEASE}: data/not_so_clevr_generator.py",
             f"0/1 targets; a perfect prediction scores IOU {ch1['iou_perfect_vs_gray_targets']:.3f} "
             "against the gray ones (ch. 1)",
             (f"{_T}::test_rendering_targets_are_binary_not_gray", f"{_D}::test_counts_shapes_and_dtypes",
              f"{_T}::test_rendering_score")),
        Trap("split sizes: the paper says 80/20, the released code holds out about 25%",
             f"paper §4; {_RELEASE}: data/not_so_clevr_generator.py",
             f"the paper's 80/20: {uni['train']:,} train / {uni['test']} test "
             f"(release: {rel['train']:,} / {rel['test']})", (f"{_D}::test_uniform_split_sizes_and_partition",)),
        Trap("the quadrant test region: which quadrant, and whether the boundary row belongs to it",
             f"{_RELEASE}: data/not_so_clevr_generator.py",
             f"test iff x > 32 and y > 32, as released: {quad['train']:,} train / {quad['test']} test",
             (f"{_D}::test_quadrant_split_matches_rule",)),
        Trap("example order and (x, y) = (column, row) of the two-line generator", "paper §4 (the generator)",
             "example k has x = k % 56 + 4, y = k // 56 + 4; the data equal the generator's output",
             (f"{_D}::test_centers_follow_generator_order", f"{_D}::test_onehots_and_squares_equal_paper_generator")),
        Trap("average instead of max pooling in the CoordConv regressor collapses to the mean coordinate",
             f"Cambridge Spark's tutorial; {_RELEASE}: model_builders.py",
             "global max pool and no ReLU anywhere, as released",
             (f"{_M}::test_coordconv_regressor_has_no_relu_and_max_pools",
              f"{_M}::test_coordconv_regressor_stack_is_affine")),
        Trap("found here: at the released input scale the regressor's max pool is almost never taken next to "
             "the hot pixel", "ch. 4",
             f"at initialisation the max is next to the hot pixel for {max(init['1.0']):.1%} of images at "
             f"scale 1 and {min(init['64.0']):.0%} at scale 64 (asserted in ch. 4)",
             (f"{_M}::test_onehot_gain_puts_the_max_next_to_the_hot_pixel",)),
        Trap("pixel-centre conventions: where a coordinate sits on the pixel grid, and what a box's corners mean",
             "torchvision's box convention", "pixel index 0 maps to -1 and 63 to +1; boxes are pixel edges, "
             "x1 one past the last inked column", (f"{_M}::test_scale_coords_endpoints_exact",
                                                    "tests/test_mnist.py::test_every_box_is_the_tight_ink_box_of_its_own_digit")),
        Trap("regression targets: the release regresses location / 64", f"{_RELEASE}: train.py",
             "targets (x, y) / 64; a prediction counts when both rounded coordinates are right",
             (f"{_T}::test_regression_task", f"{_T}::test_regression_score")),
        Trap("concatenating the coordinate channels onto every batch", "paper §3 (footnote on a separate filter)",
             "the coordinate term is a convolution of the fixed grid on a batch of one, added to the input's",
             (f"{_L}::test_coordconv_never_concatenates", f"{_L}::test_coordinate_term_computed_on_batch_of_one")),
        Trap("the coordinate term as a per-pixel bias is wrong at zero-padded borders", "found here",
             "the grid is zero-padded like the input, so the layer equals concatenate-then-convolve exactly",
             (f"{_L}::test_coordconv_coordinate_weights_matter_at_borders",)),
        Trap("grid built on the host every forward, or forced onto the GPU with .cuda()", "the PyTorch ports",
             "the grid is built on the input's device and dtype",
             (f"{_L}::test_no_hidden_host_tensors", f"{_L}::test_addcoords_device_preserved")),
        Trap("ports that register parameters they never use", "the PyTorch ports",
             "exactly a weight (and bias) in the concatenate-then-convolve layout",
             (f"{_L}::test_weight_shape_and_state_dict_keys", f"{_L}::test_state_dict_from_conv2d_loads_and_gives_reference")),
        Trap("architectures that differ from the release", f"{_RELEASE}: model_builders.py",
             "parameter counts equal the release's: 7,553 (classifier), 906 (regressor), 72,850 (conv "
             "regressor), 46k-1.6M (deconvs)",
             (f"{_M}::test_release_parameter_counts", f"{_M}::test_deconv_range_is_46k_to_1_6m")),
        Trap("torchvision's Faster R-CNN rescales a 64 px image to 800 px and normalises with ImageNet statistics",
             "torchvision's GeneralizedRCNNTransform", "min and max size 64, Field-of-MNIST mean and std, anchors "
             "15, 20, 25", ("tests/test_detection.py::test_detector_settings",)),
        Trap("coordinates at the wrong places in the detector", "paper §5 (detection)",
             "CoordConv at the input, before the RPN's 3x3 conv and before the box regression, nowhere else",
             ("tests/test_detection.py::test_coordconv_exactly_at_the_three_places",)),
        Trap("Sort-of-CLEVR objects that overlap or touch", f"{_RELEASE}: data/sort_of_clevr_generator.py",
             "placed as released (centres at least 2r apart, red drawn over blue); the scene parser keeps "
             "touching objects apart by colour and fits partly hidden ones",
             ("tests/test_sort_of_clevr.py::test_centres_in_range_and_at_least_2r_apart_as_released",
              "tests/test_scene_metrics.py::test_touching_objects_are_two_objects_at_their_true_centres",
              "tests/test_scene_metrics.py::test_dataset_scenes_with_overlaps_parse_exactly")),
        Trap("the ImageNet arm is not ResNet-50 plus one layer", "paper §5 (ImageNet)",
             "torchvision's ResNet-50 behind one 1x1 CoordConv layer (8 channels, with r), no pretrained weights",
             ("tests/test_resnet.py::test_coord_resnet50_is_torchvision_resnet50_with_the_extra_layer",
              "tests/test_resnet.py::test_num_classes_and_no_pretrained_weights")),
        Trap("a claim asserted on numbers that mean nothing, or not asserted where they do", "found here",
             "results.claim is a no-op under smoke and raises under book and paper",
             ("tests/test_results.py::test_claim_smoke_does_not_raise",
              "tests/test_results.py::test_claim_strict_profiles_raise")),
        Trap("a bound checked on a network that never fitted its training set", "found here",
             "every bound claim on a conventional network has a fit precondition; below it the verdict is "
             "'not tested at this budget'", ("tests/test_report.py::test_ceiling_with_an_unfitted_network_is_not_tested_at_this_budget",)),
    ]
