/* rope ops: rotary position embedding (rotate-half convention of GPT-NeoX / HF LLaMA). */
#ifndef NN_OPS_ROPE_H
#define NN_OPS_ROPE_H
#include "../nn_graph.h"

struct nn_backend;

/* Arguments of the rope kernels. */
struct nn_rope_args {
  int64_t B, T, H, half; /* x(B,T,H*2half) */
  int64_t pos0;          /* position of row t = 0 */
  float base;            /* angle of pair i: base^(-i/half) per position */
  float sign;            /* +1 rotate, -1 rotate back */
  int accumulate;        /* rotate: out += instead of = */
  float *cos, *sin;      /* (T,half) tables */
  const float *x;
  float *out;
};

/* Kernels of this family; every backend provides one instance (nn_cpu_rope, ...). */
struct nn_k_rope {
  /* cos(T,half), sin(T,half) of angle (pos0 + t) * base^(-i/half), i < half */
  void (*tables)(const struct nn_backend *be, const struct nn_rope_args *a);
  /* out(B,T,H*2half) [+]= x rotated per head by the angles (sign +1) or back by them (sign -1) */
  void (*rotate)(const struct nn_backend *be, const struct nn_rope_args *a);
};

/* out(B,T,C) = x with each head's D = C/heads dims rotated: x1, x2 = first, second half;
 * out1 = x1 cos - x2 sin, out2 = x2 cos + x1 sin, angle (pos0 + t) * base^(-2i/D), i < D/2. */
struct nn_tensor *nn_rope(struct nn_graph *g, struct nn_tensor *x, int heads, int64_t pos0, float base);

#endif
