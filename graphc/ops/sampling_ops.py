"""Candidate samplers (tf.random.*_candidate_sampler, also under tf.nn); the sampled losses
built on them, tf.nn.nce_loss and tf.nn.sampled_softmax_loss, are in sampled_losses.py.

A sampler with unique=True draws until it has num_sampled distinct classes: a loop whose
length depends on the draws, which a static graph cannot express cheaply. So the candidates
are drawn on the host: they are placeholders the session fills before each run that needs
them (graphc/runtime/host.py's HostFeed), together with the number of draws it took. The
expected counts are computed in the graph from those, with TF's formulas
(range_sampler.cc): p * num_sampled when every draw was kept, else 1 - (1 - p)**tries.

The draws come from a numpy Generator per sampler and session, seeded from the op's
(graph seed, op seed) as graphc's random ops are (random_ops.get_seed): with a seed, each
new Session replays the same sequence of candidates; without one, each Session draws anew.
The candidates follow TF's distributions but are not TF's own numbers (TF uses Philox).
"""

from __future__ import annotations

import numpy as np

from graphc import gfile
from graphc.errors import DTypeError, ShapeError
from graphc.framework.graph import get_default_graph
from graphc.ir import dtypes
from graphc.ops import array_ops as A
from graphc.ops import math_ops as M
from graphc.ops.control_flow_ops import control_dependencies
from graphc.ops.random_ops import get_seed
from graphc.ops.tensor import convert_to_tensor
from graphc.runtime.host import (
    HostFeed,
    HostTap,
    register_host_feed,
    register_host_tap,
    session_store,
)


# --- the host side ----------------------------------------------------------------------------
class _CandidateFeed(HostFeed):
    """Fills (sampled candidates [num_sampled] int64, number of draws [] int64) per run;
    sample(gen, n) draws n classes."""

    def __init__(self, tensors, sample, num_sampled: int, unique: bool, seeds):
        self.tensors, self.sample = tensors, sample
        self.num_sampled, self.unique, self.seeds = num_sampled, unique, seeds

    def generator(self, session):
        """This sampler's generator in `session`, seeded on first use."""
        store = session_store(session)
        gen = store.get(self)
        if gen is None:
            seq = np.random.SeedSequence(None if None in self.seeds else list(self.seeds))
            gen = store[self] = np.random.Generator(np.random.PCG64(seq))
        return gen

    def next_values(self, session) -> list:
        candidates, tries = draw(self.generator(session), self.sample, self.num_sampled,
                                 self.unique)
        return [candidates, np.int64(tries)]


class _LearnedFeed(_CandidateFeed):
    """The learned unigram sampler's feed: its weights start at 1 per class and grow by
    one for each true class of each run (TF's ThreadUnsafeUnigramSampler); it also fills
    the probability table the run's expected counts read."""

    def __init__(self, tensors, num_sampled: int, unique: bool, seeds, range_max: int):
        super().__init__(tensors, None, num_sampled, unique, seeds)
        self.range_max = range_max

    def weights(self, session) -> np.ndarray:
        store = session_store(session)
        key = (self, "weights")
        if key not in store:
            store[key] = np.ones(self.range_max, np.int64)
        return store[key]

    def next_values(self, session) -> list:
        weights = self.weights(session)
        candidates, tries = draw(self.generator(session), _weighted(weights),
                                 self.num_sampled, self.unique)
        table = (weights / weights.sum()).astype(np.float32)
        return [candidates, np.int64(tries), table]


class _LearnedUpdate(HostTap):
    """After each run of a learned unigram sampler: its true classes counted into its
    weights (the total capped at 2**31 - 1, as TF's)."""

    def __init__(self, feed: _LearnedFeed, node, true_classes):
        self.feed, self.node, self.tensors = feed, node, (true_classes,)

    def after_run(self, session, values: list) -> None:
        weights = self.feed.weights(session)
        room = int(np.iinfo(np.int32).max - weights.sum())
        seen = np.asarray(values[0]).reshape(-1)[:max(room, 0)]
        seen = seen[(seen >= 0) & (seen < len(weights))]
        np.add.at(weights, seen, 1)


def draw(gen, sample, num: int, unique: bool):
    """(num candidates, draws made): with `unique`, drawn until num distinct ones came up,
    in the order they first came (TF's RangeSampler)."""
    if not unique:
        return sample(gen, num).astype(np.int64), num
    picked: dict = {}  # insertion-ordered set
    tries = 0
    while len(picked) < num:
        for value in sample(gen, num - len(picked)).tolist():
            tries += 1
            picked.setdefault(value, None)
            if len(picked) == num:
                break
    return np.fromiter(picked, np.int64, num), tries


def _uniform(range_max):
    return lambda gen, n: gen.integers(0, range_max, n)


def _log_uniform(range_max):
    """P(k) = log((k + 2) / (k + 1)) / log(range_max + 1): floor(exp(u log(range+1))) - 1."""
    log_range = np.log1p(range_max)
    return lambda gen, n: (np.exp(gen.random(n) * log_range).astype(np.int64) - 1) % range_max


def _weighted(weights):
    cumulative = np.cumsum(weights)
    total = cumulative[-1]
    return lambda gen, n: np.minimum(np.searchsorted(cumulative, gen.random(n) * total,
                                                     side="right"), len(weights) - 1)


# --- the graph side ---------------------------------------------------------------------------
def _check_sampler(what, true_classes, num_true, num_sampled, unique, range_max, possible):
    true = convert_to_tensor(true_classes)
    if true.dtype not in dtypes.INT_DTYPES:
        raise DTypeError(f"{what}: true_classes must be int64 (or int32), got {true.dtype}")
    if true.node.rank != 2 or true.node.shape[1] not in (None, num_true):
        raise ShapeError(f"{what}: true_classes must be a [batch_size, num_true={num_true}] "
                         f"matrix, got shape {true.shape}")
    if num_sampled < 1 or range_max < 1:
        raise ValueError(f"{what}: num_sampled ({num_sampled}) and range_max ({range_max}) "
                         "must be positive")
    if unique and num_sampled > possible:
        raise ValueError(f"{what}: unique=True cannot draw {num_sampled} distinct classes "
                         f"from {possible} that can be drawn")
    return M.cast(true, dtypes.int64)


def _candidate_sampler(what, sample, probability, true_classes, num_true, num_sampled,
                       unique, range_max, seed, name, possible=None):
    """(sampled_candidates, true_expected_count, sampled_expected_count) as TF returns them,
    the candidates drawn on the host by sample(gen, n) and P(class) given by
    `probability`, a function of an int64 tensor giving float32."""
    num_true, num_sampled, range_max = int(num_true), int(num_sampled), int(range_max)
    true = _check_sampler(what, true_classes, num_true, num_sampled, unique, range_max,
                          range_max if possible is None else possible)
    graph = get_default_graph()
    with graph.name_scope(name or what):
        sampled, tries = _drawn(num_sampled)
        register_host_feed(graph, _CandidateFeed((sampled, tries), sample, num_sampled,
                                                 bool(unique), get_seed(seed)))
        counts = [_expected_count(probability(c), tries, num_sampled) for c in (true, sampled)]
    return A.identity(sampled), counts[0], counts[1]


def _drawn(num_sampled: int):
    """The placeholders a sampler's feed fills: the candidates and the number of draws."""
    return (A.placeholder(dtypes.int64, [num_sampled], name="sampled_candidates"),
            A.placeholder(dtypes.int64, [], name="num_tries"))


def _expected_count(p, tries, num_sampled: int):
    """TF's ExpectedCountHelper in float32: p * num_sampled when no draw was rejected,
    else 1 - (1 - p)**tries, computed as -expm1(tries * log1p(-p))."""
    repeated = -M.expm1(M.cast(tries, dtypes.float32) * M.log1p(-p))
    return M.where(M.equal(tries, num_sampled), p * float(num_sampled), repeated)


def uniform_candidate_sampler(true_classes, num_true, num_sampled, unique, range_max,
                              seed=None, name=None):
    """Candidates drawn uniformly from [0, range_max) (TF1's signature and outputs)."""
    p = np.float32(1.0 / int(range_max))
    return _candidate_sampler(
        "uniform_candidate_sampler", _uniform(int(range_max)),
        lambda c: A.zeros_like(c, dtype=dtypes.float32) + p,
        true_classes, num_true, num_sampled, unique, range_max, seed, name)


def log_uniform_candidate_sampler(true_classes, num_true, num_sampled, unique, range_max,
                                  seed=None, name=None):
    """Candidates from the log-uniform (Zipfian) distribution over [0, range_max):
    P(k) = log((k + 2) / (k + 1)) / log(range_max + 1), for class ids sorted by decreasing
    frequency (TF1's signature and outputs)."""
    log_range = float(np.log1p(int(range_max)))

    def probability(c):
        c = M.cast(c, dtypes.float64)
        return M.cast(M.log((c + 2.0) / (c + 1.0)) / log_range, dtypes.float32)
    return _candidate_sampler("log_uniform_candidate_sampler", _log_uniform(int(range_max)),
                              probability, true_classes, num_true, num_sampled, unique,
                              range_max, seed, name)


def learned_unigram_candidate_sampler(true_classes, num_true, num_sampled, unique, range_max,
                                      seed=None, name=None):
    """Candidates drawn by how often each class has been a true class so far in this
    session (each starts at a count of 1); every run adds its true classes after drawing,
    as TF's op does (TF1's signature and outputs). The session feeds the current
    probability table (range_max floats) with the candidates at each run."""
    what = "learned_unigram_candidate_sampler"
    num_true, num_sampled, range_max = int(num_true), int(num_sampled), int(range_max)
    true = _check_sampler(what, true_classes, num_true, num_sampled, unique, range_max,
                          range_max)
    graph = get_default_graph()
    with graph.name_scope(name or what):
        sampled, tries = _drawn(num_sampled)
        table = A.placeholder(dtypes.float32, [range_max], name="probabilities")
        feed = _LearnedFeed((sampled, tries, table), num_sampled, bool(unique),
                            get_seed(seed), range_max)
        register_host_feed(graph, feed)
        register_host_tap(graph, _LearnedUpdate(feed, tries.node, true))
        with control_dependencies([tries]):  # every output runs the op (and its update)
            sampled = A.identity(sampled)

        def probability(c):
            inside = M.logical_and(M.greater_equal(c, 0), M.less(c, range_max))
            found = A.gather(table, M.where(inside, c, A.zeros_like(c)))
            return M.where(inside, found, A.zeros_like(found))
        counts = [_expected_count(probability(c), tries, num_sampled) for c in (true, sampled)]
    return sampled, counts[0], counts[1]


def fixed_unigram_candidate_sampler(true_classes, num_true, num_sampled, unique, range_max,
                                    vocab_file="", distortion=1.0, num_reserved_ids=0,
                                    num_shards=1, shard=0, unigrams=(), seed=None, name=None):
    """Candidates drawn by fixed weights: `unigrams`, or the last comma-separated field of
    each line of `vocab_file`, each raised to `distortion`; the first `num_reserved_ids`
    ids weigh 0; with `num_shards`, this sampler covers the ids i with i % num_shards ==
    shard (TF1's signature; the table's length, after those, must be range_max)."""
    what = "fixed_unigram_candidate_sampler"
    weights = _unigram_weights(what, vocab_file, unigrams, distortion, num_reserved_ids,
                               num_shards, shard)
    if len(weights) != int(range_max):
        raise ValueError(f"{what}: range_max is {range_max} but the weights have "
                         f"{len(weights)} entries")
    if weights.sum() <= 0:
        raise ValueError(f"{what}: the weights sum to {weights.sum()}; some must be positive")
    table = A.constant((weights / weights.sum()).astype(np.float32))
    size = len(weights)

    def probability(c):  # 0 outside the table, as TF's Probability
        inside = M.logical_and(M.greater_equal(c, 0), M.less(c, size))
        found = A.gather(table, M.where(inside, c, A.zeros_like(c)))
        return M.where(inside, found, A.zeros_like(found))
    return _candidate_sampler(what, _weighted(weights), probability, true_classes, num_true,
                              num_sampled, unique, range_max, seed, name,
                              possible=int(np.count_nonzero(weights)))


def _unigram_weights(what, vocab_file, unigrams, distortion, reserved, num_shards, shard):
    if bool(vocab_file) == bool(len(unigrams)):
        raise ValueError(f"{what}: give exactly one of vocab_file and unigrams")
    if vocab_file:
        with gfile.GFile(vocab_file, "r") as f:
            try:
                raw = [float(line.rstrip("\n").split(",")[-1]) for line in f if line.strip()]
            except ValueError as err:
                raise ValueError(f"{what}: wrong vocabulary format in {vocab_file}: {err}")
    else:
        raw = [float(u) for u in unigrams]
    ids = np.arange(reserved + len(raw))
    weights = np.concatenate([np.zeros(reserved), np.power(raw, distortion)])
    return weights[ids % num_shards == shard]


def all_candidate_sampler(true_classes, num_true, num_sampled, unique, seed=None, name=None):
    """Every class 0 .. num_sampled - 1, each with an expected count of 1 (TF1's
    all_candidate_sampler, for testing the sampled losses against the full ones)."""
    true = _check_sampler("all_candidate_sampler", true_classes, int(num_true),
                          int(num_sampled), False, int(num_sampled), int(num_sampled))
    sampled = A.constant(np.arange(int(num_sampled), dtype=np.int64))
    return (A.identity(sampled, name=name or "all_candidate_sampler"),
            M.cast(A.ones_like(true), dtypes.float32),
            A.constant(np.ones(int(num_sampled), np.float32)))


SAMPLERS = ("all_candidate_sampler", "fixed_unigram_candidate_sampler",
            "learned_unigram_candidate_sampler", "log_uniform_candidate_sampler",
            "uniform_candidate_sampler")  # tf.random's names, also tf.nn's
