"""AutoScope: a learned oblique binary tree over context features, with one numerical learner per leaf.

Routing. A context becomes an input vector ``x``: each numeric feature as given, each categorical
feature one-hot over its declared values, in the order the features were given. Internal node ``n``
of a tree of height ``h`` (breadth-first numbering, children ``2n + 1`` left and ``2n + 2`` right)
computes ``z_n = W[n, :-1] . x + W[n, -1]`` and decides ``d_n = 1`` (right) when ``z_n > 0``, else
``d_n = 0`` (left). A fixed +1/-1/0 matrix ``A`` (``A[l, n]`` is +1 when leaf ``l`` lies right of
node ``n``, -1 when left, 0 when ``n`` is not above ``l``) turns the decisions into one leaf: the
leaf whose indicator ``p_l = prod over n with A[l, n] != 0 of (d_n if A[l, n] = +1 else 1 - d_n)``
is 1. Each of the ``2**h`` leaves is an independent numerical learner (``bluefin`` by default)
over the same parameters: contexts that reach one leaf share its configuration and pool their
rewards; contexts in different leaves are tuned apart.

Learning the splits. When the leaf that served a context takes a gradient step ``g`` (normalised
space), the loss gradient of each leaf's score is ``-g . c_l`` (``c_l`` the leaf's current centre:
to first order, what the context would gain at that leaf). It flows through the indicators ``p``
to the decisions and straight through the binarisation (derivative 1 where ``|z_n| <= delta``, 0
outside that window) to ``W``. Only the nodes on the context's path receive a gradient:
``dL/dz_n = -(g . c_right - g . c_left)``, where ``c_right`` and ``c_left`` are the centres of the
leaves the context reaches when node ``n`` goes right or left (one of them is the serving leaf),
and ``dL/dW[n] = dL/dz_n * [x, 1]``. ``W`` then takes an SGD or RMSprop step with rate ``eta``.

Scoring the leaves linearly instead (``s = A . b`` with ``b = 2d - 1``) makes every node compare
the score sums of its whole left and right subtrees, so a context is pulled towards leaves it
cannot reach. On ``python -m oppertune.bench.autoscope`` that variant was the more sensitive to
``eta`` (with SGD at ``eta = 0.03`` it already merged load levels with different optima: regret
0.49 against 0.39 for the product form), so the product form is used.

Initial weights. Unless ``internal_weights`` are given, the tree starts spread out: the top levels
split each categorical feature's values evenly (value ``i`` of ``K`` heads for the subtree
``i * 2**b // K`` of the ``b = ceil(log2 K)`` levels it gets), the next levels split each numeric
feature at 0, and every such weight is ``+-delta / 2``, inside the window so it can still learn.
Distinct categorical values thus start in distinct leaves when there are enough leaves. (Random
initial weights put several values with different optima in one leaf, which the gradient above
does not separate again: on the benchmark that roughly doubled the regret.)

What learning the splits buys, measured on the benchmark: little. With the spread-out start and
the default ``eta`` the splits hardly move in 300 rounds (learned and frozen initial trees score
the same); larger ``eta`` merged contexts with different optima and did worse. First-order leaf
gradients can keep contexts apart, but they rarely reveal that two contexts would gain from
sharing a leaf; give ``internal_weights`` (frozen or not) when the grouping is known.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypedDict

import numpy as np

from oppertune.algorithms import _arguments as check
from oppertune.algorithms import _state as valid
from oppertune.algorithms.base import TuningInstance
from oppertune.algorithms.bluefin import BlueFin
from oppertune.core.types import Context
from oppertune.core.values import Categorical, Integer, Real, ValueType

__all__ = ["MAX_HEIGHT", "AutoScope", "AutoScopeFeature"]

MAX_HEIGHT = 10
"""The deepest tree AutoScope builds (1024 leaves)."""

_MAX_CONTRIBUTORS = 32
_OPTIMIZER_ARGS = {"sgd": {}, "rmsprop": {"alpha": 0.99, "eps": 1e-8}}
_MISSING = object()
_NO_CONTEXT = Context()

# One encoded context: the non-zero inputs as (column, value) pairs; the bias column is implicit.
_Encoded = tuple[tuple[int, float], ...]


class AutoScopeFeature(TypedDict):
    """A context feature AutoScope routes on: ``values`` lists a categorical feature's values, None means numeric."""

    name: str
    values: Sequence[str] | None


class _LeafRound:
    """The open round of one leaf: the configuration it plays and the rewards collected for it."""

    __slots__ = ("accepting", "config", "count", "id", "mean", "waiting")

    def __init__(self, id: int, config: dict[str, Any], waiting: int, mean: float, count: int, accepting: bool):
        self.id = id
        self.config = config
        self.waiting = waiting
        self.mean = mean
        self.count = count
        self.accepting = accepting

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "config": dict(self.config),
            "waiting": self.waiting,
            "mean": self.mean,
            "count": self.count,
            "accepting": self.accepting,
        }


class AutoScope(TuningInstance):
    """Tunes Integer and Real parameters per context, sharing a configuration among contexts a learned tree groups.

    Prediction: ``predict(Context({...}))`` routes the context to one leaf and returns that leaf's
    configuration; ``set_reward(reward, context_id=...)`` teaches that leaf and, unless the weights
    are frozen, the splits. Several contexts may have outstanding predictions at once; each
    ``set_reward`` applies to its own context's latest prediction.

    Leaf rounds: a leaf plays one configuration at a time. The first context routed to a leaf
    opens a leaf round and the leaf proposes a configuration; every context routed to the leaf
    before the first reward of that round arrives joins it (same configuration), and the leaf
    learns once, from the mean of the round's rewards, when all those contexts have reported. A
    context routed to the leaf after the round's first reward is served the same configuration;
    its reward joins the mean if it arrives before the round closes and is dropped otherwise, so a
    busy context can never hold a leaf round open. With a ``feedback=2`` bluefin leaf the ``+delta``
    and ``-delta`` halves of its pair are two such leaf rounds. A context that never reports keeps
    its leaf round open (other contexts are still served, but that leaf stops learning).

    Split learning (see the module docstring) runs when a leaf takes a gradient step; it uses every
    context whose reward went into that step (both halves of a ``feedback=2`` pair) and that still
    routes to the leaf, averaging their gradients (a context that now routes elsewhere is skipped;
    the leaf has learned from its reward regardless). Only leaves that take gradient steps
    (``bluefin`` and its subclasses) can teach the splits: any other leaf algorithm requires
    ``fix_internal_weights=True``. RMSprop keeps one running square per weight and, as the gradient
    of a context touches only its non-zero inputs, updates only those.

    Args:
        parameters: The Integer and Real parameters to tune (constants allowed).
        features: The context features to route on, as ``{"name": ..., "values": [...]}`` for a
            categorical feature (at least two distinct string values) or ``{"name": ..., "values": None}``
            for a numeric one. Numeric features enter the splits as given: centre and scale them to
            about [-1, 1]. A context must carry exactly these features.
        leaf_algorithm: Registry name of the leaf learner: a context-free algorithm that tunes Integer
            and Real parameters from one reward per round.
        leaf_algorithm_args: Constructor arguments of every leaf (without ``random_seed``: the leaves'
            seeds are derived from ``random_seed``).
        height: Height of the tree, 1 to `MAX_HEIGHT`; it has ``2**height - 1`` internal nodes and
            ``2**height`` leaves.
        eta: Learning rate of the split weights. Small by default: on the benchmark larger rates
            merged contexts with different optima into one leaf.
        delta: Half-width of the straight-through window: a node passes gradient to its weights only
            for contexts with ``|z_n| <= delta``, so a context whose split is decided by a margin of
            more than ``delta`` stays where it is.
        optimizer: ``"sgd"`` or ``"rmsprop"`` for the split weights.
        optimizer_args: For RMSprop, ``alpha`` (smoothing, default 0.99) and ``eps`` (default 1e-8).
        internal_weights: Initial split weights: ``2**height - 1`` rows, one per internal node in
            breadth-first order, of ``n_inputs + 1`` numbers: one weight per input (one per numeric
            feature, one per value of each categorical feature, in the order the features were given)
            and the bias last. By default the spread-out start described in the module docstring.
        fix_internal_weights: Freeze the split weights (no split learning).
        random_seed: Seed for reproducible runs (it seeds the leaves).
    """

    name = "autoscope"
    supported_parameter_types = (Categorical, Integer, Real)
    uses_context = True

    def __init__(
        self,
        parameters: Iterable[ValueType | Mapping[str, Any]],
        features: Sequence[AutoScopeFeature],
        leaf_algorithm: str = "bluefin",
        leaf_algorithm_args: Mapping[str, Any] | None = None,
        height: int = 3,
        eta: float = 0.02,
        delta: float = 1.0,
        optimizer: str = "sgd",
        optimizer_args: Mapping[str, float] | None = None,
        internal_weights: Sequence[Sequence[float]] | None = None,
        fix_internal_weights: bool = False,
        random_seed: int | None = None,
    ) -> None:
        from oppertune.algorithms.registry import get_algorithm_class

        owner = type(self).__name__
        self.features = _check_features(owner, features)
        if isinstance(height, bool) or not isinstance(height, int) or not 1 <= height <= MAX_HEIGHT:
            raise ValueError(
                f"The 'height' argument of {owner} must be an int in [1, {MAX_HEIGHT}]. Got {height!r} instead."
            )
        self.height = int(height)
        self.eta = check.positive_float(owner, "eta", eta)
        self.delta = check.positive_float(owner, "delta", delta)
        self.optimizer = check.choice(owner, "optimizer", optimizer, tuple(_OPTIMIZER_ARGS))
        self.optimizer_args = check.mapping(owner, "optimizer_args", optimizer_args, allowed=_OPTIMIZER_ARGS[optimizer])
        merged = {**_OPTIMIZER_ARGS[optimizer], **self.optimizer_args}
        if optimizer == "rmsprop":
            self._alpha = check.float_in(owner, "optimizer_args['alpha']", merged["alpha"], 0.0, 1.0, closed_low=True)
            self._eps = check.positive_float(owner, "optimizer_args['eps']", merged["eps"])
        if not isinstance(fix_internal_weights, bool):
            raise TypeError(
                f"The 'fix_internal_weights' argument of {owner} must be a bool. Got {fix_internal_weights!r} instead."
            )
        self.fix_internal_weights = fix_internal_weights
        self.random_seed = check.seed(owner, random_seed)

        try:
            leaf_class = get_algorithm_class(leaf_algorithm)
        except ValueError as exc:
            raise ValueError(f"The 'leaf_algorithm' argument of {owner} is invalid: {exc}") from None
        if (
            Integer not in leaf_class.supported_parameter_types
            or Real not in leaf_class.supported_parameter_types
            or leaf_class.uses_context
            or leaf_class.learns_from_stored_rewards
        ):
            raise ValueError(
                f"The 'leaf_algorithm' argument of {owner} must name a context-free algorithm that tunes Integer and "
                f"Real parameters from one reward per round, such as 'bluefin'. Got {leaf_algorithm!r} instead."
            )
        self.leaf_algorithm = leaf_algorithm
        self._gradient_leaves = issubclass(leaf_class, BlueFin)
        if not self._gradient_leaves and not fix_internal_weights:
            raise ValueError(
                f"The 'leaf_algorithm' argument of {owner} is {leaf_algorithm!r}, which takes no gradient steps to "
                "learn the splits from: pass fix_internal_weights=True (and internal_weights to choose the splits) "
                "or use 'bluefin'."
            )
        leaf_args = check.mapping(owner, "leaf_algorithm_args", leaf_algorithm_args)
        accepted = [n for n in inspect.signature(leaf_class.__init__).parameters if n not in ("self", "parameters")]
        if "random_seed" in leaf_args:
            raise ValueError(
                f"The 'leaf_algorithm_args' argument of {owner} must not set 'random_seed': the leaves' seeds are "
                f"derived from the 'random_seed' argument of {owner}."
            )
        unknown = sorted(set(leaf_args) - set(accepted))
        if unknown:
            raise ValueError(
                f"The 'leaf_algorithm_args' argument of {owner} has unknown key(s) {unknown}; {leaf_algorithm!r} "
                f"accepts: {', '.join(n for n in accepted if n != 'random_seed') or 'none'}."
            )
        self.leaf_algorithm_args = leaf_args

        # Inputs in the order the features were given: one per numeric feature, one per categorical value.
        schema: list[tuple[str, dict[str, int] | None, int]] = []
        self._input_names: list[tuple[str, str | None]] = []
        column = 0
        for feature in self.features:
            if feature["values"] is None:
                schema.append((feature["name"], None, column))
                self._input_names.append((feature["name"], None))
                column += 1
            else:
                index = {}
                for value in feature["values"]:
                    index[value] = column
                    self._input_names.append((feature["name"], value))
                    column += 1
                schema.append((feature["name"], index, -1))
        self._schema = tuple(schema)
        self._n_inputs = column
        self._n_nodes = 2**self.height - 1
        self._n_leaves = 2**self.height
        n_columns = column + 1
        rng = np.random.default_rng(self.random_seed)
        if internal_weights is None:
            weights = self._initial_weights(self.delta / 2.0)
            self.internal_weights: list[list[float]] | None = None
        else:
            weights = _check_weights(owner, internal_weights, self._n_nodes, n_columns, self.height, column)
            self.internal_weights = weights.tolist()
        super().__init__(parameters)
        for p in self._tuned:
            if type(p) not in leaf_class.supported_parameter_types:
                raise TypeError(
                    f"AutoScope with leaf_algorithm {leaf_algorithm!r} does not tune {type(p).__name__} parameters "
                    f"(parameter {p.name!r}); use leaf_algorithm='hybrid_solver' with fix_internal_weights=True."
                )

        leaf_seeds: list[int | None] = [None] * self._n_leaves
        if self.random_seed is not None:
            leaf_seeds = [int(s) for s in rng.integers(0, 2**63, size=self._n_leaves)]
        takes_seed = "random_seed" in accepted
        self._leaves: list[TuningInstance] = [
            leaf_class(self.parameters, **leaf_args, **({"random_seed": seed} if takes_seed else {}))
            for seed in leaf_seeds
        ]
        self._weights: list[list[float]] = weights.tolist()
        self._square_avg: list[list[float]] = [[0.0] * n_columns for _ in range(self._n_nodes)]
        self._split_steps = 0
        self._learn_splits = self._gradient_leaves and not fix_internal_weights
        self._leaf_rounds: list[_LeafRound | None] = [None] * self._n_leaves
        self._contributors: list[dict[_Encoded, int]] = [{} for _ in range(self._n_leaves)]
        self._tickets: dict[str, tuple[int, int, bool, _Encoded]] = {}
        self._next_round_id = 0
        self._checked: tuple[Context | None, _Encoded] = (None, ())

    def _initial_weights(self, scale: float) -> np.ndarray:
        weights = np.zeros((self._n_nodes, self._n_inputs + 1))
        depth = 0
        for _, index, _ in self._schema:
            if index is None or depth >= self.height:
                continue
            bits = min((len(index) - 1).bit_length(), self.height - depth)
            for i, column in enumerate(index.values()):
                code = (i << bits) // len(index)
                for level in range(bits):
                    right = (code >> (bits - 1 - level)) & 1
                    first = 2 ** (depth + level) - 1
                    weights[first : 2 * first + 1, column] = scale if right else -scale
            depth += bits
        for _, index, column in self._schema:
            if index is None and depth < self.height:
                first = 2**depth - 1
                weights[first : 2 * first + 1, column] = scale
                depth += 1
        return weights

    # ----------------------------------------------------------------- routing
    def _encode(self, data: Mapping[str, Any]) -> _Encoded:
        """The non-zero inputs of a context; raises naming the feature when the context does not fit."""
        pairs = []
        for name, index, column in self._schema:
            value = data.get(name, _MISSING)
            if value is _MISSING:
                raise ValueError(
                    f"The context lacks the feature {name!r} that {type(self).__name__} routes on. "
                    f"Got features {sorted(data)}."
                )
            if index is not None:
                found = index.get(value) if isinstance(value, str) else None
                if found is None:
                    raise ValueError(
                        f"Unknown value {value!r} for the categorical feature {name!r}; "
                        f"known values: {', '.join(repr(v) for v in index)}."
                    )
                pairs.append((found, 1.0))
            else:
                pairs.append((column, _numeric(name, value)))
        if len(data) != len(self._schema):
            extra = sorted(set(data) - {name for name, _, _ in self._schema})
            raise ValueError(
                f"The context has feature(s) {extra} that {type(self).__name__} was not given; "
                f"known features: {[name for name, _, _ in self._schema]}."
            )
        return tuple(pairs)

    def _route(self, x: _Encoded) -> int:
        weights, bias, node = self._weights, self._n_inputs, 0
        for _ in range(self.height):
            row = weights[node]
            z = row[bias]
            for column, value in x:
                z += row[column] * value
            node = 2 * node + (2 if z > 0.0 else 1)
        return node - self._n_nodes

    def _check_context(self, context: Context) -> None:
        self._checked = (context, self._encode(context.data))

    # ----------------------------------------------------------------- the tuning hooks
    def _predict(self, context: Context) -> dict[str, Any]:
        checked, x = self._checked
        if checked is not context:
            x = self._encode(context.data)
        leaf = self._route(x)
        round_ = self._leaf_rounds[leaf]
        if round_ is None:
            config = dict(self._leaves[leaf]._predict(_NO_CONTEXT))
            round_ = self._leaf_rounds[leaf] = _LeafRound(self._next_round_id, config, 1, 0.0, 0, True)
            self._next_round_id += 1
            blocking = True
        elif round_.accepting:
            round_.waiting += 1
            blocking = True
        else:
            blocking = False
        self._tickets[context.id] = (leaf, round_.id, blocking, x)
        return round_.config

    def _learn(self, reward: float | list[float], context: Context) -> None:
        leaf, round_id, blocking, x = self._tickets.pop(context.id)
        round_ = self._leaf_rounds[leaf]
        if round_ is None or round_.id != round_id:
            return  # a late reward for a leaf round already learned from
        count = round_.count = round_.count + 1
        # A running mean (a convex combination) cannot overflow as a sum of huge rewards could.
        round_.mean = round_.mean * ((count - 1) / count) + float(reward) / count  # type: ignore[arg-type]
        round_.accepting = False
        learn_splits = self._learn_splits
        if learn_splits:
            contributors = self._contributors[leaf]
            if x in contributors:
                contributors[x] += 1
            elif len(contributors) < _MAX_CONTRIBUTORS:
                contributors[x] = 1
        if blocking:
            round_.waiting -= 1
        if round_.waiting:
            return
        self._leaf_rounds[leaf] = None
        learner = self._leaves[leaf]
        previous = getattr(learner, "_last_gradient", None)
        learner._learn(round_.mean, _NO_CONTEXT)
        if not self._gradient_leaves:
            return
        gradient = learner._last_gradient  # type: ignore[attr-defined]
        if gradient is previous or gradient is None:
            return
        if learn_splits:
            self._update_splits(leaf, gradient, self._contributors[leaf])
            self._contributors[leaf] = {}

    def _update_splits(self, leaf: int, gradient: list[float], contributors: dict[_Encoded, int]) -> None:
        """One SGD/RMSprop step of the split weights from the gradient step ``gradient`` of ``leaf``."""
        weights, bias, delta, n_nodes, leaves = self._weights, self._n_inputs, self.delta, self._n_nodes, self._leaves
        here = sum(g * c for g, c in zip(gradient, leaves[leaf]._center))  # type: ignore[attr-defined]
        if not math.isfinite(here):
            return  # a gradient blown up by an extreme reward teaches the splits nothing
        scores = {leaf: here}
        ascent: dict[tuple[int, int], float] = {}
        used = 0
        for x, count in contributors.items():
            path = []
            node = 0
            while node < n_nodes:
                row = weights[node]
                z = row[bias]
                for column, value in x:
                    z += row[column] * value
                path.append((node, z))
                node = 2 * node + (2 if z > 0.0 else 1)
            if node - n_nodes != leaf:
                continue  # the context now routes to another leaf: it teaches the splits nothing
            used += count
            for node, z in path:
                if not -delta <= z <= delta:
                    continue
                # The leaf this context would reach if node went the other way.
                other = 2 * node + (1 if z > 0.0 else 2)
                while other < n_nodes:
                    row = weights[other]
                    y = row[bias]
                    for column, value in x:
                        y += row[column] * value
                    other = 2 * other + (2 if y > 0.0 else 1)
                other -= n_nodes
                score = scores.get(other)
                if score is None:
                    center = leaves[other]._center  # type: ignore[attr-defined]
                    score = scores[other] = sum(g * c for g, c in zip(gradient, center))
                # Ascent on the decision "go right": the right leaf's score minus the left leaf's.
                a = (here - score if z > 0.0 else score - here) * count
                if a:
                    ascent[node, bias] = ascent.get((node, bias), 0.0) + a
                    for column, value in x:
                        ascent[node, column] = ascent.get((node, column), 0.0) + a * value
        if not ascent:
            return
        eta = self.eta
        updates = []
        if self.optimizer == "rmsprop":
            alpha, eps, square_avg = self._alpha, self._eps, self._square_avg
            for (node, column), a in ascent.items():
                a /= used
                v = alpha * square_avg[node][column] + (1.0 - alpha) * a * a
                updates.append((node, column, weights[node][column] + eta * a / (math.sqrt(v) + eps), v))
        else:
            eta /= used
            for (node, column), a in ascent.items():
                updates.append((node, column, weights[node][column] + eta * a, 0.0))
        if not all(math.isfinite(w) and math.isfinite(v) for _, _, w, v in updates):
            return  # extreme rewards or feature values: skip the step rather than store inf or nan
        square_avg = self._square_avg
        for node, column, w, v in updates:
            weights[node][column] = w
            square_avg[node][column] = v
        self._split_steps += 1

    # ----------------------------------------------------------------- inspection
    def leaf_of(self, context: Context | Mapping[str, Any]) -> int:
        """The leaf (0 to ``2**height - 1``, left to right) that ``context`` routes to now."""
        data = context.data if isinstance(context, Context) else Context(context).data
        return self._route(self._encode(data))

    @property
    def leaf_centers(self) -> list[dict[str, Any] | None]:
        """Each leaf's current centre of exploration in parameter units (None for leaves without one)."""
        return [dict(c) if (c := getattr(leaf, "center", None)) is not None else None for leaf in self._leaves]

    @property
    def split_weights(self) -> list[list[float]]:
        """The current split weights, in the layout of ``internal_weights``."""
        return [list(row) for row in self._weights]

    @property
    def split_steps(self) -> int:
        """How many times the split weights have been updated."""
        return self._split_steps

    def splits(self) -> list[dict[str, Any]]:
        """The splits in readable form, one dict per internal node in breadth-first order.

        Each holds ``node``, ``depth``, ``bias``, ``numeric`` (weight of each numeric feature) and
        ``categorical``: for each categorical feature its value ``weights`` and the values sent
        ``left`` and ``right`` (the side ``bias + weight`` picks, i.e. with every other feature
        contributing nothing; exact when this is the only feature).
        """
        result = []
        for n, row in enumerate(self._weights):
            bias = row[self._n_inputs]
            numeric: dict[str, float] = {}
            categorical: dict[str, dict[str, Any]] = {}
            for column, (name, value) in enumerate(self._input_names):
                if value is None:
                    numeric[name] = row[column]
                else:
                    entry = categorical.setdefault(name, {"left": [], "right": [], "weights": {}})
                    entry["weights"][value] = row[column]
                    entry["right" if bias + row[column] > 0.0 else "left"].append(value)
            depth = (n + 1).bit_length() - 1
            result.append({"node": n, "depth": depth, "bias": bias, "numeric": numeric, "categorical": categorical})
        return result

    # ----------------------------------------------------------------- state
    def _set_exploration_scale(self, scale: float) -> frozenset[str]:
        return frozenset.intersection(*(leaf._set_exploration_scale(scale) for leaf in self._leaves))

    def _straddles_start(self) -> bool:
        # every leaf starts at the starting configuration; a context's first rounds may take halves of different
        # leaves' pairs, each as likely on either side, so their mean still estimates the start's reward
        return all(leaf._straddles_start() for leaf in self._leaves)

    def _reexplore(self) -> None:
        for leaf in self._leaves:
            leaf._reexplore()

    def _get_state(self) -> dict[str, Any]:
        return {
            "weights": [list(row) for row in self._weights],
            "square_avg": [list(row) for row in self._square_avg],
            "split_steps": self._split_steps,
            "next_round_id": self._next_round_id,
            "leaves": [leaf._get_state() for leaf in self._leaves],
            "leaf_rounds": [None if r is None else r.to_dict() for r in self._leaf_rounds],
            "contributors": [[[_pairs_to_json(x), count] for x, count in c.items()] for c in self._contributors],
            "tickets": {
                cid: {"leaf": leaf, "round": rid, "blocking": blocking}
                for cid, (leaf, rid, blocking, _) in self._tickets.items()
            },
        }

    def _set_state(self, state: Mapping[str, Any]) -> None:
        n_nodes, n_leaves, n_columns = self._n_nodes, self._n_leaves, self._n_inputs + 1
        weights = _matrix(state["weights"], n_nodes, n_columns, "weights")
        square_avg = _matrix(state["square_avg"], n_nodes, n_columns, "square_avg")
        if any(v < 0.0 for row in square_avg for v in row):
            raise ValueError("'square_avg' must be non-negative")
        split_steps = valid.non_negative_int(state["split_steps"], "split_steps")
        next_round_id = valid.non_negative_int(state["next_round_id"], "next_round_id")
        leaf_states = state["leaves"]
        if not isinstance(leaf_states, list) or len(leaf_states) != n_leaves:
            raise ValueError(f"'leaves' must be a list of {n_leaves} leaf states")
        rounds_data, contributors_data = state["leaf_rounds"], state["contributors"]
        if not isinstance(rounds_data, list) or len(rounds_data) != n_leaves:
            raise ValueError(f"'leaf_rounds' must be a list of {n_leaves} entries")
        if not isinstance(contributors_data, list) or len(contributors_data) != n_leaves:
            raise ValueError(f"'contributors' must be a list of {n_leaves} entries")
        names = [p.name for p in self._tuned]
        leaf_rounds: list[_LeafRound | None] = []
        for r in rounds_data:
            if r is None:
                leaf_rounds.append(None)
                continue
            if not isinstance(r, Mapping) or not isinstance(r.get("config"), Mapping) or list(r["config"]) != names:
                raise ValueError(f"every open leaf round must hold a 'config' with keys {names}")
            rid = valid.non_negative_int(r["id"], "leaf_rounds.id")
            if rid >= next_round_id:
                raise ValueError("a leaf round id must be below 'next_round_id'")
            if not isinstance(r["accepting"], bool):
                raise ValueError("'leaf_rounds.accepting' must be a bool")
            leaf_rounds.append(
                _LeafRound(
                    rid,
                    dict(r["config"]),
                    valid.non_negative_int(r["waiting"], "leaf_rounds.waiting"),
                    valid.number(r["mean"], "leaf_rounds.mean"),
                    valid.non_negative_int(r["count"], "leaf_rounds.count"),
                    r["accepting"],
                )
            )
        contributors: list[dict[_Encoded, int]] = []
        for c in contributors_data:
            if not isinstance(c, list) or len(c) > _MAX_CONTRIBUTORS:
                raise ValueError(f"each 'contributors' entry must be a list of at most {_MAX_CONTRIBUTORS} items")
            entry: dict[_Encoded, int] = {}
            for item in c:
                if not isinstance(item, list) or len(item) != 2:
                    raise ValueError("each contributor must be a pair [inputs, count]")
                entry[self._pairs_from_json(item[0])] = valid.non_negative_int(item[1], "contributors.count")
            contributors.append(entry)
        tickets: dict[str, tuple[int, int, bool, _Encoded]] = {}
        ticket_data = state["tickets"]
        if not isinstance(ticket_data, Mapping) or set(ticket_data) != set(self._rounds):
            raise ValueError("'tickets' must hold one entry per open round")
        waiting = [0] * n_leaves
        for cid, t in ticket_data.items():
            leaf = valid.non_negative_int(t["leaf"], "tickets.leaf")
            rid = valid.non_negative_int(t["round"], "tickets.round")
            if leaf >= n_leaves or rid >= next_round_id or not isinstance(t["blocking"], bool):
                raise ValueError(f"the ticket of context {cid!r} is inconsistent")
            round_ = leaf_rounds[leaf]
            if t["blocking"]:
                if round_ is None or round_.id != rid:
                    raise ValueError(f"the ticket of context {cid!r} waits for a leaf round that is not open")
                waiting[leaf] += 1
            tickets[cid] = (leaf, rid, t["blocking"], self._encode(self._rounds[cid].context.data))
        for leaf, round_ in enumerate(leaf_rounds):
            if round_ is not None and (round_.waiting != waiting[leaf] or round_.waiting == 0):
                raise ValueError(
                    f"the open round of leaf {leaf} waits for {round_.waiting} contexts, not {waiting[leaf]}"
                )
        for leaf, leaf_state in zip(self._leaves, leaf_states, strict=True):
            leaf._set_state(leaf_state)
        self._weights, self._square_avg = weights, square_avg
        self._split_steps, self._next_round_id = split_steps, next_round_id
        self._leaf_rounds, self._contributors, self._tickets = leaf_rounds, contributors, tickets

    def _pairs_from_json(self, value: Any) -> _Encoded:
        if not isinstance(value, list):
            raise ValueError("encoded inputs must be a list of [column, value] pairs")
        pairs = []
        for item in value:
            if not isinstance(item, list) or len(item) != 2:
                raise ValueError("encoded inputs must be a list of [column, value] pairs")
            column = valid.non_negative_int(item[0], "column")
            if column >= self._n_inputs:
                raise ValueError(f"input column {column} is out of range")
            pairs.append((column, valid.number(item[1], "input")))
        return tuple(pairs)


# --------------------------------------------------------------------- helpers
def _numeric(name: str, value: Any) -> float:
    if type(value) is float:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:
            pass
    raise ValueError(
        f"The numeric feature {name!r} must be a finite real number. Got {value!r} ({type(value).__name__}) instead."
    )


def _check_features(owner: str, features: Any) -> list[dict[str, Any]]:
    rule = "a non-empty list of {'name': str, 'values': list of str or None}"
    if isinstance(features, (str, bytes, Mapping)) or not isinstance(features, Iterable):
        raise TypeError(f"The 'features' argument of {owner} must be {rule}. Got {features!r} instead.")
    checked: list[dict[str, Any]] = []
    seen: set[str] = set()
    for feature in features:
        if not isinstance(feature, Mapping) or set(feature) != {"name", "values"}:
            raise TypeError(
                f"Each entry of the 'features' argument of {owner} must be a dict with exactly the keys 'name' and "
                f"'values'. Got {feature!r} instead."
            )
        name, values = feature["name"], feature["values"]
        if not isinstance(name, str) or not name:
            raise TypeError(f"A feature name of {owner} must be a non-empty string. Got {name!r} instead.")
        if name in seen:
            raise ValueError(f"The 'features' argument of {owner} names the feature {name!r} more than once.")
        seen.add(name)
        if values is not None:
            if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Iterable):
                raise TypeError(
                    f"The values of the categorical feature {name!r} must be a list of strings (or None for a "
                    f"numeric feature). Got {values!r} instead."
                )
            values = list(values)
            if not all(isinstance(v, str) for v in values):
                raise TypeError(f"The values of the categorical feature {name!r} must be strings. Got {values!r}.")
            if len(values) < 2:
                raise ValueError(
                    f"The categorical feature {name!r} must have at least two values. Got {values!r} instead."
                )
            if len(set(values)) != len(values):
                raise ValueError(f"The values of the categorical feature {name!r} must be distinct. Got {values!r}.")
        checked.append({"name": name, "values": values})
    if not checked:
        raise ValueError(f"The 'features' argument of {owner} must name at least one feature. Got an empty list.")
    return checked


def _check_weights(owner: str, value: Any, rows: int, columns: int, height: int, n_inputs: int) -> np.ndarray:
    expected = (
        f"{rows} rows (one per internal node: 2**height - 1 with height {height}) of {columns} finite numbers "
        f"({n_inputs} input weights, then the bias)"
    )
    try:
        array = np.array(value, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"The 'internal_weights' argument of {owner} must be {expected}. Got {value!r}.") from None
    if array.shape != (rows, columns):
        raise ValueError(
            f"The 'internal_weights' argument of {owner} must be {expected}. Got shape {array.shape} instead."
        )
    if not np.all(np.isfinite(array)):
        raise ValueError(f"The 'internal_weights' argument of {owner} must be {expected}. Got a non-finite number.")
    return array


def _matrix(value: Any, rows: int, columns: int, field: str) -> list[list[float]]:
    if not isinstance(value, list) or len(value) != rows:
        raise ValueError(f"{field!r} must be a list of {rows} rows")
    return [valid.vector(row, columns, field).tolist() for row in value]


def _pairs_to_json(x: _Encoded) -> list[list[Any]]:
    return [[column, value] for column, value in x]
