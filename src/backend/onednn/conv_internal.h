/* What conv.c shares with the fused conv + BatchNorm + ReLU kernels
 * (conv_bn_relu.c): its cached primitives and the kept input. */
#ifndef ED_BACKEND_ONEDNN_CONV_INTERNAL_H
#define ED_BACKEND_ONEDNN_CONV_INTERNAL_H

#include "backend/onednn/onednn_common.h"
#include "ops/conv_common.h"

enum { CONV_FWD = 1, CONV_BWD_DATA, CONV_BWD_W, DECONV_FWD, DECONV_BWD_DATA, DECONV_BWD_W };

/* The cached entry of one kind for these arguments (built on first use),
 * or NULL when oneDNN cannot run it. Call with odnn_lock held. Entries'
 * args: forward {src, weights, [bias], dst}; backward data {diff_dst,
 * weights, diff_src (+=, or = with p->gx_overwrite)}; backward weights
 * {src, diff_dst, diff_weights (+=), [diff_bias (+=)]}. */
odnn_prim *odnn_conv_entry(int kind, const ed__conv_params *p, const ed_tensor *x, const ed_tensor *w, const int64_t *y,
                           bool bias);
/* Whether an entry of this kind runs Winograd's algorithm: asked for
 * (ed_set_conv_algo), float32, a 3x3 stride-1 undilated ungrouped
 * convolution (forward or backward) in oneDNN's blocked layouts, over
 * enough positions (conv.c's WINO_MIN_PIXELS) to gain; oneDNN may still
 * decline it, and then the entry is direct. */
bool odnn_conv_wino(int kind, const ed__conv_params *p, const ed_tensor *x, const ed_tensor *w);
/* The kept input (conv_common.h's ED_CONV_KEEP): x converted into holder
 * as e's source (returned), or NULL when it cannot be kept; and, for a
 * backward-weights entry e, the kept copy if it is what e takes, else NULL. */
void *odnn_conv_keep_src(ed_tensor *holder, odnn_prim *e, const void *x);
void *odnn_conv_kept_src(const ed_tensor *holder, const odnn_prim *e);
/* A holder filled by someone else: where its copy goes, and (once
 * written) its description, md of the copy. */
void *odnn_conv_keep_data(ed_tensor *holder);
void odnn_conv_keep_set(ed_tensor *holder, const dnnl_memory_desc_t *md);

#endif
