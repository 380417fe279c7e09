/* nn_op: the list of differentiable ops, one line each: X(ENUM, "name"). The enum nn_op and
 * nn_op_name come from this one list. Every op here has a case in the cross-backend
 * gradient-check harness (tests/gradcheck); the suite fails when one is missing. */
#ifndef NN_OP_H
#define NN_OP_H

#define NN_OPS(X)                                                                         \
  /* matmul.c */ X(MATMUL, "matmul") X(LINEAR, "linear")                                  \
  /* binary.c */ X(ADD, "add") X(SUB, "sub") X(MUL, "mul") X(SCALE, "scale")              \
  /* act.c */ X(RELU, "relu") X(GELU_TANH, "gelu_tanh") X(GELU_ERF, "gelu_erf")           \
  X(SILU, "silu") X(SIGMOID, "sigmoid") X(TANH, "tanh")                                   \
  /* softmax.c */ X(SOFTMAX, "softmax")                                                   \
  /* loss.c */ X(CROSS_ENTROPY, "cross_entropy")                                          \
  /* layernorm.c */ X(LAYERNORM, "layernorm")                                             \
  /* embed.c */ X(EMBEDDING, "embedding")                                                 \
  /* dropout.c */ X(DROPOUT, "dropout")                                                   \
  /* conv.c */ X(CONV2D, "conv2d")                                                        \
  /* pool.c */ X(MAXPOOL2D, "maxpool2d") X(AVGPOOL2D, "avgpool2d")                        \
  X(ADAPTIVE_AVGPOOL2D, "adaptive_avgpool2d")                                             \
  /* bnorm.c */ X(BATCHNORM2D, "batchnorm2d")                                             \
  /* shape.c */ X(RESHAPE, "reshape") X(PERMUTE, "permute") X(NARROW, "narrow")           \
  X(CONCAT, "concat")                                                                     \
  /* reduce.c */ X(SUM, "sum") X(MEAN, "mean")                                            \
  /* attn.c */ X(ATTENTION, "attention")                                                  \
  /* rope.c */ X(ROPE, "rope")                                                            \
  /* rnn.c */ X(LSTM_CELL, "lstm_cell") X(GRU_CELL, "gru_cell")                           \
  /* extra ops: append new ones here, one X(...) each, with the file that defines them */

#define NN_OP_ENUM_(e, name) NN_OP_##e,
enum nn_op { NN_OPS(NN_OP_ENUM_) NN_OP_COUNT };
#undef NN_OP_ENUM_

/* Printable name of an op ("matmul"). */
const char *nn_op_name(enum nn_op op);

#endif
