/* ed_sample_augment: the loader's ready sample hook. One draw of
 * ed_augment_apply (augment.c) moves the image and the label or instance id
 * map together; instance masks and boxes are then rebuilt from the moved id
 * map, so they stay exact (no box arithmetic), and any value the transform
 * brought in (padding) that was not an id before becomes background. */
#include "data/dataset_internal.h"

#include <stdlib.h>

ed_status ed_sample_augment(ed_sample *s, const void *params, ed_rng *rng)
{
    const ed_augment_params *p = params;
    if (!s || !s->image || !p || !rng) return ed__err(ED_E_ARG, "sample_augment: sample, image, params or rng is NULL");
    const bool inst = s->ids != NULL;
    if (s->labels && !inst && p->pad_if_needed && p->crop_h > 0 && p->label_pad_value != s->ignore_index)
        return ed__err(ED_E_ARG,
                       "sample_augment: %s: padding labels with label_pad_value %lld, which is not the data set's "
                       "ignore value %lld, would make false labels; set label_pad_value = %lld",
                       s->path ? s->path : "sample", (long long)p->label_pad_value, (long long)s->ignore_index,
                       (long long)s->ignore_index);
    ed_augment_result r;
    const ed_tensor *labels[1] = { s->labels };
    ed_arena_begin(NULL);      /* the sample's tensors stay on the heap */
    ed_status st = ed_augment_apply(p, rng, s->image, s->labels ? labels : NULL, s->labels ? 1 : 0, NULL, 0, &r);
    ed_arena_end();
    if (st != ED_OK) return st;
    ed_tensor_free(s->image);
    s->image = r.image;
    r.image = NULL;
    if (s->labels) {
        ed_tensor_free(s->labels);
        s->labels = r.labels[0];
        r.labels[0] = NULL;
    }
    ed_augment_result_free(&r);
    if (!inst) return ED_OK;
    /* Keep the ids the sample had; none at all: keep only 0 (background). */
    const int64_t K = s->ids->numel, zero = 0;
    int64_t *keep = K ? malloc((size_t)K * sizeof *keep) : NULL;
    if (K && !keep) return ed__err(ED_E_NOMEM, "sample_augment: out of memory");
    if (K) memcpy(keep, ed_tensor_cdata(s->ids), (size_t)K * sizeof *keep);
    ed_arena_begin(NULL);
    st = ed_sample_instances_from_ids(s, K ? keep : &zero, K ? (int)K : 1);
    ed_arena_end();
    free(keep);
    return st;
}
