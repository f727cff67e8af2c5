"""Sharded steps on 4 virtual CPU devices (and two processes) equal the single-device step.

Each case runs ``tests/sharding_worker.py`` in a subprocess, since JAX fixes
its device count when it starts.
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytensor
import pytest

from tests import sharding_worker

pytest.importorskip("jax")

WORKER = str(Path(__file__).with_name("sharding_worker.py"))
# float64: reductions split across shards change the order of sums only; float32: XLA's and C's tanh/sqrt differ by ulps
TOLERANCE = {
    "float64": {"vs_one_device": 1e-14, "vs_fast_run": 1e-13},
    "float32": {"vs_one_device": 1e-6, "vs_fast_run": 2e-5},
}


def _worker(*args, devices=4, timeout=300):
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}", JAX_PLATFORMS="cpu")
    return subprocess.Popen(
        [sys.executable, WORKER, *map(str, args)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _finish(process, timeout=300):
    output, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, output[-4000:]


@pytest.mark.parametrize("name", ["adam", "adamw", "lamb", "adafactor", "clip_global_norm"])
def test_sharded_steps_equal_one_device_and_fast_run(name, tmp_path):
    out = tmp_path / "report.json"
    _finish(_worker("equality", name, out))
    report = json.loads(out.read_text())
    for dtype, tolerance in TOLERANCE.items():
        for layout in ("one_device", "data", "zero"):
            case = report[f"{dtype}/{layout}"]
            assert dtype in case["dtypes"] and set(case["dtypes"]) <= {dtype, "int64"}  # float state keeps the dtype
            assert case["vs_fast_run"] <= tolerance["vs_fast_run"], (dtype, layout, case["vs_fast_run"])
            assert case["vs_one_device"] <= tolerance["vs_one_device"], (dtype, layout, case["vs_one_device"])
            first, last = case["loss_first_last"]
            assert last < first
        # the layouts are what they claim: data-parallel replicates W1, ZeRO splits it (and its state) four ways
        data, zero = report[f"{dtype}/data"], report[f"{dtype}/zero"]
        assert data["shards"]["W1"] == [[8, 12]] * 4 and data["specs"]["x"] == "P('data',)"
        assert zero["shards"]["W1"] == [[8, 3]] * 4 and zero["specs"]["W2"] == "P('data',)"
        assert zero["specs"]["b2"] == "P()"  # 3 elements: no axis divisible by 4, replicated
        state = [k for k in zero["specs"] if k.startswith("W1.")]
        assert state and all(zero["specs"][k] == zero["specs"]["W1"] for k in state if k.endswith((".m", ".v")))
    if name == "adam":
        assert report["save_load"] == 0.0  # sync + save, load + a new step: bit for bit the uninterrupted run


def test_layout_errors_name_the_variable_its_shape_and_the_mesh(tmp_path):
    out = tmp_path / "errors.json"
    _finish(_worker("errors", out))
    messages = json.loads(out.read_text())
    assert set(messages) == {"indivisible_parameter", "unknown_axis", "too_many_entries", "indivisible_batch"}
    assert all("'data': 4" in m for m in messages.values())
    assert (
        "parameter 'b2' of shape (3,)" in messages["indivisible_parameter"]
        and "multiple of 4" in messages["indivisible_parameter"]
    )
    assert "'W1'" in messages["unknown_axis"] and "['model']" in messages["unknown_axis"]
    assert (
        "'b1' of shape (12,)" in messages["too_many_entries"] and "2 entries for 1 axes" in messages["too_many_entries"]
    )
    assert "input 'x' of shape (10, 8)" in messages["indivisible_batch"]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_over_loopback_equal_one_process(tmp_path):
    out = str(tmp_path / "multihost.npz")
    port = _free_port()
    processes = [_worker("multihost", k, port, out, devices=2) for k in range(2)]
    for p in processes:
        _finish(p)
    local = json.loads(Path(out + ".json").read_text())["local_shards"]
    assert local["W1"] == [[8, 3]] * 2  # each process holds 2 of W1's 4 slices

    losses, params, state, _ = sharding_worker.run(
        "adam", "float64", lambda i, o, u: pytensor.function(i, o, updates=u, mode="FAST_RUN")
    )
    with np.load(out) as saved:
        np.testing.assert_allclose(saved["losses"], losses, rtol=1e-13)
        arrays = [saved[f"arr_{k}"] for k in range(len(params) + len(state))]
    for got, expected in zip(arrays, params + state):
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)
