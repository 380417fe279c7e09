/* attnmap: attention maps as pictures (PNG, cairo) and raw HDF5 — `attn_train attention`.
 *   attn_train attention --ckpt D|FILE.h5 --input X --out FILE.png [--out-h5 FILE.h5] [--layer L] [--query r,c]
 * The maps come from an inference-only probe on the graph (g->probe, src/nn_graph.h): every attention
 * layer that goes through blk_mha_fwd (or calls nn_probe itself) hands it its probabilities
 * p(B,H,T,S); the recorder below copies them to the host. No probe set: no cost but a pointer test. */
#ifndef ATTNMAP_H
#define ATTNMAP_H
#include <stdint.h>
#include "comm.h"
#include "nn.h"

/* One recorded attention call: host copy of its probabilities p(B,H,T,S) (a dropped entry's sign removed). */
struct attn_map {
  char name[NN_NAME_MAX]; /* the layer, e.g. "blocks.2.attn" (its parameters' prefix) */
  int64_t B, H, T, S;
  float *p;
  char *const *qtok, *const *ktok; /* the layer's own axis labels (T, S), borrowed; NULL: attn_write_h5's */
};

/* The recorder: maps in the order their layers were first called. A layer called again (incremental
 * decoding: one new query row per step) with the same B and H gets its new rows appended (T grows;
 * S is the largest seen, shorter rows padded with zeros). */
struct attn_rec {
  struct attn_map *maps;
  int n, cap;
  nn_status status; /* sticky: out of memory or an inconsistent repeat */
};

/* Set g's probe to record into r (r zeroed by the caller); attn_rec_detach(g) unsets it. */
void attn_rec_attach(struct attn_rec *r, struct nn_graph *g);
void attn_rec_detach(struct nn_graph *g);
void attn_rec_free(struct attn_rec *r);
/* The map of layer `layer`: an index into r->maps ("0", "1", ...) or a name; NULL: the first.
 * The error names --layer and lists the layers there are. */
nn_status attn_rec_find(const struct attn_rec *r, const char *layer, const struct attn_map **m);

/* Cell colour of probability p in the token maps: white (0) to dark blue (8,48,107)/255 (1), linear,
 * p clamped to [0,1]. */
void attn_colour(double p, double rgb[3]);

/* Geometry of the token x token picture: a grid of heads, cols x rows panels, each T rows (queries,
 * labelled on the left) by S columns (keys, labelled on top) of cell x cell pixels. */
struct attn_text_fig {
  int64_t H, T, S;
  int cols, rows, cell, lab, title, gap, top, pw, ph, width, height;
  int labw, labh; /* the label bands left of and above a panel (lab for characters) */
};
void attn_text_layout(struct attn_text_fig *f, int64_t H, int64_t T, int64_t S);
/* The same with words on the axes (a translation): cells of 22..40 px, the left band as wide as the
 * longest query word, the top band as tall as the longest key word (drawn rotated, reading upwards),
 * no "head h" titles for one head, the width fitting the figure title. */
void attn_words_layout(struct attn_text_fig *f, int64_t H, int64_t T, int64_t S, char *const *qtok, char *const *ktok,
                       const char *title);
/* Top-left pixel of cell (query t, key s) of head h. */
void attn_text_cell(const struct attn_text_fig *f, int64_t h, int64_t t, int64_t s, int *x, int *y);
/* Draw every head of m (batch item b) into path (.png); qtok(T) / ktok(S) label the axes (UTF-8, may be NULL). */
nn_status attn_render_text(const char *path, const struct attn_map *m, int64_t b, char *const *qtok, char *const *ktok);
/* Draw every head of m with words on the axes (attn_words_layout) under the figure title `title`:
 * a translation's alignment (target words down, source words across) or its encoder's heads. */
nn_status attn_render_words(const char *path, const struct attn_map *m, int64_t b, char *const *qtok, char *const *ktok,
                            const char *title);

/* Where attention positions sit on an input image: position i*w + j of the h x w grid is the cell
 * [y0 + i*stride, y0 + (i+1)*stride) x [x0 + j*stride, ...) in input pixels (continuous coordinates). */
struct attn_grid {
  int64_t h, w;
  double y0, x0, stride;
};
/* The grid of model `model`'s layer `layer` over an ih x iw input with T positions: a known model's
 * (cnn: the receptive-field centres of its 8x8 conv2 map), else a square grid stretched over the image.
 * Error when T is not such a grid (e.g. cnn --attn seed attends over one position). */
nn_status attn_grid_for(const char *model, const char *layer, int64_t T, int64_t ih, int64_t iw, struct attn_grid *gr);

/* Geometry of the image picture: one row per query position, one column per head plus the mean over
 * heads; each panel the input zoomed zoom times. */
struct attn_image_fig {
  int zoom, pw, ph, left, top, gap, cols, rows, width, height;
};
void attn_image_layout(struct attn_image_fig *f, int64_t ih, int64_t iw, int64_t H, int nq);
/* Top-left pixel of panel (query row q, column c: head c, or c == H for the mean). */
void attn_image_panel(const struct attn_image_fig *f, int q, int c, int *x, int *y);
/* Overlay alpha of a cell holding probability p when the largest probability of that query's row is
 * pmax: 0.75 * p / pmax. Pixel = image * (1 - a) + (0.85, 0.10, 0.10) * a, each channel rounded to 0..255. */
double attn_overlay_alpha(double p, double pmax);
/* img(c,ih,iw) uint8 (c = 1 grey or 3 RGB); queries[0..nq) are grid positions (i*w + j). */
nn_status attn_render_image(const char *path, const uint8_t *img, int64_t c, int64_t ih, int64_t iw,
                            const struct attn_map *m, int64_t b, const struct attn_grid *gr, const int64_t *queries,
                            int nq);

/* Every recorded map of batch item b into path: dataset "/<layer>/head<h>" (T,S) float32 each, with
 * attributes query_tokens / key_tokens (text: the map's own m->qtok / m->ktok, else qtok / ktok) or the
 * group attribute grid = [h, w] (images). */
nn_status attn_write_h5(const char *path, const struct attn_rec *r, int64_t b, char *const *qtok, char *const *ktok,
                        const struct attn_grid *gr, const char *model, const char *input);

/* A translation with its attention (T: a seq2seq model, translate.h). text goes through translate's path
 * (translate_encode; translate_ids: greedy, or a beam of `beam`) with no probe; then one pass with the
 * recorder r attached: dec_open over the source (r gets "encoder.attn" (1,heads,S,S)) and one dec_step
 * over SOS + the translation (r gets "decoder.attn" (1,1,Tn,S)): row t is the attention of the step
 * that produced target word t, the last row the one that produced EOS (when the translation ended
 * with it; a translation cut at the maximum length has no EOS row). *src (S) and *tgt (Tn) are the
 * words on the axes, EOS included (borrowed from T's vocabularies; free the arrays); both maps get
 * them as their labels. T->tm.g is reset; its probe is unset on return. */
struct translator;
nn_status attn_translate(const struct translator *T, const char *text, int64_t beam, struct attn_rec *r, char ***src,
                         int64_t *S, char ***tgt, int64_t *Tn);

/* The `attn_train attention` subcommand: argv[first..argc). */
nn_status attn_main(struct comm *c, int argc, char **argv, int first);

#endif
