/* translate: `attn_train translate` — translate sentences with a seq2seq checkpoint or export
 * (greedy or beam search through the model's decoding state). */
#ifndef TRANSLATE_H
#define TRANSLATE_H
#include "comm.h"
#include "task.h"

/* A seq2seq model ready to translate (also attn_train attention's translator path): its task model and
 * the vocabularies in the direction it translates (--reverse swaps them). */
struct translator {
  struct task_model tm;
  const char *const *src_vocab, *const *tgt_vocab;
  int64_t nsrc, ntgt, L, V; /* vocabulary sizes, the dataset's max_len, the output vocabulary */
};
/* T for tm (a seq2seq model: tm->self starts with struct task_s2s_model; tm->meta holds the pairs'
 * vocabularies; T borrows them). */
void translate_setup(struct translator *T, const struct task_model *tm);
/* The most target tokens a translation may have (EOS included): min(L, 63). */
static inline int64_t translate_max_len(const struct translator *T) { return T->L < 63 ? T->L : 63; }
/* ids[0..*n) (room for 64) = the words of sentence text, normalised as `attn_data convert pairs` does
 * (+ EOS); unknown words become <unk> with a note on stderr; messages name `line` (0: --text). */
nn_status translate_encode(const struct translator *T, const char *text, int64_t line, int32_t *ids, int64_t *n);
/* The translation out[0..return) (EOS not written; room for translate_max_len) of source ids src[0..ns):
 * greedy (beam 1) or a beam of `beam` hypotheses; -1 on error (nn_errmsg). Resets T->tm.g. */
int64_t translate_ids(const struct translator *T, const int32_t *src, int64_t ns, int64_t beam, int32_t *out);

/* Run the translate subcommand with argv[first..argc); translations on stdout, one per line. */
nn_status translate_main(struct comm *c, int argc, char **argv, int first);

#endif
