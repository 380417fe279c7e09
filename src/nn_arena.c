#include "nn_arena.h"
#include "nn_backend.h"
#include <stdlib.h>
#include <string.h>

struct nn_arena_chunk {
  struct nn_arena_chunk *next;
  char *base;   /* from the backend, or host memory */
  size_t size, off;
  int64_t idx;  /* position in the chunk list (orders the free list) */
};

static void *aligned_malloc(size_t bytes) {
  void *p = NULL;
  return posix_memalign(&p, 64, bytes) == 0 ? p : NULL;
}

void nn_arena_init(struct nn_arena *a, size_t chunk_bytes, const struct nn_backend *be) {
  a->be = be;
  a->chunk_bytes = chunk_bytes;
  a->head = a->cur = NULL;
  a->heap_allocs = 0;
  a->used = a->peak = 0;
  a->holes = NULL;
  a->nholes = a->cap_holes = 0;
}

static struct nn_arena_chunk *chunk_new(struct nn_arena *a, size_t bytes) {
  struct nn_arena_chunk *c = malloc(sizeof *c);
  if (!c) return NULL;
  c->size = bytes > a->chunk_bytes ? bytes : a->chunk_bytes;
  c->base = a->be ? nn_be_alloc(a->be, c->size) : aligned_malloc(c->size);
  if (!c->base) { free(c); return NULL; }
  c->off = 0;
  c->next = NULL;
  c->idx = a->heap_allocs;
  a->heap_allocs++;
  return c;
}

static size_t round_bytes(size_t bytes) {
  bytes = (bytes + 63) & ~(size_t)63;
  return bytes ? bytes : 64;
}

static void *took(struct nn_arena *a, void *p, size_t bytes) {
  a->used += bytes;
  if (a->used > a->peak) a->peak = a->used;
  return p;
}

/* The smallest hole of at least bytes, or -1. */
static int best_hole(const struct nn_arena *a, size_t bytes) {
  int best = -1;
  for (int i = 0; i < a->nholes; i++)
    if (a->holes[i].bytes >= bytes && (best < 0 || a->holes[i].bytes < a->holes[best].bytes)) best = i;
  return best;
}

static void hole_remove(struct nn_arena *a, int i) {
  memmove(a->holes + i, a->holes + i + 1, sizeof *a->holes * (size_t)(a->nholes - i - 1));
  a->nholes--;
}

void *nn_arena_alloc(struct nn_arena *a, size_t bytes) {
  bytes = round_bytes(bytes);
  int h = best_hole(a, bytes);
  if (h >= 0) { /* reuse the front of a freed block */
    struct nn_arena_hole *o = &a->holes[h];
    void *p = o->chunk->base + o->off;
    o->off += bytes;
    o->bytes -= bytes;
    if (!o->bytes) hole_remove(a, h);
    return took(a, p, bytes);
  }
  if (!a->cur) {
    if (!a->head && !(a->head = chunk_new(a, bytes))) return NULL;
    a->cur = a->head;
  }
  /* walk forward through existing chunks (same order every step), appending only at the end */
  while (a->cur->off + bytes > a->cur->size) {
    if (!a->cur->next) {
      struct nn_arena_chunk *c = chunk_new(a, bytes);
      if (!c) return NULL;
      a->cur->next = c;
    }
    a->cur = a->cur->next;
    a->cur->off = 0;
  }
  void *p = a->cur->base + a->cur->off;
  a->cur->off += bytes;
  return took(a, p, bytes);
}

/* The chunk at or before cur that holds p (NULL: not from this step's part of the arena). */
static struct nn_arena_chunk *chunk_of(const struct nn_arena *a, const char *p) {
  for (struct nn_arena_chunk *c = a->head; c; c = c->next) {
    if (p >= c->base && p < c->base + c->size) return c;
    if (c == a->cur) break;
  }
  return NULL;
}

int nn_arena_free(struct nn_arena *a, void *ptr, size_t bytes) {
  if (!ptr) return 0;
  bytes = round_bytes(bytes);
  struct nn_arena_chunk *c = chunk_of(a, ptr);
  if (!c) return -1;
  size_t off = (size_t)((char *)ptr - c->base);
  a->used -= bytes;
  if (c == a->cur && off + bytes == c->off) { /* the top: lower the bump pointer, then swallow holes at the new top */
    c->off = off;
    while (a->nholes && a->holes[a->nholes - 1].chunk == c &&
           a->holes[a->nholes - 1].off + a->holes[a->nholes - 1].bytes == c->off) {
      c->off = a->holes[a->nholes - 1].off;
      a->nholes--;
    }
    return 0;
  }
  int i = a->nholes; /* insertion point: first hole after (c, off) */
  while (i > 0 && (a->holes[i - 1].chunk->idx > c->idx ||
                   (a->holes[i - 1].chunk == c && a->holes[i - 1].off > off)))
    i--;
  struct nn_arena_hole *prev = i > 0 && a->holes[i - 1].chunk == c ? &a->holes[i - 1] : NULL;
  struct nn_arena_hole *next = i < a->nholes && a->holes[i].chunk == c ? &a->holes[i] : NULL;
  int join_prev = prev && prev->off + prev->bytes == off, join_next = next && off + bytes == next->off;
  if (join_prev && join_next) {
    prev->bytes += bytes + next->bytes;
    hole_remove(a, i);
    return 0;
  }
  if (join_prev) { prev->bytes += bytes; return 0; }
  if (join_next) { next->off = off; next->bytes += bytes; return 0; }
  if (a->nholes == a->cap_holes) {
    int cap = a->cap_holes ? 2 * a->cap_holes : 64;
    struct nn_arena_hole *h = realloc(a->holes, sizeof *h * (size_t)cap);
    if (!h) { a->used += bytes; return -1; }
    a->holes = h;
    a->cap_holes = cap;
  }
  memmove(a->holes + i + 1, a->holes + i, sizeof *a->holes * (size_t)(a->nholes - i));
  a->holes[i] = (struct nn_arena_hole){.chunk = c, .off = off, .bytes = bytes};
  a->nholes++;
  return 0;
}

void nn_arena_reset(struct nn_arena *a) {
  a->cur = a->head;
  if (a->cur) a->cur->off = 0;
  a->used = 0;
  a->nholes = 0;
}

void nn_arena_destroy(struct nn_arena *a) {
  struct nn_arena_chunk *c = a->head;
  while (c) {
    struct nn_arena_chunk *n = c->next;
    if (a->be) nn_be_free(a->be, c->base);
    else free(c->base);
    free(c);
    c = n;
  }
  a->head = a->cur = NULL;
  free(a->holes);
  a->holes = NULL;
  a->nholes = a->cap_holes = 0;
}
