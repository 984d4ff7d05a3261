/* Two artifacts linked statically into one program: their symbols must not clash, and each
 * keeps its own thread pool. Runs both once on zeros; prints "ok". */
#include <stdio.h>
#include <stdlib.h>

#include "mlp.h"
#include "stats.h"

int main(void) {
    enum { BATCH = 5 };
    float *x = calloc(BATCH * 16, sizeof *x), *probs = malloc(BATCH * 4 * sizeof *probs);
    const void *mlp_in[] = {x};
    void *mlp_out[] = {probs};
    mlp_context *a = mlp_create();
    if (mlp_run_batch(a, BATCH, mlp_in, mlp_out) != GRAPHC_OK) return 1;

    float *sx = calloc(BATCH * 15, sizeof *sx), scale[3] = {1, 1, 1};
    int32_t idx[BATCH] = {0};
    const void *stats_in[] = {sx, idx, scale};
    void *stats_out[STATS_NUM_OUTPUTS];
    for (int o = 0; o < STATS_NUM_OUTPUTS; ++o)
        stats_out[o] = malloc((size_t)stats_output_bytes(o, BATCH));
    stats_context *b = stats_create();
    if (stats_run_batch(b, BATCH, stats_in, stats_out) != GRAPHC_OK) return 1;
    for (int i = 0; i < BATCH * 4; ++i)   /* softmax of equal logits per row */
        if (probs[i] < 0.0f || probs[i] > 1.0f) return 1;
    mlp_destroy(a);
    stats_destroy(b);
    printf("ok\n");
    return 0;
}
