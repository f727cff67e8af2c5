"""A release: one version, an sdist and a wheel that ``twine check`` accepts, and a wheel that
works once installed outside the checkout.

``python -m build`` makes the sdist and then the wheel *from the sdist*, so a file missing from
the sdist fails here too. The installed wheel is smoke-tested in a fresh virtualenv whose only
copy of symupdates is the wheel's (its dependencies are taken from the test environment; the
CI script also installs the wheel with its dependencies from the registry).
"""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
import sysconfig
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest

import symupdates

ROOT = Path(__file__).resolve().parents[1]


def _run(*cmd, cwd, timeout=600):
    done = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, cwd=cwd, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    _run(sys.executable, "-m", "build", "--outdir", out, ROOT, cwd=out)
    return out


def test_the_version_is_written_once():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert importlib.metadata.version("symupdates") == symupdates.__version__
    assert re.fullmatch(r"\d+\.\d+\.\d+(?:(?:a|b|rc)\d+)?(?:\.dev\d+)?", symupdates.__version__)


def test_the_changelog_has_a_section_for_what_is_not_released_or_this_version():
    headings = re.findall(r"^## (.+)$", (ROOT / "CHANGELOG.md").read_text(), flags=re.M)
    assert headings and headings[0] in {"Unreleased", symupdates.__version__}, headings[:3]


def test_sdist_and_wheel_pass_twine_and_hold_the_package(dist):
    sdist, wheel = sorted(dist.glob("*.tar.gz")), sorted(dist.glob("*.whl"))
    assert len(sdist) == len(wheel) == 1, sorted(p.name for p in dist.iterdir())
    assert wheel[0].name == f"symupdates-{symupdates.__version__}-py3-none-any.whl"
    _run(sys.executable, "-m", "twine", "check", "--strict", sdist[0], wheel[0], cwd=dist)
    names = set(zipfile.ZipFile(wheel[0]).namelist())
    package = ROOT / "symupdates"
    modules = {p.relative_to(ROOT).as_posix() for p in package.rglob("*.py") if "__pycache__" not in p.parts}
    assert modules <= names, f"missing from the wheel: {sorted(modules - names)}"
    assert "symupdates/py.typed" in names
    assert not [n for n in names if n.startswith(("tests/", "docs/", "benchmarks/"))]


def test_the_installed_wheel_works_outside_the_checkout(dist, tmp_path):
    env = tmp_path / "venv"
    venv.create(env, with_pip=True)
    python = env / "bin" / "python"
    _run(python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", next(dist.glob("*.whl")), cwd=tmp_path)
    # The dependencies (pytensor, numpy) come from this environment's site-packages: a path in a
    # .pth file is searched after the venv's own, and the .pth files there (this checkout's
    # editable install) are not read.
    site = Path(_run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp_path).strip())
    (site / "test-environment.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    out = _run(python, "-I", ROOT / "tests" / "release_smoke.py", cwd=tmp_path)
    assert f"symupdates {symupdates.__version__} from {site}" in out, out
