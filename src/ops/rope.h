/* rope ops: rotary position embedding (rotate-half convention of GPT-NeoX / HF LLaMA). */
#ifndef NN_OPS_ROPE_H
#define NN_OPS_ROPE_H
#include "../nn_graph.h"

/* Kernels of this family; every backend provides one instance (nn_cpu_rope, ...). */
struct nn_k_rope {
  /* cos(T,half), sin(T,half) of angle (pos0 + t) * base^(-i/half), i < half */
  void (*tables)(float *cos, float *sin, int64_t T, int64_t half, int64_t pos0, float base);
  /* out(B,T,H*2half) [+]= x rotated per head by the angles (sign +1) or back by them (sign -1);
   * accumulate adds into out instead of writing */
  void (*rotate)(float *out, const float *x, const float *cos, const float *sin, int64_t B, int64_t T,
                 int64_t H, int64_t half, float sign, int accumulate);
};

/* out(B,T,C) = x with each head's D = C/heads dims rotated: x1, x2 = first, second half;
 * out1 = x1 cos - x2 sin, out2 = x2 cos + x1 sin, angle (pos0 + t) * base^(-2i/D), i < D/2. */
struct nn_tensor *nn_rope(struct nn_graph *g, struct nn_tensor *x, int heads, int64_t pos0, float base);

#endif
