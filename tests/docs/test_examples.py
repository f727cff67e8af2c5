"""The scripts in examples/ run and print what they promise."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_pymc_advi_schedule_example():
    pytest.importorskip("pymc")
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "pymc_advi_schedule.py")],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    rates = re.search(r"learning rate at steps 0, 50, 100, 1000: ([\d.]+), ([\d.]+), ([\d.]+), ([\d.]+)", out)
    assert rates and [float(r) for r in rates.groups()[:3]] == [0.0, 0.05, 0.1]
    mu = re.search(r"mu = ([-\d.]+) \+- ([\d.]+)", out)
    assert mu and abs(float(mu.group(1)) - 2.0) < 0.3
    sds = [float(v) for v in re.findall(r"sd\(mu\) = ([\d.]+)", out)]
    exact = float(re.search(r"~ sigma/sqrt\(n\) = ([\d.]+)", out).group(1))
    pymc_sd, corrected_sd = sds
    assert pymc_sd > 1.05 * exact  # PyMC's adagrad_window inflates the sd (issue 8444) ...
    assert abs(corrected_sd / exact - 1) < 0.03  # ... exclude_current=True does not
    # the figures that docs/choosing.rst quotes from this run (seeds fixed)
    assert (round(pymc_sd, 4), round(corrected_sd, 4), round(exact, 4)) == (0.1125, 0.1031, 0.1019)
