/* Several contexts of one artifact running concurrently, one per thread:
 *   threads BATCH INPUT.bin OUTPUT.bin THREADS RUNS
 * The main thread computes the output once (written to OUTPUT.bin for the test to compare
 * with Session.run); then THREADS threads, each with its own context, run RUNS times and
 * compare every result with it byte for byte. Prints "ok" and exits 0 when all agree.
 * For an artifact with one input and one output; -DMODEL=<name> -DHEADER='"<name>.h"'. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include HEADER

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define API(f) CAT(MODEL, f)

static int64_t batch, out_bytes;
static const void *input;
static const unsigned char *expected;
static int runs;

static void *worker(void *arg) {
    long failures = 0;
    API(_context) *ctx = API(_create)();
    unsigned char *out = malloc((size_t)out_bytes);
    const void *in[] = {input};
    void *outs[] = {out};
    for (int r = 0; r < runs; ++r) {
        memset(out, 0xff, (size_t)out_bytes);
        if (API(_run_batch)(ctx, batch, in, outs) != GRAPHC_OK ||
                memcmp(out, expected, (size_t)out_bytes) != 0)
            ++failures;
    }
    API(_destroy)(ctx);
    free(out);
    *(long *)arg = failures;
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 6) return 2;
    batch = atoll(argv[1]);
    int threads = atoi(argv[4]);
    runs = atoi(argv[5]);
    int64_t in_bytes = API(_input_bytes)(0, batch);
    out_bytes = API(_output_bytes)(0, batch);
    void *x = malloc((size_t)in_bytes);
    FILE *f = fopen(argv[2], "rb");
    if (f == NULL || fread(x, 1, (size_t)in_bytes, f) != (size_t)in_bytes) return 1;
    fclose(f);
    input = x;
    unsigned char *reference = malloc((size_t)out_bytes);
    API(_context) *ctx = API(_create)();
    const void *in[] = {x};
    void *outs[] = {reference};
    if (API(_run_batch)(ctx, batch, in, outs) != GRAPHC_OK) {
        fprintf(stderr, "%s\n", API(_error)(ctx));
        return 1;
    }
    API(_destroy)(ctx);
    expected = reference;
    f = fopen(argv[3], "wb");
    fwrite(reference, 1, (size_t)out_bytes, f);
    fclose(f);

    pthread_t *ids = calloc((size_t)threads, sizeof *ids);
    long *failures = calloc((size_t)threads, sizeof *failures);
    for (int t = 0; t < threads; ++t) pthread_create(&ids[t], NULL, worker, &failures[t]);
    long total = 0;
    for (int t = 0; t < threads; ++t) {
        pthread_join(ids[t], NULL);
        total += failures[t];
    }
    if (total != 0) {
        fprintf(stderr, "%ld of %d runs differ\n", total, threads * runs);
        return 1;
    }
    printf("ok\n");
    return 0;
}
