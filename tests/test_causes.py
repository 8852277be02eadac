"""coordlib.book.causes: one cause at a time, from the classifier's earlier settings."""

import pytest

from coordlib.book import causes, results


def test_the_arms_change_one_known_setting_at_a_time_then_combine():
    names = [n for n, _ in causes.ARMS]
    changes = [c for _, c in causes.ARMS]
    assert len(set(names)) == len(names) == 6
    assert changes[0] == {} and dict(causes.EARLIER) == {"init": "pytorch", "l2": 0.0, "inputs": "scaled"}
    assert [len(c) for c in changes] == [0, 1, 1, 1, 2, 3]
    assert set().union(*changes) == set(causes.EARLIER)
    # the last arm is the release's classifier: he_normal, L2 0.001, raw pixels
    assert changes[-1] == {"init": "release", "l2": 1e-3, "inputs": "pixels"}


def test_an_arm_trains_the_classifier_at_its_settings_and_the_release_optimiser():
    r = causes.arm_run({"l2": 1e-3}, seed=0, split="quadrant", epochs=1, train_limit=32)
    assert r["settings"] == {"init": "pytorch", "l2": 1e-3, "inputs": "scaled", "lr": 0.005,
                             "batch_size": 16}
    assert r["params"] == 7553 and r["epochs"] == 1 and r["max_epochs"] == 1
    assert r["cpu_capability"] == results.environment()["cpu_capability"]
    assert causes.test_accuracy_at(r, 1) == r["test"]["accuracy"] == r["curve"][0]["test_accuracy"]


def test_an_unknown_change_is_refused():
    with pytest.raises(ValueError, match=r"a change sets \['init', 'inputs', 'l2'\]; got unknown \['lr'\]"):
        causes.arm_run({"lr": 1.0}, seed=0, split="quadrant", epochs=1)


def _fake_run(change, *, seed, split, epochs, train_limit=None):
    return {"max_epochs": epochs, "change": dict(change), "solved_at": None,
            "curve": [{"epoch": e, "test_accuracy": e / 10} for e in range(1, epochs + 1)]}


def test_diagnose_runs_the_first_arm_longer_and_keeps_stored_arms(monkeypatch):
    monkeypatch.setattr(causes, "arm_run", _fake_run)
    seen = []
    out = causes.diagnose(seed=2, epochs=3, long_epochs=5, on_run=lambda n, r: seen.append(n))
    assert list(out) == seen == [n for n, _ in causes.ARMS]
    assert [r["max_epochs"] for r in out.values()] == [5, 3, 3, 3, 3, 3]
    first = out[seen[0]]
    assert causes.test_accuracy_at(first, 3) == 0.3 and causes.test_accuracy_at(first, 99) == 0.5
    # stored arms with the same cap, seed and split are kept; a different seed reruns
    stored = {seen[1]: {**out[seen[1]], "kept": True}, seen[2]: {**out[seen[2]], "seed": 7}}
    again = []
    out2 = causes.diagnose(seed=2, epochs=3, long_epochs=5, done=stored,
                           on_run=lambda n, r: again.append(n))
    assert out2[seen[1]]["kept"] and seen[1] not in again and seen[2] in again
    assert len(again) == 5


@pytest.mark.parametrize("epochs, long_epochs", [(0, 3), (4, 3)])
def test_diagnose_refuses_caps_out_of_order(epochs, long_epochs):
    with pytest.raises(ValueError, match=f"expected 1 <= epochs <= long_epochs, got epochs={epochs}"):
        causes.diagnose(epochs=epochs, long_epochs=long_epochs)


def test_accuracy_before_the_first_evaluation_is_refused():
    with pytest.raises(ValueError, match="no evaluation at or before epoch 0"):
        causes.test_accuracy_at({"curve": [{"epoch": 1, "test_accuracy": 0.5}]}, 0)
