"""MinAtar games, several stepped together, with their episode returns.

MinAtar (Young and Tian, 2019) ships 10x10 versions of five Atari games whose
state is a stack of binary object channels (paddle, ball, bricks, ...). It is an
optional, GPL-licensed dependency (``pip install "coordlib[rl]"``), imported only
here and only when a game is made; nothing is downloaded. Observations are
``float32`` tensors ``(N, C, 10, 10)`` (channels first, as PyTorch convolves).
"""

from __future__ import annotations

import importlib
from typing import Sequence

import numpy as np
import torch

__all__ = ["GAMES", "ACTIONS", "make", "VecEnv", "picture"]

#: The MinAtar games, by the names MinAtar uses.
GAMES = ("asterix", "breakout", "freeway", "seaquest", "space_invaders")

#: MinAtar's six actions, in its order (a game's minimal action set indexes these).
ACTIONS = ("no-op", "left", "up", "right", "down", "fire")


def _minatar():
    try:
        return importlib.import_module("minatar")
    except ImportError as err:  # pragma: no cover - depends on the installation
        raise ImportError(
            "the RL chapter needs MinAtar (GPL-licensed, optional): pip install 'coordlib[rl]' "
            "or pip install minatar"
        ) from err


def _check_game(game: str) -> str:
    if game not in GAMES:
        raise ValueError(f"unknown MinAtar game {game!r}; valid games are {', '.join(GAMES)}")
    return game


def make(game: str, seed: int, sticky_action_prob: float = 0.1, ramping: bool = True):
    """One seeded MinAtar environment (``minatar.Environment``), reset.

    ``sticky_action_prob`` and ``ramping`` (difficulty that grows during an
    episode) are MinAtar's defaults, the settings of its paper.
    """
    _check_game(game)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"expected a seed >= 0, got {seed!r}")
    if not 0 <= sticky_action_prob < 1:
        raise ValueError(f"expected a sticky-action probability in [0, 1), got {sticky_action_prob!r}")
    env = _minatar().Environment(game, sticky_action_prob=sticky_action_prob, difficulty_ramping=ramping)
    env.seed(int(seed))
    env.reset()
    return env


class VecEnv:
    """``n`` copies of ``game`` stepped together; an ended episode resets at once.

    Environment ``i`` is seeded with ``seed * 10_000 + i``. Actions index the
    game's *minimal* action set (``actions`` of them; Breakout: no-op, left, right).
    The whole object (games and their random states) pickles, which is how
    :mod:`coordlib.rl.a2c` checkpoints it.

    Attributes:
        returns: the return of every finished episode, in the order they ended.
        ends: the frame count (over all environments) at which each ended.
        frames: frames stepped so far, over all environments.
    """

    def __init__(self, game: str, n: int, seed: int, sticky_action_prob: float = 0.1):
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"expected n >= 1 environments, got {n!r}")
        self.game = _check_game(game)
        self.envs = [make(game, seed * 10_000 + i, sticky_action_prob) for i in range(n)]
        self.action_set = list(self.envs[0].minimal_action_set())
        self.channels = int(self.envs[0].state_shape()[2])
        self.running = np.zeros(n)
        self.returns: list[float] = []
        self.ends: list[int] = []
        self.frames = 0

    @property
    def n(self) -> int:
        return len(self.envs)

    @property
    def actions(self) -> int:
        return len(self.action_set)

    @property
    def action_names(self) -> list[str]:
        """The names of the actions the agent chooses from, e.g. ``["no-op", "left", "right"]``."""
        return [ACTIONS[a] for a in self.action_set]

    def observe(self) -> torch.Tensor:
        """The current states, ``(n, C, 10, 10)`` float32 in {0, 1}."""
        s = np.stack([e.state() for e in self.envs]).astype(np.float32)
        return torch.from_numpy(s).permute(0, 3, 1, 2).contiguous()

    def step(self, actions: Sequence[int] | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Act in every game: ``(obs (n, C, 10, 10), rewards (n,), dones (n,))``.

        ``obs`` is the state after the step, or the first state of the next
        episode where one ended (``dones`` is then 1).
        """
        a = torch.as_tensor(actions).reshape(-1).tolist()
        if len(a) != self.n:
            raise ValueError(f"expected {self.n} actions, one per environment, got {len(a)}")
        if any(not 0 <= int(x) < self.actions for x in a):
            raise ValueError(f"actions must lie in 0..{self.actions - 1} ({self.game}), got {a}")
        rewards, dones = np.zeros(self.n, np.float32), np.zeros(self.n, np.float32)
        for i, (env, x) in enumerate(zip(self.envs, a)):
            r, done = env.act(self.action_set[int(x)])
            self.frames += 1
            self.running[i] += r
            rewards[i] = r
            if done:
                dones[i] = 1.0
                self.returns.append(float(self.running[i]))
                self.ends.append(self.frames)
                self.running[i] = 0.0
                env.reset()
        return self.observe(), torch.from_numpy(rewards), torch.from_numpy(dones)


def picture(state: torch.Tensor) -> np.ndarray:
    """A ``(C, S, S)`` state as an ``(S, S)`` integer image: 0 empty, ``c + 1`` where channel ``c`` is on.

    Where several channels are on, the last one wins; draw it with a
    ``C + 1``-colour map.
    """
    if state.dim() != 3:
        raise ValueError(f"expected one state (C, S, S), got {tuple(state.shape)}")
    on = state.detach().cpu().numpy() > 0.5
    img = np.zeros(on.shape[1:], dtype=np.int64)
    for c in range(on.shape[0]):
        img[on[c]] = c + 1
    return img
