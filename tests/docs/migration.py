"""The mapping tables of the migration guides (``docs/migration/*.rst``), read for their tests.

A guide's tables are reST ``list-table`` directives. A table whose rows are checked against the
source library carries the option ``:class: tested``; the first cell of each of its rows is the
row's key: the source's call or argument as written on the page, in double backquotes, e.g.
````torch.optim.Adam(lr, betas=(b1, b2), eps)````. A guide's test module holds one case per key
and asserts, with :func:`assert_cases_cover`, that the page and the cases name the same rows, so a
row added to a page without a test (or a test whose row was removed) fails.
"""

from __future__ import annotations

import re
from pathlib import Path

MIGRATION = Path(__file__).resolve().parents[2] / "docs" / "migration"
_TABLE = re.compile(r"^(\s*)\.\. list-table::")
_ROW = re.compile(r"^\s*\* - (.*)$")


def tested_rows(page: str) -> list[str]:
    """The keys (first cells, without their backquotes) of the rows of ``:class: tested`` tables."""
    lines = (MIGRATION / page).read_text(encoding="utf-8").splitlines()
    keys, i = [], 0
    while i < len(lines):
        match = _TABLE.match(lines[i])
        if not match:
            i += 1
            continue
        indent, body, i = len(match.group(1)), [], i + 1
        while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
            body.append(lines[i])
            i += 1
        options = [line.strip() for line in body if line.strip().startswith(":")]
        if ":class: tested" not in options:
            continue
        header_rows = next((int(o.split()[-1]) for o in options if o.startswith(":header-rows:")), 0)
        firsts = [m.group(1).strip() for m in map(_ROW.match, body) if m]
        keys += [re.sub(r"^``(.*)``$", r"\1", cell) for cell in firsts[header_rows:]]
    return keys


def assert_cases_cover(page: str, cases) -> None:
    """The page's tested rows and the test's cases are the same set of keys, each once."""
    rows = tested_rows(page)
    assert rows, f"docs/migration/{page} has no ':class: tested' list-table"
    repeated = sorted({key for key in rows if rows.count(key) > 1})
    assert not repeated, f"docs/migration/{page}: rows listed twice: {repeated}"
    untested, stale = sorted(set(rows) - set(cases)), sorted(set(cases) - set(rows))
    assert not untested, f"docs/migration/{page}: rows without a test case: {untested}"
    assert not stale, f"test cases for rows that docs/migration/{page} no longer has: {stale}"
