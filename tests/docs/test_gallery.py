"""The gallery: ``examples/gallery/plot_*.py``, run by sphinx-gallery during the docs build.

Each script has a page with its figures, and what it printed (captured by sphinx-gallery,
shown on the page) agrees with what the text of the page says, and with the library
where the library can recompute it (the schedules). The trajectories script also keeps
its promise that one compiled step over the sum of the four test problems reproduces
the four separate runs bit for bit.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import numpy as np
import pytest

import symupdates
from symupdates import schedules
from symupdates.optimizers import FAMILIES
from tests.docs.test_build import _text

pytest.importorskip("sphinx_gallery")
pytest.importorskip("matplotlib")

GALLERY = Path(__file__).resolve().parents[2] / "examples" / "gallery"
SCRIPTS = sorted(path.stem for path in GALLERY.glob("plot_*.py"))
#: Figures each script makes.
FIGURES = {"plot_trajectories": len(FAMILIES), "plot_schedules": 2, "plot_advi": 1, "plot_float16": 1}
NUMBER = r"[-+]?\d+(?:\.\d*)?(?:e[-+]?\d+)?"


def _page(built: Path, script: str) -> Path:
    return built / "auto_examples" / f"{script}.html"


def _printed(built: Path, script: str) -> str:
    """Everything the script printed: the output blocks of its page, in order."""
    raw = _page(built, script).read_text(encoding="utf-8")
    blocks = re.findall(r'<div class="sphx-glr-script-out[^"]*"><div class="highlight"><pre>(.*?)</pre>', raw, re.S)
    return "\n".join(html.unescape(re.sub(r"<[^>]+>", "", block)) for block in blocks)


def _prose(built: Path, script: str) -> str:
    """The visible text of the page, whitespace collapsed as in the source's prose."""
    text = re.sub(r"\s+", " ", _text(_page(built, script))).replace("\u2019", "'")
    text = re.sub(r"\\\((.*?)\\\)", r"\1", text)  # inline math, \(b\) -> b
    return re.sub(r"\( ", "(", re.sub(r" ([,.;:)'])", r"\1", text))


def _images(built: Path, script: str) -> list[tuple[str, str]]:
    raw = _page(built, script).read_text(encoding="utf-8")
    return re.findall(r'<img src="\.\./(_images/sphx_glr_[^"]+\.png)"[^>]*alt="([^"]*)"', raw)


def test_every_script_is_expected():
    assert SCRIPTS == sorted(FIGURES), "add the figure count of a new gallery script to FIGURES"


@pytest.mark.parametrize("script", SCRIPTS)
def test_page_has_its_figures_and_output(built, script):
    assert _page(built, script).is_file()
    index = (built / "auto_examples" / "index.html").read_text(encoding="utf-8")
    assert f'href="{script}.html' in index
    images = [(src, alt) for src, alt in _images(built, script) if "_thumb" not in src]
    assert len(images) == FIGURES[script], images
    for src, _ in images:
        assert (built / src).stat().st_size > 5000, src
    printed = _printed(built, script)
    assert printed.strip(), "the script printed nothing"
    assert not re.search(r"Traceback|Warning|Finished \[", printed), printed


# -- trajectories ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def trajectories():
    """The definitions of plot_trajectories.py (everything before its first figure)."""
    source = (GALLERY / "plot_trajectories.py").read_text(encoding="utf-8")
    namespace = {"__name__": "gallery_trajectories"}
    exec(compile(source.split("# %%\n# The momentum family")[0], "plot_trajectories.py", "exec"), namespace)
    return namespace


def _final_losses(built) -> dict[str, dict]:
    """{family module: {optimizer: (rate label, [final loss per problem])}} as printed."""
    out: dict[str, dict] = {}
    family = None
    for line in _printed(built, "plot_trajectories").splitlines():
        if header := re.match(r"(symupdates\.optimizers\.\w+): loss after (\d+) steps", line):
            family = out.setdefault(header.group(1), {})
            continue
        if row := re.match(rf"\s+(\w+) \(([^)]*)\)\s+({NUMBER})\s+({NUMBER})\s+({NUMBER})\s+({NUMBER})\s*$", line):
            assert family is not None and row.group(1) not in family
            family[row.group(1)] = (row.group(2), [float(v) for v in row.group(3, 4, 5, 6)])
    return out


def test_trajectories_show_every_optimizer_in_its_family(built, trajectories):
    printed = _final_losses(built)
    assert list(printed) == [family.__name__ for family in FAMILIES]
    for family in FAMILIES:
        assert list(printed[family.__name__]) == list(family.__all__)
    shown = [name for family in printed.values() for name in family]
    assert sorted(shown) == sorted(symupdates.available())
    # one figure per family, its title naming the family's optimizers
    alts = [alt for src, alt in _images(built, "plot_trajectories") if "_thumb" not in src]
    for family, alt in zip(FAMILIES, alts):
        assert alt.startswith(f"The {family.__name__.rsplit('.', 1)[-1]} family: {', '.join(family.__all__)}")
    # the printed rate is the script's
    for family in printed.values():
        for name, (label, losses) in family.items():
            rate = trajectories["LEARNING_RATES"][name]
            assert label == ("per problem" if isinstance(rate, dict) else f"{rate:g}"), name
            assert all(np.isfinite(losses)), name


def test_trajectories_text_matches_the_printed_losses(built):
    printed = {name: losses for family in _final_losses(built).values() for name, (_, losses) in family.items()}
    rosen, beale, quad, noisy = range(4)
    text = _prose(built, "plot_trajectories")

    assert "falls below 1e-10 in 400 steps; plain SGD, at the same rates, stays above 1e-6 on both" in text
    for name in ["momentum", "nesterov_momentum"]:
        assert printed[name][beale] < 1e-10 and printed[name][quad] < 1e-10, name
    assert printed["sgd"][beale] > 1e-6 and printed["sgd"][quad] > 1e-6
    assert all(1e-3 < printed[name][noisy] < 1e-1 for name in ["sgd", "momentum", "nesterov_momentum"])

    assert "takes Beale below 1e-10" in text and "is the slowest of the family on the quadratic" in text
    assert printed["adagrad"][beale] < 1e-10
    assert printed["adadelta"][quad] == max(printed[name][quad] for name in FAMILIES[1].__all__)

    assert "take Beale below 1e-12; adamw stays above 1e-5 there" in text
    for name in ["adam", "amsgrad", "nadam", "adabelief", "yogi"]:
        assert printed[name][beale] < 1e-12, name
    assert printed["adamw"][beale] > 1e-5

    assert "stays at a loss above 1" in text and "reaches 1e-10 on Beale and the quadratic" in text
    assert printed["sign_sgd"][rosen] > 1
    assert printed["rprop"][beale] < 1e-10 and printed["rprop"][quad] < 1e-10

    assert "take the quadratic below 1e-8" in text and "at a loss of 1, the value at the origin" in text
    assert printed["lars"][quad] < 1e-8 and printed["lamb"][quad] < 1e-8
    assert abs(printed["lamb"][rosen] - 1) < 1e-3

    assert "(loss within 1 % of 1)" in text and "takes Beale below 1e-10" in text
    assert abs(printed["adafactor"][rosen] - 1) < 0.01
    assert printed["sm3"][beale] < 1e-10

    assert "within a factor 2 of sgd's at the same rates" in text
    ratios = np.array(printed["asgd"]) / np.array(printed["sgd"])
    assert np.all((ratios > 0.5) & (ratios < 2)), ratios


#: Optimizers whose state or steps are per tensor in less obvious ways (norms, factored
#: statistics, per-coordinate step sizes) and those given per-problem rates (lr_mult).
SEPARABLE_CHECKED = ["sgd", "adam", "radam", "adan", "rprop", "lars", "lamb", "novograd", "adafactor", "sm3", "asgd"]


@pytest.mark.parametrize("name", SEPARABLE_CHECKED)
def test_one_step_of_the_summed_problems_is_one_step_of_each(trajectories, name):
    run, problems = trajectories["run"], list(trajectories["PROBLEMS"])
    losses, paths = run(name, n_steps=25)
    for j, key in enumerate(problems):
        alone_losses, alone_paths = run(name, (key,), n_steps=25)
        np.testing.assert_array_equal(paths[:, j], alone_paths[:, 0], err_msg=f"{name} on {key}")
        # The loss *output* (not part of the step) of the one-problem graph can differ from
        # that of the four-problem graph in its last bit (FAST_COMPILE rewrites the two
        # graphs differently; the same happens with no optimizer at all), hence not exact.
        np.testing.assert_allclose(losses[:, j], alone_losses[:, 0], rtol=1e-15, atol=0, err_msg=f"{name} on {key}")


def test_trajectories_fail_for_an_optimizer_without_a_rate(trajectories, monkeypatch):
    source = (GALLERY / "plot_trajectories.py").read_text(encoding="utf-8").split("# %%\n# The momentum family")[0]
    monkeypatch.setattr(symupdates, "available", lambda: [*trajectories["LEARNING_RATES"], "brand_new"])
    with pytest.raises(RuntimeError, match=r"no learning rate for \['brand_new'\]"):
        exec(compile(source, "plot_trajectories.py", "exec"), {"__name__": "gallery_trajectories"})


# -- schedules -------------------------------------------------------------------------


def test_schedules_page_prints_the_librarys_values(built):
    printed = _printed(built, "plot_schedules")
    text = _prose(built, "plot_schedules")

    values = re.search(
        rf"warmup_cosine: value at steps 0, 50, 100, 999: ({NUMBER}), ({NUMBER}), ({NUMBER}), ({NUMBER})", printed
    )
    expected = schedules.evaluate(schedules.warmup_cosine(0.0, 0.1, 100, 1000), [0, 50, 100, 999])
    np.testing.assert_allclose([float(v) for v in values.groups()], expected, atol=5e-7)  # printed to 6 decimals
    assert "reaches it at step warmup_steps" in text
    assert re.search(r"warmup_cosine: first step at the peak: 100\b", printed)

    cycle = re.search(rf"one_cycle: first, peak step, peak, last: ({NUMBER}), (\d+), ({NUMBER}), ({NUMBER})", printed)
    values = schedules.evaluate(schedules.one_cycle(0.1, 1000), 1000)
    assert "(299 here)" in text
    assert int(cycle.group(2)) == int(np.argmax(values)) == 299
    np.testing.assert_allclose(float(cycle.group(1)), 0.1 / 25, atol=5e-7)
    np.testing.assert_allclose(float(cycle.group(3)), 0.1, atol=5e-7)
    np.testing.assert_allclose(float(cycle.group(4)), 0.1 / 25 / 1e4, rtol=1e-3)  # printed to 4 digits

    restarts = re.search(r"cosine_restarts: restarts at steps \[([\d, ]+)\]", printed)
    assert [int(k) for k in restarts.group(1).split(",")] == [100, 300, 700]
    assert "the restarts are at steps 100, 300 and 700" in text


def test_schedules_page_reduce_on_plateau(built):
    printed = _printed(built, "plot_schedules")
    text = _prose(built, "plot_schedules")
    steps = [int(k) for k in re.search(r"rate changes at steps \[([\d, ]+)\]", printed).group(1).split(",")]
    rates = [float(r) for r in re.search(r"rates \[([^\]]+)\]", printed).group(1).split(",")]
    assert len(rates) == len(steps) + 1 >= 3
    assert rates[0] == 0.05
    for before, after in zip(rates, rates[1:]):  # factor=0.5, min_lr=5e-4
        assert after == max(before * 0.5, 5e-4)
    assert rates[-1] == 5e-4
    assert "The rate changes only at multiples of 50 steps" in text
    assert all(k % 50 == 0 for k in steps)
    excess = re.search(rf"constant ({NUMBER}), plateau ({NUMBER})", printed)
    assert "ends more than ten times closer to its least-squares minimum" in text
    assert float(excess.group(2)) * 10 < float(excess.group(1))


# -- ADVI --------------------------------------------------------------------------------


def test_advi_page_numbers_agree_with_its_text(built):
    pytest.importorskip("pymc")
    printed = _printed(built, "plot_advi")
    text = _prose(built, "plot_advi")
    head = re.search(
        rf"exact posterior mean ({NUMBER}), sd ({NUMBER}); correlation of a and b ({NUMBER})\s+"
        rf"best mean-field sd of b ({NUMBER}); best mean-field ELBO ({NUMBER}) \(log evidence ({NUMBER})\)",
        printed,
    )
    exact_mean, exact_sd, rho, mf_sd, best_elbo, log_evidence = (float(v) for v in head.groups())
    assert best_elbo < log_evidence  # the KL term is positive
    assert abs(mf_sd - exact_sd * np.sqrt(1 - rho**2)) < 2e-4  # printed to 4 decimals
    assert "(-0.88 here)" in text and round(rho, 2) == -0.88

    rows = {}
    for line in printed.splitlines():
        if row := re.match(
            rf"(\S.*?)\s+({NUMBER})\s+({NUMBER})\s+({NUMBER})\s+({NUMBER})\s+({NUMBER})\s+({NUMBER})\s*$", line
        ):
            rows[row.group(1)] = [float(v) for v in row.groups()[1:]]
    assert len(rows) == 10, rows
    for label, (elbo, gap, mean_b, sd_b, to_best, to_exact) in rows.items():
        assert abs(gap - (best_elbo - elbo)) < 2e-3, label  # printed to 3 decimals
        assert abs(to_best - sd_b / mf_sd) < 5e-3 and abs(to_exact - sd_b / exact_sd) < 5e-3, label
        assert abs(mean_b - exact_mean) < 0.01, label  # "within 0.01"
        assert 0.4 < to_exact < 0.6, label  # "about 0.5"
        assert gap > -0.1, label  # no ELBO above the best beyond the Monte Carlo noise
    assert "every fit finds the posterior mean of b to within 0.01" in text
    assert "more than 5 % above the best mean-field sd" in text and "within 3 % of it" in text
    assert rows["adagrad_window(0.01)"][4] > 1.05
    assert abs(rows["adagrad_window(0.01, exclude_current=True)"][4] - 1) < 0.03
    assert rows["rmsprop(0.01)"][4] > 1.05
    assert "within 0.05 of the best ELBO, and more than 0.2 below it at the constant rate 0.05" in text
    assert rows["adam(warmup_cosine(0.1))"][1] < 0.05 < 0.2 < rows["adam(0.05)"][1]
    assert rows["momentum(warmup_cosine(0.002))"][1] * 10 < rows["momentum(0.001)"][1]


# -- float16 ------------------------------------------------------------------------------


def test_float16_page_numbers_agree_with_its_text(built):
    printed = _printed(built, "plot_float16")
    text = _prose(built, "plot_float16")
    rounded = float(re.search(rf"rounded to float16: excess loss ({NUMBER})", printed).group(1))
    runs = {
        (m.group(1), m.group(2).strip()): (float(m.group(3)), int(m.group(4)))
        for m in re.finditer(
            rf"^(\S+)\s+(float32|float16, multi_precision|float16)\s+excess loss ({NUMBER}), "
            r"parameters last changed at step (\d+)",
            printed,
            re.M,
        )
    }
    assert {name for name, _ in runs} == {"sgd(0.01)", "adam(0.01)"} and len(runs) == 6
    assert "In float32 both optimizers reach the minimum to within 1e-9" in text
    assert "more than a hundred times higher than with master copies" in text
    assert "both end within a factor 2 of the dotted line" in text
    for name in ["sgd(0.01)", "adam(0.01)"]:
        assert runs[name, "float32"][0] < 1e-9
        assert runs[name, "float16"][0] > 100 * runs[name, "float16, multi_precision"][0]
        assert runs[name, "float16, multi_precision"][0] < 2 * rounded
    assert "SGD's parameters stop changing after a few hundred steps" in text
    assert runs["sgd(0.01)", "float16"][1] < 1000
