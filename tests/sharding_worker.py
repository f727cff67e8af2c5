"""Runs sharded steps in a process of its own: JAX fixes its device count when it starts.

``python sharding_worker.py equality NAME OUT`` (with 4 virtual CPU devices):
20 steps of optimizer NAME in float64 and float32, run by ``pytensor.function``
in FAST_RUN, by :func:`symupdates.jax_function` on one device, data-parallel
and ZeRO-style on a 4-device mesh; writes the largest differences to OUT (JSON).

``python sharding_worker.py errors OUT``: the messages of the layout errors.

``python sharding_worker.py multihost PROCESS PORT OUT``: one of two processes
(2 virtual devices each) joined by ``jax.distributed`` over 127.0.0.1, running
the ZeRO-style adam step on the 4 devices; process 0 writes the parameters.
"""

import json
import sys

import numpy as np
import pytensor
import pytensor.tensor as pt

import symupdates

STEPS = 20

OPTIMIZERS = {
    "adam": lambda: symupdates.adam(learning_rate=0.01),
    "adamw": lambda: symupdates.adamw(learning_rate=0.01, weight_decay=0.1),
    "lamb": lambda: symupdates.lamb(learning_rate=0.01, weight_decay=0.01),
    # W1 (8, 12) gets factored row and column moments, W2 (12, 3) a full one
    "adafactor": lambda: symupdates.adafactor(learning_rate=0.01, min_dim_size_to_factor=4),
    "clip_global_norm": lambda: symupdates.momentum(learning_rate=0.05, clip_global_norm=0.1),
}


def problem(dtype):
    """A one-hidden-layer network; fresh shared variables with fixed initial values."""
    rng = np.random.default_rng(1)
    shapes = {"W1": (8, 12), "b1": (12,), "W2": (12, 3), "b2": (3,)}
    params = {k: pytensor.shared((0.3 * rng.normal(size=s)).astype(dtype), name=k) for k, s in shapes.items()}
    x, y = pt.matrix("x", dtype=dtype), pt.matrix("y", dtype=dtype)
    hidden = pt.tanh(x @ params["W1"] + params["b1"])
    loss = ((hidden @ params["W2"] + params["b2"] - y) ** 2).mean()
    return list(params.values()), [x, y], loss


def batches(dtype):
    """Batches of 16 from a teacher network of the same shape, plus noise."""
    rng = np.random.default_rng(2)
    teacher_in, teacher_out = rng.normal(size=(8, 12)), rng.normal(size=(12, 3))
    out = []
    for _ in range(STEPS):
        x = rng.normal(size=(16, 8))
        y = np.tanh(x @ teacher_in) @ teacher_out + 0.1 * rng.normal(size=(16, 3))
        out.append((x.astype(dtype), y.astype(dtype)))
    return out


def run(name, dtype, make_step):
    """(losses, final parameter values, final state values, the step) after STEPS steps."""
    params, inputs, loss = problem(dtype)
    updates = OPTIMIZERS[name]()(loss, params)
    step = make_step(inputs, loss, updates)
    losses = [float(np.asarray(step(x, y))) for x, y in batches(dtype)]
    if hasattr(step, "sync"):
        step.sync()
    return losses, [p.get_value() for p in params], [v.get_value() for v in updates.state.values()], step


def mesh(n=4):
    import jax
    from jax.sharding import Mesh

    return Mesh(np.array(jax.devices()[:n]), ("data",))


def largest_difference(a, b):
    """max |a - b| / max(1, |b|) over paired arrays."""
    return max(float(np.max(np.abs(x - y) / np.maximum(1.0, np.abs(y)), initial=0.0)) for x, y in zip(a, b))


def equality(name, out):
    report = {}
    for dtype in ("float64", "float32"):
        fast_run = run(name, dtype, lambda i, o, u: pytensor.function(i, o, updates=u, mode="FAST_RUN"))
        runs = {
            "one_device": run(name, dtype, lambda i, o, u: symupdates.jax_function(i, o, u)),
            "data": run(name, dtype, lambda i, o, u: symupdates.jax_function(i, o, u, mesh=mesh())),
            "zero": run(name, dtype, lambda i, o, u: symupdates.jax_function(i, o, u, mesh=mesh(), strategy="zero")),
        }
        for label, (losses, params, state, step) in runs.items():
            shards = {p.name: [s.data.shape for s in step.device_values[p].addressable_shards] for p in step.shared}
            report[f"{dtype}/{label}"] = {
                "vs_fast_run": largest_difference(
                    [np.array(losses), *params, *state], [np.array(fast_run[0]), *fast_run[1], *fast_run[2]]
                ),
                "vs_one_device": largest_difference(
                    [np.array(losses), *params, *state],
                    [np.array(runs["one_device"][0]), *runs["one_device"][1], *runs["one_device"][2]],
                ),
                "dtypes": sorted({str(v.dtype) for v in params + state}),
                "specs": {getattr(v, "name", str(v)): str(spec) for v, spec in step.partition_specs.items()},
                "shards": shards,
                "loss_first_last": [losses[0], losses[-1]],
            }
    if name == "adam":
        report["save_load"] = save_load(name, out + ".state.npz")
    with open(out, "w") as f:
        json.dump(report, f)


def save_load(name, path):
    """10 ZeRO steps, sync + save to ``path``, load into a fresh model and step, 10 more: the difference to 20 in one go."""
    params, inputs, loss = problem("float64")
    updates = OPTIMIZERS[name]()(loss, params)
    step = symupdates.jax_function(inputs, loss, updates, mesh=mesh(), strategy="zero")
    data = batches("float64")
    for x, y in data[:10]:
        step(x, y)
    step.sync()
    updates.save(path)
    params2, inputs2, loss2 = problem("float64")
    for p, trained in zip(params2, params):
        p.set_value(trained.get_value())
    updates2 = OPTIMIZERS[name]()(loss2, params2)
    updates2.load(path)
    step2 = symupdates.jax_function(inputs2, loss2, updates2, mesh=mesh(), strategy="zero")
    for x, y in data[10:]:
        step2(x, y)
    step2.sync()
    whole = run(name, "float64", lambda i, o, u: symupdates.jax_function(i, o, u, mesh=mesh(), strategy="zero"))
    return largest_difference(
        [p.get_value() for p in params2] + [v.get_value() for v in updates2.state.values()], whole[1] + whole[2]
    )


def errors(out):
    from jax.sharding import PartitionSpec as P

    messages = {}
    cases = {
        "indivisible_parameter": dict(shardings={"b2": P("data")}),
        "unknown_axis": dict(shardings={"W1": P(None, "model")}),
        "too_many_entries": dict(shardings={"b1": P("data", None)}),
    }
    for label, kwargs in cases.items():
        params, inputs, loss = problem("float64")
        try:
            symupdates.jax_function(inputs, loss, symupdates.adam()(loss, params), mesh=mesh(), **kwargs)
        except ValueError as error:
            messages[label] = str(error)
    params, inputs, loss = problem("float64")
    step = symupdates.jax_function(inputs, loss, symupdates.adam()(loss, params), mesh=mesh())
    try:
        step(np.zeros((10, 8)), np.zeros((10, 3)))
    except ValueError as error:
        messages["indivisible_batch"] = str(error)
    with open(out, "w") as f:
        json.dump(messages, f)


def multihost(process, port, out):
    import jax

    jax.distributed.initialize(coordinator_address=f"127.0.0.1:{port}", num_processes=2, process_id=process)
    assert len(jax.devices()) == 4 and len(jax.local_devices()) == 2
    losses, params, state, step = run(
        "adam", "float64", lambda i, o, u: symupdates.jax_function(i, o, u, mesh=mesh(), strategy="zero")
    )
    local = {p.name: [s.data.shape for s in step.device_values[p].addressable_shards] for p in step.shared}
    if process == 0:
        np.savez(out, *params, *state, losses=np.array(losses))
        with open(out + ".json", "w") as f:
            json.dump({"local_shards": local}, f)
    jax.distributed.shutdown()


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command == "equality":
        equality(*args)
    elif command == "errors":
        errors(*args)
    elif command == "multihost":
        multihost(int(args[0]), int(args[1]), args[2])
    else:
        raise SystemExit(f"unknown command {command!r}")
