"""The C side of an artifact: the header users include and the wrapper behind it.

The wrapper is plain C99 (plus `__attribute__` and one top-level `asm` block that embeds the
weights with `.incbin`, both understood by GCC and Clang). It owns everything the native
object does not: contexts, the pointer tables, argument checks, the batch loop and error
messages. Its only external symbols are the `<name>_*` API functions; the object's entries
and the weights are hidden symbols of the same library.

Contract of a run (documented to users in the generated header and docs/aot.md): a null
context, input or output pointer, a batch size out of range (outside [1, max_batch], or one
for which an array's byte size would not fit in int64), or an output range that overlaps
an input or another output is refused with an error code before native code reads anything;
a check of the graph that fails (an assertion, a gather index out of range) stops the run
with GRAPHC_ERROR_CHECK and the op's message. Outputs are then unspecified.
"""

from __future__ import annotations

from graphc.aot.cabi_runtime import API, HEADER, PRELUDE
from graphc.aot.model import DTYPE_CODES, MAX_BYTES, Port, Variant

ABI_VERSION = 1


def _c_string(text: str) -> str:
    """A C string literal of `text` (UTF-8; octal escapes, so no escape swallows the next
    character; '?' escaped against trigraphs)."""
    out = []
    for byte in text.encode("utf-8"):
        ch = chr(byte)
        if ch in '\\"?':
            out.append("\\" + ch)
        elif 32 <= byte < 127:
            out.append(ch)
        else:
            out.append(f"\\{byte:03o}")
    return '"' + "".join(out) + '"'


def _shape_text(port: Port) -> str:
    dims = ["batch" if d is None else str(d) for d in port.shape]
    return "[" + ", ".join(dims) + "]"


def render_header(name: str, inputs: list, outputs: list, symbolic: bool, version: str) -> str:
    """The public header <name>.h."""
    ports = [f" *   input  {i}: {p.name} {p.dtype} {_shape_text(p)}"
             for i, p in enumerate(inputs)]
    ports += [f" *   output {i}: {p.name} {p.dtype} {_shape_text(p)}"
              for i, p in enumerate(outputs)]
    run_note = (f"{name}_run_batch(ctx, batch, ...) with 1 <= batch <= {name}_max_batch()"
                if symbolic else f"{name}_run(ctx, ...) (fixed shapes)")
    return HEADER.substitute(name=name, NAME=name.upper(), version=version, abi=ABI_VERSION,
                             ports="\n".join(ports), run_note=run_note,
                             num_inputs=len(inputs), num_outputs=len(outputs),
                             symbolic=int(symbolic))


def _ports_c(kind: str, ports: list) -> str:
    lines = []
    for i, p in enumerate(ports):
        dims = ", ".join("-1" if d is None else str(d) for d in p.shape) or "0"
        lines.append(f"static const int64_t {kind}_dims{i}[] = {{{dims}}};")
    table = ",\n    ".join(
        f"{{{_c_string(p.name)}, {DTYPE_CODES[p.dtype]}, {len(p.shape)}, {kind}_dims{i}, "
        f"{int(p.batched)}, {p.row_bytes}}}" for i, p in enumerate(ports))
    lines.append(f"static const port_t {kind}[] = {{\n    {table or '{0}'}\n}};")
    return "\n".join(lines)


def _variant_c(name: str, index: int, v: Variant) -> str:
    kinds = {"arena": 0, "weights": 1, "input": 2}
    slots = ", ".join(f"{{{kinds[k]}, {x}}}" for k, x in v.slots) or "{0, 0}"
    outputs = ", ".join(str(s) for s in v.outputs) or "0"
    starts, flat = [], []
    for per_kernel in v.messages:
        starts.append(len(flat))
        flat += per_kernel
    starts.append(len(flat))
    messages = ",\n    ".join(_c_string(m) for m in flat) or '""'
    return f"""\
extern int32_t {name}_graphc_run_{index}(void *const *table) GRAPHC_HIDDEN;
static const int64_t v{index}_slots[][2] = {{{slots}}};
static const int32_t v{index}_outputs[] = {{{outputs}}};
static const int32_t v{index}_message_start[] = {{{", ".join(map(str, starts))}}};
static const char *const v{index}_messages[] = {{
    {messages}
}};"""


def _weights_c(name: str, weights_path: str, weights_bytes: int) -> str:
    """The weights as a hidden symbol: the blob file embedded with .incbin (no C array, so
    large models compile as fast as small ones)."""
    symbol = f"{name}_graphc_weights"
    if not weights_bytes:
        return f"static const unsigned char {symbol}[64] __attribute__((aligned(64)));"
    path = weights_path.replace("\\", "\\\\").replace('"', '\\"')
    return (f'__asm__(".pushsection .rodata\\n.balign 64\\n.globl {symbol}\\n'
            f'.hidden {symbol}\\n{symbol}:\\n.incbin \\"{path}\\"\\n.popsection\\n");\n'
            f"extern const unsigned char {symbol}[] GRAPHC_HIDDEN;")


def _check_sizes(inputs: list, outputs: list, variants: list, max_batch: int) -> None:
    """The wrapper computes byte sizes in int64 from the tables it is given: they must be
    what export validates (non-negative dims, sizes below MAX_BYTES at max_batch rows), or a
    negative or wrapped size would reach memcpy. Raises ValueError otherwise."""
    if not 0 <= max_batch < MAX_BYTES:
        raise ValueError(f"max_batch {max_batch} is outside [0, 2**62)")
    rows = max([max_batch] + [v.block for v in variants])
    for kind, ports in (("input", inputs), ("output", outputs)):
        for port in ports:
            problem = port.size_error(rows)
            if problem is not None:
                raise ValueError(f"{kind} {problem}")
    for v in variants:
        if not 0 <= v.arena_bytes < MAX_BYTES:
            raise ValueError(f"a workspace of {v.arena_bytes} bytes is outside [0, 2**62)")


def render_wrapper(name: str, inputs: list, outputs: list, variants: list, weights_path: str,
                   weights_bytes: int, max_batch: int, version: str) -> str:
    """The wrapper's C source; `weights_path` is the blob that .incbin embeds when the
    wrapper is compiled. `variants` come by decreasing block."""
    _check_sizes(inputs, outputs, variants, max_batch)
    table_sizes = [max(len(v.slots), 1) for v in variants]
    offsets = [sum(table_sizes[:i]) for i in range(len(variants))]
    rows = ",\n    ".join(
        f"{{{v.block}, {len(v.slots)}, {offsets[i]}, v{i}_slots, v{i}_outputs, "
        f"v{i}_message_start, {len(v.messages)}, v{i}_messages, {name}_graphc_run_{i}}}"
        for i, v in enumerate(variants))
    symbolic = variants[0].block > 0
    data = [
        f"#define NUM_INPUTS {len(inputs)}",
        f"#define NUM_OUTPUTS {len(outputs)}",
        f"#define NUM_VARIANTS {len(variants)}",
        f"#define TABLE_SIZE {sum(table_sizes)}",
        f"#define ARENA_BYTES {max(v.arena_bytes for v in variants)}LL",
        f"#define SYMBOLIC {int(symbolic)}",
        f"#define MAX_BATCH {max_batch if symbolic else 0}LL",
        f"#define VERSION {_c_string(version)}",
        f"#define ABI_VERSION {ABI_VERSION}",
        f"#define WEIGHTS {name}_graphc_weights",
        f"#define POOL_SHUTDOWN {name}_graphc_pool_shutdown",
        _weights_c(name, weights_path, weights_bytes),
        f"extern void {name}_graphc_pool_shutdown(void) GRAPHC_HIDDEN;",
        _ports_c("inputs", inputs),
        _ports_c("outputs", outputs),
        *(_variant_c(name, i, v) for i, v in enumerate(variants)),
        f"static const variant_t variants[] = {{\n    {rows}\n}};",
    ]
    return "\n".join([
        f"/* Generated by graphc {version}: the implementation of {name}.h. Do not edit. */",
        "#define _POSIX_C_SOURCE 200809L",
        f'#include "{name}.h"',
        PRELUDE,
        *data,
        API.replace("NAME", name),
    ])
