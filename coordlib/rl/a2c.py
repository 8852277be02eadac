"""Synchronous advantage actor-critic (A2C), seeded and resumable.

A2C is the synchronous form of A3C (Mnih et al., 2016): ``n_envs`` games are
stepped together for ``n_steps`` steps with the current policy; each state's
return is the discounted sum of the rewards that followed it within the
rollout, bootstrapped from the value of the state the rollout ended in
(:func:`n_step_returns`); one gradient step then minimises::

    policy loss  -mean(log pi(a|s) * (R - V(s)))       (advantage not differentiated)
  + value_coef * mean((R - V(s))^2)
  - entropy_coef * mean(entropy of pi(.|s))

with the gradient's global norm clipped to ``max_grad_norm``, by RMSProp.

Determinism: the network is initialised from ``seed``, the games from ``seed``
(:class:`~coordlib.rl.envs.VecEnv`), and actions are drawn from a generator of
their own; a run that is interrupted and resumed from its checkpoint ends with
exactly the weights and episode returns of an uninterrupted run (same machine).
Checkpoints are written atomically (:func:`coordlib.training.checkpoint.write_state`) and
loaded with ``weights_only=True``; the games' state travels as pickled bytes.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from coordlib.rl.envs import VecEnv
from coordlib.rl.nets import PolicyValueNet, coord_weight_norms
from coordlib.training.checkpoint import check_matches, read_state, write_state

__all__ = ["A2CConfig", "n_step_returns", "train", "random_returns", "load"]

_FORMAT = "coordlib.rl/1"


@dataclass(frozen=True)
class A2CConfig:
    """A2C's settings (defaults: see the RL chapter for each one's source).

    ``n_envs`` games stepped together for ``n_steps`` steps per update
    (``n_envs * n_steps`` frames per update); ``gamma`` discount;
    ``entropy_coef`` and ``value_coef`` weigh the entropy bonus and the value
    loss; RMSProp with ``lr``, ``rms_alpha`` (decay) and ``rms_eps``;
    ``max_grad_norm`` clips the gradient's global norm; ``sticky_action_prob``
    is MinAtar's.
    """

    n_envs: int = 16
    n_steps: int = 5
    gamma: float = 0.99
    entropy_coef: float = 0.01
    value_coef: float = 0.5
    lr: float = 7e-4
    rms_alpha: float = 0.99
    rms_eps: float = 1e-5
    max_grad_norm: float = 0.5
    sticky_action_prob: float = 0.1

    def __post_init__(self):
        for name in ("n_envs", "n_steps"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"expected {name} >= 1, got {v!r}")
        if not 0 <= self.gamma <= 1:
            raise ValueError(f"expected a discount gamma in [0, 1], got {self.gamma!r}")
        for name in ("entropy_coef", "value_coef", "rms_eps"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"expected {name} >= 0, got {getattr(self, name)!r}")
        for name in ("lr", "max_grad_norm"):
            if not getattr(self, name) > 0:
                raise ValueError(f"expected {name} > 0, got {getattr(self, name)!r}")
        if not 0 <= self.rms_alpha < 1:
            raise ValueError(f"expected rms_alpha in [0, 1), got {self.rms_alpha!r}")

    @property
    def frames_per_update(self) -> int:
        return self.n_envs * self.n_steps


def n_step_returns(rewards: torch.Tensor, dones: torch.Tensor, last_value: torch.Tensor,
                   gamma: float) -> torch.Tensor:
    """Bootstrapped n-step returns of one rollout.

    ``R_t = r_t + gamma * (1 - done_t) * R_{t+1}`` with ``R_T = last_value``: an
    episode that ended at step ``t`` contributes nothing after it.

    Args:
        rewards, dones: ``(T, N)``; ``dones[t]`` is 1 where step ``t`` ended an episode.
        last_value: ``(N,)``, the value of the state after the last step.
        gamma: discount in [0, 1].

    Returns:
        ``(T, N)`` returns.
    """
    if rewards.dim() != 2 or dones.shape != rewards.shape:
        raise ValueError(f"expected rewards and dones of one shape (T, N), got {tuple(rewards.shape)} "
                         f"and {tuple(dones.shape)}")
    if last_value.shape != rewards.shape[1:]:
        raise ValueError(f"expected last_value of shape ({rewards.shape[1]},), got {tuple(last_value.shape)}")
    if not 0 <= gamma <= 1:
        raise ValueError(f"expected a discount gamma in [0, 1], got {gamma!r}")
    out = torch.empty_like(rewards)
    r = last_value.to(rewards.dtype)
    for t in range(rewards.shape[0] - 1, -1, -1):
        r = rewards[t] + gamma * (1 - dones[t]) * r
        out[t] = r
    return out


def _state(run: dict) -> dict:
    buf = pickle.dumps(run["env"], protocol=pickle.HIGHEST_PROTOCOL)
    return {"format": _FORMAT, "game": run["game"], "arm": run["arm"], "seed": run["seed"],
            "config": dataclasses.asdict(run["config"]), "updates": run["updates"], "seconds": run["seconds"],
            "model": run["net"].state_dict(), "optimizer": run["opt"].state_dict(),
            "generator": run["gen"].get_state(), "envs": torch.frombuffer(bytearray(buf), dtype=torch.uint8),
            "curve": run["curve"]}


def load(path: str | os.PathLike) -> dict:
    """Read an RL checkpoint; :class:`~coordlib.training.checkpoint.CheckpointError` naming the file if unusable."""
    return read_state(path, _FORMAT, "coordlib RL checkpoint")


def _result(run: dict) -> dict:
    env = run["env"]
    return {"game": run["game"], "arm": run["arm"], "seed": run["seed"], "frames": env.frames,
            "updates": run["updates"], "seconds": run["seconds"],
            "fps": env.frames / run["seconds"] if run["seconds"] > 0 else float("nan"),
            "returns": list(env.returns), "ends": list(env.ends), "curve": list(run["curve"]),
            "net": run["net"]}


def train(game: str, arm: str, seed: int, frames: int, config: A2CConfig = A2CConfig(),
          checkpoint: str | os.PathLike | None = None, checkpoint_every: int = 100,
          record_every: int = 25, stop_after: int | None = None) -> dict:
    """Train A2C on ``game`` for ``frames`` frames (all games together); resume from ``checkpoint``.

    Args:
        game: a MinAtar game (:data:`~coordlib.rl.envs.GAMES`).
        arm: ``"conv"`` or ``"coordconv"`` (:data:`~coordlib.rl.nets.ARMS`).
        seed: seeds the network, the games and the actions.
        frames: train until at least this many frames (rounded up to whole updates).
        checkpoint: file to resume from and write to every ``checkpoint_every``
            updates and at the end; ``None``: no checkpoint. A finished checkpoint
            returns at once; asking it for more frames continues it.
        record_every: updates between records of the ``curve``.
        stop_after: stop after this many updates of this call (to test resuming).

    Returns:
        ``{"game", "arm", "seed", "frames", "updates", "seconds", "fps",
        "returns", "ends", "curve", "net"}``: ``returns`` of the finished
        episodes and the frame each ``ends`` at; ``curve`` records of
        ``{"frames", "objects", "coords"}`` (first-layer weight RMS,
        :func:`~coordlib.rl.nets.coord_weight_norms`), the first at frame 0.
    """
    if isinstance(frames, bool) or not isinstance(frames, int) or frames < 1:
        raise ValueError(f"expected frames >= 1, got {frames!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"expected a seed >= 0, got {seed!r}")
    if not isinstance(config, A2CConfig):
        raise TypeError(f"expected an A2CConfig, got {type(config).__name__}")
    env = VecEnv(game, config.n_envs, seed, config.sticky_action_prob)
    torch.manual_seed(seed)
    net = PolicyValueNet(env.channels, env.actions, arm)
    opt = torch.optim.RMSprop(net.parameters(), lr=config.lr, alpha=config.rms_alpha, eps=config.rms_eps)
    gen = torch.Generator().manual_seed(seed)
    run: dict[str, Any] = {"game": game, "arm": arm, "seed": seed, "config": config, "env": env, "net": net,
                           "opt": opt, "gen": gen, "updates": 0, "seconds": 0.0, "curve": []}
    path = None if checkpoint is None else Path(checkpoint)
    if path is not None and path.exists():
        s = load(path)
        check_matches(s, path, game=game, arm=arm, seed=seed, config=dataclasses.asdict(config))
        net.load_state_dict(s["model"])
        opt.load_state_dict(s["optimizer"])
        gen.set_state(s["generator"])
        run.update(updates=s["updates"], seconds=s["seconds"], curve=list(s["curve"]))
        run["env"] = env = pickle.loads(s["envs"].numpy().tobytes())
    if not run["curve"]:  # the initial weights: the start of the weight curve
        run["curve"].append({"frames": 0, **coord_weight_norms(net)})
    obs, done_this_call = env.observe(), 0
    while env.frames < frames and (stop_after is None or done_this_call < stop_after):
        t0 = time.perf_counter()
        obs = _update(run, obs)
        run["seconds"] += time.perf_counter() - t0
        run["updates"] += 1
        done_this_call += 1
        if run["updates"] % record_every == 0:
            run["curve"].append({"frames": env.frames, **coord_weight_norms(net)})
        if path is not None and run["updates"] % checkpoint_every == 0:
            write_state(path, _state(run))
    if path is not None:
        write_state(path, _state(run))
    return _result(run)


def _update(run: dict, obs: torch.Tensor) -> torch.Tensor:
    """One rollout of ``n_steps`` in every game from ``obs``, one gradient step; the next ``obs``."""
    cfg, env, net, opt, gen = run["config"], run["env"], run["net"], run["opt"], run["gen"]
    states, actions, rewards, dones = [], [], [], []
    with torch.no_grad():
        for _ in range(cfg.n_steps):
            logits, _ = net(obs)
            a = torch.multinomial(torch.softmax(logits, -1), 1, generator=gen).squeeze(1)
            states.append(obs)
            actions.append(a)
            obs, r, d = env.step(a)
            rewards.append(r)
            dones.append(d)
        _, last_value = net(obs)
    returns = n_step_returns(torch.stack(rewards), torch.stack(dones), last_value, cfg.gamma).reshape(-1)
    logits, values = net(torch.cat(states))
    logp = torch.log_softmax(logits, -1)
    adv = returns - values
    chosen = logp.gather(1, torch.cat(actions)[:, None]).squeeze(1)
    entropy = -(logp.exp() * logp).sum(-1).mean()
    loss = -(chosen * adv.detach()).mean() + cfg.value_coef * adv.pow(2).mean() - cfg.entropy_coef * entropy
    opt.zero_grad(set_to_none=True)
    loss.backward()
    nn.utils.clip_grad_norm_(net.parameters(), cfg.max_grad_norm)
    opt.step()
    return obs


def random_returns(game: str, episodes: int, seed: int, sticky_action_prob: float = 0.1) -> list[float]:
    """Returns of ``episodes`` episodes of the uniformly random policy (the "did it learn" baseline)."""
    if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 1:
        raise ValueError(f"expected episodes >= 1, got {episodes!r}")
    env = VecEnv(game, 8, seed, sticky_action_prob)
    rng = np.random.default_rng(seed)
    while len(env.returns) < episodes:
        env.step(rng.integers(0, env.actions, env.n))
    return env.returns[:episodes]
