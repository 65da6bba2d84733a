/* encdec info CHECKPOINT: architecture, task, configuration, parameters and
 * training metadata of a checkpoint, or a plain tensor listing for any other
 * safetensors file. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

int cmd_info(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        printf("usage: encdec info FILE.safetensors\n\nDescribes a checkpoint: architecture, configuration, tensors, metadata.\n");
        return 0;
    }
    if (argc != 2) return cli_usage("info", "expected one checkpoint file");
    ed_safetensors *f;
    if (ed_safetensors_load(argv[1], &f) != ED_OK) return cli_lib_error(NULL);
    const char *arch = ed_safetensors_meta(f, "encdec.arch");
    printf("file: %s\n", argv[1]);
    if (arch) {
        printf("architecture: %s\ntask: %s\nconfig: %s\n", arch, ed_safetensors_meta(f, "encdec.task") ? ed_safetensors_meta(f, "encdec.task") : "?",
               ed_safetensors_meta(f, "encdec.config") ? ed_safetensors_meta(f, "encdec.config") : "{}");
    }
    int64_t total = 0;
    printf("tensors: %d\n", ed_safetensors_count(f));
    for (int i = 0; i < ed_safetensors_count(f); i++) {
        const char *name = ed_safetensors_name(f, i);
        ed_tensor *t = ed_safetensors_get(f, name);
        printf("  %-32s %-8s (", name, ed_dtype_name(ed_tensor_dtype(t)));
        for (int d = 0; d < ed_tensor_ndim(t); d++) printf(d ? ", %lld" : "%lld", (long long)ed_tensor_shape(t)[d]);
        printf(")\n");
        total += ed_tensor_numel(t);
    }
    printf("elements: %lld\n", (long long)total);
    for (int i = 0; i < ed_safetensors_meta_count(f); i++) {
        const char *k = ed_safetensors_meta_key(f, i);
        if (strcmp(k, "encdec.arch") && strcmp(k, "encdec.config") && strcmp(k, "encdec.task"))
            printf("%s: %s\n", k, ed_safetensors_meta(f, k));
    }
    ed_safetensors_free(f);
    return 0;
}
