"""The HTML documentation, built once per test session for the tests that read it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
#: The build runs the gallery examples too.
BUILD_TIMEOUT = 600


def _build(root: Path) -> Path:
    source, out = root / "source", root / "html"
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(
        DOCS, source, ignore=shutil.ignore_patterns("_build", "generated", "auto_examples", "api.rst", "__pycache__")
    )
    shutil.copytree(DOCS.parent / "examples", root / "examples")  # literalinclude'd by pymc.rst
    cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html", "-q", str(source), str(out)]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=BUILD_TIMEOUT, env=_env())
    elapsed = time.perf_counter() - start
    assert proc.returncode == 0, (
        f"sphinx-build failed (exit {proc.returncode}, {elapsed:.0f} s):\n{proc.stdout}\n{proc.stderr}"
    )
    print(f"docs built in {elapsed:.1f} s")
    (root / "ok").write_text(f"{elapsed:.1f}")
    return out


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    """Build the HTML docs once per test session (once in all, under pytest-xdist); return the output folder."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return _build(tmp_path_factory.getbasetemp() / "docs-build")
    import fcntl

    shared = tmp_path_factory.getbasetemp().parent  # common to the workers of this session
    root = shared / "docs-build"
    with open(shared / "docs-build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the first worker builds, the others wait and reuse
        try:
            if (root / "ok").is_file():
                return root / "html"
            return _build(root)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _env():
    env = dict(os.environ, MPLBACKEND="Agg")
    env.pop("SYMUPDATES_TEST_MODE", None)
    return env
