/* attnmap: `attn_train attention` — attention maps of a checkpoint as PNG (cairo) and HDF5.
 * Text models: the token x token map of each head of one layer, characters on the axes.
 * Image models: the attention of chosen query positions over the input image, per head and mean. */
#include "attnmap.h"
#include <cairo.h>
#include <errno.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ds_h5.h"
#include "generate.h"
#include "model.h"
#include "nn_fs.h"
#include "plot.h"
#include "translate.h"

/* ---- the recorder (g->probe) ---- */

static void rec_probe(void *ctx, struct nn_graph *g, const char *name, const struct nn_tensor *p) {
  struct attn_rec *r = ctx;
  if (r->status != NN_OK) return;
  int64_t B = p->shape[0], H = p->shape[1], T = p->shape[2], S = p->shape[3];
  float *h = malloc(sizeof(float) * (size_t)p->numel);
  if (!h) {
    r->status = nn_fail(NN_ERR_OOM, "attention maps: out of memory");
    return;
  }
  nn_be_to_host(g->be, h, p->data, sizeof(float) * (size_t)p->numel);
  for (int64_t i = 0; i < p->numel; i++) h[i] = fabsf(h[i]); /* a dropped entry is negated */
  struct attn_map *m = NULL;
  for (int i = 0; i < r->n; i++)
    if (!strcmp(r->maps[i].name, name)) m = &r->maps[i];
  if (!m) { /* a new layer */
    if (r->n == r->cap) {
      int cap = r->cap ? 2 * r->cap : 8;
      struct attn_map *v = realloc(r->maps, sizeof *v * (size_t)cap);
      if (!v) {
        free(h);
        r->status = nn_fail(NN_ERR_OOM, "attention maps: out of memory");
        return;
      }
      r->maps = v, r->cap = cap;
    }
    m = &r->maps[r->n++];
    *m = (struct attn_map){.B = B, .H = H, .T = T, .S = S, .p = h};
    snprintf(m->name, sizeof m->name, "%s", name);
    return;
  }
  if (m->B != B || m->H != H) {
    free(h);
    r->status = nn_fail(NN_ERR_ARG, "attention maps: layer %s called again with batch %lld, heads %lld (was %lld, %lld)",
                        name, (long long)B, (long long)H, (long long)m->B, (long long)m->H);
    return;
  }
  /* append rows: (B,H,T0,S0) + (B,H,T,S) -> (B,H,T0+T,max(S0,S)), zero padded */
  int64_t T2 = m->T + T, S2 = m->S > S ? m->S : S;
  float *n = calloc((size_t)(B * H * T2 * S2), sizeof(float));
  if (!n) {
    free(h);
    r->status = nn_fail(NN_ERR_OOM, "attention maps: out of memory");
    return;
  }
  for (int64_t bh = 0; bh < B * H; bh++) {
    for (int64_t t = 0; t < m->T; t++)
      memcpy(n + (bh * T2 + t) * S2, m->p + (bh * m->T + t) * m->S, sizeof(float) * (size_t)m->S);
    for (int64_t t = 0; t < T; t++)
      memcpy(n + (bh * T2 + m->T + t) * S2, h + (bh * T + t) * S, sizeof(float) * (size_t)S);
  }
  free(m->p);
  free(h);
  m->p = n, m->T = T2, m->S = S2;
}

void attn_rec_attach(struct attn_rec *r, struct nn_graph *g) {
  g->probe = rec_probe;
  g->probe_ctx = r;
}

void attn_rec_detach(struct nn_graph *g) {
  g->probe = NULL;
  g->probe_ctx = NULL;
}

void attn_rec_free(struct attn_rec *r) {
  for (int i = 0; i < r->n; i++) free(r->maps[i].p);
  free(r->maps);
  memset(r, 0, sizeof *r);
}

nn_status attn_rec_find(const struct attn_rec *r, const char *layer, const struct attn_map **m) {
  *m = NULL;
  if (r->n == 0) return nn_fail(NN_ERR_ARG, "the model recorded no attention maps");
  if (!layer) {
    *m = &r->maps[0];
    return NN_OK;
  }
  char *end;
  long k = strtol(layer, &end, 10);
  if (*layer && !*end) {
    if (k >= 0 && k < r->n) *m = &r->maps[k];
  } else {
    for (int i = 0; i < r->n; i++)
      if (!strcmp(r->maps[i].name, layer)) *m = &r->maps[i];
  }
  if (*m) return NN_OK;
  char list[1024] = "";
  size_t len = 0;
  for (int i = 0; i < r->n && len + 80 < sizeof list; i++)
    len += (size_t)snprintf(list + len, sizeof list - len, "%s%d = %s", i ? ", " : "", i, r->maps[i].name);
  return nn_fail(NN_ERR_ARG, "option --layer: no attention layer '%s' (the model has %d: %s)", layer, r->n, list);
}

/* ---- pictures ---- */

static int has_suffix(const char *s, const char *suf) {
  size_t a = strlen(s), b = strlen(suf);
  return a >= b && strcmp(s + a - b, suf) == 0;
}

static nn_status png_check(const char *path) {
  if (!has_suffix(path, ".png")) return nn_fail(NN_ERR_ARG, "option --out %s: the picture must end in .png", path);
  return NN_OK;
}

static nn_status png_write(cairo_surface_t *sf, const char *path) {
  cairo_status_t cs = cairo_surface_write_to_png(sf, path);
  cairo_surface_destroy(sf);
  if (cs != CAIRO_STATUS_SUCCESS) return nn_fail(NN_ERR_IO, "cannot write %s: %s", path, cairo_status_to_string(cs));
  return NN_OK;
}

static cairo_surface_t *png_surface(int width, int height, cairo_t **cr) {
  cairo_surface_t *sf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, width, height);
  *cr = cairo_create(sf);
  cairo_select_font_face(*cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_source_rgb(*cr, 1, 1, 1);
  cairo_paint(*cr);
  return sf;
}

void attn_colour(double p, double rgb[3]) {
  static const double hi[3] = {8 / 255.0, 48 / 255.0, 107 / 255.0};
  p = p < 0 ? 0 : p > 1 ? 1 : p;
  for (int k = 0; k < 3; k++) rgb[k] = (1 - p) + p * hi[k];
}

/* Panel sizes and the figure from cell, labw, labh, title, gap, top (set by the layouts). */
static void text_fig_size(struct attn_text_fig *f) {
  f->cols = (int)ceil(sqrt((double)f->H));
  f->rows = (int)((f->H + f->cols - 1) / f->cols);
  f->pw = f->labw + (int)f->S * f->cell;
  f->ph = f->title + f->labh + (int)f->T * f->cell;
  f->width = f->gap + f->cols * (f->pw + f->gap);
  f->height = f->top + f->rows * (f->ph + f->gap);
}

void attn_text_layout(struct attn_text_fig *f, int64_t H, int64_t T, int64_t S) {
  int64_t n = T > S ? T : S;
  *f = (struct attn_text_fig){.H = H, .T = T, .S = S};
  f->cell = (int)(n <= 0 ? 16 : 720 / n);
  f->cell = f->cell < 6 ? 6 : f->cell > 18 ? 18 : f->cell;
  f->lab = f->labw = f->labh = f->cell + 8; /* band of axis labels */
  f->title = 22;                            /* "head h" above a panel */
  f->gap = 18;
  f->top = 34;                              /* the figure title */
  text_fig_size(f);
}

enum { WORD_FONT = 14, TITLE_FONT = 15 };

/* A token as drawn on an axis: visible forms of white space. */
static const char *tok_label(const char *t) {
  if (!t) return "?";
  if (!strcmp(t, "\n")) return "\u23ce";
  if (!strcmp(t, " ")) return "\u2423";
  if (!strcmp(t, "\t")) return "\u21e5";
  return t;
}

/* The widest of n labels in cr's current font, in pixels. */
static double widest(cairo_t *cr, char *const *tok, int64_t n) {
  double w = 0;
  for (int64_t i = 0; i < n; i++) {
    cairo_text_extents_t e;
    cairo_text_extents(cr, tok_label(tok ? tok[i] : NULL), &e);
    w = e.x_advance > w ? e.x_advance : w;
  }
  return w;
}

void attn_words_layout(struct attn_text_fig *f, int64_t H, int64_t T, int64_t S, char *const *qtok, char *const *ktok,
                       const char *title) {
  int64_t n = T > S ? T : S;
  *f = (struct attn_text_fig){.H = H, .T = T, .S = S};
  f->cell = (int)(n <= 0 ? 40 : 560 / n);
  f->cell = f->cell < 22 ? 22 : f->cell > 40 ? 40 : f->cell;
  cairo_surface_t *sf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 1, 1);
  cairo_t *cr = cairo_create(sf);
  cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, WORD_FONT);
  f->labw = (int)ceil(widest(cr, qtok, T)) + 12;
  f->labh = (int)ceil(widest(cr, ktok, S)) + 12;
  f->lab = f->labw;
  cairo_set_font_size(cr, TITLE_FONT);
  cairo_text_extents_t e;
  cairo_text_extents(cr, title ? title : "", &e);
  cairo_destroy(cr);
  cairo_surface_destroy(sf);
  f->title = H > 1 ? 22 : 0;
  f->gap = 18;
  f->top = 34;
  text_fig_size(f);
  int need = (int)ceil(e.x_advance) + 2 * f->gap;
  if (f->width < need) f->width = need;
}

void attn_text_cell(const struct attn_text_fig *f, int64_t h, int64_t t, int64_t s, int *x, int *y) {
  int r = (int)(h / f->cols), c = (int)(h % f->cols);
  *x = f->gap + c * (f->pw + f->gap) + f->labw + (int)s * f->cell;
  *y = f->top + r * (f->ph + f->gap) + f->title + f->labh + (int)t * f->cell;
}

/* Every head of m (batch item b) in the layout f: characters (words 0: small labels, upright) or words
 * (labels at WORD_FONT, the keys rotated to read upwards). */
static nn_status render_heads(const char *path, const struct attn_text_fig *f, const struct attn_map *m, int64_t b,
                              char *const *qtok, char *const *ktok, const char *title, int words) {
  if ((double)f->width * f->height > 400e6)
    return nn_fail(NN_ERR_ARG, "attention picture of %lld heads x %lld x %lld is too large; give a shorter --input",
                   (long long)m->H, (long long)m->T, (long long)m->S);
  cairo_t *cr;
  cairo_surface_t *sf = png_surface(f->width, f->height, &cr);
  if (cairo_surface_status(sf) != CAIRO_STATUS_SUCCESS) {
    cairo_destroy(cr);
    cairo_surface_destroy(sf);
    return nn_fail(NN_ERR_OOM, "cannot create a %dx%d picture", f->width, f->height);
  }
  char buf[NN_NAME_MAX + 64];
  cairo_set_source_rgb(cr, 0, 0, 0);
  cairo_set_font_size(cr, TITLE_FONT);
  plot_text(cr, f->gap, 24, title, 0, 0);
  double fs = words ? WORD_FONT : f->cell * 0.8 < 7 ? 7 : f->cell * 0.8;
  for (int64_t h = 0; h < m->H; h++) {
    const float *p = m->p + (b * m->H + h) * m->T * m->S;
    int x0, y0;
    attn_text_cell(f, h, 0, 0, &x0, &y0);
    cairo_set_source_rgb(cr, 0, 0, 0);
    if (f->title) {
      cairo_set_font_size(cr, 13);
      snprintf(buf, sizeof buf, "head %lld", (long long)h);
      plot_text(cr, x0 + m->S * f->cell / 2.0, y0 - f->labh - 6, buf, 0.5, 0);
    }
    cairo_set_font_size(cr, fs);
    cairo_font_extents_t fe;
    cairo_font_extents(cr, &fe);
    double mid = (fe.ascent - fe.descent) / 2; /* baseline offset that centres a line of text */
    for (int64_t t = 0; t < m->T; t++) { /* queries on the left */
      const char *l = tok_label(qtok ? qtok[t] : NULL);
      if (!words) {
        plot_text(cr, x0 - 4, y0 + (t + 0.5) * f->cell, l, 1, 0.5);
        continue;
      }
      cairo_text_extents_t e;
      cairo_text_extents(cr, l, &e);
      cairo_move_to(cr, x0 - 6 - e.x_advance, y0 + (t + 0.5) * f->cell + mid);
      cairo_show_text(cr, l);
    }
    for (int64_t s = 0; s < m->S; s++) { /* keys on top */
      const char *l = tok_label(ktok ? ktok[s] : NULL);
      if (!words) {
        plot_text(cr, x0 + (s + 0.5) * f->cell, y0 - 4, l, 0.5, 0);
        continue;
      }
      cairo_save(cr);
      cairo_move_to(cr, x0 + (s + 0.5) * f->cell + mid, y0 - 6);
      cairo_rotate(cr, -M_PI / 2);
      cairo_show_text(cr, l);
      cairo_restore(cr);
    }
    for (int64_t t = 0; t < m->T; t++)
      for (int64_t s = 0; s < m->S; s++) {
        double rgb[3];
        attn_colour(p[t * m->S + s], rgb);
        cairo_set_source_rgb(cr, rgb[0], rgb[1], rgb[2]);
        cairo_rectangle(cr, x0 + (double)s * f->cell, y0 + (double)t * f->cell, f->cell, f->cell);
        cairo_fill(cr);
      }
    cairo_set_source_rgb(cr, 0.6, 0.6, 0.6);
    cairo_set_line_width(cr, 1);
    cairo_rectangle(cr, x0 - 0.5, y0 - 0.5, (double)m->S * f->cell + 1, (double)m->T * f->cell + 1);
    cairo_stroke(cr);
  }
  cairo_destroy(cr);
  return png_write(sf, path);
}

nn_status attn_render_text(const char *path, const struct attn_map *m, int64_t b, char *const *qtok, char *const *ktok) {
  NN_TRY(png_check(path));
  struct attn_text_fig f;
  attn_text_layout(&f, m->H, m->T, m->S);
  char title[NN_NAME_MAX + 64];
  snprintf(title, sizeof title, "attention of layer %s (rows: queries, columns: keys)", m->name);
  return render_heads(path, &f, m, b, qtok, ktok, title, 0);
}

nn_status attn_render_words(const char *path, const struct attn_map *m, int64_t b, char *const *qtok, char *const *ktok,
                            const char *title) {
  NN_TRY(png_check(path));
  struct attn_text_fig f;
  attn_words_layout(&f, m->H, m->T, m->S, qtok, ktok, title);
  return render_heads(path, &f, m, b, qtok, ktok, title, 1);
}

/* Known grids: model, layer, grid over the input. */
static const struct {
  const char *model, *layer;
  int64_t ih, iw;
  struct attn_grid grid;
} known_grids[] = {
    /* cnn: conv1 5x5 (28 -> 24), max-pool 2 (12), conv2 5x5 (8): position (i,j) of the 8x8 map sees input
     * pixels [2i, 2i+14); its receptive-field centre 2i+7 is the middle of the 2-pixel cell [2i+6, 2i+8) */
    {"cnn", "attn", 28, 28, {8, 8, 6, 6, 2}},
};

nn_status attn_grid_for(const char *model, const char *layer, int64_t T, int64_t ih, int64_t iw, struct attn_grid *gr) {
  for (size_t k = 0; k < sizeof known_grids / sizeof known_grids[0]; k++)
    if (!strcmp(known_grids[k].model, model) && !strcmp(known_grids[k].layer, layer) && known_grids[k].ih == ih &&
        known_grids[k].iw == iw && known_grids[k].grid.h * known_grids[k].grid.w == T) {
      *gr = known_grids[k].grid;
      return NN_OK;
    }
  int64_t s = (int64_t)llround(sqrt((double)T));
  if (T <= 1 || s * s != T)
    return nn_fail(NN_ERR_ARG, "layer %s of model %s attends over %lld position%s, not a spatial grid over the image: "
                   "nothing to draw%s", layer, model, (long long)T, T == 1 ? "" : "s",
                   T == 1 ? " (cnn --attn seed: the chapter's length-1 attention, whose softmax is always 1; use --attn spatial)" : "");
  *gr = (struct attn_grid){.h = s, .w = s, .y0 = 0, .x0 = 0, .stride = (double)(ih < iw ? ih : iw) / (double)s};
  return NN_OK;
}

void attn_image_layout(struct attn_image_fig *f, int64_t ih, int64_t iw, int64_t H, int nq) {
  int64_t n = ih > iw ? ih : iw;
  *f = (struct attn_image_fig){.zoom = (int)(n >= 224 ? 1 : (224 + n - 1) / n)};
  f->pw = (int)iw * f->zoom;
  f->ph = (int)ih * f->zoom;
  f->left = 96;
  f->top = 58;
  f->gap = 10;
  f->cols = (int)H + 1;
  f->rows = nq;
  f->width = f->left + f->cols * (f->pw + f->gap);
  f->height = f->top + f->rows * (f->ph + f->gap);
}

void attn_image_panel(const struct attn_image_fig *f, int q, int c, int *x, int *y) {
  *x = f->left + c * (f->pw + f->gap);
  *y = f->top + q * (f->ph + f->gap);
}

double attn_overlay_alpha(double p, double pmax) { return pmax > 0 ? 0.75 * p / pmax : 0.0; }

static uint8_t to_byte(double v) {
  long x = lround(v * 255.0);
  return (uint8_t)(x < 0 ? 0 : x > 255 ? 255 : x);
}

nn_status attn_render_image(const char *path, const uint8_t *img, int64_t c, int64_t ih, int64_t iw,
                            const struct attn_map *m, int64_t b, const struct attn_grid *gr, const int64_t *queries,
                            int nq) {
  NN_TRY(png_check(path));
  if (gr->h * gr->w != m->S)
    return nn_fail(NN_ERR_ARG, "layer %s: %lld keys are not the %lldx%lld grid", m->name, (long long)m->S,
                   (long long)gr->h, (long long)gr->w);
  struct attn_image_fig f;
  attn_image_layout(&f, ih, iw, m->H, nq);
  cairo_t *cr;
  cairo_surface_t *sf = png_surface(f.width, f.height, &cr);
  double *row = malloc(sizeof(double) * (size_t)m->S);
  if (cairo_surface_status(sf) != CAIRO_STATUS_SUCCESS || !row) {
    free(row);
    cairo_destroy(cr);
    cairo_surface_destroy(sf);
    return nn_fail(NN_ERR_OOM, "cannot create a %dx%d picture", f.width, f.height);
  }
  static const double red[3] = {0.85, 0.10, 0.10};
  char buf[NN_NAME_MAX + 64];
  cairo_set_source_rgb(cr, 0, 0, 0);
  cairo_set_font_size(cr, 15);
  snprintf(buf, sizeof buf, "attention of layer %s over the input (%lldx%lld positions)", m->name, (long long)gr->h,
           (long long)gr->w);
  plot_text(cr, 10, 22, buf, 0, 0);
  cairo_set_font_size(cr, 13);
  for (int cc = 0; cc <= m->H; cc++) {
    int x, y;
    attn_image_panel(&f, 0, cc, &x, &y);
    if (cc < m->H) snprintf(buf, sizeof buf, "head %d", cc);
    else snprintf(buf, sizeof buf, "mean of heads");
    plot_text(cr, x + f.pw / 2.0, y - 8, buf, 0.5, 0);
  }
  cairo_surface_flush(sf);
  unsigned char *data = cairo_image_surface_get_data(sf);
  int stride = cairo_image_surface_get_stride(sf);
  for (int q = 0; q < nq; q++) {
    int64_t qi = queries[q];
    for (int cc = 0; cc <= m->H; cc++) {
      /* this panel's row of probabilities: head cc, or the mean over heads */
      double pmax = 0;
      for (int64_t s = 0; s < m->S; s++) {
        double v = 0;
        if (cc < m->H) v = m->p[((b * m->H + cc) * m->T + qi) * m->S + s];
        else {
          for (int64_t h = 0; h < m->H; h++) v += m->p[((b * m->H + h) * m->T + qi) * m->S + s];
          v /= (double)m->H;
        }
        row[s] = v;
        pmax = v > pmax ? v : pmax;
      }
      int px0, py0;
      attn_image_panel(&f, q, cc, &px0, &py0);
      for (int yy = 0; yy < f.ph; yy++)
        for (int xx = 0; xx < f.pw; xx++) {
          int64_t iy = yy / f.zoom, ix = xx / f.zoom;
          double base[3];
          for (int k = 0; k < 3; k++) base[k] = img[((c == 3 ? k : 0) * ih + iy) * iw + ix] / 255.0;
          /* the grid cell under this pixel's centre, in input coordinates */
          double fy = (yy + 0.5) / f.zoom, fx = (xx + 0.5) / f.zoom;
          double gi = floor((fy - gr->y0) / gr->stride), gj = floor((fx - gr->x0) / gr->stride);
          double a = 0;
          if (gi >= 0 && gi < gr->h && gj >= 0 && gj < gr->w) a = attn_overlay_alpha(row[(int64_t)gi * gr->w + (int64_t)gj], pmax);
          uint8_t *px = data + (size_t)(py0 + yy) * (size_t)stride + 4 * (size_t)(px0 + xx);
          uint32_t v = (uint32_t)to_byte(base[0] * (1 - a) + red[0] * a) << 16 |
                       (uint32_t)to_byte(base[1] * (1 - a) + red[1] * a) << 8 | to_byte(base[2] * (1 - a) + red[2] * a);
          memcpy(px, &v, 4);
        }
    }
  }
  cairo_surface_mark_dirty(sf);
  /* query marks: a green outline around the query's cell, and the row labels */
  for (int q = 0; q < nq; q++) {
    int64_t qi = queries[q];
    for (int cc = 0; cc <= m->H; cc++) {
      int x, y;
      attn_image_panel(&f, q, cc, &x, &y);
      double z = f.zoom, cy = y + (gr->y0 + (double)(qi / gr->w) * gr->stride) * z,
             cx = x + (gr->x0 + (double)(qi % gr->w) * gr->stride) * z, sz = gr->stride * z;
      cairo_set_source_rgb(cr, 0.1, 0.85, 0.2);
      cairo_set_line_width(cr, 2);
      cairo_rectangle(cr, cx - 1, cy - 1, sz + 2, sz + 2);
      cairo_stroke(cr);
    }
    int x, y;
    attn_image_panel(&f, q, 0, &x, &y);
    cairo_set_source_rgb(cr, 0, 0, 0);
    snprintf(buf, sizeof buf, "query (%lld,%lld)", (long long)(qi / gr->w), (long long)(qi % gr->w));
    plot_text(cr, x - 8, y + f.ph / 2.0, buf, 1, 0.5);
  }
  free(row);
  cairo_destroy(cr);
  return png_write(sf, path);
}

/* ---- HDF5 ---- */

nn_status attn_write_h5(const char *path, const struct attn_rec *r, int64_t b, char *const *qtok, char *const *ktok,
                        const struct attn_grid *gr, const char *model, const char *input) {
  ds_h5_lock();
  hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (f < 0) {
    ds_h5_unlock();
    return nn_fail(NN_ERR_IO, "option --out-h5: cannot create %s", path);
  }
  nn_status st = ds_attr_put_str(f, path, "model", model);
  if (st == NN_OK) st = ds_attr_put_str(f, path, "input", input);
  for (int i = 0; st == NN_OK && i < r->n; i++) {
    const struct attn_map *m = &r->maps[i];
    char *const *qt = m->qtok ? m->qtok : qtok, *const *kt = m->ktok ? m->ktok : ktok;
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t grp = H5Gcreate2(f, m->name, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    H5Pclose(lcpl);
    if (grp < 0) {
      st = nn_fail(NN_ERR_IO, "%s: cannot create group %s", path, m->name);
      break;
    }
    if (gr && (qtok == NULL)) st = ds_attr_put_i64v(grp, path, "grid", (const int64_t[]){gr->h, gr->w}, 2);
    for (int64_t h = 0; st == NN_OK && h < m->H; h++) {
      char dn[32];
      snprintf(dn, sizeof dn, "head%lld", (long long)h);
      hsize_t dims[2] = {(hsize_t)m->T, (hsize_t)m->S};
      hid_t sp = H5Screate_simple(2, dims, NULL);
      hid_t d = H5Dcreate2(grp, dn, H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
      if (d < 0 || H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, m->p + (b * m->H + h) * m->T * m->S) < 0)
        st = nn_fail(NN_ERR_IO, "%s: cannot write %s/%s", path, m->name, dn);
      if (st == NN_OK && qt) st = ds_attr_put_strv(d, path, "query_tokens", qt, m->T);
      if (st == NN_OK && kt) st = ds_attr_put_strv(d, path, "key_tokens", kt, m->S);
      if (d >= 0) H5Dclose(d);
      H5Sclose(sp);
    }
    H5Gclose(grp);
  }
  if (H5Fclose(f) < 0 && st == NN_OK) st = nn_fail(NN_ERR_IO, "cannot write %s", path);
  ds_h5_unlock();
  return st;
}

/* ---- translators ---- */

nn_status attn_translate(const struct translator *T, const char *text, int64_t beam, struct attn_rec *r, char ***src,
                         int64_t *S, char ***tgt, int64_t *Tn) {
  const struct task_model *tm = &T->tm;
  struct nn_graph *g = tm->g;
  const struct ds_meta *m = tm->meta;
  int32_t ids[64], out[64], prefix[65];
  int64_t ns = 0;
  *src = *tgt = NULL;
  *S = *Tn = 0;
  attn_rec_detach(g); /* decoding runs without the probe: a beam re-runs every prefix */
  NN_TRY(translate_encode(T, text, 0, ids, &ns));
  int64_t k = translate_ids(T, ids, ns, beam, out);
  if (k < 0) return NN_ERR_ARG;
  int eos = k < translate_max_len(T); /* ended by EOS, not cut at the maximum length */
  int64_t rows = eos ? k + 1 : k;
  if (rows < 1) return nn_fail(NN_ERR_ARG, "--text: the translation is empty and never ended: nothing to draw");
  prefix[0] = m->sos_id;
  memcpy(prefix + 1, out, sizeof(int32_t) * (size_t)(rows - 1));
  *src = calloc((size_t)ns, sizeof **src);
  *tgt = calloc((size_t)rows, sizeof **tgt);
  if (!*src || !*tgt) return nn_fail(NN_ERR_OOM, "out of memory");
  for (int64_t i = 0; i < ns; i++) (*src)[i] = (char *)T->src_vocab[ids[i]];
  for (int64_t i = 0; i < rows; i++) (*tgt)[i] = (char *)T->tgt_vocab[i < k ? out[i] : m->eos_id];
  *S = ns, *Tn = rows;
  /* the recording pass: the encoder over the source, the decoder over SOS + the translation at once */
  void *state = NULL;
  attn_rec_attach(r, g);
  nn_graph_reset(g);
  nn_status st = tm->def->dec_open(tm->self, g, tm->P, ids, ns, &state);
  int n_enc = r->n; /* maps of the encoder pass */
  if (st == NN_OK) {
    struct nn_tensor *logits = NULL;
    nn_graph_reset(g);
    st = tm->def->dec_step(tm->self, state, g, tm->P, prefix, rows, &logits);
  }
  attn_rec_detach(g);
  if (state) tm->def->dec_free(tm->self, state);
  if (st == NN_OK) st = r->status;
  for (int i = 0; st == NN_OK && i < r->n; i++) { /* the words on the axes of each map */
    struct attn_map *a = &r->maps[i];
    if (i < n_enc && a->T == ns && a->S == ns) a->qtok = a->ktok = *src;
    else if (i >= n_enc && a->T == rows && a->S == ns) a->qtok = *tgt, a->ktok = *src;
  }
  return st;
}

/* The translation's words as root attributes of the maps file (h5py: f.attrs["source_words"], ...). */
static nn_status h5_put_words(const char *path, char *const *src, int64_t ns, char *const *tgt, int64_t nt, int eos) {
  ds_h5_lock();
  hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
  if (f < 0) {
    ds_h5_unlock();
    return nn_fail(NN_ERR_IO, "option --out-h5: cannot reopen %s", path);
  }
  nn_status st = ds_attr_put_strv(f, path, "source_words", src, ns);
  if (st == NN_OK) st = ds_attr_put_strv(f, path, "target_words", tgt, nt);
  char line[64 * 64] = "";
  size_t len = 0;
  for (int64_t i = 0; i < nt - eos && len + 1 < sizeof line; i++)
    len += (size_t)snprintf(line + len, sizeof line - len, "%s%s", i ? " " : "", tgt[i]);
  if (st == NN_OK) st = ds_attr_put_str(f, path, "translation", line);
  if (H5Fclose(f) < 0 && st == NN_OK) st = nn_fail(NN_ERR_IO, "cannot write %s", path);
  ds_h5_unlock();
  return st;
}

/* ---- the subcommand ---- */

struct attn_opts {
  const char *ckpt, *input, *out, *out_h5, *layer, *data, *split, *device;
  const char *query[64];
  int nquery;
  int threads;
  int64_t beam; /* translators; 0: not given */
};

static const char *const attn_usage =
    "usage: attn_train attention --ckpt DIR|FILE.h5 --input X|--text S (--out FILE.png | --out-h5 FILE.h5 | both)\n"
    "                            [--layer L] [--query R,C ...] [--beam K] [--split test] [--data DIR] [--threads N]\n"
    "  --ckpt DIR        a checkpoint (its latest step), or an export (attn_train export / --save-params)\n"
    "  --input X         text models: the text (every character in the vocabulary, at most the context);\n"
    "                    image models: an example index N of --split of the training dataset, or a PNG file\n"
    "                    of the dataset's size (converted to grey for one-channel models);\n"
    "                    translators (seq2seq): a source sentence, translated as attn_train translate does\n"
    "  --text S          the same as --input for text models and translators\n"
    "  --out FILE.png    text: every head of the layer, token x token, queries down, keys across;\n"
    "                    images: one row per query position, a column per head and their mean;\n"
    "                    translators: the alignment, translation words down, source words (EOS too) across\n"
    "  --out-h5 FILE.h5  every recorded layer's maps: /<layer>/head<h> (T,S) float32, with query_tokens /\n"
    "                    key_tokens (text, translators: words) or the layer's grid = [h, w] (images) as\n"
    "                    attributes; translators also source_words, target_words, translation at the root\n"
    "  --layer L         the layer drawn: its index among the attention layers in call order, or its name\n"
    "                    (e.g. blocks.2.attn) [0; translators: decoder.attn, or encoder.attn for the\n"
    "                    encoder's self-attention heads]\n"
    "  --beam K          translators: beam search over K hypotheses, as attn_train translate [1: greedy]\n"
    "  --query R,C       image models: a query position on the attention grid (repeat, or R,C;R,C) [four\n"
    "                    positions at the quarter points]\n"
    "  --split S         the split --input N indexes [test]\n"
    "  --data DIR        the dataset (images by index; a checkpoint's vocabulary) [the checkpoint's --data]\n";

static nn_status attn_parse(struct attn_opts *o, int argc, char **argv, int first, int *help) {
  *o = (struct attn_opts){.split = "test", .device = "cpu", .threads = 1};
  for (int a = first; a < argc; a++) {
    const char *f = argv[a];
    if (!strcmp(f, "--help") || !strcmp(f, "-h")) {
      *help = 1;
      continue;
    }
    if (a + 1 >= argc) return nn_fail(NN_ERR_ARG, "option %s needs a value (see attention --help)", f);
    const char *v = argv[++a];
    if (!strcmp(f, "--ckpt")) o->ckpt = v;
    else if (!strcmp(f, "--input") || !strcmp(f, "--text")) {
      if (o->input) return nn_fail(NN_ERR_ARG, "option %s: the input is given twice (--input and --text are one option)", f);
      o->input = v;
    }
    else if (!strcmp(f, "--out")) o->out = v;
    else if (!strcmp(f, "--out-h5")) o->out_h5 = v;
    else if (!strcmp(f, "--layer")) o->layer = v;
    else if (!strcmp(f, "--data")) o->data = v;
    else if (!strcmp(f, "--split")) o->split = v;
    else if (!strcmp(f, "--device")) o->device = v;
    else if (!strcmp(f, "--query")) {
      if (o->nquery >= 64) return nn_fail(NN_ERR_ARG, "option --query: at most 64 positions");
      o->query[o->nquery++] = v;
    } else if (!strcmp(f, "--threads")) {
      char *end;
      long t = strtol(v, &end, 10);
      if (*end || t < 1 || t > 4096) return nn_fail(NN_ERR_ARG, "option --threads: '%s' is not a count in [1, 4096]", v);
      o->threads = (int)t;
    } else if (!strcmp(f, "--beam")) {
      char *end;
      long k = strtol(v, &end, 10);
      if (!*v || *end || k < 1 || k > 64) return nn_fail(NN_ERR_ARG, "option --beam: '%s' is not a count in [1, 64]", v);
      o->beam = k;
    } else return nn_fail(NN_ERR_ARG, "unknown option '%s' for attention (see attention --help)", f);
  }
  if (*help) return NN_OK;
  if (!o->ckpt) return nn_fail(NN_ERR_ARG, "attention needs --ckpt DIR (a checkpoint directory, or an export .h5)");
  if (!o->input)
    return nn_fail(NN_ERR_ARG, "attention needs --input (text for a language model, an image index or PNG for an image "
                   "model, a sentence for a translator: --text S)");
  if (!o->out && !o->out_h5) return nn_fail(NN_ERR_ARG, "attention needs --out FILE.png and/or --out-h5 FILE.h5");
  if (o->out) NN_TRY(png_check(o->out));
  return NN_OK;
}

/* Query positions from --query flags ("R,C" or "R,C;R,C"), checked against the grid; default: the quarter points. */
static nn_status parse_queries(const struct attn_opts *o, const struct attn_grid *gr, const char *layer, int64_t *q, int *nq) {
  *nq = 0;
  if (!o->nquery) {
    int64_t r[2] = {gr->h / 4, (3 * gr->h) / 4}, c[2] = {gr->w / 4, (3 * gr->w) / 4};
    for (int i = 0; i < 2; i++)
      for (int j = 0; j < 2; j++) q[(*nq)++] = r[i] * gr->w + c[j];
    return NN_OK;
  }
  for (int k = 0; k < o->nquery; k++)
    for (const char *s = o->query[k]; *s;) {
      char *end;
      long r = strtol(s, &end, 10), c = -1;
      int ok = end != s && *end == ',';
      if (ok) {
        const char *s2 = end + 1;
        c = strtol(s2, &end, 10);
        ok = end != s2 && (*end == 0 || *end == ';');
      }
      if (!ok) return nn_fail(NN_ERR_ARG, "option --query: '%s' is not ROW,COL (or ROW,COL;ROW,COL)", o->query[k]);
      if (r < 0 || r >= gr->h || c < 0 || c >= gr->w)
        return nn_fail(NN_ERR_ARG, "option --query: position (%ld,%ld) is outside the %lldx%lld attention grid of layer %s "
                       "(rows and columns count from 0)", r, c, (long long)gr->h, (long long)gr->w, layer);
      if (*nq >= 64) return nn_fail(NN_ERR_ARG, "option --query: at most 64 positions");
      q[(*nq)++] = r * gr->w + c;
      s = *end ? end + 1 : end;
    }
  return NN_OK;
}

/* The input image (c,h,w) of an image model: example N of a split, or a PNG file. */
static nn_status load_image(const struct attn_opts *o, const struct gen_model *M, uint8_t *img, int32_t *label) {
  const struct ds_meta *m = M->meta;
  *label = 0;
  if (has_suffix(o->input, ".png") || has_suffix(o->input, ".PNG")) {
    cairo_surface_t *s = cairo_image_surface_create_from_png(o->input);
    if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) {
      nn_status st = nn_fail(NN_ERR_IO, "option --input %s: cannot read the PNG (%s)", o->input,
                             cairo_status_to_string(cairo_surface_status(s)));
      cairo_surface_destroy(s);
      return st;
    }
    int w = cairo_image_surface_get_width(s), h = cairo_image_surface_get_height(s);
    if (w != m->w || h != m->h) {
      cairo_surface_destroy(s);
      return nn_fail(NN_ERR_ARG, "option --input %s: the picture is %dx%d, the model takes %lldx%lld", o->input, w, h,
                     (long long)m->w, (long long)m->h);
    }
    cairo_surface_flush(s);
    const unsigned char *d = cairo_image_surface_get_data(s);
    int stride = cairo_image_surface_get_stride(s);
    for (int y = 0; y < h; y++)
      for (int x = 0; x < w; x++) {
        uint32_t v;
        memcpy(&v, d + (size_t)y * (size_t)stride + 4 * (size_t)x, 4);
        int rgb[3] = {(int)(v >> 16) & 255, (int)(v >> 8) & 255, (int)v & 255};
        if (m->c == 3)
          for (int k = 0; k < 3; k++) img[((int64_t)k * h + y) * w + x] = (uint8_t)rgb[k];
        else img[(int64_t)y * w + x] = (uint8_t)((rgb[0] + rgb[1] + rgb[2] + 1) / 3);
      }
    cairo_surface_destroy(s);
    return NN_OK;
  }
  char *end;
  long long idx = strtoll(o->input, &end, 10);
  if (!*o->input || *end || idx < 0)
    return nn_fail(NN_ERR_ARG, "option --input: '%s' is neither an example index nor a .png file", o->input);
  const char *dir = o->data ? o->data : M->cfg.data;
  struct ds_reader *r;
  nn_status st = ds_open(&r, dir, o->split);
  if (st != NN_OK) return nn_fail(st, "option --input %lld: cannot open split %s of %s (%s); give --data DIR / --split S, or a .png",
                                  idx, o->split, dir, nn_errmsg());
  const struct ds_meta *dm = ds_get_meta(r);
  if (dm->kind != DS_IMAGE || dm->c != m->c || dm->h != m->h || dm->w != m->w)
    st = nn_fail(NN_ERR_ARG, "option --data %s: split %s does not hold %lldx%lldx%lld images like the model's", dir, o->split,
                 (long long)m->c, (long long)m->h, (long long)m->w);
  else if (idx >= dm->count)
    st = nn_fail(NN_ERR_ARG, "option --input: example %lld is out of range (split %s of %s has %lld)", idx, o->split, dir,
                 (long long)dm->count);
  else st = ds_read_images(r, (const int64_t[]){idx}, 1, img, label);
  ds_close(r);
  return st;
}

static nn_status run_attention(const struct attn_opts *o, struct comm *c) {
  struct gen_model M;
  struct nn_graph g;
  struct attn_rec rec = {0};
  int graph = 0;
  void *state = NULL;
  uint8_t *img = NULL;
  int32_t *ids = NULL;
  char **toks = NULL, **swords = NULL, **twords = NULL;
  int64_t n = 0, ns = 0, nt = 0;
  int eos = 0; /* translators: the translation ended with EOS (the last row of the alignment) */
  struct attn_grid grid, *gr = NULL;
  nn_status st = gen_model_open(&M, c, o->ckpt, o->data, o->device, o->threads);
  const struct ds_meta *m = M.meta;
  if (st == NN_OK) {
    nn_graph_init(&g, M.be, 0);
    graph = 1;
    g.training = 0;
    g.grad_enabled = 0;
    attn_rec_attach(&rec, &g);
  }
  int text = st == NN_OK && M.def->task == &task_lm, image = st == NN_OK && M.def->task == &task_classification;
  int s2s = st == NN_OK && M.def->task == &task_seq2seq;
  if (st == NN_OK && !text && !image && !s2s)
    st = nn_fail(NN_ERR_ARG, "%s: model %s: attention maps are drawn for language, image and translation models", o->ckpt,
                 M.cfg.model);
  if (st == NN_OK && o->beam && !s2s)
    st = nn_fail(NN_ERR_ARG, "option --beam: %s holds model %s; beam search is for translators (seq2seq)", o->ckpt, M.cfg.model);
  if (st == NN_OK && s2s) { /* translate (translate.c's path), then one recording pass over the translation */
    if (!M.def->dec_open || m->kind != DS_PAIRS)
      st = nn_fail(NN_ERR_FORMAT, "%s: model %s has no decoding state or no vocabularies of sentence pairs", o->ckpt, M.cfg.model);
    struct translator T;
    if (st == NN_OK) {
      translate_setup(&T, &(struct task_model){.def = M.def, .self = M.model, .P = &M.P, .g = &g, .meta = m});
      st = attn_translate(&T, o->input, o->beam ? o->beam : 1, &rec, &swords, &ns, &twords, &nt);
    }
    if (st == NN_OK) {
      eos = twords[nt - 1] == T.tgt_vocab[m->eos_id];
      printf("translation:");
      for (int64_t i = 0; i < nt - eos; i++) printf(" %s", twords[i]);
      printf("\n");
    }
  }
  if (st == NN_OK && text) { /* one pass over the text through the decoding state */
    int64_t context = 0, V = 0;
    ids = malloc(sizeof(int32_t) * (strlen(o->input) + 1));
    st = ids ? gen_encode(m, o->input, ids, &n, o->ckpt, "--input") : nn_fail(NN_ERR_OOM, "out of memory");
    if (st == NN_OK && !M.def->dec_open) st = nn_fail(NN_ERR_ARG, "model %s has no decoding state to run text through", M.cfg.model);
    if (st == NN_OK) {
      M.def->dec_info(M.model, &context, &V);
      if (context > 0 && n > context)
        st = nn_fail(NN_ERR_ARG, "option --input: %lld characters exceed the model's context of %lld", (long long)n, (long long)context);
    }
    if (st == NN_OK) st = M.def->dec_open(M.model, &g, &M.P, NULL, 0, &state);
    if (st == NN_OK) {
      nn_graph_reset(&g);
      struct nn_tensor *logits;
      st = M.def->dec_step(M.model, state, &g, &M.P, ids, n, &logits);
    }
    if (st == NN_OK && !(toks = calloc((size_t)n, sizeof *toks))) st = nn_fail(NN_ERR_OOM, "out of memory");
    for (int64_t i = 0; st == NN_OK && i < n; i++) toks[i] = m->vocab[ids[i]];
  }
  if (st == NN_OK && image) {
    int32_t label;
    img = malloc((size_t)(m->c * m->h * m->w));
    st = img ? load_image(o, &M, img, &label) : nn_fail(NN_ERR_OOM, "out of memory");
    if (st == NN_OK) {
      struct ds_batch b = {.n = 1, .pixels = img, .labels = &label};
      struct model_out out;
      nn_graph_reset(&g);
      st = M.def->forward(M.model, &g, &M.P, &b, &out);
    }
  }
  if (st == NN_OK) st = rec.status;
  if (st == NN_OK && rec.n == 0)
    st = nn_fail(NN_ERR_ARG, "%s: model %s has no attention layer that records maps (e.g. cnn trained with --attn none)",
                 o->ckpt, M.cfg.model);
  const struct attn_map *map = NULL;
  if (st == NN_OK) st = attn_rec_find(&rec, o->layer ? o->layer : s2s ? "decoder.attn" : NULL, &map);
  int64_t q[64];
  int nq = 0;
  if (st == NN_OK && image) {
    st = attn_grid_for(M.cfg.model, map->name, map->S, m->h, m->w, &grid);
    if (st == NN_OK) gr = &grid;
    if (st == NN_OK && map->T != map->S)
      st = nn_fail(NN_ERR_ARG, "layer %s: %lld queries over %lld keys is not self-attention over the grid", map->name,
                   (long long)map->T, (long long)map->S);
    if (st == NN_OK) st = parse_queries(o, gr, map->name, q, &nq);
  }
  if (st == NN_OK && o->out) st = nn_mkdirs_parent(o->out, "option --out");
  if (st == NN_OK && o->out_h5) st = nn_mkdirs_parent(o->out_h5, "option --out-h5");
  if (st == NN_OK && o->out) {
    char title[NN_NAME_MAX + 96];
    snprintf(title, sizeof title, "%s: %s \u00d7 source", map->name, map->qtok == twords ? "translation" : "source");
    st = text  ? attn_render_text(o->out, map, 0, toks, toks)
         : s2s ? attn_render_words(o->out, map, 0, map->qtok, map->ktok, title)
               : attn_render_image(o->out, img, m->c, m->h, m->w, map, 0, gr, q, nq);
    if (st == NN_OK)
      printf("attention: layer %s (%lld head%s, %lld x %lld) of %s written to %s\n", map->name, (long long)map->H,
             map->H == 1 ? "" : "s", (long long)map->T, (long long)map->S, M.cfg.model, o->out);
  }
  if (st == NN_OK && o->out_h5) {
    st = attn_write_h5(o->out_h5, &rec, 0, text ? toks : NULL, text ? toks : NULL, gr, M.cfg.model, o->input);
    if (st == NN_OK && s2s) st = h5_put_words(o->out_h5, swords, ns, twords, nt, eos);
    if (st == NN_OK) printf("attention: %d layer%s of maps written to %s\n", rec.n, rec.n > 1 ? "s" : "", o->out_h5);
  }
  if (state) M.def->dec_free(M.model, state);
  if (graph) nn_graph_destroy(&g);
  attn_rec_free(&rec);
  free(toks);
  free(swords);
  free(twords);
  free(ids);
  free(img);
  gen_model_close(&M);
  return st;
}

nn_status attn_main(struct comm *c, int argc, char **argv, int first) {
  struct attn_opts o;
  int help = 0;
  NN_TRY(attn_parse(&o, argc, argv, first, &help));
  if (help) {
    fputs(attn_usage, stdout);
    return NN_OK;
  }
  if (c->size > 1) return nn_fail(NN_ERR_ARG, "attention runs as one process: start it without mpirun (or with -np 1)");
  return run_attention(&o, c);
}
