/* The gradient-check harness (see gradcheck.h). */
#include "gradcheck.h"
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GC_MAX_INPUTS 16
#define GC_MAX_CHECKED 96 /* elements checked by finite differences per input (all when fewer) */
#define GC_TAIL 17        /* and the last GC_TAIL elements (vector tails, the last chunk) */

struct gc_in {
  enum nn_dtype dt;
  int64_t numel;
  void *host;       /* base values */
  int grad;         /* requires grad */
  struct nn_tensor *t;
};

struct gc_ctx {
  int k, n;                       /* next input in this build call, inputs seen */
  struct gc_in in[GC_MAX_INPUTS];
  uint64_t draws;                 /* counter for generating values */
  int pert_in;                    /* input perturbed in this call (-1: none) */
  int64_t pert_elem;
  float pert_delta;
};

static struct nn_tensor *gc_make(struct gc_ctx *c, struct nn_graph *g, enum nn_dtype dt, int ndim,
                                 const int64_t *shape, int grad, int kind, double a, int64_t hi) {
  NN_ASSERT(c->k < GC_MAX_INPUTS, "gradcheck: more than %d inputs", GC_MAX_INPUTS);
  struct gc_in *r = &c->in[c->k];
  struct nn_tensor *t = nn_new(g, dt, ndim, shape);
  NN_ASSERT(t, "gradcheck: out of memory");
  if (c->k == c->n) { /* first call: draw the values */
    r->dt = dt;
    r->numel = t->numel;
    r->grad = grad;
    r->host = malloc(nn_dtype_size(dt) * (size_t)(t->numel ? t->numel : 1));
    for (int64_t i = 0; i < t->numel; i++) {
      uint64_t d = c->draws++;
      if (dt == NN_F32) {
        float x = nn_rng_normal(99, 5, 0, d);
        if (kind == 1) x = (x >= 0 ? 1.0f : -1.0f) * ((float)a + fabsf(x)); /* away from 0 */
        else x *= (float)a;
        ((float *)r->host)[i] = x;
      } else {
        int64_t v = (int64_t)(nn_rng_u32(99, 6, 0, d) % (uint64_t)hi);
        if (dt == NN_I32) ((int32_t *)r->host)[i] = (int32_t)v;
        else ((int64_t *)r->host)[i] = v;
      }
    }
    c->n++;
  }
  NN_ASSERT(r->numel == t->numel && r->dt == dt, "gradcheck: build() must create the same inputs each call");
  size_t bytes = nn_dtype_size(dt) * (size_t)t->numel;
  if (c->pert_in == c->k) { /* the perturbed copy goes to the backend */
    float *h = malloc(bytes ? bytes : 1);
    NN_ASSERT(h, "gradcheck: out of memory");
    memcpy(h, r->host, bytes);
    h[c->pert_elem] += c->pert_delta;
    nn_be_to_device(g->be, t->ptr, h, bytes);
    free(h);
  } else {
    nn_be_to_device(g->be, t->ptr, r->host, bytes);
  }
  t->requires_grad = grad;
  r->t = t;
  c->k++;
  return t;
}

struct nn_tensor *gc_input(struct gc_ctx *c, struct nn_graph *g, int ndim, const int64_t *shape, float scale) {
  return gc_make(c, g, NN_F32, ndim, shape, 1, 0, scale, 0);
}
struct nn_tensor *gc_input_away(struct gc_ctx *c, struct nn_graph *g, int ndim, const int64_t *shape, float margin) {
  return gc_make(c, g, NN_F32, ndim, shape, 1, 1, margin, 0);
}
struct nn_tensor *gc_const(struct gc_ctx *c, struct nn_graph *g, int ndim, const int64_t *shape, float scale) {
  return gc_make(c, g, NN_F32, ndim, shape, 0, 0, scale, 0);
}
struct nn_tensor *gc_index(struct gc_ctx *c, struct nn_graph *g, enum nn_dtype dt, int ndim, const int64_t *shape, int64_t hi) {
  return gc_make(c, g, dt, ndim, shape, 0, 0, 0, hi);
}

/* Run build once with a fresh tape; returns the output. */
static struct nn_tensor *gc_forward(const struct gc_case *k, struct nn_graph *g, struct gc_ctx *c) {
  nn_graph_reset(g);
  g->seed = 1234;
  g->step = 7;
  g->sample_base = 0;
  g->sample_stride = 1;
  g->training = 1;
  c->k = 0;
  struct nn_tensor *out = k->build(g, c);
  NN_ASSERT(out && g->status == NN_OK, "gradcheck %s: build failed: %s", k->name, nn_errmsg());
  return out;
}

/* A host copy of n floats of backend memory x (NULL x: zeros). */
static float *gc_host(const struct nn_backend *be, const float *x, int64_t n) {
  float *h = calloc((size_t)n + 1, sizeof(float));
  NN_ASSERT(h, "gradcheck: out of memory");
  if (x && n) nn_be_to_host(be, h, x, sizeof(float) * (size_t)n);
  return h;
}

static double gc_weighted_sum(const struct nn_graph *g, const struct nn_tensor *out, const float *R) {
  float *h = gc_host(g->be, out->data, out->numel);
  double L = 0;
  for (int64_t i = 0; i < out->numel; i++) L += (double)h[i] * R[i];
  free(h);
  return L;
}

/* The fixed random weights R of L = sum(out * R). */
static float *gc_weights(int64_t n) {
  float *R = malloc(sizeof(float) * (size_t)(n ? n : 1));
  NN_ASSERT(R, "gradcheck: out of memory");
  for (int64_t i = 0; i < n; i++) R[i] = nn_rng_normal(7, 8, 0, (uint64_t)i);
  return R;
}

/* The element after e to check: every step-th, then every one of the last GC_TAIL. */
static int64_t next_elem(int64_t e, int64_t step, int64_t m) {
  if (e >= m - GC_TAIL) return e + 1;
  return e + step < m - GC_TAIL ? e + step : m - GC_TAIL;
}

int gc_run(const struct gc_case *k, const struct nn_backend *be, int verbose) {
  struct nn_graph g;
  nn_graph_init(&g, be, 1 << 20);
  struct gc_ctx c;
  memset(&c, 0, sizeof c);
  c.pert_in = -1;
  double eps = k->eps > 0 ? k->eps : 1e-2, tol = k->tol > 0 ? k->tol : 5e-3;

  struct nn_tensor *out = gc_forward(k, &g, &c);
  float *R = gc_weights(out->numel);
  int failed = 0, on_tape = 0;
  for (struct nn_node *n = g.last; n; n = n->prev) on_tape |= n->op == k->op;
  if (!on_tape) {
    printf("  %s: op %s is not on the tape\n", k->name, nn_op_name(k->op));
    failed = 1;
  }
  if (!out->requires_grad) {
    printf("  %s: output does not require grad\n", k->name);
    failed = 1;
  }
  if (failed) goto done;
  NN_ASSERT(nn_backward_from(&g, out, R) == NN_OK, "gradcheck %s: backward failed: %s", k->name, nn_errmsg());
  float *analytic[GC_MAX_INPUTS] = {0};
  for (int i = 0; i < c.n; i++) {
    if (!c.in[i].grad) continue;
    analytic[i] = gc_host(be, c.in[i].t->grad, c.in[i].numel);
  }
  double worst = 0;
  for (int i = 0; i < c.n; i++) {
    if (!c.in[i].grad) continue;
    int64_t m = c.in[i].numel, step = m > GC_MAX_CHECKED ? m / GC_MAX_CHECKED : 1;
    for (int64_t e = 0; e < m; e = next_elem(e, step, m)) {
      double L[2];
      for (int s = 0; s < 2; s++) {
        c.pert_in = i;
        c.pert_elem = e;
        c.pert_delta = (float)(s ? -eps : eps);
        L[s] = gc_weighted_sum(&g, gc_forward(k, &g, &c), R);
      }
      c.pert_in = -1;
      double num = (L[0] - L[1]) / (2 * eps), an = analytic[i][e];
      double err = fabs(an - num) / (fabs(num) + 0.1);
      if (err > worst) worst = err;
      if (err > tol) {
        if (failed < 5)
          printf("  %s: input %d element %lld: analytic %.6g numeric %.6g\n", k->name, i, (long long)e, an, num);
        failed++;
      }
    }
  }
  if (verbose) printf("  %-32s worst relative error %.2e %s\n", k->name, worst, failed ? "FAIL" : "ok");
  for (int i = 0; i < c.n; i++) free(analytic[i]);
done:
  for (int i = 0; i < c.n; i++) free(c.in[i].host);
  free(R);
  nn_graph_destroy(&g);
  return failed;
}

/* Forward and backward of case k on backend be: host copies of the output and of every input's
 * gradient (NULL for inputs without one). Returns the output's element count. */
static int64_t gc_eval(const struct gc_case *k, const struct nn_backend *be, float **out_h, float **grads, int *nin) {
  struct nn_graph g;
  nn_graph_init(&g, be, 1 << 20);
  struct gc_ctx c;
  memset(&c, 0, sizeof c);
  c.pert_in = -1;
  struct nn_tensor *out = gc_forward(k, &g, &c);
  int64_t n = out->numel;
  *out_h = gc_host(be, out->data, n);
  float *R = gc_weights(n);
  if (out->requires_grad)
    NN_ASSERT(nn_backward_from(&g, out, R) == NN_OK, "gradcheck %s: backward failed: %s", k->name, nn_errmsg());
  *nin = c.n;
  for (int i = 0; i < c.n; i++) {
    grads[i] = c.in[i].grad ? gc_host(be, c.in[i].t->grad, c.in[i].numel) : NULL;
    grads[GC_MAX_INPUTS + i] = (float *)(intptr_t)c.in[i].numel; /* element count, see gc_compare */
    free(c.in[i].host);
  }
  free(R);
  nn_graph_destroy(&g);
  return n;
}

/* Worst |a-b| / (|ref| + 1e-3 * max|ref| + 1e-6) over n elements; *where gets its index. */
static double gc_diff(const float *ref, const float *x, int64_t n, int64_t *where) {
  double mx = 0, worst = 0;
  for (int64_t i = 0; i < n; i++) mx = fabs(ref[i]) > mx ? fabs(ref[i]) : mx;
  *where = -1;
  for (int64_t i = 0; i < n; i++) {
    double d = fabs((double)x[i] - ref[i]), e = d / (fabs(ref[i]) + 1e-3 * mx + 1e-6);
    if (x[i] != x[i] || e > worst) { /* NaN counts as the worst */
      worst = x[i] != x[i] ? INFINITY : e;
      *where = i;
    }
  }
  return worst;
}

int gc_compare(const struct gc_case *k, const struct nn_backend *ref, const struct nn_backend *be, double tol,
               int verbose) {
  float *out[2], *gr[2][2 * GC_MAX_INPUTS];
  int nin[2];
  int64_t n0 = gc_eval(k, ref, &out[0], gr[0], &nin[0]), n1 = gc_eval(k, be, &out[1], gr[1], &nin[1]);
  NN_ASSERT(n0 == n1 && nin[0] == nin[1], "gradcheck %s: the case builds different tensors on %s and %s", k->name,
            ref->device, be->device);
  int failed = 0;
  int64_t where;
  double worst = gc_diff(out[0], out[1], n0, &where), w;
  if (worst > tol) {
    printf("  %s on %s (%d threads): output element %lld: %.9g, %s: %.9g\n", k->name, be->device, be->threads,
           (long long)where, out[1][where], ref->device, out[0][where]);
    failed++;
  }
  for (int i = 0; i < nin[0]; i++) {
    if (!gr[0][i]) continue;
    int64_t m = (int64_t)(intptr_t)gr[0][GC_MAX_INPUTS + i];
    w = gc_diff(gr[0][i], gr[1][i], m, &where);
    if (w > worst) worst = w;
    if (w > tol) {
      printf("  %s on %s (%d threads): gradient of input %d element %lld: %.9g, %s: %.9g\n", k->name, be->device,
             be->threads, i, (long long)where, gr[1][i][where], ref->device, gr[0][i][where]);
      failed++;
    }
  }
  if (verbose)
    printf("  %-32s %s/%d vs %s/%d: every element, worst relative difference %.2e %s\n", k->name, be->device,
           be->threads, ref->device, ref->threads, worst, failed ? "FAIL" : "ok");
  for (int s = 0; s < 2; s++) {
    free(out[s]);
    for (int i = 0; i < nin[s]; i++) free(gr[s][i]);
  }
  return failed;
}
