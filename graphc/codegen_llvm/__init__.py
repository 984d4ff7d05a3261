"""LLVM backend: renders L2 kernels to LLVM IR with llvmlite (JIT in-process, AOT to objects)."""
