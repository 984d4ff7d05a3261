"""L2 -> CUDA C (render), its device helpers (prelude.cuh), nvcc and host-emulation builds
(compile, emulate.h). See docs/cuda.md."""
