/* nn_arena: bump allocator over a list of chunks; reset reuses chunks, so a repeated
 * allocation pattern (one training step) allocates from the heap only the first time.
 * Blocks may be handed back early with nn_arena_free (activation gradients and scratch during
 * backward, docs/arch/convperf.md): a freed block at the top of the current chunk lowers the bump
 * pointer (stack discipline), any other goes to a host-side free list (address-ordered, coalesced)
 * that later allocations search (best fit) before bumping. The same sequence of alloc/free calls
 * every step gives the same layout every step, so there is still no heap allocation after step 1. */
#ifndef NN_ARENA_H
#define NN_ARENA_H
#include <stddef.h>
#include <stdint.h>

struct nn_arena_chunk;
struct nn_backend;

/* One free block of the free list (host memory; the block itself may be device memory). */
struct nn_arena_hole {
  struct nn_arena_chunk *chunk;
  size_t off, bytes;
};

struct nn_arena {
  const struct nn_backend *be;  /* chunk allocator: this backend's memory, or host malloc when NULL */
  size_t chunk_bytes;           /* default chunk size; larger requests get their own chunk */
  struct nn_arena_chunk *head, *cur;
  int64_t heap_allocs;          /* chunks obtained from alloc() so far (for tests) */
  size_t used, peak;            /* bytes in use now, and the most since creation */
  struct nn_arena_hole *holes;  /* free list, ordered by (chunk order, offset); grows, never shrinks */
  int nholes, cap_holes;
};

/* Initialise an arena that takes chunks of chunk_bytes from backend be (NULL: host malloc/free). */
void nn_arena_init(struct nn_arena *a, size_t chunk_bytes, const struct nn_backend *be);
/* 64-byte aligned block of bytes, or NULL when the allocator fails. */
void *nn_arena_alloc(struct nn_arena *a, size_t bytes);
/* Hand back block p of bytes (as passed to nn_arena_alloc) before the next reset; NULL p is a no-op.
 * Returns 0, or -1 when the free list could not grow (the block then stays in use until reset). */
int nn_arena_free(struct nn_arena *a, void *p, size_t bytes);
/* Make all blocks free again without returning chunks to the allocator. */
void nn_arena_reset(struct nn_arena *a);
/* Return every chunk to the allocator. */
void nn_arena_destroy(struct nn_arena *a);

#endif
