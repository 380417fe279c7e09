/* Unit tests of `attn_train plot`: pixels of a known curve, the metrics.jsonl path, bad input. */
#include <CUnit/Basic.h>
#include <cairo.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "pixels.h"
#include "plot.h"

static char tmpdir[] = "/tmp/attn_plot_XXXXXX";

/* 1 if a pixel within +-r rows of (x, y) has (about) the colour c; the line is 2 px wide, antialiased. */
static int colour_near(cairo_surface_t *s, int x, int y, int r, const int c[3]) {
  for (int dy = -r; dy <= r; dy++) {
    int p[3];
    px_rgb(s, x, y + dy, p);
    if (abs(p[0] - c[0]) < 40 && abs(p[1] - c[1]) < 40 && abs(p[2] - c[2]) < 40) return 1;
  }
  return 0;
}

/* Palette colour 3 (red, 0.839 0.153 0.157) and colour 0 (blue) in 0..255. */
static const int RED[3] = {214, 39, 40}, BLUE[3] = {31, 119, 180};

/* y = x / 100 on fixed axes [0,100] x [0,1]: the line passes through the mapped pixels, and a
 * pixel 12 rows away from it has no line colour. */
static void test_known_curve_pixels(void) {
  double x[101], y[101];
  for (int k = 0; k <= 100; k++) x[k] = k, y[k] = k / 100.0;
  struct plot_panel p = {.title = "t", .xlabel = "step", .fixed = 1, .xlo = 0, .xhi = 100, .ylo = 0, .yhi = 1};
  p.s[p.ns++] = (struct plot_series){.label = NULL, .n = 101, .x = x, .y = y, .color = 3};
  char path[256];
  snprintf(path, sizeof path, "%s/line.png", tmpdir);
  CU_ASSERT_EQUAL_FATAL(plot_render(path, &p, 1, 600, 400), NN_OK);
  cairo_surface_t *s = cairo_image_surface_create_from_png(path);
  CU_ASSERT_EQUAL_FATAL(cairo_surface_status(s), CAIRO_STATUS_SUCCESS);
  CU_ASSERT_EQUAL(cairo_image_surface_get_width(s), 600);
  double x0, y0, x1, y1;
  plot_panel_rect(600, 400, 1, 0, &x0, &y0, &x1, &y1);
  for (int k = 10; k <= 90; k += 20) {
    int px = (int)lround(x0 + k / 100.0 * (x1 - x0)), py = (int)lround(y1 - k / 100.0 * (y1 - y0));
    CU_ASSERT(colour_near(s, px, py, 1, RED));
    CU_ASSERT(!colour_near(s, px, py - 12, 2, RED));
    CU_ASSERT(!colour_near(s, px, py + 12, 2, RED));
  }
  /* outside the plotting area: background */
  int bg[3];
  px_rgb(s, 5, 200, bg);
  CU_ASSERT(bg[0] == 255 && bg[1] == 255 && bg[2] == 255);
  cairo_surface_destroy(s);
}

/* The CLI path: a metrics.jsonl whose train loss falls linearly from 1 to 0 over steps 1..100 gets
 * the axes [0,120] x [0,1]: nice ranges of the data, and one more x tick because the last point
 * (step 100) would otherwise sit on the frame; the loss axis of non-negative data starts at 0. */
static void test_metrics_file_curve(void) {
  char dir[256], path[300], out[300];
  snprintf(dir, sizeof dir, "%s/run1", tmpdir);
  snprintf(path, sizeof path, "mkdir -p %s", dir);
  CU_ASSERT_EQUAL_FATAL(system(path), 0);
  snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
  FILE *f = fopen(path, "w");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  for (int s = 0; s < 100; s++) /* step s logs the loss after s+1 completed steps */
    fprintf(f, "{\"step\": %d, \"epoch\": 0, \"split\": \"train\", \"loss\": %.6f, \"lr\": 0.001, \"time\": %.3f}\n", s,
            1.0 - (s + 1) / 100.0, 0.01 * s);
  fprintf(f, "{\"split\": \"comm\", \"buckets\": 2}\n");
  fclose(f);
  snprintf(out, sizeof out, "%s/curves.png", tmpdir);
  char *argv[] = {"attn_train", "plot", dir, "--out", out, "--width", "600"};
  CU_ASSERT_EQUAL_FATAL(plot_main(7, argv, 2), NN_OK);
  cairo_surface_t *s = cairo_image_surface_create_from_png(out);
  CU_ASSERT_EQUAL_FATAL(cairo_surface_status(s), CAIRO_STATUS_SUCCESS);
  double x0, y0, x1, y1;
  /* two panels (loss, learning rate), 600 px wide: the loss panel is the first */
  plot_panel_rect(600, 420, 2, 0, &x0, &y0, &x1, &y1);
  for (int k = 20; k <= 80; k += 30) {
    int px = (int)lround(x0 + k / 120.0 * (x1 - x0)), py = (int)lround(y1 - (1.0 - k / 100.0) * (y1 - y0));
    CU_ASSERT(colour_near(s, px, py, 1, BLUE));
    CU_ASSERT(!colour_near(s, px, py - 12, 2, BLUE));
  }
  cairo_surface_destroy(s);
  /* SVG output of the same run */
  snprintf(out, sizeof out, "%s/curves.svg", tmpdir);
  char *argv2[] = {"attn_train", "plot", dir, "--out", out, "--x", "time"};
  CU_ASSERT_EQUAL(plot_main(7, argv2, 2), NN_OK);
  f = fopen(out, "r");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  char head[256] = {0};
  CU_ASSERT(fread(head, 1, sizeof head - 1, f) > 0);
  fclose(f);
  CU_ASSERT_PTR_NOT_NULL(strstr(head, "<svg"));
}

static void test_bad_input(void) {
  char out[300];
  snprintf(out, sizeof out, "%s/x.png", tmpdir);
  char *a1[] = {"attn_train", "plot", "/nonexistent/run", "--out", out};
  CU_ASSERT_EQUAL(plot_main(5, a1, 2), NN_ERR_IO);
  CU_ASSERT_PTR_NOT_NULL(strstr(nn_errmsg(), "/nonexistent/run: No such file"));
  char *a2[] = {"attn_train", "plot", tmpdir};
  CU_ASSERT_EQUAL(plot_main(3, a2, 2), NN_ERR_ARG);
  CU_ASSERT_PTR_NOT_NULL(strstr(nn_errmsg(), "--out"));
  char dir[300];
  snprintf(dir, sizeof dir, "%s/run1", tmpdir);
  char *a3[] = {"attn_train", "plot", dir, "--out", "pic.jpg"};
  CU_ASSERT_EQUAL(plot_main(5, a3, 2), NN_ERR_ARG);
  CU_ASSERT_PTR_NOT_NULL(strstr(nn_errmsg(), ".png or .svg"));
  char *a4[] = {"attn_train", "plot", dir, "--out", out, "--smooth", "1.5"};
  CU_ASSERT_EQUAL(plot_main(7, a4, 2), NN_ERR_ARG);
  CU_ASSERT_PTR_NOT_NULL(strstr(nn_errmsg(), "--smooth"));
  /* a file that is not a metrics log */
  char junk[300];
  snprintf(junk, sizeof junk, "%s/junk.txt", tmpdir);
  FILE *f = fopen(junk, "w");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  fputs("hello\nworld\n", f);
  fclose(f);
  char *a5[] = {"attn_train", "plot", junk, "--out", out};
  CU_ASSERT_EQUAL(plot_main(5, a5, 2), NN_ERR_ARG);
  CU_ASSERT_PTR_NOT_NULL(strstr(nn_errmsg(), "not a metrics.jsonl"));
}

int main(void) {
  if (!mkdtemp(tmpdir)) return 1;
  if (CU_initialize_registry() != CUE_SUCCESS) return 1;
  CU_pSuite s = CU_add_suite("plot", NULL, NULL);
  CU_add_test(s, "known curve pixels", test_known_curve_pixels);
  CU_add_test(s, "metrics file curve", test_metrics_file_curve);
  CU_add_test(s, "bad input", test_bad_input);
  CU_basic_set_mode(CU_BRM_VERBOSE);
  CU_basic_run_tests();
  int fails = (int)CU_get_number_of_failures();
  CU_cleanup_registry();
  char cmd[64];
  snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
  if (system(cmd) != 0) fails++;
  return fails ? 1 : 0;
}
