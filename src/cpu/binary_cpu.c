/* CPU kernels of the binary ops. */
#include "../ops/binary.h"

#define BIN_CHUNK 4096 /* contiguous elements per parallel work item */
#define BIN_BLOCK 256  /* columns of b's gradient accumulated together in double */

/* defined in reduce_cpu.c: sum of x(n) * (y ? y(n) : 1) in double, serial / over threads */
double nn_cpu_dot(const float *x, const float *y, int64_t n);
double nn_cpu_dot_par(const float *x, const float *y, int64_t n);

static inline float bin_f(enum nn_bin_op op, float x, float y) {
  return op == NN_BIN_ADD ? x + y : op == NN_BIN_SUB ? x - y : x * y;
}

/* o(n) = [o +] a(n) op b(n or 1): ACC and BS (b stride 0/1) are compile-time constants */
#define BIN_LOOP(OP, ACC, BS)                                  \
  do {                                                         \
    const float bv_ = b[0];                                    \
    for (int64_t j = 0; j < n; j++) {                          \
      float v_ = bin_f(OP, a[j], (BS) ? b[j] : bv_);           \
      if (ACC) o[j] += v_; else o[j] = v_;                     \
    }                                                          \
  } while (0)

static inline __attribute__((always_inline)) void bin_row_op(float *o, const float *a, const float *b,
                                                             int64_t n, int bs, int acc, enum nn_bin_op op) {
  if (acc) {
    if (bs) BIN_LOOP(op, 1, 1); else BIN_LOOP(op, 1, 0);
  } else {
    if (bs) BIN_LOOP(op, 0, 1); else BIN_LOOP(op, 0, 0);
  }
}

/* o(n) = [o +] a(n) op b(n), or b(1) broadcast when bs == 0 */
static void bin_row(float *o, const float *a, const float *b, int64_t n, int bs, int acc, enum nn_bin_op op) {
  switch (op) {
    case NN_BIN_ADD: bin_row_op(o, a, b, n, bs, acc, NN_BIN_ADD); break;
    case NN_BIN_SUB: bin_row_op(o, a, b, n, bs, acc, NN_BIN_SUB); break;
    default: bin_row_op(o, a, b, n, bs, acc, NN_BIN_MUL); break;
  }
}

/* out(shape) = [out +] a(shape) op b(bstr) */
static void bin_apply(float *out, const float *a, const float *b, enum nn_bin_op op, int acc,
                      const int64_t sh[4], const int64_t bs[4]) {
  int64_t rows = sh[0] * sh[1] * sh[2], n = sh[3];
  if (rows * n == 0) return;
  int64_t nc = (n + BIN_CHUNK - 1) / BIN_CHUNK;
#pragma omp parallel for schedule(static) if (rows * n > 32768)
  for (int64_t it = 0; it < rows * nc; it++) {
    int64_t r = it / nc, j0 = (it % nc) * BIN_CHUNK, w = n - j0 < BIN_CHUNK ? n - j0 : BIN_CHUNK;
    int64_t i2 = r % sh[2], i1 = (r / sh[2]) % sh[1], i0 = r / (sh[2] * sh[1]);
    int64_t ao = r * n + j0, bo = i0 * bs[0] + i1 * bs[1] + i2 * bs[2] + j0 * bs[3];
    bin_row(out + ao, a + ao, b + bo, w, (int)bs[3], acc, op);
  }
}

/* The rows (i0,i1,i2) of one work item: all of them, with dim p (if >= 0) fixed to ip. */
static void item_range(int64_t lo[3], int64_t hi[3], const int64_t sh[4], int p, int64_t ip) {
  for (int k = 0; k < 3; k++) {
    lo[k] = 0;
    hi[k] = sh[k];
  }
  if (p >= 0) {
    lo[p] = ip;
    hi[p] = ip + 1;
  }
}

/* db(bstr) += alpha * sum over broadcast dims of dy * (a or 1), for bstr[3] == 1 (b varies along
 * the contiguous dim): items are (index along the first varying dim p < 3, block of columns), so
 * each item owns distinct elements of db; the columns of a block are accumulated in double. */
static void bin_reduce_cols(float *db, const float *dy, const float *a, float alpha, const int64_t sh[4],
                            const int64_t bs[4], int p) {
  int64_t n = sh[3], np = p >= 0 ? sh[p] : 1, nb = (n + BIN_BLOCK - 1) / BIN_BLOCK;
#pragma omp parallel for schedule(static) if (sh[0] * sh[1] * sh[2] * n > 32768)
  for (int64_t it = 0; it < np * nb; it++) {
    int64_t ip = it / nb, j0 = (it % nb) * BIN_BLOCK, w = n - j0 < BIN_BLOCK ? n - j0 : BIN_BLOCK;
    int64_t lo[3], hi[3];
    item_range(lo, hi, sh, p, ip);
    double acc[BIN_BLOCK];
    for (int64_t j = 0; j < w; j++) acc[j] = 0;
    for (int64_t i0 = lo[0]; i0 < hi[0]; i0++)
      for (int64_t i1 = lo[1]; i1 < hi[1]; i1++)
        for (int64_t i2 = lo[2]; i2 < hi[2]; i2++) {
          int64_t o = ((i0 * sh[1] + i1) * sh[2] + i2) * n + j0;
          const float *d = dy + o;
          if (a) {
            const float *x = a + o;
            for (int64_t j = 0; j < w; j++) acc[j] += (double)d[j] * (double)x[j];
          } else {
            for (int64_t j = 0; j < w; j++) acc[j] += (double)d[j];
          }
        }
    float *t = db + (p >= 0 ? ip * bs[p] : 0) + j0;
    for (int64_t j = 0; j < w; j++) t[j] += (float)(alpha * acc[j]);
  }
}

/* Same for bstr[3] == 0 (b constant along each contiguous row): each row adds its double sum to
 * one element of db; items are indices along the first varying dim p, or (few of them) rows summed
 * over threads. */
static void bin_reduce_rows(float *db, const float *dy, const float *a, float alpha, const int64_t sh[4],
                            const int64_t bs[4], int p) {
  int64_t n = sh[3], np = p >= 0 ? sh[p] : 1;
  int few = np < 8;
#pragma omp parallel for schedule(static) if (!few && sh[0] * sh[1] * sh[2] * n > 32768)
  for (int64_t ip = 0; ip < np; ip++) {
    int64_t lo[3], hi[3];
    item_range(lo, hi, sh, p, ip);
    for (int64_t i0 = lo[0]; i0 < hi[0]; i0++)
      for (int64_t i1 = lo[1]; i1 < hi[1]; i1++)
        for (int64_t i2 = lo[2]; i2 < hi[2]; i2++) {
          int64_t o = ((i0 * sh[1] + i1) * sh[2] + i2) * n;
          const float *x = a ? a + o : NULL;
          double s = few ? nn_cpu_dot_par(dy + o, x, n) : nn_cpu_dot(dy + o, x, n);
          db[i0 * bs[0] + i1 * bs[1] + i2 * bs[2]] += (float)(alpha * s);
        }
  }
}

/* db(bstr) += alpha * sum over the broadcast dims of dy(shape) * (a ? a(shape) : 1) */
static void bin_reduce(float *db, const float *dy, const float *a, float alpha, const int64_t sh[4],
                       const int64_t bs[4]) {
  int p = -1;
  for (int k = 0; k < 3 && p < 0; k++)
    if (bs[k]) p = k;
  if (bs[3])
    bin_reduce_cols(db, dy, a, alpha, sh, bs, p);
  else
    bin_reduce_rows(db, dy, a, alpha, sh, bs, p);
}

/* out(n) = s * x(n) */
static void bin_scale(float *out, const float *x, float s, int64_t n) {
#pragma omp parallel for schedule(static) if (n > 32768)
  for (int64_t i = 0; i < n; i++) out[i] = s * x[i];
}


/* the kernel table: adapters from the argument struct to the kernels above */
static void k_apply(const struct nn_backend *be, const struct nn_binary_args *a) {
  (void)be;
  bin_apply(a->out, a->a, a->b, a->op, a->accumulate, a->shape, a->bstr);
}
static void k_reduce(const struct nn_backend *be, const struct nn_binary_args *a) {
  (void)be;
  bin_reduce(a->db, a->dy, a->a, a->alpha, a->shape, a->bstr);
}
static void k_scale(const struct nn_backend *be, const struct nn_binary_args *a) { (void)be; bin_scale(a->out, a->a, a->s, a->n); }
const struct nn_k_binary nn_cpu_binary = {.apply = k_apply, .reduce = k_reduce, .scale = k_scale};
