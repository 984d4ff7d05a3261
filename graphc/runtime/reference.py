"""The reference target: runs L1 nodes one by one with their numpy reference.

It is the oracle every other target is tested against, so it favours being obviously right:
each pure node calls its primitive's reference; the state ops (placeholder, variable, read,
assign, random, print) are implemented here against the session's RuntimeState. A run is
all-or-nothing for variables: assignments are staged and committed only when the whole run
succeeds, so a failing run never leaves a variable half updated. Collectives (allreduce,
allgather, broadcast) are pure calls of their reference, which runs the same MPI collective
as the compiled targets' host calls.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from graphc.errors import (
    GraphcError,
    InvalidArgumentError,
    assign_shape_message,
    unfed_placeholder,
    uninitialized_variable,
)
from graphc.ir.node import Node, topo_sort
from graphc.ir.regions import share_saving_loops
from graphc.ir.shapes import format_shape, is_compatible
from graphc.runtime.host_calls import emit
from graphc.runtime.state import RuntimeState


class ReferenceExecutor:
    name = "reference"

    def __init__(self, state: RuntimeState, options, describe: Callable[[Node], str]):
        self.state = state
        self.options = options
        self.describe = describe
        self._plans: dict = {}
        self._regions: dict = {}  # region -> its nodes in run order

    def plan(self, fetches, fed):
        """(roots, the nodes to run, producers first): what the fetches need, nothing more.
        The roots are the fetches, with a while loop's results taken from its gradient's
        saving copy where both are needed (as the compiled targets do: one forward loop, so
        the random draws of its body are the same in the values and in the gradients)."""
        key = (tuple(fetches), frozenset(fed))
        found = self._plans.get(key)
        if found is None:
            roots = share_saving_loops(fetches, key[1])
            found = self._plans[key] = (roots, [n for n in topo_sort(roots, stop=key[1])
                                                if n not in key[1]])
        return found

    def run(self, fetches, feeds: dict, outs=None) -> list:
        values = dict(feeds)
        staged: dict = {}
        # one draw per random node and loop iteration in a run, as the compiled targets
        # make them: a branch and its gradient's copy of the branch, or a loop and its
        # saving copy, read the same values
        self._drawn: dict = {}
        self._iterations: list = []  # the iteration number of each enclosing loop
        roots, order = self.plan(fetches, feeds)
        with np.errstate(all="ignore"):  # IEEE results (inf, nan) are values, not warnings
            for node in order:
                values[node] = self._eval(node, values, staged)
        results = [values[f] for f in roots]
        for i, out in enumerate(outs or ()):  # before the commit: a bad out= fails the run
            if out is not None:
                if out.shape != results[i].shape:
                    raise ValueError(f"out= has shape {format_shape(out.shape)}, this run's "
                                     f"fetch has shape {format_shape(results[i].shape)}")
                np.copyto(out, results[i])
                results[i] = out
        self.state.variables.update(staged)
        return results

    def _eval(self, node: Node, values: dict, staged: dict):
        handler = _STATE_OPS.get(node.op.name)
        if handler is not None:
            return handler(self, node, values, staged)
        args = [values[x] for x in node.inputs]
        try:
            if node.op.name == "random":
                key = (node, tuple(self._iterations))
                out = self._drawn.get(key)
                if out is None:
                    out = self._drawn[key] = node.op.reference(
                        *args, rng=self.state.rng(node), **node.attrs)
            else:
                out = node.op.reference(*args, **node.attrs)
        except GraphcError:
            raise
        except Exception as e:
            raise InvalidArgumentError(f"{self.describe(node)} failed: {e}", node) from e
        if node.dtype is None:
            return None
        out = np.asarray(out)
        if out.dtype != node.dtype.np:
            out = out.astype(node.dtype.np)
        if not is_compatible(out.shape, node.shape):
            raise InvalidArgumentError(f"{self.describe(node)} produced shape "
                                       f"{format_shape(out.shape)}, but its static shape is "
                                       f"{format_shape(node.shape)}", node)
        return out

    # --- state ops ------------------------------------------------------------------------
    def _placeholder(self, node, values, staged):
        raise unfed_placeholder(self.describe(node), node)

    def _variable(self, node, values, staged):
        return node  # the handle: assign and read look the value up in the state

    def _read(self, node, values, staged):
        return self._value_of(node.inputs[0], staged)

    def _value_of(self, var: Node, staged: dict):
        if var in staged:
            return staged[var]
        value = self.state.variables.get(var)
        if value is None:
            raise uninitialized_variable(self.describe(var), var)
        return value

    def _assign(self, node, values, staged):
        var, value = node.inputs
        arr = values[value]
        if arr.shape != var.shape:
            raise InvalidArgumentError(assign_shape_message(
                self.describe(node), self.describe(var), arr.shape, var.shape), node)
        mode = node.attrs["mode"]
        if mode == "set":
            new = np.array(arr, dtype=var.dtype.np, copy=True)
        elif mode == "add":
            new = (self._value_of(var, staged) + arr).astype(var.dtype.np)
        else:
            new = (self._value_of(var, staged) - arr).astype(var.dtype.np)
        staged[var] = new
        return new

    def _no_op(self, node, values, staged):
        return None

    def _print(self, node, values, staged):
        emit(self.state, node, [values[x] for x in node.inputs])

    # --- control flow: regions run node by node, as the graph around them ---------------
    def _region(self, region, args, staged) -> list:
        order = self._regions.get(region)
        if order is None:
            params = frozenset(region.params)
            order = self._regions[region] = [n for n in topo_sort(region.results, stop=params)
                                             if n not in params]
        values = dict(zip(region.params, args))
        for node in order:
            values[node] = self._eval(node, values, staged)
        return [values[r] for r in region.results]

    def _while(self, node, values, staged):
        state = [values[x] for x in node.inputs]
        count = len(node.attrs["body"].results)
        cond, body = node.attrs["cond"], node.attrs["body"]
        self._iterations.append(0)
        try:
            while bool(self._region(cond, state, staged)[0]):
                state[:count] = self._region(body, state, staged)
                self._iterations[-1] += 1
        finally:
            self._iterations.pop()
        return tuple(state[:count])

    def _cond(self, node, values, staged):
        args = [values[x] for x in node.inputs[1:]]
        taken = node.attrs["then"] if bool(values[node.inputs[0]]) else node.attrs["else"]
        return tuple(self._region(taken, args, staged))

    def _item(self, node, values, staged):
        return values[node.inputs[0]][node.attrs["index"]]


_STATE_OPS = {
    "placeholder": ReferenceExecutor._placeholder,
    "variable": ReferenceExecutor._variable,
    "read": ReferenceExecutor._read,
    "assign": ReferenceExecutor._assign,
    "no_op": ReferenceExecutor._no_op,
    "print": ReferenceExecutor._print,
    "while": ReferenceExecutor._while,
    "cond": ReferenceExecutor._cond,
    "item": ReferenceExecutor._item,
}
