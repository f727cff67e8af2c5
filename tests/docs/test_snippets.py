"""Every code block of the documentation (``docs/**/*.rst``) runs and prints what the page shows.

The blocks are ``.. code-block::`` (also ``code`` and ``sourcecode``) directives,
``::`` literal blocks (Python: Sphinx's default highlighting) and ``>>>`` doctest
blocks. How a page shows output, for the test to compare:

* a doctest block shows it after each example, as doctests do;
* another Python block shows each line it prints in a ``# prints <line>``
  comment, in the order printed; a block that prints without showing it fails.

Numbers in the shown output match to the precision written (within one unit
of the last digit shown; integers exactly); ``...`` matches anything without
numbers and runs of whitespace are equal. A block that imports an optional package (PyMC) is
skipped when it is not installed. A block that is not meant to run (shell
commands, a sketch of a graph) is marked by the reST comment
``.. not-run: <reason>`` just before it; any other block runs.

Each block runs on its own (it imports what it needs), in the default mode of
the installed PyTensor, with the current folder in the test's ``tmp_path``. A
block marked ``.. run-alone: NAME=VALUE ...`` runs in a fresh Python process
with those environment variables (e.g. JAX's device count, fixed when JAX starts).
README.md's one Python block is run by ``tests/docs/test_readme.py``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import doctest
import io
import os
import re
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
#: Languages of code blocks that run as Python ("" is a ``code-block`` without one, and ``::``).
PYTHON = {"", "python", "python3", "py", "pycon", "default"}
#: Packages a block may need that the test environment may lack, with the reason.
OPTIONAL = {"pymc": "PyMC is not installed (it needs PyTensor < 2.39)"}
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE

CODE_DIRECTIVE = re.compile(r"^(\s*)\.\. (?:code-block|code|sourcecode)::\s*(\S*)\s*$")
#: Directives whose body is not reST (``plot`` bodies are run by the docs build), skipped whole.
OPAQUE_DIRECTIVE = re.compile(r"^(\s*)\.\. (?:math|raw|plot|graphviz|csv-table)::")
NOT_RUN = re.compile(r"^\s*\.\. not-run:(.*)$")
RUN_ALONE = re.compile(r"^\s*\.\. run-alone:(.*)$")
PRINTS = re.compile(r"#\s*prints\s(.*?)\s*$", flags=re.M)
IMPORTS = re.compile(r"^\s*(?:>>>\s*)?(?:import|from)\s+(\w+)", flags=re.M)
NUMBER = re.compile(r"-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?")


@dataclasses.dataclass
class Block:
    path: Path
    line: int  # 1-based line of the block's first line of code
    language: str
    source: str
    not_run: str | None  # the reason given by a ``.. not-run:`` comment
    alone: dict | None = None  # the environment of a ``.. run-alone:`` block

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"

    @property
    def python(self) -> bool:
        return self.language in PYTHON


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _body(lines: list[str], start: int, indent: int, directive: bool = False) -> tuple[int, int]:
    """(first, end) line indices of the block indented deeper than ``indent`` from ``start``
    on (blank lines and, for a directive, its option lines skipped at its top)."""
    first = start
    while first < len(lines) and (not lines[first].strip() or directive and re.match(r"\s+:[\w-]+:", lines[first])):
        first += 1
    end = first
    while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) > indent):
        end += 1
    while end > first and not lines[end - 1].strip():
        end -= 1
    return first, end


def parse(text: str, path: Path) -> list[Block]:
    """The code blocks of the reST ``text``, in order."""
    lines = text.splitlines()
    blocks = []

    def add(head: int, first: int, end: int, language: str) -> None:
        above = next((lines[k] for k in range(head - 1, -1, -1) if lines[k].strip()), "")
        mark, alone = NOT_RUN.match(above), RUN_ALONE.match(above)
        source = textwrap.dedent("\n".join(lines[first:end])) + "\n"
        env = alone and dict(item.split("=", 1) for item in shlex.split(alone.group(1)))
        blocks.append(Block(path, first + 1, language, source, mark and mark.group(1).strip(), env))

    i, paragraph = 0, 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
            paragraph = i
            continue
        directive, opaque = CODE_DIRECTIVE.match(line), OPAQUE_DIRECTIVE.match(line)
        if directive:
            first, end = _body(lines, i + 1, len(directive.group(1)), directive=True)
            add(i, first, end, directive.group(2).lower())
        elif opaque:
            end = _body(lines, i + 1, len(opaque.group(1)), directive=True)[1]
        elif line.rstrip().endswith("::") and not line.lstrip().startswith(".."):
            first, end = _body(lines, i + 1, _indent(lines[paragraph]))
            add(paragraph, first, end, "")
        elif line.lstrip().startswith(">>>") and paragraph == i:
            end = i
            while end < len(lines) and lines[end].strip():
                end += 1
            add(i, i, end, "pycon")
        else:
            i += 1
            continue
        i = paragraph = end
    return blocks


PAGES = {
    str(path.relative_to(DOCS)): parse(path.read_text(encoding="utf-8"), path)
    for path in sorted(DOCS.rglob("*.rst"))
    if not {"_build", "_templates", "generated", "auto_examples"} & set(path.parts)
}
BLOCKS = [block for blocks in PAGES.values() for block in blocks]
#: The blocks to run, named by file, index of the block in the file, and line.
RUN = [
    pytest.param(block, id=f"{name}-{index}-line{block.line}")
    for name, blocks in PAGES.items()
    for index, block in enumerate(blocks)
    if block.python and block.not_run is None
]


class NumberChecker(doctest.OutputChecker):
    """A doctest checker under which a number matches to the precision it is written with."""

    def check_output(self, want, got, optionflags):
        if super().check_output(want, got, optionflags):
            return True
        shown, found = NUMBER.findall(want), list(NUMBER.finditer(got))
        if len(shown) != len(found):
            return False
        pieces, last = [], 0
        for text, match in zip(shown, found):
            pieces += [got[last : match.start()], text if _close(text, match.group()) else match.group()]
            last = match.end()
        return super().check_output(want, "".join(pieces) + got[last:], optionflags)


def _close(shown: str, value: str) -> bool:
    if not re.search(r"[.eE]", shown):
        return shown == value
    mantissa, _, exponent = shown.lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    return abs(float(value) - float(shown)) <= 10.0 ** (int(exponent or 0) - decimals) * (1 + 1e-9)


def _needs(block: Block) -> None:
    for module in sorted(set(IMPORTS.findall(block.source)) & set(OPTIONAL)):
        pytest.importorskip(module, reason=f"{block.where} needs {module}: {OPTIONAL[module]}")


def _doctest_failures(block: Block) -> str:
    """Run a doctest block; the doctest report of its failures ("" when it passes)."""
    test = doctest.DocTestParser().get_doctest(block.source, {}, block.where, str(block.path), block.line - 1)
    report = io.StringIO()
    result = doctest.DocTestRunner(checker=NumberChecker(), optionflags=FLAGS).run(test, out=report.write)
    return f"{block.where}: the doctest fails\n{report.getvalue()}" if result.failed else ""


def _print_mismatch(block: Block) -> str:
    """Run a code block; how what it prints differs from its ``# prints`` comments ("" when it does not)."""
    padded = "\n" * (block.line - 1) + block.source  # tracebacks name the doc's lines
    if block.alone is None:
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            exec(compile(padded, str(block.path), "exec", dont_inherit=True), {"__name__": "__docs__"})
        got = printed.getvalue()
    else:
        run = subprocess.run(
            [sys.executable, "-c", padded], env={**os.environ, **block.alone}, capture_output=True, text=True
        )
        assert run.returncode == 0, f"{block.where} fails in its own process:\n{run.stderr[-4000:]}"
        got = run.stdout
    want = "".join(line + "\n" for line in PRINTS.findall(block.source))
    checker = NumberChecker()
    if checker.check_output(want, got, FLAGS):
        return ""
    return (
        f"{block.where}: what the block prints is not what its `# prints` comments show\n"
        + checker.output_difference(doctest.Example(block.source, want), got, FLAGS)
    )


@pytest.mark.parametrize("block", RUN)
def test_doc_block_runs_and_prints_what_it_shows(block, tmp_path, monkeypatch):
    _needs(block)
    monkeypatch.chdir(tmp_path)
    problem = _doctest_failures(block) if block.source.lstrip().startswith(">>>") else _print_mismatch(block)
    assert not problem, problem


def test_every_block_runs_or_says_why_not():
    assert len(RUN) >= 5, f"found only {[param.id for param in RUN]}: is the parser broken?"
    unmarked = [f"{b.where} ({b.language})" for b in BLOCKS if not b.python and b.not_run is None]
    assert not unmarked, f"blocks in a language other than Python need a `.. not-run: reason` comment: {unmarked}"
    no_reason = [b.where for b in BLOCKS if b.not_run == ""]
    assert not no_reason, f"`.. not-run:` without a reason at {no_reason}"


def test_parser_finds_every_kind_of_block():
    text = textwrap.dedent(
        """\
        Title
        =====

        .. code-block:: python
           :caption: a directive with an option

           a = 1

              b = 2

        Some text that ends
        in a literal block::

            c = 3

        >>> d = 4
        >>> d
        4

        .. not-run: a sketch

        .. code-block:: text

           not python

        .. math::

           x::

        Closing text.

        .. run-alone: A=1 B="x y"

        .. code-block:: python

           e = 5
        """
    )
    blocks = parse(text, DOCS / "example.rst")
    assert [(b.line, b.language, b.source, b.not_run, b.alone) for b in blocks] == [
        (7, "python", "a = 1\n\n   b = 2\n", None, None),
        (14, "", "c = 3\n", None, None),
        (16, "pycon", ">>> d = 4\n>>> d\n4\n", None, None),
        (24, "text", "not python\n", "a sketch", None),
        (36, "python", "e = 5\n", None, {"A": "1", "B": "x y"}),
    ]


@pytest.mark.parametrize(
    "want, got, ok",
    [
        ("loss 4.6006 -> 0.0349", "loss 4.6007 -> 0.0348", True),
        ("loss 4.6006 -> 0.0349", "loss 4.6008 -> 0.0349", False),
        ("1 3", "1 3", True),
        ("1 3", "1 4", False),
        ("lr 1e-3", "lr 0.0011", True),
        ("mu = 2.0 +- 0.1 (n = 200)", "mu = 2.03 +- 0.12 (n = 200)", True),
        ("mu = 2.0 +- 0.1 (n = ...)", "mu = 2.03 +- 0.12 (n = 200)", False),  # numbers in `...` are not skipped
        ("a  b\nc", "a b c", True),
    ],
)
def test_number_checker(want, got, ok):
    assert NumberChecker().check_output(want + "\n", got + "\n", FLAGS) is ok


def test_readme_has_one_python_block():
    # test_readme.py runs the README's first ```python block and checks what it claims.
    assert (ROOT / "README.md").read_text(encoding="utf-8").count("```python") == 1
