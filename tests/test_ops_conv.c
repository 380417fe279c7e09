/* Value tests of the convolution-network ops (conv2d, pooling, batchnorm) against naive loops. */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <omp.h>
#include "nn.h"

/* A float tensor of the given shape filled with normal(0,1) * scale from stream `seed`. */
static struct nn_tensor *rand_tensor(struct nn_graph *g, int ndim, const int64_t *shape, uint32_t seed, float scale,
                                     int grad) {
  struct nn_tensor *t = nn_new(g, NN_F32, ndim, shape);
  CU_ASSERT_PTR_NOT_NULL_FATAL(t);
  for (int64_t i = 0; i < t->numel; i++) t->data[i] = scale * nn_rng_normal(11, seed, 0, (uint64_t)i);
  t->requires_grad = grad;
  return t;
}

/* max |a - b| / (|b| + 1) over n elements */
static double max_err(const float *a, const double *b, int64_t n) {
  double e = 0;
  for (int64_t i = 0; i < n; i++) e = fmax(e, fabs(a[i] - b[i]) / (fabs(b[i]) + 1.0));
  return e;
}

/* ---------------- conv2d ---------------- */

struct conv_cfg {
  int64_t n, c, h, w, o, kh, kw, stride, pad;
  int bias;
};

/* Naive 7-loop conv2d: y = conv(x, w) + b, and for dy: dx, dw, db (all in double). */
static void conv_ref(const struct conv_cfg *k, const float *x, const float *w, const float *b, const float *dy,
                     int64_t ho, int64_t wo, double *y, double *dx, double *dw, double *db) {
  for (int64_t n = 0; n < k->n; n++)
    for (int64_t o = 0; o < k->o; o++)
      for (int64_t oh = 0; oh < ho; oh++)
        for (int64_t ow = 0; ow < wo; ow++) {
          int64_t yi = ((n * k->o + o) * ho + oh) * wo + ow;
          double s = b ? b[o] : 0.0;
          for (int64_t c = 0; c < k->c; c++)
            for (int64_t i = 0; i < k->kh; i++)
              for (int64_t j = 0; j < k->kw; j++) {
                int64_t ih = oh * k->stride - k->pad + i, iw = ow * k->stride - k->pad + j;
                if (ih < 0 || ih >= k->h || iw < 0 || iw >= k->w) continue;
                int64_t xi = ((n * k->c + c) * k->h + ih) * k->w + iw, wi = ((o * k->c + c) * k->kh + i) * k->kw + j;
                s += (double)x[xi] * w[wi];
                dx[xi] += (double)dy[yi] * w[wi];
                dw[wi] += (double)dy[yi] * x[xi];
              }
          y[yi] = s;
          db[o] += dy[yi];
        }
}

/* conv2d forward and backward on backend be equal the naive loops. */
static void check_conv(const struct nn_backend *be, const struct conv_cfg *k) {
  struct nn_graph g;
  nn_graph_init(&g, be, 1 << 20);
  struct nn_tensor *x = rand_tensor(&g, 4, NN_SHAPE(k->n, k->c, k->h, k->w), 1, 1.0f, 1);
  struct nn_tensor *w = rand_tensor(&g, 4, NN_SHAPE(k->o, k->c, k->kh, k->kw), 2, 0.5f, 1);
  struct nn_tensor *b = k->bias ? rand_tensor(&g, 1, NN_SHAPE(k->o), 3, 1.0f, 1) : NULL;
  struct nn_tensor *y = nn_conv2d(&g, x, w, b, k->stride, k->pad);
  CU_ASSERT_PTR_NOT_NULL_FATAL(y);
  int64_t ho = (k->h + 2 * k->pad - k->kh) / k->stride + 1, wo = (k->w + 2 * k->pad - k->kw) / k->stride + 1;
  CU_ASSERT(y->ndim == 4 && y->shape[0] == k->n && y->shape[1] == k->o && y->shape[2] == ho && y->shape[3] == wo);
  struct nn_tensor *dy = rand_tensor(&g, 4, y->shape, 4, 1.0f, 0);
  CU_ASSERT_EQUAL_FATAL(nn_backward_from(&g, y, dy->data), NN_OK);
  double *ry = calloc((size_t)y->numel, sizeof(double)), *rdx = calloc((size_t)x->numel, sizeof(double));
  double *rdw = calloc((size_t)w->numel, sizeof(double)), *rdb = calloc((size_t)k->o, sizeof(double));
  conv_ref(k, x->data, w->data, b ? b->data : NULL, dy->data, ho, wo, ry, rdx, rdw, rdb);
  double e[4] = {max_err(y->data, ry, y->numel), max_err(x->grad, rdx, x->numel), max_err(w->grad, rdw, w->numel),
                 b ? max_err(b->grad, rdb, k->o) : 0.0};
  for (int i = 0; i < 4; i++) {
    if (e[i] > 1e-4)
      printf("\n  conv (%lld,%lld,%lld,%lld) o=%lld k=%lldx%lld s=%lld p=%lld threads=%d: %s error %.2e",
             (long long)k->n, (long long)k->c, (long long)k->h, (long long)k->w, (long long)k->o, (long long)k->kh,
             (long long)k->kw, (long long)k->stride, (long long)k->pad, omp_get_max_threads(),
             (const char *[]){"y", "dx", "dw", "db"}[i], e[i]);
    CU_ASSERT(e[i] <= 1e-4);
  }
  free(ry);
  free(rdx);
  free(rdw);
  free(rdb);
  nn_graph_destroy(&g);
}

static const struct conv_cfg conv_cfgs[] = {
    {2, 3, 7, 6, 4, 3, 3, 1, 1, 1},  {3, 2, 9, 8, 5, 5, 5, 1, 0, 0}, {2, 3, 8, 7, 4, 3, 3, 2, 1, 1},
    {3, 5, 6, 6, 3, 1, 1, 1, 0, 1},  {2, 4, 7, 7, 3, 1, 1, 2, 0, 1}, {1, 2, 10, 9, 3, 4, 4, 3, 2, 1},
    {2, 3, 6, 9, 2, 2, 3, 1, 1, 0},  {5, 1, 12, 12, 6, 5, 5, 1, 2, 1},
    {5, 4, 6, 6, 3, 1, 1, 1, 0, 1},  {7, 3, 5, 5, 4, 3, 3, 2, 1, 0}, /* image groups with a short last group */
    /* maps of >= 256 positions: whole-image tiles; the first one's columns (576 x 9600 floats) exceed
     * the 4M-float tile cap, so it runs as bands of 75 output rows and a short last band of 25 */
    {1, 64, 100, 96, 2, 3, 3, 1, 1, 1}, {2, 64, 35, 47, 5, 3, 3, 1, 1, 1},
    /* "same"-width stride 1 (contiguous runs; pad 2 leaves two padded columns), the row loops (pad 0;
     * stride 3), stride 2 (its own row loop), pointwise and 1x1 strided */
    {2, 3, 20, 18, 4, 5, 5, 1, 2, 1}, {2, 3, 20, 19, 3, 3, 3, 1, 0, 1}, {1, 2, 50, 52, 3, 4, 4, 3, 2, 0},
    {3, 6, 33, 34, 4, 3, 3, 2, 1, 0}, {3, 7, 17, 16, 5, 1, 1, 1, 0, 1}, {3, 5, 33, 32, 4, 1, 1, 2, 0, 0},
};

/* conv2d = the naive loops, forward and backward, with 1 thread (images one after another) and 2 and
 * 3 threads (images spread over threads when there are enough, else multi-threaded sgemm). */
static void test_conv2d_matches_naive(void) {
  for (int threads = 1; threads <= 3; threads++) {
    nn_backend_set_threads(&nn_cpu_backend, threads);
    for (size_t i = 0; i < sizeof conv_cfgs / sizeof conv_cfgs[0]; i++) check_conv(&nn_cpu_backend, &conv_cfgs[i]);
  }
  nn_backend_set_threads(&nn_cpu_backend, 1);
}

/* ---------------- pooling ---------------- */

/* Naive pooling of x(planes,h,w) to (ho,wo): mode 0 max (padding never wins), 1 avg with padding
 * counted, 2 adaptive avg; dx gets dy routed back. */
static void pool_ref(int mode, const float *x, const float *dy, int64_t planes, int64_t h, int64_t w, int64_t ho,
                     int64_t wo, int64_t k, int64_t s, int64_t p, double *y, double *dx) {
  for (int64_t q = 0; q < planes; q++)
    for (int64_t i = 0; i < ho; i++)
      for (int64_t j = 0; j < wo; j++) {
        int64_t h0 = i * s - p, h1 = h0 + k, w0 = j * s - p, w1 = w0 + k;
        if (mode == 2) {
          h0 = (int64_t)floor((double)i * h / ho), h1 = (int64_t)ceil((double)(i + 1) * h / ho);
          w0 = (int64_t)floor((double)j * w / wo), w1 = (int64_t)ceil((double)(j + 1) * w / wo);
        }
        double area = (double)(h1 - h0) * (w1 - w0), best = -INFINITY, sum = 0;
        int64_t at = -1, yi = (q * ho + i) * wo + j;
        for (int64_t a = h0; a < h1; a++)
          for (int64_t b = w0; b < w1; b++) {
            if (a < 0 || a >= h || b < 0 || b >= w) continue;
            double v = x[(q * h + a) * w + b];
            sum += v;
            if (v > best) best = v, at = (q * h + a) * w + b;
          }
        if (mode == 0) {
          y[yi] = best;
          dx[at] += dy[yi];
          continue;
        }
        y[yi] = sum / area;
        for (int64_t a = h0 < 0 ? 0 : h0; a < (h1 > h ? h : h1); a++)
          for (int64_t b = w0 < 0 ? 0 : w0; b < (w1 > w ? w : w1); b++) dx[(q * h + a) * w + b] += dy[yi] / area;
      }
}

/* One pooling (mode as in pool_ref) on x(2,3,h,w) equals the naive loops; values: 0 normal, 1 all
 * negative, 2 rounded to {-1,0,1} (ties: the first maximum in row-major order wins, as torch). */
static void check_pool(int mode, int64_t h, int64_t w, int64_t k, int64_t s, int64_t p, int64_t oh, int64_t ow,
                       int values) {
  struct nn_graph g;
  nn_graph_init(&g, &nn_cpu_backend, 1 << 20);
  struct nn_tensor *x = rand_tensor(&g, 4, NN_SHAPE(2, 3, h, w), 5, 1.0f, 1), *y;
  for (int64_t i = 0; i < x->numel; i++)
    x->data[i] = values == 1 ? -1.0f - fabsf(x->data[i]) : values == 2 ? roundf(x->data[i]) : x->data[i];
  if (mode == 0) y = nn_maxpool2d(&g, x, k, s, p);
  else if (mode == 1) y = nn_avgpool2d(&g, x, k, s, p);
  else y = nn_adaptive_avgpool2d(&g, x, oh, ow);
  CU_ASSERT_PTR_NOT_NULL_FATAL(y);
  int64_t ho = mode == 2 ? oh : (h + 2 * p - k) / s + 1, wo = mode == 2 ? ow : (w + 2 * p - k) / s + 1;
  CU_ASSERT_FATAL(y->shape[0] == 2 && y->shape[1] == 3 && y->shape[2] == ho && y->shape[3] == wo);
  struct nn_tensor *dy = rand_tensor(&g, 4, y->shape, 6, 1.0f, 0);
  CU_ASSERT_EQUAL_FATAL(nn_backward_from(&g, y, dy->data), NN_OK);
  double *ry = calloc((size_t)y->numel, sizeof(double)), *rdx = calloc((size_t)x->numel, sizeof(double));
  pool_ref(mode, x->data, dy->data, 6, h, w, ho, wo, k, s, p, ry, rdx);
  double ey = max_err(y->data, ry, y->numel), ex = max_err(x->grad, rdx, x->numel);
  if (ey > 1e-5 || ex > 1e-5)
    printf("\n  pool mode %d %lldx%lld k=%lld s=%lld p=%lld -> %lldx%lld: y error %.2e, dx error %.2e", mode,
           (long long)h, (long long)w, (long long)k, (long long)s, (long long)p, (long long)ho, (long long)wo, ey, ex);
  CU_ASSERT(ey <= 1e-5 && ex <= 1e-5);
  free(ry);
  free(rdx);
  nn_graph_destroy(&g);
}

/* maxpool2d = naive max; with all-negative input and padding, a padded position never wins; with
 * ties, the first maximum gets the gradient. */
static void test_maxpool_matches_naive(void) {
  check_pool(0, 6, 7, 2, 2, 0, 0, 0, 0);
  check_pool(0, 6, 7, 2, 2, 0, 0, 0, 2);
  check_pool(0, 7, 6, 3, 2, 1, 0, 0, 2);
  check_pool(0, 6, 6, 3, 1, 1, 0, 0, 2);
  check_pool(0, 7, 6, 3, 2, 1, 0, 0, 0);
  check_pool(0, 7, 6, 3, 2, 1, 0, 0, 1);
  check_pool(0, 5, 5, 3, 1, 1, 0, 0, 1);
  check_pool(0, 9, 8, 3, 3, 0, 0, 0, 0);
}

/* avgpool2d = naive mean with padding counted (count_include_pad=True). */
static void test_avgpool_matches_naive(void) {
  check_pool(1, 6, 7, 2, 2, 0, 0, 0, 0);
  check_pool(1, 7, 6, 3, 2, 1, 0, 0, 0);
  check_pool(1, 5, 5, 3, 1, 1, 0, 0, 0);
}

/* adaptive_avgpool2d = naive mean over torch's floor/ceil windows. */
static void test_adaptive_pool_matches_naive(void) {
  check_pool(2, 7, 5, 0, 0, 0, 3, 2, 0);
  check_pool(2, 5, 6, 0, 0, 0, 1, 1, 0);
  check_pool(2, 3, 2, 0, 0, 0, 5, 3, 0);
  check_pool(2, 14, 14, 0, 0, 0, 7, 7, 0);
  check_pool(2, 10, 13, 0, 0, 0, 4, 6, 0);
}

/* ---------------- batchnorm ---------------- */

/* One training step updates the running statistics by the formula (unbiased variance) and
 * normalises with the biased batch variance; eval then uses the running statistics unchanged. */
static void test_batchnorm_running_stats(void) {
  struct nn_graph g;
  nn_graph_init(&g, &nn_cpu_backend, 1 << 20);
  const int64_t N = 4, C = 3, HW = 15, M = N * HW;
  const float mom = 0.1f, eps = 1e-5f;
  struct nn_tensor *x = rand_tensor(&g, 4, NN_SHAPE(N, C, 3, 5), 7, 2.0f, 1);
  for (int64_t i = 0; i < x->numel; i++) x->data[i] += (float)((i / HW) % C); /* channel offsets */
  struct nn_tensor *w = rand_tensor(&g, 1, NN_SHAPE(C), 8, 1.0f, 1), *b = rand_tensor(&g, 1, NN_SHAPE(C), 9, 1.0f, 1);
  struct nn_tensor *rm = rand_tensor(&g, 1, NN_SHAPE(C), 10, 1.0f, 0), *rv = rand_tensor(&g, 1, NN_SHAPE(C), 11, 1.0f, 0);
  for (int c = 0; c < C; c++) rv->data[c] = 0.5f + fabsf(rv->data[c]);
  float rm0[3], rv0[3];
  memcpy(rm0, rm->data, sizeof rm0);
  memcpy(rv0, rv->data, sizeof rv0);
  double mean[3], var[3];
  for (int c = 0; c < C; c++) {
    double s = 0, sq = 0;
    for (int64_t n = 0; n < N; n++)
      for (int64_t k = 0; k < HW; k++) s += x->data[(n * C + c) * HW + k];
    mean[c] = s / M;
    for (int64_t n = 0; n < N; n++)
      for (int64_t k = 0; k < HW; k++) sq += pow(x->data[(n * C + c) * HW + k] - mean[c], 2);
    var[c] = sq / M;
  }
  g.training = 1;
  struct nn_tensor *y = nn_batchnorm2d(&g, x, w, b, rm, rv, mom, eps);
  CU_ASSERT_PTR_NOT_NULL_FATAL(y);
  for (int c = 0; c < C; c++) {
    double erm = (1 - mom) * rm0[c] + mom * mean[c], erv = (1 - mom) * rv0[c] + mom * var[c] * M / (M - 1);
    CU_ASSERT_DOUBLE_EQUAL(rm->data[c], erm, 1e-5 * (1 + fabs(erm)));
    CU_ASSERT_DOUBLE_EQUAL(rv->data[c], erv, 1e-5 * (1 + fabs(erv)));
    for (int64_t n = 0; n < N; n++)
      for (int64_t k = 0; k < HW; k++) {
        int64_t i = (n * C + c) * HW + k;
        double e = (x->data[i] - mean[c]) / sqrt(var[c] + eps) * w->data[c] + b->data[c];
        CU_ASSERT_DOUBLE_EQUAL(y->data[i], e, 1e-4 * (1 + fabs(e)));
      }
  }
  /* eval: running statistics used and left alone */
  float rm1[3], rv1[3];
  memcpy(rm1, rm->data, sizeof rm1);
  memcpy(rv1, rv->data, sizeof rv1);
  g.training = 0;
  y = nn_batchnorm2d(&g, x, w, b, rm, rv, mom, eps);
  CU_ASSERT_PTR_NOT_NULL_FATAL(y);
  for (int c = 0; c < C; c++) {
    CU_ASSERT_EQUAL(rm->data[c], rm1[c]);
    CU_ASSERT_EQUAL(rv->data[c], rv1[c]);
  }
  for (int64_t i = 0; i < x->numel; i++) {
    int64_t c = (i / HW) % C;
    double e = (x->data[i] - rm1[c]) / sqrt((double)rv1[c] + eps) * w->data[c] + b->data[c];
    CU_ASSERT_DOUBLE_EQUAL(y->data[i], e, 1e-4 * (1 + fabs(e)));
  }
  nn_graph_destroy(&g);
}

int main(void) {
  if (CU_initialize_registry() != CUE_SUCCESS) return 1;
  CU_pSuite s = CU_add_suite("ops_conv", NULL, NULL);
  CU_add_test(s, "conv2d matches naive loops (fwd+bwd, 1-3 threads)", test_conv2d_matches_naive);
  CU_add_test(s, "maxpool2d matches naive loops", test_maxpool_matches_naive);
  CU_add_test(s, "avgpool2d matches naive loops", test_avgpool_matches_naive);
  CU_add_test(s, "adaptive_avgpool2d matches naive loops", test_adaptive_pool_matches_naive);
  CU_add_test(s, "batchnorm2d running statistics", test_batchnorm_running_stats);
  CU_basic_set_mode(CU_BRM_VERBOSE);
  CU_basic_run_tests();
  int failures = (int)CU_get_number_of_failures();
  CU_cleanup_registry();
  return failures ? 1 : 0;
}
