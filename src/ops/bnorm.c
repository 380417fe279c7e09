/* bnorm ops: forward, backward and shape checks, calling kernels through g->be->bnorm. */
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

/* Host copy of c doubles per row of rows in backend memory (NULL and g->status set on OOM). */
static double *bn_host_sums(struct nn_graph *g, const double *dev, int64_t count) {
  double *h = nn_arena_alloc(&g->meta, sizeof(double) * (size_t)count);
  if (!h) {
    if (g->status == NN_OK) g->status = nn_fail(NN_ERR_OOM, "batchnorm2d: out of memory for statistics");
    return NULL;
  }
  g->be->to_host(h, dev, sizeof(double) * (size_t)count);
  return h;
}

/* Synchronised batch statistics of x: gmean(c), gvar(c) (biased, backend memory) over every rank's
 * batch, the running statistics updated with them; *m_global gets the values per channel. 0 on failure. */
static int bn_sync_stats(struct nn_graph *g, struct nn_tensor *gmean, struct nn_tensor *gvar, const struct nn_tensor *x,
                         struct nn_tensor *rm, struct nn_tensor *rv, float momentum, int64_t *m_global) {
  int64_t n = x->shape[0], c = x->shape[1], hw = x->shape[2] * x->shape[3];
  double m = (double)(n * hw);
  double *dev = nn_scratch(g, sizeof(double) * (size_t)(2 * c));
  if (!dev) return 0;
  /* local two-pass moments, combined on the host into exact-ish sum x and sum x^2 */
  g->be->bnorm->sums(dev, dev + c, x->data, NULL, NULL, n, c, hw);
  double *h = bn_host_sums(g, dev, 2 * c);
  float *mu = nn_arena_alloc(&g->meta, sizeof(float) * (size_t)(4 * c));
  double *red = nn_arena_alloc(&g->meta, sizeof(double) * (size_t)(2 * c + 1));
  if (!h || !mu || !red) {
    if (g->status == NN_OK) g->status = nn_fail(NN_ERR_OOM, "batchnorm2d: out of memory for statistics");
    return 0;
  }
  for (int64_t k = 0; k < c; k++) mu[k] = (float)(h[k] / m);
  g->be->to_device(gmean->data, mu, sizeof(float) * (size_t)c);
  g->be->bnorm->sums(dev, dev + c, x->data, NULL, gmean->data, n, c, hw);
  g->be->to_host(h, dev, sizeof(double) * (size_t)(2 * c));
  for (int64_t k = 0; k < c; k++) {
    double s = mu[k], d1 = h[k], d2 = h[c + k]; /* sums of (x - s) and (x - s)^2 */
    red[k] = m * s + d1;
    red[c + k] = d2 + 2.0 * s * d1 + m * s * s;
  }
  red[2 * c] = m;
  if (!bn_reduce(g, red, (int)(2 * c + 1))) return 0;
  double M = red[2 * c];
  float *var = mu + c, *hrm = mu + 2 * c, *hrv = mu + 3 * c;
  if (rm) {
    g->be->to_host(hrm, rm->data, sizeof(float) * (size_t)c);
    g->be->to_host(hrv, rv->data, sizeof(float) * (size_t)c);
  }
  for (int64_t k = 0; k < c; k++) {
    double mean = red[k] / M, v = red[c + k] / M - mean * mean;
    if (v < 0) v = 0;
    mu[k] = (float)mean;
    var[k] = (float)v;
    if (rm) {
      hrm[k] = (1.0f - momentum) * hrm[k] + momentum * mu[k];
      hrv[k] = (1.0f - momentum) * hrv[k] + momentum * (float)(v * M / (M - 1.0));
    }
  }
  g->be->to_device(gmean->data, mu, sizeof(float) * (size_t)c);
  g->be->to_device(gvar->data, var, sizeof(float) * (size_t)c);
  if (rm) {
    g->be->to_device(rm->data, hrm, sizeof(float) * (size_t)c);
    g->be->to_device(rv->data, hrv, sizeof(float) * (size_t)c);
  }
  *m_global = (int64_t)M;
  return 1;
}

static void batchnorm2d_backward(struct nn_graph *g, struct nn_node *n) {
  struct nn_tensor *x = n->in[0], *w = n->in[1], *b = n->in[2];
  int64_t N = x->shape[0], c = x->shape[1], hw = x->shape[2] * x->shape[3];
  float *dx = x->requires_grad ? x->grad : NULL, *dw = w && w->requires_grad ? w->grad : NULL,
        *db = b && b->requires_grad ? b->grad : NULL;
  if (!n->i[1]) { /* this rank's statistics */
    g->be->bnorm->bwd(dx, dw, db, n->out->grad, x->data, n->saved[0]->data, n->saved[1]->data, w ? w->data : NULL, N,
                      c, hw, (int)n->i[0]);
    return;
  }
  /* synchronised: dw, db from this rank's values (the gradient allreduce averages them); dx through
   * the global statistics needs sum dy and sum dy * (x - mean) over every rank */
  if (dw || db)
    g->be->bnorm->bwd(NULL, dw, db, n->out->grad, x->data, n->saved[0]->data, n->saved[1]->data, w ? w->data : NULL, N,
                      c, hw, 1);
  if (!dx) return;
  double *dev = nn_scratch(g, sizeof(double) * (size_t)(2 * c));
  if (!dev) return;
  g->be->bnorm->sums(dev, dev + c, x->data, n->out->grad, n->saved[0]->data, N, c, hw);
  double *h = bn_host_sums(g, dev, 2 * c);
  if (!h || !bn_reduce(g, h, (int)(2 * c))) return;
  g->be->to_device(dev, h, sizeof(double) * (size_t)(2 * c));
  g->be->bnorm->bwd_dx(dx, n->out->grad, x->data, n->saved[0]->data, n->saved[1]->data, w ? w->data : NULL, dev,
                       dev + c, (double)n->i[2], N, c, hw);
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
  int sync = batch && g->reduce;
  int64_t m_global = m;
  if (sync) { /* global statistics, then normalise with them as if they were running statistics */
    struct nn_tensor *gm = nn_new(g, NN_F32, 1, NN_SHAPE(c)), *gv = nn_new(g, NN_F32, 1, NN_SHAPE(c));
    NN_NULL_IN(gm, gv);
    if (!bn_sync_stats(g, gm, gv, x, running_mean, running_var, momentum, &m_global)) return NULL;
    g->be->bnorm->fwd(y->data, mean->data, invstd->data, gm->data, gv->data, x->data, w ? w->data : NULL,
                      b ? b->data : NULL, x->shape[0], c, hw, momentum, eps, 0);
  } else {
    g->be->bnorm->fwd(y->data, mean->data, invstd->data, running_mean ? running_mean->data : NULL,
                      running_var ? running_var->data : NULL, x->data, w ? w->data : NULL, b ? b->data : NULL,
                      x->shape[0], c, hw, momentum, eps, batch);
  }
  struct nn_node *n = nn_record(g, NN_OP_BATCHNORM2D, batchnorm2d_backward, y, 3, (struct nn_tensor *[]){x, w, b});
  if (n) {
    n->i[0] = batch;
    n->i[1] = sync;
    n->i[2] = m_global;
    n->saved[0] = mean;
    n->saved[1] = invstd;
  }
  return y;
}
