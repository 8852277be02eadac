"""coordlib.book.release: the release's settings as data, and the departures table."""

import pytest

from coordlib.book import profiles, release

# The release's files (git ls-tree of uber-research/CoordConv at 27fab8b), less its notebooks and licences.
RELEASE_FILES = {
    "CoordConv.py", "README.md", "environment.yml", "experiment_logs.sh", "params.py", "train.py",
    "train_gan.py", "train_faster_rcnn.py", "util.py", "utils_faster_rcnn.py", "model_builders.py",
    "model_builder_faster_rcnn.py", "data/not_so_clevr_generator.py", "data/sort_of_clevr_generator.py",
    "data/field_of_mnist/loader.py", "data/field_of_mnist/demo.py", "general/lr_policy.py", "general/util.py",
    "general/tfutil.py", "general/image_preproc.py", "general/conv_calc.py", "general/stats_buddy.py",
    "general/vision.py", "tf_plus/regularizers.py", "tf_plus/core.py", "tf_plus/network.py",
    "tf_plus/normalization.py", "tf_plus/backend.py", "tf_plus/preprocessing.py", "tf_plus/util.py",
    "tf_plus/wrappers.py", "tf_plus/recurrent.py",
}


def test_every_setting_names_a_file_of_the_release():
    files = RELEASE_FILES
    for key, exp in release.EXPERIMENTS.items():
        for name, s in exp.items():
            assert s.file in files, (key, name, s.file)
            assert s.source == f"release (uber-research/CoordConv @ 27fab8b): {s.file}"


def test_key_values():
    assert release.ADAM["betas"] == (0.9, 0.99)
    v = release.values("classification", "deconv")
    assert (v["lr"], v["l2"], v["width"], v["kernel_size"], v["batch_size"]) == (0.01, 1e-3, 2, 3, 16)
    assert release.values("regression", "conv_quadrant", "batch_size", "l2", "lr") == {
        "batch_size": 256, "l2": 1e-5, "lr": 0.01
    }
    assert release.values("classification", "coordconv", "lr", "epochs") == {"lr": 0.005, "epochs": 50}
    assert release.SWEEPS[("classification", "deconv")]["lr"] == [1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2]
    assert release.STEP_SCHEDULE["every"] == 200 and release.STEP_SCHEDULE["max_steps"] == 4


def test_settings_are_read_only():
    with pytest.raises(TypeError):
        release.EXPERIMENTS[("classification", "deconv")]["lr"] = 1.0


def test_departures_rows_and_reasons():
    used = {"lr": 0.01, "epochs": 10, "batch_size": 16}
    rows = release.departures("classification", "deconv", used, {"epochs": "budget"}, label="cls")
    assert rows == [["cls: epochs", rows[0][1], "10", "budget"]]
    assert "experiment_logs.sh" in rows[0][1] and rows[0][1].startswith("1000 (")
    with pytest.raises(KeyError, match="no reason"):
        release.departures("classification", "deconv", {"lr": 0.02}, {})
    with pytest.raises(KeyError, match="not release settings"):
        release.departures("classification", "deconv", {"momentum": 0.9}, {})
    assert release.departures("classification", "deconv", {"lr": 0.01}, {}) == []


@pytest.mark.parametrize("profile", profiles.PROFILES)
@pytest.mark.parametrize(
    "task, arch",
    [("classification", "deconv"), ("rendering", "deconv"), ("regression", "conv_uniform"),
     ("regression", "conv_quadrant")],
)
def test_every_profile_departure_has_a_reason(profile, task, arch):
    used = profiles.release_view("conv_fails", task, arch, profile)
    release.departures(task, arch, used, profiles.why("conv_fails", profile))


def test_book_profile_runs_the_readme_deconv():
    cfg = {k: v[0] for k, v in profiles.settings("conv_fails", "book")["sweep"].items()}
    assert {k: cfg[k] for k in ("lr", "l2", "width", "kernel_size", "batch_size")} == release.values(
        "classification", "deconv", "lr", "l2", "width", "kernel_size", "batch_size"
    )
    assert profiles.settings("conv_fails", "book")["regression"]["batch_size"] == 256


@pytest.mark.parametrize("profile", profiles.PROFILES)
@pytest.mark.parametrize("task", ["classification", "rendering", "regression"])
def test_every_coordconv_departure_has_a_reason(profile, task):
    used = profiles.release_view("coordconv", task, "coordconv", profile)
    release.departures(task, "coordconv", used, profiles.why("coordconv", profile))
    s = profiles.settings("coordconv", profile)
    assert s["painter"] == {"lr": 0.005, "l2": 1e-3, "batch_size": 16}
    assert s["released_regressor"] == {"lr": 0.01, "l2": 1e-5, "batch_size": 256}


@pytest.mark.parametrize("profile, classifier, others", [("smoke", 1, 1), ("book", 5, 3), ("paper", 5, 5)])
def test_the_classifier_runs_its_own_seed_count(profile, classifier, others):
    views = {t: profiles.release_view("coordconv", t, "coordconv", profile)
             for t in ("classification", "rendering", "regression")}
    assert views["classification"]["seeds"] == classifier
    assert views["rendering"]["seeds"] == views["regression"]["seeds"] == others
    rows = release.departures("classification", "coordconv", views["classification"],
                              profiles.why("coordconv", profile))
    # the release ran one seed: a departure whenever the profile runs more
    assert [r[2] for r in rows if r[0] == "seeds"] == ([] if classifier == 1 else [str(classifier)])
