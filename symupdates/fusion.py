"""The multi-tensor fused step: one C loop per parameter group instead of one node per tensor.

After PyTensor's own element-wise fusion, a step of any optimizer is one
``Elemwise{Composite}`` node per parameter: the same scalar graph applied to the
parameter, its gradient, its state and a few per-step scalars (bias corrections,
the scheduled learning rate, a guard's flag). PyTensor's C code for such a node
falls back to a strided loop that gcc does not vectorise (an input broadcast from
shape ``(1,)`` defeats its contiguous path) and computes float32 constants in
double precision. :class:`MultiElemwise` applies one scalar graph to many
tensors: its kernel is generated from that scalar graph, as a contiguous
``__restrict__`` loop with per-step scalars passed by value and constants typed
like their operands, so gcc vectorises it; it updates the state in place.

The rewrite :data:`fuse_update_steps` groups the update nodes of a compiled
function that apply the same scalar graph to inputs of the same dtypes, and
replaces each group by one :class:`MultiElemwise` node. Reductions (global
norms, trust ratios, factored moments) stay graph nodes and feed the fused nodes
as scalars. It is registered in PyTensor's ``fast_run`` rewrites, for the C
backend only (tag ``cxx_only``: the Numba and JAX backends keep today's graph),
under the name ``symupdates_fusion``; turn it off with
``mode=pytensor.compile.get_default_mode().excluding("symupdates_fusion")``.

The kernel computes the element-wise part as NumPy does: each operation in its
output dtype, rounded once (no fused multiply-add contraction), each constant
the exact value of its dtype; :meth:`MultiElemwise.perform` is that NumPy
computation, and the tests hold the two equal bit for bit on every optimizer.
PyTensor's own C loop differs from NumPy in two ways the kernel does not copy:
it multiplies float32 values by double constants (``0.001`` rather than
``np.float32(0.001)``), and gcc contracts ``a * b + c`` into fused multiply-adds.
So fused and unfused C steps differ by a few units in the last place.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytensor.scalar as ps
from pytensor.compile.mode import optdb
from pytensor.graph.basic import Apply, Constant
from pytensor.graph.fg import Output
from pytensor.graph.rewriting.basic import GraphRewriter
from pytensor.graph.utils import InconsistencyError
from pytensor.link.c.op import COp
from pytensor.tensor.elemwise import Elemwise
from pytensor.tensor.type import TensorType

__all__ = ["fused_nodes", "GROUP_SIZES"]

#: Numbers of tensors one fused node takes, largest first. A group of parameters
#: is cut into pieces of these sizes, so that one compiled C module (PyTensor
#: caches one per op and input types) serves every model with the same step, and
#: gcc's time per module stays a few seconds.
GROUP_SIZES = (8, 4, 2, 1)

_KERNEL_VERSION = 1

#: Input dtypes the kernel handles (float16 and complex keep PyTensor's own loop).
_DTYPES = frozenset({"float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool"})


def _as_composite(scalar_op, dtypes):
    """``scalar_op`` as a Composite over scalar inputs of ``dtypes``."""
    if isinstance(scalar_op, ps.Composite):
        return scalar_op
    inputs = [ps.get_scalar_type(d)() for d in dtypes]
    outputs = scalar_op.make_node(*inputs).outputs
    return ps.Composite(inputs, outputs)


def _c_type(var) -> str:
    return var.type.dtype_specs()[1]


def _c_constant(var) -> str:
    """A scalar constant as a C expression of its own dtype, its value exact."""
    value = np.asarray(var.data, dtype=var.type.dtype)
    literal = repr(float(value)) if value.dtype.kind == "f" else var.type.c_literal(var.data)
    return f"(({_c_type(var)}){literal})"


def _element_code(composite, inputs, outputs, nodename, fail) -> str:
    """C statements computing ``outputs`` (C lvalues) from ``inputs`` (C expressions).

    Walks the Composite's scalar graph like PyTensor's own template does, with
    one difference: a constant is written as the exact value of its own dtype,
    so that ``x * 0.9`` in float32 multiplies by ``np.float32(0.9)`` in float32,
    as NumPy does, where PyTensor's loop promotes ``x`` to double and multiplies
    by the double nearest 0.9.
    """
    composite.c_code_template  # noqa: B018 - sets the sub-node names c_support_code_apply uses
    fg = composite.fgraph
    names = dict(zip(fg.inputs, inputs))
    lines = []
    for j, node in enumerate(fg.toposort()):
        for var in node.inputs:
            if var not in names and isinstance(var, Constant):
                names[var] = _c_constant(var)
        for k, var in enumerate(node.outputs):
            if var not in names:
                names[var] = f"t{j}_{k}"
                lines.append(f"{_c_type(var)} {names[var]};")
        lines.append(
            node.op.c_code(
                node,
                f"{nodename}_subnode{j}",
                [names[v] for v in node.inputs],
                [names[v] for v in node.outputs],
                {"fail": fail, "id": f"{j}"},
            )
        )
    for var, target in zip(fg.outputs, outputs):
        source = names[var] if var in names else _c_constant(var)
        lines.append(f"{target} = {source};")
    return "\n".join(lines)


class MultiElemwise(COp):
    """One scalar graph applied element-wise to ``n_groups`` groups of tensors.

    Each group has the inputs and outputs of one ``Elemwise(scalar_op)`` node:
    ``full[i]`` says whether input ``i`` has the outputs' shape (read element by
    element) or is broadcast from one element (read once, passed by value).
    ``inplace`` pairs (output, input) whose buffers are shared, as in
    ``Elemwise``'s ``inplace_pattern``. The node's inputs and outputs are the
    groups' inputs and outputs, group after group.
    """

    __props__ = ("scalar_op", "full", "n_groups", "inplace")

    def __init__(self, scalar_op, full, n_groups, inplace=()):
        self.scalar_op = scalar_op
        self.full = tuple(bool(f) for f in full)
        self.n_groups = int(n_groups)
        self.inplace = tuple(sorted(tuple(pair) for pair in inplace))
        #: {output: the input whose buffer it writes}, within a group
        self.written_input = dict(self.inplace)
        nin, nout = len(self.full), scalar_op.nout
        self.destroy_map = {g * nout + o: [g * nin + i] for g in range(self.n_groups) for o, i in self.inplace}

    @property
    def nin_group(self):
        return len(self.full)

    def _groups(self, seq, size):
        return [list(seq[g * size : (g + 1) * size]) for g in range(self.n_groups)]

    def make_node(self, *inputs):
        if len(inputs) != self.n_groups * self.nin_group:
            raise TypeError(f"{self} takes {self.n_groups * self.nin_group} inputs, got {len(inputs)}.")
        outputs = []
        for group in self._groups(inputs, self.nin_group):
            full = [x for x, f in zip(group, self.full) if f]
            shape = tuple(next((d for d in dims if d is not None), None) for dims in zip(*(x.type.shape for x in full)))
            scalar_types = [ps.get_scalar_type(x.type.dtype) for x in group]
            for out_type in self.scalar_op.output_types(scalar_types):
                outputs.append(TensorType(out_type.dtype, shape=shape)())
        return Apply(self, list(inputs), outputs)

    def infer_shape(self, fgraph, node, input_shapes):
        nout = self.scalar_op.nout
        first = self.full.index(True)
        return [input_shapes[g * self.nin_group + first] for g in range(self.n_groups) for _ in range(nout)]

    def perform(self, node, inputs, output_storage):
        # NumPy, element by element, each operation rounded in its dtype: the reference the
        # kernel is tested against. The rewrite runs on the C backend only, so a compiled
        # function reaches this only where its C code cannot be used.
        nin, nout = self.nin_group, self.scalar_op.nout
        # frompyfunc hands over Python floats: make them NumPy scalars of their dtype again,
        # so that float32 operations round to float32
        types = [np.dtype(x.type.dtype).type for x in node.inputs[:nin]]
        impl = self.scalar_op.impl
        ufunc = np.frompyfunc(lambda *xs: impl(*[t(x) for t, x in zip(types, xs)]), nin, nout)
        for g in range(self.n_groups):
            group = [x if f else np.asarray(x).reshape(()) for x, f in zip(inputs[g * nin : (g + 1) * nin], self.full)]
            results = ufunc(*group)
            for o, result in enumerate(results if nout > 1 else [results]):
                output_storage[g * nout + o][0] = np.asarray(result, dtype=node.outputs[g * nout + o].dtype)

    # -- C code -------------------------------------------------------------------------
    def c_headers(self, **kwargs):
        return ["<math.h>", *self.scalar_op.c_headers(**kwargs)]

    def c_compile_args(self, **kwargs):
        # No fused multiply-adds: each operation rounds once, as NumPy's do.
        return ["-ffp-contract=off"]

    def c_header_dirs(self, **kwargs):
        return self.scalar_op.c_header_dirs(**kwargs)

    def c_support_code(self, **kwargs):
        return self.scalar_op.c_support_code(**kwargs)

    def _composite(self, node):
        return _as_composite(self.scalar_op, [x.type.dtype for x in node.inputs[: self.nin_group]])

    def kernel_code(self, node, name) -> str:
        """The C function running the scalar graph over ``n`` contiguous elements."""
        composite = self._composite(node)
        group_in = node.inputs[: self.nin_group]
        group_out = node.outputs[: self.scalar_op.nout]
        written = set(self.written_input.values())
        args, reads, element_in = [], [], []
        for i, (x, full) in enumerate(zip(group_in, self.full)):
            ctype = _c_type(x)
            if not full:
                args.append(f"const {ctype} s{i}")
                element_in.append(f"s{i}")
            else:
                const = "" if i in written else "const "
                args.append(f"{const}{ctype}* __restrict__ a{i}")
                reads.append(f"const {ctype} x{i} = a{i}[k];")
                element_in.append(f"x{i}")
        stores, element_out = [], []
        for o, y in enumerate(group_out):
            element_out.append(f"y{o}")
            if o in self.written_input:
                target = f"a{self.written_input[o]}"
            else:
                args.append(f"{_c_type(y)}* __restrict__ b{o}")
                target = f"b{o}"
            stores.append(f"{target}[k] = y{o};")
        declare = [f"{_c_type(y)} y{o};" for o, y in enumerate(group_out)]
        body = _element_code(composite, element_in, element_out, name, "return 1;")
        return "\n".join(
            [
                f"static __attribute__((noinline)) int {name}_kernel(const npy_intp n, {', '.join(args)}) {{",
                "    for (npy_intp k = 0; k < n; ++k) {",
                *reads,
                *declare,
                "{",
                body,
                "}",
                *stores,
                "    }",
                "    return 0;",
                "}",
            ]
        )

    def c_support_code_apply(self, node, name):
        composite = self._composite(node)
        composite.c_code_template  # noqa: B018 - sets the sub-node names
        return "\n".join([composite.c_support_code_apply(node, name), self.kernel_code(node, name)])

    def c_code(self, node, name, inames, onames, sub):
        fail = sub["fail"]
        nin, nout = self.nin_group, self.scalar_op.nout
        first = self.full.index(True)
        code = ["{", "npy_intp n;", "int nd;", "npy_intp* dims;"]
        for g in range(self.n_groups):
            ins = inames[g * nin : (g + 1) * nin]
            outs = onames[g * nout : (g + 1) * nout]
            node_ins = node.inputs[g * nin : (g + 1) * nin]
            node_outs = node.outputs[g * nout : (g + 1) * nout]
            full = [i for i in range(nin) if self.full[i]]
            release = " ".join(f"Py_XDECREF(c{i});" for i in full)
            code.append("{")
            code += [f"PyArrayObject* c{i} = NULL;" for i in full]
            for i in full:
                code.append(f"c{i} = PyArray_GETCONTIGUOUS({ins[i]}); if (!c{i}) {{ {release} {fail} }}")
            code += [f"nd = PyArray_NDIM(c{first});", f"dims = PyArray_DIMS(c{first});"]
            for i in full[1:]:
                code.append(
                    f"if (PyArray_NDIM(c{i}) != nd || !PyArray_CompareLists(PyArray_DIMS(c{i}), dims, nd)) {{"
                    f' PyErr_SetString(PyExc_ValueError, "{type(self).__name__}: inputs of one group differ in'
                    f' shape"); {release} {fail} }}'
                )
            code.append(f"n = PyArray_SIZE(c{first});")
            for o, (out, var) in enumerate(zip(outs, node_outs)):
                if o in self.written_input:
                    code.append(f"Py_XDECREF({out}); {out} = c{self.written_input[o]}; Py_INCREF({out});")
                    continue
                typenum = var.type.dtype_specs()[2]
                code.append(
                    f"if (!{out} || !PyArray_IS_C_CONTIGUOUS({out}) || PyArray_NDIM({out}) != nd"
                    f" || !PyArray_CompareLists(PyArray_DIMS({out}), dims, nd)) {{"
                    f" Py_XDECREF({out}); {out} = (PyArrayObject*)PyArray_EMPTY(nd, dims, {typenum}, 0);"
                    f" if (!{out}) {{ {release} {fail} }} }}"
                )
            args = ["n"]
            for i, x in enumerate(node_ins):
                ctype = _c_type(x)
                args.append(
                    f"({ctype}*)PyArray_DATA(c{i})" if self.full[i] else f"(({ctype}*)PyArray_DATA({ins[i]}))[0]"
                )
            args += [
                f"({_c_type(var)}*)PyArray_DATA({out})"
                for o, (out, var) in enumerate(zip(outs, node_outs))
                if o not in self.written_input
            ]
            code.append(f"if ({name}_kernel({', '.join(args)})) {{ {release} {fail} }}")
            code += [release, "}"]
        code.append("}")
        return "\n".join(code)

    def c_code_cache_version(self):
        # PyTensor reuses a compiled module while this version is unchanged: bump
        # _KERNEL_VERSION with every change to the generated code.
        inner = self.scalar_op.c_code_cache_version()
        return (_KERNEL_VERSION, *inner) if inner else ()


def _is_candidate(fgraph, node, updated) -> bool:
    """Whether ``node`` is an element-wise step of updated variables only, fit for the kernel."""
    if not isinstance(node.op, Elemwise):
        return False
    if isinstance(node.op.scalar_op, ps.ScalarInnerGraphOp) and not isinstance(node.op.scalar_op, ps.Composite):
        return False  # scalar loops and the like: their C code is not a plain expression
    out_pattern = node.outputs[0].type.broadcastable
    if not out_pattern or all(out_pattern):
        return False
    for out in node.outputs:
        if out not in updated or out.type.broadcastable != out_pattern or out.type.dtype not in _DTYPES:
            return False
        if not all(isinstance(client.op, Output) for client, _ in fgraph.clients[out]):
            return False
    full = []
    for x in node.inputs:
        pattern = x.type.broadcastable
        if x.type.dtype not in _DTYPES or (pattern != out_pattern and not all(pattern)):
            return False
        full.append(pattern == out_pattern)
    return any(full)


def _chunks(nodes):
    start = 0
    for size in GROUP_SIZES:
        while len(nodes) - start >= size:
            yield nodes[start : start + size]
            start += size


class FuseUpdateSteps(GraphRewriter):
    """Replace the update nodes that apply one scalar graph by :class:`MultiElemwise` nodes."""

    def apply(self, fgraph):
        mapping = getattr(fgraph, "update_mapping", None) or {}
        updated = {fgraph.outputs[i] for i in mapping}
        groups = defaultdict(list)
        for node in fgraph.toposort():
            if _is_candidate(fgraph, node, updated):
                out_pattern = node.outputs[0].type.broadcastable
                full = tuple(x.type.broadcastable == out_pattern for x in node.inputs)
                inplace = tuple(sorted((o, i) for o, [i] in node.op.destroy_map.items()))
                key = (node.op.scalar_op, full, inplace, tuple((x.type.dtype, x.type.ndim) for x in node.inputs))
                groups[key].append(node)
        for (scalar_op, full, inplace, _), nodes in groups.items():
            # PyTensor compiles one module per op and input types: chunks of tensors of the
            # same static types share one, whatever the model
            nodes.sort(key=lambda node: tuple(str(x.type) for x in node.inputs))
            for chunk in _chunks(nodes):
                op = MultiElemwise(scalar_op, full, len(chunk), inplace)
                fused = op.make_node(*[x for node in chunk for x in node.inputs])
                old = [out for node in chunk for out in node.outputs]
                try:
                    fgraph.replace_all_validate(list(zip(old, fused.outputs)), reason="symupdates_fusion")
                except (InconsistencyError, TypeError):
                    continue


def fused_nodes(fn) -> list:
    """The fused multi-tensor nodes of the compiled function ``fn``.

    Parameters
    ----------
    fn : pytensor.compile.function.types.Function
        A compiled step.

    Returns
    -------
    list of Apply
        Its :class:`MultiElemwise` nodes; ``node.op.n_groups`` is the number of
        tensors each one updates. Empty on the Numba and JAX backends, or where
        the rewrite is excluded.
    """
    return [node for node in fn.maker.fgraph.toposort() if isinstance(node.op, MultiElemwise)]


#: The registered rewrite (PyTensor's ``fast_run``, C backend only).
fuse_update_steps = FuseUpdateSteps()
optdb.register("symupdates_fusion", fuse_update_steps, "fast_run", "cxx_only", position=50.6)
