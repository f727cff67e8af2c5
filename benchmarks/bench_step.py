"""Time ONE optimizer step, gradients given, for symupdates and its peers, side by side.

Usage::

    python benchmarks/bench_step.py                 # full sizes (about 10M elements per layout)
    python benchmarks/bench_step.py --scale 0.1     # a quick run
    python benchmarks/bench_step.py --compile 10,100,1000 --layouts ""  # build/compile time vs number of parameters

Competitors run interleaved, round after round, and the table reports the
median per step and the ratio to the fastest entry of the same row. The
bandwidth bound is the bytes the step must move (Adam: 7 x 4 bytes per float32
element: read p, g, m, v; write p, m, v) divided by the bandwidth of a
one-pass in-place triad ``a[i] += s * b[i]`` (Numba) measured in the same run.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections import OrderedDict

import numpy as np

OPTIMIZERS = ("adam", "adamw", "rmsprop", "adadelta", "momentum")
# Bytes per element each step must move (reads + writes of p, g and the state).
TRAFFIC = {"adam": 7, "adamw": 7, "rmsprop": 5, "adadelta": 7, "momentum": 5}


def layouts(scale: float) -> dict:
    n = int(10_000_000 * scale)
    rng = np.random.default_rng(0)
    mixed = []
    while sum(int(np.prod(s)) for s in mixed) < n:
        k = int(rng.integers(64, 1024))
        mixed += [(k, max(1, n // (100 * k))), (k,)]
    return {
        "1 tensor": [(n,)],
        f"{len(mixed)} mixed": mixed,
        "2000 tiny": [(max(1, n // 2000 // 100),)] * 2000 if scale < 1 else [(64,)] * 2000,
        "ADVI (2 flat)": [(n // 2,), (n // 2,)],
    }


def triad_bandwidth(n: int, reps: int = 20) -> float:
    """Bytes per second of an in-place triad ``a[i] += s * b[i]`` (12 bytes per element moved).

    One compiled pass (Numba): NumPy's ``a += s * b`` makes a temporary and moves
    20 bytes per element, which would undercount the bandwidth.
    """
    from numba import njit

    @njit(cache=False, fastmath=False)
    def triad(a, b, s):
        for i in range(a.size):
            a[i] += s * b[i]

    a = np.ones(n, np.float32)
    b = np.ones(n, np.float32)
    triad(a, b, np.float32(1e-7))  # compile
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        triad(a, b, np.float32(1e-7))
        times.append(time.perf_counter() - t)
    return 12 * n / min(times)


# --------------------------------------------------------------------------- runners
def resolve_mode(label: str):
    """A PyTensor mode from a backend label: "CVM" (the C backend, with symupdates' fused
    multi-tensor step), "CVM-nogc" (the same with ``allow_gc=False``), "CVM-unfused" (the
    C backend as PyTensor ships it), "NUMBA", "JAX"."""
    from pytensor.compile.mode import Mode

    if label == "CVM":
        return Mode(linker="cvm", optimizer="fast_run")
    if label == "CVM-nogc":
        return Mode(linker="cvm", optimizer="fast_run").clone(link_kwargs={"allow_gc": False})
    if label == "CVM-unfused":
        return Mode(linker="cvm", optimizer="fast_run").excluding("symupdates_fusion")
    return label


def synchronised(fn, updates):
    """``fn`` that returns once its updates are computed.

    PyTensor's JAX mode stores updated shared values as JAX arrays, dispatched
    asynchronously; block on every one of them so the step is really timed.
    """
    try:
        import jax
    except ImportError:
        return fn
    shared = list(updates)

    def step():
        fn()
        jax.block_until_ready([v.get_value(borrow=True) for v in shared])

    return step


def symupdates_step(name, shapes, mode, packed=False):
    """symupdates' step; ``packed``: every tensor is a view of one flat vector (symupdates.flat_parameters)."""
    import pytensor

    import symupdates

    rng = np.random.default_rng(1)
    params = [pytensor.shared(rng.normal(size=s).astype("float32"), name=f"p{i}") for i, s in enumerate(shapes)]
    grads = [pytensor.shared(rng.normal(size=s).astype("float32")) for s in shapes]
    if packed:
        # a loss built on the views would have one flat gradient too; here the gradients are given
        params = [symupdates.flat_parameters({p.name: p.get_value() for p in params}).flat]
        grads = [pytensor.shared(np.concatenate([g.get_value().ravel() for g in grads]))]
    kwargs = {
        "adam": lambda: symupdates.adam(grads, params, learning_rate=1e-3),
        "adamw": lambda: (
            symupdates.adamw(grads, params, learning_rate=1e-3)
            if hasattr(symupdates, "adamw")
            else symupdates.adam(grads, params, form="torch", decoupled_weight_decay=1e-2)
        ),
        "rmsprop": lambda: symupdates.rmsprop(grads, params, learning_rate=1e-3),
        "adadelta": lambda: symupdates.adadelta(grads, params),
        "momentum": lambda: symupdates.momentum(grads, params, learning_rate=1e-3),
    }
    updates = kwargs[name]()
    if mode == "device":  # symupdates.jax_function: parameters and state stay JAX arrays on the device
        fn = symupdates.jax_function([], [], updates)

        def step():
            fn()
            fn._jax.block_until_ready(fn._values)

        return step
    return synchronised(pytensor.function([], [], updates=updates, mode=resolve_mode(mode)), updates)


def pymc_step(name, shapes, mode):
    import pymc.variational.updates as pu
    import pytensor

    if name == "adamw":
        return None
    rng = np.random.default_rng(1)
    params = [pytensor.shared(rng.normal(size=s).astype("float32")) for s in shapes]
    grads = [pytensor.shared(rng.normal(size=s).astype("float32")) for s in shapes]
    fn_ = {"adam": pu.adam, "rmsprop": pu.rmsprop, "adadelta": pu.adadelta, "momentum": pu.momentum}[name]
    try:
        with pytensor.config.change_flags(floatX="float32"):
            updates = fn_(grads, params, learning_rate=1e-3) if name != "adadelta" else fn_(grads, params)
            return synchronised(pytensor.function([], [], updates=updates, mode=resolve_mode(mode)), updates)
    except Exception:  # pymc cannot build some float32 graphs
        return None


def torch_step(name, shapes, impl):
    import torch

    torch.set_num_threads(1)  # like the PyTensor steps it is compared with, one thread
    params = [torch.randn(*s, dtype=torch.float32, requires_grad=True) for s in shapes]
    for p in params:
        p.grad = torch.randn_like(p)
    kw = {"foreach": impl == "foreach", "fused": impl == "fused"}
    if impl == "fused" and name not in ("adam", "adamw", "momentum"):
        return None
    make = {
        "adam": lambda: torch.optim.Adam(params, lr=1e-3, **kw),
        "adamw": lambda: torch.optim.AdamW(params, lr=1e-3, **kw),
        "rmsprop": lambda: torch.optim.RMSprop(params, lr=1e-3, foreach=kw["foreach"]),
        "adadelta": lambda: torch.optim.Adadelta(params, foreach=kw["foreach"]),
        "momentum": lambda: torch.optim.SGD(params, lr=1e-3, momentum=0.9, **kw),
    }
    opt = make[name]()

    def step():
        with torch.no_grad():
            opt.step()

    return step


def optax_step(name, shapes):
    import jax
    import optax

    make = {
        "adam": lambda: optax.adam(1e-3),
        "adamw": lambda: optax.adamw(1e-3),
        "rmsprop": lambda: optax.rmsprop(1e-3),
        "adadelta": lambda: optax.adadelta(1.0),
        "momentum": lambda: optax.sgd(1e-3, momentum=0.9),
    }
    tx = make[name]()
    key = jax.random.PRNGKey(0)
    params = [jax.random.normal(key, s, dtype="float32") for s in shapes]
    grads = [jax.random.normal(key, s, dtype="float32") for s in shapes]
    state = tx.init(params)

    def update(params, state, grads):
        updates, state = tx.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    update = jax.jit(update, donate_argnums=(0, 1))
    box = {"p": params, "s": state}

    def step():
        box["p"], box["s"] = update(box["p"], box["s"], grads)
        jax.block_until_ready(box["p"])

    return step


def numpy_adam_step(name, shapes):
    if name != "adam":
        return None
    rng = np.random.default_rng(1)
    ps = [rng.normal(size=s).astype("float32") for s in shapes]
    gs = [rng.normal(size=s).astype("float32") for s in shapes]
    ms = [np.zeros_like(p) for p in ps]
    vs = [np.zeros_like(p) for p in ps]
    tmp = [np.empty_like(p) for p in ps]
    box = {"t": 0}
    b1, b2 = np.float32(0.9), np.float32(0.999)

    def step():
        box["t"] += 1
        t = box["t"]
        a = np.float32(1e-3 * np.sqrt(1 - 0.999**t) / (1 - 0.9**t))
        for p, g, m, v, w in zip(ps, gs, ms, vs, tmp):
            m *= b1
            m += (1 - b1) * g
            np.multiply(g, g, out=w)
            v *= b2
            w *= 1 - b2
            v += w
            np.sqrt(v, out=w)
            w += np.float32(1e-8)
            np.divide(m, w, out=w)
            w *= a
            p -= w

    return step


#: Unpacked graphs with more tensors than this are not compiled on the modes named:
#: PyTensor's NUMBA and JAX compilation of a graph of ~150 separate tensors was killed
#: for lack of memory (23 GB) on the benchmark machine, and the C backend's compile
#: time grows superlinearly (2,000 separate tensors of 64: over 420 s on PyTensor 2.38,
#: 708 s on PyTensor 3.0.7, measured 2026-12-02).
UNPACKED_LIMIT = {"NUMBA": 20, "JAX": 20, "CVM": 500, "CVM-nogc": 500, "CVM-unfused": 500}


def competitors(name, shapes, backends):
    """{label: factory of a step function, or a string saying why it is not run}."""
    out = OrderedDict()
    for mode in backends:
        if len(shapes) > UNPACKED_LIMIT.get(mode, 10**9):
            out[f"symupdates {mode}"] = f"not run: {len(shapes)} separate tensors exceed the {mode} compile limit"
        else:
            out[f"symupdates {mode}"] = lambda mode=mode: symupdates_step(name, shapes, mode)
            if mode not in ("CVM", "CVM-nogc"):  # on CVM, pymc's graph gets the same fused step as ours
                out[f"pymc {mode}"] = lambda mode=mode: pymc_step(name, shapes, mode)
            if mode == "JAX":
                out["symupdates.jax_function (JAX, device-resident)"] = lambda: symupdates_step(name, shapes, "device")
        if len(shapes) > 1:
            out[f"symupdates flat {mode}"] = lambda mode=mode: symupdates_step(name, shapes, mode, packed=True)
    out["torch foreach"] = lambda: torch_step(name, shapes, "foreach")
    out["torch fused"] = lambda: torch_step(name, shapes, "fused")
    out["optax jit+donate"] = lambda: optax_step(name, shapes)
    out["numpy in-place"] = lambda: numpy_adam_step(name, shapes)
    return out


def bench(steps: dict, rounds: int, per_round: int) -> dict:
    times = {k: [] for k in steps}
    for fn in steps.values():
        fn()  # warm up
    for _ in range(rounds):
        for k, fn in steps.items():
            t = time.perf_counter()
            for _ in range(per_round):
                fn()
            times[k].append((time.perf_counter() - t) / per_round)
    return {k: statistics.median(v) for k, v in times.items()}


def _compile_case(n: int, mode: str, path: str) -> dict:
    """Build, compile and first-call time, step time and peak memory of one Adam graph over
    ``n`` float32 tensors of 64 (run in a fresh process by :func:`compile_times`).

    ``path``: "separate" (n shared tensors, gradients given) or "flat" (the tensors
    created by ``symupdates.flat_parameters``, the loss ``sum_i <p_i, g_i>`` built on
    the views, so the gradient flows through their Split and its Join).
    """
    import resource

    import pytensor
    import pytensor.tensor as pt

    import symupdates

    t0 = time.perf_counter()
    grads = [pytensor.shared(np.ones(64, "float32")) for _ in range(n)]
    if path == "flat":
        params = symupdates.flat_parameters({f"p{i}": np.zeros(64, "float32") for i in range(n)})
        loss = pt.add(*[(params[f"p{i}"] * g).sum() for i, g in enumerate(grads)])
        updates = symupdates.adam(loss, [params.flat])
    else:
        params = [pytensor.shared(np.zeros(64, "float32"), name=f"p{i}") for i in range(n)]
        updates = symupdates.adam(grads, params)
    t1 = time.perf_counter()
    fn = pytensor.function([], [], updates=updates, mode=resolve_mode(mode))
    fn()  # Numba compiles at the first call
    t2 = time.perf_counter()
    step = bench({"s": fn}, 5, 3)["s"]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"build": t1 - t0, "compile": t2 - t1, "step": step, "rss": rss}


def _compile_in_subprocess(n, mode, path, compiledir, timeout) -> dict | str:
    import json
    import os
    import subprocess
    import sys

    # base_compiledir, not compiledir: PyTensor 3 keeps Numba's cache beside the C one, in base_compiledir
    env = dict(os.environ, PYTENSOR_FLAGS=f"base_compiledir={compiledir}")
    try:
        out = subprocess.run(
            [sys.executable, __file__, "--compile-case", f"{n},{mode},{path}"],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"over {timeout} s"
    if out.returncode != 0:
        return f"failed: {(out.stderr.strip().splitlines() or ['exit ' + str(out.returncode)])[-1][:60]}"
    return json.loads(out.stdout.strip().splitlines()[-1])


def compile_times(sizes, backends, unpacked_max, timeout):
    """Compile time (with the first call) of Adam against the number of parameters, each case in
    a fresh process: cold (an empty compile cache) then warm (the cache the cold run left)."""
    import tempfile

    print("## Adam: compile time (including the first call) vs number of parameters (64 float32 each)\n")
    print("Each case runs in a fresh process; cold: an empty PyTensor compile cache, warm: the same")
    print(f"case again on the cache the cold run filled. Separate tensors up to {unpacked_max} parameters.\n")
    print(
        "| parameters | path | backend | build s | compile cold s | compile warm s | step ms | peak RSS MB cold / warm |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for n in sizes:
        for mode in backends:
            paths = ["flat"] + (["separate"] if n <= min(unpacked_max, UNPACKED_LIMIT.get(mode, unpacked_max)) else [])
            for path in paths:
                with tempfile.TemporaryDirectory() as compiledir:
                    cold = _compile_in_subprocess(n, mode, path, compiledir, timeout)
                    warm = (
                        _compile_in_subprocess(n, mode, path, compiledir, timeout) if isinstance(cold, dict) else cold
                    )
                if isinstance(cold, str) or isinstance(warm, str):
                    print(f"| {n} | {path} | {mode} | {cold if isinstance(cold, str) else warm} | | | | |", flush=True)
                    continue
                print(
                    f"| {n} | {path} | {mode} | {cold['build']:.2f} | {cold['compile']:.2f} | {warm['compile']:.2f} "
                    f"| {warm['step'] * 1e3:.3f} | {cold['rss']:.0f} / {warm['rss']:.0f} |",
                    flush=True,
                )
    print()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0, help="fraction of the 10M elements per layout")
    ap.add_argument("--optimizers", default=",".join(OPTIMIZERS))
    ap.add_argument("--backends", default="CVM,CVM-unfused,NUMBA,JAX", help="PyTensor modes to time")
    ap.add_argument("--layouts", default=None, help='comma-separated subset of layout names ("" for none)')
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--per-round", type=int, default=3)
    ap.add_argument("--compile", default="", help="comma-separated parameter counts for the compile-time table")
    ap.add_argument("--unpacked-max", type=int, default=2000, help="largest count compiled as separate tensors")
    ap.add_argument("--timeout", type=int, default=900, help="seconds allowed to one compile case")
    ap.add_argument("--compile-case", default="", help=argparse.SUPPRESS)  # n,mode,path: one case, JSON out
    args = ap.parse_args(argv)
    if args.compile_case:
        import json

        n, mode, path = args.compile_case.split(",")
        print(json.dumps(_compile_case(int(n), mode, path)))
        return

    import pytensor

    print(
        f"# symupdates step benchmark\n\nmachine: {platform.processor() or platform.machine()}, "
        f"python {platform.python_version()}, pytensor {pytensor.__version__}, scale {args.scale}\n"
    )
    if args.compile:
        compile_times(
            [int(x) for x in args.compile.split(",")], args.backends.split(","), args.unpacked_max, args.timeout
        )
    all_layouts = layouts(args.scale)
    chosen = list(all_layouts) if args.layouts is None else [x for x in args.layouts.split(",") if x]
    for lname in chosen:
        shapes = all_layouts[lname]
        n = sum(int(np.prod(s)) for s in shapes)
        bw = triad_bandwidth(n)
        print(f"## {lname}: {len(shapes)} tensors, {n:,} float32 elements; triad bandwidth {bw / 1e9:.1f} GB/s\n")
        print(
            "| optimizer | competitor | median ms/step | x fastest | x bandwidth bound | build+compile+first call s |"
        )
        print("|---|---|---|---|---|---|")
        for name in args.optimizers.split(","):
            steps, setup = {}, {}
            for label, make in competitors(name, shapes, args.backends.split(",")).items():
                if isinstance(make, str):
                    print(f"| {name} | {label} | {make} | | | |")
                    continue
                try:
                    t = time.perf_counter()
                    fn = make()
                    if fn is not None:
                        fn()  # Numba and JAX compile at the first call
                    setup[label] = time.perf_counter() - t
                except Exception as err:  # a competitor that cannot run this case is reported, not hidden
                    print(f"| {name} | {label} | failed: {type(err).__name__} | | | |")
                    continue
                if fn is not None:
                    steps[label] = fn
            result = bench(steps, args.rounds, args.per_round)
            best = min(result.values())
            bound = TRAFFIC[name] * 4 * n / bw
            for label, t in sorted(result.items(), key=lambda kv: kv[1]):
                print(f"| {name} | {label} | {t * 1e3:.3f} | {t / best:.2f} | {t / bound:.2f} | {setup[label]:.1f} |")
        print()


if __name__ == "__main__":
    main()
