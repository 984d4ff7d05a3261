// emulate.h: the CUDA built-ins generated code uses, for a host C++ compiler (the
// cuda-emulated target). Force-included before the generated translation unit, which is then
// compiled unchanged, so the numbers the CUDA code computes can be checked without a GPU.
//
// Model: blocks run one after another; within a block, each CUDA thread is a fiber
// (ucontext). A launch with barriers or shuffles (`sync`) runs the fibers in rounds: each
// live fiber runs until its next __syncthreads (or shuffle, or its end), then the next
// round starts, which is exactly barrier semantics when every thread of the block reaches
// the same barriers. Shuffles exchange values through a per-block array and sync the whole
// block twice, so they must be called by every thread of the block at once (prelude.cuh's
// reductions are written that way); a round where some fibers stopped at a barrier and
// others at a shuffle is reported as divergence (the launch returns 1). A launch without
// sync calls the kernel once per thread, in order, with no fibers.
// __shared__ variables are function statics: one copy for the block that is running.
// float4 is a 16-byte aligned struct; a misaligned float4 access traps, as it faults on a GPU.
// Math comes from the host's libm, not libdevice: within the tests' tolerances, not bitwise.
#pragma once
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <ucontext.h>

#include <functional>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static
#define __launch_bounds__(...)

struct uint3 { unsigned x, y, z; };
struct dim3 {
  unsigned x, y, z;
  dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

namespace gc_emu {
inline uint3 thread_idx, block_idx;
inline dim3 block_dim, grid_dim;

struct Fiber {
  ucontext_t context;
  bool done;
  int waits;  // 1: at a barrier, 2: at a shuffle
};
inline std::vector<Fiber> fibers;
inline std::vector<char> stacks;
inline std::vector<uint64_t> exchange;  // shuffle values, one slot per thread
inline ucontext_t scheduler;
inline int current = -1;  // the running fiber; -1 outside a sync launch
inline bool diverged = false;
inline const std::function<void()>* body = nullptr;
constexpr size_t kStack = 64 * 1024;

inline void yield(int kind) {
  if (current < 0) return;  // a launch without sync: barriers are no-ops
  fibers[current].waits = kind;
  swapcontext(&fibers[current].context, &scheduler);
}

inline void trampoline() {
  (*body)();
  fibers[current].done = true;  // uc_link returns to the scheduler
}

inline void set_thread(unsigned t) {
  thread_idx = {t % block_dim.x, (t / block_dim.x) % block_dim.y,
                t / (block_dim.x * block_dim.y)};
}

inline void run_block(unsigned n) {
  for (unsigned t = 0; t < n; ++t) {
    Fiber& f = fibers[t];
    getcontext(&f.context);
    f.context.uc_stack.ss_sp = stacks.data() + t * kStack;
    f.context.uc_stack.ss_size = kStack;
    f.context.uc_link = &scheduler;
    f.done = false;
    makecontext(&f.context, trampoline, 0);
  }
  for (unsigned live = n; live > 0;) {
    int kinds = 0;
    for (unsigned t = 0; t < n; ++t) {
      if (fibers[t].done) continue;
      current = int(t);
      set_thread(t);
      fibers[t].waits = 0;
      swapcontext(&scheduler, &fibers[t].context);
      if (fibers[t].done) --live;
      else kinds |= fibers[t].waits;
    }
    if (kinds == 3) diverged = true;
  }
  current = -1;
}

// Runs fn for every thread of every block; 0, or 1 when threads diverged around a sync.
inline int launch(dim3 grid, dim3 block, bool sync, const std::function<void()>& fn) {
  grid_dim = grid;
  block_dim = block;
  diverged = false;
  const unsigned n = block.x * block.y * block.z;
  if (sync && fibers.size() < n) {
    fibers.resize(n);
    stacks.resize(n * kStack);
  }
  if (exchange.size() < n) exchange.resize(n);
  body = &fn;
  for (unsigned z = 0; z < grid.z; ++z)
    for (unsigned y = 0; y < grid.y; ++y)
      for (unsigned x = 0; x < grid.x; ++x) {
        block_idx = {x, y, z};
        if (sync) {
          run_block(n);
          continue;
        }
        for (unsigned t = 0; t < n; ++t) {
          set_thread(t);
          fn();
        }
      }
  body = nullptr;
  return diverged ? 1 : 0;
}

template <class T, class Source> T exchange_with(T v, Source source) {
  const unsigned tid = thread_idx.x + block_dim.x * (thread_idx.y + block_dim.y * thread_idx.z);
  uint64_t bits = 0;
  memcpy(&bits, &v, sizeof(T));
  exchange[tid] = bits;
  yield(2);  // every thread has published its value
  const unsigned lane = tid & 31, warp = tid - lane;
  const uint64_t got = exchange[warp + source(lane)];
  yield(2);  // every thread has read before the next exchange overwrites
  T out;
  memcpy(&out, &got, sizeof(T));
  return out;
}
}  // namespace gc_emu

#define threadIdx (gc_emu::thread_idx)
#define blockIdx (gc_emu::block_idx)
#define blockDim (gc_emu::block_dim)
#define gridDim (gc_emu::grid_dim)

inline void __syncthreads() { gc_emu::yield(1); }

template <class T> T __shfl_down_sync(unsigned, T v, int delta, int width = 32) {
  return gc_emu::exchange_with(v, [&](int lane) {
    return (lane % width) + delta < width ? lane + delta : lane;
  });
}
template <class T> T __shfl_xor_sync(unsigned, T v, int mask, int width = 32) {
  return gc_emu::exchange_with(v, [&](int lane) {
    int other = lane ^ mask;
    return other / width == lane / width ? other : lane;
  });
}

// Fibers switch only at syncs, so read-modify-write is atomic here.
template <class T> T atomicAdd(T* address, T value) {
  T old = *address;
  *address = old + value;
  return old;
}
template <class T> T atomicCAS(T* address, T compare, T value) {
  T old = *address;
  if (old == compare) *address = value;
  return old;
}

inline float __int_as_float(int x) { float f; memcpy(&f, &x, 4); return f; }
inline int __float_as_int(float f) { int x; memcpy(&x, &f, 4); return x; }
inline double __longlong_as_double(long long x) { double d; memcpy(&d, &x, 8); return d; }

// float4 as CUDA lays it out (16-byte aligned). A misaligned float4 access faults on a GPU;
// here it traps, so a schedule or guard that let one through cannot pass a test by luck.
struct alignas(16) float4 { float x, y, z, w; };
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
#define GC_CHECK_ALIGNED(p) (((uintptr_t)(p) & 15) ? __builtin_trap() : (void)0)

// Half precision as storage: IEEE binary16 bits, converted with round-to-nearest-even.
struct __half { uint16_t bits; };
inline float __half2float(__half h) {
  const uint32_t sign = uint32_t(h.bits & 0x8000) << 16, exp = (h.bits >> 10) & 0x1f,
                 man = h.bits & 0x3ff;
  if (exp == 0x1f) return __int_as_float(int(sign | 0x7f800000 | (man << 13)));
  if (exp == 0) {  // zero or subnormal: man * 2^-24
    const float v = ldexpf(float(man), -24);
    return sign ? -v : v;
  }
  return __int_as_float(int(sign | ((exp + 112) << 23) | (man << 13)));
}
inline __half __float2half(float f) {
  const uint32_t x = uint32_t(__float_as_int(f)), sign = (x >> 16) & 0x8000;
  const uint32_t abs = x & 0x7fffffff;
  __half h;
  if (abs > 0x7f800000) { h.bits = uint16_t(sign | 0x7e00); return h; }  // nan
  if (abs >= 0x477ff000) { h.bits = uint16_t(sign | 0x7c00); return h; }  // overflow: inf
  if (abs < 0x38800000) {  // subnormal half (or zero): round |f| * 2^24 to an integer
    h.bits = uint16_t(sign | uint32_t(nearbyintf(ldexpf(__int_as_float(int(abs)), 24))));
    return h;
  }
  uint32_t m = abs + 0xc8000fff + ((abs >> 13) & 1);  // rebias (-112 << 23), round to even
  h.bits = uint16_t(sign | (m >> 13));
  return h;
}
