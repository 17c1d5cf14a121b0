"""DDPG: deterministic policy gradient actor-critic over a declared state vector (extra ``rl``, PyTorch).

The state vector reaches the tuner through the `Context`: its data holds one value per entry of
``state_config``, keyed by the entry's name (``predict({"load": 0.7, "tier": "gold"})``). Each value is
encoded as the parameter types describe it: an Integer or Real is scaled to [0, 1] over
``[min, max]`` (and clipped), a Categorical is one-hot. Without ``state_config`` the tuner takes no
context and the actor learns a single configuration.

Actions: the actor maps the state to a vector in [0, 1]^A through a sigmoid, one entry per numerical
parameter (decoded on its grid) and one per category of each Categorical (the largest wins). With
probability ``epsilon_t = epsilon / (1 + epsilon_decay_rate * t)`` the tuner plays a uniformly random
vector instead (ε-greedy). Every reward of a round (``set_reward()`` with no value takes each stored
reward) becomes one transition ``(state, action, reward, next state)`` in a replay buffer; the next
state is the state of the next round that starts. After each round the critic and the actor take
``updates_per_round`` Adam steps on minibatches from the buffer, and target networks follow by soft
updates (``tau``). With ``gamma = 0`` (the default) rounds are independent and the critic learns the
immediate reward, a contextual bandit; ``gamma > 0`` bootstraps from the next state through the targets.

The state (network weights, target weights, Adam moments, replay buffer, random generator) is plain
JSON: tensors as lists of floats, which round-trip float32 values exactly.
"""

from __future__ import annotations

import importlib
import itertools
import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from types import ModuleType
from typing import Any

import numpy as np

from oppertune.algorithms import _arguments as check
from oppertune.algorithms import _state as valid
from oppertune.algorithms.base import TuningInstance
from oppertune.core.types import Context
from oppertune.core.values import Categorical, ValueType, to_dict, to_value, transform

__all__ = ["DDPG"]

_NETWORKS = ("actor", "critic", "actor_target", "critic_target")
_FINAL_LAYER_BOUND = 3e-3


def _import_torch() -> ModuleType:
    try:
        return importlib.import_module("torch")
    except ImportError as exc:
        raise ImportError(
            "The 'ddpg' algorithm needs PyTorch (torch==2.13.0); install it with: pip install 'oppertune[rl]'"
        ) from exc


def _positive_int(owner: str, name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"The '{name}' argument of {owner} must be a positive int. Got {value!r} instead.")
    return value


class DDPG(TuningInstance):
    """Actor-critic reinforcement learning (DDPG) over all parameter types, driven by a state vector.

    Args:
        parameters: The parameters to tune, of any type.
        state_config: The state vector's entries as parameter specs (``Categorical``/``Integer``/``Real``
            or their dict forms); ``predict()`` then takes a context holding a value for each name.
        hidden_sizes: Widths of the hidden layers of the actor and of the critic.
        actor_lr: Adam learning rate of the actor.
        critic_lr: Adam learning rate of the critic.
        gamma: Discount of future rewards, in [0, 1).
        tau: Soft target update rate, in (0, 1].
        epsilon: Probability of a uniformly random action at the start, in [0, 1].
        epsilon_decay_rate: ``rho`` in ``epsilon_t = epsilon / (1 + rho * t)``, t the number of rounds.
        buffer_size: Capacity of the replay buffer (oldest transitions are dropped).
        batch_size: Transitions per minibatch.
        updates_per_round: Gradient steps of the critic and the actor after each round.
        random_seed: Seed for reproducible runs (weights, exploration and minibatches).
    """

    name = "ddpg"
    uses_context = True
    learns_from_stored_rewards = True

    def __init__(
        self,
        parameters: Iterable[ValueType | Mapping[str, Any]],
        state_config: Iterable[ValueType | Mapping[str, Any]] | None = None,
        hidden_sizes: Sequence[int] = (32, 32),
        actor_lr: float = 3e-3,
        critic_lr: float = 3e-3,
        gamma: float = 0.0,
        tau: float = 0.05,
        epsilon: float = 0.2,
        epsilon_decay_rate: float = 0.01,
        buffer_size: int = 1000,
        batch_size: int = 32,
        updates_per_round: int = 4,
        random_seed: int | None = None,
    ) -> None:
        owner = type(self).__name__
        self.state_config = self._check_state_config(owner, state_config)
        if isinstance(hidden_sizes, (str, bytes)) or not isinstance(hidden_sizes, Sequence):
            raise TypeError(
                f"The 'hidden_sizes' argument of {owner} must be a list of positive ints. Got {hidden_sizes!r} instead."
            )
        self.hidden_sizes = [_positive_int(owner, "hidden_sizes", h) for h in hidden_sizes]
        self.actor_lr = check.positive_float(owner, "actor_lr", actor_lr)
        self.critic_lr = check.positive_float(owner, "critic_lr", critic_lr)
        self.gamma = check.float_in(owner, "gamma", gamma, 0.0, 1.0, closed_low=True)
        self.tau = check.positive_float(owner, "tau", tau)
        if self.tau > 1.0:
            raise ValueError(f"The 'tau' argument of {owner} must be a float in (0, 1]. Got {tau!r} instead.")
        self.epsilon = check.non_negative_float(owner, "epsilon", epsilon)
        if self.epsilon > 1.0:
            raise ValueError(f"The 'epsilon' argument of {owner} must be a float in [0, 1]. Got {epsilon!r} instead.")
        self.epsilon_decay_rate = check.non_negative_float(owner, "epsilon_decay_rate", epsilon_decay_rate)
        self.buffer_size = _positive_int(owner, "buffer_size", buffer_size)
        self.batch_size = _positive_int(owner, "batch_size", batch_size)
        self.updates_per_round = _positive_int(owner, "updates_per_round", updates_per_round)
        self.random_seed = check.seed(owner, random_seed)
        super().__init__(parameters)

        torch = self._torch = _import_torch()
        self._state_values = [to_value(v) for v in self.state_config]
        self._state_dim = sum(v.n_categories if isinstance(v, Categorical) else 1 for v in self._state_values)
        self._action_dim = sum(p.n_categories if isinstance(p, Categorical) else 1 for p in self._tuned)
        self._rng = np.random.default_rng(self.random_seed)
        self._actor = self._network(self._state_dim, self._action_dim, sigmoid=True)
        self._critic = self._network(self._state_dim + self._action_dim, 1, sigmoid=False)
        self._actor_target = self._network(self._state_dim, self._action_dim, sigmoid=True)
        self._critic_target = self._network(self._state_dim + self._action_dim, 1, sigmoid=False)
        self._actor_target.load_state_dict(self._actor.state_dict())
        self._critic_target.load_state_dict(self._critic.state_dict())
        self._actor_optimizer = torch.optim.Adam(self._actor.parameters(), lr=self.actor_lr)
        self._critic_optimizer = torch.optim.Adam(self._critic.parameters(), lr=self.critic_lr)
        # transitions [state, action, reward, next_state or None]; the last `_n_open` await their next state
        self._buffer: list[list[Any]] = []
        self._n_open = 0
        self._pending: dict[str, tuple[list[float], list[float]]] = {}

    # ----------------------------------------------------------------- construction helpers
    @staticmethod
    def _check_state_config(owner: str, state_config: Any) -> list[dict[str, Any]]:
        if state_config is None:
            return []
        if isinstance(state_config, (str, bytes, Mapping)) or not isinstance(state_config, Iterable):
            raise TypeError(
                f"The 'state_config' argument of {owner} must be a list of parameter specs. Got {state_config!r}."
            )
        values = [to_value(v) for v in state_config]
        names = [v.name for v in values]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"The 'state_config' argument of {owner} names {repeated} more than once.")
        return [to_dict(v) for v in values]

    def _network(self, n_in: int, n_out: int, *, sigmoid: bool) -> Any:
        nn, torch = self._torch.nn, self._torch
        sizes = [n_in, *self.hidden_sizes, n_out]
        layers: list[Any] = []
        for i, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
            with warnings.catch_warnings():  # an empty state vector makes zero-input layers, which torch warns about
                warnings.simplefilter("ignore", UserWarning)
                layer = nn.utils.skip_init(nn.Linear, fan_in, fan_out)  # no draw from torch's global generator
            last = i == len(sizes) - 2
            bound = _FINAL_LAYER_BOUND if last else 1.0 / math.sqrt(max(1, fan_in))
            # Drawn from our generator, not torch's global one, so seeded tuners are independent.
            with torch.no_grad():
                layer.weight.copy_(torch.from_numpy(self._rng.uniform(-bound, bound, (fan_out, fan_in))))
                layer.bias.copy_(torch.from_numpy(self._rng.uniform(-bound, bound, fan_out)))
            layers.append(layer)
            if not last:
                layers.append(nn.ReLU())
        if sigmoid:
            layers.append(nn.Sigmoid())
        return nn.Sequential(*layers)

    # ----------------------------------------------------------------- context: the state vector
    def _check_context(self, context: Context) -> None:
        if not self._state_values:
            if context.data:
                raise ValueError(
                    "DDPG without a 'state_config' takes no context data; declare the state vector's entries in "
                    f"'state_config' to pass them as context. Got {dict(context.data)!r}."
                )
            return
        data = context.data
        names = [v.name for v in self._state_values]
        missing = [n for n in names if n not in data]
        unknown = sorted(set(data) - set(names))
        if missing or unknown:
            raise ValueError(
                f"DDPG reads its state vector from the context: it needs a value for each of {names}. "
                f"Missing: {missing}; unknown: {unknown}."
            )
        for v in self._state_values:
            x = data[v.name]
            if isinstance(v, Categorical):
                if x not in v.categories:
                    raise ValueError(
                        f"State entry {v.name!r} must be one of the categories {list(v.categories)}. Got {x!r}."
                    )
            elif isinstance(x, bool) or not isinstance(x, (int, float)):
                raise TypeError(f"State entry {v.name!r} must be a number. Got {x!r} instead.")

    def _state_vector(self, context: Context) -> list[float]:
        vector: list[float] = []
        data = context.data
        for v in self._state_values:
            if isinstance(v, Categorical):
                hot = v.index(data[v.name])
                vector.extend(1.0 if i == hot else 0.0 for i in range(v.n_categories))
            else:
                vector.append(float(transform(v, data[v.name])))
        return vector

    # ----------------------------------------------------------------- the loop
    @property
    def current_epsilon(self) -> float:
        """The exploration probability of the next round."""
        return self.epsilon / (1.0 + self.epsilon_decay_rate * self.iteration)

    def _to_values(self, action: Sequence[float]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        i = 0
        for p in self._tuned:
            if isinstance(p, Categorical):
                block = action[i : i + p.n_categories]
                values[p.name] = p.categories[max(range(len(block)), key=block.__getitem__)]
                i += p.n_categories
            else:
                x = action[i]
                values[p.name] = p.from_unit(x if math.isfinite(x) else 0.5)
                i += 1
        return values

    def _predict(self, context: Context) -> dict[str, Any]:
        state = self._state_vector(context)
        if self._n_open:
            for transition in self._buffer[len(self._buffer) - self._n_open :]:
                transition[3] = state
            self._n_open = 0
        if not self._action_dim:
            self._pending[context.id] = (state, [])
            return {}
        if self._rng.random() < self.current_epsilon:
            action = self._rng.random(self._action_dim).tolist()
        else:
            torch = self._torch
            with torch.no_grad():
                action = self._actor(torch.tensor([state], dtype=torch.float32))[0].tolist()
        self._pending[context.id] = (state, action)
        return self._to_values(action)

    def _learn(self, reward: float | list[float], context: Context) -> None:
        pending = self._pending.pop(context.id, None)
        if pending is None or not self._action_dim:
            return
        state, action = pending
        rewards = reward if isinstance(reward, list) else [reward]
        for r in rewards:
            self._buffer.append([state, action, float(r), None])
        self._n_open = min(len(self._buffer), self._n_open + len(rewards))
        overflow = len(self._buffer) - self.buffer_size
        if overflow > 0:
            del self._buffer[:overflow]
            self._n_open = min(self._n_open, len(self._buffer))
        for _ in range(self.updates_per_round):
            self._update()

    def _update(self) -> None:
        usable = len(self._buffer) if self.gamma == 0.0 else len(self._buffer) - self._n_open
        if usable <= 0:
            return
        torch = self._torch
        picks = self._rng.integers(0, usable, size=min(self.batch_size, usable))
        batch = [self._buffer[i] for i in picks]
        states = torch.tensor([t[0] for t in batch], dtype=torch.float32).reshape(len(batch), self._state_dim)
        actions = torch.tensor([t[1] for t in batch], dtype=torch.float32)
        rewards = torch.tensor([[t[2]] for t in batch], dtype=torch.float32)
        target = rewards
        if self.gamma > 0.0:
            next_states = torch.tensor([t[3] for t in batch], dtype=torch.float32).reshape(len(batch), self._state_dim)
            with torch.no_grad():
                next_q = self._critic_target(torch.cat([next_states, self._actor_target(next_states)], dim=1))
            target = rewards + self.gamma * next_q

        critic_loss = torch.nn.functional.mse_loss(self._critic(torch.cat([states, actions], dim=1)), target)
        self._critic_optimizer.zero_grad()
        critic_loss.backward()
        self._critic_optimizer.step()

        actor_loss = -self._critic(torch.cat([states, self._actor(states)], dim=1)).mean()
        self._actor_optimizer.zero_grad()
        actor_loss.backward()
        self._actor_optimizer.step()

        with torch.no_grad():
            for net, target_net in ((self._actor, self._actor_target), (self._critic, self._critic_target)):
                for p, tp in zip(net.parameters(), target_net.parameters()):
                    tp.mul_(1.0 - self.tau).add_(p, alpha=self.tau)

    # ----------------------------------------------------------------- state
    def _get_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "rng": self._rng.bit_generator.state,
            "buffer": [list(t) for t in self._buffer],
            "n_open": self._n_open,
            "pending": {cid: {"state": s, "action": a} for cid, (s, a) in self._pending.items()},
        }
        for name in _NETWORKS:
            state[name] = [p.detach().tolist() for p in getattr(self, f"_{name}").parameters()]
        for name in ("actor_optimizer", "critic_optimizer"):
            moments = getattr(self, f"_{name}").state_dict()["state"]
            state[name] = [
                {"step": float(m["step"]), "exp_avg": m["exp_avg"].tolist(), "exp_avg_sq": m["exp_avg_sq"].tolist()}
                for _, m in sorted(moments.items())
            ]
        return state

    def _set_state(self, state: Mapping[str, Any]) -> None:
        torch = self._torch
        tensors = {name: self._tensors(state[name], getattr(self, f"_{name}"), name) for name in _NETWORKS}
        optimizers = {}
        for name, net in (("actor_optimizer", self._actor), ("critic_optimizer", self._critic)):
            moments = state[name]
            shapes = [p.shape for p in net.parameters()]
            if not isinstance(moments, list) or len(moments) not in (0, len(shapes)):
                raise ValueError(f"{name!r} must hold the Adam moments of every parameter, or none")
            optimizers[name] = {
                i: {
                    "step": torch.tensor(valid.number(m["step"], "step"), dtype=torch.float32),
                    "exp_avg": self._tensor(m["exp_avg"], shape, f"{name} exp_avg"),
                    "exp_avg_sq": self._tensor(m["exp_avg_sq"], shape, f"{name} exp_avg_sq"),
                }
                for i, (m, shape) in enumerate(zip(moments, shapes))
            }
        buffer = [self._transition(t) for t in state["buffer"]]
        if len(buffer) > self.buffer_size:
            raise ValueError(f"'buffer' holds more than buffer_size={self.buffer_size} transitions")
        n_open = valid.non_negative_int(state["n_open"], "n_open")
        if n_open > len(buffer):
            raise ValueError("'n_open' exceeds the number of transitions")
        pending = {
            cid: (
                self._vector(p["state"], self._state_dim, "pending state"),
                self._vector(p["action"], self._action_dim, "pending action"),
            )
            for cid, p in state["pending"].items()
        }
        rng = valid.generator(state["rng"])

        with torch.no_grad():
            for name, values in tensors.items():
                for p, value in zip(getattr(self, f"_{name}").parameters(), values):
                    p.copy_(value)
        for name, moments in optimizers.items():
            optimizer = getattr(self, f"_{name}")
            groups = optimizer.state_dict()["param_groups"]
            optimizer.load_state_dict({"state": moments, "param_groups": groups})
        self._buffer, self._n_open, self._pending, self._rng = buffer, n_open, pending, rng

    def _tensor(self, values: Any, shape: Any, field: str) -> Any:
        torch = self._torch
        try:
            tensor = torch.tensor(values, dtype=torch.float32)
        except (TypeError, ValueError, RuntimeError):
            raise ValueError(f"{field!r} must be a nested list of numbers") from None
        if tensor.numel() == 0 and math.prod(shape) == 0:
            tensor = tensor.reshape(shape)  # an empty list carries no shape
        if tensor.shape != shape or not bool(torch.isfinite(tensor).all()):
            raise ValueError(f"{field!r} must be finite numbers of shape {list(shape)}")
        return tensor

    def _tensors(self, values: Any, net: Any, field: str) -> list[Any]:
        shapes = [p.shape for p in net.parameters()]
        if not isinstance(values, list) or len(values) != len(shapes):
            raise ValueError(f"{field!r} must hold {len(shapes)} weight tensors")
        return [self._tensor(v, s, field) for v, s in zip(values, shapes)]

    @staticmethod
    def _vector(values: Any, size: int, field: str) -> list[float]:
        return valid.vector(values, size, field).tolist()

    def _transition(self, t: Any) -> list[Any]:
        if not isinstance(t, list) or len(t) != 4:
            raise ValueError("each 'buffer' entry must be [state, action, reward, next_state]")
        state = self._vector(t[0], self._state_dim, "buffer state")
        action = self._vector(t[1], self._action_dim, "buffer action")
        next_state = None if t[3] is None else self._vector(t[3], self._state_dim, "buffer next_state")
        return [state, action, valid.number(t[2], "buffer reward"), next_state]
