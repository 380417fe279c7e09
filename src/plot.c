/* plot: training curves from metrics.jsonl as PNG or SVG, drawn with cairo (Debian's libcairo2:
 * antialiased lines, real fonts and both output formats from one drawing routine). */
#include "plot.h"
#include "nn_jsonl.h"
#include <cairo.h>
#include <cairo-svg.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- drawing ---- */

static const double palette[10][3] = {
    {0.122, 0.467, 0.706}, {1.000, 0.498, 0.055}, {0.173, 0.627, 0.173}, {0.839, 0.153, 0.157},
    {0.580, 0.404, 0.741}, {0.549, 0.337, 0.294}, {0.890, 0.467, 0.761}, {0.498, 0.498, 0.498},
    {0.737, 0.741, 0.133}, {0.090, 0.745, 0.812}};

enum { MARGIN_L = 74, MARGIN_R = 18, MARGIN_T = 34, MARGIN_B = 46 };

void plot_panel_rect(int width, int height, int np, int i, double *x0, double *y0, double *x1, double *y1) {
  double w = (double)width / (np > 0 ? np : 1);
  *x0 = w * i + MARGIN_L;
  *x1 = w * (i + 1) - MARGIN_R;
  *y0 = MARGIN_T;
  *y1 = height - MARGIN_B;
}

/* A "nice" tick step for a range spanning about 5 ticks. */
static double nice_step(double range) {
  if (!(range > 0)) return 1;
  double e = pow(10, floor(log10(range / 5))), f = range / 5 / e;
  return e * (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10);
}

static double ymap(const struct plot_panel *p, double y) { return p->logy ? log10(y) : y; }

/* Fit [xlo,xhi] x [ylo,yhi] to the data of panel p, widened to tick multiples. */
static void fit_ranges(struct plot_panel *p) {
  double xl = INFINITY, xh = -INFINITY, yl = INFINITY, yh = -INFINITY;
  for (int s = 0; s < p->ns; s++)
    for (int k = 0; k < p->s[s].n; k++) {
      double x = p->s[s].x[k], y = p->s[s].y[k];
      if (!isfinite(x) || !isfinite(y) || (p->logy && y <= 0)) continue;
      y = ymap(p, y);
      xl = fmin(xl, x), xh = fmax(xh, x), yl = fmin(yl, y), yh = fmax(yh, y);
    }
  if (!isfinite(xl)) xl = 0, xh = 1, yl = 0, yh = 1;
  if (xh <= xl) xh = xl + 1;
  if (yh <= yl) yl -= 0.5, yh += 0.5;
  double sx = nice_step(xh - xl), sy = nice_step(yh - yl);
  p->xlo = floor(xl / sx) * sx, p->xhi = ceil(xh / sx) * sx;
  p->ylo = floor(yl / sy) * sy, p->yhi = ceil(yh / sy) * sy;
  /* an extreme point on the frame (the last evaluation at the right edge, a constant learning rate
   * along the top) gets one more tick of room; a y axis of non-negative data keeps starting at 0 */
  if (p->xhi - xh < 0.01 * (p->xhi - p->xlo)) p->xhi += sx;
  if (p->yhi - yh < 0.01 * (p->yhi - p->ylo)) p->yhi += sy;
  if (yl - p->ylo < 0.01 * (p->yhi - p->ylo) && !(yl >= 0 && p->ylo - sy < 0)) p->ylo -= sy;
}

void plot_text(cairo_t *cr, double x, double y, const char *s, double ax, double ay) {
  cairo_text_extents_t e;
  cairo_text_extents(cr, s, &e);
  cairo_move_to(cr, x - e.width * ax - e.x_bearing, y + e.height * ay);
  cairo_show_text(cr, s);
}

static void fmt_tick(char *b, size_t n, double v, double step, int logy) {
  if (logy) v = pow(10, v);
  if (fabs(v) < 1e-12 * step) v = 0;
  if (logy || (v != 0 && (fabs(v) >= 1e5 || fabs(v) < 1e-3))) snprintf(b, n, "%.3g", v);
  else {
    int dec = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    snprintf(b, n, "%.*f", dec > 6 ? 6 : dec, v);
  }
}

static void draw_panel(cairo_t *cr, const struct plot_panel *p, double x0, double y0, double x1, double y1) {
  double sx = nice_step(p->xhi - p->xlo), sy = nice_step(p->yhi - p->ylo);
  cairo_set_font_size(cr, 12);
  cairo_set_line_width(cr, 1);
  char b[32];
  /* grid and ticks */
  for (double t = ceil(p->ylo / sy - 1e-9) * sy; t <= p->yhi + sy * 1e-9; t += sy) {
    double y = y1 - (t - p->ylo) / (p->yhi - p->ylo) * (y1 - y0);
    cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
    cairo_move_to(cr, x0, floor(y) + 0.5), cairo_line_to(cr, x1, floor(y) + 0.5), cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
    fmt_tick(b, sizeof b, t, sy, p->logy);
    plot_text(cr, x0 - 6, y, b, 1.0, 0.5);
  }
  for (double t = ceil(p->xlo / sx - 1e-9) * sx; t <= p->xhi + sx * 1e-9; t += sx) {
    double x = x0 + (t - p->xlo) / (p->xhi - p->xlo) * (x1 - x0);
    cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
    cairo_move_to(cr, floor(x) + 0.5, y0), cairo_line_to(cr, floor(x) + 0.5, y1), cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
    fmt_tick(b, sizeof b, t, sx, 0);
    plot_text(cr, x, y1 + 8, b, 0.5, 1.0);
  }
  cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
  cairo_rectangle(cr, floor(x0) + 0.5, floor(y0) + 0.5, floor(x1) - floor(x0), floor(y1) - floor(y0));
  cairo_stroke(cr);
  cairo_set_font_size(cr, 14);
  cairo_set_source_rgb(cr, 0, 0, 0);
  if (p->title) plot_text(cr, (x0 + x1) / 2, y0 - 20, p->title, 0.5, 0.5);
  cairo_set_font_size(cr, 12);
  if (p->xlabel) plot_text(cr, (x0 + x1) / 2, y1 + 28, p->xlabel, 0.5, 1.0);
  /* curves, clipped to the plotting area */
  cairo_save(cr);
  cairo_rectangle(cr, x0, y0, x1 - x0, y1 - y0);
  cairo_clip(cr);
  for (int s = 0; s < p->ns; s++) {
    const struct plot_series *se = &p->s[s];
    const double *c = palette[se->color % 10];
    cairo_set_source_rgb(cr, c[0], c[1], c[2]);
    cairo_set_line_width(cr, 2);
    double dash[] = {6, 4};
    cairo_set_dash(cr, se->dashed ? dash : NULL, se->dashed ? 2 : 0, 0);
    int pen = 0;
    for (int k = 0; k < se->n; k++) {
      double x = se->x[k], y = se->y[k];
      if (!isfinite(x) || !isfinite(y) || (p->logy && y <= 0)) { pen = 0; continue; }
      double px = x0 + (x - p->xlo) / (p->xhi - p->xlo) * (x1 - x0);
      double py = y1 - (ymap(p, y) - p->ylo) / (p->yhi - p->ylo) * (y1 - y0);
      if (pen) cairo_line_to(cr, px, py);
      else cairo_move_to(cr, px, py);
      pen = 1;
    }
    cairo_stroke(cr);
    cairo_set_dash(cr, NULL, 0, 0);
    if (se->dashed) /* markers on evaluation points */
      for (int k = 0; k < se->n; k++) {
        double x = se->x[k], y = se->y[k];
        if (!isfinite(x) || !isfinite(y) || (p->logy && y <= 0)) continue;
        cairo_arc(cr, x0 + (x - p->xlo) / (p->xhi - p->xlo) * (x1 - x0),
                  y1 - (ymap(p, y) - p->ylo) / (p->yhi - p->ylo) * (y1 - y0), 3, 0, 2 * M_PI);
        cairo_fill(cr);
      }
  }
  cairo_restore(cr);
}

/* Legend in the top-right corner of the plotting area of the first panel. */
static void draw_legend(cairo_t *cr, const struct plot_panel *p, double x1, double y0) {
  int n = 0;
  double wmax = 0;
  cairo_set_font_size(cr, 12);
  for (int s = 0; s < p->ns; s++)
    if (p->s[s].label) {
      cairo_text_extents_t e;
      cairo_text_extents(cr, p->s[s].label, &e);
      wmax = fmax(wmax, e.x_advance);
      n++;
    }
  if (!n) return;
  double w = wmax + 46, h = 18.0 * n + 8, x = x1 - w - 8, y = y0 + 8;
  cairo_set_source_rgba(cr, 1, 1, 1, 0.85);
  cairo_rectangle(cr, x, y, w, h);
  cairo_fill_preserve(cr);
  cairo_set_source_rgb(cr, 0.7, 0.7, 0.7);
  cairo_set_line_width(cr, 1);
  cairo_stroke(cr);
  int row = 0;
  for (int s = 0; s < p->ns; s++) {
    const struct plot_series *se = &p->s[s];
    if (!se->label) continue;
    double yy = y + 13 + 18.0 * row++;
    const double *c = palette[se->color % 10];
    cairo_set_source_rgb(cr, c[0], c[1], c[2]);
    cairo_set_line_width(cr, 2);
    double dash[] = {6, 4};
    cairo_set_dash(cr, se->dashed ? dash : NULL, se->dashed ? 2 : 0, 0);
    cairo_move_to(cr, x + 6, yy - 4), cairo_line_to(cr, x + 34, yy - 4), cairo_stroke(cr);
    cairo_set_dash(cr, NULL, 0, 0);
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_move_to(cr, x + 40, yy);
    cairo_show_text(cr, se->label);
  }
}

static int has_suffix(const char *s, const char *suf) {
  size_t a = strlen(s), b = strlen(suf);
  return a >= b && strcmp(s + a - b, suf) == 0;
}

nn_status plot_render(const char *path, struct plot_panel *panels, int np, int width, int height) {
  if (np < 1) return nn_fail(NN_ERR_ARG, "plot: nothing to draw");
  int svg = has_suffix(path, ".svg");
  if (!svg && !has_suffix(path, ".png"))
    return nn_fail(NN_ERR_ARG, "option --out %s: the picture must end in .png or .svg", path);
  cairo_surface_t *sf = svg ? cairo_svg_surface_create(path, width, height)
                            : cairo_image_surface_create(CAIRO_FORMAT_RGB24, width, height);
  if (cairo_surface_status(sf) != CAIRO_STATUS_SUCCESS) {
    nn_status st = nn_fail(NN_ERR_IO, "cannot create %s: %s", path, cairo_status_to_string(cairo_surface_status(sf)));
    cairo_surface_destroy(sf);
    return st;
  }
  cairo_t *cr = cairo_create(sf);
  cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_source_rgb(cr, 1, 1, 1);
  cairo_paint(cr);
  for (int i = 0; i < np; i++) {
    double x0, y0, x1, y1;
    plot_panel_rect(width, height, np, i, &x0, &y0, &x1, &y1);
    if (!panels[i].fixed) fit_ranges(&panels[i]);
    draw_panel(cr, &panels[i], x0, y0, x1, y1);
    if (i == 0) draw_legend(cr, &panels[i], x1, y0);
  }
  cairo_destroy(cr);
  cairo_status_t cs = svg ? (cairo_surface_finish(sf), cairo_surface_status(sf)) : cairo_surface_write_to_png(sf, path);
  cairo_surface_destroy(sf);
  if (cs != CAIRO_STATUS_SUCCESS) return nn_fail(NN_ERR_IO, "cannot write %s: %s", path, cairo_status_to_string(cs));
  return NN_OK;
}

/* ---- metrics.jsonl ---- */

/* A growable array of doubles. */
struct vec {
  double *v;
  int n, cap;
};

static int vec_push(struct vec *a, double x) {
  if (a->n == a->cap) {
    int cap = a->cap ? 2 * a->cap : 256;
    double *v = realloc(a->v, sizeof *v * (size_t)cap);
    if (!v) return -1;
    a->v = v, a->cap = cap;
  }
  a->v[a->n++] = x;
  return 0;
}

/* One run's curves; x of train points = steps completed (step + 1), like evaluation points. */
struct run {
  char label[128];
  struct vec tstep, ttime, tloss, tlr, tacc;      /* train */
  struct vec estep, etime, eloss, eacc, ebleu;    /* evaluation */
};

static void run_free(struct run *r) {
  struct vec *v[] = {&r->tstep, &r->ttime, &r->tloss, &r->tlr, &r->tacc, &r->estep, &r->etime, &r->eloss, &r->eacc, &r->ebleu};
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) free(v[i]->v);
}

static nn_status run_read(struct run *r, const char *dir) {
  char path[4096];
  struct stat sb;
  if (stat(dir, &sb) != 0)
    return nn_fail(NN_ERR_IO, "plot: %s: %s (give a log directory holding metrics.jsonl, or the file)", dir, strerror(errno));
  if (S_ISDIR(sb.st_mode)) snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
  else snprintf(path, sizeof path, "%s", dir);
  FILE *f = fopen(path, "r");
  if (!f) return nn_fail(NN_ERR_IO, "plot: cannot read %s: %s", path, strerror(errno));
  char line[4096];
  int bad = 0;
  while (fgets(line, sizeof line, f)) {
    double step, v;
    if (line[0] != '{' || !nn_jsonl_num(line, "step", &step)) {
      bad += line[0] != '\n';
      continue;
    }
    if (nn_jsonl_is(line, "split", "train")) {
      int err = vec_push(&r->tstep, step + 1);
      err |= vec_push(&r->ttime, nn_jsonl_num(line, "time", &v) ? v : NAN);
      err |= vec_push(&r->tloss, nn_jsonl_num(line, "loss", &v) ? v : NAN);
      err |= vec_push(&r->tlr, nn_jsonl_num(line, "lr", &v) ? v : NAN);
      err |= vec_push(&r->tacc, nn_jsonl_num(line, "accuracy", &v) ? v : NAN);
      if (err) break;
    } else if (nn_jsonl_is(line, "split", "test") || nn_jsonl_is(line, "split", "val")) {
      /* wall time of an evaluation: that of the last train step before it */
      double t = NAN;
      for (int k = r->tstep.n - 1; k >= 0; k--)
        if (r->tstep.v[k] <= step) { t = r->ttime.v[k]; break; }
      int err = vec_push(&r->estep, step);
      err |= vec_push(&r->etime, t);
      err |= vec_push(&r->eloss, nn_jsonl_num(line, "loss", &v) ? v : NAN);
      err |= vec_push(&r->eacc, nn_jsonl_num(line, "accuracy", &v) ? v : NAN);
      err |= vec_push(&r->ebleu, nn_jsonl_num(line, "bleu", &v) ? v : NAN);
      if (err) break;
    }
  }
  fclose(f);
  if (r->tstep.n == 0 && r->estep.n == 0)
    return nn_fail(NN_ERR_ARG, "plot: %s holds no training or evaluation line%s", path, bad ? " (not a metrics.jsonl?)" : "");
  return NN_OK;
}

static int any_finite(const struct vec *v) {
  for (int k = 0; k < v->n; k++)
    if (isfinite(v->v[k])) return 1;
  return 0;
}

/* Exponential moving average of y (alpha = weight of the past), debiased like TensorBoard's. */
static void smooth(double *out, const double *y, int n, double alpha) {
  double m = 0, w = 0;
  for (int k = 0; k < n; k++) {
    if (!isfinite(y[k])) { out[k] = y[k]; continue; }
    m = alpha * m + (1 - alpha) * y[k];
    w = alpha * w + (1 - alpha);
    out[k] = m / w;
  }
}

static void add_series(struct plot_panel *p, const char *label, const struct vec *x, const double *y, int n, int color,
                       int dashed) {
  if (p->ns >= PLOT_MAX_SERIES) return;
  p->s[p->ns++] = (struct plot_series){.label = label, .n = n, .x = x->v, .y = y, .color = color, .dashed = dashed};
}

static nn_status parse_plot_args(int argc, char **argv, int first, const char **out, int *use_time, double *alpha,
                                 int *width, int *height, int *nruns, const char **dirs, int *help) {
  *nruns = 0;
  for (int a = first; a < argc; a++) {
    const char *f = argv[a];
    if (!strcmp(f, "--help") || !strcmp(f, "-h")) { *help = 1; continue; }
    if (strncmp(f, "--", 2) != 0) {
      if (*nruns >= PLOT_MAX_SERIES / 4) return nn_fail(NN_ERR_ARG, "plot: at most %d runs", PLOT_MAX_SERIES / 4);
      dirs[(*nruns)++] = f;
      continue;
    }
    if (a + 1 >= argc) return nn_fail(NN_ERR_ARG, "plot: option %s needs a value", f);
    const char *v = argv[++a];
    char *end;
    if (!strcmp(f, "--out")) *out = v;
    else if (!strcmp(f, "--x")) {
      if (strcmp(v, "step") && strcmp(v, "time")) return nn_fail(NN_ERR_ARG, "option --x: '%s' is not step or time", v);
      *use_time = !strcmp(v, "time");
    } else if (!strcmp(f, "--smooth")) {
      *alpha = strtod(v, &end);
      if (*end || !(*alpha >= 0 && *alpha < 1)) return nn_fail(NN_ERR_ARG, "option --smooth: '%s' is not in [0, 1)", v);
    } else if (!strcmp(f, "--width") || !strcmp(f, "--height")) {
      long x = strtol(v, &end, 10);
      if (*end || x < 200 || x > 8000) return nn_fail(NN_ERR_ARG, "option %s: '%s' is not a size in [200, 8000] pixels", f, v);
      *(!strcmp(f, "--width") ? width : height) = (int)x;
    } else return nn_fail(NN_ERR_ARG, "plot: unknown option '%s' (see plot --help)", f);
  }
  if (*help) return NN_OK;
  if (!*nruns) return nn_fail(NN_ERR_ARG, "plot: give at least one log directory (or metrics.jsonl file)");
  if (!*out) return nn_fail(NN_ERR_ARG, "plot: --out FILE.png (or .svg) is required");
  return NN_OK;
}

nn_status plot_main(int argc, char **argv, int first) {
  const char *out = NULL, *dirs[PLOT_MAX_SERIES];
  int use_time = 0, width = 0, height = 420, nruns = 0, help = 0;
  double alpha = 0;
  NN_TRY(parse_plot_args(argc, argv, first, &out, &use_time, &alpha, &width, &height, &nruns, dirs, &help));
  if (help) {
    printf("usage: attn_train plot LOGDIR [LOGDIR ...] --out FILE.png|FILE.svg [--x step|time] [--smooth A]\n"
           "                       [--width PX] [--height PX]\n"
           "Curves of each run's LOGDIR/metrics.jsonl, runs overlaid: loss (train solid, evaluation dashed),\n"
           "accuracy or BLEU when logged, learning rate. --smooth A: exponential moving average of the train\n"
           "curves (A = weight of the past, 0 = raw).\n");
    return NN_OK;
  }
  struct run *runs = calloc((size_t)nruns, sizeof *runs);
  double **tmp = calloc((size_t)nruns * 2, sizeof *tmp);
  nn_status st = runs && tmp ? NN_OK : nn_fail(NN_ERR_OOM, "plot: out of memory");
  for (int r = 0; st == NN_OK && r < nruns; r++) {
    st = run_read(&runs[r], dirs[r]);
    const char *base = strrchr(dirs[r], '/');
    snprintf(runs[r].label, sizeof runs[r].label, "%s", base && base[1] ? base + 1 : dirs[r]);
  }
  struct plot_panel *panels = calloc(3, sizeof *panels);
  if (st == NN_OK && !panels) st = nn_fail(NN_ERR_OOM, "plot: out of memory");
  int np = 0;
  if (st == NN_OK) {
    const char *xl = use_time ? "wall time (s)" : "step";
    struct plot_panel *loss = &panels[np++];
    *loss = (struct plot_panel){.title = "loss (train solid, eval dashed)", .xlabel = xl};
    int acc = 0, bleu = 0;
    for (int r = 0; r < nruns; r++) {
      acc |= any_finite(&runs[r].eacc) || any_finite(&runs[r].tacc);
      bleu |= any_finite(&runs[r].ebleu);
    }
    struct plot_panel *metric = NULL;
    if (acc || bleu) {
      metric = &panels[np++];
      *metric = (struct plot_panel){.title = acc ? "accuracy (train solid, eval dashed)" : "BLEU (eval)", .xlabel = xl};
    }
    struct plot_panel *lr = &panels[np++];
    *lr = (struct plot_panel){.title = "learning rate", .xlabel = xl};
    for (int r = 0; st == NN_OK && r < nruns; r++) {
      struct run *R = &runs[r];
      const struct vec *tx = use_time ? &R->ttime : &R->tstep, *ex = use_time ? &R->etime : &R->estep;
      tmp[2 * r] = malloc(sizeof(double) * (size_t)(R->tstep.n + 1));
      tmp[2 * r + 1] = malloc(sizeof(double) * (size_t)(R->tstep.n + 1));
      if (!tmp[2 * r] || !tmp[2 * r + 1]) { st = nn_fail(NN_ERR_OOM, "plot: out of memory"); break; }
      smooth(tmp[2 * r], R->tloss.v, R->tloss.n, alpha);
      smooth(tmp[2 * r + 1], R->tacc.v, R->tacc.n, alpha);
      add_series(loss, R->label, tx, tmp[2 * r], R->tloss.n, r, 0);
      add_series(loss, NULL, ex, R->eloss.v, R->eloss.n, r, 1);
      if (metric && acc) {
        add_series(metric, R->label, tx, tmp[2 * r + 1], R->tacc.n, r, 0);
        add_series(metric, NULL, ex, R->eacc.v, R->eacc.n, r, 1);
      } else if (metric) {
        add_series(metric, R->label, ex, R->ebleu.v, R->ebleu.n, r, 1);
      }
      add_series(lr, R->label, tx, R->tlr.v, R->tlr.n, r, 0);
    }
    if (st == NN_OK) st = plot_render(out, panels, np, width ? width : 480 * np, height);
    if (st == NN_OK) printf("plot: %d run%s, %d panel%s written to %s\n", nruns, nruns > 1 ? "s" : "", np, np > 1 ? "s" : "", out);
  }
  for (int r = 0; runs && r < nruns; r++) run_free(&runs[r]);
  for (int k = 0; tmp && k < 2 * nruns; k++) free(tmp[k]);
  free(tmp);
  free(runs);
  free(panels);
  return st;
}
