// Vectors of 16 floats (GCC/Clang vector extensions; -march=native maps them to AVX-512, AVX2,
// NEON, ...), e^x on them, and fp32/bf16 storage conversions: shared by the kernels here.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <utility>
#ifdef _OPENMP
#include <omp.h>
#endif
#ifdef __AVX512F__
#include <immintrin.h>
#endif

namespace wb {

constexpr int kLanes = 16;
#ifdef __AVX512F__
constexpr int kRegisters = 32;  // vectors of 16 floats the register file holds
#else
constexpr int kRegisters = 16;  // e.g. AVX2: 16 registers of 8 floats, two per vector
#endif
typedef float vf __attribute__((vector_size(64)));
typedef int32_t vi __attribute__((vector_size(64)));

inline vf load(const float* p) { vf v; std::memcpy(&v, p, sizeof v); return v; }
inline void store(float* p, vf v) { std::memcpy(p, &v, sizeof v); }
inline vf splat(float x) { return vf{} + x; }
inline float sum(vf v) {  // a tree of halves: 4 dependent adds, not 15
  typedef float v8 __attribute__((vector_size(32)));
  typedef float v4 __attribute__((vector_size(16)));
  v8 a = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7) +
         __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
  v4 b = __builtin_shufflevector(a, a, 0, 1, 2, 3) + __builtin_shufflevector(a, a, 4, 5, 6, 7);
  return (b[0] + b[2]) + (b[1] + b[3]);
}
// sum over c = 0, 16, ... < n of f(c), in four register accumulators (hides the add latency).
template <typename F>
inline vf accumulate(int n, F f) {
  vf a0 = splat(0.0f), a1 = a0, a2 = a0, a3 = a0;
  int c = 0;
  for (; c + 4 * kLanes <= n; c += 4 * kLanes) {
    a0 += f(c);
    a1 += f(c + kLanes);
    a2 += f(c + 2 * kLanes);
    a3 += f(c + 3 * kLanes);
  }
  for (; c < n; c += kLanes) a0 += f(c);
  return (a0 + a1) + (a2 + a3);
}
inline int padded(int n) { return (n + kLanes - 1) / kLanes * kLanes; }

// e^x, Cephes' single-precision polynomial (relative error about 2e-7), x clamped to the range
// where the result is a normal float. 2^n is built from the exponent bits.
inline vf exp_v(vf x) {
  const vf lo = splat(-87.33654f), hi = splat(88.37626f);
  x = x < lo ? lo : x;
  x = x > hi ? hi : x;
  const vf magic = splat(12582912.0f);  // 1.5 * 2^23: adding it rounds to an integer
  vf n = (x * 1.44269504088896341f + magic) - magic;
  x = x - n * 0.693359375f + n * 2.12194440e-4f;
  vf z = x * x;
  vf y = splat(1.9875691500e-4f);
  y = y * x + 1.3981999507e-3f;
  y = y * x + 8.3334519073e-3f;
  y = y * x + 4.1665795894e-2f;
  y = y * x + 1.6666665459e-1f;
  y = y * x + 5.0000001201e-1f;
  y = y * z + x + 1.0f;
  vi bits = (__builtin_convertvector(n, vi) + 127) << 23;
  vf scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return y * scale;
}

// Storage <-> fp32. bf16 is the top half of an fp32; stores round to nearest even, as torch.
typedef uint16_t vh __attribute__((vector_size(32)));
typedef uint32_t vu __attribute__((vector_size(64)));

inline float to_f32(float x) { return x; }
inline float to_f32(uint16_t x) {
  uint32_t b = uint32_t(x) << 16;
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}
inline vf load_v(const float* p) { return load(p); }
inline vf load_v(const uint16_t* p) {
#ifdef __AVX512F__  // one widening load and a shift (GCC splits the generic form into halves)
  return (vf)_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i*)p)), 16);
#else
  vh h;
  std::memcpy(&h, p, sizeof h);
  vu b = __builtin_convertvector(h, vu) << 16;
  vf f;
  std::memcpy(&f, &b, sizeof f);
  return f;
#endif
}
inline void store_v(float* p, vf v) { store(p, v); }
inline void store_v(uint16_t* p, vf v) {
  vu b;
  std::memcpy(&b, &v, sizeof b);
  vu rounded = (b + 0x7fffu + ((b >> 16) & 1u)) >> 16;
  vu nan = (b & 0x7fffffffu) > 0x7f800000u;  // all ones where NaN
  rounded = (rounded & ~nan) | (0x7fc0u & nan);
  vh h = __builtin_convertvector(rounded, vh);
  std::memcpy(p, &h, sizeof h);
}
inline void store_s(float x, float* out) { *out = x; }
inline void store_s(float x, uint16_t* out) {
  float row[kLanes] = {x};
  uint16_t h[kLanes];
  store_v(h, load(row));
  *out = h[0];
}

// Swaps the off-diagonal B x B blocks of every 2B x 2B block of the 16 x 16 matrix whose rows are
// r[0..16) (J: the columns 0..15); B = 8, 4, 2, 1 in turn transpose it (Eklundh's recursive
// transpose): 64 two-source shuffles in registers instead of 256 scattered scalar stores.
template <int B, int... J>
inline void swap_blocks(vf* r, std::integer_sequence<int, J...>) {
  for (int i = 0; i < kLanes; ++i) {
    if (i & B) continue;
    const vf x = r[i], y = r[i + B];
    r[i] = __builtin_shufflevector(x, y, ((J & B) ? kLanes + J - B : J)...);
    r[i + B] = __builtin_shufflevector(x, y, ((J & B) ? kLanes + J : J + B)...);
  }
}

// out[d * out_stride + i] = rows[i * row_stride + d] for i < 16 and d < D, rows i >= n reading as
// zero; each row holds padded(D) floats. 16 x 16 blocks transposed in registers.
inline void transpose_rows(const float* rows, int64_t row_stride, int n, int D, float* out,
                           int64_t out_stride) {
  for (int e = 0; e < D; e += kLanes) {
    vf r[kLanes];
    for (int i = 0; i < kLanes; ++i) r[i] = i < n ? load(rows + i * row_stride + e) : splat(0.0f);
    constexpr auto columns = std::make_integer_sequence<int, kLanes>{};
    swap_blocks<8>(r, columns);
    swap_blocks<4>(r, columns);
    swap_blocks<2>(r, columns);
    swap_blocks<1>(r, columns);
    for (int d = 0; d < std::min(kLanes, D - e); ++d) store(out + (e + d) * out_stride, r[d]);
  }
}

// n values from src to fp32 dst (whole vectors, then one at a time), times `scale`, zeros up to
// padded(n).
template <typename T>
inline void load_row(const T* src, int n, float* dst, float scale = 1.0f) {
  int d = 0;
  for (; d + kLanes <= n; d += kLanes) store(dst + d, load_v(src + d) * scale);
  for (; d < n; ++d) dst[d] = to_f32(src[d]) * scale;
  for (; d < padded(n); ++d) dst[d] = 0.0f;
}

template <typename T>
inline void store_row(const float* src, int n, T* dst) {
  int d = 0;
  for (; d + kLanes <= n; d += kLanes) store_v(dst + d, load(src + d));
  for (; d < n; ++d) store_s(src[d], dst + d);
}

// work(worker, workers) on up to `threads` workers: OpenMP's, so the process's one pool. Built
// after torch is loaded, the library's libgomp.so.1 resolves to the one torch already loaded (same
// soname): torch's own threads run the kernel, none are added to spin against them. Without
// OpenMP the work runs on the calling thread alone.
template <typename Work>
void parallel(int64_t tasks, int threads, Work work) {
  threads = int(std::max<int64_t>(1, std::min<int64_t>(threads, tasks)));
#ifdef _OPENMP
  if (threads > 1) {
#pragma omp parallel num_threads(threads)
    work(omp_get_thread_num(), omp_get_num_threads());
    return;
  }
#endif
  work(0, 1);
}

}  // namespace wb
