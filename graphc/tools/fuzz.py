"""graphc fuzz: random graphs over the primitive table, compiled every way graphc compiles
them, against the reference target, values and gradients.

    graphc fuzz --n 1000 [--seed S] [--jobs 2]        (python -m graphc.tools.fuzz)
    graphc.tools.fuzz.fuzz(n, seed) -> FuzzReport

Program i is drawn from seed S + i (fuzz_gen): so `--seed S+i --n 1` replays it. Every
program is run on the reference target (the oracle) and on each configuration of CONFIGS
that its seed selects: LLVM at -O0 with one kernel per node, -O3 with every fusion on one
thread and on two, -O3 run again from the plans the first run stored in the disk cache
(bit for bit), and the emulated CUDA device. A configuration disagrees when a value is
off by more than the tolerance (`close`), or when it raises where the reference does not;
but a float32 value that agrees with the float64 result of the same program (`widened`,
run on the reference) is not a disagreement: the reference's own float32 rounding was off
(a gradient that cancels large terms to about zero). Those are counted as `rounding`.
Each disagreement is minimized (`minimize`: fewer fetches, then steps replaced by the values
they had, while it still disagrees) and printed as a runnable graphc program.
"""

from __future__ import annotations

import dataclasses
import functools
import time
import traceback
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from graphc.tools.fuzz_program import Input, Program, to_source

# dtype -> relative tolerance. A value passes when |got - want| <= tol * (|want| + scale),
# scale the largest |want| of the same fetch (at least 1): ulp-level differences
# (reassociated sums, a GEMM's blocking, vectorized exp) are relative to the magnitudes
# summed, not to each element: a small element of a large result gets the large ones' rounding.
TOLERANCE = {"float16": 1e-2, "float32": 1e-4, "float64": 1e-9}


@dataclass(frozen=True)
class Config:
    name: str
    target: str
    settings: tuple  # (name, value) pairs of graphc.Options
    every: int = 1  # runs on programs whose seed is a multiple of this
    device: bool = False  # needs a device (a GPU): runs only when named (--config)
    stored: bool = False  # run twice, the second time from plans stored by the first

    def make_options(self, tf):
        return tf.Options(**dict(self.settings))

    @property
    def options(self) -> str:
        """The options as Python source, for repros."""
        return "tf.Options(" + ", ".join(f"{k}={v!r}" for k, v in self.settings) + ")"


CONFIGS = (
    Config("llvm -O0 unfused", "llvm", (("opt_level", 0), ("fuse", False), ("threads", 1))),
    Config("llvm -O3", "llvm", (("opt_level", 3), ("threads", 1))),
    Config("llvm -O3 2 threads", "llvm", (("opt_level", 3), ("threads", 2)), every=3),
    Config("llvm -O3 stored", "llvm", (("opt_level", 3), ("threads", 1)), every=5,
           stored=True),
    Config("cuda-emulated", "cuda-emulated", (("opt_level", 3),), every=8),
    Config("cuda", "cuda", (("opt_level", 3),), device=True),
)
DEFAULT_CONFIGS = tuple(c for c in CONFIGS if not c.device)  # those that run anywhere
LARGE_EVERY = 10  # every tenth program uses sizes at which graphc splits work over threads


@dataclass
class Mismatch:
    seed: int
    config: str
    message: str  # what disagreed
    source: str  # the minimized program, runnable
    steps: int  # values in the minimized program
    original_steps: int


@dataclass
class FuzzReport:
    programs: int = 0
    values: int = 0  # fetched values compared (each against every configuration run)
    gradients: int = 0  # of which gradients
    comparisons: int = 0
    runs: dict = field(default_factory=dict)  # config name -> programs run
    invalid: int = 0  # programs the reference itself rejected (not counted as compared)
    mismatches: list = field(default_factory=list)
    crashes: list = field(default_factory=list)  # "seed S: what" for a dead process or a
    # program that could not even be drawn (an exception building the graph)
    rounding: list = field(default_factory=list)  # "seed S, config: vI" float32 values off
    # the float32 reference but agreeing with the float64 one (see `disagreement`)
    seconds: float = 0.0

    def merge(self, other: "FuzzReport") -> None:
        for f in ("programs", "values", "gradients", "comparisons", "invalid", "seconds"):
            setattr(self, f, getattr(self, f) + getattr(other, f))
        for k, v in other.runs.items():
            self.runs[k] = self.runs.get(k, 0) + v
        self.mismatches += other.mismatches
        self.crashes += other.crashes
        self.rounding += other.rounding

    def summary(self) -> str:
        runs = ", ".join(f"{k}: {v}" for k, v in self.runs.items())
        lines = [f"graphc fuzz: {self.programs} programs, {self.values} fetched values "
                 f"({self.gradients} of them gradients), {self.comparisons} comparisons "
                 f"against the reference target in {self.seconds:.0f} s",
                 f"  runs per configuration: {runs}",
                 f"  programs the reference rejected: {self.invalid}",
                 f"  float32 values off the float32 reference but agreeing with the "
                 f"float64 one (the reference's rounding): {len(self.rounding)}"]
        lines += [f"    {r}" for r in self.rounding[:20]]
        lines += [f"  mismatches: {len(self.mismatches)}",
                 f"  crashes: {len(self.crashes)}"] + [f"    {c}" for c in self.crashes]
        for m in self.mismatches:
            lines += ["", f"--- seed {m.seed}, {m.config}: {m.message}",
                      f"    minimized from {m.original_steps} to {m.steps} values:", m.source]
        return "\n".join(lines) + "\n"

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def slack(want: np.ndarray, tol: float) -> np.ndarray:
    """How far a value may be from float64 `want`, elementwise: tol * (|want| + scale), with
    scale the largest finite |want| and at least 1 (every input is of order 1, so a result
    that cancels to about 0, a gradient whose terms sum to nothing, carries the rounding of
    order-1 terms)."""
    finite = np.isfinite(want)
    scale = max(1.0, float(np.max(np.abs(want[finite]))) if finite.any() else 0.0)
    with np.errstate(all="ignore"):
        return tol * (np.abs(want) + scale)


def close(got, want) -> Optional[str]:
    """None when `got` matches `want`, else what differs."""
    got, want = np.asarray(got), np.asarray(want)
    if got.shape != want.shape or got.dtype != want.dtype:
        return f"{got.dtype}{list(got.shape)} where the reference has " \
               f"{want.dtype}{list(want.shape)}"
    if want.dtype.name not in TOLERANCE:
        bad = got != want
    else:
        g, w = got.astype(np.float64), want.astype(np.float64)
        with np.errstate(all="ignore"):
            ok = (np.abs(g - w) <= slack(w, TOLERANCE[want.dtype.name])) | (g == w) | \
                (np.isnan(g) & np.isnan(w))
        bad = ~ok
    if not bad.any():
        return None
    i = tuple(int(x) for x in np.argwhere(bad)[0])
    return f"{int(bad.sum())} of {want.size} elements differ; at {list(i)}: " \
           f"{got[i]!r} where the reference has {want[i]!r}"


def generate(tf, seed: int) -> Program:
    """The program of `seed` (sizes that use threads for one seed in LARGE_EVERY)."""
    from graphc.tools.fuzz_gen import Generator
    from graphc.tools.fuzz_ops_array import draw_program
    tf.reset_default_graph()
    return draw_program(Generator(tf, seed, large=seed % LARGE_EVERY == LARGE_EVERY - 1))


def run(tf, program: Program, target: str, options=None, reads: bool = True,
        plans: list = None) -> list:
    """The fetched values of one run of the program, in a fresh graph, then (with `reads`)
    those of program.reads() fetched before that run and again after its variables are
    loaded with program.reloaded() values, then what its prints printed
    (fuzz_control.printed). With `plans` (a list), an LLVM session stores every plan
    it compiles in the disk cache (however fast it was built), and `plans` receives them."""
    from graphc.tools import fuzz_control
    from graphc.tools.fuzz_program import build
    tf.reset_default_graph()
    fuzz_control.reset_prints()
    _, built, feeds = build(tf, program)
    again = [built[i] for i in program.reads()] if reads else []
    with tf.Session(target=target, config=options) as sess:
        if plans is not None:
            sess._executor.stores_plans, sess._executor.store_after = True, 0.0
        sess.run(tf.global_variables_initializer())
        before = sess.run(again, feeds) if again else []
        values = sess.run([built[i] for i in program.outputs], feeds)
        after = []
        if again:
            for i, value in program.reloaded().items():
                built[i].load(value, sess)
            after = sess.run(again, feeds)
        _check_plans(sess)
        if plans is not None:
            plans += [plan for plan, _ in sess._executor.compiled_plans()]
        return values + before + after + fuzz_control.printed()


def run_stored(tf, program: Program, options) -> list:
    """run() twice with plans stored in a cache of its own: the second run's values, once
    they are found bit for bit the first's, and every plan the first stored loaded by the
    second (else AssertionError)."""
    import tempfile

    from graphc.runtime import plan_store
    compiled, loaded = [], []
    with tempfile.TemporaryDirectory() as cache:
        options = options.replace(cache_dir=cache)
        first = run(tf, program, "llvm", options, plans=compiled)
        second = run(tf, program, "llvm", options, plans=loaded)
    for (_, label), a, b in zip(_fetched(program), first, second):
        if np.asarray(a).tobytes() != np.asarray(b).tobytes():
            raise AssertionError(f"{label} from the stored plans differs from the compiled "
                                 f"plans' value")
    storable = sum(plan_store.storable(p, session=True) is None for p in compiled)
    if sum(p.stored for p in loaded) != storable:
        raise AssertionError(f"{sum(p.stored for p in loaded)} of {storable} storable "
                             f"plans loaded from the disk cache")
    return second


def _fetched(program: Program) -> list:
    """What each value run() returns before the prints is: (index, label)."""
    reads = program.reads()
    return [(i, f"v{i}") for i in program.outputs] + \
        [(i, f"v{i} before the run") for i in reads] + \
        [(i, f"v{i} after loading new values") for i in reads]


def _check_plans(sess) -> None:
    """Raise if a compiled plan with loops or branches places a buffer where some path
    through its program overwrites it before it is read (compiler/placement.py): caught
    even when this program's data takes a path that does not show it."""
    from graphc.compiler.placement import check_placement
    for plan in getattr(getattr(sess, "_executor", None), "_plans", {}).values():
        if not hasattr(plan, "program"):  # the reference target keeps node orders
            continue
        problems = check_placement(plan)
        if problems:
            raise AssertionError(f"memory placement: {problems[0]}")


def disagreement(tf, program: Program, config: Config, want=None,
                 rounding: list = None, exact=None) -> Optional[str]:
    """What `config` gets wrong on `program` (None: nothing; the reference must run). A
    float32 value off the reference but agreeing with the program's float64 result
    (`widened`) is the reference's rounding: noted in `rounding` ("vI"), not a finding.
    `exact`: a function giving the float64 results (float64_results), shared between
    configurations so the float64 program runs once."""
    if want is None:
        want = run(tf, program, "reference")
    exact = exact or float64_results(tf, program)
    try:
        got = run_stored(tf, program, config.make_options(tf)) if config.stored else \
            run(tf, program, config.target, config.make_options(tf))
    except Exception as err:  # the reference ran: any error is a finding
        return f"raised {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
    fetched = _fetched(program)
    for k, ((i, label), g, w) in enumerate(zip(fetched, got, want)):
        problem = close(g, w)
        if problem and np.asarray(w).dtype == np.float32 and np.shape(g) == np.shape(w):
            if rounded_alike(g, w, exact()[k]):
                if rounding is not None:
                    rounding.append(f"v{i}")
                continue
        if problem:
            return f"{label}: {problem}"
    n = len(fetched)
    if len(got) != len(want):
        return f"printed under {len(got) - n} tags where the reference printed under " \
               f"{len(want) - n}"
    for k, (g, w) in enumerate(zip(got[n:], want[n:])):
        problem = close(g, w)
        if problem:
            return f"print p{k}: {problem}"
    return None


def float64_results(tf, program: Program):
    """A function giving the reference's results for `widened(program)`, run on first call."""
    return functools.cache(lambda: run(tf, widened(program), "reference"))


def widened(program: Program) -> Program:
    """The program in float64: float32 feeds, constants and dtype names widened."""
    def widen(x):
        if isinstance(x, np.ndarray) and x.dtype == np.float32:
            return x.astype(np.float64)
        if isinstance(x, np.float32):
            return np.float64(x)
        if isinstance(x, str) and x == "float32":
            return "float64"
        if isinstance(x, (tuple, list)):
            return type(x)(widen(item) for item in x)
        return x
    values = [Input(widen(v.dtype), widen(v.value)) if isinstance(v, Input) else
              dataclasses.replace(v, args=widen(v.args), kwargs=widen(v.kwargs))
              for v in program.values]
    return dataclasses.replace(program, values=values)


NOISE_FACTOR = 4  # rounded_alike: how far past the reference's own float32 error


def rounded_alike(got, want, exact) -> bool:
    """Whether float32 `got` is as good as the float32 reference `want`, judged by the
    float64 result `exact`: within the tolerance of `exact` widened by NOISE_FACTOR times
    the reference's largest error in the same fetch. Rounding noise is not the same at each
    element, nor in two float32 evaluations (graphc's sums run in other orders), so one
    evaluation's error only tells its order of magnitude; a wrong kernel is off by the
    values themselves, far more than float32 rounding that still matches float64 elsewhere."""
    g, w, e = (np.asarray(a, np.float64) for a in (got, want, exact))
    if e.shape != g.shape:
        return False
    with np.errstate(all="ignore"):
        noise = np.abs(w - e)
        noise = float(np.max(noise[np.isfinite(noise)], initial=0.0))
        ok = (np.abs(g - e) <= slack(e, TOLERANCE["float32"]) + NOISE_FACTOR * noise) | \
            (g == w) | (np.isnan(g) & np.isnan(e))
    return bool(ok.all())


def fuzz(n: int, seed: int = 0, configs=DEFAULT_CONFIGS, minimize_failures: bool = True,
         shard: tuple = (0, 1), log=None, first: int = 0) -> FuzzReport:
    """Run programs seed .. seed + n - 1 (those of `shard` (k, of), from number `first`
    on) and report."""
    import graphc as tf
    report, start = FuzzReport(), time.perf_counter()
    for number in range(shard[0], n, shard[1]):
        s = seed + number
        if number < first:
            continue
        if log:  # the seed about to run, and the report of the programs before it
            log(s, report)
        try:
            program = generate(tf, s)
        except Exception as err:  # graphc raised something unexpected while building
            report.crashes.append(f"seed {s}: drawing the program raised "
                                  f"{type(err).__name__}: {str(err)[:200]}")
            continue
        try:
            want = run(tf, program, "reference")
        except Exception:
            report.invalid += 1
            continue
        report.programs += 1
        exact = float64_results(tf, program)
        report.values += len(program.outputs)
        report.gradients += sum(program.values[i].fn == "gradients" for i in program.outputs)
        for config in configs:
            if s % config.every:
                continue
            report.runs[config.name] = report.runs.get(config.name, 0) + 1
            report.comparisons += len(_fetched(program))
            rounded: list = []
            problem = disagreement(tf, program, config, want, rounded, exact)
            report.rounding += [f"seed {s}, {config.name}: {v}" for v in rounded]
            if problem:
                report.mismatches.append(_mismatch(tf, program, config, problem,
                                                   minimize_failures))
    report.seconds = time.perf_counter() - start
    return report


def _mismatch(tf, program, config, problem, minimize_failures) -> Mismatch:
    small = program
    if minimize_failures:
        try:
            small = minimize(tf, program, config)
        except Exception:  # keep the original when shrinking itself fails
            traceback.print_exc()
        problem = disagreement(tf, small, config) or problem
    return Mismatch(program.seed, config.name, problem,
                    to_source(small, config.options, config.target), small.count(),
                    program.count())


def minimize(tf, program: Program, config: Config, budget: int = 300) -> Program:
    """A smaller program on which `config` still disagrees with the reference: one fetch
    where one suffices; then, while anything changes, each step (last first) read through
    in place of one of its operands of the same type, shorter lists of operands, and each
    step replaced by a placeholder fed the value the reference gave it."""
    def fails(p) -> bool:
        nonlocal budget
        budget -= 1
        try:
            return disagreement(tf, p, config) is not None
        except Exception:  # the reference rejects the candidate: not a repro
            return False
    for out in program.outputs:
        if budget > 0 and fails(program.keep([out])):
            program = program.keep([out])
            break
    changed = True
    while changed and budget > 0:
        changed = False
        for i in reversed(program.reachable()):
            if i >= len(program.values) or isinstance(program.values[i], Input):
                continue
            for candidate in _smaller(tf, program, i):
                if budget <= 0:
                    break
                if candidate is not None and fails(candidate):
                    program, changed = candidate, True
                    break
    return program


def _smaller(tf, program: Program, i: int):
    """Candidate programs with value i simpler (lazily: each costs a run)."""
    step = program.values[i]
    types = _types(tf, program)
    for j in program.refs(i):  # the step read through: its operand in its place
        if types.get(j) == types.get(i) and types.get(i) is not None:
            yield program.substitute(i, j)
    if step.fn == "gradients" and len(step.args[1]) > 1:  # one x, the one taken
        yield program.with_step(i, dataclasses.replace(
            step, args=(step.args[0], [step.args[1][step.pick]]), pick=0))
    for k, arg in enumerate(step.args):  # shorter operand lists (add_n, concat, stack)
        if isinstance(arg, list) and len(arg) > 1 and step.fn != "gradients":
            for drop in range(len(arg)):
                args = step.args[:k] + (arg[:drop] + arg[drop + 1:],) + step.args[k + 1:]
                yield program.with_step(i, dataclasses.replace(step, args=args))
    if i not in program.outputs:
        yield _cut(tf, program, i)


def _types(tf, program: Program) -> dict:
    """value index -> (dtype, shape) as graphc built it."""
    from graphc.tools.fuzz_program import build
    tf.reset_default_graph()
    try:
        _, built, _ = build(tf, program)
    except Exception:
        return {}
    return {i: (t.dtype.name, tuple(t.shape.as_list())) for i, t in enumerate(built)
            if t is not None and hasattr(t, "dtype")}


def _cut(tf, program: Program, i: int) -> Optional[Program]:
    """The program with value i fed (the reference's value of it), or None."""
    try:
        (value,) = run(tf, program.keep([i]), "reference", reads=False)
    except Exception:
        return None
    value = np.asarray(value)
    return program.cut(i, value, value.dtype.name)


if __name__ == "__main__":
    from graphc.tools.fuzz_cli import main
    raise SystemExit(main())
