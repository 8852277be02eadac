"""Reinforcement learning on MinAtar: the paper's A2C experiment at a laptop's scale.

Three modules, one concept each: ``envs`` (MinAtar games stepped together, with
their episode returns), ``nets`` (the small policy-value network, with or without
CoordConv at its first layer) and ``a2c`` (synchronous advantage actor-critic,
seeded and resumable).

MinAtar (Young and Tian, 2019) is GPL-licensed and optional: install it with
``pip install "coordlib[rl]"`` (the book's ``requirements.txt`` does). coordlib
imports it only when a game is made, and copies none of its code.
"""

from .a2c import A2CConfig, load, n_step_returns, random_returns, train
from .envs import ACTIONS, GAMES, VecEnv, make, picture
from .nets import ARMS, PolicyValueNet, coord_weight_norms

__all__ = ["A2CConfig", "load", "n_step_returns", "random_returns", "train", "ACTIONS", "GAMES", "VecEnv", "make", "picture", "ARMS",
           "PolicyValueNet", "coord_weight_norms"]
