/* Gradient check and cross-backend harness: a case builds one op's output from inputs it asks the
 * harness for; the harness compares the tape's gradients with central finite differences of
 * L = sum(out * R) (R fixed random), accumulated in double precision, and compares the output and
 * every input gradient, element by element, between each available backend and the CPU one. */
#ifndef GRADCHECK_H
#define GRADCHECK_H
#include "nn.h"

struct gc_ctx;

struct gc_case {
  const char *name;   /* unique, e.g. "matmul_2d_tb" */
  enum nn_op op;      /* the op under test; must appear on the tape */
  struct nn_tensor *(*build)(struct nn_graph *g, struct gc_ctx *c);
  double tol;         /* 0: default 5e-3; pass when |analytic-numeric| <= tol*(|numeric|+0.1) */
  double eps;         /* 0: default 1e-2 finite-difference step */
};

/* A float input that requires grad, values normal(0, scale) (same values every call of build). */
struct nn_tensor *gc_input(struct gc_ctx *c, struct nn_graph *g, int ndim, const int64_t *shape, float scale);
/* A float input whose values have |x| >= margin (keeps relu/maxpool away from kinks), requires grad. */
struct nn_tensor *gc_input_away(struct gc_ctx *c, struct nn_graph *g, int ndim, const int64_t *shape, float margin);
/* A float input without gradient (values normal(0, scale)). */
struct nn_tensor *gc_const(struct gc_ctx *c, struct nn_graph *g, int ndim, const int64_t *shape, float scale);
/* An index tensor (NN_I32 or NN_I64) with values uniform in [0, hi). */
struct nn_tensor *gc_index(struct gc_ctx *c, struct nn_graph *g, enum nn_dtype dt, int ndim, const int64_t *shape, int64_t hi);

/* Run one case on backend be against finite differences (sampled elements plus each input's last
 * ones); returns 0 when every checked gradient matches, prints the worst mismatch otherwise. */
int gc_run(const struct gc_case *k, const struct nn_backend *be, int verbose);
/* Run one case on backends ref and be (forward, then backward of L = sum(out * R)) and compare the
 * output and every input gradient element by element: fails when an element differs by more than
 * tol * (|ref| + 1e-3 max|ref|); returns the number of mismatching tensors. */
int gc_compare(const struct gc_case *k, const struct nn_backend *ref, const struct nn_backend *be, double tol,
               int verbose);

/* Case tables, one per op family (tests/gradcheck/gc_<family>.c), each ending with {0}. */
extern const struct gc_case gc_matmul[], gc_binary[], gc_act[], gc_softmax[], gc_loss[],
    gc_layernorm[], gc_embed[], gc_dropout[], gc_conv[], gc_pool[], gc_bnorm[], gc_shape[],
    gc_reduce[], gc_attn[], gc_rope[], gc_rnn[];

#endif
