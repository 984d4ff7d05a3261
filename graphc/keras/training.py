"""tf.keras.Model: compile, fit, evaluate, predict (TF 1.15, graph mode).

The training step is built once, at the first fit or train_on_batch: a target placeholder
per output (shaped like the first labels seen, batch dimension None), the loss (the mean
of the per-sample losses plus the layers' regularization losses), the metrics' sums and
counts over the batch, and one op applying the optimizer's update and the layers' updates
(batch norm's moving averages). `Session.make_callable` turns it into one function: each
batch is ONE call, one Session.run, with the learning phase fed True. Evaluation and
prediction are two more callables over the same graph, with the learning phase at its
default (False). Reported epoch values are averages over samples, as Keras reports them.
"""

from __future__ import annotations

import numpy as np

from graphc.errors import user_location
from graphc.keras import backend, data, feeding, losses, metrics, optimizers
from graphc.keras import callbacks as cbks
from graphc.keras.network import Network
from graphc.ops import array_ops as A
from graphc.ops import math_ops as m
from graphc.ops.control_flow_ops import group

_metric_module = metrics  # compile's argument `metrics` hides the module there


class Model(Network):
    """A functional (`Model(inputs, outputs)`) or subclassed Keras model."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.optimizer, self.loss, self.stop_training = None, None, False
        self.history = None
        self._compiled = None  # the compile arguments, resolved
        self._functions = {}  # "train" / "test" / "predict" -> (callable, parts)

    # --- compile ------------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None,
                sample_weight_mode=None, weighted_metrics=None, target_tensors=None,
                **kwargs):
        for name, value in (("loss_weights", loss_weights), ("sample_weight_mode",
                            sample_weight_mode), ("weighted_metrics", weighted_metrics),
                            ("target_tensors", target_tensors)):
            if value is not None:
                raise NotImplementedError(f"compile({name}=...) is not supported by graphc's "
                                          "Keras")
        if kwargs:
            raise TypeError(f"Invalid keyword argument(s) in `compile`: {sorted(kwargs)}")
        if loss is None:
            raise ValueError("compile needs a loss (a name, a tf.keras.losses function or "
                             "a Loss object)")
        self.optimizer = optimizers.get(optimizer)
        self.loss = loss
        self._compiled = (losses.get(loss), [_metric_module.instantiate(x) for x in
                                               metrics or []])
        self._functions = {}
        if isinstance(self.optimizer, optimizers.OptimizerV2) and self.built_graph():
            with self.graph_scope():
                self.optimizer._lr_variable()

    def built_graph(self) -> bool:
        return self.outputs is not None

    @property
    def metrics_names(self) -> list:
        names = ["loss"]
        if self._compiled is not None and self.outputs is not None:
            names += [n for n, _ in self._metric_fns()]
        return names

    def _metric_fns(self) -> list:
        loss, specs = self._compiled
        units = self.outputs[0].shape.dims[-1] if self.outputs[0].shape.dims else None
        return [metrics.resolve(spec, loss, units) for spec in specs]

    @property
    def metrics(self) -> list:
        """The compiled Metric objects (stateful metrics; functions are not listed)."""
        if self._compiled is None:
            return []
        return [x for x in self._compiled[1] if isinstance(x, metrics.Metric)]

    def reset_metrics(self) -> None:
        """Zero the state of every compiled Metric object (fit does it each epoch)."""
        if self.outputs is None:
            return
        with self.graph_scope():
            for metric in self.metrics:
                metric.reset_states()

    def _stateful(self) -> list:
        """For each entry of metrics_names after the loss: is it a Metric object's result
        (reported as is) rather than a mean over samples?"""
        return [isinstance(fn, metrics.Metric) for _, fn in self._metric_fns()]

    # --- building the three functions ---------------------------------------------------------
    def _ensure_built(self, x_arrays) -> None:
        """Build a deferred model (Sequential without input shape, subclassed) on Inputs
        shaped like the data."""
        if self.outputs is not None:
            return
        from graphc.keras.layers import Input
        with self.graph_scope():
            inputs = [Input(shape=a.shape[1:], dtype=backend.floatx()) for a in x_arrays]
            self._build_on(inputs if len(inputs) > 1 else inputs[0])

    def _build_on(self, inputs):
        self(inputs)

    def _targets_and_losses(self, y_arrays):
        """Target placeholders shaped like `y_arrays`, the per-sample weights (fed only by
        weighted runs; ones by default), the total loss and the metrics' parts."""
        loss, _ = self._compiled
        if len(self.outputs) != 1:
            raise NotImplementedError("fit/evaluate support models with one output")
        out = self.outputs[0]
        name = self._output_name(0)
        y = A.placeholder(out.dtype, shape=[None] + list(y_arrays[0].shape[1:]),
                          name=f"{name}_target")
        weights = A.placeholder_with_default(A.ones(A.shape(out)[:1], out.dtype), [None],
                                             name=f"{name}_sample_weights")
        rank = (out.shape.ndims or 2) - 1  # of the per-sample losses: the last axis reduced
        broadcast = A.reshape(weights, [-1] + [1] * (rank - 1)) if rank > 1 else weights
        # Keras: the per-sample losses times the weights, summed and divided by the number
        # of losses (SUM_OVER_BATCH_SIZE), not by the sum of the weights.
        total = loss(y, out, sample_weight=broadcast)
        extra = self.losses
        if extra:
            total = total + m.add_n([m.cast(x, total.dtype) for x in extra]) \
                if len(extra) > 1 else total + m.cast(extra[0], total.dtype)
        parts = []
        for _, fn in self._metric_fns():  # `metrics=` are unweighted in Keras
            if isinstance(fn, metrics.Metric):  # its result after this batch's update
                parts.append(fn(y, out))
                continue
            values = fn(y, out)
            parts += [m.reduce_sum(values), m.cast(m.size(values), values.dtype)]
        return [y], weights, total, parts

    def _function(self, kind, y_arrays=None, weighted=False):
        """The callable of `kind` ('train', 'test', 'predict'), made on first use; a
        weighted one also feeds the sample weights. Returns (callable, feeds_phase)."""
        key = kind + ("+weights" if weighted else "")
        if key in self._functions:
            return self._functions[key]
        if kind != "predict" and self._compiled is None:
            raise RuntimeError("You must compile your model before training/testing. Use "
                               "`model.compile(optimizer, loss)`.")
        with self.graph_scope():
            session = backend.get_session()
            feeds, phase = list(self.inputs), False
            if kind == "predict":
                fetches = list(self.outputs)
            else:
                if "targets" not in self._functions:
                    self._functions["targets"] = self._targets_and_losses(y_arrays)
                targets, weights, total, parts = self._functions["targets"]
                feeds += targets + ([weights] if weighted else [])
                fetches = [total] + parts
                if kind == "train":
                    if "train_op" not in self._functions:
                        self._functions["train_op"] = self._train_op(total)
                    fetches.append(self._functions["train_op"])
                    phase = backend.learning_phase() is backend.symbolic_learning_phase()
                    if phase:
                        feeds.append(backend.symbolic_learning_phase())
            if key == "train":
                self._train_step = (fetches, feeds)  # for benchmarks: the raw Session.run
            function = session.make_callable(fetches, feeds)
            backend.initialize_variables(session)
        self._functions[key] = (function, phase)
        return self._functions[key]

    def _train_op(self, total):
        params = self.trainable_weights
        if not params:
            raise ValueError(f"model {self.name} has no trainable weights to fit")
        if isinstance(self.optimizer, optimizers.OptimizerV2):
            step = self.optimizer.minimize(total, params)
        else:
            step = self.optimizer.minimize(total, var_list=params)
        return group(step, *self.updates)

    def _output_name(self, i) -> str:
        from graphc.keras.base_layer import history_of
        record = history_of(self.outputs[i])
        return record[0].layer.name if record else f"output_{i + 1}"

    def _input_names(self) -> list:
        from graphc.keras.base_layer import history_of
        names = []
        for t in self.inputs:
            record = history_of(t)
            names.append(record[0].layer.name if record else t.name.split(":")[0])
        return names

    # --- data --------------------------------------------------------------------------------
    def _standardize(self, x, y=None):
        """x and y as checked arrays of the placeholders' dtypes (the model built if need
        be), and the number of samples."""
        if self.inputs is None:
            several = isinstance(x, (list, tuple)) and all(isinstance(a, np.ndarray) for a in x)
            self._ensure_built([np.asarray(a) for a in (x if several else [x])])
        names = self._input_names()
        xs = data.check_shapes(data.as_list(x, names, "input"), self.inputs,
                               [self._described(n) for n in names], "input")
        if y is None:
            return xs, [], data.check_lengths(xs, [])
        out_names = [self._output_name(i) for i in range(len(self.outputs))]
        ys = data.as_list(y, out_names, "target")
        data.check_lengths(xs, ys)
        fn = losses.base_function(self._compiled[0]) if self._compiled else None
        relaxed = (0,) if fn is losses.sparse_categorical_crossentropy else ()
        ys = data.check_shapes(ys, self.outputs, out_names, "target", relaxed)
        if relaxed and ys[0].ndim == 1 and "targets" in self._functions:
            want = self._functions["targets"][0][0].shape.ndims
            ys = [ys[0].reshape(-1, 1) if want == 2 else ys[0]]
        return xs, ys, data.check_lengths(xs, ys)

    def _described(self, input_name: str) -> str:
        """An input's name, with the layer that takes it (errors name the layer)."""
        names = self._input_names()
        for node in self._nodes:
            for t in node.inputs:
                if any(t is x and names[i] == input_name for i, x in enumerate(self.inputs)):
                    return f"{input_name} (the input of layer '{node.layer.name}')"
        return input_name

    # --- running -----------------------------------------------------------------------------
    def _run(self, kind, feed, on_batch=None, reset=True):
        """Run `kind` over the feed's batches, one compiled call each: the epoch's [loss,
        *metrics] (train, test) or the list of output batches (predict). Metric functions
        average over samples; the loss too for arrays, over steps for datasets (as Keras);
        Metric objects, reset first (unless not `reset`), report their final result."""
        function, extra = None, ()
        totals, outputs, seen, steps = None, [], 0, 0
        for b, (arrays, size) in enumerate(feed.batches()):
            if function is None:
                ys = arrays[feed.n_x:feed.n_x + feed.n_y]
                function, phase = self._function(kind, ys, feed.weighted)
                extra = (np.array(True),) if phase else ()  # an array: the bound fast path
                if kind != "predict" and reset:
                    self.reset_metrics()
            if on_batch is not None:
                on_batch.on_batch_begin(b, {"batch": b, "size": size})
            results = function(*arrays, *extra)
            if kind == "predict":
                outputs.append(results)
                continue
            values = self._batch_values(results)
            totals = self._accumulate(totals, values, size, feed.per_step)
            seen, steps = seen + size, steps + 1
            if on_batch is not None:
                logs = {"batch": b, "size": size, **dict(zip(self.metrics_names, values))}
                on_batch.on_batch_end(b, logs)
                if self.stop_training:
                    break
        if kind == "predict":
            return outputs
        if totals is None:
            raise ValueError(f"{kind}: the data gave no batch (an empty dataset or array)")
        stateful = [False] + self._stateful()
        return [t if state else t / (steps if i == 0 and feed.per_step else seen)
                for i, (t, state) in enumerate(zip(totals, stateful))]

    def _accumulate(self, totals, values, size, per_step) -> list:
        """Running sums of the averaged entries (the loss per step or per sample, metric
        functions per sample); a Metric object's entry is its latest result."""
        stateful = [False] + self._stateful()
        out = []
        for i, (value, state) in enumerate(zip(values, stateful)):
            scale = 1.0 if i == 0 and per_step else float(size)
            out.append(value if state else value * scale +
                       (0.0 if totals is None else totals[i]))
        return out

    def _batch_values(self, results) -> list:
        """[loss, metric means or Metric results] of one batch from the callable's
        results (a result of one element as a float, a longer one as an array)."""
        values, at = [float(results[0])], 1
        for state in self._stateful():
            if state:
                values.append(_reported(results[at]))
                at += 1
            else:
                values.append(float(results[at]) / max(float(results[at + 1]), 1.0))
                at += 2
        return values

    def _check_compiled(self) -> None:
        if self._compiled is None:
            raise RuntimeError("You must compile your model before training/testing. Use "
                               "`model.compile(optimizer, loss)`.")

    def _array_feed(self, x, y, batch_size, sample_weight=None, class_weight=None,
                    shuffle=False):
        xs, ys, n = self._standardize(x, y)
        weights = data.weights_for(ys, n, sample_weight, class_weight) if ys else None
        return feeding.ArrayFeed(xs, ys, weights, batch_size or 32, shuffle)

    def _dataset_feed(self, dataset, steps, name, with_targets=True, class_weight=None,
                      **unused):
        """A feed over a Dataset; array-only arguments given with one are errors."""
        for arg, value in unused.items():
            if value is not None:
                raise ValueError(f"`{arg}` is not supported when the input is a tf.data "
                                 f"Dataset (found {arg}={_shown(value)}); "
                                 f"{_DATASET_HINTS.get(arg, '')}(at {user_location()})")
        if class_weight is not None and not isinstance(class_weight, dict):
            data.class_sample_weights(np.zeros(0), class_weight)  # the TypeError
        steps = feeding.check_steps(dataset, steps, name)
        return feeding.DatasetFeed(dataset, steps, self._standardize, with_targets,
                                   class_weight)

    def _feed(self, kind, x, y, batch_size, steps, steps_name, sample_weight=None,
              class_weight=None, shuffle=False):
        if feeding.is_dataset(x):
            return self._dataset_feed(x, steps, steps_name, kind != "predict", class_weight,
                                      y=y, batch_size=batch_size, sample_weight=sample_weight)
        if steps is not None:
            raise NotImplementedError(f"`{steps_name}` with numpy arrays (found "
                                      f"{steps_name}={steps}); it is supported with "
                                      "tf.data Datasets")
        return self._array_feed(x, y, batch_size, sample_weight, class_weight, shuffle)

    def _validation(self, validation_data, validation_split, validation_steps, train,
                    batch_size):
        """(train feed, a function making a fresh validation feed or None)."""
        if validation_data is not None:
            if feeding.is_dataset(validation_data):
                self._dataset_feed(validation_data, validation_steps, "validation_steps")
                return train, lambda: self._dataset_feed(validation_data, validation_steps,
                                                         "validation_steps")
            if not isinstance(validation_data, (tuple, list)) or \
                    len(validation_data) not in (2, 3):
                raise ValueError(f"validation_data must be a Dataset or a tuple (x, y) or "
                                 f"(x, y, sample_weight); found {_shown(validation_data)} "
                                 f"(at {user_location()})")
            feed = self._array_feed(*validation_data[:2], batch_size, *validation_data[2:])
            return train, lambda: feed
        if validation_split:
            if isinstance(train, feeding.DatasetFeed):
                raise ValueError(f"`validation_split` is only supported for numpy arrays, "
                                 f"not for a tf.data Dataset (found validation_split="
                                 f"{validation_split}) (at {user_location()})")
            xs, ys, vx, vy = data.split_validation(train.arrays[:train.n_x],
                                                   train.arrays[train.n_x:][:train.n_y],
                                                   validation_split)
            weights = train.arrays[-1] if train.weighted else None
            at = len(xs[0])
            cut = feeding.ArrayFeed(xs, ys, None if weights is None else weights[:at],
                                    train.batch_size, train.shuffle)
            val = feeding.ArrayFeed(vx, vy, None if weights is None else weights[at:],
                                    train.batch_size)
            return cut, lambda: val
        return train, None

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose=1, callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_steps=None,
            validation_freq=1, **kwargs):
        """Train on numpy arrays or a tf.data Dataset for `epochs`; returns the History
        callback."""
        if kwargs:
            raise TypeError(f"Unrecognized keyword arguments: {sorted(kwargs)}")
        self._check_compiled()
        train = self._feed("train", x, y, batch_size, steps_per_epoch, "steps_per_epoch",
                           sample_weight, class_weight, shuffle)
        train, val = self._validation(validation_data, validation_split, validation_steps,
                                      train, batch_size)
        hooks = self._fit_callbacks(callbacks, verbose, train, val is not None, {
            "batch_size": batch_size or 32 if isinstance(train, feeding.ArrayFeed) else None,
            "epochs": epochs, "steps": steps_per_epoch, "initial_epoch": initial_epoch})
        self.stop_training = False
        hooks.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            hooks.on_epoch_begin(epoch, {})
            logs = dict(zip(self.metrics_names, self._run("train", train, hooks)))
            if val is not None and (epoch + 1) % validation_freq == 0:
                vmeans = self._run("test", val())
                logs.update({"val_" + k: v for k, v in zip(self.metrics_names, vmeans)})
            hooks.on_epoch_end(epoch, logs)
            if self.stop_training or getattr(train, "ran_out", False):
                break
        hooks.on_train_end()
        return self.history

    def _fit_callbacks(self, callbacks, verbose, train, validates, params):
        self.history = cbks.History()
        chain = list(callbacks or []) + [self.history]  # History sees what callbacks add
        if verbose:
            chain.append(cbks.ProgbarLogger())
        names = self.metrics_names
        return cbks.CallbackList(chain, self, {
            **params, "samples": getattr(train, "samples", None), "verbose": verbose,
            "do_validation": validates,
            "metrics": names + ["val_" + k for k in names] if validates else names})

    def evaluate(self, x=None, y=None, batch_size=None, verbose=1, sample_weight=None,
                 steps=None, callbacks=None):
        """The loss (a float), or [loss, *metrics]: over the samples of numpy arrays, or
        over the batches of a Dataset (all of them, or `steps`)."""
        self._check_compiled()
        feed = self._feed("test", x, y, batch_size, steps, "steps", sample_weight)
        means = self._run("test", feed)
        return means[0] if len(means) == 1 else means

    def predict(self, x, batch_size=None, verbose=0, steps=None, callbacks=None):
        """The model's outputs for every sample of x (arrays, or a Dataset whose elements
        are inputs or (inputs, targets...)), batch by batch, concatenated."""
        parts = self._run("predict", self._feed("predict", x, None, batch_size, steps,
                                                "steps"))
        if not parts:
            raise ValueError(f"predict: the data gave no batch (at {user_location()})")
        outs = [np.concatenate([p[i] for p in parts]) for i in range(len(self.outputs))]
        return outs[0] if len(outs) == 1 else outs

    def train_on_batch(self, x, y, sample_weight=None, class_weight=None, reset_metrics=True):
        """One training step on this batch; its loss (or [loss, *metrics]). Metric objects
        start afresh unless reset_metrics=False (then they go on accumulating)."""
        return self._on_batch("train", x, y, sample_weight, class_weight, reset_metrics)

    def test_on_batch(self, x, y, sample_weight=None, reset_metrics=True):
        return self._on_batch("test", x, y, sample_weight, None, reset_metrics)

    def predict_on_batch(self, x):
        xs, _, n = self._standardize(x)
        feed = feeding.ArrayFeed(xs, [], None, max(n, 1))
        outs = self._run("predict", feed)[0]
        return outs[0] if len(outs) == 1 else outs

    def _on_batch(self, kind, x, y, sample_weight=None, class_weight=None, reset=True):
        self._check_compiled()
        feed = self._array_feed(x, y, None, sample_weight, class_weight)
        feed.batch_size = max(feed.samples, 1)
        means = self._run(kind, feed, reset=reset)
        return means[0] if len(means) == 1 else means


_DATASET_HINTS = {
    "y": "the dataset's elements must be (inputs, targets) tuples. ",
    "sample_weight": "give sample weights as the third part of each element: (inputs, "
                     "targets, sample_weights). ",
    "batch_size": "the dataset's batches set the batch size. ",
}


def _reported(value):
    """A metric's result as logs carry it: a float, or an array when it has several."""
    value = np.asarray(value)
    return float(value) if value.size == 1 else value


def _shown(value) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape}"
    return type(value).__name__ if isinstance(value, (list, tuple, dict)) else repr(value)
