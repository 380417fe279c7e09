/* nn_optim: optimizers (SGD, Adam, AdamW) and gradient clipping, all running over the flat
 * parameter / gradient / state buffers of a parameter table (never per tensor). Learning-rate
 * schedules are in nn_sched.h. */
#ifndef NN_OPTIM_H
#define NN_OPTIM_H
#include "nn_params.h"
#include "nn_sched.h"

/* Kernels of the optimizers; every backend provides one instance (nn_cpu_optim, ...).
 * Each update kernel runs over one contiguous segment of n elements; wd is 0 for segments
 * without weight decay. */
/* Arguments of the optimizer update kernels. */
struct nn_optim_args {
  int64_t n;          /* elements */
  float lr, wd;
  float mu;           /* SGD momentum (0: none) */
  int nesterov;
  int decoupled;      /* AdamW */
  float b1, b2, eps, step_size, bc2_sqrt; /* Adam; step_size = lr / (1 - b1^t), bc2_sqrt = sqrt(1 - b2^t) */
  float *p;           /* parameters */
  const float *g;     /* gradients */
  float *buf;         /* SGD momentum buffer */
  float *m, *v;       /* Adam moments */
};

/* Kernels of this family; every backend provides one instance (nn_cpu_optim, ...). */
struct nn_k_optim {
  /* p(n) -= lr * d, d = g + wd*p, then (mu != 0) buf(n) = mu*buf + d and d = buf (nesterov: d + mu*buf) */
  void (*sgd)(const struct nn_backend *be, const struct nn_optim_args *a);
  /* Adam on p(n) with moments m(n), v(n): coupled L2 (g + wd*p) or, when decoupled, p *= 1 - lr*wd first */
  void (*adam)(const struct nn_backend *be, const struct nn_optim_args *a);
  /* sum of x(n)^2, accumulated in double */
  double (*sumsq)(const struct nn_backend *be, const float *x, int64_t n);
  /* x(n) *= a */
  void (*scale)(const struct nn_backend *be, float *x, float a, int64_t n);
  /* x(n) = min(max(x, lo), hi) */
  void (*clamp)(const struct nn_backend *be, float *x, float lo, float hi, int64_t n);
};

enum nn_optim_kind { NN_OPT_SGD, NN_OPT_ADAM, NN_OPT_ADAMW };

struct nn_optim_cfg {
  enum nn_optim_kind kind;
  float momentum;     /* SGD */
  int nesterov;       /* SGD */
  float beta1, beta2, eps; /* Adam, AdamW */
  float weight_decay; /* applied only to parameters flagged for decay */
};

/* A contiguous run [off, off+n) of the flat buffers whose parameters share one decay flag. */
struct nn_optim_seg {
  int64_t off, n;
  int decay;
};

struct nn_optim {
  struct nn_optim_cfg cfg;
  struct nn_params *P;
  int64_t lo, hi; /* the elements [lo, hi) of the flat buffers this optimizer updates: [0, P->trainable),
                     or one rank's share with ZeRO-1 (docs/arch/zero.md) */
  int sliced;     /* set up by nn_optim_init_range: the state is one rank's share, on every rank alike
                     (checkpoints then read and write only [lo, hi)) */
  float *m, *v;  /* flat state over the hi - lo elements in backend memory (m[i - lo] is element i's);
                    NULL when unused (SGD: m is the momentum buffer) */
  int64_t t;     /* updates taken */
  struct nn_optim_seg *seg; /* decay / no-decay segments of [0, P->trainable) (host) */
  int nseg;
};

/* PyTorch's defaults for kind (momentum 0, betas 0.9/0.999, eps 1e-8, weight decay 0, AdamW 0.01). */
struct nn_optim_cfg nn_optim_defaults(enum nn_optim_kind kind);
/* Set up an optimizer over P (after nn_params_alloc); state zeroed, t = 0. */
nn_status nn_optim_init(struct nn_optim *o, struct nn_params *P, const struct nn_optim_cfg *cfg);
/* The same over the elements [lo, hi) of [0, P->trainable) only (ZeRO-1: this rank's share); state for
 * hi - lo elements. Weight decay still follows each parameter's flag (segments are cut at lo and hi). */
nn_status nn_optim_init_range(struct nn_optim *o, struct nn_params *P, const struct nn_optim_cfg *cfg, int64_t lo,
                              int64_t hi);
/* One update of every trainable parameter in [o->lo, o->hi) from P->grad with learning rate lr. */
void nn_optim_step(struct nn_optim *o, float lr);
/* Release the optimizer state. */
void nn_optim_free(struct nn_optim *o);
/* Name of an optimizer kind ("sgd", "adam", "adamw"). */
const char *nn_optim_name(enum nn_optim_kind kind);
/* Parse "sgd", "adam" or "adamw"; NN_ERR_ARG naming the value otherwise. */
nn_status nn_optim_parse_kind(const char *s, enum nn_optim_kind *out);

/* torch.nn.utils.clip_grad_norm_: returns the global L2 norm of P's gradients before clipping
 * (NaN/Inf propagate) and scales them by max_norm/(norm+1e-6) when that is < 1. */
double nn_clip_grad_norm(struct nn_params *P, float max_norm);
/* torch.nn.utils.clip_grad_value_: clamp every gradient to [-clip, clip]. */
void nn_clip_grad_value(struct nn_params *P, float clip);
/* clip_grad_norm_ when P->grad is split across ranks (ZeRO-1): this rank holds [lo, hi); reduce (a sum over
 * the ranks, e.g. comm_allreduce_double) turns the local sum of squares into the global one, so *norm is the
 * global norm on every rank; only [lo, hi) is scaled. NULL reduce: [lo, hi) is all there is. */
nn_status nn_clip_grad_norm_range(struct nn_params *P, int64_t lo, int64_t hi, float max_norm,
                                  nn_status (*reduce)(void *ctx, double *x, int n), void *ctx, double *norm);
/* clip_grad_value_ over [lo, hi) of P->grad only. */
void nn_clip_grad_value_range(struct nn_params *P, int64_t lo, int64_t hi, float clip);

#endif
