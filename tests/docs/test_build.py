"""The documentation: the Sphinx build (warnings are errors) and the docstrings it is made of.

The build runs once per session on a copy of ``docs/`` (so generated pages do
not land in the source tree) and its HTML is checked: the API page links every
public name, the options page lists every common option, the schedules page
has a plot per schedule.
"""

from __future__ import annotations

import html
import importlib
import inspect
import re
import typing
import warnings
from pathlib import Path

import pytest

import symupdates
from symupdates.core import Transform

numpydoc_docscrape = pytest.importorskip("numpydoc.docscrape")
pytest.importorskip("sphinx")
pytest.importorskip("matplotlib")

DOCS = Path(__file__).resolve().parents[2] / "docs"
#: Modules whose transform factories must document their formula.
TRANSFORM_MODULES = [
    "transforms.rms",
    "transforms.adam",
    "transforms.momentum",
    "transforms.linear",
    "transforms.clipping",
    "transforms.sign",
    "transforms.layerwise",
    "transforms.factored",
    "transforms.averaging",
    "schedules.plateau",
    "transforms.wrappers",
]


def _text(path: Path) -> str:
    """The visible text of the body of an HTML page (no sidebar, no navigation)."""
    raw = path.read_text(encoding="utf-8")
    start = raw.index('<article class="bd-article"')  # pydata-sphinx-theme's page body
    raw = raw[start : raw.index("</article>", start)]
    raw = re.sub(r"<(script|style)\b.*?</\1>", " ", raw, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", raw))


def _mentions(text: str, name: str) -> bool:
    return re.search(rf"(?<![\w]){re.escape(name)}(?![\w])", text) is not None


def test_build_makes_every_page(built):
    for page in ["index", "api", "options", "conventions", "schedules", "pymc", "performance"]:
        assert (built / f"{page}.html").is_file(), page


def test_api_page_names_and_links_every_public_name(built):
    api = built / "api.html"
    text = _text(api)
    raw = api.read_text(encoding="utf-8")
    missing = [name for name in symupdates.__all__ if not _mentions(text, name)]
    assert not missing, f"api.html does not mention {missing}"
    stubs = set(re.findall(r'href="generated/([^"#]+)\.html', raw))
    unlinked = [name for name in symupdates.__all__ if not any(s.rsplit(".", 1)[-1] == name for s in stubs)]
    assert not unlinked, f"api.html has no page for {unlinked}"
    for stub in stubs:
        assert (built / "generated" / f"{stub}.html").is_file(), stub


def test_api_page_covers_schedules_and_optimizers(built):
    text = _text(built / "api.html")
    for name in list(symupdates.schedules.__all__) + list(symupdates.optimizers.__all__):
        assert _mentions(text, name), name
    for section in ["Named optimizers", "Transforms", "Options", "Schedules", "State API", "PyMC and Lasagne helpers"]:
        assert section in text, section


def test_options_page_lists_every_common_option_in_order(built):
    from symupdates.optimizers.options import COMMON_OPTIONS

    options_table = _tables(built / "options.html")[0]
    assert [row[0] for row in options_table] == list(COMMON_OPTIONS)
    text = _text(built / "options.html")
    assert "The order they apply in" in text
    # The order of application comes from the options module docstring, rendered verbatim.
    order = text[text.index("The order they apply in") : text.index("Built from")]
    assert "12. skip_nonfinite" in re.sub(r"\s+", " ", order).replace(" ,", ",")


def test_options_page_has_the_table_of_each_optimizers_options(built):
    optimizers_table = _tables(built / "options.html")[1]
    assert [row[0] for row in optimizers_table] == [f"{name}()" for name in symupdates.available()]
    adamw = dict((row[0], row) for row in optimizers_table)["adamw()"]
    assert adamw[1] == "all but weight_decay, decoupled_weight_decay" and "decoupled" in adamw[2]


def _tables(page: Path) -> list[list[list[str]]]:
    """The body rows of each table of an HTML page, as lists of the cells' text."""

    def cells(row: str) -> list[str]:
        return [html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]

    tables = re.findall(r"<table.*?</table>", page.read_text(encoding="utf-8"), flags=re.S)
    bodies = [re.sub(r"<thead.*?</thead>", "", table, flags=re.S) for table in tables]
    return [[cells(row) for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)] for body in bodies]


def _rst_table(text: str) -> dict[str, list[str]]:
    """{first cell: the other cells} of a reST list-table, the header row left out."""
    rows = re.split(r"^   \* - ", text, flags=re.M)[2:]
    return {row.split("\n     - ")[0]: [c.strip() for c in row.split("\n     - ")[1:]] for row in rows}


def test_optimizer_options_table_follows_the_signatures():
    from symupdates.optimizers.options import _REGISTRY, COMMON_OPTIONS, optimizer_options_table

    table = _rst_table(optimizer_options_table())
    assert list(table) == [f":func:`~symupdates.{name}`" for name in symupdates.available()]
    for name in symupdates.available():
        takes = inspect.signature(_REGISTRY[name]).parameters
        own = inspect.signature(_REGISTRY[name].__wrapped__).parameters
        not_taken = [k for k in COMMON_OPTIONS if k not in takes or k in own]
        options_cell, own_cell = table[f":func:`~symupdates.{name}`"]
        assert options_cell == ("all but " + ", ".join(f"``{k}``" for k in not_taken) if not_taken else "all"), name
        mine = [k for k in COMMON_OPTIONS if k in own]
        assert re.findall(r"(?:^|; )``(\w+)`` \(default", own_cell) == mine, name
    assert "*decoupled*" in table[":func:`~symupdates.adamw`"][1]


def test_optimizer_options_table_lists_a_new_optimizer(monkeypatch):
    from symupdates.optimizers import options

    monkeypatch.setattr(options, "_REGISTRY", dict(options._REGISTRY))

    @options.optimizer
    def clipped(learning_rate=0.1, clip_norm=1.0):
        """SGD that always clips.

        Parameters
        ----------
        clip_norm : float, default 1
            The largest norm
            of a step.
        """
        return options.Recipe(symupdates.transforms.linear.scale(1.0), learning_rate)

    row = _rst_table(options.optimizer_options_table())[":func:`~symupdates.clipped`"]
    assert row == ["all but ``clip_norm``", "``clip_norm`` (default ``1.0``): The largest norm of a step."]


def test_schedules_page_plots_every_schedule(built):
    page = (built / "schedules.html").read_text(encoding="utf-8")
    images = re.findall(r'<img[^>]+src="([^"]+\.png)"', page)
    factories = [
        n
        for n in symupdates.schedules.__all__
        if inspect.isfunction(getattr(symupdates.schedules, n))
        and typing.get_type_hints(getattr(symupdates.schedules, n)).get("return") is symupdates.schedules.Schedule
    ]
    assert len(images) >= len(factories)
    for src in images:
        assert (built / src).is_file() and (built / src).stat().st_size > 1000, src
    text = _text(built / "schedules.html")
    for name in factories:
        assert re.search(rf"schedules\s*\.\s*{name}\s*\(", text), name


def test_conventions_page_covers_the_documented_differences(built):
    text = _text(built / "conventions.html").lower()
    for topic in [
        "adam",
        "amsgrad",
        "rmsprop",
        "adagrad",
        "adamax",
        "momentum",
        "clip_grad_norm_",
        "exclude_current",
        "int64",
        "float32",
        "optax",
        "torch",
        "lasagne",
        "pymc",
    ]:
        assert topic in text, topic


# -- docstrings -----------------------------------------------------------------------


def _is_transform_factory(fn) -> bool:
    try:
        ret = typing.get_type_hints(fn).get("return")
    except Exception:  # unresolved annotation: not a transform factory we can recognise
        return False
    return isinstance(ret, type) and issubclass(ret, Transform)


def _public_documented():
    items = [(f"symupdates.{n}", getattr(symupdates, n)) for n in symupdates.optimizers.__all__]
    for short in TRANSFORM_MODULES:
        module = importlib.import_module(f"symupdates.{short}")
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if inspect.isfunction(obj) and _is_transform_factory(obj):
                items.append((f"symupdates.{short}.{name}", obj))
    return items


DOCUMENTED = _public_documented()


def test_there_are_optimizers_and_transforms_to_check():
    names = {name for name, _ in DOCUMENTED}
    assert {
        "symupdates.adam",
        "symupdates.sgd",
        "symupdates.transforms.adam.scale_by_adam",
        "symupdates.transforms.momentum.trace",
    } <= names


@pytest.mark.parametrize("name, obj", DOCUMENTED, ids=[name for name, _ in DOCUMENTED])
def test_docstring_has_math_and_sections(name, obj):
    doc = inspect.getdoc(obj) or ""
    assert ".. math::" in doc or ":math:`" in doc, f"{name}: the docstring has no formula (.. math:: or :math:)"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpydoc warns on malformed sections
        parsed = numpydoc_docscrape.NumpyDocString(doc)
    assert parsed["Parameters"] or parsed["References"] or parsed["Notes"], (
        f"{name}: the docstring needs a Parameters, Notes or References section"
    )
    assert parsed["Summary"], f"{name}: the docstring has no summary line"


def _search_index(built: Path) -> dict:
    import json

    raw = (built / "searchindex.js").read_text(encoding="utf-8")
    return json.loads(raw[raw.index("(") + 1 : raw.rindex(")")])


def test_search_finds_every_public_name_and_every_page(built):
    """The theme's search reads searchindex.js: every public name is an indexed object, every page
    a document, and a word of the body text (not only titles) leads to its page."""
    assert (built / "search.html").is_file()
    index = _search_index(built)
    objects = {f"{prefix}.{entry[4]}".lstrip(".") for prefix, entries in index["objects"].items() for entry in entries}
    qualified = {name.rpartition(".")[2] for name in objects if name.startswith("symupdates.")}
    assert not set(symupdates.__all__) - qualified, sorted(set(symupdates.__all__) - qualified)
    sources = {
        p.relative_to(DOCS).with_suffix("").as_posix()
        for p in DOCS.rglob("*.rst")
        if not {"_build", "_templates", "generated", "auto_examples"} & set(p.parts)
    }
    assert sources <= set(index["docnames"]), sorted(sources - set(index["docnames"]))
    pages = index["terms"]["rosenbrock"]  # a word of the gallery's text and the migration guides'
    pages = pages if isinstance(pages, list) else [pages]
    assert any(index["docnames"][i].startswith("auto_examples/") for i in pages)


def test_api_page_shows_the_formula_of_every_named_optimizer_by_family(built):
    raw = (built / "api.html").read_text(encoding="utf-8")
    tables = re.findall(r'<table class="formulas[^"]*">.*?</table>', raw, flags=re.S)
    assert len(tables) == len(symupdates.optimizers.FAMILIES)
    shown = []
    for table, family in zip(tables, symupdates.optimizers.FAMILIES):
        rows = re.findall(r"<tr[^>]*>(.*?)</tr>", re.sub(r"<thead.*?</thead>", "", table, flags=re.S), re.S)
        names = [
            html.unescape(re.sub(r"<[^>]+>", "", re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)[0])).strip() for r in rows
        ]
        assert names == [f"{n}()" for n in family.__all__], names
        assert all('class="math' in r for r in rows), family.__name__
        shown += family.__all__
    assert sorted(shown) == sorted(symupdates.available())
