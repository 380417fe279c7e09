#include "nn_arena.h"
#include "nn_backend.h"
#include <stdlib.h>

struct nn_arena_chunk {
  struct nn_arena_chunk *next;
  char *base;   /* from the backend, or host memory */
  size_t size, off;
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
}

static struct nn_arena_chunk *chunk_new(struct nn_arena *a, size_t bytes) {
  struct nn_arena_chunk *c = malloc(sizeof *c);
  if (!c) return NULL;
  c->size = bytes > a->chunk_bytes ? bytes : a->chunk_bytes;
  c->base = a->be ? nn_be_alloc(a->be, c->size) : aligned_malloc(c->size);
  if (!c->base) { free(c); return NULL; }
  c->off = 0;
  c->next = NULL;
  a->heap_allocs++;
  return c;
}

void *nn_arena_alloc(struct nn_arena *a, size_t bytes) {
  bytes = (bytes + 63) & ~(size_t)63;
  if (bytes == 0) bytes = 64;
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
  a->used += bytes;
  if (a->used > a->peak) a->peak = a->used;
  return p;
}

void nn_arena_reset(struct nn_arena *a) {
  a->cur = a->head;
  if (a->cur) a->cur->off = 0;
  a->used = 0;
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
}
