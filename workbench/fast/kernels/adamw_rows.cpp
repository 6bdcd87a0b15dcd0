// AdamW on chosen rows of a 2-D fp32 parameter (weight decay 0), the same arithmetic as torch's
// fused CPU AdamW (aten/src/ATen/native/cpu/FusedAdamKernel.cpp) element by element:
//
//   g  = grad / grad_scale                       (grad_scale: the clipping factor's inverse)
//   m  = fma(w, g - m, m)  with w = 1 - beta1     (torch's lerp; w >= 0.5: fma(w - 1, g - m, g))
//   v  = fma((1 - beta2) * g, g, v * beta2)     (torch's build contracts it so)
//   p  = p + (-lr / (1 - beta1^t) * m) / (sqrt(v) / sqrt(1 - beta2^t) + eps)
//
// A row whose m, v and gradient are all zero is left exactly as it is by that update (m and v
// stay 0, p gains -0), so AdamW over a word-embedding table need only visit the rows that ever
// had a gradient. Fused multiply-adds are written out where torch's vector code has them (its own
// or its compiler's) and nowhere else (no contraction), so every value rounds as torch's does.

#include <cmath>
#include <cstdint>

#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include "vectors.h"

namespace {

using namespace wb;

struct Coefficients {
  float lerp_coeff, beta2, grad_sq_coeff, bias2_sqrt, eps, minus_step, grad_scale;
  bool lerp_from_grad;
};

// One row: the update above for each of its `cols` values; g == nullptr: a zero gradient. The
// coefficients are copied into locals and the rows marked __restrict__ so the loop vectorizes.
void row(float* __restrict__ p, float* __restrict__ m, float* __restrict__ v,
         const float* __restrict__ g, int64_t cols, const Coefficients& c) {
  const float lerp = c.lerp_coeff, beta2 = c.beta2, sq = c.grad_sq_coeff, bias2 = c.bias2_sqrt,
              eps = c.eps, step = c.minus_step, scale = c.grad_scale;  // scale 1: x / 1 == x
  const bool from_grad = c.lerp_from_grad;
  for (int64_t j = 0; j < cols; ++j) {
    const float grad = g ? g[j] / scale : 0.0f;
    const float base = from_grad ? grad : m[j];
    const float mj = std::fma(lerp, grad - m[j], base);
    const float vj = std::fma(sq * grad, grad, v[j] * beta2);
    m[j] = mj;
    v[j] = vj;
    p[j] = p[j] + step * mj / (std::sqrt(vj) / bias2 + eps);
  }
}

}  // namespace

extern "C" {

// param, exp_avg, exp_avg_sq: (count, cols) fp32 contiguous; rows: the n row indices to update;
// grad_of: for each of them the row of grad (n_grad, cols) holding its gradient, or -1 (zero).
// grad_scale <= 0: none. step: the step count after this step's increment. Returns 0, 1 for a
// row index out of range.
int wb_adamw_rows(float* param, float* exp_avg, float* exp_avg_sq, const float* grad,
                  const int64_t* rows, const int64_t* grad_of, int64_t n, int64_t count,
                  int64_t n_grad, int64_t cols, double lr, double beta1, double beta2, double eps,
                  double step, float grad_scale, int threads) {
  for (int64_t i = 0; i < n; ++i)
    if (rows[i] < 0 || rows[i] >= count || grad_of[i] >= n_grad) return 1;
  const double bias1 = 1 - std::pow(beta1, step), bias2 = 1 - std::pow(beta2, step);
  const double weight = 1 - beta1;
  const bool from_grad = !(std::fabs(float(weight)) < 0.5f);
  const Coefficients c{from_grad ? float(weight) - 1.0f : float(weight), float(beta2),
                       float(1 - beta2), float(std::sqrt(bias2)), float(eps),
                       float(-(lr / bias1)), grad_scale > 0 ? grad_scale : 1.0f, from_grad};
  parallel(n, threads, [&](int worker, int workers) {
    for (int64_t i = n * worker / workers, end = n * (worker + 1) / workers; i < end; ++i) {
      const int64_t r = rows[i] * cols;
      const float* g = grad_of[i] < 0 ? nullptr : grad + grad_of[i] * cols;
      row(param + r, exp_avg + r, exp_avg_sq + r, g, cols, c);
    }
  });
  return 0;
}

}  // extern "C"
