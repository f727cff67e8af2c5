"""The test suite runs on any machine: no test names a path outside the repository.

Tests write only under pytest's ``tmp_path``/``tmp_path_factory``; a string
literal holding an absolute path, the system temp folder or the home folder
would tie them to the machine that wrote them.
"""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Every test and example, except this file, whose own examples of bad paths are the check's test.
SOURCES = sorted(p for p in [*ROOT.glob("tests/**/*.py"), *ROOT.glob("examples/*.py")] if p.name != "test_hygiene.py")
ABSOLUTE = re.compile(r"""(?<![\w.$}])(/(tmp|home|root|work|var|opt|mnt|srv|Users|private)(/|\b)|[A-Za-z]:\\|~/)""")
FORBIDDEN_CALLS = {"gettempdir", "expanduser", "mkdtemp", "mkstemp", "NamedTemporaryFile", "TemporaryDirectory"}


def _strings_and_calls(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, "string", node.value
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in FORBIDDEN_CALLS:
                yield node.lineno, "call", name


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_machine_paths_in_python(path):
    bad = [
        f"{path.name}:{line}: {kind} {text!r}"
        for line, kind, text in _strings_and_calls(path)
        if kind == "call" or ABSOLUTE.search(text)
    ]
    assert not bad, "use pytest's tmp_path (or a path under the repository) instead of:\n" + "\n".join(bad)


def test_ci_script_uses_its_own_temporary_folder():
    """.ci/run gives every job a fresh TMPDIR and PyTensor base_compiledir (the C cache and, on
    PyTensor 3, Numba's) inside one folder it removes."""
    script = (ROOT / ".ci" / "run").read_text()
    assert not [line for line in script.splitlines() if ABSOLUTE.search(line) and not line.lstrip().startswith("#")]
    assert re.search(r"export TMPDIR=\"\$work/", script)
    assert re.search(r"PYTENSOR_FLAGS=\"base_compiledir=\$work/", script)
    assert re.search(r"^trap cleanup EXIT$", script, flags=re.M)


@pytest.mark.parametrize(("last_command", "status"), [("true", 0), ("(exit 3)", 3)])
def test_ci_cleanup_keeps_the_exit_status(tmp_path, last_command, status):
    """The EXIT trap of .ci/run removes its folder and exits with the script's own status, with
    or without background jobs left (a bare ``kill`` under ``set -e`` once made a green run exit 2)."""
    script = (ROOT / ".ci" / "run").read_text()
    cleanup = re.search(r"^cleanup\(\) \{.*?^\}$", script, flags=re.M | re.S).group(0)
    work = tmp_path / "work"
    for background in ("", "sleep 30 &"):
        work.mkdir()
        body = f'set -euo pipefail\nwork="{work}"\n{cleanup}\ntrap cleanup EXIT\n{background}\n{last_command}\n'
        result = subprocess.run(["bash", "-c", body], capture_output=True, text=True, timeout=20)
        assert (result.returncode, work.exists()) == (status, False), (background, result.stderr)


def test_the_check_catches_what_it_should():
    """The pattern flags what broke a fresh machine before, and not relative paths or URLs."""
    machine_paths = [f"/{root}/c2/errors.txt" for root in ("tmp", "home", "root", "work", "var")]
    for text in [*machine_paths, "C:\\data", "~/cache"]:
        assert ABSOLUTE.search(text), text
    for text in ["docs/_build", "a/b", "https://pytensor.readthedocs.io/en/latest", "$work/tmp", "p / q"]:
        assert not ABSOLUTE.search(text), text


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=["lint", "format"])
def test_tree_passes_ruff(command):
    """The configuration in pyproject.toml is applied to the whole tree (run ``ruff format``
    and ``ruff check --fix`` to repair what this reports)."""
    result = subprocess.run(
        [sys.executable, "-m", "ruff", *command, "--no-cache", str(ROOT)], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_written_out_export_lists_follow_the_families():
    """The package ``__all__`` lists are concatenations written out for type checkers: each is
    its families' names, in order, and every name is importable."""
    import symupdates
    import symupdates.optimizers
    import symupdates.transforms

    for package in (symupdates.transforms, symupdates.optimizers):
        assert package.__all__ == [name for family in package.FAMILIES for name in family.__all__]
    for name in symupdates.__all__:
        assert getattr(symupdates, name) is not None, name
    assert len(set(symupdates.__all__)) == len(symupdates.__all__)


def test_public_api_type_checks(tmp_path):
    """mypy, configured in pyproject.toml, accepts the package and the calls in
    tests/typing_usage.py (the types that users of the py.typed package see)."""
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "mypy"), "--no-error-summary"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
