"""The COORDLIB_PROFILE switch: default, selection, override, errors, read-only settings."""

import pytest

from coordlib.book import profiles


def test_default_is_book_when_env_unset(monkeypatch):
    monkeypatch.delenv("COORDLIB_PROFILE", raising=False)
    assert profiles.current() == "book"
    assert profiles.DEFAULT == "book"


def test_empty_env_falls_back_to_default(monkeypatch):
    monkeypatch.setenv("COORDLIB_PROFILE", "")
    assert profiles.current() == "book"


@pytest.mark.parametrize("name", ["smoke", "book", "paper"])
def test_env_var_selects(monkeypatch, name):
    monkeypatch.setenv("COORDLIB_PROFILE", name)
    assert profiles.current() == name


@pytest.fixture
def exp(monkeypatch):
    """A test experiment with known, distinct settings per profile (the real
    table is edited as chapters are added)."""
    table = {"smoke": {"n": 1}, "book": {"n": 2}, "paper": {"n": 3}}
    monkeypatch.setitem(profiles._TABLE, "_test_exp", table)
    return "_test_exp"


def test_argument_overrides_env(monkeypatch, exp):
    monkeypatch.setenv("COORDLIB_PROFILE", "smoke")
    assert profiles.current("paper") == "paper"
    assert profiles.settings(exp)["n"] == 1
    assert profiles.settings(exp, "book")["n"] == 2
    assert profiles.settings(exp, "paper")["n"] == 3
    monkeypatch.delenv("COORDLIB_PROFILE")
    assert profiles.settings(exp)["n"] == 2


def _assert_lists_all(msg):
    for valid in ("'smoke'", "'book'", "'gpu'", "'paper'"):
        assert valid in msg


def test_unknown_env_value_raises(monkeypatch):
    monkeypatch.setenv("COORDLIB_PROFILE", "fast")
    with pytest.raises(ValueError) as err:
        profiles.current()
    assert "fast" in str(err.value)
    _assert_lists_all(str(err.value))
    with pytest.raises(ValueError):
        profiles.settings("not_so_clevr")


def test_unknown_argument_raises(monkeypatch):
    monkeypatch.delenv("COORDLIB_PROFILE", raising=False)
    with pytest.raises(ValueError) as err:
        profiles.current("Book")
    _assert_lists_all(str(err.value))
    with pytest.raises(ValueError) as err:
        profiles.settings("not_so_clevr", "tpu")
    _assert_lists_all(str(err.value))


def test_settings_are_read_only(monkeypatch, exp):
    monkeypatch.delenv("COORDLIB_PROFILE", raising=False)
    s = profiles.settings(exp)
    with pytest.raises(TypeError):
        s["n"] = 99
    with pytest.raises(TypeError):
        s["new"] = 1
    assert profiles.settings(exp) == {"n": 2}


def test_every_experiment_has_all_profiles():
    assert "not_so_clevr" in profiles.experiments()
    for name in profiles.experiments():
        assert set(profiles._TABLE[name]) == set(profiles.PROFILES), name
        for p in profiles.PROFILES:
            assert profiles.settings(name, p) == profiles._TABLE[name][p]


def test_unknown_experiment_raises_keyerror():
    with pytest.raises(KeyError) as err:
        profiles.settings("no_such_experiment", "book")
    assert "no_such_experiment" in str(err.value)


def test_the_gpu_profile_has_the_book_profiles_settings_so_every_chapter_runs_unchanged():
    for name in profiles.experiments():
        book, gpu = profiles.settings(name, "book"), profiles.settings(name, "gpu")
        assert set(gpu) == set(book), name
        for key, value in book.items():
            if isinstance(value, dict):
                assert set(gpu[key]) == set(value), (name, key)


def test_the_gpu_profile_runs_the_releases_readme_lengths_with_ensembles():
    conv, cc = profiles.settings("conv_fails", "gpu"), profiles.settings("coordconv", "gpu")
    assert conv["epochs"]["classification"] == 1000 and conv["lr_schedule"] == "step"
    assert cc["max_epochs"]["classification"] == 100 and cc["released_regressor_epochs"] == 100
    assert conv["ensemble"] and cc["ensemble"] and len(conv["seeds"]) == len(cc["seeds"]) == 5
    assert not profiles.settings("conv_fails", "book")["ensemble"]  # the stored runs are single runs
    assert profiles.settings("detection", "gpu")["rpn_steps"] == 45000
