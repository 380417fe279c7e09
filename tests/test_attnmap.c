/* Unit tests of attention maps (src/attnmap.c): the probe on blk_mha_fwd records the probabilities of
 * an attention layer whose weights the test sets (one head with zero queries: exactly uniform over the
 * visible keys; the other head's softmax computed here in double precision), the token and image
 * pictures have those intensities at every cell (read back with cairo), the HDF5 maps equal them;
 * recorder appends, layer lookup and grid errors; a seq2seq translator built so that its alignment and
 * its translation are known in closed form: attn_translate (greedy and beam), the word-labelled picture's
 * cells and labels, the HDF5 matrix and words. */
#include <CUnit/Basic.h>
#include <cairo.h>
#include <hdf5.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "attnmap.h"
#include "blocks.h"
#include "ds_h5.h"
#include "model.h"
#include "pixels.h"
#include "translate.h"

static char tmpdir[] = "/tmp/attn_map_XXXXXX";

enum { C = 4, NH = 2, D = 2 };

/* A layer "enc.attn" of width C with NH heads, weights set deterministically; head 0's query rows are 0. */
struct layer {
  struct nn_params P;
  struct blk_mha a;
  double wq[C][C], bq[C], wk[C][C], bk[C];
};

static void layer_init(struct layer *L) {
  nn_params_init(&L->P);
  struct nn_scope enc = nn_scope_sub(nn_scope_root(&L->P), "enc");
  L->a = blk_mha_decl(enc, "attn", C, NH, NN_BIAS);
  CU_ASSERT_EQUAL_FATAL(nn_params_alloc(&L->P, &nn_cpu_backend), NN_OK);
  const struct nn_linear *lin[4] = {&L->a.query, &L->a.key, &L->a.value, &L->a.proj};
  for (int l = 0; l < 4; l++) {
    float w[C * C], b[C];
    for (int o = 0; o < C; o++) {
      for (int i = 0; i < C; i++) w[o * C + i] = (l == 0 && o < D) ? 0.0f : (float)(0.7 * sin(1.3 * (l + 1) + 0.9 * o + 2.1 * i));
      b[o] = (l == 0 && o < D) ? 0.0f : (float)(0.3 * cos(0.5 * l + 1.7 * o));
      for (int i = 0; i < C; i++) {
        if (l == 0) L->wq[o][i] = w[o * C + i];
        if (l == 1) L->wk[o][i] = w[o * C + i];
      }
      if (l == 0) L->bq[o] = b[o];
      if (l == 1) L->bk[o] = b[o];
    }
    nn_be_to_device(&nn_cpu_backend, L->P.p[lin[l]->weight].t.data, w, sizeof w);
    nn_be_to_device(&nn_cpu_backend, L->P.p[lin[l]->bias].t.data, b, sizeof b);
  }
}

/* Expected probabilities p(NH,T,T) of the layer on x(T,C), in double precision. */
static void expected(const struct layer *L, const float *x, int64_t T, int causal, double *p) {
  double *q = malloc(sizeof(double) * (size_t)(T * C)), *k = malloc(sizeof(double) * (size_t)(T * C));
  for (int64_t t = 0; t < T; t++)
    for (int o = 0; o < C; o++) {
      q[t * C + o] = L->bq[o], k[t * C + o] = L->bk[o];
      for (int i = 0; i < C; i++) q[t * C + o] += L->wq[o][i] * x[t * C + i], k[t * C + o] += L->wk[o][i] * x[t * C + i];
    }
  for (int h = 0; h < NH; h++)
    for (int64_t t = 0; t < T; t++) {
      double *row = p + (h * T + t) * T, mx = -INFINITY, sum = 0;
      for (int64_t s = 0; s < T; s++) {
        double sc = 0;
        for (int d = 0; d < D; d++) sc += q[t * C + h * D + d] * k[s * C + h * D + d];
        row[s] = (causal && s > t) ? -INFINITY : sc / sqrt((double)D);
        mx = fmax(mx, row[s]);
      }
      for (int64_t s = 0; s < T; s++) sum += row[s] = exp(row[s] - mx);
      for (int64_t s = 0; s < T; s++) row[s] /= sum;
    }
  free(q);
  free(k);
}

/* Run the layer on x(1,T,C) with the recorder attached (probe NULL afterwards). */
static void run_layer(struct layer *L, struct attn_rec *rec, const float *x, int64_t T, int causal) {
  struct nn_graph g;
  nn_graph_init(&g, &nn_cpu_backend, 0);
  g.training = 0;
  g.grad_enabled = 0;
  attn_rec_attach(rec, &g);
  struct nn_tensor *xt = nn_new(&g, NN_F32, 3, NN_SHAPE(1, T, C));
  nn_be_to_device(g.be, xt->data, x, sizeof(float) * (size_t)(T * C));
  CU_ASSERT_PTR_NOT_NULL(blk_mha_fwd(&g, &L->P, &L->a, xt, causal, 0.0f, NULL));
  attn_rec_detach(&g);
  CU_ASSERT_PTR_NULL(g.probe);
  nn_graph_destroy(&g);
}

static void test_text_map(void) {
  enum { T = 6 };
  struct layer L;
  layer_init(&L);
  float x[T * C];
  for (int i = 0; i < T * C; i++) x[i] = (float)sin(0.37 * i + 0.2);
  struct attn_rec rec = {0};
  run_layer(&L, &rec, x, T, 1);
  CU_ASSERT_EQUAL_FATAL(rec.status, NN_OK);
  CU_ASSERT_EQUAL_FATAL(rec.n, 1);
  const struct attn_map *m = NULL;
  CU_ASSERT_EQUAL_FATAL(attn_rec_find(&rec, "enc.attn", &m), NN_OK);
  CU_ASSERT_STRING_EQUAL(m->name, "enc.attn");
  CU_ASSERT(m->B == 1 && m->H == NH && m->T == T && m->S == T);
  double p[NH * T * T];
  expected(&L, x, T, 1, p);
  /* head 0: zero queries, so exactly uniform over the t+1 visible keys */
  for (int t = 0; t < T; t++)
    for (int s = 0; s < T; s++) CU_ASSERT_DOUBLE_EQUAL(p[t * T + s], s <= t ? 1.0 / (t + 1) : 0.0, 1e-12);
  int head1_spread = 0;
  for (int i = 0; i < NH * T * T; i++) {
    CU_ASSERT_DOUBLE_EQUAL(m->p[i], p[i], 1e-5);
    head1_spread |= i >= T * T && fabs(p[i] - p[(i / T) * T]) > 0.02 && (i % T) <= (i / T) % T;
  }
  CU_ASSERT(head1_spread); /* head 1 is not uniform: the picture test below can tell heads apart */
  /* the picture: every cell of every head has attn_colour(p) */
  char path[256], h5[256];
  snprintf(path, sizeof path, "%s/text.png", tmpdir);
  char *tok[T] = {"R", "O", " ", "\n", "e", "o"};
  CU_ASSERT_EQUAL_FATAL(attn_render_text(path, m, 0, tok, tok), NN_OK);
  cairo_surface_t *sf = cairo_image_surface_create_from_png(path);
  CU_ASSERT_EQUAL_FATAL(cairo_surface_status(sf), CAIRO_STATUS_SUCCESS);
  struct attn_text_fig f;
  attn_text_layout(&f, NH, T, T);
  CU_ASSERT_EQUAL(cairo_image_surface_get_width(sf), f.width);
  CU_ASSERT_EQUAL(cairo_image_surface_get_height(sf), f.height);
  int bad = 0;
  for (int h = 0; h < NH; h++)
    for (int t = 0; t < T; t++)
      for (int s = 0; s < T; s++) {
        int cx, cy, rgb[3];
        double want[3];
        attn_text_cell(&f, h, t, s, &cx, &cy);
        px_rgb(sf, cx + f.cell / 2, cy + f.cell / 2, rgb);
        attn_colour(p[(h * T + t) * T + s], want);
        bad += !px_near(rgb, want);
      }
  CU_ASSERT_EQUAL(bad, 0);
  /* the colour scale itself: white at 0, (8,48,107) at 1 */
  double c0[3], c1[3];
  attn_colour(0, c0), attn_colour(1, c1);
  CU_ASSERT(c0[0] == 1 && c0[1] == 1 && c0[2] == 1);
  CU_ASSERT(lround(c1[0] * 255) == 8 && lround(c1[1] * 255) == 48 && lround(c1[2] * 255) == 107);
  cairo_surface_destroy(sf);
  /* HDF5: /enc.attn/head<h> (T,T) = p, tokens as attributes */
  snprintf(h5, sizeof h5, "%s/text.h5", tmpdir);
  CU_ASSERT_EQUAL_FATAL(attn_write_h5(h5, &rec, 0, tok, tok, NULL, "test", "RO \neo"), NN_OK);
  hid_t file = H5Fopen(h5, H5F_ACC_RDONLY, H5P_DEFAULT);
  CU_ASSERT_FATAL(file >= 0);
  for (int h = 0; h < NH; h++) {
    char dn[64];
    snprintf(dn, sizeof dn, "/enc.attn/head%d", h);
    hid_t d = H5Dopen2(file, dn, H5P_DEFAULT);
    CU_ASSERT_FATAL(d >= 0);
    float got[T * T];
    CU_ASSERT(H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, got) >= 0);
    for (int i = 0; i < T * T; i++) CU_ASSERT_DOUBLE_EQUAL(got[i], p[h * T * T + i], 1e-5);
    CU_ASSERT(H5Aexists(d, "query_tokens") > 0 && H5Aexists(d, "key_tokens") > 0);
    H5Dclose(d);
  }
  H5Fclose(file);
  attn_rec_free(&rec);
  nn_params_free(&L.P);
}

static void test_image_map(void) {
  enum { G = 8, T = G * G, IH = 28, IW = 28 };
  struct layer L;
  layer_init(&L);
  float x[T * C];
  for (int i = 0; i < T * C; i++) x[i] = (float)(1.5 * sin(0.61 * i + 0.4));
  struct attn_rec rec = {0};
  run_layer(&L, &rec, x, T, 0);
  CU_ASSERT_EQUAL_FATAL(rec.n, 1);
  const struct attn_map *m = &rec.maps[0];
  double *p = malloc(sizeof(double) * NH * T * T);
  expected(&L, x, T, 0, p);
  for (int i = 0; i < T; i++) CU_ASSERT_DOUBLE_EQUAL(p[i], 1.0 / T, 1e-12); /* head 0 uniform */
  for (int i = 0; i < NH * T * T; i++) CU_ASSERT_DOUBLE_EQUAL(m->p[i], p[i], 1e-5);
  struct attn_grid gr;
  CU_ASSERT_EQUAL_FATAL(attn_grid_for("cnn", "attn", T, IH, IW, &gr), NN_OK);
  CU_ASSERT(gr.h == 8 && gr.w == 8 && gr.y0 == 6 && gr.x0 == 6 && gr.stride == 2);
  uint8_t img[IH * IW];
  for (int y = 0; y < IH; y++)
    for (int xx = 0; xx < IW; xx++) img[y * IW + xx] = (uint8_t)((xx * 9 + y * 5) % 256);
  int64_t q[2] = {2 * G + 3, 6 * G + 1};
  char path[256];
  snprintf(path, sizeof path, "%s/image.png", tmpdir);
  CU_ASSERT_EQUAL_FATAL(attn_render_image(path, img, 1, IH, IW, m, 0, &gr, q, 2), NN_OK);
  cairo_surface_t *sf = cairo_image_surface_create_from_png(path);
  CU_ASSERT_EQUAL_FATAL(cairo_surface_status(sf), CAIRO_STATUS_SUCCESS);
  struct attn_image_fig f;
  attn_image_layout(&f, IH, IW, NH, 2);
  CU_ASSERT_EQUAL(f.zoom, 8);
  CU_ASSERT_EQUAL(cairo_image_surface_get_width(sf), f.width);
  int bad = 0, checked = 0;
  for (int qi = 0; qi < 2; qi++)
    for (int c = 0; c <= NH; c++) { /* heads, then their mean */
      double row[T], pmax = 0;
      for (int s = 0; s < T; s++) {
        row[s] = c < NH ? p[(c * T + q[qi]) * T + s] : (p[q[qi] * T + s] + p[(T + q[qi]) * T + s]) / 2;
        pmax = fmax(pmax, row[s]);
      }
      int px0, py0;
      attn_image_panel(&f, qi, c, &px0, &py0);
      for (int i = 0; i < G; i++)
        for (int j = 0; j < G; j++) {
          /* the centre input pixel of cell (i,j): 2i+7 (the cell covers input [2i+6, 2i+8)) */
          int iy = 2 * i + 7, ix = 2 * j + 7, rgb[3];
          px_rgb(sf, px0 + ix * f.zoom + f.zoom / 2, py0 + iy * f.zoom + f.zoom / 2, rgb);
          double a = 0.75 * row[i * G + j] / pmax, g = img[iy * IW + ix] / 255.0;
          double want[3] = {g * (1 - a) + 0.85 * a, g * (1 - a) + 0.10 * a, g * (1 - a) + 0.10 * a};
          bad += !px_near(rgb, want);
          checked++;
        }
      /* outside the grid (input pixel (2,2)): the image, unchanged */
      int rgb[3];
      px_rgb(sf, px0 + 2 * f.zoom + 3, py0 + 2 * f.zoom + 3, rgb);
      double g = img[2 * IW + 2] / 255.0, want[3] = {g, g, g};
      bad += !px_near(rgb, want);
    }
  CU_ASSERT_EQUAL(checked, 2 * (NH + 1) * T);
  CU_ASSERT_EQUAL(bad, 0);
  cairo_surface_destroy(sf);
  /* HDF5 of an image map: the grid as an attribute of the layer's group */
  char h5[256];
  snprintf(h5, sizeof h5, "%s/image.h5", tmpdir);
  CU_ASSERT_EQUAL(attn_write_h5(h5, &rec, 0, NULL, NULL, &gr, "cnn", "0"), NN_OK);
  hid_t file = H5Fopen(h5, H5F_ACC_RDONLY, H5P_DEFAULT);
  CU_ASSERT_FATAL(file >= 0);
  hid_t grp = H5Gopen2(file, "enc.attn", H5P_DEFAULT);
  CU_ASSERT(grp >= 0 && H5Aexists(grp, "grid") > 0);
  hid_t d = H5Dopen2(grp, "head1", H5P_DEFAULT);
  float *got = malloc(sizeof(float) * T * T);
  CU_ASSERT(H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, got) >= 0);
  for (int i = 0; i < T * T; i++) CU_ASSERT_DOUBLE_EQUAL(got[i], p[T * T + i], 1e-5);
  free(got);
  H5Dclose(d);
  H5Gclose(grp);
  H5Fclose(file);
  free(p);
  attn_rec_free(&rec);
  nn_params_free(&L.P);
}

/* Probe called directly (a translator's cross-attention, one decoding step at a time): rows append,
 * S grows with zero padding; lookup by index and name; errors name --layer and list the layers. */
static void test_recorder(void) {
  struct nn_graph g;
  nn_graph_init(&g, &nn_cpu_backend, 0);
  struct attn_rec rec = {0};
  nn_probe(&g, "x", NULL); /* no probe: nothing happens */
  attn_rec_attach(&rec, &g);
  float r1[3] = {0.2f, 0.3f, 0.5f}, r2[4] = {0.1f, 0.1f, 0.1f, 0.7f};
  struct nn_tensor *t1 = nn_new(&g, NN_F32, 4, NN_SHAPE(1, 1, 1, 3)), *t2 = nn_new(&g, NN_F32, 4, NN_SHAPE(1, 1, 1, 4));
  nn_be_to_device(g.be, t1->data, r1, sizeof r1);
  nn_be_to_device(g.be, t2->data, r2, sizeof r2);
  nn_probe(&g, "decoder.cross", t1);
  nn_probe(&g, "decoder.cross", t2);
  nn_probe(&g, "other", t1);
  CU_ASSERT_EQUAL_FATAL(rec.status, NN_OK);
  CU_ASSERT_EQUAL_FATAL(rec.n, 2);
  const struct attn_map *m;
  CU_ASSERT_EQUAL_FATAL(attn_rec_find(&rec, "0", &m), NN_OK);
  CU_ASSERT(m->T == 2 && m->S == 4);
  const float want[8] = {0.2f, 0.3f, 0.5f, 0, 0.1f, 0.1f, 0.1f, 0.7f};
  for (int i = 0; i < 8; i++) CU_ASSERT_EQUAL(m->p[i], want[i]);
  CU_ASSERT_EQUAL(attn_rec_find(&rec, "other", &m), NN_OK);
  CU_ASSERT_STRING_EQUAL(m->name, "other");
  CU_ASSERT_EQUAL(attn_rec_find(&rec, "7", &m), NN_ERR_ARG);
  CU_ASSERT(strstr(nn_errmsg(), "--layer") && strstr(nn_errmsg(), "'7'") && strstr(nn_errmsg(), "decoder.cross"));
  CU_ASSERT_EQUAL(attn_rec_find(&rec, "blocks.9.attn", &m), NN_ERR_ARG);
  attn_rec_free(&rec);
  CU_ASSERT_EQUAL(attn_rec_find(&rec, NULL, &m), NN_ERR_ARG); /* nothing recorded */
  nn_graph_destroy(&g);
  /* grids: cnn --attn seed attends over one position; a square count is stretched over the image */
  struct attn_grid gr;
  CU_ASSERT_EQUAL(attn_grid_for("cnn", "attn", 1, 28, 28, &gr), NN_ERR_ARG);
  CU_ASSERT(strstr(nn_errmsg(), "--attn spatial") != NULL);
  CU_ASSERT_EQUAL(attn_grid_for("resnet", "layer4.attn", 49, 224, 224, &gr), NN_OK);
  CU_ASSERT(gr.h == 7 && gr.w == 7 && gr.stride == 32);
  CU_ASSERT_EQUAL(attn_grid_for("x", "a", 50, 28, 28, &gr), NN_ERR_ARG);
  /* a picture must be a .png */
  struct attn_map mm = {.B = 1, .H = 1, .T = 1, .S = 1, .p = (float[]){1}};
  CU_ASSERT_EQUAL(attn_render_text("/tmp/x.svg", &mm, 0, NULL, NULL), NN_ERR_ARG);
  CU_ASSERT(strstr(nn_errmsg(), "--out") != NULL);
}


/* ---- a translator whose alignment is known exactly ----
 * seq2seq, hidden 8: every GRU input and recurrent weight 0, so the encoder states and the decoder's
 * states do not depend on the words: with bias_ih = (0 | bz | bn), bias_hh = 0, r = 1/2, z = sigma(bz),
 * n = tanh(bn), the state after k steps from h is n + z^k (h - n). enc_s = the encoder's after s+1
 * steps from 0; the decoder starts from enc_{S-1} and y_t is its state after t+1 steps. The decoder
 * attention is then softmax_s((W_a y_t) . enc_s / sqrt(8)) with W_a set here. The words: concat maps
 * y_t[0] alone (ht[0] = tanh(y_t[0]), the other units tanh(0) = 0), and output word v scores
 * K (2 c_v ht[0] - c_v^2) = K (c_v^2 - (ht[0] - c_v)^2) + const: the word whose centre c_v is nearest;
 * the centres are ht[0] at steps 0..3 for ils, sont, professeurs, EOS. Encoder self-attention weights
 * are 0: uniform over the source. */
enum { SH = 8, SVS = 8, SVT = 8, SL = 8 };
static char *s2s_src_vocab[SVS] = {"<pad>", "<sos>", "<eos>", "<unk>", "they", "are", "teachers", "."};
static char *s2s_tgt_vocab[SVT] = {"<pad>", "<sos>", "<eos>", "<unk>", "ils", "sont", "professeurs", "."};

static double sigm(double x) { return 1 / (1 + exp(-x)); }
static double enc_bz(int i) { return i == 0 ? -40 : 0.6 * i - 2.0; }
static double enc_bn(int i) { return i == 0 ? -1.5 : 1.8 * sin(1.0 + 1.3 * i); }
static double dec_bz(int i) { return i == 0 ? 0 : 0.9 - 0.35 * i; }
static double dec_bn(int i) { return i == 0 ? 1.5 : 1.6 * cos(0.4 + 0.9 * i); }
static double w_att(int o, int i) { return 5.0 * cos(1.1 * o + 0.7 * i + 0.3); }
/* state of a zero-weight GRU with biases (bz, bn) after k steps from h */
static double gru_k(double bz, double bn, double h, int k) { return tanh(bn) + pow(sigm(bz), k) * (h - tanh(bn)); }

static void set_param(struct nn_params *P, const char *name, int64_t i, double v) {
  int k = nn_params_find(P, name);
  CU_ASSERT_FATAL(k >= 0 && i < P->p[k].t.numel);
  P->p[k].t.data[i] = (float)v;
}

static void test_translation_alignment(void) {
  enum { S = 5, T = 4 }; /* "they are teachers ." + EOS; "ils sont professeurs" + EOS */
  const struct model_def *def = model_find("seq2seq");
  CU_ASSERT_PTR_NOT_NULL_FATAL(def);
  struct cfg c;
  cfg_defaults(&c);
  CU_ASSERT_EQUAL_FATAL(cfg_set(&c, "hidden", "8", "test"), NN_OK);
  CU_ASSERT_EQUAL_FATAL(cfg_set(&c, "n_head", "2", "test"), NN_OK);
  CU_ASSERT_EQUAL_FATAL(cfg_set(&c, "dropout", "0", "test"), NN_OK);
  def->preset(&c);
  struct ds_meta meta = {.kind = DS_PAIRS, .src_vocab_size = SVS, .tgt_vocab_size = SVT, .src_vocab = s2s_src_vocab,
                         .tgt_vocab = s2s_tgt_vocab, .pad_id = 0, .sos_id = 1, .eos_id = 2, .unk_id = 3, .max_len = SL};
  struct nn_params P;
  nn_params_init(&P);
  void *self = NULL;
  CU_ASSERT_EQUAL_FATAL(def->build(&self, &c, &meta, &P), NN_OK);
  CU_ASSERT_EQUAL_FATAL(nn_params_alloc(&P, &nn_cpu_backend), NN_OK);
  for (int i = 0; i < P.n; i++) memset(P.p[i].t.data, 0, sizeof(float) * (size_t)P.p[i].t.numel);
  for (int i = 0; i < SH; i++) {
    set_param(&P, "encoder.gru.bias_ih_l0", SH + i, enc_bz(i));
    set_param(&P, "encoder.gru.bias_ih_l0", 2 * SH + i, enc_bn(i));
    set_param(&P, "decoder.gru.bias_ih_l0", SH + i, dec_bz(i));
    set_param(&P, "decoder.gru.bias_ih_l0", 2 * SH + i, dec_bn(i));
    for (int j = 0; j < SH; j++) set_param(&P, "decoder.attn.weight", i * SH + j, w_att(i, j));
  }
  set_param(&P, "decoder.concat.weight", 0 * 2 * SH + SH + 0, 1.0); /* ht[0] = tanh(y_t[0]) */
  /* expected states, attention and words, in double precision */
  double enc[S][SH], y[T + 2][SH], ht0[T + 2];
  for (int s = 0; s < S; s++)
    for (int i = 0; i < SH; i++) enc[s][i] = gru_k(enc_bz(i), enc_bn(i), 0, s + 1);
  for (int t = 0; t < T + 2; t++) {
    for (int i = 0; i < SH; i++) y[t][i] = gru_k(dec_bz(i), dec_bn(i), enc[S - 1][i], t + 1);
    ht0[t] = tanh(y[t][0]);
  }
  const int word_at[T] = {4, 5, 6, 2}; /* ils sont professeurs EOS */
  const double K = 500; /* peaked: a beam finds the same translation */
  for (int t = 0; t < T; t++) {
    set_param(&P, "decoder.out.weight", word_at[t] * SH + 0, K * 2 * ht0[t]);
    set_param(&P, "decoder.out.bias", word_at[t], -K * ht0[t] * ht0[t]);
  }
  for (int v = 0; v < SVT; v++)
    if (v != 4 && v != 5 && v != 6 && v != 2) set_param(&P, "decoder.out.bias", v, -1000);
  int words[T + 2];
  for (int t = 0; t < T + 2; t++) { /* greedy in double: the nearest centre; check the construction */
    double best = -INFINITY;
    for (int v = 0; v < SVT; v++) {
      int k = nn_params_find(&P, "decoder.out.weight"), kb = nn_params_find(&P, "decoder.out.bias");
      double l = P.p[k].t.data[v * SH] * ht0[t] + P.p[kb].t.data[v];
      if (l > best) best = l, words[t] = v;
    }
  }
  for (int t = 0; t < T; t++) CU_ASSERT_EQUAL(words[t], word_at[t]);
  double p[T][S];
  for (int t = 0; t < T; t++) {
    double q[SH], mx = -INFINITY, sum = 0;
    for (int o = 0; o < SH; o++) {
      q[o] = 0;
      for (int i = 0; i < SH; i++) q[o] += w_att(o, i) * y[t][i];
    }
    for (int s = 0; s < S; s++) {
      p[t][s] = 0;
      for (int o = 0; o < SH; o++) p[t][s] += q[o] * enc[s][o];
      p[t][s] /= sqrt((double)SH);
      mx = fmax(mx, p[t][s]);
    }
    for (int s = 0; s < S; s++) sum += p[t][s] = exp(p[t][s] - mx);
    for (int s = 0; s < S; s++) p[t][s] /= sum;
  }
  double pmin = 1, pmax = 0;
  for (int t = 0; t < T; t++)
    for (int s = 0; s < S; s++) pmin = fmin(pmin, p[t][s]), pmax = fmax(pmax, p[t][s]);
  printf("\n    alignment probabilities in [%.3f, %.3f]", pmin, pmax);
  CU_ASSERT(pmax - pmin > 0.3); /* far from uniform: the picture can tell cells apart */
  /* translate with the recorder: greedy and a beam of 3 give the same */
  struct nn_graph g;
  nn_graph_init(&g, &nn_cpu_backend, 0);
  g.training = 0;
  g.grad_enabled = 0;
  struct translator tr;
  translate_setup(&tr, &(struct task_model){.def = def, .self = self, .P = &P, .g = &g, .meta = &meta});
  for (int beam = 1; beam <= 3; beam += 2) {
    struct attn_rec rec = {0};
    char **src = NULL, **tgt = NULL;
    int64_t ns = 0, nt = 0;
    CU_ASSERT_EQUAL_FATAL(attn_translate(&tr, "They are teachers.", beam, &rec, &src, &ns, &tgt, &nt), NN_OK);
    CU_ASSERT_PTR_NULL(g.probe);
    CU_ASSERT_EQUAL_FATAL(ns, S);
    CU_ASSERT_EQUAL_FATAL(nt, T);
    const char *ws[S] = {"they", "are", "teachers", ".", "<eos>"}, *wt[T] = {"ils", "sont", "professeurs", "<eos>"};
    for (int s = 0; s < S; s++) CU_ASSERT_STRING_EQUAL(src[s], ws[s]);
    for (int t = 0; t < T; t++) CU_ASSERT_STRING_EQUAL(tgt[t], wt[t]);
    CU_ASSERT_EQUAL_FATAL(rec.n, 2);
    const struct attn_map *e = NULL, *d = NULL;
    CU_ASSERT_EQUAL_FATAL(attn_rec_find(&rec, "encoder.attn", &e), NN_OK);
    CU_ASSERT_EQUAL_FATAL(attn_rec_find(&rec, "decoder.attn", &d), NN_OK);
    CU_ASSERT(e->B == 1 && e->H == 2 && e->T == S && e->S == S && e->qtok == src && e->ktok == src);
    CU_ASSERT(d->B == 1 && d->H == 1 && d->T == T && d->S == S && d->qtok == tgt && d->ktok == src);
    for (int i = 0; i < 2 * S * S; i++) CU_ASSERT_DOUBLE_EQUAL(e->p[i], 1.0 / S, 1e-6);
    double err = 0;
    for (int t = 0; t < T; t++)
      for (int s = 0; s < S; s++) err = fmax(err, fabs(d->p[t * S + s] - p[t][s]));
    CU_ASSERT(err < 1e-5);
    if (beam == 1) printf("\n    recorded alignment vs double precision: max abs err %.1e", err);
    if (beam == 3) { /* the picture and the HDF5 maps */
      char path[256], h5[256];
      const char *title = "alignment";
      snprintf(path, sizeof path, "%s/align.png", tmpdir);
      CU_ASSERT_EQUAL_FATAL(attn_render_words(path, d, 0, d->qtok, d->ktok, title), NN_OK);
      cairo_surface_t *sf = cairo_image_surface_create_from_png(path);
      CU_ASSERT_EQUAL_FATAL(cairo_surface_status(sf), CAIRO_STATUS_SUCCESS);
      struct attn_text_fig f;
      attn_words_layout(&f, 1, T, S, tgt, src, title);
      CU_ASSERT_EQUAL(cairo_image_surface_get_width(sf), f.width);
      CU_ASSERT_EQUAL(cairo_image_surface_get_height(sf), f.height);
      CU_ASSERT(f.labw > 40 && f.labh > 40); /* bands that fit "professeurs" and "teachers" */
      int bad = 0, unlabelled = 0;
      for (int t = 0; t < T; t++)
        for (int s = 0; s < S; s++) {
          int cx, cy, rgb[3];
          double want[3];
          attn_text_cell(&f, 0, t, s, &cx, &cy);
          attn_colour(p[t][s], want);
          for (int dy = 2; dy < f.cell - 2; dy += 5) /* the whole cell, not only its centre */
            for (int dx = 2; dx < f.cell - 2; dx += 5) {
              px_rgb(sf, cx + dx, cy + dy, rgb);
              bad += !px_near(rgb, want);
            }
        }
      /* every row has its word in the left band and every column its word in the top band: dark pixels */
      int x0, y0;
      attn_text_cell(&f, 0, 0, 0, &x0, &y0);
      for (int t = 0; t < T; t++)
        unlabelled += !px_any_dark(sf, x0 - f.labw, x0 - 2, y0 + t * f.cell + 2, y0 + (t + 1) * f.cell - 2);
      for (int s = 0; s < S; s++)
        unlabelled += !px_any_dark(sf, x0 + s * f.cell + 2, x0 + (s + 1) * f.cell - 2, y0 - f.labh, y0 - 2);
      CU_ASSERT_EQUAL(bad, 0);
      CU_ASSERT_EQUAL(unlabelled, 0);
      cairo_surface_destroy(sf);
      /* the encoder's two heads with words on both axes */
      snprintf(path, sizeof path, "%s/enc.png", tmpdir);
      CU_ASSERT_EQUAL(attn_render_words(path, e, 0, e->qtok, e->ktok, "encoder"), NN_OK);
      /* HDF5: the raw matrices with the words */
      snprintf(h5, sizeof h5, "%s/align.h5", tmpdir);
      CU_ASSERT_EQUAL_FATAL(attn_write_h5(h5, &rec, 0, NULL, NULL, NULL, "seq2seq", "They are teachers."), NN_OK);
      hid_t file = H5Fopen(h5, H5F_ACC_RDONLY, H5P_DEFAULT);
      CU_ASSERT_FATAL(file >= 0);
      hid_t ds = H5Dopen2(file, "/decoder.attn/head0", H5P_DEFAULT);
      CU_ASSERT_FATAL(ds >= 0);
      hid_t sp = H5Dget_space(ds);
      hsize_t dims[2] = {0, 0};
      CU_ASSERT(H5Sget_simple_extent_ndims(sp) == 2 && H5Sget_simple_extent_dims(sp, dims, NULL) == 2);
      CU_ASSERT(dims[0] == T && dims[1] == S);
      H5Sclose(sp);
      float got[T * S];
      CU_ASSERT(H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, got) >= 0);
      for (int i = 0; i < T * S; i++) CU_ASSERT_DOUBLE_EQUAL(got[i], p[i / S][i % S], 1e-5);
      char **qw = NULL, **kw = NULL;
      int64_t nq = 0, nk = 0;
      CU_ASSERT_EQUAL_FATAL(ds_attr_get_strv(ds, h5, "query_tokens", &qw, &nq), NN_OK);
      CU_ASSERT_EQUAL_FATAL(ds_attr_get_strv(ds, h5, "key_tokens", &kw, &nk), NN_OK);
      CU_ASSERT(nq == T && nk == S);
      for (int t = 0; t < T && t < nq; t++) CU_ASSERT_STRING_EQUAL(qw[t], wt[t]);
      for (int s = 0; s < S && s < nk; s++) CU_ASSERT_STRING_EQUAL(kw[s], ws[s]);
      ds_strv_free(qw, nq);
      ds_strv_free(kw, nk);
      H5Dclose(ds);
      ds = H5Dopen2(file, "/encoder.attn/head1", H5P_DEFAULT);
      CU_ASSERT(ds >= 0 && ds_attr_get_strv(ds, h5, "query_tokens", &qw, &nq) == NN_OK && nq == S);
      if (nq == S) CU_ASSERT_STRING_EQUAL(qw[2], "teachers");
      ds_strv_free(qw, nq);
      H5Dclose(ds);
      H5Fclose(file);
    }
    attn_rec_free(&rec);
    free(src);
    free(tgt);
  }
  nn_graph_destroy(&g);
  def->destroy(self);
  nn_params_free(&P);
}

int main(void) {
  if (!mkdtemp(tmpdir)) return 1;
  if (CU_initialize_registry() != CUE_SUCCESS) return 1;
  CU_pSuite s = CU_add_suite("attnmap", NULL, NULL);
  CU_add_test(s, "token map of a set layer: probe, PNG pixels, HDF5", test_text_map);
  CU_add_test(s, "image overlay of a set layer: probe, PNG pixels, HDF5", test_image_map);
  CU_add_test(s, "recorder appends, layer lookup, grids", test_recorder);
  CU_add_test(s, "translator alignment of a set seq2seq: probe, PNG pixels and words, HDF5", test_translation_alignment);
  CU_basic_set_mode(CU_BRM_VERBOSE);
  CU_basic_run_tests();
  int fails = (int)CU_get_number_of_failures();
  CU_cleanup_registry();
  char cmd[64];
  snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
  if (system(cmd) != 0) fails++;
  return fails ? 1 : 0;
}
