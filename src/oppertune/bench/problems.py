"""Benchmark problems for the quality benchmark: noise-free scores with known optima, and noise.

Each `Problem` is plain Python and evaluates in microseconds. It holds:

* ``parameters`` whose ``val`` is the initial ("expert") configuration every tuner starts from,
* ``score(config, context, phase)``, the noise-free score (higher is better),
* ``optimum(context, phase)``, the best score f*, computed exactly: by enumerating every
  configuration when all parameters lie on grids, else from the analytic maximiser ``best_fn``,
* a seeded noise model (``reward``): Gaussian, or Student-t with 3 degrees of freedom, with a
  standard deviation of ``noise`` times the gain available from the initial configuration,
* optionally contexts (each round draws one) and phases (the workload changes: phase ``k`` of
  ``phases`` covers the ``k``-th equal share of the rounds, and f and f* depend on it).

`PROBLEMS` lists them by name; `QUICK_PROBLEMS` is the subset of ``--quick``.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from oppertune.core.values import Categorical, Integer, Real, ValueType

__all__ = ["KINDS", "PROBLEMS", "QUICK_PROBLEMS", "Problem", "get_problem", "mmck"]

Config = Mapping[str, Any]
ScoreFn = Callable[[Config, int, int], float]

KINDS = ("mixed", "numerical", "categorical", "service", "drift", "contextual")
"""Problem classes used to group the summary."""

_MAX_ENUMERATION = 200_000


@dataclass(frozen=True, eq=False)
class Problem:
    """One benchmark problem.

    Args:
        name: Short unique name.
        kind: The problem class, one of `KINDS`.
        summary: What the problem tests, in one line.
        parameters: The parameters; their ``val`` is the initial configuration.
        score_fn: Noise-free score ``f(config, context_index, phase)``, higher is better.
        best_fn: The exact maximiser ``(context_index, phase) -> config``; None to enumerate the grid.
        contexts: Context data, one dict per context (empty: no context).
        features: The context features, in AutoScope's form.
        phases: Number of workload phases (2 or more: the optimum drifts during the run).
        noise: Noise standard deviation as a fraction of ``f* - f(x0)`` (context 0, phase 0).
        heavy_tails: Student-t (3 degrees of freedom) noise instead of Gaussian.
        fail_fn: Whether a configuration makes the service fall over (its score is then 0).
        quick: Part of the ``--quick`` subset.
    """

    name: str
    kind: str
    summary: str
    parameters: tuple[ValueType, ...]
    score_fn: ScoreFn
    best_fn: Callable[[int, int], dict[str, Any]] | None = None
    contexts: tuple[Mapping[str, Any], ...] = ()
    features: tuple[Mapping[str, Any], ...] = ()
    phases: int = 1
    noise: float = 0.1
    heavy_tails: bool = False
    fail_fn: Callable[[Config, int, int], bool] | None = None
    quick: bool = False
    _cache: dict[tuple[str, int, int], Any] = field(default_factory=dict, repr=False)

    # ----------------------------------------------------------------- shape
    @property
    def initial(self) -> dict[str, Any]:
        """The initial configuration (every parameter's ``val``)."""
        return {p.name: p.val for p in self.parameters}

    @property
    def n_contexts(self) -> int:
        """Number of contexts (1 when the problem has none)."""
        return max(1, len(self.contexts))

    @property
    def has_categorical(self) -> bool:
        """Whether a tuned parameter is categorical."""
        return any(isinstance(p, Categorical) and not p.is_constant for p in self.parameters)

    @property
    def has_numerical(self) -> bool:
        """Whether a tuned parameter is an Integer or a Real."""
        return any(isinstance(p, (Integer, Real)) and not p.is_constant for p in self.parameters)

    @property
    def cliff(self) -> bool:
        """Whether some configurations make the service fall over."""
        return self.fail_fn is not None

    def phase_of(self, round_: int, rounds: int) -> int:
        """The workload phase of round ``round_`` (0-based) of a run of ``rounds`` rounds."""
        return min(self.phases - 1, round_ * self.phases // max(1, rounds))

    # ----------------------------------------------------------------- scores
    def failed(self, config: Config, context: int = 0, phase: int = 0) -> bool:
        """Whether ``config`` makes the service fall over."""
        return self.fail_fn is not None and self.fail_fn(config, context, phase)

    def score(self, config: Config, context: int = 0, phase: int = 0) -> float:
        """The noise-free score of ``config``; 0 where the service falls over."""
        if self.fail_fn is not None and self.fail_fn(config, context, phase):
            return 0.0
        return self.score_fn(config, context, phase)

    def argmax(self, context: int = 0, phase: int = 0) -> dict[str, Any]:
        """A configuration with the best score."""
        key = ("argmax", context, phase)
        if key not in self._cache:
            if self.best_fn is not None:
                self._cache[key] = dict(self.best_fn(context, phase))
            else:
                self._cache[key] = max(self.grid(), key=lambda x: self.score(x, context, phase))
        return self._cache[key]

    def optimum(self, context: int = 0, phase: int = 0) -> float:
        """f*: the best noise-free score (exact)."""
        key = ("optimum", context, phase)
        if key not in self._cache:
            self._cache[key] = self.score(self.argmax(context, phase), context, phase)
        return self._cache[key]

    def initial_score(self, context: int = 0, phase: int = 0) -> float:
        """f(x0): the noise-free score of the initial configuration."""
        key = ("initial", context, phase)
        if key not in self._cache:
            self._cache[key] = self.score(self.initial, context, phase)
        return self._cache[key]

    def gap(self, context: int = 0, phase: int = 0) -> float:
        """f* - f(x0): what tuning can gain (positive for every context and phase)."""
        return self.optimum(context, phase) - self.initial_score(context, phase)

    def regret(self, config: Config, context: int = 0, phase: int = 0) -> float:
        """Normalised regret ``(f* - f(x)) / (f* - f(x0))``: 0 at the optimum, 1 at the initial configuration."""
        return (self.optimum(context, phase) - self.score(config, context, phase)) / self.gap(context, phase)

    @property
    def noise_sd(self) -> float:
        """Standard deviation of the reward noise, in score units."""
        return self.noise * self.gap(0, 0)

    def reward(self, score: float, rng: random.Random) -> float:
        """The noisy reward a tuner sees for a configuration of noise-free ``score`` (one draw from ``rng``)."""
        z = rng.gauss(0.0, 1.0)
        if self.heavy_tails:  # Student-t, 3 degrees of freedom, scaled to unit variance
            chi2 = rng.gauss(0.0, 1.0) ** 2 + rng.gauss(0.0, 1.0) ** 2 + rng.gauss(0.0, 1.0) ** 2
            z = z / math.sqrt(max(chi2, 1e-12) / 3.0) / math.sqrt(3.0)
        return score + self.noise_sd * z

    def observe(self, config: Config, context: int, phase: int, rng: random.Random) -> tuple[float, float]:
        """The noise-free score of ``config`` and the reward a tuner sees: noisy, or exactly 0 when it fell over.

        Takes the same draws from ``rng`` whatever the configuration, so runners share the noise sequence.
        """
        score = self.score(config, context, phase)
        reward = self.reward(score, rng)
        return score, 0.0 if self.failed(config, context, phase) else reward

    # ----------------------------------------------------------------- enumeration
    def grid_size(self) -> int | None:
        """Number of configurations, or None when a parameter is a continuous Real."""
        size = 1
        for values in self._axes():
            if values is None:
                return None
            size *= len(values)
        return size

    def grid(self) -> Iterator[dict[str, Any]]:
        """Every configuration; only for problems whose parameters all lie on grids."""
        axes = self._axes()
        size = self.grid_size()
        if size is None or size > _MAX_ENUMERATION:
            raise ValueError(f"Problem {self.name!r} cannot be enumerated (grid size {size}).")
        names = [p.name for p in self.parameters]
        for values in itertools.product(*axes):  # type: ignore[arg-type]
            yield dict(zip(names, values))

    def _axes(self) -> list[list[Any] | None]:
        return [grid_values(p) for p in self.parameters]


def grid_values(p: ValueType) -> list[Any] | None:
    """All values of a parameter, or None for a continuous Real."""
    if isinstance(p, Categorical):
        return list(p.categories)
    if isinstance(p, Integer):
        return list(range(p.min, p.max + 1, p.step))
    if p.min == p.max:
        return [p.val]
    if p.step is None:
        return None
    n = p.n_steps or 0
    return [p.from_unit(i / n) for i in range(n + 1)]


def _unit(p: Integer | Real) -> Callable[[float], float]:
    lo, span = float(p.min), float(p.max - p.min)
    return lambda v: (float(v) - lo) / span


# ============================================================================ problems
def mixed_interactions() -> Problem:
    """Two categorical choices that move the best numerical settings, with a non-separable base table."""
    params = (
        Categorical("compression", "none", ("none", "lz4", "zstd")),
        Categorical("io_mode", "sync", ("sync", "async", "mmap")),
        Integer("buffer_kb", 64, 16, 512, step=16),
        Integer("workers", 4, 1, 32),
        Real("flush_ratio", 0.5, 0.0, 1.0),
    )
    base = {
        ("none", "sync"): 0.40, ("none", "async"): 0.50, ("none", "mmap"): 0.45,
        ("lz4", "sync"): 0.45, ("lz4", "async"): 0.65, ("lz4", "mmap"): 0.55,
        ("zstd", "sync"): 0.35, ("zstd", "async"): 0.60, ("zstd", "mmap"): 0.75,
    }  # fmt: skip
    workers_at = {"none": 6, "lz4": 12, "zstd": 24}
    buffer_at = {"sync": 64, "async": 256, "mmap": 448}
    flush_at = {"sync": 0.6, "async": 0.3, "mmap": 0.8}
    ub, uw = _unit(params[2]), _unit(params[3])

    def score(x: Config, c: int, ph: int) -> float:
        comp, io = x["compression"], x["io_mode"]
        d = (
            (ub(x["buffer_kb"]) - ub(buffer_at[io])) ** 2
            + (uw(x["workers"]) - uw(workers_at[comp])) ** 2
            + (x["flush_ratio"] - flush_at[io]) ** 2
        )
        return base[comp, io] + 0.5 - 0.3 * d

    def best(c: int, ph: int) -> dict[str, Any]:
        comp, io = max(base, key=lambda k: base[k])
        return {"compression": comp, "io_mode": io, "buffer_kb": buffer_at[io], "workers": workers_at[comp],
                "flush_ratio": flush_at[io]}  # fmt: skip

    return Problem(
        "mixed_interactions", "mixed", "2 categorical x 3 numerical; the best numbers depend on the categories",
        params, score, best, quick=True,
    )  # fmt: skip


def coarse_grid() -> Problem:
    """Coarse integer grids and stepped reals, with a coupled (rotated) quadratic between two of them."""
    params = (
        Integer("pool", 8, 4, 64, step=4),
        Integer("batch", 64, 16, 512, step=16),
        Real("ratio", 0.25, 0.0, 1.0, step=0.25),
        Real("interval_s", 1.0, 0.5, 5.0, step=0.5),
    )
    up, ub, ur, ui = (_unit(p) for p in params)

    def score(x: Config, c: int, ph: int) -> float:
        dp, db = up(x["pool"]) - 0.62, ub(x["batch"]) - 0.35
        dr, di = ur(x["ratio"]) - 0.8, ui(x["interval_s"]) - 0.15
        return 1.0 - (dp * dp + db * db - 0.8 * dp * db + 0.6 * dr * dr + 0.8 * di * di)

    return Problem(
        "coarse_grid", "numerical", "4 numerical on coarse grids (steps of 4, 16, 0.25, 0.5), coupled pair",
        params, score, quick=True,
    )  # fmt: skip


def categorical_combos() -> Problem:
    """Four categorical parameters whose best setting needs two pairs changed together."""
    params = (
        Categorical("scheduler", "cfq", ("cfq", "deadline", "noop", "bfq")),
        Categorical("allocator", "glibc", ("glibc", "jemalloc", "tcmalloc")),
        Categorical("huge_pages", "never", ("never", "madvise", "always")),
        Categorical("governor", "ondemand", ("ondemand", "performance", "powersave", "schedutil")),
    )
    pair_a = {  # scheduler x allocator: the best pair is worse than the start when only one half changes
        "cfq": (0.50, 0.25, 0.45), "deadline": (0.40, 0.55, 0.30),
        "noop": (0.35, 0.30, 0.50), "bfq": (0.20, 1.00, 0.35),
    }  # fmt: skip
    allocators = params[1].categories
    pair_b = {  # huge_pages x governor
        "never": (0.40, 0.45, 0.20, 0.35), "madvise": (0.30, 0.50, 0.15, 0.40), "always": (0.10, 0.80, 0.05, 0.25),
    }  # fmt: skip
    governors = params[3].categories

    def score(x: Config, c: int, ph: int) -> float:
        a = pair_a[x["scheduler"]][allocators.index(x["allocator"])]
        b = pair_b[x["huge_pages"]][governors.index(x["governor"])]
        return 0.5 * (a + b)

    return Problem(
        "categorical_combos", "categorical", "4 categorical (4x3x3x4); two pairs must change together",
        params, score, quick=True,
    )  # fmt: skip


def sparse_12d() -> Problem:
    """Twelve numerical parameters of which three matter."""
    params = (
        *(Real(f"r{i}", 0.5, 0.0, 1.0) for i in range(6)),
        *(Integer(f"i{i}", 20, 1, 100) for i in range(4)),
        *(Real(f"s{i}", 2.0, 0.0, 10.0, step=0.5) for i in range(2)),
    )
    ui, us = _unit(params[6]), _unit(params[10])
    target = {"r1": 0.85, "i2": 70, "s0": 7.5}
    ti, ts = ui(70), us(7.5)

    def score(x: Config, c: int, ph: int) -> float:
        return 1.0 - 1.2 * ((x["r1"] - 0.85) ** 2 + (ui(x["i2"]) - ti) ** 2 + (us(x["s0"]) - ts) ** 2)

    def best(c: int, ph: int) -> dict[str, Any]:
        return {**{p.name: p.val for p in params}, **target}

    return Problem(
        "sparse_12d", "numerical", "12 numerical (6 reals, 4 integers, 2 stepped), 3 of them matter",
        params, score, best,
    )  # fmt: skip


def drifting_optimum() -> Problem:
    """A storage engine and its settings; the workload turns from read-heavy to write-heavy mid-run."""
    params = (
        Categorical("engine", "rocksdb", ("rocksdb", "lmdb", "sqlite")),
        Integer("cache_mb", 256, 64, 2048, step=64),
        Integer("threads", 8, 1, 32),
        Real("write_buffer", 0.3, 0.0, 1.0),
    )
    uc, ut = _unit(params[1]), _unit(params[2])
    phases = (  # (engine base, cache_mb, threads, write_buffer) per phase
        ({"rocksdb": 0.15, "lmdb": 0.30, "sqlite": 0.10}, 1536, 16, 0.2),
        ({"rocksdb": 0.35, "lmdb": 0.05, "sqlite": 0.10}, 512, 24, 0.8),
    )

    def score(x: Config, c: int, ph: int) -> float:
        base, cache, threads, wb = phases[ph]
        d = (uc(x["cache_mb"]) - uc(cache)) ** 2 + (ut(x["threads"]) - ut(threads)) ** 2
        return base[x["engine"]] + 0.6 - 0.4 * (d + (x["write_buffer"] - wb) ** 2)

    def best(c: int, ph: int) -> dict[str, Any]:
        base, cache, threads, wb = phases[ph]
        return {"engine": max(base, key=lambda k: base[k]), "cache_mb": cache, "threads": threads, "write_buffer": wb}

    return Problem(
        "drifting_optimum", "drift", "1 categorical x 3 numerical; engine and settings optimum move at mid-run",
        params, score, best, phases=2, quick=True,
    )  # fmt: skip


def heavy_noise() -> Problem:
    """A smooth mixed problem under Student-t noise as large as the whole gain available."""
    params = (
        Categorical("codec", "json", ("json", "msgpack", "protobuf")),
        Real("batch_fraction", 0.2, 0.0, 1.0),
        Integer("prefetch", 2, 0, 20),
        Real("backoff_s", 1.0, 0.1, 5.0),
    )
    up, uk = _unit(params[2]), _unit(params[3])
    base = {"json": 0.0, "msgpack": 0.1, "protobuf": 0.15}

    def score(x: Config, c: int, ph: int) -> float:
        d = (x["batch_fraction"] - 0.7) ** 2 + (up(x["prefetch"]) - up(12)) ** 2 + (uk(x["backoff_s"]) - uk(0.5)) ** 2
        return base[x["codec"]] + 1.0 - 0.5 * d

    def best(c: int, ph: int) -> dict[str, Any]:
        return {"codec": "protobuf", "batch_fraction": 0.7, "prefetch": 12, "backoff_s": 0.5}

    return Problem(
        "heavy_noise", "mixed", "1 categorical x 3 numerical; Student-t noise, sd = 1.0 x the gain available",
        params, score, best, noise=1.0, heavy_tails=True,
    )  # fmt: skip


# ----------------------------------------------------------------------------- queueing models
def mmck(lam: float, mu: float, servers: int, queue: int) -> tuple[float, float]:
    """Blocking probability and mean time in system of an M/M/c/K queue with K = servers + queue.

    Closed forms: O(servers) for the states up to ``servers``, geometric sums for the queue.
    """
    a = lam / mu
    rho = a / servers
    term = 1.0
    z = 1.0
    ln = 0.0
    for n in range(1, servers + 1):
        term *= a / n
        z += term
        ln += n * term
    last = term
    if queue:
        if abs(rho - 1.0) < 1e-6:
            g1, g2, rq = float(queue), queue * (queue + 1) / 2.0, 1.0
        else:
            rq = rho**queue
            g1 = rho * (1.0 - rq) / (1.0 - rho)
            g2 = rho * (1.0 - (queue + 1) * rq + queue * rq * rho) / (1.0 - rho) ** 2
        z += term * g1
        ln += term * (servers * g1 + g2)
        last = term * rq
    block = last / z
    return block, (ln / z) / (lam * (1.0 - block))


def _service(
    lam: float, threads: int, queue: int, timeout: float, hit: float, overhead: float, cores: int, slo: float
) -> float:
    """Goodput over latency of a thread pool modelled as an M/M/c/K queue.

    Requests are cache hits (4 ms), misses (50 ms) or, 3% of them, slow queries (1 s); a request still
    in service at the timeout is killed (it fails but frees its thread). Requests spend 40% of their
    service on CPU, so up to ``cores / 0.4`` threads overlap I/O; past that they share the cores and
    each extra thread costs 1% in switching. Score: the fraction of requests served, divided by
    ``1 + W / slo`` with W the mean time in the system.
    """
    slow = 0.03
    classes = (((1.0 - slow) * hit, 0.004), ((1.0 - slow) * (1.0 - hit), 0.05), (slow, 1.0))
    served = sum(p * s * (1.0 - math.exp(-timeout / s)) for p, s in classes)
    killed = sum(p * math.exp(-timeout / s) for p, s in classes)
    parallel = cores / 0.4
    share = min(1.0, parallel / threads) / (1.0 + 0.01 * max(0.0, threads - parallel))
    block, w = mmck(lam, share / (served + overhead), threads, queue)
    return (1.0 - block) * (1.0 - killed) / (1.0 + w / slo)


def queue_service() -> Problem:
    """A service as an M/M/c/K queue: thread pool, queue length, timeout and cache policy."""
    params = (
        Integer("threads", 8, 1, 32),
        Integer("queue_length", 50, 0, 200, step=10),
        Real("timeout_s", 1.0, 0.05, 2.0, step=0.05),
        Categorical("cache", "none", ("none", "lru", "lfu")),
    )
    caches = {"none": (0.0, 0.0, 0.0), "lru": (0.35, 0.003, 0.0001), "lfu": (0.5, 0.006, 0.0004)}

    def score(x: Config, c: int, ph: int) -> float:
        hit, overhead, contention = caches[x["cache"]]
        threads = x["threads"]
        overhead += contention * threads
        return _service(130.0, threads, x["queue_length"], x["timeout_s"], hit, overhead, 8, 0.25)

    return Problem(
        "queue_service", "service", "M/M/c/K service, 130 req/s on 8 cores: threads, queue, timeout, cache policy",
        params, score, quick=True,
    )  # fmt: skip


QUEUE_CLIFF_MEMORY_MB = 1280.0
"""Memory of the `queue_cliff` service; past it the service falls over (score 0)."""
QUEUE_MEMORY_BASE_MB = 256.0
QUEUE_MEMORY_MB_PER = {"threads": 24.0, "queue_length": 0.5, "cache_mb": 1.0}
"""The `queue_cliff` service's memory model: a base plus so many MB per thread, queue slot and cache MB."""


def queue_memory_mb(config: Config) -> float:
    """Memory used by the `queue_cliff` service in ``config``."""
    return QUEUE_MEMORY_BASE_MB + sum(mb * config[name] for name, mb in QUEUE_MEMORY_MB_PER.items())


def queue_cliff() -> Problem:
    """The queue service with a memory budget: more cache helps until the service runs out of memory."""
    params = (
        Integer("threads", 8, 2, 32, step=2),
        Integer("queue_length", 40, 0, 200, step=20),
        Real("timeout_s", 1.0, 0.1, 1.0, step=0.1),
        Integer("cache_mb", 128, 0, 960, step=64),
    )

    def score(x: Config, c: int, ph: int) -> float:
        hit = 0.6 * (1.0 - math.exp(-x["cache_mb"] / 256.0))
        threads = x["threads"]
        return _service(130.0, threads, x["queue_length"], x["timeout_s"], hit, 0.003, 8, 0.25)

    def fails(x: Config, c: int, ph: int) -> bool:
        return queue_memory_mb(x) > QUEUE_CLIFF_MEMORY_MB

    return Problem(
        "queue_cliff", "service", "queue service with a memory cliff (score 0 past 1280 MB); optimum at the edge",
        params, score, fail_fn=fails,
    )  # fmt: skip


# ----------------------------------------------------------------------------- contextual problems
def _contextual_bell(
    params: tuple[Integer | Real, ...], optima: Sequence[tuple[float, ...]]
) -> tuple[ScoreFn, Callable[[int, int], dict[str, Any]]]:
    """Score ``exp(-2 |u - u*_c|^2)`` in the normalised space, with one optimum ``u*_c`` per context (f* = 1)."""
    units = [_unit(p) for p in params]
    names = [p.name for p in params]
    centres = [[u(v) for u, v in zip(units, o)] for o in optima]

    def score(x: Config, c: int, ph: int) -> float:
        return math.exp(-2.0 * sum((u(x[n]) - t) ** 2 for u, n, t in zip(units, names, centres[c])))

    def best(c: int, ph: int) -> dict[str, Any]:
        return dict(zip(names, optima[c]))

    return score, best


def context_jobs() -> Problem:
    """Six job types, three distinct optima shared in pairs."""
    params = (
        Integer("threads", 32, 1, 64),
        Real("memory_fraction", 0.5, 0.1, 0.9),
        Integer("prefetch", 16, 0, 32),
    )
    jobs = ("web", "api", "etl", "report", "ml", "backup")
    a, b, c = (8, 0.2, 2), (56, 0.8, 28), (56, 0.2, 4)
    score, best = _contextual_bell(params, [a, a, b, b, c, c])
    return Problem(
        "context_jobs", "contextual", "6 job types, 3 far-apart optima shared in pairs; the start is their middle",
        params, score, best, contexts=tuple({"job": j} for j in jobs),
        features=({"name": "job", "values": list(jobs)},), quick=True,
    )  # fmt: skip


def context_load() -> Problem:
    """Two job types at four load levels: the web optimum moves with load, the batch one does not."""
    params = (
        Integer("replicas", 6, 1, 16),
        Real("cpu_limit", 2.5, 0.25, 4.0),
        Real("cache_ratio", 0.45, 0.0, 1.0),
    )
    loads = (0.2, 0.4, 0.6, 0.8)
    web = [(3, 1.0, 0.7), (6, 1.5, 0.7), (9, 2.0, 0.7), (12, 2.5, 0.7)]
    batch = [(2, 3.5, 0.2)] * 4
    score, best = _contextual_bell(params, web + batch)
    contexts = tuple({"job": j, "load": x} for j in ("web", "batch") for x in loads)
    return Problem(
        "context_load", "contextual", "2 job types x 4 load levels (numeric feature); web optimum follows load",
        params, score, best, contexts=contexts,
        features=({"name": "job", "values": ["web", "batch"]}, {"name": "load", "values": None}),
    )  # fmt: skip


# ----------------------------------------------------------------------------- continuous landscapes
def ridge() -> Problem:
    """A rotated, ill-conditioned quadratic (condition number 30) over four continuous reals."""
    params = tuple(Real(n, v, 0.0, 1.0) for n, v in zip("abcd", (0.2, 0.3, 0.7, 0.5)))
    centre = (0.7, 0.6, 0.35, 0.55)
    axes = ((0.5, 0.5, 0.5, 0.5), (0.5, -0.5, 0.5, -0.5), (0.5, 0.5, -0.5, -0.5), (0.5, -0.5, -0.5, 0.5))
    weights = (3.0, 1.0, 0.3, 0.1)
    names = "abcd"

    def score(x: Config, c: int, ph: int) -> float:
        d = [x[n] - t for n, t in zip(names, centre)]
        return 1.0 - sum(w * sum(a * e for a, e in zip(axis, d)) ** 2 for w, axis in zip(weights, axes))

    return Problem(
        "ridge", "numerical", "4 continuous reals, rotated ill-conditioned quadratic (non-separable)",
        params, score, lambda c, ph: dict(zip(names, centre)),
    )  # fmt: skip


def decoy() -> Problem:
    """A local optimum next to the initial configuration and a higher one far away, on a gentle slope."""
    params = (Real("x", 0.25, 0.0, 1.0), Real("y", 0.3, 0.0, 1.0), Integer("n", 10, 1, 50), Real("z", 0.2, 0.0, 1.0))
    un = _unit(params[2])
    local = (0.35, 0.3, un(13), 0.25)
    best_x = {"x": 0.8, "y": 0.75, "n": 40, "z": 0.85}
    glob = (0.8, 0.75, un(40), 0.85)

    def score(x: Config, c: int, ph: int) -> float:
        u = (x["x"], x["y"], un(x["n"]), x["z"])
        dg = sum((a - b) ** 2 for a, b in zip(u, glob))
        dl = sum((a - b) ** 2 for a, b in zip(u, local))
        return 0.3 * (1.0 - dg / 4.0) + 0.35 * max(0.0, 1.0 - dl / 0.0625) + 0.7 * max(0.0, 1.0 - dg / 0.09)

    return Problem(
        "decoy", "numerical", "3 reals + 1 integer; a local optimum by the start, the global one far away",
        params, score, lambda c, ph: dict(best_x),
    )  # fmt: skip


_FACTORIES: tuple[Callable[[], Problem], ...] = (
    mixed_interactions,
    coarse_grid,
    categorical_combos,
    sparse_12d,
    drifting_optimum,
    heavy_noise,
    queue_service,
    queue_cliff,
    context_jobs,
    context_load,
    ridge,
    decoy,
)
PROBLEMS: tuple[str, ...] = tuple(f.__name__ for f in _FACTORIES)
"""Problem names, in table order."""

_BUILT: dict[str, Problem] = {}


def get_problem(name: str) -> Problem:
    """The problem called ``name`` (built once per process)."""
    if name not in _BUILT:
        factory = {f.__name__: f for f in _FACTORIES}.get(name)
        if factory is None:
            raise ValueError(f"Unknown problem {name!r}; known problems: {', '.join(PROBLEMS)}.")
        _BUILT[name] = factory()
    return _BUILT[name]


QUICK_PROBLEMS: tuple[str, ...] = tuple(n for n in PROBLEMS if get_problem(n).quick)
"""The ``--quick`` subset."""
