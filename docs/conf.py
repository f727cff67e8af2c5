"""Sphinx configuration for the symupdates documentation.

Build with ``sphinx-build -W --keep-going -b html docs docs/_build/html``.

Pages whose content follows the code are produced here, at build time, so
that they stay complete as the library grows:

* ``api.rst`` is written by :func:`api_page` (so it is not kept in git) from
  the ``__all__`` lists of :mod:`symupdates`, :mod:`symupdates.optimizers`,
  the transform modules and :mod:`symupdates.schedules`; every name in
  ``symupdates.__all__`` and in a public submodule's ``__all__`` is listed
  (names no section claims land in "Other"). Autosummary writes a page per
  name under ``generated/``.
* ``options.rst`` uses the ``symupdates-options`` directive (a table built from
  ``COMMON_OPTIONS`` and ``OPTIONS_DOC`` in :mod:`symupdates.optimizers.options`) and the
  ``symupdates-optimizer-options`` directive (which common options each named
  optimizer takes, from the signatures: :func:`symupdates.optimizers.options.optimizer_options_table`).
* ``explain.rst`` uses the ``symupdates-explained-optimizers`` directive: what
  :func:`symupdates.core.explain.explain` prints for every named optimizer.
* ``schedules.rst`` uses the ``symupdates-schedules`` directive: one plot per
  name in ``symupdates.schedules.__all__``, called with the arguments in
  :data:`SCHEDULE_EXAMPLES` (names in :data:`SCHEDULE_HELPERS` and classes are
  not plotted). A schedule without an entry there fails the build.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import pkgutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if os.path.isdir(os.path.join(ROOT, "symupdates")):
    sys.path.insert(0, ROOT)

os.environ.setdefault("MPLBACKEND", "Agg")

import symupdates  # noqa: E402
import symupdates.core.explain  # noqa: E402
import symupdates.optimizers  # noqa: E402
import symupdates.optimizers.options  # noqa: E402
import symupdates.schedules  # noqa: E402

# -- Project -------------------------------------------------------------------
project = "symupdates"
author = "symupdates contributors"
copyright = "2026, symupdates contributors"
version = release = symupdates.__version__

# -- General -------------------------------------------------------------------
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "sphinx.ext.mathjax",
    "matplotlib.sphinxext.plot_directive",
    "sphinx_gallery.gen_gallery",
]
templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
default_role = "literal"

autosummary_generate = True
autosummary_generate_overwrite = True
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"  # the numpydoc sections carry the types
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# The theme of PyMC's and PyTensor's documentation.
html_theme = "pydata_sphinx_theme"
html_title = f"symupdates {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "header_links_before_dropdown": 8,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version", "theme-version"],
}
html_sidebars = {"index": []}
html_static_path: list[str] = []

# -- Gallery ---------------------------------------------------------------------
# sphinx-gallery runs examples/gallery/plot_*.py at every build and writes the pages,
# their printed output and figures to auto_examples/ (generated, not kept in git), with
# the run time of each script in auto_examples/sg_execution_times.rst. A script that
# raises fails the build. The paths are relative to this file, so the same settings
# work in the repository and in the copy the tests build (tests/docs/conftest.py).
sphinx_gallery_conf = {
    "examples_dirs": "../examples/gallery",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "capture_repr": (),  # show what the scripts print, not the value of their last expression
    "min_reported_time": 0,
    "show_memory": False,
    "show_signature": False,
}

# -- Schedules page: plots made during the build --------------------------------
#: Example arguments of every schedule in ``symupdates.schedules.__all__``, as the
#: text between the parentheses of the call. Add an entry with each new schedule.
SCHEDULE_EXAMPLES: dict[str, str] = {
    "constant": "0.01",
    "exponential_decay": "0.1, 0.5, 200",
    "step": "0.1, 250, gamma=0.5",
    "multistep": "0.1, [300, 600, 800], gamma=0.5",
    "piecewise_constant": "0.1, {300: 0.5, 700: 0.2}",
    "linear": "0.1, 0.01, 800",
    "polynomial": "0.1, 0.001, 2.0, 800",
    "cosine_decay": "0.1, 1000, alpha=0.01",
    "warmup": "schedules.cosine_decay(0.1, 900), 100",
    "warmup_cosine": "0.0, 0.1, 100, 1000",
    "one_cycle": "0.1, 1000",
    "cosine_restarts": "0.1, 100, T_mult=2",
    "join": "[schedules.constant(0.1), schedules.linear(0.1, 0.0, 500)], [300]",
}
#: Names in ``symupdates.schedules.__all__`` that are not schedule factories (classes are skipped too).
SCHEDULE_HELPERS = {"evaluate"}
#: How many steps each schedule is evaluated over.
SCHEDULE_STEPS = 1000


def check_schedule_examples() -> list[str]:
    """The schedule factories to plot; raise if one lacks example arguments."""
    names = [
        name
        for name in symupdates.schedules.__all__
        if name not in SCHEDULE_HELPERS and not inspect.isclass(getattr(symupdates.schedules, name))
    ]
    missing = [name for name in names if name not in SCHEDULE_EXAMPLES]
    if missing:
        raise RuntimeError(
            "docs/conf.py: no example arguments for "
            + ", ".join(f"symupdates.schedules.{n}" for n in missing)
            + ". Add an entry {name: 'arguments of the call'} to SCHEDULE_EXAMPLES in docs/conf.py "
            "so that schedules.rst can plot it (or, for a helper that is not a schedule, add its "
            "name to SCHEDULE_HELPERS)."
        )
    return names


SCHEDULE_NAMES = check_schedule_examples()

plot_include_source = True
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [("png", 80)]
plot_rcparams = {"figure.figsize": (6.0, 2.6), "figure.autolayout": True}
plot_pre_code = f"""
import matplotlib.pyplot as plt
import numpy as np
from symupdates import schedules


def show(schedule, call, n_steps={SCHEDULE_STEPS}):
    # Compile schedule(step) for an int64 step vector with PyTensor (FAST_COMPILE)
    # and evaluate it at steps 0 .. n_steps - 1.
    values = schedules.evaluate(schedule, n_steps, mode="FAST_COMPILE")
    plt.plot(np.arange(n_steps), values)
    plt.xlabel("step counter (0 during the first update)")
    plt.ylabel("value")
    plt.title(call, fontsize="medium", family="monospace")
"""


# -- API page, written at build time ---------------------------------------------
def _first_line(obj) -> str:
    doc = inspect.getdoc(obj) or ""
    return doc.strip().splitlines()[0].strip() if doc.strip() else obj.__name__


def _heading(text: str, char: str) -> list[str]:
    return [text, char * len(text), ""]


#: Transform modules, in the order their sections appear on the API page.
TRANSFORM_MODULES = [
    "core.transform",
    "transforms.linear",
    "transforms.momentum",
    "transforms.rms",
    "transforms.adam",
    "transforms.sign",
    "transforms.layerwise",
    "transforms.factored",
    "transforms.averaging",
    "transforms.clipping",
    "schedules.plateau",
    "transforms.wrappers",
]
#: Names that the API page shows in a section other than their module's.
OPTION_NAMES = {
    "symupdates.optimizers.options": ["optimizer", "Recipe", "assemble", "COMMON_OPTIONS"],
    "symupdates.transforms.guards": ["skip_nonfinite", "multi_precision"],
}
STATE_NAMES = {
    "symupdates.core.state": ["Updates", "StateEntry", "ConstantRate", "KINDS", "merge"],
    "symupdates.core.context": ["BuildContext", "scalar_dtype"],
    "symupdates.core.gradients": ["check_params"],
    "symupdates.transforms.moments": [
        "moving_average",
        "running_max",
        "bias_correction",
        "coefficient",
        "rms_denominator",
    ],
    "symupdates.core.checks": ["InputError", "ArgumentError"],
}
#: The names shown under "Reading and differentiating the update", by module.
GRAPH_TOOLS = {
    "symupdates.core.explain": ["explain", "Explanation"],
    "symupdates.unroll": ["unroll", "Unrolled"],
    "symupdates.optimizers.hypergradient": ["hypergradient", "sgd_hd", "sgdn_hd", "adam_hd"],
    "symupdates.lr_finder": ["lr_find", "LRFinderResult"],
}
#: Modules whose whole ``__all__`` is shown under "PyMC and Lasagne helpers", after PYMC_NAMES.
PYMC_MODULES = ["symupdates.pymc"]
PYMC_NAMES = {
    "symupdates.core.gradients": ["get_or_compute_grads"],
    "symupdates.transforms.momentum": ["apply_momentum", "apply_nesterov_momentum"],
    "symupdates.transforms.clipping": ["norm_constraint", "total_norm_constraint"],
}


def first_formula(obj) -> list[str]:
    """The body lines of the first ``.. math::`` block of ``obj``'s docstring (dedented)."""
    lines = (inspect.getdoc(obj) or "").splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == ".. math::"), None)
    if start is None:
        raise RuntimeError(f"docs/conf.py: the docstring of {obj.__name__} has no '.. math::' block to show.")
    body = []
    for line in lines[start + 1 :]:
        if line.strip() and not line.startswith(" "):
            break
        body.append(line)
    return inspect.cleandoc("\n".join(body)).splitlines()


def formula_table(names) -> list[str]:
    """A list-table of named optimizers with the update formula of each, first thing in the row."""
    lines = [".. list-table::", "   :header-rows: 1", "   :widths: 18 82", "   :class: formulas", ""]
    lines += ["   * - Optimizer", "     - Update"]
    for name in names:
        lines += [f"   * - :func:`~symupdates.{name}`", "     - .. math::", ""]
        lines += [f"          {line}" if line else "" for line in first_formula(getattr(symupdates, name))]
    return lines + [""]


class _ApiWriter:
    """Collects autosummary sections; each object is documented once."""

    def __init__(self):
        self.lines: list[str] = []
        self.done: set[str] = set()
        self.modules: set[str] = {"symupdates"}
        self.public = set(symupdates.__all__)

    def qualified(self, module: str, name: str) -> str:
        """``symupdates.name`` for a top-level name, else ``module.name``.

        A top-level name that is also a submodule (the optimizer ``momentum`` and the
        module ``symupdates.momentum``) is shown by its defining module's path, since
        autodoc would import the submodule.
        """
        if name in self.public and importlib.util.find_spec(f"symupdates.{name}") is None:
            return f"symupdates.{name}"
        obj = getattr(importlib.import_module(module), name, None)
        return f"{getattr(obj, '__module__', None) or module}.{name}"

    def table(self, module: str, names) -> None:
        entries = []
        for name in names:
            key = self.qualified(module, name)
            if key in self.done:
                continue
            if not hasattr(importlib.import_module(key.rpartition(".")[0]), name):
                raise RuntimeError(f"docs/conf.py: {module} has no attribute {name!r} listed for the API page.")
            self.done.add(key)
            entries.append(key)
        if entries:
            # Full names are listed; reset the current module that automodule set, since
            # autosummary's stub generator would prefix it to every entry.
            self.lines += [".. currentmodule:: symupdates", ""]
            self.lines += [".. autosummary::", "   :toctree: generated", "   :nosignatures:", ""]
            self.lines += [f"   {key.removeprefix('symupdates.')}" for key in entries] + [""]

    def module_section(self, module_name: str, names, char: str = "~", title: str | None = None) -> None:
        names = [n for n in names if self.qualified(module_name, n) not in self.done]
        if not names:
            return
        self.lines += _heading(title or module_name, char)
        if title is None and module_name not in self.modules:
            self.modules.add(module_name)
            self.lines += [f".. automodule:: {module_name}", "   :no-members:", ""]
        self.table(module_name, names)

    def text(self, *lines: str) -> None:
        self.lines += list(lines) + [""]


def api_page() -> str:
    w = _ApiWriter()
    w.text(".. This page is generated by docs/conf.py at every build; edit conf.py, not this file.", "")
    w.text(*_heading("API reference", "="))
    w.text(
        ".. automodule:: symupdates",
        "   :no-members:",
        "",
        "Everything below is importable from :mod:`symupdates` unless its full path is shown.",
        "Every named optimizer also accepts the common options of :doc:`options`, except where it",
        "has a hyper-parameter of its own in their place (listed there).",
    )

    w.text(*_heading("Named optimizers", "-"))
    w.text(
        "Drop-in replacements for ``pymc.variational.updates`` and ``lasagne.updates`` and more.",
        "Each takes ``(loss_or_grads=None, params=None, *hyper_parameters, **options)``: called",
        "without ``loss_or_grads`` and ``params`` it returns a factory (a :func:`functools.partial`),",
        "otherwise the updates. :func:`symupdates.get` looks one up by name.",
    )
    for family in symupdates.optimizers.FAMILIES:
        w.module_section(family.__name__, family.__all__)
        w.lines += formula_table(family.__all__)
    w.module_section("symupdates.optimizers.options", ["get", "available"], title="Look-up by name")
    w.module_section("symupdates.optimizers.partition", ["partition", "FROZEN"], title="Parameter groups")

    w.text(*_heading("Transforms", "-"))
    w.text(
        "The pieces optimizers are made of. Each maps one expression per parameter to a step",
        "direction (with the sign of a gradient); compose them with :func:`symupdates.chain`;",
        "a transform called as ``transform(loss_or_grads, params)`` returns the updates.",
    )
    claimed = {f"{m}.{n}" for group in (OPTION_NAMES, STATE_NAMES, PYMC_NAMES) for m, ns in group.items() for n in ns}
    for short in TRANSFORM_MODULES:
        module_name = f"symupdates.{short}"
        module = importlib.import_module(module_name)
        names = [n for n in getattr(module, "__all__", []) if f"{module_name}.{n}" not in claimed]
        w.module_section(module_name, names)

    w.text(*_heading("Options", "-"))
    w.text("How a named optimizer is assembled from its recipe and the common options; see :doc:`options`.")
    for module_name, names in OPTION_NAMES.items():
        w.table(module_name, names)

    w.text(*_heading("Schedules", "-"))
    w.text(
        "A schedule is a callable mapping the int64 step counter (0 during the first update) to a",
        "scalar; any hyper-parameter documented as accepting a schedule takes one. See :doc:`schedules`.",
    )
    if SCHEDULE_NAMES:
        w.module_section("symupdates.schedules", SCHEDULE_NAMES, title="Schedule functions")
    else:
        w.text("No schedules are defined yet.")
    w.module_section("symupdates.schedules", symupdates.schedules.__all__, title="Helpers")

    w.text(*_heading("State API", "-"))
    w.text(
        "The updates returned by every optimizer and transform, their state, and the context",
        "through which transforms create state (for writing new transforms).",
    )
    for module_name, names in STATE_NAMES.items():
        w.table(module_name, names)

    w.text(*_heading("Reading and differentiating the update", "-"))
    w.text(
        "What the update being a graph allows: its math printed from the graph (:doc:`explain`), gradients",
        "through unrolled steps and learning rates adapted by hypergradients (:doc:`metagradients`), and the",
        "learning-rate range test (:doc:`lr_finder`).",
    )
    for module_name, names in GRAPH_TOOLS.items():
        w.module_section(module_name, names)

    w.text(*_heading("Performance", "-"))
    w.text("One flat vector for many tensors, the fused C step, a device-resident JAX runner; see :doc:`performance`.")
    for module_name in ("symupdates.pack", "symupdates.fusion", "symupdates.device"):
        w.module_section(module_name, importlib.import_module(module_name).__all__)

    w.text(*_heading("PyMC and Lasagne helpers", "-"))
    w.text("Functions of ``pymc.variational.updates`` and ``lasagne.updates`` that are not optimizers.")
    for module_name, names in PYMC_NAMES.items():
        w.table(module_name, names)
    for module_name in PYMC_MODULES:
        if importlib.util.find_spec(module_name) is not None:
            w.module_section(module_name, importlib.import_module(module_name).__all__)

    # Anything public that no section above claims: top-level names by their defining
    # module, then the rest of every public submodule's ``__all__``.
    groups: dict[str, list[str]] = {}
    for name in symupdates.__all__:
        if w.qualified("symupdates", name) not in w.done:
            obj = getattr(symupdates, name)
            groups.setdefault(getattr(obj, "__module__", None) or "symupdates", []).append(name)
    for info in pkgutil.walk_packages(symupdates.__path__, "symupdates."):
        if any(part.startswith("_") for part in info.name.split(".")):
            continue
        module = importlib.import_module(info.name)
        for name in getattr(module, "__all__", []):
            if w.qualified(info.name, name) not in w.done and name not in groups.get(info.name, []):
                groups.setdefault(info.name, []).append(name)
    if groups:
        w.text(*_heading("Other", "-"))
        for module_name, names in groups.items():
            w.module_section(module_name, names)
    return "\n".join(w.lines).rstrip() + "\n"


def write_if_changed(path: str, text: str) -> None:
    """Write ``text`` to ``path`` unless it already holds it (keeps incremental builds quiet)."""
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            if f.read() == text:
                return
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


write_if_changed(os.path.join(HERE, "api.rst"), api_page())


# -- Directives for the options and schedules pages ------------------------------
def options_table_lines() -> list[str]:
    """A list-table of the common options: name, default, type, meaning."""
    from numpydoc.docscrape import NumpyDocString

    doc = NumpyDocString(inspect.cleandoc(symupdates.optimizers.options.OPTIONS_DOC))
    described = {}
    for param in doc["Other Parameters"]:
        for name in param.name.split(","):
            described[name.strip()] = param
    missing = [name for name in symupdates.optimizers.options.COMMON_OPTIONS if name not in described]
    if missing:
        raise RuntimeError(
            f"docs: common options {missing} have no entry in symupdates.optimizers.options.OPTIONS_DOC; document them there."
        )
    lines = [".. list-table::", "   :header-rows: 1", "   :widths: 22 12 22 44", ""]
    lines += ["   * - Option", "     - Default", "     - Accepts", "     - Effect"]
    for name, default in symupdates.optimizers.options.COMMON_OPTIONS.items():
        param = described[name]
        accepts = param.type.split(", default")[0].split(", optional")[0]
        lines += [f"   * - ``{name}``", f"     - ``{default!r}``", f"     - {accepts}"]
        lines += [f"     - {' '.join(line.strip() for line in param.desc)}"]
    return lines


def schedule_lines() -> list[str]:
    """A section and a plot for each schedule in ``symupdates.schedules.__all__``."""
    lines: list[str] = []
    for name in SCHEDULE_NAMES:
        call = f"{name}({SCHEDULE_EXAMPLES[name]})"
        lines += _heading(f"``{name}``", "-")
        lines += [f":func:`symupdates.schedules.{name}`: {_first_line(getattr(symupdates.schedules, name))}", ""]
        lines += [".. plot::", "", f"   schedule = schedules.{call}", f"   show(schedule, {call!r})", ""]
    return lines


#: Generated directives whose content has section titles.
SECTION_DIRECTIVES = ("symupdates-schedules", "symupdates-explained-optimizers")


def setup(app):
    from docutils import nodes
    from docutils.statemachine import StringList
    from sphinx.util.docutils import SphinxDirective
    from sphinx.util.nodes import nested_parse_with_titles

    class _Generated(SphinxDirective):
        make = staticmethod(lambda: [])

        def run(self):
            content = StringList(self.make(), source=self.get_source_info()[0])
            node = nodes.section() if self.name in SECTION_DIRECTIVES else nodes.container()
            node.document = self.state.document
            nested_parse_with_titles(self.state, content, node)
            return node.children

    class OptionsTable(_Generated):
        make = staticmethod(options_table_lines)

    class OptimizerOptionsTable(_Generated):
        make = staticmethod(lambda: symupdates.optimizers.options.optimizer_options_table().splitlines())

    class SchedulePlots(_Generated):
        make = staticmethod(schedule_lines)

    class ExplainedOptimizers(_Generated):
        make = staticmethod(lambda: symupdates.core.explain.optimizer_math_rst().splitlines())

    app.add_directive("symupdates-options", OptionsTable)
    app.add_directive("symupdates-optimizer-options", OptimizerOptionsTable)
    app.add_directive("symupdates-schedules", SchedulePlots)
    app.add_directive("symupdates-explained-optimizers", ExplainedOptimizers)
    return {"parallel_read_safe": True}
