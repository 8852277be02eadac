"""coordlib.rl: n-step returns, games, the two arms, seeding and resuming A2C."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("minatar")

from coordlib import CoordConv2d  # noqa: E402
from coordlib.rl import (  # noqa: E402
    GAMES,
    A2CConfig,
    PolicyValueNet,
    VecEnv,
    coord_weight_norms,
    load,
    make,
    n_step_returns,
    random_returns,
    train,
)
from coordlib.training import CheckpointError  # noqa: E402

SMALL = A2CConfig(n_envs=4, n_steps=5)


def test_n_step_returns_hand_computed():
    # Two games, three steps, gamma 0.5; game 1's episode ends at step 1.
    rewards = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 0.0]])
    dones = torch.tensor([[0.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    last = torch.tensor([4.0, 8.0])
    # game 0: R2 = 1 + .5*4 = 3; R1 = 0 + .5*3 = 1.5; R0 = 1 + .5*1.5 = 1.75
    # game 1: R2 = 0 + .5*8 = 4; R1 = 2 (episode ended: no bootstrap); R0 = 0 + .5*2 = 1
    want = torch.tensor([[1.75, 1.0], [1.5, 2.0], [3.0, 4.0]])
    assert torch.equal(n_step_returns(rewards, dones, last, 0.5), want)
    assert torch.equal(n_step_returns(rewards, dones, last, 0.0), rewards)


def test_n_step_returns_bad_input():
    r = torch.zeros(3, 2)
    with pytest.raises(ValueError, match=r"\(T, N\)"):
        n_step_returns(r, torch.zeros(3, 3), torch.zeros(2), 0.9)
    with pytest.raises(ValueError, match="last_value"):
        n_step_returns(r, torch.zeros(3, 2), torch.zeros(3), 0.9)
    with pytest.raises(ValueError, match="gamma"):
        n_step_returns(r, torch.zeros(3, 2), torch.zeros(2), 1.5)


def test_unknown_game_lists_the_valid_ones():
    with pytest.raises(ValueError, match="valid games are asterix, breakout"):
        make("pong", 0)
    with pytest.raises(ValueError, match="valid games"):
        VecEnv("Breakout", 2, 0)


def test_vecenv_shapes_and_bad_actions():
    env = VecEnv("breakout", 3, 0)
    assert env.actions == 3 and env.channels == 4
    obs = env.observe()
    assert obs.shape == (3, 4, 10, 10) and obs.dtype == torch.float32
    obs, r, d = env.step([0, 1, 2])
    assert obs.shape == (3, 4, 10, 10) and r.shape == (3,) and d.shape == (3,)
    assert env.frames == 3
    with pytest.raises(ValueError, match="3 actions"):
        env.step([0, 1])
    with pytest.raises(ValueError, match=r"0\.\.2"):
        env.step([0, 1, 3])


def test_random_returns_are_seeded():
    a, b = random_returns("space_invaders", 5, 0), random_returns("space_invaders", 5, 0)
    assert a == b and len(a) == 5
    assert random_returns("space_invaders", 5, 1) != a


@pytest.mark.parametrize("arm", ["conv", "coordconv"])
def test_net_shapes(arm):
    net = PolicyValueNet(4, 3, arm)
    logits, value = net(torch.zeros(5, 4, 10, 10))
    assert logits.shape == (5, 3) and value.shape == (5,)
    with pytest.raises(ValueError, match=r"\(N, 4, 10, 10\)"):
        net(torch.zeros(5, 3, 10, 10))


def test_coordconv_arm_differs_only_in_first_layer():
    torch.manual_seed(0)
    conv = PolicyValueNet(4, 3, "conv")
    torch.manual_seed(0)
    cc = PolicyValueNet(4, 3, "coordconv")
    assert isinstance(cc.first, CoordConv2d) and not isinstance(conv.first, CoordConv2d)
    assert cc.first.weight.shape == (16, 6, 3, 3) and conv.first.weight.shape == (16, 4, 3, 3)
    a, b = conv.state_dict(), cc.state_dict()
    assert a.keys() == b.keys()
    for k in a:
        if not k.startswith("first."):
            assert torch.equal(a[k], b[k]), k
    n = sum(p.numel() for p in cc.parameters()) - sum(p.numel() for p in conv.parameters())
    assert n == 2 * 16 * 9
    norms = coord_weight_norms(cc)
    assert norms["coords"] == pytest.approx(float(cc.first.weight.detach()[:, 4:].pow(2).mean().sqrt()))
    assert coord_weight_norms(conv)["coords"] != coord_weight_norms(conv)["coords"]  # nan


def test_net_bad_arguments():
    with pytest.raises(ValueError, match="valid arms are conv, coordconv"):
        PolicyValueNet(4, 3, "coord")
    with pytest.raises(ValueError, match="actions"):
        PolicyValueNet(4, 0)


def test_config_bad_values():
    with pytest.raises(ValueError, match="n_envs"):
        A2CConfig(n_envs=0)
    with pytest.raises(ValueError, match="gamma"):
        A2CConfig(gamma=1.2)
    with pytest.raises(ValueError, match="lr"):
        A2CConfig(lr=0.0)


def _same_run(a, b):
    assert a["returns"] == b["returns"] and a["ends"] == b["ends"] and a["frames"] == b["frames"]
    sa, sb = a["net"].state_dict(), b["net"].state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_training_is_seeded():
    a = train("breakout", "coordconv", 3, 400, SMALL, record_every=5)
    b = train("breakout", "coordconv", 3, 400, SMALL, record_every=5)
    _same_run(a, b)
    assert a["frames"] == 400 and [p["frames"] for p in a["curve"]] == [0, 100, 200, 300, 400]
    assert a["curve"][-1]["coords"] > 0 and a["curve"][-1]["coords"] != a["curve"][0]["coords"]
    c = train("breakout", "coordconv", 4, 400, SMALL)
    assert not torch.equal(a["net"].first.weight, c["net"].first.weight)


def test_resume_equals_uninterrupted(tmp_path):
    whole = train("space_invaders", "coordconv", 1, 600, SMALL, record_every=5)
    ckpt = tmp_path / "run.pt"
    part = train("space_invaders", "coordconv", 1, 600, SMALL, ckpt, checkpoint_every=3, record_every=5,
                 stop_after=7)
    assert part["frames"] == 7 * SMALL.frames_per_update
    rest = train("space_invaders", "coordconv", 1, 600, SMALL, ckpt, checkpoint_every=3, record_every=5)
    _same_run(whole, rest)
    assert rest["curve"] == whole["curve"]
    again = train("space_invaders", "coordconv", 1, 600, SMALL, ckpt)  # finished: returns at once
    _same_run(whole, again)
    assert again["updates"] == rest["updates"]


def test_checkpoint_errors(tmp_path):
    ckpt = tmp_path / "run.pt"
    train("breakout", "conv", 0, 40, SMALL, ckpt)
    with pytest.raises(CheckpointError, match="seed"):
        train("breakout", "conv", 1, 40, SMALL, ckpt)
    with pytest.raises(CheckpointError, match="arm"):
        train("breakout", "coordconv", 0, 40, SMALL, ckpt)
    data = ckpt.read_bytes()
    ckpt.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=str(ckpt)):
        load(ckpt)
    with pytest.raises(CheckpointError, match="truncated"):
        train("breakout", "conv", 0, 40, SMALL, ckpt)


def test_train_bad_input():
    with pytest.raises(ValueError, match="frames"):
        train("breakout", "conv", 0, 0)
    with pytest.raises(ValueError, match="valid games"):
        train("tetris", "conv", 0, 10)
    with pytest.raises(TypeError, match="A2CConfig"):
        train("breakout", "conv", 0, 10, {"n_envs": 2})


def test_games_listed():
    assert GAMES == ("asterix", "breakout", "freeway", "seaquest", "space_invaders")
