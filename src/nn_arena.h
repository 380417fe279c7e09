/* nn_arena: bump allocator over a list of chunks; reset reuses chunks, so a repeated
 * allocation pattern (one training step) allocates from the heap only the first time. */
#ifndef NN_ARENA_H
#define NN_ARENA_H
#include <stddef.h>
#include <stdint.h>

struct nn_arena_chunk;
struct nn_backend;

struct nn_arena {
  const struct nn_backend *be;  /* chunk allocator: this backend's memory, or host malloc when NULL */
  size_t chunk_bytes;           /* default chunk size; larger requests get their own chunk */
  struct nn_arena_chunk *head, *cur;
  int64_t heap_allocs;          /* chunks obtained from alloc() so far (for tests) */
  size_t used, peak;            /* bytes in use now, and the most since creation */
};

/* Initialise an arena that takes chunks of chunk_bytes from backend be (NULL: host malloc/free). */
void nn_arena_init(struct nn_arena *a, size_t chunk_bytes, const struct nn_backend *be);
/* 64-byte aligned block of bytes, or NULL when the allocator fails. */
void *nn_arena_alloc(struct nn_arena *a, size_t bytes);
/* Make all blocks free again without returning chunks to the allocator. */
void nn_arena_reset(struct nn_arena *a);
/* Return every chunk to the allocator. */
void nn_arena_destroy(struct nn_arena *a);

#endif
