/* ds_loader: a background thread fills a ring of batch slots from a reader + a private copy of the sampler. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "ds_internal.h"
#include "nn_rng.h"

#define DS_NSLOTS 3

struct ds_slot {
  struct ds_batch b;
  int64_t epoch, pos; /* sampler position after this batch */
  int64_t gen;        /* restart generation it was read under */
};

struct ds_loader {
  struct ds_reader *r;
  struct ds_sampler *user; /* the caller's sampler: mirrors the position of the batch handed out */
  struct ds_sampler s;     /* the thread's own copy */
  int64_t batch, block, win; /* win: tokens per text window (block+1) or pairs length */
  struct ds_augment aug;     /* image augmentation (pad 0, flip 0: none) */
  struct ds_slot slot[DS_NSLOTS];
  int ready[DS_NSLOTS], nready, head; /* FIFO of filled slot indices */
  int held;                           /* slot the caller holds, -1 if none */
  int64_t seen_epoch, seen_pos;       /* the position last written into *user */
  int64_t gen, restart_epoch, restart_pos, restart_start, restart_per_rank;
  int restart, stop;
  nn_status err;
  char errmsg[1024];
  pthread_t th;
  pthread_mutex_t mu;
  pthread_cond_t cv;
};

/* Read the examples of slot->b.indices[0..n) into the slot's buffers. */
static nn_status ds_fill(struct ds_loader *L, struct ds_slot *sl, int64_t n, int64_t epoch) {
  struct ds_batch *b = &sl->b;
  const struct ds_meta *m = ds_get_meta(L->r);
  if (n == 0) return NN_OK;
  if (m->kind == DS_IMAGE) {
    NN_TRY(ds_read_images(L->r, b->indices, n, b->pixels, b->labels));
    if (L->aug.pad > 0 || L->aug.flip) ds_augment_images(b->pixels, n, m->c, m->h, m->w, b->indices, epoch, &L->aug);
    return NN_OK;
  }
  if (m->kind == DS_FEATURES) return ds_read_features(L->r, b->indices, n, b->features, b->labels);
  if (m->kind == DS_PAIRS) return ds_read_pairs(L->r, b->indices, n, b->src, b->tgt, L->win);
  int64_t off = ds_sampler_offset(&L->s, m->count - L->s.n * L->win + 1); /* same on every rank */
  for (int64_t i = 0; i < n; i++) b->indices[i] = off + b->indices[i] * L->win;
  return ds_read_windows(L->r, b->indices, n, L->win, b->tokens);
}

/* Index of a slot neither held by the caller nor queued (there is always one while the ring is not full). */
static int ds_free_slot(const struct ds_loader *L) {
  for (int k = 0; k < DS_NSLOTS; k++) {
    int used = k == L->held;
    for (int j = 0; j < L->nready && !used; j++) used = L->ready[(L->head + j) % DS_NSLOTS] == k;
    if (!used) return k;
  }
  return -1;
}

static void *ds_loader_main(void *arg) {
  struct ds_loader *L = arg;
  pthread_mutex_lock(&L->mu);
  for (;;) {
    while (!L->stop && !L->restart && (L->err != NN_OK || L->nready + (L->held >= 0) >= DS_NSLOTS))
      pthread_cond_wait(&L->cv, &L->mu);
    if (L->stop) break;
    if (L->restart) {
      L->s.epoch = L->restart_epoch;
      L->s.pos = L->restart_pos;
      L->s.start = L->restart_start;
      L->s.per_rank = L->restart_per_rank;
      L->restart = 0;
      L->err = NN_OK;
    }
    int k = ds_free_slot(L);
    struct ds_slot *sl = &L->slot[k];
    sl->gen = L->gen;
    /* the next batch of the epoch; an empty one marks its end and moves the private sampler on */
    int64_t n = ds_sampler_next(&L->s, L->batch, sl->b.indices);
    if (n < L->batch && L->s.drop_last) n = 0;
    sl->b.group_key = L->s.group_key;
    int64_t epoch = L->s.epoch;
    pthread_mutex_unlock(&L->mu);

    nn_status st = ds_fill(L, sl, n, epoch);

    pthread_mutex_lock(&L->mu);
    if (sl->gen != L->gen) continue; /* the caller moved the position meanwhile: drop it */
    if (st != NN_OK) {
      L->err = st;
      snprintf(L->errmsg, sizeof L->errmsg, "%s", nn_errmsg());
      pthread_cond_broadcast(&L->cv);
      continue;
    }
    sl->b.n = n;
    if (n == 0) ds_sampler_set_epoch(&L->s, epoch + 1);
    sl->epoch = L->s.epoch;
    sl->pos = L->s.pos;
    L->ready[(L->head + L->nready++) % DS_NSLOTS] = k;
    pthread_cond_broadcast(&L->cv);
  }
  pthread_mutex_unlock(&L->mu);
  return NULL;
}

static void ds_slot_free(struct ds_slot *sl) {
  free(sl->b.pixels);
  free(sl->b.labels);
  free(sl->b.tokens);
  free(sl->b.src);
  free(sl->b.tgt);
  free(sl->b.indices);
  free(sl->b.features);
}

nn_status ds_loader_start(struct ds_loader **out, struct ds_reader *r, struct ds_sampler *s, int64_t batch, int64_t block) {
  return ds_loader_start_aug(out, r, s, batch, block, NULL);
}

nn_status ds_loader_start_aug(struct ds_loader **out, struct ds_reader *r, struct ds_sampler *s, int64_t batch, int64_t block,
                              const struct ds_augment *aug) {
  *out = NULL;
  const struct ds_meta *m = ds_get_meta(r);
  if (aug && (aug->pad > 0 || aug->flip) && m->kind != DS_IMAGE)
    return nn_fail(NN_ERR_ARG, "%s split '%s': augmentation applies to image datasets, this one is of kind '%s'", m->id,
                   m->split, ds_kind_name(m->kind));
  if (aug && (aug->pad < 0 || aug->pad > 1024))
    return nn_fail(NN_ERR_ARG, "%s split '%s': crop padding %d out of range [0, 1024]", m->id, m->split, aug->pad);
  if (batch <= 0) return nn_fail(NN_ERR_ARG, "ds_loader_start: batch size %lld", (long long)batch);
  if (m->kind == DS_TEXT && (block <= 0 || ds_num_samples(r, block) < 1))
    return nn_fail(NN_ERR_ARG, "%s split '%s': %lld tokens hold no window of block %lld + 1", m->id, m->split,
                   (long long)m->count, (long long)block);
  if (s->n != ds_num_samples(r, block))
    return nn_fail(NN_ERR_ARG, "%s split '%s': the sampler covers %lld samples, the split has %lld", m->id, m->split,
                   (long long)s->n, (long long)ds_num_samples(r, block));
  if (s->drop_last && s->per_rank < batch)
    return nn_fail(NN_ERR_ARG, "%s split '%s': batch %lld is larger than the %lld samples per rank (drop_last)", m->id,
                   m->split, (long long)batch, (long long)s->per_rank);
  if (s->per_rank < 1)
    return nn_fail(NN_ERR_ARG, "%s split '%s': no samples for rank %d of %d", m->id, m->split, s->rank, s->nranks);
  struct ds_loader *L = calloc(1, sizeof *L);
  if (!L) return nn_fail(NN_ERR_OOM, "ds_loader_start: out of memory");
  L->r = r;
  L->user = s;
  if (aug) L->aug = *aug;
  L->batch = batch;
  L->block = block;
  L->win = m->kind == DS_TEXT ? block + 1 : m->kind == DS_PAIRS ? (block > 0 ? block : m->max_len) : 0;
  ds_sampler_init(&L->s, s->n, s->rank, s->nranks, s->seed, s->shuffle, s->drop_last);
  L->s.epoch = L->seen_epoch = s->epoch;
  L->s.pos = L->seen_pos = s->pos;
  L->s.start = s->start; /* a resumed epoch (ds_sampler_resume) */
  L->s.per_rank = s->per_rank;
  ds_sampler_set_buckets(&L->s, s->keys, s->unit, s->window); /* length grouping, a resume's old batch */
  L->s.unit_epoch = s->unit_epoch;
  L->s.unit_old = s->unit_old;
  L->s.window_old = s->window_old;
  L->held = -1;
  int ok = 1;
  for (int k = 0; k < DS_NSLOTS && ok; k++) {
    struct ds_batch *b = &L->slot[k].b;
    ok = (b->indices = malloc(sizeof(int64_t) * (size_t)batch)) != NULL;
    if (m->kind == DS_IMAGE)
      ok = ok && (b->pixels = malloc((size_t)(batch * m->c * m->h * m->w))) && (b->labels = malloc(4 * (size_t)batch));
    else if (m->kind == DS_FEATURES)
      ok = ok && (b->features = malloc(sizeof(float) * (size_t)(batch * m->feature_dim))) && (b->labels = malloc(4 * (size_t)batch));
    else if (m->kind == DS_TEXT) ok = ok && (b->tokens = malloc(4 * (size_t)(batch * L->win)));
    else ok = ok && (b->src = malloc(4 * (size_t)(batch * L->win))) && (b->tgt = malloc(4 * (size_t)(batch * L->win)));
  }
  pthread_mutex_init(&L->mu, NULL);
  pthread_cond_init(&L->cv, NULL);
  if (!ok || pthread_create(&L->th, NULL, ds_loader_main, L) != 0) {
    for (int k = 0; k < DS_NSLOTS; k++) ds_slot_free(&L->slot[k]);
    pthread_mutex_destroy(&L->mu);
    pthread_cond_destroy(&L->cv);
    free(L);
    return nn_fail(ok ? NN_ERR_STATE : NN_ERR_OOM, "ds_loader_start: cannot %s",
                   ok ? "start the prefetch thread" : "allocate the batch buffers");
  }
  *out = L;
  return NN_OK;
}

nn_status ds_loader_next(struct ds_loader *L, struct ds_batch **b) {
  *b = NULL;
  if (L->user->epoch < 0 || L->user->pos < 0 || L->user->pos > L->user->per_rank)
    return nn_fail(NN_ERR_ARG, "ds_loader_next: sampler position (epoch %lld, pos %lld) outside [0,%lld]",
                   (long long)L->user->epoch, (long long)L->user->pos, (long long)L->user->per_rank);
  pthread_mutex_lock(&L->mu);
  L->held = -1; /* the previous batch goes back to the ring */
  if (L->user->epoch != L->seen_epoch || L->user->pos != L->seen_pos) { /* the caller moved: restart there */
    L->gen++;
    L->nready = 0;
    L->restart = 1;
    L->restart_epoch = L->user->epoch;
    L->restart_pos = L->user->pos;
    L->restart_start = L->user->start;
    L->restart_per_rank = L->user->per_rank;
  }
  pthread_cond_broadcast(&L->cv);
  while (L->nready == 0 && (L->err == NN_OK || L->restart)) pthread_cond_wait(&L->cv, &L->mu);
  if (L->nready == 0) {
    nn_status e = L->err;
    pthread_mutex_unlock(&L->mu);
    return nn_fail(e, "%s", L->errmsg);
  }
  int k = L->ready[L->head];
  L->head = (L->head + 1) % DS_NSLOTS;
  L->nready--;
  L->held = k;
  if (L->slot[k].epoch != L->user->epoch) ds_sampler_set_epoch(L->user, L->slot[k].epoch); /* start, per_rank */
  L->user->epoch = L->seen_epoch = L->slot[k].epoch;
  L->user->pos = L->seen_pos = L->slot[k].pos;
  pthread_cond_broadcast(&L->cv);
  pthread_mutex_unlock(&L->mu);
  *b = &L->slot[k].b;
  return NN_OK;
}

void ds_loader_stop(struct ds_loader *L) {
  if (!L) return;
  pthread_mutex_lock(&L->mu);
  L->stop = 1;
  pthread_cond_broadcast(&L->cv);
  pthread_mutex_unlock(&L->mu);
  pthread_join(L->th, NULL);
  for (int k = 0; k < DS_NSLOTS; k++) ds_slot_free(&L->slot[k]);
  ds_sampler_free(&L->s);
  pthread_mutex_destroy(&L->mu);
  pthread_cond_destroy(&L->cv);
  free(L);
}

/* ---------------- augmentation ---------------- */

#define DS_RNG_STREAM_AUGMENT 5 /* a Philox stream of its own (nn_rng.h reserves 1-3 and 16+) */

void ds_augment_draw(const struct ds_augment *a, int64_t epoch, int64_t index, int *dy, int *dx, int *flip) {
  uint32_t w[4];
  nn_philox(w, a->seed, (uint32_t)DS_RNG_STREAM_AUGMENT, (uint32_t)epoch, (uint32_t)index, (uint32_t)((uint64_t)index >> 32));
  uint32_t span = 2u * (uint32_t)(a->pad > 0 ? a->pad : 0) + 1u;
  *dy = (int)(w[0] % span);
  *dx = (int)(w[1] % span);
  *flip = a->flip ? (int)(w[2] >> 31) : 0;
}

void ds_augment_images(uint8_t *pixels, int64_t n, int64_t c, int64_t h, int64_t w, const int64_t *idx, int64_t epoch,
                       const struct ds_augment *a) {
  uint8_t *tmp = malloc((size_t)(c * h * w));
  if (!tmp) return; /* cannot happen for sane image sizes; leave the batch unaugmented */
  for (int64_t i = 0; i < n; i++) {
    uint8_t *img = pixels + i * c * h * w;
    int dy, dx, flip;
    ds_augment_draw(a, epoch, idx[i], &dy, &dx, &flip);
    /* out(y, x) = padded(y + dy, x + dx) with padded(y, x) = in(y - pad, x - pad) or 0; then the mirror */
    int64_t oy = dy - a->pad, ox = dx - a->pad;
    memcpy(tmp, img, (size_t)(c * h * w));
    for (int64_t ch = 0; ch < c; ch++)
      for (int64_t y = 0; y < h; y++) {
        uint8_t *row = img + (ch * h + y) * w;
        int64_t sy = y + oy;
        for (int64_t x = 0; x < w; x++) {
          int64_t sx = (flip ? w - 1 - x : x) + ox;
          row[x] = sy >= 0 && sy < h && sx >= 0 && sx < w ? tmp[(ch * h + sy) * w + sx] : 0;
        }
      }
  }
  free(tmp);
}
