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

from graphc.keras import backend, data, losses, metrics, optimizers
from graphc.keras import callbacks as cbks
from graphc.keras.network import Network
from graphc.ops import array_ops as A
from graphc.ops import math_ops as m
from graphc.ops.control_flow_ops import group


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
        self._compiled = (losses.get(loss), list(metrics or []))
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
        """Target placeholders shaped like `y_arrays`, the total loss and metric parts."""
        loss, _ = self._compiled
        if len(self.outputs) != 1:
            raise NotImplementedError("fit/evaluate support models with one output")
        out = self.outputs[0]
        y = A.placeholder(out.dtype, shape=[None] + list(y_arrays[0].shape[1:]),
                          name=f"{self._output_name(0)}_target")
        total = loss(y, out)
        extra = self.losses
        if extra:
            total = total + m.add_n([m.cast(x, total.dtype) for x in extra]) \
                if len(extra) > 1 else total + m.cast(extra[0], total.dtype)
        parts = []
        for _, fn in self._metric_fns():
            values = fn(y, out)
            parts += [m.reduce_sum(values), m.cast(m.size(values), values.dtype)]
        return [y], total, parts

    def _function(self, kind, y_arrays=None):
        """The callable of `kind` ('train', 'test', 'predict'), made on first use."""
        if kind in self._functions:
            return self._functions[kind]
        if kind != "predict" and self._compiled is None:
            raise RuntimeError("You must compile your model before training/testing. Use "
                               "`model.compile(optimizer, loss)`.")
        with self.graph_scope():
            session = backend.get_session()
            feeds = list(self.inputs)
            if kind == "predict":
                fetches = list(self.outputs)
            else:
                if "targets" not in self._functions:
                    self._functions["targets"] = self._targets_and_losses(y_arrays)
                targets, total, parts = self._functions["targets"]
                feeds += targets
                fetches = [total] + parts
                if kind == "train":
                    fetches.append(self._train_op(total))
                    if backend.learning_phase() is backend.symbolic_learning_phase():
                        feeds.append(backend.symbolic_learning_phase())
            if kind == "train":
                self._train_step = (fetches, feeds)  # for benchmarks: the raw Session.run
            function = session.make_callable(fetches, feeds)
            backend.initialize_variables(session)
        self._functions[kind] = (function, len(feeds) > len(self.inputs) + (kind != "predict"))
        return self._functions[kind]

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
    def _run_batches(self, kind, xs, ys, n, batch_size, index=None, on_batch=None):
        """Run `kind` over all batches; the sample-weighted sums of loss and metrics (train,
        test) or the list of output batches (predict)."""
        function, phase = self._function(kind, ys)
        extra = (np.array(True),) if phase else ()  # an array: the bound fast path
        totals, outputs = None, []
        arrays = xs + ys
        for b, (start, stop, ids) in enumerate(data.batches(n, batch_size, index)):
            if on_batch is not None:
                on_batch.on_batch_begin(b, {"batch": b, "size": stop - start})
            results = function(*data.take(arrays, start, stop, ids), *extra)
            if kind == "predict":
                outputs.append(results)
                continue
            values = self._batch_values(results)
            size = stop - start
            weighted = np.array(values) * size
            totals = weighted if totals is None else totals + weighted
            if on_batch is not None:
                logs = {"batch": b, "size": size, **dict(zip(self.metrics_names, values))}
                on_batch.on_batch_end(b, logs)
                if self.stop_training:
                    break
            n_done = stop
        if kind == "predict":
            return outputs
        return totals / n_done

    def _batch_values(self, results) -> list:
        """[loss, metric means] of one batch from the callable's results."""
        values = [float(results[0])]
        parts = results[1:1 + 2 * (len(self.metrics_names) - 1)]
        values += [float(parts[i]) / max(float(parts[i + 1]), 1.0)
                   for i in range(0, len(parts), 2)]
        return values

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose=1, callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_steps=None,
            validation_freq=1, **kwargs):
        """Train on numpy data for `epochs`; returns the History callback."""
        for name, value in (("class_weight", class_weight), ("sample_weight", sample_weight),
                            ("steps_per_epoch", steps_per_epoch)):
            if value is not None:
                raise NotImplementedError(f"fit({name}=...) is not supported by graphc's Keras")
        if kwargs:
            raise TypeError(f"Unrecognized keyword arguments: {sorted(kwargs)}")
        if self._compiled is None:
            raise RuntimeError("You must compile your model before training/testing. Use "
                               "`model.compile(optimizer, loss)`.")
        batch_size = batch_size or 32
        xs, ys, n = self._standardize(x, y)
        val = None
        if validation_data is not None:
            if len(validation_data) == 3:
                raise NotImplementedError("validation_data with sample weights")
            vx, vy, _ = self._standardize(*validation_data)
            val = (vx, vy)
        elif validation_split:
            xs, ys, vx, vy = data.split_validation(xs, ys, validation_split)
            n, val = len(xs[0]), (vx, vy)
        self.history = cbks.History()
        chain = list(callbacks or []) + [self.history]  # History sees what callbacks add
        if verbose:
            chain.append(cbks.ProgbarLogger())
        names = self.metrics_names
        hooks = cbks.CallbackList(chain, self, {
            "batch_size": batch_size, "epochs": epochs, "samples": n, "verbose": verbose,
            "do_validation": val is not None, "initial_epoch": initial_epoch,
            "metrics": names + ["val_" + k for k in names] if val else names})
        self.stop_training = False
        hooks.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            hooks.on_epoch_begin(epoch, {})
            index = None
            if shuffle:
                index = np.arange(n)
                np.random.shuffle(index)
            means = self._run_batches("train", xs, ys, n, batch_size, index, hooks)
            logs = dict(zip(self.metrics_names, map(float, means)))
            if val is not None and (epoch + 1) % validation_freq == 0:
                vmeans = self._run_batches("test", val[0], val[1], len(val[0][0]), batch_size)
                logs.update({"val_" + k: float(v) for k, v in zip(self.metrics_names, vmeans)})
            hooks.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        hooks.on_train_end()
        return self.history

    def evaluate(self, x=None, y=None, batch_size=None, verbose=1, sample_weight=None,
                 steps=None, callbacks=None):
        """The loss (a float), or [loss, *metrics], averaged over the samples."""
        if sample_weight is not None or steps is not None:
            raise NotImplementedError("evaluate(sample_weight=..., steps=...)")
        xs, ys, n = self._standardize(x, y)
        means = [float(v) for v in self._run_batches("test", xs, ys, n, batch_size or 32)]
        return means[0] if len(means) == 1 else means

    def predict(self, x, batch_size=None, verbose=0, steps=None, callbacks=None):
        """The model's outputs for every sample of x, batch by batch, concatenated."""
        xs, _, n = self._standardize(x)
        parts = self._run_batches("predict", xs, [], n, batch_size or 32)
        outs = [np.concatenate([p[i] for p in parts]) for i in range(len(self.outputs))]
        return outs[0] if len(outs) == 1 else outs

    def train_on_batch(self, x, y, sample_weight=None, class_weight=None, reset_metrics=True):
        """One training step on this batch; its loss (or [loss, *metrics])."""
        return self._on_batch("train", x, y)

    def test_on_batch(self, x, y, sample_weight=None, reset_metrics=True):
        return self._on_batch("test", x, y)

    def predict_on_batch(self, x):
        xs, _, n = self._standardize(x)
        outs = self._run_batches("predict", xs, [], n, max(n, 1))[0]
        return outs[0] if len(outs) == 1 else outs

    def _on_batch(self, kind, x, y):
        if self._compiled is None:
            raise RuntimeError("You must compile your model before training/testing. Use "
                               "`model.compile(optimizer, loss)`.")
        xs, ys, n = self._standardize(x, y)
        means = [float(v) for v in self._run_batches(kind, xs, ys, n, max(n, 1))]
        return means[0] if len(means) == 1 else means
