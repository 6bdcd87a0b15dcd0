// Multi-head attention of padding-free sequences, read straight from the fused q/k/v rows.
//
// out[t, h*D:(h+1)*D] = softmax(scale * q_h(t) . K_h^T + bias_h) V_h for every real token t of a
// sequence, computed per (sequence, head) without masks, gathers or head-major copies: q, k and
// v are read from the ``(tokens, 3 * width)`` output of the fused query/key/value GEMM and the
// result is written in the ``(tokens, width)`` layout the output map takes. Scores, softmax and
// the weighted sum of values are in fp32 whatever the storage (fp32 or bf16, converted on load,
// rounded to nearest even on store). Short sequences are what this is for: torch runs them as
// batched 14 x 32 matmuls whose per-matrix set-up dominates (issue 17, docs/results.md).
//
// Portable C++17 with GCC/Clang vector extensions (16 floats a vector): the compiler maps them
// to AVX-512, AVX2, NEON, ... by -march=native. Built and loaded by workbench/fast/native.py.

#include <algorithm>
#include <vector>

#include "vectors.h"

namespace {

using namespace wb;

struct Problem {
  const void* qkv;
  int64_t qkv_stride;  // elements between token rows of qkv
  const int64_t* starts;
  const int64_t* lengths;
  int64_t sequences;
  int heads, dim;  // dim: one head's width
  float scale;
  const float* bias;  // (heads, n, >= padded(n)) additive scores TRANSPOSED: [h][key][query]
  int64_t bias_head, bias_row;
  void* out;
  int64_t out_stride;
};

// Scratch of one (sequence, head), rows padded to whole vectors (padding zero): Q^T (D x Lp,
// scaled), K and V (L x Dp), the transposed scores of 16 queries (L x 16), one output row.
struct Scratch {
  std::vector<float> buf;
  float *qt, *k, *v, *st, *o;
  void reserve(int L, int D) {
    const int Lp = padded(L), Dp = padded(D);
    buf.resize(size_t(D) * Lp + 2 * size_t(L) * Dp + size_t(L) * kLanes + 4 * size_t(Dp));
    qt = buf.data();
    k = qt + size_t(D) * Lp;
    v = k + size_t(L) * Dp;
    st = v + size_t(L) * Dp;
    o = st + size_t(L) * kLanes;
  }
};

// Scores of R keys (rows j..j+R) against the 16 queries [c, c + 16) (lanes): R independent
// accumulators, enough to hide the multiply-add latency.
template <int R>
inline void key_rows(const Scratch& w, int j, int D, int Lp, int c) {
  const int Dp = padded(D);
  vf acc[R];
  for (int r = 0; r < R; ++r) acc[r] = splat(0.0f);
  for (int d = 0; d < D; ++d) {
    const vf q = load(w.qt + size_t(d) * Lp + c);
    for (int r = 0; r < R; ++r) acc[r] += w.k[size_t(j + r) * Dp + d] * q;
  }
  for (int r = 0; r < R; ++r) store(w.st + (j + r) * kLanes, acc[r]);
}

// Scores of the 16 queries [c, c + 16) against every key, one key a row (lanes = queries), then
// the softmax down each lane: max, exp, sum are whole-vector operations. Returns 1 / sum.
inline vf softmax_columns(const Scratch& w, int L, int D, int Lp, int c, const float* bias_t,
                          int64_t bias_row) {
  int j = 0;
  for (; j + 8 <= L; j += 8) key_rows<8>(w, j, D, Lp, c);
  if (j + 4 <= L) key_rows<4>(w, j, D, Lp, c), j += 4;
  if (j + 2 <= L) key_rows<2>(w, j, D, Lp, c), j += 2;
  if (j < L) key_rows<1>(w, j, D, Lp, c);
  if (bias_t != nullptr)
    for (j = 0; j < L; ++j)
      store(w.st + j * kLanes, load(w.st + j * kLanes) + load(bias_t + j * bias_row + c));
  vf top = load(w.st);
  for (j = 1; j < L; ++j) {
    const vf s = load(w.st + j * kLanes);
    top = s > top ? s : top;
  }
  vf sum = splat(0.0f);
  for (j = 0; j < L; ++j) {
    const vf e = exp_v(load(w.st + j * kLanes) - top);
    store(w.st + j * kLanes, e);
    sum += e;
  }
  return 1.0f / sum;
}

// Output rows of R queries (lanes lane..lane+R of the current 16): sum_j p[j] v[j], scaled;
// two vectors of the row at a time (2R independent accumulators).
template <int R, typename T>
inline void value_rows(const Scratch& w, int L, int D, int lane, const float* inverse,
                       T* const* outs) {
  const int Dp = padded(D);
  for (int c = 0; c < Dp; c += 2 * kLanes) {
    const bool two = c + kLanes < Dp;
    vf acc[R][2];
    for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = splat(0.0f);
    for (int j = 0; j < L; ++j) {
      const float* v = w.v + size_t(j) * Dp + c;
      const vf v0 = load(v), v1 = two ? load(v + kLanes) : splat(0.0f);
      for (int r = 0; r < R; ++r) {
        const float p = w.st[j * kLanes + lane + r];
        acc[r][0] += p * v0;
        acc[r][1] += p * v1;
      }
    }
    for (int r = 0; r < R; ++r) {
      store(w.o + r * Dp + c, acc[r][0] * inverse[lane + r]);
      if (two) store(w.o + r * Dp + c + kLanes, acc[r][1] * inverse[lane + r]);
    }
  }
  for (int r = 0; r < R; ++r) store_row(w.o + r * Dp, D, outs[r]);
}

template <typename T>
void one_head(const Problem& p, int64_t sequence, int h, Scratch& w) {
  const int L = int(p.lengths[sequence]), D = p.dim, Lp = padded(L), Dp = padded(D);
  const int64_t width = int64_t(p.heads) * D, start = p.starts[sequence];
  const T* base = static_cast<const T*>(p.qkv) + start * p.qkv_stride + int64_t(h) * D;
  T* out = static_cast<T*>(p.out) + start * p.out_stride + int64_t(h) * D;
  for (int j = 0; j < L; ++j) {
    const T* row = base + j * p.qkv_stride;
    for (int d = 0; d < D; ++d) w.qt[size_t(d) * Lp + j] = to_f32(row[d]) * p.scale;
    load_row(row + width, D, w.k + size_t(j) * Dp);
    load_row(row + 2 * width, D, w.v + size_t(j) * Dp);
  }
  for (int d = 0; d < D; ++d)
    for (int j = L; j < Lp; ++j) w.qt[size_t(d) * Lp + j] = 0.0f;
  const float* bias_t = p.bias == nullptr ? nullptr : p.bias + h * p.bias_head;
  for (int c = 0; c < L; c += kLanes) {
    float inverse[kLanes];
    store(inverse, softmax_columns(w, L, D, Lp, c, bias_t, p.bias_row));
    const int queries = std::min(kLanes, L - c);
    int r = 0;
    for (; r + 4 <= queries; r += 4) {
      T* outs[4];
      for (int e = 0; e < 4; ++e) outs[e] = out + (c + r + e) * p.out_stride;
      value_rows<4>(w, L, D, r, inverse, outs);
    }
    for (; r < queries; ++r) {
      T* outs[1] = {out + (c + r) * p.out_stride};
      value_rows<1>(w, L, D, r, inverse, outs);
    }
  }
}

template <typename T>
void run(const Problem& p, int threads) {
  int longest = 1;
  for (int64_t s = 0; s < p.sequences; ++s) longest = std::max(longest, int(p.lengths[s]));
  parallel(p.sequences * p.heads, threads, [&](int first, int step) {
    Scratch w;
    w.reserve(longest, p.dim);
    for (int64_t t = first; t < p.sequences * p.heads; t += step)
      one_head<T>(p, t / p.heads, int(t % p.heads), w);
  });
}

}  // namespace

extern "C" {

// dtype: 0 = fp32, 1 = bf16 (qkv and out alike). Returns 0, or 1 for an unknown dtype.
int wb_attention(const void* qkv, int dtype, int64_t qkv_stride, const int64_t* starts,
                 const int64_t* lengths, int64_t sequences, int heads, int dim, float scale,
                 const float* bias, int64_t bias_head, int64_t bias_row, void* out,
                 int64_t out_stride, int threads) {
  const Problem p{qkv, qkv_stride, starts, lengths, sequences, heads, dim, scale,
                  bias, bias_head, bias_row, out, out_stride};
  if (dtype == 0) run<float>(p, threads);
  else if (dtype == 1) run<uint16_t>(p, threads);
  else return 1;
  return 0;
}

}  // extern "C"
