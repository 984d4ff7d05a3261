/* Runs any graphc artifact on raw binary input files and writes each output to a raw binary
 * file:  driver BATCH IN_0 ... IN_n-1 OUT_0 ... OUT_m-1   (BATCH 0: an artifact with fixed
 * shapes). Built with -DMODEL=<name> -DHEADER='"<name>.h"'. Exit status 3 and the message
 * on stderr when the run fails. */
#include <stdio.h>
#include <stdlib.h>

#include HEADER

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define API(f) CAT(MODEL, f)

static void *read_file(const char *path, int64_t bytes) {
    void *data = malloc((size_t)bytes + 1);
    FILE *f = fopen(path, "rb");
    if (data == NULL || f == NULL || fread(data, 1, (size_t)bytes, f) != (size_t)bytes) {
        fprintf(stderr, "cannot read %lld bytes from %s\n", (long long)bytes, path);
        exit(1);
    }
    fclose(f);
    return data;
}

static void write_file(const char *path, const void *data, int64_t bytes) {
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(data, 1, (size_t)bytes, f) != (size_t)bytes) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
    fclose(f);
}

int main(int argc, char **argv) {
    int n = API(_num_inputs)(), m = API(_num_outputs)();
    if (argc != 2 + n + m) {
        fprintf(stderr, "usage: %s BATCH %d inputs %d outputs\n", argv[0], n, m);
        return 2;
    }
    int64_t batch = atoll(argv[1]);
    const void **in = calloc((size_t)n + 1, sizeof *in);
    void **out = calloc((size_t)m + 1, sizeof *out);
    for (int i = 0; i < n; ++i) in[i] = read_file(argv[2 + i], API(_input_bytes)(i, batch));
    for (int o = 0; o < m; ++o) out[o] = malloc((size_t)API(_output_bytes)(o, batch) + 1);
    API(_context) *ctx = API(_create)();
    int status = batch ? API(_run_batch)(ctx, batch, in, out) : API(_run)(ctx, in, out);
    if (status != GRAPHC_OK) {
        fprintf(stderr, "status %d: %s\n", status, API(_error)(ctx));
        return 3;
    }
    for (int o = 0; o < m; ++o) write_file(argv[2 + n + o], out[o], API(_output_bytes)(o, batch));
    API(_destroy)(ctx);
    return 0;
}
