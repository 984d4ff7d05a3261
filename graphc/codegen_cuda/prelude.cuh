// graphc CUDA prelude: the device helpers every generated translation unit starts with.
// Compiled by nvcc for the GPU and, under emulate.h, by a host C++ compiler (cuda-emulated).
// Semantics follow numpy (the reference target): nan-propagating max/min, Python floor
// division and remainder (a zero integer divisor gives 0), saturating float -> int casts,
// round half to even; half precision is storage only (computed in float, rounded once).
// 8- and 16-bit integers wrap at their width (the renderer narrows every result C computes
// in int); comparisons, division and remainder of unsigned ones are unsigned.
#ifdef __CUDACC__
#include <cuda_fp16.h>
#endif
#include <stdint.h>

typedef long long i64;
#define GC_INF_F32 (__int_as_float(0x7f800000))
#define GC_NAN_F32 (__int_as_float(0x7fc00000))
#define GC_INF_F64 (__longlong_as_double(0x7ff0000000000000LL))
#define GC_NAN_F64 (__longlong_as_double(0x7ff8000000000000LL))

// --- math: one overload per float type, libdevice underneath --------------------------------
#define GC_MATH1(name, f32, f64) \
  __device__ __forceinline__ float gc_##name(float x) { return f32(x); } \
  __device__ __forceinline__ double gc_##name(double x) { return f64(x); }
GC_MATH1(exp, expf, exp)
GC_MATH1(log, logf, log)
GC_MATH1(log1p, log1pf, log1p)
GC_MATH1(expm1, expm1f, expm1)
GC_MATH1(sin, sinf, sin)
GC_MATH1(cos, cosf, cos)
GC_MATH1(tanh, tanhf, tanh)
GC_MATH1(erf, erff, erf)
GC_MATH1(sqrt, sqrtf, sqrt)
GC_MATH1(floor, floorf, floor)
GC_MATH1(ceil, ceilf, ceil)
GC_MATH1(round, rintf, rint)
GC_MATH1(fabs, fabsf, fabs)
__device__ __forceinline__ float gc_pow(float x, float y) { return powf(x, y); }
__device__ __forceinline__ double gc_pow(double x, double y) { return pow(x, y); }
__device__ __forceinline__ float gc_atan2(float x, float y) { return atan2f(x, y); }
__device__ __forceinline__ double gc_atan2(double x, double y) { return atan2(x, y); }

template <class T> __device__ __forceinline__ T gc_abs(T x) { return x < 0 ? -x : x; }
__device__ __forceinline__ float gc_abs(float x) { return fabsf(x); }
__device__ __forceinline__ double gc_abs(double x) { return fabs(x); }
template <class T> __device__ __forceinline__ T gc_sign(T x) {  // nan and zeros pass through
  return x > 0 ? T(1) : x < 0 ? T(-1) : x;
}
template <class T> __device__ __forceinline__ T gc_sigmoid(T x) {  // no overflow either side
  T e = gc_exp(-gc_abs(x));
  return x >= 0 ? T(1) / (T(1) + e) : e / (T(1) + e);
}
template <class T> __device__ __forceinline__ bool gc_is_nan(T x) { return x != x; }
template <class T> __device__ __forceinline__ bool gc_is_inf(T x) {
  return gc_abs(x) == T(1) / T(0);
}
template <class T> __device__ __forceinline__ bool gc_is_finite(T x) {
  return gc_abs(x) < T(1) / T(0);
}
template <class T> __device__ __forceinline__ T gc_max(T a, T b) {  // numpy.maximum
  return (a != a || a > b) ? a : b;
}
template <class T> __device__ __forceinline__ T gc_min(T a, T b) {  // numpy.minimum
  return (a != a || a < b) ? a : b;
}
__device__ __forceinline__ __half gc_max(__half a, __half b) {  // f16 row maxima
  return __float2half(gc_max(__half2float(a), __half2float(b)));
}
__device__ __forceinline__ __half gc_min(__half a, __half b) {
  return __float2half(gc_min(__half2float(a), __half2float(b)));
}
__device__ __forceinline__ float gc_floordiv(float x, float y) { return floorf(x / y); }
__device__ __forceinline__ double gc_floordiv(double x, double y) { return floor(x / y); }
__device__ __forceinline__ float gc_mod(float x, float y) {
  float r = fmodf(x, y);
  return (r != 0 && ((r < 0) != (y < 0))) ? r + y : r;
}
__device__ __forceinline__ double gc_mod(double x, double y) {
  double r = fmod(x, y);
  return (r != 0 && ((r < 0) != (y < 0))) ? r + y : r;
}
template <class T> __device__ __forceinline__ T gc_floordiv(T x, T y) {  // integers
  if (y == 0) return 0;
  if (y == -1) return T(0) - x;
  T q = x / y, r = x % y;
  return (r != 0 && ((r < 0) != (y < 0))) ? q - 1 : q;
}
template <class T> __device__ __forceinline__ T gc_mod(T x, T y) {
  if (y == 0 || y == -1) return 0;
  T r = x % y;
  return (r != 0 && ((r < 0) != (y < 0))) ? r + y : r;
}
// a * b wrapped at T's width. C multiplies 16-bit values as int, where 65535 * 65535
// overflows (undefined behaviour): uint16_t multiplies as unsigned.
template <class T> __device__ __forceinline__ T gc_wrap_mul(T a, T b) { return a * b; }
__device__ __forceinline__ uint16_t gc_wrap_mul(uint16_t a, uint16_t b) {
  return uint16_t(unsigned(a) * b);
}
template <class T> __device__ __forceinline__ T gc_pow(T x, T y) {  // integers, y >= 0
  T acc = 1;
  for (; y > 0; y >>= 1, x = gc_wrap_mul(x, x))
    if (y & 1) acc = gc_wrap_mul(acc, x);
  return acc;
}
template <class T> __device__ __forceinline__ T gc_round(T x) { return x; }
// Saturating, toward zero, nan -> 0. The bounds are powers of two, exact in F: x below
// `low` (or at it) saturates to the lowest value, x at or past `high` to the highest.
template <class I, class F> __device__ __forceinline__ I gc_f2i(F x) {
  const bool is_signed = I(-1) < I(0);
  const unsigned long long top = 1ULL << (sizeof(I) * 8 - 1);  // 2^(bits - 1)
  const I lowest = is_signed ? I(top) : I(0), highest = is_signed ? I(top - 1) : I(2 * top - 1);
  const F low = is_signed ? -F(top) : F(0), high = is_signed ? F(top) : F(2) * F(top);
  return x != x ? I(0) : x <= low ? lowest : x >= high ? highest : I(x);
}

// --- shifts: numpy's answer for an amount outside [0, bits) (C leaves it undefined); a left
// shift in the unsigned type, where overflow is defined, and arithmetic right for signed ---
template <class T> struct gc_unsigned;
template <> struct gc_unsigned<int8_t> { typedef uint8_t type; };
template <> struct gc_unsigned<uint8_t> { typedef uint8_t type; };
template <> struct gc_unsigned<int16_t> { typedef uint16_t type; };
template <> struct gc_unsigned<uint16_t> { typedef uint16_t type; };
template <> struct gc_unsigned<int> { typedef unsigned type; };
template <> struct gc_unsigned<long long> { typedef unsigned long long type; };
template <class T> __device__ __forceinline__ T gc_shl(T x, T y) {
  typedef typename gc_unsigned<T>::type U;
  const bool inside = (unsigned long long)(long long)y < sizeof(T) * 8ULL;
  return inside ? T(U(U(x) << int(y))) : T(0);
}
template <class T> __device__ __forceinline__ T gc_shr(T x, T y) {
  const bool inside = (unsigned long long)(long long)y < sizeof(T) * 8ULL;
  if (inside) return T(x >> int(y));
  return (T(-1) < T(0) && x < T(0)) ? T(-1) : T(0);
}

// --- bitcast: the same bytes read as another type of their width ----------------------------
template <class T, class F> __device__ __forceinline__ T gc_bitcast(F x) {
  static_assert(sizeof(T) == sizeof(F), "bitcast between types of one width");
  T t;
  memcpy(&t, &x, sizeof(T));
  return t;
}

// --- scatter-adds of 8- and 16-bit integers (other types: atomicAdd) -------------------------
// CUDA has no atomicAdd of these widths: a compare-and-swap loop on the aligned 32-bit word
// holding the element (little-endian) adds into it and writes the other bytes back as they
// were, so threads adding into neighbouring elements do not lose each other's sums.
template <class T> __device__ __forceinline__ void gc_atomic_add(T* p, T v) {
  static_assert(sizeof(T) < 4, "8- and 16-bit integers only");
  const unsigned long long at = reinterpret_cast<unsigned long long>(p);
  unsigned* word = reinterpret_cast<unsigned*>(at & ~3ULL);
  const unsigned shift = unsigned(at & 3) * 8, bits = (1u << (sizeof(T) * 8)) - 1;
  unsigned old = *word, seen;
  do {  // the sum wraps at T's width: two's complement, the unsigned add is the signed one
    seen = old;
    const unsigned sum = ((seen >> shift) + unsigned(v)) & bits;
    old = atomicCAS(word, seen, (seen & ~(bits << shift)) | (sum << shift));
  } while (old != seen);
}

// --- float4: four floats in one 16-byte access (flat phases' vector loops) ------------------
// The renderer calls these only on addresses it proved to be multiples of 4 elements from
// pointers checked with gc_aligned16, so every access is 16-byte aligned.
#ifndef GC_CHECK_ALIGNED
#define GC_CHECK_ALIGNED(p)
#endif
__device__ __forceinline__ bool gc_aligned16(const void* p) {
  return (reinterpret_cast<unsigned long long>(p) & 15) == 0;
}
__device__ __forceinline__ float4 gc_load4(const float* p) {
  GC_CHECK_ALIGNED(p);
  return *reinterpret_cast<const float4*>(p);
}
__device__ __forceinline__ void gc_store4(float* p, float4 v) {
  GC_CHECK_ALIGNED(p);
  *reinterpret_cast<float4*>(p) = v;
}

// --- errors: the first failed Check of a run, as (kernel << 16) | (1 + code) -----------------
__device__ __forceinline__ void gc_fail(int* err, int kernel, int code) {
  atomicCAS(err, 0, (kernel << 16) | (code + 1));
}

// --- block reductions: every thread of the block calls; sh[threadIdx.x] holds its value -----
struct GcAdd { template <class T> __device__ static T f(T a, T b) { return a + b; } };
struct GcMul {
  template <class T> __device__ static T f(T a, T b) { return gc_wrap_mul(a, b); }
};
struct GcMax { template <class T> __device__ static T f(T a, T b) { return gc_max(a, b); } };
struct GcMin { template <class T> __device__ static T f(T a, T b) { return gc_min(a, b); } };
struct GcOr { template <class T> __device__ static T f(T a, T b) { return a || b; } };
struct GcAnd { template <class T> __device__ static T f(T a, T b) { return a && b; } };

template <class T> __device__ __forceinline__ T gc_shfl_down(T v, int delta) {
  return __shfl_down_sync(0xffffffffu, v, delta);
}
__device__ __forceinline__ bool gc_shfl_down(bool v, int delta) {
  return __shfl_down_sync(0xffffffffu, int(v), delta) != 0;
}
#define GC_SHFL_AS_INT(T) \
  __device__ __forceinline__ T gc_shfl_down(T v, int delta) { \
    return T(__shfl_down_sync(0xffffffffu, int(v), delta)); \
  }
GC_SHFL_AS_INT(int8_t)
GC_SHFL_AS_INT(uint8_t)
GC_SHFL_AS_INT(int16_t)
GC_SHFL_AS_INT(uint16_t)

// Afterwards sh[0] holds the combination of sh[0..n) (n: threads, a power of two >= 32).
// Shuffles within each warp, then the warps' partials through shared memory; every thread
// runs every shuffle (full masks, no divergence around them).
template <class Op, class T> __device__ void gc_block_reduce(T* sh, int n) {
  const int tid = threadIdx.x, lane = tid & 31, warps = n >> 5;
  T v = sh[tid];
  for (int d = 16; d > 0; d >>= 1) v = Op::f(v, gc_shfl_down(v, d));
  __syncthreads();
  if (lane == 0) sh[tid >> 5] = v;
  __syncthreads();
  v = sh[lane < warps ? lane : 0];
  for (int d = warps >> 1; d > 0; d >>= 1) v = Op::f(v, gc_shfl_down(v, d));
  __syncthreads();
  if (tid == 0) sh[0] = v;
  __syncthreads();
}

// --- GEMM: C = A @ B for one 128x128 tile of C per block of 256 threads -----------------------
// Operands through strides (rs: row, cs: column), C row-major; K in steps of 8 staged in shared
// memory; each thread accumulates an 8x8 register block (rows ty + 16i, columns tx + 16j, so a
// warp's shared reads hit distinct banks and its stores to C are contiguous). After storing an
// element of C, the thread calls epilogue(row, column) on it (a fused elementwise consumer,
// which reads C there and may write its output over it: C is not __restrict__ for that).
struct GcNoEpilogue {
  __device__ __forceinline__ void operator()(i64, i64) const {}
};
// gc_gemm_by reads its operands through loaders instead: a(row, k) and b(k, column), called
// only inside A and B (an implicit GEMM's patches: lower.py's K.Pack, rendered as lambdas).
template <class T, class LoadA, class LoadB, class Epilogue = GcNoEpilogue>
__device__ void gc_gemm_by(LoadA load_a, LoadB load_b, T* C, i64 M, i64 N, i64 K,
                           Epilogue epilogue = Epilogue()) {
  const int BM = 128, BN = 128, BK = 8;
  __shared__ T As[BK][BM];
  __shared__ T Bs[BK][BN];
  const int tid = threadIdx.x, ty = tid >> 4, tx = tid & 15;
  const i64 row0 = (i64)blockIdx.y * BM, col0 = (i64)blockIdx.x * BN;
  T acc[8][8];
  for (int i = 0; i < 8; ++i)
    for (int j = 0; j < 8; ++j) acc[i][j] = T(0);
  for (i64 k0 = 0; k0 < K; k0 += BK) {
    for (int e = tid; e < BM * BK; e += 256) {
      const int r = e / BK, c = e % BK;
      const i64 gr = row0 + r, gk = k0 + c;
      As[c][r] = (gr < M && gk < K) ? load_a(gr, gk) : T(0);
    }
    for (int e = tid; e < BK * BN; e += 256) {
      const int r = e / BN, c = e % BN;
      const i64 gk = k0 + r, gc = col0 + c;
      Bs[r][c] = (gk < K && gc < N) ? load_b(gk, gc) : T(0);
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < BK; ++kk) {
      T a[8], b[8];
      for (int i = 0; i < 8; ++i) a[i] = As[kk][ty + 16 * i];
      for (int j = 0; j < 8; ++j) b[j] = Bs[kk][tx + 16 * j];
      for (int i = 0; i < 8; ++i)
        for (int j = 0; j < 8; ++j) acc[i][j] += a[i] * b[j];
    }
    __syncthreads();
  }
  for (int i = 0; i < 8; ++i) {
    const i64 r = row0 + ty + 16 * i;
    for (int j = 0; j < 8; ++j) {
      const i64 c = col0 + tx + 16 * j;
      if (r < M && c < N) {
        C[r * N + c] = acc[i][j];
        epilogue(r, c);
      }
    }
  }
}

template <class T, class Epilogue = GcNoEpilogue>
__device__ void gc_gemm(const T* __restrict__ A, const T* __restrict__ B, T* C,
                        i64 M, i64 N, i64 K, i64 rsa, i64 csa, i64 rsb, i64 csb,
                        Epilogue epilogue = Epilogue()) {
  gc_gemm_by<T>([&](i64 r, i64 k) { return A[r * rsa + k * csa]; },
                [&](i64 k, i64 c) { return B[k * rsb + c * csb]; }, C, M, N, K, epilogue);
}
