/* encdec <verb> [options]: dispatch to one file per verb. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

typedef struct { const char *name; int (*run)(int, char **); const char *summary; } verb;

static const verb verbs[] = {
    { "demo", cmd_demo, "train the denoising auto-encoder on Rock Paper Scissors and show the result" },
    { "train", cmd_train, "train a model (--task denoise|sr)" },
    { "eval", cmd_eval, "evaluate a model (denoise, sr) or saved predictions (semseg, images, coco)" },
    { "enhance", cmd_enhance, "denoise or super-resolve an image with a checkpoint (any size, tiled)" },
    { "info", cmd_info, "describe a checkpoint" },
    { "data", cmd_data, "fetch or summarise a data set" },
    { "crf", cmd_crf, "refine a segmentation with a dense CRF (image + probabilities or labels)" },
    { "bench", cmd_bench, "time an op or a model step (ms, images/s, GFLOP/s, % of peak)" },
};

static void usage(FILE *f)
{
    fprintf(f, "usage: encdec <verb> [options]   (encdec <verb> --help for its options)\n\nverbs:\n");
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++) fprintf(f, "  %-9s %s\n", verbs[i].name, verbs[i].summary);
    fprintf(f, "\nencdec %s. Threads: --threads N or ED_NUM_THREADS.\n", ED_VERSION);
}

int main(int argc, char **argv)
{
    if (argc < 2) { usage(stderr); return CLI_EXIT_USAGE; }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) { usage(stdout); return 0; }
    if (!strcmp(argv[1], "--version")) { printf("encdec %s\n", ED_VERSION); return 0; }
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
        if (!strcmp(argv[1], verbs[i].name)) return verbs[i].run(argc - 1, argv + 1);
    fprintf(stderr, "encdec: error: unknown verb '%s'\n", argv[1]);
    usage(stderr);
    return CLI_EXIT_USAGE;
}
