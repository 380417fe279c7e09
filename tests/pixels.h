/* Shared by the picture tests (test_attnmap.c, test_plot.c): reading pixels of a PNG written by cairo. */
#ifndef TESTS_PIXELS_H
#define TESTS_PIXELS_H
#include <cairo.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

/* RGB (0..255) of pixel (x, y) of an RGB24/ARGB32 image surface (e.g. cairo_image_surface_create_from_png). */
static inline void px_rgb(cairo_surface_t *s, int x, int y, int rgb[3]) {
  const unsigned char *d = cairo_image_surface_get_data(s);
  uint32_t v;
  memcpy(&v, d + (size_t)y * (size_t)cairo_image_surface_get_stride(s) + 4 * (size_t)x, 4);
  rgb[0] = (v >> 16) & 255, rgb[1] = (v >> 8) & 255, rgb[2] = v & 255;
}

/* 1 if rgb (0..255) is the colour want (channels in [0,1]) within one step of rounding. */
static inline int px_near(const int rgb[3], const double want[3]) {
  for (int k = 0; k < 3; k++)
    if (fabs(rgb[k] - want[k] * 255.0) > 1.01) return 0;
  return 1;
}

/* 1 if some pixel of the rectangle x in [x0, x1), y in [y0, y1) is dark (r + g + b < 200): text drawn there. */
static inline int px_any_dark(cairo_surface_t *s, int x0, int x1, int y0, int y1) {
  for (int y = y0; y < y1; y++)
    for (int x = x0; x < x1; x++) {
      int rgb[3];
      px_rgb(s, x, y, rgb);
      if (rgb[0] + rgb[1] + rgb[2] < 200) return 1;
    }
  return 0;
}

#endif
