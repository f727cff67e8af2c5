"""Every common option on every named optimizer, against a NumPy model of the documented order.

The reference for optimizer ``name`` with options runs, per step:

    maximize -> rescale_grad -> clip_gradient -> clip_norm -> clip_global_norm
    -> weight_decay (coupled)       [NumPy]
    -> the recipe's direction        [symupdates, the *plain* direction with no option]
    -> decoupled_weight_decay -> lr * lr_mult -> the recipe's after-transform (momentum)
    -> p - u -> clip_weights        [NumPy]

so no optimizer has to be re-implemented in NumPy: the direction is taken from a
plain run (learning rate 1, no options) whose parameters are synchronised with
the reference before every step. The test is parametrized over
``symupdates.available()``, so optimizers added later are covered.
"""

import functools
import inspect

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.graph.basic import Variable, equal_computations

import symupdates as su
from symupdates import InputError
from symupdates.optimizers.options import COMMON_OPTIONS, Recipe, assemble
from symupdates.transforms.momentum import Trace
from tests.conftest import FAST

N_STEPS = 4
OPTIMIZERS = su.available()
INIT = {
    "W": np.array([[0.9, -1.3, 0.4], [1.7, -0.2, 1.1]]),
    "b": np.array([0.5, -0.8, 1.4]),
}


def _grad_seq(seed=7, n=N_STEPS):
    rng = np.random.default_rng(seed)
    return [{k: rng.normal(scale=1.5, size=v.shape) for k, v in INIT.items()} for _ in range(n)]


GRADS = _grad_seq()


def _setup():
    params = [pytensor.shared(INIT[k].copy(), name=k) for k in INIT]
    grads = [pt.matrix("gW"), pt.vector("gb")]
    return params, grads


DECAY_OPTIONS = {"weight_decay", "decoupled_weight_decay"}


def _recipe_fn(name):
    return inspect.unwrap(getattr(su, name))


def _owned(name):
    """Common options ``name`` does not take as such (its recipe owns or replaces them)."""
    own = set(COMMON_OPTIONS) & set(inspect.signature(_recipe_fn(name)).parameters)
    if own & DECAY_OPTIONS:  # an optimizer with its own weight decay owns both common ones
        own |= DECAY_OPTIONS
    return own


def split_options(name, options):
    """(keywords for the optimizer call, options for the reference, recipe keywords).

    A recipe may own a common option (AdamW's and Adan's ``weight_decay`` is
    decoupled): the test's ``decoupled_weight_decay`` is then passed under the
    recipe's own name, and options the recipe owns otherwise are left out.
    """
    own = set(COMMON_OPTIONS) & set(inspect.signature(_recipe_fn(name)).parameters)
    call, ref, hyper = {}, {}, {}
    recipe_decouples = own and _recipe_fn(name)().decoupled_weight_decay is not None
    for k, v in options.items():
        if recipe_decouples and k == "decoupled_weight_decay":
            hyper["weight_decay"] = v
        elif k in own or (own & DECAY_OPTIONS and k in DECAY_OPTIONS):
            continue
        else:
            call[k], ref[k] = v, v
    return {**call, **hyper}, ref, hyper


def _number(value, k):
    """The value of a hyper-parameter (number, shared/symbolic scalar or schedule) at 0-based step ``k``."""
    if callable(value) and not isinstance(value, Variable):
        value = value(np.int64(k))
    if isinstance(value, SharedVariable):
        return float(value.get_value())
    if isinstance(value, Variable):
        return float(value.eval())
    return float(value)


def _per_param(spec, params, default):
    """NumPy reading of a dict {param or name: v} / callable(param) option."""
    if spec is None:
        return {p.name: default for p in params}
    if callable(spec) and not isinstance(spec, dict):
        return {p.name: spec(p) for p in params}
    out = {p.name: default for p in params}
    for key, value in spec.items():
        out[key.name if isinstance(key, Variable) else key] = value
    return out


def _clip_norm_np(g, c):
    norm = np.sqrt(np.sum(g**2))
    return g if norm <= c else g * (c / norm)


@functools.cache
def _plain_run(name, part):
    """A compiled plain run (learning rate 1, no option) of one piece of ``name``'s recipe."""
    recipe = _recipe_fn(name)()
    piece = Recipe(recipe.direction, 1.0) if part == "direction" else Recipe(su.identity(), 1.0, after=recipe.after)
    params, grads = _setup()
    updates = assemble(piece, name)(grads, params)
    return params, updates, pytensor.function(grads, [], updates=updates, mode=FAST)


class Reference:
    """The documented option order in NumPy around a plain symupdates direction."""

    def __init__(self, name, options):
        _, ref, hyper = split_options(name, options)
        self.recipe = _recipe_fn(name)(**hyper)
        self.opts = {**COMMON_OPTIONS, **ref}
        if self.recipe.decoupled_weight_decay is not None:
            self.opts["decoupled_weight_decay"] = self.recipe.decoupled_weight_decay
        self.params, self.updates, self.fn = _plain_run(name, "direction")
        self.updates.reset()
        if self.recipe.after is not None and not isinstance(self.recipe.after, Trace):
            self.after_params, after_updates, self.after_fn = _plain_run(name, "after")
            after_updates.reset()
        self.p = {k: v.copy() for k, v in INIT.items()}
        self.velocity = {k: np.zeros_like(v) for k, v in INIT.items()}
        self.k = 0

    def val(self, key):
        return _number(self.opts[key], self.k)

    def step(self, g):
        o, p, names = self.opts, self.p, list(INIT)
        g = {k: v.copy() for k, v in g.items()}
        if o["maximize"]:
            g = {k: -v for k, v in g.items()}
        g = {k: self.val("rescale_grad") * v for k, v in g.items()}
        if o["clip_gradient"] is not None and self.val("clip_gradient") > 0:
            c = self.val("clip_gradient")
            g = {k: np.clip(v, -c, c) for k, v in g.items()}
        if o["clip_norm"] is not None:
            g = {k: _clip_norm_np(v, self.val("clip_norm")) for k, v in g.items()}
        if o["clip_global_norm"] is not None:
            c = self.val("clip_global_norm")
            norm = np.sqrt(sum(np.sum(v**2) for v in g.values()))
            if norm > c:
                g = {k: v * (c / norm) for k, v in g.items()}
        mask = _per_param(o["weight_decay_mask"], self.params, True)
        wd_mult = {k: _number(v, self.k) for k, v in _per_param(o["wd_mult"], self.params, 1.0).items()}
        lr_mult = {k: _number(v, self.k) for k, v in _per_param(o["lr_mult"], self.params, 1.0).items()}
        decay = {k: (wd_mult[k] if mask[k] else 0.0) for k in names}
        g = {k: g[k] + self.val("weight_decay") * decay[k] * p[k] for k in names}
        # the plain direction, on parameters synchronised with the reference
        for var in self.params:
            var.set_value(p[var.name].copy())
        self.fn(*(g[k] for k in names))
        d = {var.name: p[var.name] - var.get_value() for var in self.params}
        d = {k: d[k] + self.val("decoupled_weight_decay") * decay[k] * p[k] for k in names}
        lr = _number(self.recipe.learning_rate, self.k)
        u = {k: lr * lr_mult[k] * d[k] for k in names}
        after = self.recipe.after
        if after is not None and not isinstance(after, Trace):
            # an after-transform without a NumPy model here: its plain run, fed the NumPy steps
            for var in self.after_params:
                var.set_value(p[var.name].copy())
            self.after_fn(*(u[k] for k in names))
            u = {var.name: p[var.name] - var.get_value() for var in self.after_params}
        elif after is not None:
            mu, damp = _number(after.decay, self.k), _number(after.dampening, self.k)
            for k in names:
                b = u[k] if (damp != 0 and self.k == 0) else mu * self.velocity[k] + (1 - damp) * u[k]
                self.velocity[k] = b
                u[k] = u[k] + mu * b if after.nesterov else b
        new = {k: p[k] - u[k] for k in names}
        if o["clip_weights"] is not None and self.val("clip_weights") > 0:
            c = self.val("clip_weights")
            new = {k: np.clip(v, -c, c) for k, v in new.items()}
        self.p = new
        self.k += 1
        return new


def _mismatches(name, options, fn, params, updates, grads_seq=GRADS, reset=False) -> list[str]:
    """Run the steps; where a parameter differs from the NumPy reference beyond rtol 1e-9, atol 1e-12."""
    if reset:
        updates.reset()
        for var in params:
            var.set_value(INIT[var.name].copy())
    ref = Reference(name, options)
    bad = []
    for k, g in enumerate(grads_seq):
        fn(g["W"], g["b"])
        expected = ref.step(g)
        for var in params:
            if not np.allclose(var.get_value(), expected[var.name], rtol=1e-9, atol=1e-12):
                error = np.max(np.abs(var.get_value() - expected[var.name]))
                bad.append(f"{name} with {options}: {var.name} after step {k + 1} differs by {error:.3g}")
    return bad


def _build(name, **options):
    params, grads = _setup()
    updates = getattr(su, name)(grads, params, **split_options(name, options)[0])
    fn = pytensor.function(grads, [], updates=updates, mode=FAST)
    return fn, params, updates


ALL_ON = dict(
    maximize=True,
    rescale_grad=0.7,
    clip_gradient=1.2,
    clip_norm=1.5,
    clip_global_norm=1.8,
    weight_decay=0.05,
    decoupled_weight_decay=0.02,
    weight_decay_mask=lambda p: p.ndim >= 2,
    wd_mult={"W": 2.0},
    lr_mult={"b": 0.5},
    clip_weights=1.0,
)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_all_options_together(name):
    fn, params, updates = _build(name, **ALL_ON)
    assert not _mismatches(name, ALL_ON, fn, params, updates)


# One compiled function per optimizer with every numeric option symbolic; each
# case below switches some options on at run time (the others stay neutral).
NEUTRAL = dict(
    rescale_grad=1.0,
    clip_gradient=0.0,
    clip_norm=1e30,
    clip_global_norm=1e30,
    weight_decay=0.0,
    decoupled_weight_decay=0.0,
    lr_mult_b=1.0,
    wd_mult_W=1.0,
    clip_weights=0.0,
)
CASES = [
    dict(rescale_grad=0.3),
    dict(rescale_grad=-1.0),
    dict(clip_gradient=0.8),
    dict(clip_gradient=-1.0),  # <= 0 is off (MXNet)
    dict(clip_norm=1.0),
    dict(clip_norm=0.0),
    dict(clip_global_norm=1.5),
    dict(weight_decay=0.1),
    dict(weight_decay=0.1, wd_mult_W=3.0),
    dict(decoupled_weight_decay=0.1),
    dict(decoupled_weight_decay=0.1, wd_mult_W=0.0),
    dict(lr_mult_b=2.5),
    dict(clip_weights=1.0),
    dict(clip_weights=-1.0),  # <= 0 is off
    dict(
        rescale_grad=2.0,
        clip_gradient=1.0,
        clip_norm=2.0,
        clip_global_norm=2.5,
        weight_decay=0.05,
        decoupled_weight_decay=0.03,
        lr_mult_b=0.5,
        wd_mult_W=2.0,
        clip_weights=1.1,
    ),
]


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_each_option_symbolic(name):
    shared = {k: pytensor.shared(np.float64(v), name=k) for k, v in NEUTRAL.items()}
    options = {k: v for k, v in shared.items() if k not in ("lr_mult_b", "wd_mult_W")}
    options.update(lr_mult={"b": shared["lr_mult_b"]}, wd_mult={"W": shared["wd_mult_W"]})
    fn, params, updates = _build(name, **options)
    for case in CASES:
        for k, v in {**NEUTRAL, **case}.items():
            shared[k].set_value(np.float64(v))
        assert not _mismatches(name, options, fn, params, updates, reset=True)


SINGLE = [
    dict(maximize=True),
    dict(rescale_grad=0.25),
    dict(clip_gradient=0.5),
    dict(clip_norm=1.0),
    dict(clip_global_norm=2.0),
    dict(weight_decay=0.2),
    dict(decoupled_weight_decay=0.2),
    dict(lr_mult={"W": 3.0}),
    dict(clip_weights=0.95),
    dict(weight_decay=0.1, decoupled_weight_decay=0.1, weight_decay_mask={"b": False}, wd_mult=lambda p: 0.5),
]


@pytest.mark.parametrize("options", SINGLE, ids=lambda o: "+".join(o))
@pytest.mark.parametrize("name", ["adam"])
def test_single_constant_option(name, options):
    fn, params, updates = _build(name, **options)
    assert not _mismatches(name, options, fn, params, updates)


def test_lr_schedule_and_symbolic_options_follow_the_step():
    """Schedules as weight decay are read at the step being taken (0 first)."""
    options = dict(weight_decay=lambda step: 0.1 * (step + 1), decoupled_weight_decay=lambda step: 0.05 / (step + 1))
    fn, params, updates = _build("adam", **options)
    assert not _mismatches("adam", options, fn, params, updates)


# -- per-parameter multipliers and masks ---------------------------------------


def _one_step(name, grads_value, **options):
    fn, params, _ = _build(name, **options)
    fn(grads_value["W"], grads_value["b"])
    return {p.name: p.get_value() for p in params}


@pytest.mark.parametrize("how", ["param", "name", "callable"])
def test_lr_mult_forms(how):
    g = GRADS[0]
    params, _ = _setup()

    def spec_for(params):
        return {
            "param": {params[1]: 3.0},
            "name": {"b": 3.0},
            "callable": lambda p: 3.0 if p.ndim == 1 else 1.0,
        }[how]

    # the dict-by-param form must reference the very parameters being optimized
    params, grads = _setup()
    updates = su.sgd(grads, params, 0.1, lr_mult=spec_for(params))
    pytensor.function(grads, [], updates=updates, mode=FAST)(g["W"], g["b"])
    np.testing.assert_allclose(params[0].get_value(), INIT["W"] - 0.1 * g["W"], rtol=1e-14)
    np.testing.assert_allclose(params[1].get_value(), INIT["b"] - 0.3 * g["b"], rtol=1e-14)


@pytest.mark.parametrize("how", ["param", "name", "callable"])
@pytest.mark.parametrize("kind", ["weight_decay", "decoupled_weight_decay"])
def test_wd_mult_forms(how, kind):
    g = GRADS[0]
    params, grads = _setup()
    spec = {"param": {params[0]: 4.0}, "name": {"W": 4.0}, "callable": lambda p: 4.0 if p.ndim == 2 else 1.0}[how]
    updates = su.sgd(grads, params, 0.1, wd_mult=spec, **{kind: 0.01})
    pytensor.function(grads, [], updates=updates, mode=FAST)(g["W"], g["b"])
    np.testing.assert_allclose(params[0].get_value(), INIT["W"] - 0.1 * (g["W"] + 0.04 * INIT["W"]), rtol=1e-14)
    np.testing.assert_allclose(params[1].get_value(), INIT["b"] - 0.1 * (g["b"] + 0.01 * INIT["b"]), rtol=1e-14)


@pytest.mark.parametrize("mask_form", ["callable", "dict_name", "dict_param"])
@pytest.mark.parametrize("kind", ["weight_decay", "decoupled_weight_decay"])
def test_weight_decay_mask_excludes_biases(mask_form, kind):
    g = GRADS[0]
    params, grads = _setup()
    mask = {
        "callable": lambda p: p.ndim >= 2,
        "dict_name": {"b": False},
        "dict_param": {params[1]: False, params[0]: True},
    }[mask_form]
    updates = su.sgd(grads, params, 0.1, weight_decay_mask=mask, **{kind: 0.5})
    pytensor.function(grads, [], updates=updates, mode=FAST)(g["W"], g["b"])
    np.testing.assert_allclose(params[0].get_value(), INIT["W"] - 0.1 * (g["W"] + 0.5 * INIT["W"]), rtol=1e-14)
    np.testing.assert_array_equal(params[1].get_value(), INIT["b"] - 0.1 * g["b"])


def test_lr_mult_bool_and_zero():
    """lr_mult False/0 freezes a parameter; True is 1."""
    g = GRADS[0]
    params, grads = _setup()
    updates = su.sgd(grads, params, 0.1, lr_mult={"W": False, "b": True})
    pytensor.function(grads, [], updates=updates, mode=FAST)(g["W"], g["b"])
    np.testing.assert_array_equal(params[0].get_value(), INIT["W"])
    np.testing.assert_array_equal(params[1].get_value(), INIT["b"] - 0.1 * g["b"])


@pytest.mark.parametrize("option", ["lr_mult", "wd_mult", "weight_decay_mask"])
def test_unknown_parameter_name_raises(option):
    params, grads = _setup()
    other = pytensor.shared(np.zeros(2), name="other")
    with pytest.raises(InputError, match=rf"`{option}` names 'bias'.*\(W, b\)"):
        su.adam(grads, params, weight_decay=0.1, **{option: {"bias": 1.0}})
    with pytest.raises(InputError, match=option):
        su.adam(grads, params, weight_decay=0.1, **{option: {other: 1.0}})
    with pytest.raises(InputError, match=option):
        su.adam(grads, params, weight_decay=0.1, **{option: [1.0, 2.0]})


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_unknown_option_raises_with_hint(name):
    with pytest.raises(InputError, match="weight_decay"):
        su.get(name, weight_decai=0.1)
    with pytest.raises(TypeError):  # an unknown keyword is an ArgumentError, also a TypeError
        getattr(su, name)(clip_grad_norm=1.0)
    with pytest.raises(InputError, match="unexpected"):
        assemble(_recipe_fn(name)(), name, no_such_option=1)


BAD = [
    ("weight_decay", -0.1),
    ("weight_decay", float("nan")),
    ("decoupled_weight_decay", -1e-3),
    ("decoupled_weight_decay", float("nan")),
    ("rescale_grad", float("nan")),
    ("rescale_grad", "2"),
    ("clip_gradient", float("nan")),
    ("clip_gradient", "1"),
    ("clip_norm", -1.0),
    ("clip_norm", float("nan")),
    ("clip_global_norm", -0.5),
    ("clip_global_norm", float("nan")),
    ("clip_weights", float("nan")),
    ("clip_weights", lambda step: 1.0),
    ("maximize", 1),
    ("maximize", "yes"),
    ("maximize", None),
    ("multi_precision", 1),
    ("skip_nonfinite", "True"),
]


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_bad_option_values_raise_at_build_time(name):
    own = _owned(name)
    for option, value in BAD:
        if option in own:
            continue
        # a factory already validates, before any parameter is seen
        with pytest.raises(InputError, match=f"`{option}`"):
            getattr(su, name)(**{option: value})


@pytest.mark.parametrize(
    "option,value",
    [("lr_mult", {"W": -1.0}), ("lr_mult", {"b": float("nan")}), ("wd_mult", lambda p: -2.0), ("wd_mult", {"W": "x"})],
)
def test_bad_multipliers_raise_when_applied(option, value):
    params, grads = _setup()
    with pytest.raises(InputError, match=option):
        su.sgd(grads, params, weight_decay=0.1, **{option: value})


def test_numpy_bools_are_flags():
    params, grads = _setup()
    updates = su.sgd(grads, params, maximize=np.bool_(True), skip_nonfinite=np.bool_(False))
    g = GRADS[0]
    pytensor.function(grads, [], updates=updates, mode=FAST)(g["W"], g["b"])
    np.testing.assert_allclose(params[1].get_value(), INIT["b"] + 1e-3 * g["b"], rtol=1e-14)


# -- defaults add nothing ------------------------------------------------------------

OFF_VALUES = dict(
    weight_decay=0,
    decoupled_weight_decay=0.0,
    rescale_grad=1,
    clip_gradient=0.0,
    clip_weights=-1.0,
    lr_mult={"W": 1.0},
    wd_mult={"b": 3.0},  # no decay, so no multiplier either
    weight_decay_mask=lambda p: True,
)


def _same_graph(u1, u2) -> bool:
    """Same variables, same computations, same printed graph."""
    printed = [pytensor.printing.debugprint(list(u.values()), file="str") for u in (u1, u2)]
    return (
        [v.name for v in u1] == [v.name for v in u2]
        and equal_computations(list(u1.values()), list(u2.values()), in_xs=list(u1), in_ys=list(u2))
        and printed[0] == printed[1]
    )


@pytest.mark.parametrize("name", OPTIMIZERS)
@pytest.mark.parametrize("options", [COMMON_OPTIONS, OFF_VALUES], ids=["defaults", "off_values"])
def test_default_options_add_nothing(name, options):
    params, grads = _setup()
    plain = getattr(su, name)(grads, params)
    options = {k: v for k, v in options.items() if k not in _owned(name)}
    if _recipe_fn(name)().decoupled_weight_decay is not None:
        options.pop("wd_mult")  # the recipe's own decay is on by default
    with_defaults = getattr(su, name)(grads, params, **options)
    assert _same_graph(plain, with_defaults)


def test_graph_check_detects_an_option():
    """The comparison above is not vacuous: one option changes the graph."""
    params, grads = _setup()
    plain, other = su.adam(grads, params), su.adam(grads, params, rescale_grad=2.0)
    assert not equal_computations(list(plain.values()), list(other.values()), in_xs=list(plain), in_ys=list(other))


def test_factory_carries_options():
    opt = su.get("adam", learning_rate=0.01, clip_global_norm=1.0, weight_decay_mask={"b": False})
    assert isinstance(opt, functools.partial)
    assert opt.keywords["clip_global_norm"] == 1.0
    params, grads = _setup()
    direct = su.adam(grads, params, learning_rate=0.01, clip_global_norm=1.0, weight_decay_mask={"b": False})
    assert _same_graph(direct, opt(grads, params))


@pytest.mark.parametrize(
    "name, option",
    [("adafactor", "wd_mult"), ("adafactor", "weight_decay_mask"), ("novograd", "wd_mult"), ("lamb", "wd_mult")],
)
def test_decay_options_that_an_optimizers_own_decay_does_not_reach_are_refused(name, option):
    """adafactor, novograd and lamb decay inside their update: a per-parameter decay option would
    be silently ignored there, so it is refused at build time, naming the way to do it."""
    with pytest.raises(InputError, match=rf"{option}.*symupdates.partition"):
        getattr(su, name)(learning_rate=0.1, weight_decay=0.1, **{option: {"w": 0.0}})
