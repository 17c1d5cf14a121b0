"""PairedSearch: local search around the incumbent in pairs of rounds, for every parameter type.

Rounds come in pairs that share one categorical choice. The numerical parameters are played at
``center + delta_i * s`` and ``center - delta_i * s`` for a random sign vector ``s`` (SPSA), so the
pair's *difference* estimates the gradient at the centre and the pair's *mean* estimates the
reward of the categorical choice at the centre (to second order). That gives:

* numerical steps that are scale-free: the SPSA gradient goes through Adam, so each coordinate moves
  about ``eta`` (a fraction of its range) per step whatever the reward's units and noise. Two
  refinements: a gradient estimate is clipped to three times its running root mean square, so a
  heavy-tailed outlier moves the centre no more than a typical pair; and a step gain (between 1/4
  and 2) grows while new gradient estimates agree in sign with the momentum and shrinks while they
  disagree, so the centre settles at an optimum instead of wandering around it under noise (the
  agreement is weighted by each coordinate's momentum-to-noise ratio, so irrelevant coordinates of a
  sparse problem do not drag the gain down);
* categorical choices judged fairly: most pairs keep the incumbent categories (the first one always:
  it measures the level that exploring pairs are judged against); an exploring pair
  changes one categorical parameter to one other category, and its mean is compared with the
  incumbent's recent pair means (an exponentially weighted level), so the comparison is not
  confounded by the numerical exploration. A category replaces the incumbent only when its
  advantage exceeds the noise of the incumbent's level;
* numbers that follow the categories: every category keeps a numerical offset from the centre. An
  exploring pair is played around the centre shifted by the offsets of the categories it tries, and
  its difference steps those offsets along its gradient estimate, so a category whose best numbers
  lie elsewhere is judged nearer to them each time it is tried (a joint change adds both offsets,
  and a category that wins brings its numbers along). As its numbers move, a category's advantage
  is a running mean over its last few trials, not over all of them;
* bounded exploration: numerical points stay within ``delta`` of the centre (of the shifted centre
  on exploring pairs; at least one grid step on coarse grids), categorical exploration changes one
  parameter at a time and becomes rarer once every alternative was tried; it decays with the number
  of single *and* joint two-parameter changes, so spaces where only a combination pays keep
  exploring long enough to find it;
* joint changes kept alive while they may pay: with two or more categorical parameters, while some
  tried joint change did better than its two halves tried alone (an interaction, by 2 noise standard
  errors) and is within 3 standard errors of beating the incumbent, categorical exploration does not
  decay below 3 times ``explore`` and the extra exploring pairs go to the most promising joint
  change. Where the categories' effects add up, no joint change qualifies and nothing changes. A
  joint change steps both its categories' offsets fully, as a single change would, so its numbers
  move as fast as theirs;
* a changed workload noticed: when the incumbent's pair means fall and stay below their running
  level (a one-sided CUSUM past ``shift_threshold`` standard deviations), what the learner knew about
  the categories is stale, so it forgets it and explores them again.

Without numerical parameters a "pair" is a single round.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from oppertune.algorithms import _arguments as check
from oppertune.algorithms import _state as valid
from oppertune.algorithms._random import BufferedDraws
from oppertune.algorithms.base import TuningInstance
from oppertune.core.types import Context
from oppertune.core.values import Categorical, Integer, Real, ValueType, transform

__all__ = ["PairedSearch"]

_BETA1, _BETA2, _EPS = 0.3, 0.95, 1e-12
_LEVEL_RATE = 0.1
_SHIFT_SLACK = 0.5  # standard deviations of drift per pair the shift detector ignores
_SHIFT_WARMUP = 5  # pairs of the incumbent's before its level's spread is trusted
_UNTRIED_EXPLORE = 0.5
_CLIP = 3.0  # gradient estimates are clipped to this many running root mean squares
_GAIN_RATE, _GAIN_TARGET, _GAIN_RANGE = 0.15, 0.1, (0.25, 2.0)
_ADVANTAGE_WINDOW = 3  # a category's advantage is a running mean over about its last three trials
_OFFSET_RATE = 1.0  # step of the category offsets, relative to the centre's step at gain 1
_PROMISING_EXPLORE = 3.0  # exploration floor (times ``explore``) while a joint change is promising
_PROMISING_Z = 3.0  # a tried joint change is promising while within this many standard errors of winning...
_INTERACTION_Z = 2.0  # ...and better than the sum of its halves by this many standard errors


class PairedSearch(TuningInstance):
    """Incumbent-centred search: SPSA pairs with Adam for numbers, paired comparisons for categories.

    Args:
        parameters: The parameters to tune, of any type.
        delta: Half-width of the numerical perturbation, as a fraction of each range (at least half a
            grid step on stepped parameters), in (0, 0.5).
        eta: Adam step size, as a fraction of each range.
        explore: Probability that a pair tries another category while some alternative is untried;
            it then decays with the number of pairs.
        shift_threshold: A sustained drop in the reward of the incumbent's pairs (a one-sided CUSUM of their
            standardised differences from its running level, with slack 0.5) past this many standard deviations
            means the workload changed: the learner forgets its categorical comparisons and explores again.
            None turns the detection off.
        random_seed: Seed for reproducible runs.
    """

    name = "paired_search"

    def __init__(
        self,
        parameters: Iterable[ValueType | Mapping[str, Any]],
        delta: float = 0.1,
        eta: float = 0.1,
        explore: float = 0.25,
        shift_threshold: float | None = 8.0,
        random_seed: int | None = None,
    ) -> None:
        owner = type(self).__name__
        self.delta = check.float_in(owner, "delta", delta, 0.0, 0.5)
        self.eta = check.positive_float(owner, "eta", eta)
        self.explore = check.float_in(owner, "explore", explore, 0.0, 1.0, closed_low=True)
        self.shift_threshold = (
            None if shift_threshold is None else check.positive_float(owner, "shift_threshold", shift_threshold)
        )
        self.random_seed = check.seed(owner, random_seed)
        super().__init__(parameters)

        self._numbers = [p for p in self._tuned if isinstance(p, (Integer, Real))]
        self._categories = [p for p in self._tuned if isinstance(p, Categorical)]
        self._decoders = [(p.name, p.from_unit) for p in self._numbers]
        per_coordinate = self.delta / math.sqrt(max(1, len(self._numbers)))
        self._widths = [
            max(per_coordinate, 0.51 / p.n_steps) if p.n_steps else per_coordinate for p in self._numbers
        ]  # fmt: skip
        self._base_widths = list(self._widths)
        self._perturb = [1.0] * len(self._numbers)
        self._exploration_scale = 1.0
        self._pair_length = 2 if self._numbers else 1
        alternatives = [p.n_categories - 1 for p in self._categories]
        self._n_alternatives = sum(alternatives)
        self._n_joint = sum(a * b for i, a in enumerate(alternatives) for b in alternatives[i + 1 :])
        self._draws = BufferedDraws(self.random_seed, "uniform")

        dim = len(self._numbers)
        self._center = [float(transform(p, p.val)) for p in self._numbers]
        self._m = [0.0] * dim
        self._v = [0.0] * dim
        self._steps = 0
        self._gain = 1.0
        self._signs = [1.0] * dim
        self._phase = 0
        self._first_reward = 0.0
        self._played: list[list[float]] = [[0.0] * dim, [0.0] * dim]

        self._incumbent = [p.index(p.val) for p in self._categories]
        # per categorical parameter and category: its numerical offset from the centre (unit space)
        self._offsets = [[[0.0] * dim for _ in range(p.n_categories)] for p in self._categories]
        self._shift = [0.0] * dim  # the offset of the pair's categories relative to the incumbent's
        self._pair_choice = list(self._incumbent)
        self._exploring: list[tuple[int, int]] | None = None
        # per categorical parameter and category: [count, mean advantage]
        self._advantage = [[[0, 0.0] for _ in range(p.n_categories)] for p in self._categories]
        # joint changes of two categorical parameters, "i:k,j:l" -> [count, mean advantage]
        self._joint: dict[str, list[float]] = {}
        self._level: float | None = None
        self._level_var = 0.0
        self._drop = 0.0  # CUSUM of standardised drops of the incumbent's pair means below the level
        self._shift_count = 0
        self._level_updates = 0  # since the level was last reset: its spread is not yet known before a few
        self._pairs = 0

    # ------------------------------------------------------------------ predicting
    def _predict(self, context: Context) -> dict[str, Any]:
        if self._phase == 0:
            self._start_pair()
        sign = 1.0 if self._phase == 0 else -1.0
        values: dict[str, Any] = {}
        played = self._played[self._phase]
        for i, ((name, decode), c, w, s) in enumerate(zip(self._decoders, self._center, self._widths, self._signs)):
            value = decode(min(1.0, max(0.0, c + self._shift[i])) + sign * w * s)
            values[name] = value
            played[i] = float(transform(self._numbers[i], value))
        for p, index in zip(self._categories, self._pair_choice):
            values[p.name] = p.categories[index]
        return values

    def _start_pair(self) -> None:
        draws = self._draws
        self._signs = [1.0 if u < 0.5 else -1.0 for u in draws.take(len(self._numbers))] if self._numbers else []
        if any(p < 1.0 for p in self._perturb):
            self._signs = [
                s if u < p else 0.0 for s, p, u in zip(self._signs, self._perturb, draws.take(len(self._perturb)))
            ]
        self._pair_choice = list(self._incumbent)
        self._exploring = None
        if self._n_alternatives and self._level is not None:  # an exploring pair is judged against the level
            x = draws.take_one()
            usual, boosted = self._exploration_probabilities()
            if x < boosted:  # beyond the usual probability, the pair goes to the most promising joint change
                u, v = draws.take_one(), draws.take_one()
                changes = self._pick_alternative(u, v if x < usual else 0.0)
                for parameter, category in changes:
                    self._pair_choice[parameter] = category
                self._exploring = changes
        self._shift = self._shift_of(self._exploring or [])

    def _shift_of(self, changes: list[tuple[int, int]]) -> list[float]:
        """The numerical shift from the centre of a pair that makes ``changes``: the offsets of the new
        categories minus those of the incumbent ones."""
        shift = [0.0] * len(self._numbers)
        for parameter, category in changes:
            new, old = self._offsets[parameter][category], self._offsets[parameter][self._incumbent[parameter]]
            shift = [x + a - b for x, a, b in zip(shift, new, old)]
        return shift

    def _set_exploration_scale(self, scale: float) -> frozenset[str]:
        """Scale the perturbations (not the steps: a step follows evidence, and halving it only delays the tuner).
        A grid parameter whose scaled perturbation would be under one grid step is still perturbed by one step,
        in a fraction of the pairs: the expected perturbation shrinks with the scale, and the parameter never
        freezes.

        The running mean square of the gradient estimates is rescaled with the square of the scale's change: an
        estimate divides the reward noise by the perturbation, so estimates made with narrow perturbations are
        noisier and would otherwise hold back the steps long after the scale recovers."""
        self._v = [v * (self._exploration_scale / scale) ** 2 for v in self._v]
        self._exploration_scale = scale
        self._widths, self._perturb = [], []
        for p, width in zip(self._numbers, self._base_widths):
            least = 0.51 / p.n_steps if p.n_steps else 0.0
            scaled = width * scale
            self._widths.append(max(scaled, least))
            self._perturb.append(min(1.0, scaled / least) if least else 1.0)
        return frozenset(p.name for p in self._tuned)

    def _straddles_start(self) -> bool:
        return True

    def _shifts(self, context: Context) -> int:
        return self._shift_count

    def _reexplore(self) -> None:
        self._drop = 0.0
        self._level_updates = 0
        for stats in self._advantage:
            for entry in stats:
                entry[0], entry[1] = 0, 0.0
        self._joint = {}
        self._level, self._level_var = None, 0.0

    def _recentre(self, config: Mapping[str, Any], context: Context) -> None:
        """Search on from ``config``: its numbers are the centre and its categories the incumbent ones. A pair half
        played is dropped, and the level is measured anew (it was the old centre's); what was learnt about the
        categories is forgotten when they change (it was judged against the old incumbent)."""
        self._phase = 0
        self._center = [float(transform(p, config[p.name])) for p in self._numbers]
        self._m = [0.0] * len(self._m)
        categories = [p.index(config[p.name]) for p in self._categories]
        if categories != self._incumbent:
            self._incumbent = categories
            self._reexplore()
        self._level, self._level_var, self._drop, self._level_updates = None, 0.0, 0.0, 0

    def _exploration_probabilities(self) -> tuple[float, float]:
        """The usual probability that a pair explores, and the probability raised while a joint change is
        promising (the pairs in between go to a joint change)."""
        untried = any(
            count == 0 and k != self._incumbent[i]
            for i, stats in enumerate(self._advantage)
            for k, (count, _) in enumerate(stats)
        )
        if untried:
            p = max(self.explore, _UNTRIED_EXPLORE) * self._exploration_scale
            return p, p
        n = self._n_alternatives + self._n_joint
        usual = self.explore * self._exploration_scale * min(1.0, math.sqrt(n / (1.0 + self._pairs)))
        floor = min(1.0, _PROMISING_EXPLORE * self.explore) * self._exploration_scale
        if floor > usual and len(self._categories) > 1 and self._joint_promising():
            return usual, floor
        return usual, usual

    def _joint_candidates(self) -> list[tuple[tuple[int, int], tuple[int, int]]]:
        """Every joint change of two categorical parameters away from the incumbent."""
        return [
            ((i, k), (j, m))
            for i in range(len(self._categories))
            for j in range(i + 1, len(self._categories))
            for k in range(self._categories[i].n_categories)
            if k != self._incumbent[i]
            for m in range(self._categories[j].n_categories)
            if m != self._incumbent[j]
        ]

    def _noise(self) -> float:
        """The noise of the incumbent's level (or, before it is known, the spread of the advantages)."""
        noise = math.sqrt(self._level_var)
        if noise == 0.0:
            means = [mean for stats in self._advantage for count, mean in stats if count]
            noise = (max(means) - min(means)) if len(means) > 1 and max(means) > min(means) else 1.0
        return noise

    def _joint_promising(self) -> bool:
        """Whether some tried joint change may still beat the incumbent (within ``_PROMISING_Z`` standard errors)
        and did better than its two halves tried alone (by ``_INTERACTION_Z`` standard errors): only then does
        the combination, not the sum of two single changes, carry the promise."""
        noise = self._noise()
        for key, (count, mean) in self._joint.items():
            if count and mean + _PROMISING_Z * noise / math.sqrt(count) > 0.0:
                (i, k), (j, m) = (map(int, part.split(":")) for part in key.split(","))
                (first_count, first), (second_count, second) = self._advantage[i][k], self._advantage[j][m]
                halves = first + second if first_count and second_count else -math.inf
                if mean - halves > _INTERACTION_Z * noise / math.sqrt(count):
                    return True
        return False

    def _pick_alternative(self, u: float, v: float) -> list[tuple[int, int]]:
        """One categorical change (an untried one first, chosen by ``u``), or, once every single change was
        tried, in half the cases (``v``) a joint change of two parameters: what single changes cannot find
        when only a combination is better."""
        untried = [
            (i, k)
            for i, stats in enumerate(self._advantage)
            for k, (count, _) in enumerate(stats)
            if count == 0 and k != self._incumbent[i]
        ]
        if untried:
            return [untried[min(int(u * len(untried)), len(untried) - 1)]]
        noise = self._noise()
        bonus = 2.0 * math.log(2.0 + self._pairs)
        if len(self._categories) > 1 and v < 0.5:
            return self._pick_joint(u, noise, bonus)
        best, best_score = (0, 0), -math.inf
        for i, stats in enumerate(self._advantage):
            for k, (count, mean) in enumerate(stats):
                if k == self._incumbent[i]:
                    continue
                score = mean + noise * math.sqrt(bonus / count)
                if score > best_score:
                    best, best_score = (i, k), score
        return [best]

    def _pick_joint(self, u: float, noise: float, bonus: float) -> list[tuple[int, int]]:
        candidates = self._joint_candidates()
        untried = [c for c in candidates if _joint_key(c) not in self._joint]
        if untried:
            return list(untried[min(int(u * len(untried)), len(untried) - 1)])
        best = max(candidates, key=lambda c: self._joint[_joint_key(c)][1] + noise * math.sqrt(
            bonus / self._joint[_joint_key(c)][0]))  # fmt: skip
        return list(best)

    # ------------------------------------------------------------------ learning
    def _learn(self, reward: float | list[float], context: Context) -> None:
        r = float(reward)  # type: ignore[arg-type]
        if self._pair_length == 2 and self._phase == 0:
            self._first_reward, self._phase = r, 1
            return
        self._phase = 0
        self._pairs += 1
        mean = r if self._pair_length == 1 else 0.5 * (self._first_reward + r)
        if self._exploring is None:
            if self._numbers:
                self._step(self._first_reward - r)
            self._update_level(mean)
        else:
            if self._numbers:
                self._adapt_offsets(self._first_reward - r)
            self._judge(mean)

    def _update_level(self, mean: float) -> None:
        if self._level is None:
            self._level = mean
            return
        error = mean - self._level
        self._level_updates += 1
        if self.shift_threshold is not None and self._level_updates > _SHIFT_WARMUP and self._level_var > 0.0:
            self._drop = max(0.0, self._drop - error / math.sqrt(self._level_var) - _SHIFT_SLACK)
            if self._drop > self.shift_threshold:
                self._reexplore()
                self._shift_count += 1
                self._level = mean
                return
        self._level += _LEVEL_RATE * error
        self._level_var = (1.0 - _LEVEL_RATE) * (self._level_var + _LEVEL_RATE * error * error)

    def _judge(self, mean: float) -> None:
        changes = self._exploring or []
        if self._level is None:  # the level was forgotten during the pair: nothing to judge against
            self._level = mean
            return
        advantage = mean - self._level
        if len(changes) == 1:
            stats = self._advantage[changes[0][0]][changes[0][1]]
        else:
            stats = self._joint.setdefault(_joint_key(changes), [0, 0.0])
        stats[0] += 1
        stats[1] += (advantage - stats[1]) / min(stats[0], _ADVANTAGE_WINDOW)
        noise = math.sqrt(self._level_var)
        if stats[1] > noise / math.sqrt(stats[0]) and stats[1] > 0.0:
            if self._numbers:  # the winner brings its numbers along; the momentum belonged to the old centre
                self._center = [min(1.0, max(0.0, c + x)) for c, x in zip(self._center, self._shift)]
                self._m = [0.0] * len(self._m)
            for parameter, category in changes:
                previous = self._incumbent[parameter]
                self._incumbent[parameter] = category
                for entry in self._advantage[parameter]:
                    entry[0], entry[1] = 0, 0.0
                if len(changes) == 1:
                    self._advantage[parameter][previous] = [1, -stats[1]]
            self._joint = {}
            self._level = mean  # the winner's mean, lucky by selection: the shift detector starts afresh from it
            self._drop, self._level_updates = 0.0, 0

    def _adapt_offsets(self, difference: float) -> None:
        """Step the offsets of an exploring pair's categories along its gradient estimate.

        The estimate is normalised by the centre's running gradient scale and clipped like the centre's;
        a joint change steps both its categories' offsets fully, as a single change would (its shift, their
        sum, moves twice as far: a joint change is tried rarely and its numbers have the farthest to go).
        """
        changes = self._exploring or []
        plus, minus = self._played
        t = max(1, self._steps)
        scale = _OFFSET_RATE * self.eta / math.sqrt(len(self._center))
        for i in range(len(self._center)):
            spread = plus[i] - minus[i]
            if spread == 0.0 or self._v[i] <= 0.0:
                continue
            z = difference / spread / math.sqrt(self._v[i] / (1.0 - _BETA2**t))
            z = max(-_CLIP, min(_CLIP, z))
            for parameter, category in changes:
                offset = self._offsets[parameter][category]
                offset[i] = max(-1.0, min(1.0, offset[i] + scale * z))

    def _step(self, difference: float) -> None:
        plus, minus = self._played
        self._steps += 1
        t = self._steps
        scale = self.eta / math.sqrt(len(self._center)) * self._gain
        agreement = weight = 0.0
        for i in range(len(self._center)):
            spread = plus[i] - minus[i]
            if spread == 0.0:  # not perturbed in this pair: no evidence about this coordinate
                continue
            g = difference / spread
            if self._v[i] > 0.0:
                bound = _CLIP * math.sqrt(self._v[i] / (1.0 - _BETA2 ** (t - 1)))
                g = max(-bound, min(bound, g))
                if g != 0.0:
                    w = abs(self._m[i]) / math.sqrt(self._v[i])
                    agreement += w if (g > 0.0) == (self._m[i] > 0.0) else -w
                    weight += w
            self._m[i] = _BETA1 * self._m[i] + (1.0 - _BETA1) * g
            self._v[i] = _BETA2 * self._v[i] + (1.0 - _BETA2) * g * g
            v_hat = self._v[i] / (1.0 - _BETA2**t)
            if v_hat > 0.0:
                # the first moment is not bias-corrected: steps start small and grow as gradients agree
                self._center[i] = min(1.0, max(0.0, self._center[i] + scale * self._m[i] / (math.sqrt(v_hat) + _EPS)))
        if weight > 0.0:
            low, high = _GAIN_RANGE
            self._gain = min(high, max(low, self._gain * math.exp(_GAIN_RATE * (agreement / weight - _GAIN_TARGET))))

    # ------------------------------------------------------------------ inspection and state
    @property
    def center(self) -> dict[str, Any]:
        """The incumbent: the centre of the numerical search and the incumbent categories."""
        values = {name: decode(c) for (name, decode), c in zip(self._decoders, self._center)}
        values.update({p.name: p.categories[k] for p, k in zip(self._categories, self._incumbent)})
        return values

    def _get_state(self) -> dict[str, Any]:
        return {
            "draws": self._draws.get_state(),
            "center": list(self._center),
            "m": list(self._m),
            "v": list(self._v),
            "steps": self._steps,
            "gain": self._gain,
            "signs": list(self._signs),
            "phase": self._phase,
            "first_reward": self._first_reward,
            "played": [list(x) for x in self._played],
            "incumbent": list(self._incumbent),
            "pair_choice": list(self._pair_choice),
            "exploring": None if self._exploring is None else [list(c) for c in self._exploring],
            "joint": {key: list(value) for key, value in self._joint.items()},
            "advantage": [[list(entry) for entry in stats] for stats in self._advantage],
            "offsets": [[list(offset) for offset in stats] for stats in self._offsets],
            "shift": list(self._shift),
            "level": self._level,
            "level_var": self._level_var,
            "drop": self._drop,
            "shifts": self._shift_count,
            "level_updates": self._level_updates,
            "pairs": self._pairs,
        }

    def _set_state(self, state: Mapping[str, Any]) -> None:
        dim = len(self._numbers)
        center = valid.vector(state["center"], dim, "center")
        if any(not 0.0 <= c <= 1.0 for c in center):
            raise ValueError("'center' must lie in [0, 1]")
        m = valid.vector(state["m"], dim, "m")
        v = valid.vector(state["v"], dim, "v")
        signs = valid.vector(state["signs"], dim, "signs")
        if any(s not in (1.0, -1.0, 0.0) for s in signs) or any(x < 0 for x in v):
            raise ValueError("'signs' must be +-1 or 0 and 'v' non-negative")
        played = state["played"]
        if not isinstance(played, list) or len(played) != 2:
            raise ValueError("'played' must hold two points")
        played_points = [valid.vector(x, dim, "played").tolist() for x in played]
        if state["phase"] not in (0, 1):
            raise ValueError("'phase' must be 0 or 1")
        counts = [p.n_categories for p in self._categories]
        incumbent = _indices(state["incumbent"], counts, "incumbent")
        pair_choice = _indices(state["pair_choice"], counts, "pair_choice")
        exploring = state["exploring"]
        if exploring is not None:
            if not isinstance(exploring, list) or not 1 <= len(exploring) <= 2:
                raise ValueError("'exploring' must list one or two changes")
            exploring = [tuple(_indices(c, [len(counts), max(counts, default=1)], "exploring")) for c in exploring]
            if any(k >= counts[i] for i, k in exploring):
                raise ValueError("'exploring' names a category that does not exist")
        joint = state["joint"]
        if not isinstance(joint, dict):
            raise ValueError("'joint' must be a mapping")
        joint_stats = {
            str(key): [valid.non_negative_int(v[0], "joint count"), valid.number(v[1], "joint advantage")]
            for key, v in joint.items()
        }
        advantage = state["advantage"]
        if not isinstance(advantage, list) or [len(a) for a in advantage] != counts:
            raise ValueError("'advantage' must hold one entry per category")
        parsed = [
            [[valid.non_negative_int(e[0], "advantage count"), valid.number(e[1], "advantage")] for e in stats]
            for stats in advantage
        ]
        level = None if state["level"] is None else valid.number(state["level"], "level")
        level_var = valid.number(state["level_var"], "level_var")
        if level_var < 0:
            raise ValueError("'level_var' must be non-negative")
        gain = valid.number(state.get("gain", 1.0), "gain")  # states saved before the gain had none
        if not _GAIN_RANGE[0] <= gain <= _GAIN_RANGE[1]:
            raise ValueError(f"'gain' must lie in [{_GAIN_RANGE[0]}, {_GAIN_RANGE[1]}]")
        offsets = state.get("offsets")  # states saved before the offsets had none
        if offsets is None:
            offset_lists = [[[0.0] * dim for _ in range(n)] for n in counts]
        else:
            if not isinstance(offsets, list) or [len(o) if isinstance(o, list) else -1 for o in offsets] != counts:
                raise ValueError("'offsets' must hold one entry per category")
            offset_lists = [[valid.vector(o, dim, "offsets").tolist() for o in stats] for stats in offsets]
            if any(not -1.0 <= x <= 1.0 for stats in offset_lists for o in stats for x in o):
                raise ValueError("'offsets' must lie in [-1, 1]")
        drop = valid.number(state.get("drop", 0.0), "drop")  # states saved before the shift detector had none
        if drop < 0:
            raise ValueError("'drop' must be non-negative")
        shift = [0.0] * dim if state.get("shift") is None else valid.vector(state["shift"], dim, "shift").tolist()
        self._draws.set_state(state["draws"])
        self._center, self._m, self._v = center.tolist(), m.tolist(), v.tolist()
        self._steps = valid.non_negative_int(state["steps"], "steps")
        self._gain = gain
        self._signs, self._phase = signs.tolist(), state["phase"]
        self._first_reward = valid.number(state["first_reward"], "first_reward")
        self._played = played_points
        self._incumbent, self._pair_choice, self._exploring = incumbent, pair_choice, exploring
        self._joint = joint_stats
        self._advantage, self._level, self._level_var = parsed, level, level_var
        self._pairs = valid.non_negative_int(state["pairs"], "pairs")
        self._offsets, self._shift = offset_lists, shift
        self._drop = drop
        self._shift_count = valid.non_negative_int(state.get("shifts", 0), "shifts")
        self._level_updates = valid.non_negative_int(state.get("level_updates", _SHIFT_WARMUP + 1), "level_updates")


def _joint_key(changes: Any) -> str:
    return ",".join(f"{i}:{k}" for i, k in changes)


def _indices(values: Any, limits: list[int], field: str) -> list[int]:
    if not isinstance(values, list) or len(values) != len(limits):
        raise ValueError(f"{field!r} must be a list of {len(limits)} indices")
    for value, limit in zip(values, limits):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < limit:
            raise ValueError(f"{field!r} holds an index out of range")
    return list(values)
