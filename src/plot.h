/* plot: training curves from metrics.jsonl files as PNG or SVG (cairo).
 *   attn_train plot LOGDIR [LOGDIR ...] --out FILE.png|FILE.svg [--x step|time] [--smooth A]
 * One panel per quantity (loss, accuracy/BLEU/perplexity, learning rate), runs overlaid with a
 * legend: train curves solid, evaluation curves dashed with markers. */
#ifndef PLOT_H
#define PLOT_H
#include "nn_status.h"

enum { PLOT_MAX_SERIES = 64 };

struct plot_series {
  const char *label;  /* legend text, or NULL (not in the legend) */
  int n;
  const double *x, *y;
  int color;          /* palette index */
  int dashed;         /* dashed line with point markers (evaluation curves) */
};

struct plot_panel {
  const char *title, *xlabel;
  int logy;                        /* logarithmic y axis (values <= 0 are skipped) */
  int fixed;                       /* use the ranges below instead of fitting the data */
  double xlo, xhi, ylo, yhi;
  struct plot_series s[PLOT_MAX_SERIES];
  int ns;
};

/* Pixel rectangle [x0,x1] x [y0,y1] (y0 at the top) of the plotting area of panel i of np in a
 * width x height picture; data x maps linearly from [xlo,xhi] to [x0,x1], y from [ylo,yhi] to [y1,y0]. */
void plot_panel_rect(int width, int height, int np, int i, double *x0, double *y0, double *x1, double *y1);
/* Draw np panels side by side into path (.png or .svg by extension), width x height pixels;
 * a panel without fixed ranges gets "nice" ranges fitted to its data. */
nn_status plot_render(const char *path, struct plot_panel *panels, int np, int width, int height);
/* Shared drawing helper (plot, attention maps): text s at (x, y) in cr's current font and colour;
 * ax 0 / 0.5 / 1 puts x at its left / centre / right, ay 0 / 0.5 / 1 puts y at its bottom / middle / top. */
typedef struct _cairo cairo_t;
void plot_text(cairo_t *cr, double x, double y, const char *s, double ax, double ay);
/* The `attn_train plot` subcommand: argv[first..argc). */
nn_status plot_main(int argc, char **argv, int first);

#endif
