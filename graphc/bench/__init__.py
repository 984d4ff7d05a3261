"""graphc.bench: the benchmark harness behind `graphc bench` (docs/benchmarks.md).

    workloads.py       the standard workloads W1..W8 (graph, numpy twin, exact work)
    adhoc.py           cases from the command line: one op, a user's script
    harness.py         interleaved timing and statistics; pinning the process to CPUs
    machine.py         peak FMA rate and copy bandwidth, measured with generated kernels
    peers.py           graphc and numpy as contenders; numpy's BLAS threads
    peers_optional.py  torch, jax and onnxruntime, used when installed
    run.py             one run: placement, threads, cases -> a JSON-ready document
    report.py          the table, the configuration lines, `diff`
    cli.py             the `graphc bench` subcommand

Nothing here is imported by `import graphc`; `graphc bench` imports it on demand.
"""
