"""Hugging Face GPT-2 weights in a TransformerLM.

A TransformerLM built from `TransformerLMConfig.gpt2(...)` computes what GPT2LMHeadModel
computes (pre-LN blocks, tanh GELU, learned positions, tied embeddings, layer-norm eps
1e-5, attention scaled by 1/sqrt(head_dim)), and its variables are GPT-2's modules renamed:
GPT-2's Conv1D keeps its weight [in, out], as the model's kernels are, so every tensor
loads as it is. The state-dict names, with or without the `transformer.` prefix that
GPT2LMHeadModel adds to GPT2Model's:

    wte.weight [V, d]            -> wte              wpe.weight [n_pos, d] -> wpe
    h.{i}.ln_1.weight / .bias    -> h{i}/ln_1/gamma / beta   (ln_2, ln_f alike)
    h.{i}.attn.c_attn.weight     -> h{i}/attn/c_attn/kernel  [d, 3d] (q, k, v side by side)
    h.{i}.attn.c_proj.weight     -> h{i}/attn/c_proj/kernel  [d, d]
    h.{i}.mlp.c_fc.weight        -> h{i}/mlp/c_fc/kernel     [d, d_ff]
    h.{i}.mlp.c_proj.weight      -> h{i}/mlp/c_proj/kernel   [d_ff, d]
    (each .bias -> .../bias)
    lm_head.weight [V, d]        -> wte (tied: must equal wte.weight) or lm_head/kernel^T

The buffers older versions save (`h.{i}.attn.bias`, the causal mask, and
`h.{i}.attn.masked_bias`) are not weights and are skipped.
"""

from __future__ import annotations

import os

import numpy as np

from graphc.models.text.transformer_lm import TransformerLM

PREFIX = "transformer."
_BUFFERS = (".attn.bias", ".attn.masked_bias")
_LISTED = 12


def gpt2_names(model: TransformerLM) -> dict:
    """{GPT2LMHeadModel state-dict name: (variable name in the model, shape in the file)},
    in the state dict's order. Raises where the model's configuration is not GPT-2's."""
    _check_architecture(model)
    c = model.config
    names = {f"{PREFIX}wte.weight": ("wte", (c.vocab_size, c.d_model)),
             f"{PREFIX}wpe.weight": ("wpe", (c.max_len, c.d_model))}
    for i in range(c.num_layers):
        for hf, ours in (("ln_1", "ln_1"), ("attn.c_attn", "attn/c_attn"),
                         ("attn.c_proj", "attn/c_proj"), ("ln_2", "ln_2"),
                         ("mlp.c_fc", "mlp/c_fc"), ("mlp.c_proj", "mlp/c_proj")):
            weight, bias = ("gamma", "beta") if hf.startswith("ln") else ("kernel", "bias")
            for suffix, var in (("weight", weight), ("bias", bias)):
                name = f"h{i}/{ours}/{var}"
                names[f"{PREFIX}h.{i}.{hf}.{suffix}"] = (name, tuple(model.variables[name].shape))
    names[f"{PREFIX}ln_f.weight"] = ("ln_f/gamma", (c.d_model,))
    names[f"{PREFIX}ln_f.bias"] = ("ln_f/beta", (c.d_model,))
    head = "wte" if c.tie_embeddings else "lm_head/kernel"
    names["lm_head.weight"] = (head, (c.vocab_size, c.d_model))
    return names


def load_gpt2_weights(model: TransformerLM, weights, session) -> None:
    """Set the model's variables in `session` from GPT-2 weights: a dict {name: array}
    (a state dict; torch tensors are converted with .numpy()) or a safetensors file.
    Missing, unknown or mis-shaped weights are one ValueError listing them all; with tied
    embeddings `lm_head.weight` may be absent, and when present must equal `wte.weight`."""
    arrays = _read(weights)
    names = gpt2_names(model)
    found = {n if n == "lm_head.weight" or n.startswith(PREFIX) else PREFIX + n: a
             for n, a in arrays.items() if not n.endswith(_BUFFERS)}
    optional = {"lm_head.weight"} if model.config.tie_embeddings else set()
    missing = [n for n in names if n not in found and n not in optional]
    unknown = [n for n in found if n not in names]
    wrong = [f"{n}: given {tuple(found[n].shape)}, expected {names[n][1]}" for n in names
             if n in found and tuple(found[n].shape) != names[n][1]]
    _report(model, missing, unknown, wrong)
    if "lm_head.weight" in found and model.config.tie_embeddings and not np.array_equal(
            found["lm_head.weight"], found[f"{PREFIX}wte.weight"]):
        raise ValueError(f"load_gpt2_weights: lm_head.weight differs from wte.weight, but "
                         f"'{model.name}' ties its embeddings (tie_embeddings=True)")
    for name, (var, _) in names.items():
        if name not in found or (name == "lm_head.weight" and model.config.tie_embeddings):
            continue
        value = found[name].T if var == "lm_head/kernel" else found[name]
        # C order: Session.load_variable keeps a transposed view's strides
        value = np.ascontiguousarray(value, model.dtype.as_numpy_dtype)
        model.variables[var].load(value, session)


def _check_architecture(model):
    if not isinstance(model, TransformerLM):
        raise TypeError(f"GPT-2 weights need a TransformerLM, got {type(model).__name__}")
    c = model.config
    differs = [f"{field}={getattr(c, field)!r} (GPT-2: {want!r})" for field, want in
               (("positions", "learned"), ("activation", "gelu_tanh"))
               if getattr(c, field) != want]
    if differs:
        raise ValueError(f"'{model.name}' is not GPT-2's architecture: {', '.join(differs)}; "
                         f"build it from TransformerLMConfig.gpt2(...)")


def _read(weights) -> dict:
    if isinstance(weights, (str, os.PathLike)):
        from graphc.saving.format import TensorFile
        f = TensorFile(os.fspath(weights))
        return {n: f.get(n) for n in f.names()}
    if not isinstance(weights, dict):
        raise TypeError(f"load_gpt2_weights: weights must be a dict of arrays or a safetensors "
                        f"path, got {type(weights).__name__}")
    return {n: a.detach().cpu().numpy() if hasattr(a, "detach") else np.asarray(a)
            for n, a in weights.items()}


def _report(model, missing, unknown, wrong):
    if not (missing or unknown or wrong):
        return
    parts = [f"load_gpt2_weights: the weights do not match '{model.name}':"]
    for title, items in (("missing", missing), ("unknown to the model", unknown),
                         ("wrong shape", wrong)):
        if items:
            more = f", ... and {len(items) - _LISTED} more" if len(items) > _LISTED else ""
            parts.append(f"  {title} ({len(items)}): {', '.join(items[:_LISTED])}{more}")
    raise ValueError("\n".join(parts))
