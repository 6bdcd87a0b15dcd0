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
// Training (wb_attention_train / wb_attention_backward): the same forward with dropout on the
// probabilities and each query's softmax statistics (max, 1 / sum) kept; the backward recomputes
// the probabilities from them and writes d(q, k, v) in the fused layout. The dropout mask is not
// stored: keep(query token t, head h, key j) is a hash of (seed, t * heads + h, j), drawn again by
// the backward (see `keep_scale`).
//
// Portable C++17 with GCC/Clang vector extensions (16 floats a vector): the compiler maps them
// to AVX-512, AVX2, NEON, ... by -march=native. Built and loaded by workbench/fast/native.py.

#include <algorithm>
#include <type_traits>
#include <vector>

#include "vectors.h"

namespace {

using namespace wb;

// Keys scored at a time, and queries (rows of the backward's dK, dV) summed at a time: as many
// accumulators as the registers hold. Measured on AVX-512 (issue 17: 16 and 8); with 16
// registers, the earlier 8 and 4.
constexpr int kKeyBlock = kRegisters / 2, kRowBlock = kRegisters / 4;

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
  float* stats;       // training: (tokens, heads, 2) softmax max and 1 / sum, else nullptr
  uint32_t seed;      // dropout mask's seed
  uint32_t dropped;   // dropout: a probability drops when its 16-bit hash is below this
  float keep_scale;   // 65536 / (65536 - dropped)
};

// lowbias32 (Chris Wellons' integer hash): every output bit depends on every input bit.
inline vu mix(vu x) {
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  x *= 0x846ca68bu;
  x ^= x >> 16;
  return x;
}

// The 16 queries' row hashes, one a lane: mix(seed ^ (t * heads + h)) for token t = first + lane.
inline vu row_hashes(uint32_t seed, int64_t first, int heads, int h) {
  vu t;
  for (int l = 0; l < kLanes; ++l) t[l] = uint32_t((first + l) * heads + h);
  return mix(t ^ seed);
}

// Dropout's factor for key j of the 16 queries: 0 where the probability drops (P = dropped /
// 65536, as workbench.fast.dropout), 65536 / (65536 - dropped) where it is kept.
inline vf keep_scale(vu rows, int j, uint32_t dropped, float scale) {
  const vu bits = mix(rows + uint32_t(j) * 0x9e3779b9u) >> 16;
  const vi keep = bits >= dropped;  // all ones where kept
  return keep ? splat(scale) : splat(0.0f);
}

// Scratch of one (sequence, head), rows padded to whole vectors (padding zero): Q^T (D x Lp,
// scaled), Q (scaled), K and V (L x Dp), the transposed scores of 16 queries (L x 16), kRowBlock
// output rows.
struct Scratch {
  std::vector<float> buf;
  float *qt, *q, *k, *v, *st, *o;
  void reserve(int L, int D) {
    const int Lp = padded(L), Dp = padded(D);
    buf.resize(size_t(D) * Lp + 3 * size_t(L) * Dp + size_t(L) * kLanes + kRowBlock * size_t(Dp));
    qt = buf.data();
    q = qt + size_t(D) * Lp;
    k = q + size_t(L) * Dp;
    v = k + size_t(L) * Dp;
    st = v + size_t(L) * Dp;
    o = st + size_t(L) * kLanes;
  }
};

// Calls f(std::integral_constant<int, n>) for a run-time n in 1..N (nothing for 0): the tails of
// the blocked loops below pick, at run time, a version compiled for their size.
template <int N, typename F>
inline void with_count(int n, F f) {
  if constexpr (N > 0) {
    if (n == N) f(std::integral_constant<int, N>{});
    else with_count<N - 1>(n, f);
  }
}

// Scores of R keys (rows j..j+R of `rows`, Dp apart) against the 16 queries whose transposed
// values start at `qt` (one row of 16 a dimension, `qt_row` apart), written to st[(j + r) * 16 +
// lane]. Each key sums its dimensions in S interleaved partial sums so that R * S >= 8 chains
// are in flight however few keys are left: an FMA's result is ready after 4 cycles and 2 issue a
// cycle (AVX-512 here), so fewer chains leave the units idle.
template <int R>
inline void key_rows(const float* qt, int64_t qt_row, const float* rows, float* st, int j, int D) {
  constexpr int S = (8 + R - 1) / R;
  const int Dp = padded(D);
  vf acc[R][S];
  for (int r = 0; r < R; ++r)
    for (int s = 0; s < S; ++s) acc[r][s] = splat(0.0f);
  int d = 0;
  for (; d + S <= D; d += S)
    for (int s = 0; s < S; ++s) {
      const vf q = load(qt + size_t(d + s) * qt_row);
      for (int r = 0; r < R; ++r) acc[r][s] += rows[size_t(j + r) * Dp + d + s] * q;
    }
  for (; d < D; ++d) {
    const vf q = load(qt + size_t(d) * qt_row);
    for (int r = 0; r < R; ++r) acc[r][0] += rows[size_t(j + r) * Dp + d] * q;
  }
  for (int r = 0; r < R; ++r) {
    vf total = acc[r][0];
    for (int s = 1; s < S; ++s) total += acc[r][s];
    store(st + (j + r) * kLanes, total);
  }
}

// key_rows for every key 0..L-1: kKeyBlock at a time, then the rest in one call.
inline void all_keys(const float* qt, int64_t qt_row, const float* rows, float* st, int L, int D) {
  int j = 0;
  for (; j + kKeyBlock <= L; j += kKeyBlock) key_rows<kKeyBlock>(qt, qt_row, rows, st, j, D);
  with_count<kKeyBlock - 1>(L - j, [&](auto R) { key_rows<R.value>(qt, qt_row, rows, st, j, D); });
}

// Each lane's softmax statistics: the largest score and 1 / sum of exp(score - largest).
struct Softmax {
  vf top, inverse;
};

// Scores of the 16 queries [c, c + 16) against every key, one key a row (lanes = queries), then
// the softmax down each lane: max, exp, sum are whole-vector operations (the max in two chains).
inline Softmax softmax_columns(const Scratch& w, int L, int D, int Lp, int c, const float* bias_t,
                               int64_t bias_row) {
  all_keys(w.qt + c, Lp, w.k, w.st, L, D);
  int j = 0;
  if (bias_t != nullptr)
    for (j = 0; j < L; ++j)
      store(w.st + j * kLanes, load(w.st + j * kLanes) + load(bias_t + j * bias_row + c));
  vf top = load(w.st), top_even = top;  // two running maxima: key 0 and odd keys, even keys
  for (j = 1; j + 1 < L; j += 2) {
    const vf odd = load(w.st + j * kLanes), even = load(w.st + (j + 1) * kLanes);
    top = odd > top ? odd : top;
    top_even = even > top_even ? even : top_even;
  }
  if (j < L) {
    const vf last = load(w.st + j * kLanes);
    top = last > top ? last : top;
  }
  top = top_even > top ? top_even : top;
  vf sum = splat(0.0f);
  for (j = 0; j < L; ++j) {
    const vf e = exp_v(load(w.st + j * kLanes) - top);
    store(w.st + j * kLanes, e);
    sum += e;
  }
  return {top, 1.0f / sum};
}

// Output rows of R queries (lanes lane..lane+R of the current 16): multiplier[q] * sum_j
// weights[j][q] rows[j], two vectors of the row at a time (2R independent accumulators), through
// the fp32 row buffer o to outs[r].
template <int R, typename T>
inline void weighted_rows(const float* rows, const float* weights, float* o, int L, int D,
                          int lane, const float* multiplier, T* const* outs) {
  const int Dp = padded(D);
  for (int c = 0; c < Dp; c += 2 * kLanes) {
    const bool two = c + kLanes < Dp;
    vf acc[R][2];
    for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = splat(0.0f);
    for (int j = 0; j < L; ++j) {
      const float* v = rows + size_t(j) * Dp + c;
      const vf v0 = load(v), v1 = two ? load(v + kLanes) : splat(0.0f);
      for (int r = 0; r < R; ++r) {
        const float p = weights[j * kLanes + lane + r];
        acc[r][0] += p * v0;
        acc[r][1] += p * v1;
      }
    }
    for (int r = 0; r < R; ++r) {
      store(o + r * Dp + c, acc[r][0] * multiplier[lane + r]);
      if (two) store(o + r * Dp + c + kLanes, acc[r][1] * multiplier[lane + r]);
    }
  }
  for (int r = 0; r < R; ++r) store_row(o + r * Dp, D, outs[r]);
}

// weighted_rows for the queries 0..queries-1 of the block, query r written at first + r * stride:
// kRowBlock at a time, then the rest in one call.
template <typename T>
inline void all_queries(const float* rows, const float* weights, float* o, int L, int D,
                        int queries, const float* multiplier, T* first, int64_t stride) {
  auto some = [&](int r, auto R) {
    T* outs[R.value];
    for (int e = 0; e < R.value; ++e) outs[e] = first + (r + e) * stride;
    weighted_rows<R.value>(rows, weights, o, L, D, r, multiplier, outs);
  };
  int r = 0;
  for (; r + kRowBlock <= queries; r += kRowBlock)
    some(r, std::integral_constant<int, kRowBlock>{});
  with_count<kRowBlock - 1>(queries - r, [&](auto R) { some(r, R); });
}

// One head's L token rows of the fused q/k/v rows at `base` (`stride` apart; k and v `width`
// after q) in fp32 scratch: Q scaled by `scale`, K and V rows (Dp apart), and Q^T scaled (D x Lp,
// padding zero), transposed 16 queries at a time in registers.
template <typename T>
inline void load_head(const T* base, int64_t stride, int64_t width, int L, int D, float scale,
                      float* qt, float* q, float* k, float* v) {
  const int Lp = padded(L), Dp = padded(D);
  for (int j = 0; j < L; ++j) {
    const T* row = base + j * stride;
    float* qj = q + size_t(j) * Dp;
    load_row(row, D, qj, scale);
    load_row(row + width, D, k + size_t(j) * Dp);
    load_row(row + 2 * width, D, v + size_t(j) * Dp);
  }
  for (int c = 0; c < L; c += kLanes)
    transpose_rows(q + size_t(c) * Dp, Dp, std::min(kLanes, L - c), D, qt + c, Lp);
}

template <typename T>
void one_head(const Problem& p, int64_t sequence, int h, Scratch& w) {
  const int L = int(p.lengths[sequence]), D = p.dim, Lp = padded(L);
  const int64_t width = int64_t(p.heads) * D, start = p.starts[sequence];
  const T* base = static_cast<const T*>(p.qkv) + start * p.qkv_stride + int64_t(h) * D;
  T* out = static_cast<T*>(p.out) + start * p.out_stride + int64_t(h) * D;
  load_head(base, p.qkv_stride, width, L, D, p.scale, w.qt, w.q, w.k, w.v);
  const float* bias_t = p.bias == nullptr ? nullptr : p.bias + h * p.bias_head;
  for (int c = 0; c < L; c += kLanes) {
    const Softmax soft = softmax_columns(w, L, D, Lp, c, bias_t, p.bias_row);
    float inverse[kLanes], top[kLanes];
    store(inverse, soft.inverse);
    store(top, soft.top);
    const int queries = std::min(kLanes, L - c);
    if (p.stats != nullptr)
      for (int r = 0; r < queries; ++r) {
        float* stat = p.stats + ((start + c + r) * p.heads + h) * 2;
        stat[0] = top[r];
        stat[1] = inverse[r];
      }
    if (p.dropped > 0) {
      const vu rows = row_hashes(p.seed, start + c, p.heads, h);
      for (int j = 0; j < L; ++j)
        store(w.st + j * kLanes, load(w.st + j * kLanes) *
                                     keep_scale(rows, j, p.dropped, p.keep_scale));
    }
    all_queries(w.v, w.st, w.o, L, D, queries, inverse, out + c * p.out_stride, p.out_stride);
  }
}

// The backward of one (sequence, head). Per block of 16 queries (lanes), with P the kept
// probabilities (recomputed from the statistics), M the dropout factor and dO the output's
// gradient: dP = M (dO V^T), dS = P (dP - rowsum(dP P)), dQ = scale dS K, dK += scale dS^T Q,
// dV += (M P)^T dO; Q, K, V and dO rows in fp32 scratch, d(q, k, v) rounded once on store.
struct Backward {
  const void* qkv;
  int64_t qkv_stride;
  const void* grad;  // (tokens, width): the output's gradient
  int64_t grad_stride;
  const int64_t* starts;
  const int64_t* lengths;
  int64_t sequences;
  int heads, dim;
  float scale;
  const float* stats;
  uint32_t seed, dropped;
  float keep_scale;
  void* dqkv;  // (tokens, 3 * width), every element written
  int64_t dqkv_stride;
};

// Q^T scaled (D x Lp), Q scaled, K, V, dK, dV rows (L x Dp each), dO of the block's 16 queries
// transposed (D x 16) and as rows (16 x Dp), P, M P and dP of the block (L x 16 each), kRowBlock
// output rows.
struct BackwardScratch {
  std::vector<float> buf;
  float *qt, *q, *k, *v, *dk, *dv, *dot, *dorow, *pr, *kept, *dp, *o;
  void reserve(int L, int D) {
    const size_t Lp = padded(L), Dp = padded(D), rows = size_t(L) * Dp;
    buf.resize(size_t(D) * Lp + 5 * rows + size_t(D) * kLanes + kLanes * Dp +
               3 * size_t(L) * kLanes + kRowBlock * Dp);
    qt = buf.data();
    q = qt + size_t(D) * Lp;
    k = q + rows;
    v = k + rows;
    dk = v + rows;
    dv = dk + rows;
    dot = dv + rows;
    dorow = dot + size_t(D) * kLanes;
    pr = dorow + kLanes * Dp;
    kept = pr + size_t(L) * kLanes;
    dp = kept + size_t(L) * kLanes;
    o = dp + size_t(L) * kLanes;
  }
};

// acc[j + i] += sum_r weights[j + i][r] rows[r] for R rows of acc (Dp apart) and the block's
// `queries` rows (Dp apart): the gradients of keys and values, accumulated over the query blocks;
// two vectors of a row at a time (2R independent accumulators).
template <int R>
inline void add_outer(float* acc, const float* weights, const float* rows, int j, int queries,
                      int Dp) {
  for (int c = 0; c < Dp; c += 2 * kLanes) {
    const bool two = c + kLanes < Dp;
    vf a[R][2];
    for (int i = 0; i < R; ++i) {
      a[i][0] = load(acc + size_t(j + i) * Dp + c);
      a[i][1] = two ? load(acc + size_t(j + i) * Dp + c + kLanes) : splat(0.0f);
    }
    for (int r = 0; r < queries; ++r) {
      const float* row = rows + size_t(r) * Dp + c;
      const vf v0 = load(row), v1 = two ? load(row + kLanes) : splat(0.0f);
      for (int i = 0; i < R; ++i) {
        const float x = weights[(j + i) * kLanes + r];
        a[i][0] += x * v0;
        a[i][1] += x * v1;
      }
    }
    for (int i = 0; i < R; ++i) {
      store(acc + size_t(j + i) * Dp + c, a[i][0]);
      if (two) store(acc + size_t(j + i) * Dp + c + kLanes, a[i][1]);
    }
  }
}

// add_outer for every row 0..L-1 of acc: kRowBlock at a time, then the rest in one call.
inline void add_all_outer(float* acc, const float* weights, const float* rows, int L, int queries,
                          int Dp) {
  int j = 0;
  for (; j + kRowBlock <= L; j += kRowBlock)
    add_outer<kRowBlock>(acc, weights, rows, j, queries, Dp);
  with_count<kRowBlock - 1>(
      L - j, [&](auto R) { add_outer<R.value>(acc, weights, rows, j, queries, Dp); });
}

template <typename T>
void one_head_backward(const Backward& p, int64_t sequence, int h, BackwardScratch& w) {
  const int L = int(p.lengths[sequence]), D = p.dim, Lp = padded(L), Dp = padded(D);
  const int64_t width = int64_t(p.heads) * D, start = p.starts[sequence];
  const T* base = static_cast<const T*>(p.qkv) + start * p.qkv_stride + int64_t(h) * D;
  const T* grad = static_cast<const T*>(p.grad) + start * p.grad_stride + int64_t(h) * D;
  T* dqkv = static_cast<T*>(p.dqkv) + start * p.dqkv_stride + int64_t(h) * D;
  load_head(base, p.qkv_stride, width, L, D, p.scale, w.qt, w.q, w.k, w.v);
  std::fill(w.dk, w.dk + size_t(L) * Dp, 0.0f);
  std::fill(w.dv, w.dv + size_t(L) * Dp, 0.0f);
  float scales[kLanes];
  store(scales, splat(p.scale));
  for (int c = 0; c < L; c += kLanes) {
    const int queries = std::min(kLanes, L - c);
    float top[kLanes] = {}, inverse[kLanes] = {};  // 0 for lanes past the sequence: P = 0
    for (int r = 0; r < queries; ++r) {
      load_row(grad + (c + r) * p.grad_stride, D, w.dorow + size_t(r) * Dp);
      top[r] = p.stats[((start + c + r) * p.heads + h) * 2];
      inverse[r] = p.stats[((start + c + r) * p.heads + h) * 2 + 1];
    }
    transpose_rows(w.dorow, Dp, queries, D, w.dot, kLanes);
    all_keys(w.qt + c, Lp, w.k, w.pr, L, D);   // scores
    all_keys(w.dot, kLanes, w.v, w.dp, L, D);  // dO V^T
    const vf top_v = load(top), inverse_v = load(inverse);
    const vu rows = row_hashes(p.seed, start + c, p.heads, h);
    vf rowsum = splat(0.0f);
    for (int j = 0; j < L; ++j) {
      const vf m = p.dropped > 0 ? keep_scale(rows, j, p.dropped, p.keep_scale) : splat(1.0f);
      const vf prob = exp_v(load(w.pr + j * kLanes) - top_v) * inverse_v;
      const vf dprob = load(w.dp + j * kLanes) * m;
      store(w.kept + j * kLanes, prob * m);
      store(w.pr + j * kLanes, prob);
      store(w.dp + j * kLanes, dprob);
      rowsum += dprob * prob;
    }
    for (int j = 0; j < L; ++j)  // dS, over dP
      store(w.dp + j * kLanes, load(w.pr + j * kLanes) * (load(w.dp + j * kLanes) - rowsum));
    add_all_outer(w.dv, w.kept, w.dorow, L, queries, Dp);
    add_all_outer(w.dk, w.dp, w.q + size_t(c) * Dp, L, queries, Dp);
    all_queries(w.k, w.dp, w.o, L, D, queries, scales, dqkv + c * p.dqkv_stride, p.dqkv_stride);
  }
  for (int j = 0; j < L; ++j) {
    store_row(w.dk + size_t(j) * Dp, D, dqkv + j * p.dqkv_stride + width);
    store_row(w.dv + size_t(j) * Dp, D, dqkv + j * p.dqkv_stride + 2 * width);
  }
}

// head(p, sequence, h, scratch) for every (sequence, head) of p, on up to `threads` workers, each
// with its own scratch sized for the longest sequence.
template <typename Scratch_, typename P, typename Head>
void each_head(const P& p, int threads, Head head) {
  int longest = 1;
  for (int64_t s = 0; s < p.sequences; ++s) longest = std::max(longest, int(p.lengths[s]));
  parallel(p.sequences * p.heads, threads, [&](int first, int step) {
    Scratch_ w;
    w.reserve(longest, p.dim);
    for (int64_t t = first; t < p.sequences * p.heads; t += step)
      head(p, t / p.heads, int(t % p.heads), w);
  });
}

// The forward (0) or backward (1) of every head in dtype 0 = fp32, 1 = bf16; 1 if unknown.
template <int Pass, typename P>
int run(const P& p, int dtype, int threads) {
  if (dtype != 0 && dtype != 1) return 1;
  if constexpr (Pass == 0) {
    if (dtype == 0) each_head<Scratch>(p, threads, one_head<float>);
    else each_head<Scratch>(p, threads, one_head<uint16_t>);
  } else {
    if (dtype == 0) each_head<BackwardScratch>(p, threads, one_head_backward<float>);
    else each_head<BackwardScratch>(p, threads, one_head_backward<uint16_t>);
  }
  return 0;
}

}  // namespace

extern "C" {

// dtype: 0 = fp32, 1 = bf16 (qkv and out alike). Returns 0, or 1 for an unknown dtype.
int wb_attention(const void* qkv, int dtype, int64_t qkv_stride, const int64_t* starts,
                 const int64_t* lengths, int64_t sequences, int heads, int dim, float scale,
                 const float* bias, int64_t bias_head, int64_t bias_row, void* out,
                 int64_t out_stride, int threads) {
  const Problem p{qkv, qkv_stride, starts, lengths, sequences, heads, dim, scale, bias,
                  bias_head, bias_row, out, out_stride, nullptr, 0, 0, 1.0f};
  return run<0>(p, dtype, threads);
}

// Training forward, no bias: also writes stats (tokens, heads, 2) and drops probabilities whose
// hash is below `dropped` (of 65536; 0: no dropout), scaling the kept by keep_scale.
int wb_attention_train(const void* qkv, int dtype, int64_t qkv_stride, const int64_t* starts,
                       const int64_t* lengths, int64_t sequences, int heads, int dim, float scale,
                       void* out, int64_t out_stride, float* stats, uint32_t seed,
                       uint32_t dropped, float keep_scale, int threads) {
  const Problem p{qkv, qkv_stride, starts, lengths, sequences, heads, dim, scale, nullptr,
                  0, 0, out, out_stride, stats, seed, dropped, keep_scale};
  return run<0>(p, dtype, threads);
}

// Its backward: d(q, k, v) into dqkv (tokens, 3 * width) from the output's gradient (grad, in
// qkv's dtype), the same stats, seed and dropout.
int wb_attention_backward(const void* qkv, int dtype, int64_t qkv_stride, const void* grad,
                          int64_t grad_stride, const int64_t* starts, const int64_t* lengths,
                          int64_t sequences, int heads, int dim, float scale, const float* stats,
                          uint32_t seed, uint32_t dropped, float keep_scale, void* dqkv,
                          int64_t dqkv_stride, int threads) {
  const Backward p{qkv, qkv_stride, grad, grad_stride, starts, lengths, sequences, heads, dim,
                   scale, stats, seed, dropped, keep_scale, dqkv, dqkv_stride};
  return run<1>(p, dtype, threads);
}

}  // extern "C"
