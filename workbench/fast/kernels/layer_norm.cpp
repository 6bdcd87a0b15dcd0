// LayerNorm of a residual sum, in one pass over memory: out = LN(x + residual) * weight + bias.
//
// The sum, mean and variance are fp32 whatever the storage (fp32 or bf16; the sum is not rounded
// to bf16 before normalising), the variance two-pass over the row held in fp32 (biased, as
// torch.nn.LayerNorm): var = mean((s - mean(s))^2), out = (s - mean(s)) / sqrt(var + eps).
// torch runs this as an add and a LayerNorm, each a pass over memory (and, in bf16, slow
// conversions): 0.10 + 0.24 ms for 1,840 x 384 bf16 rows on one thread here.

#include <algorithm>
#include <cmath>
#include <vector>

#include "vectors.h"

namespace {

using namespace wb;

template <typename T>
void rows(const T* x, const T* residual, const T* weight, const T* bias, float eps, T* out,
          int64_t begin, int64_t end, int cols) {
  const int padded_cols = padded(cols);
  std::vector<float> s(padded_cols), w(padded_cols), b(padded_cols), r(padded_cols);
  load_row(weight, cols, w.data());
  load_row(bias, cols, b.data());
  const vf lanes = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
  for (int64_t row = begin; row < end; ++row) {
    load_row(x + row * cols, cols, s.data());
    load_row(residual + row * cols, cols, r.data());
    float* row_sum = s.data();
    const float mean = sum(accumulate(padded_cols, [&](int c) {
      const vf v = load(row_sum + c) + load(r.data() + c);
      store(row_sum + c, v);
      return v;
    })) / float(cols);
    const float var = sum(accumulate(padded_cols, [&](int c) {
      const vf d = load(row_sum + c) - mean;
      return lanes + float(c) < float(cols) ? d * d : splat(0.0f);  // padding: not in the row
    }));
    const float inverse = 1.0f / std::sqrt(var / float(cols) + eps);
    for (int c = 0; c < padded_cols; c += kLanes)
      store(s.data() + c, (load(s.data() + c) - mean) * inverse * load(w.data() + c) +
                              load(b.data() + c));
    store_row(s.data(), cols, out + row * cols);
  }
}

}  // namespace

extern "C" {

// x, residual, out: (count, cols) contiguous; weight, bias: (cols,); all of one dtype: 0 = fp32,
// 1 = bf16. Returns 0, or 1 for an unknown dtype.
int wb_add_layer_norm(const void* x, const void* residual, const void* weight, const void* bias,
                      float eps, void* out, int64_t count, int cols, int dtype, int threads) {
  if (dtype != 0 && dtype != 1) return 1;
  parallel(count, threads, [&](int worker, int workers) {  // a block of rows each
    const int64_t first = count * worker / workers, last = count * (worker + 1) / workers;
    if (dtype == 0)
      rows(static_cast<const float*>(x), static_cast<const float*>(residual),
           static_cast<const float*>(weight), static_cast<const float*>(bias), eps,
           static_cast<float*>(out), first, last, cols);
    else
      rows(static_cast<const uint16_t*>(x), static_cast<const uint16_t*>(residual),
           static_cast<const uint16_t*>(weight), static_cast<const uint16_t*>(bias), eps,
           static_cast<uint16_t*>(out), first, last, cols);
  });
  return 0;
}

}  // extern "C"
