"""The fixed C text of every artifact's wrapper (cabi.py fills in the data between the two
parts). `NAME` stands for the artifact's name.

PRELUDE declares the tables' types. API expects, from the data part: NUM_INPUTS,
NUM_OUTPUTS, NUM_VARIANTS, TABLE_SIZE, ARENA_BYTES, SYMBOLIC, MAX_BATCH, VERSION,
ABI_VERSION, WEIGHTS, POOL_SHUTDOWN, `inputs[]`, `outputs[]` (port_t) and `variants[]`
(variant_t, by decreasing block; the last block is 1 when SYMBOLIC, so any batch size is a
sum of blocks).

Table entries: slot kind 0 is the arena at a byte offset, 1 the weights at a byte offset,
2 input number i (advanced by the block's first row when the input is batched). A plan's
entry returns 0, or (kernel << 16) | (1 + check code) when a check failed.
"""

PRELUDE = r"""
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GRAPHC_HIDDEN __attribute__((visibility("hidden")))
#define GRAPHC_API __attribute__((visibility("default")))

typedef struct {
    const char *name;
    int32_t dtype;
    int32_t rank;
    const int64_t *dims;    /* -1: the batch dimension */
    int32_t batched;
    int64_t row_bytes;      /* bytes per batch row; of the whole array when not batched */
} port_t;

typedef struct {
    int64_t block;          /* batch rows per call; 0: fixed shapes */
    int32_t nslots;
    int32_t table_offset;   /* where its pointer table starts in the context's */
    const int64_t (*slots)[2];
    const int32_t *outputs; /* table entry per output */
    const int32_t *message_start;  /* per kernel, into messages; one more at the end */
    int32_t nkernels;
    const char *const *messages;
    int32_t (*entry)(void *const *table);
} variant_t;
"""

API = r"""
struct NAME_context {
    unsigned char *arena;
    void *table[TABLE_SIZE];
    char error[1024];
};

static int fail(NAME_context *ctx, int code, const char *format, ...) {
    va_list args;
    va_start(args, format);
    vsnprintf(ctx->error, sizeof ctx->error, format, args);
    va_end(args);
    return code;
}

GRAPHC_API NAME_context *NAME_create(void) {
    NAME_context *ctx = (NAME_context *)calloc(1, sizeof *ctx);
    if (ctx == NULL) return NULL;
    if (ARENA_BYTES > 0) {
        void *arena = NULL;
        if (posix_memalign(&arena, 64, (size_t)ARENA_BYTES) != 0) {
            free(ctx);
            return NULL;
        }
        ctx->arena = (unsigned char *)arena;
    }
    for (int v = 0; v < NUM_VARIANTS; ++v) {
        const variant_t *var = &variants[v];
        void **table = ctx->table + var->table_offset;
        for (int s = 0; s < var->nslots; ++s) {
            int64_t kind = var->slots[s][0], at = var->slots[s][1];
            if (kind == 0) table[s] = ctx->arena + at;
            else if (kind == 1) table[s] = (void *)(WEIGHTS + at);
        }
    }
    return ctx;
}

GRAPHC_API void NAME_destroy(NAME_context *ctx) {
    if (ctx == NULL) return;
    free(ctx->arena);
    free(ctx);
}

GRAPHC_API const char *NAME_error(const NAME_context *ctx) {
    return ctx == NULL ? "NAME: the context is NULL" : ctx->error;
}

static int64_t bytes_of(const port_t *p, int64_t batch) {
    return p->batched ? batch * p->row_bytes : p->row_bytes;
}

static int overlap(const void *a, int64_t na, const void *b, int64_t nb) {
    uintptr_t x = (uintptr_t)a, y = (uintptr_t)b;
    return na > 0 && nb > 0 && x < y + (uintptr_t)nb && y < x + (uintptr_t)na;
}

static int check_args(NAME_context *ctx, int64_t batch, const void *const *in,
                      void *const *out) {
    if (NUM_INPUTS > 0 && in == NULL)
        return fail(ctx, GRAPHC_ERROR_NULL, "NAME: the inputs array is NULL");
    if (NUM_OUTPUTS > 0 && out == NULL)
        return fail(ctx, GRAPHC_ERROR_NULL, "NAME: the outputs array is NULL");
    for (int i = 0; i < NUM_INPUTS; ++i)
        if (in[i] == NULL)
            return fail(ctx, GRAPHC_ERROR_NULL, "NAME: input %d (%s) is NULL", i,
                        inputs[i].name);
    for (int o = 0; o < NUM_OUTPUTS; ++o) {
        if (out[o] == NULL)
            return fail(ctx, GRAPHC_ERROR_NULL, "NAME: output %d (%s) is NULL", o,
                        outputs[o].name);
        int64_t n = bytes_of(&outputs[o], batch);
        for (int i = 0; i < NUM_INPUTS; ++i)
            if (overlap(out[o], n, in[i], bytes_of(&inputs[i], batch)))
                return fail(ctx, GRAPHC_ERROR_OVERLAP, "NAME: output %d (%s) overlaps input "
                            "%d (%s)", o, outputs[o].name, i, inputs[i].name);
        for (int p = 0; p < o; ++p)
            if (overlap(out[o], n, out[p], bytes_of(&outputs[p], batch)))
                return fail(ctx, GRAPHC_ERROR_OVERLAP, "NAME: output %d (%s) overlaps output "
                            "%d (%s)", o, outputs[o].name, p, outputs[p].name);
    }
    return GRAPHC_OK;
}

static int failed_check(NAME_context *ctx, const variant_t *var, int32_t status) {
    int32_t kernel = status >> 16, code = (status & 0xFFFF) - 1;
    const char *message = "a run-time check failed";
    if (kernel >= 0 && kernel < var->nkernels && code >= 0 &&
            var->message_start[kernel] + code < var->message_start[kernel + 1])
        message = var->messages[var->message_start[kernel] + code];
    return fail(ctx, GRAPHC_ERROR_CHECK, "NAME: %s", message);
}

/* One call of a plan on rows [row, row + block) (all of it for fixed shapes). */
static int run_block(NAME_context *ctx, const variant_t *var, int64_t row, int first,
                     const void *const *in, void *const *out) {
    void **table = ctx->table + var->table_offset;
    for (int s = 0; s < var->nslots; ++s) {
        if (var->slots[s][0] != 2) continue;
        const port_t *p = &inputs[var->slots[s][1]];
        const unsigned char *base = (const unsigned char *)in[var->slots[s][1]];
        table[s] = (void *)(base + (p->batched ? row * p->row_bytes : 0));
    }
    int32_t status = var->entry(table);
    if (status != 0) return failed_check(ctx, var, status);
    for (int o = 0; o < NUM_OUTPUTS; ++o) {
        const port_t *p = &outputs[o];
        const void *value = table[var->outputs[o]];
        if (p->batched)
            memcpy((unsigned char *)out[o] + row * p->row_bytes, value,
                   (size_t)(var->block * p->row_bytes));
        else if (first)
            memcpy(out[o], value, (size_t)p->row_bytes);
    }
    return GRAPHC_OK;
}

GRAPHC_API int NAME_run_batch(NAME_context *ctx, int64_t batch, const void *const *in,
                              void *const *out) {
    if (ctx == NULL) return GRAPHC_ERROR_NULL;
    ctx->error[0] = '\0';
    if (!SYMBOLIC)
        return fail(ctx, GRAPHC_ERROR_BATCH, "NAME has fixed shapes: call NAME_run, not "
                    "NAME_run_batch");
    if (batch < 1 || batch > MAX_BATCH)
        return fail(ctx, GRAPHC_ERROR_BATCH, "NAME: batch size %lld is out of range [1, %lld]",
                    (long long)batch, (long long)MAX_BATCH);
    int rc = check_args(ctx, batch, in, out);
    if (rc != GRAPHC_OK) return rc;
    int64_t row = 0;
    for (int v = 0; v < NUM_VARIANTS; ++v) {
        const variant_t *var = &variants[v];
        while (batch - row >= var->block) {
            rc = run_block(ctx, var, row, row == 0, in, out);
            if (rc != GRAPHC_OK) return rc;
            row += var->block;
        }
    }
    return GRAPHC_OK;
}

GRAPHC_API int NAME_run(NAME_context *ctx, const void *const *in, void *const *out) {
    if (ctx == NULL) return GRAPHC_ERROR_NULL;
    ctx->error[0] = '\0';
    if (SYMBOLIC)
        return fail(ctx, GRAPHC_ERROR_BATCH, "NAME has a symbolic batch size: call "
                    "NAME_run_batch with the batch size");
    int rc = check_args(ctx, 0, in, out);
    if (rc != GRAPHC_OK) return rc;
    return run_block(ctx, &variants[0], 0, 1, in, out);
}

static const port_t *port_at(const port_t *ports, int n, int i) {
    return i >= 0 && i < n ? &ports[i] : NULL;
}

static int shape_of(const port_t *p, int64_t *dims) {
    if (p == NULL) return -1;
    for (int r = 0; dims != NULL && r < p->rank; ++r) dims[r] = p->dims[r];
    return p->rank;
}

static int64_t size_of(const port_t *p, int64_t batch) {
    if (p == NULL || (p->batched && batch < 0)) return -1;
    return bytes_of(p, batch);
}

GRAPHC_API int64_t NAME_max_batch(void) { return MAX_BATCH; }
GRAPHC_API int NAME_num_inputs(void) { return NUM_INPUTS; }
GRAPHC_API int NAME_num_outputs(void) { return NUM_OUTPUTS; }
GRAPHC_API const char *NAME_input_name(int i) {
    const port_t *p = port_at(inputs, NUM_INPUTS, i);
    return p ? p->name : NULL;
}
GRAPHC_API int NAME_input_dtype(int i) {
    const port_t *p = port_at(inputs, NUM_INPUTS, i);
    return p ? p->dtype : -1;
}
GRAPHC_API int NAME_input_shape(int i, int64_t *dims) {
    return shape_of(port_at(inputs, NUM_INPUTS, i), dims);
}
GRAPHC_API int64_t NAME_input_bytes(int i, int64_t batch) {
    return size_of(port_at(inputs, NUM_INPUTS, i), batch);
}
GRAPHC_API const char *NAME_output_name(int i) {
    const port_t *p = port_at(outputs, NUM_OUTPUTS, i);
    return p ? p->name : NULL;
}
GRAPHC_API int NAME_output_dtype(int i) {
    const port_t *p = port_at(outputs, NUM_OUTPUTS, i);
    return p ? p->dtype : -1;
}
GRAPHC_API int NAME_output_shape(int i, int64_t *dims) {
    return shape_of(port_at(outputs, NUM_OUTPUTS, i), dims);
}
GRAPHC_API int64_t NAME_output_bytes(int i, int64_t batch) {
    return size_of(port_at(outputs, NUM_OUTPUTS, i), batch);
}
GRAPHC_API const char *NAME_version(void) { return VERSION; }
GRAPHC_API int NAME_abi_version(void) { return ABI_VERSION; }

/* The pool's workers run code of this library: join them before it is unmapped. */
__attribute__((destructor)) static void unload(void) { POOL_SHUTDOWN(); }
"""
