"""docs/explain.rst shows what ``explain()`` prints: a section for every optimizer, and its example's LaTeX.

The section on every optimizer is generated at build time (the ``symupdates-explained-optimizers``
directive of docs/conf.py); the page's code blocks and their printed lines are run by
``tests/docs/test_snippets.py``.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import symupdates
from symupdates.core.explain import optimizer_math_rst
from tests.docs.test_build import _text

PAGE = Path(__file__).resolve().parents[2] / "docs" / "explain.rst"


def _first_block(page: str, directive: str) -> str:
    """The body of the first ``directive`` block of ``page``, dedented."""
    lines = page.splitlines()
    start = lines.index(directive) + 1
    body = []
    for line in lines[start:]:
        if line and not line.startswith(" "):
            break
        body.append(line)
    return textwrap.dedent("\n".join(body)).strip("\n")


def test_the_section_on_every_optimizer_has_each_one_in_text_and_latex():
    section = optimizer_math_rst()
    titles = re.findall(r"^:func:`~symupdates\.(\w+)`$", section, flags=re.M)
    assert titles == symupdates.available()
    assert section.count(".. code-block:: text") == section.count(".. math::") == len(titles)


def test_the_built_page_shows_every_optimizer(built):
    text = _text(built / "explain.html")
    for name in symupdates.available():
        assert re.search(rf"(?<![\w]){name}(?![\w])", text), name
    # each optimizer's plain-text update of ``w`` is on the page as printed
    assert text.count("w_new = ") >= len(symupdates.available())


def test_the_latex_shown_is_that_of_the_example():
    page = PAGE.read_text(encoding="utf-8")
    scope: dict = {}
    exec(_first_block(page, ".. code-block:: python"), scope)  # the page's first example, as the page runs it
    assert _first_block(page, ".. math::") == scope["explanation"].latex_lines()
