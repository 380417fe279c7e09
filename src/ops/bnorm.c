/* bnorm ops: forward, backward and shape checks, calling kernels through g->be->k->bnorm. */
#include "bnorm.h"
#include "../nn_backend.h"

/* Assert that t is NULL or a (C) vector, naming the argument. */
static void bn_check_vec(const struct nn_tensor *t, const char *what, int64_t c) {
  char s[64];
  NN_ASSERT(!t || (t->ndim == 1 && t->shape[0] == c && t->dtype == NN_F32),
            "batchnorm2d: %s %s, expected (%lld) float", what, t ? nn_shape_str(t, s, 64) : "", (long long)c);
}

/* Sum the host doubles x(k) over the ranks through the graph's hook; the hook's error becomes g's status. */
static int bn_reduce(struct nn_graph *g, double *x, int k) {
  nn_status st = g->reduce(g->reduce_ctx, x, k);
  if (st != NN_OK && g->status == NN_OK) g->status = st;
  return st == NN_OK;
}

/* Host memory of the step for bytes (NULL and g->status set on OOM). */
static void *bn_host(struct nn_graph *g, size_t bytes) {
  void *h = nn_arena_alloc(&g->meta, bytes);
  if (!h && g->status == NN_OK) g->status = nn_fail(NN_ERR_OOM, "batchnorm2d: out of memory for statistics");
  return h;
}

/* Synchronised batch statistics for a (x set): *gmean, *gvar (c, biased, backend memory) over every
 * rank's batch; the running statistics a->rm/rv updated with them (the same values on every rank);
 * *m_global gets the values per channel. 0 on failure (g->status set). */
static int bn_sync_stats(struct nn_graph *g, const struct nn_bnorm_args *a, float *gmean, float *gvar,
                         double *m_global) {
  const struct nn_backend *be = g->be;
  int64_t c = a->c;
  double m = (double)(a->n * a->hw);
  double *dev = nn_scratch(g, sizeof(double) * (size_t)(2 * c)), *h = bn_host(g, sizeof(double) * (size_t)(2 * c)),
         *red = bn_host(g, sizeof(double) * (size_t)(2 * c + 1));
  float *mu = bn_host(g, sizeof(float) * (size_t)(4 * c));
  if (!dev || !h || !red || !mu) return 0;
  /* local two-pass moments, combined on the host into sum x and sum x^2 (doubles) */
  struct nn_bnorm_args s = *a;
  s.dy = NULL;
  s.shift = NULL;
  s.s1 = dev;
  s.s2 = dev + c;
  be->k->bnorm->sums(be, &s);
  nn_be_to_host(be, h, dev, sizeof(double) * (size_t)(2 * c));
  for (int64_t k = 0; k < c; k++) mu[k] = (float)(h[k] / m);
  nn_be_to_device(be, gmean, mu, sizeof(float) * (size_t)c);
  s.shift = gmean;
  be->k->bnorm->sums(be, &s);
  nn_be_to_host(be, h, dev, sizeof(double) * (size_t)(2 * c));
  for (int64_t k = 0; k < c; k++) {
    double sh = mu[k], d1 = h[k], d2 = h[c + k]; /* sums of (x - sh) and (x - sh)^2 */
    red[k] = m * sh + d1;
    red[c + k] = d2 + 2.0 * sh * d1 + m * sh * sh;
  }
  red[2 * c] = m;
  if (!bn_reduce(g, red, (int)(2 * c + 1))) return 0;
  double M = red[2 * c];
  float *var = mu + c, *hrm = mu + 2 * c, *hrv = mu + 3 * c;
  if (a->rm) {
    nn_be_to_host(be, hrm, a->rm, sizeof(float) * (size_t)c);
    nn_be_to_host(be, hrv, a->rv, sizeof(float) * (size_t)c);
  }
  for (int64_t k = 0; k < c; k++) {
    double mean = red[k] / M, v = red[c + k] / M - mean * mean;
    if (v < 0) v = 0;
    mu[k] = (float)mean;
    var[k] = (float)v;
    if (a->rm) {
      hrm[k] = (1.0f - a->momentum) * hrm[k] + a->momentum * mu[k];
      hrv[k] = (1.0f - a->momentum) * hrv[k] + a->momentum * (float)(v * M / (M - 1.0));
    }
  }
  nn_be_to_device(be, gmean, mu, sizeof(float) * (size_t)c);
  nn_be_to_device(be, gvar, var, sizeof(float) * (size_t)c);
  if (a->rm) {
    nn_be_to_device(be, a->rm, hrm, sizeof(float) * (size_t)c);
    nn_be_to_device(be, a->rv, hrv, sizeof(float) * (size_t)c);
  }
  *m_global = M;
  return 1;
}

static void batchnorm2d_backward(struct nn_graph *g, struct nn_node *n) {
  struct nn_tensor *x = n->in[0], *w = n->in[1], *b = n->in[2];
  struct nn_bnorm_args a = *(const struct nn_bnorm_args *)n->attr;
  a.dy = n->out->grad;
  a.dx = x->requires_grad ? x->grad : NULL;
  a.dw = w && w->requires_grad ? w->grad : NULL;
  a.db = b && b->requires_grad ? b->grad : NULL;
  if (!a.sync) { /* this rank's statistics */
    g->be->k->bnorm->bwd(g->be, &a);
    return;
  }
  /* synchronised: dw, db from this rank's values (the gradient allreduce averages them); dx through
   * the global statistics needs sum dy and sum dy * (x - mean) over every rank */
  float *dx = a.dx;
  a.dx = NULL;
  a.batch = 1;
  if (a.dw || a.db) g->be->k->bnorm->bwd(g->be, &a);
  if (!dx) return;
  int64_t c = a.c;
  double *dev = nn_scratch(g, sizeof(double) * (size_t)(2 * c)), *h = bn_host(g, sizeof(double) * (size_t)(2 * c));
  if (!dev || !h) return;
  a.shift = a.mean;
  a.s1 = dev;
  a.s2 = dev + c;
  g->be->k->bnorm->sums(g->be, &a);
  nn_be_to_host(g->be, h, dev, sizeof(double) * (size_t)(2 * c));
  if (!bn_reduce(g, h, (int)(2 * c))) return;
  nn_be_to_device(g->be, dev, h, sizeof(double) * (size_t)(2 * c));
  a.dx = dx;
  g->be->k->bnorm->bwd_dx(g->be, &a);
}

struct nn_tensor *nn_batchnorm2d(struct nn_graph *g, struct nn_tensor *x, struct nn_tensor *w, struct nn_tensor *b,
                                 struct nn_tensor *running_mean, struct nn_tensor *running_var, float momentum,
                                 float eps) {
  NN_NULL_IN(x);
  NN_CHECK_NDIM("batchnorm2d", x, 4);
  int64_t c = x->shape[1], hw = x->shape[2] * x->shape[3], m = x->shape[0] * hw;
  bn_check_vec(w, "weight", c);
  bn_check_vec(b, "bias", c);
  bn_check_vec(running_mean, "running_mean", c);
  bn_check_vec(running_var, "running_var", c);
  NN_ASSERT(!running_mean == !running_var, "batchnorm2d: running_mean and running_var must both be given or both NULL");
  int batch = g->training || !running_mean;
  char s[64];
  NN_ASSERT(!batch || m > 1, "batchnorm2d: batch statistics need more than 1 value per channel, input %s",
            nn_shape_str(x, s, 64));
  struct nn_tensor *y = nn_new_like(g, x), *mean = nn_new(g, NN_F32, 1, NN_SHAPE(c)),
                   *invstd = nn_new(g, NN_F32, 1, NN_SHAPE(c));
  NN_NULL_IN(y, mean, invstd);
  struct nn_bnorm_args a = {.n = x->shape[0], .c = c, .hw = hw, .momentum = momentum, .eps = eps, .batch = batch,
                            .x = x->data, .w = w ? w->data : NULL, .b = b ? b->data : NULL, .y = y->data,
                            .mean = mean->data, .invstd = invstd->data,
                            .rm = running_mean ? running_mean->data : NULL, .rv = running_var ? running_var->data : NULL};
  if (batch && g->reduce) { /* global statistics, then normalise with them as running statistics */
    struct nn_tensor *gm = nn_new(g, NN_F32, 1, NN_SHAPE(c)), *gv = nn_new(g, NN_F32, 1, NN_SHAPE(c));
    NN_NULL_IN(gm, gv);
    if (!bn_sync_stats(g, &a, gm->data, gv->data, &a.m)) return NULL;
    struct nn_bnorm_args f = a;
    f.batch = 0;
    f.rm = gm->data;
    f.rv = gv->data;
    g->be->k->bnorm->fwd(g->be, &f);
    a.sync = 1;
  } else {
    g->be->k->bnorm->fwd(g->be, &a);
  }
  struct nn_node *n = nn_record(g, NN_OP_BATCHNORM2D, batchnorm2d_backward, y, 3, (struct nn_tensor *[]){x, w, b});
  if (n) {
    n->saved[0] = mean;
    n->saved[1] = invstd;
  }
  nn_node_attr(g, n, &a, sizeof a);
  return y;
}
