/* The error paths of the C boundary, on the "stats" test artifact (inputs x [batch, 5, 3]
 * float32, idx [batch] int32, scale [3] float32). Every CHECK that fails prints its line
 * and the program exits 1; "ok" and exit 0 when all hold. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stats.h"

#define CHECK(cond)                                                    \
    do {                                                               \
        if (!(cond)) {                                                 \
            fprintf(stderr, "errors.c:%d: CHECK(%s) failed\n", __LINE__, #cond); \
            return 1;                                                  \
        }                                                              \
    } while (0)

int main(void) {
    enum { BATCH = 3 };
    float x[BATCH * 5 * 3] = {0}, scale[3] = {1, 2, 3};
    int32_t idx[BATCH] = {0, 1, 2};
    const void *in[] = {x, idx, scale};
    void *out[STATS_NUM_OUTPUTS];
    for (int o = 0; o < STATS_NUM_OUTPUTS; ++o) out[o] = malloc((size_t)stats_output_bytes(o, BATCH));

    /* queries */
    CHECK(stats_num_inputs() == 3 && stats_max_batch() > 0 && STATS_SYMBOLIC_BATCH == 1);
    CHECK(strcmp(stats_input_name(1), "idx") == 0 && stats_input_name(3) == NULL);
    CHECK(stats_input_name(-1) == NULL && stats_output_name(STATS_NUM_OUTPUTS) == NULL);
    CHECK(stats_input_dtype(1) == GRAPHC_INT32 && stats_input_dtype(7) == -1);
    int64_t dims[3];
    CHECK(stats_input_shape(0, dims) == 3 && dims[0] == -1 && dims[1] == 5 && dims[2] == 3);
    CHECK(stats_input_shape(2, NULL) == 1 && stats_input_shape(5, dims) == -1);
    CHECK(stats_input_bytes(0, BATCH) == BATCH * 15 * 4 && stats_input_bytes(2, 99) == 12);
    CHECK(stats_input_bytes(0, -1) == -1 && stats_input_bytes(9, 1) == -1);
    CHECK(stats_abi_version() == 1 && strlen(stats_version()) > 0);

    /* a null context */
    CHECK(stats_run_batch(NULL, BATCH, in, out) == GRAPHC_ERROR_NULL);
    CHECK(stats_run(NULL, in, out) == GRAPHC_ERROR_NULL);
    CHECK(strstr(stats_error(NULL), "NULL") != NULL);
    stats_destroy(NULL);

    stats_context *ctx = stats_create();
    CHECK(ctx != NULL && strcmp(stats_error(ctx), "") == 0);

    /* null inputs and outputs */
    CHECK(stats_run_batch(ctx, BATCH, NULL, out) == GRAPHC_ERROR_NULL);
    CHECK(strstr(stats_error(ctx), "inputs") != NULL);
    CHECK(stats_run_batch(ctx, BATCH, in, NULL) == GRAPHC_ERROR_NULL);
    const void *missing[] = {x, NULL, scale};
    CHECK(stats_run_batch(ctx, BATCH, missing, out) == GRAPHC_ERROR_NULL);
    CHECK(strstr(stats_error(ctx), "input 1 (idx) is NULL") != NULL);
    void *first = out[0];
    out[0] = NULL;
    CHECK(stats_run_batch(ctx, BATCH, in, out) == GRAPHC_ERROR_NULL);
    CHECK(strstr(stats_error(ctx), "output 0") != NULL);
    out[0] = first;

    /* batch sizes out of range, and the wrong run function */
    CHECK(stats_run_batch(ctx, 0, in, out) == GRAPHC_ERROR_BATCH);
    CHECK(strstr(stats_error(ctx), "out of range") != NULL);
    CHECK(stats_run_batch(ctx, -5, in, out) == GRAPHC_ERROR_BATCH);
    CHECK(stats_run_batch(ctx, stats_max_batch() + 1, in, out) == GRAPHC_ERROR_BATCH);
    CHECK(stats_run(ctx, in, out) == GRAPHC_ERROR_BATCH);
    CHECK(strstr(stats_error(ctx), "stats_run_batch") != NULL);

    /* an output on top of an input, and two outputs on top of each other */
    void *aliased[STATS_NUM_OUTPUTS];
    memcpy(aliased, out, sizeof aliased);
    aliased[0] = x;
    CHECK(stats_run_batch(ctx, BATCH, in, aliased) == GRAPHC_ERROR_OVERLAP);
    memcpy(aliased, out, sizeof aliased);
    aliased[1] = out[0];
    CHECK(stats_run_batch(ctx, BATCH, in, aliased) == GRAPHC_ERROR_OVERLAP);

    /* a check of the graph: a gather index out of range */
    idx[1] = 1000;
    CHECK(stats_run_batch(ctx, BATCH, in, out) == GRAPHC_ERROR_CHECK);
    CHECK(strstr(stats_error(ctx), "out of range") != NULL);

    /* the context still works, and success clears the message */
    idx[1] = 1;
    CHECK(stats_run_batch(ctx, BATCH, in, out) == GRAPHC_OK);
    CHECK(strcmp(stats_error(ctx), "") == 0);
    stats_destroy(ctx);
    printf("ok\n");
    return 0;
}
