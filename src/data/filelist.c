/* Listing image files of a data set folder in a fixed (sorted) order. */
#include "core/ed_internal.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/stat.h>

static bool is_image_name(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && (!strcasecmp(dot, ".png") || !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg"));
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

typedef struct { char **v; int n, cap; } strvec;

static ed_status push(strvec *s, const char *str)
{
    if (s->n == s->cap) {
        int cap = s->cap ? s->cap * 2 : 64;
        char **nv = realloc(s->v, (size_t)cap * sizeof *nv);
        if (!nv) return ed__err(ED_E_NOMEM, "file list: out of memory");
        s->v = nv;
        s->cap = cap;
    }
    if (!(s->v[s->n] = strdup(str))) return ed__err(ED_E_NOMEM, "file list: out of memory");
    s->n++;
    return ED_OK;
}

static void strvec_free(strvec *s)
{
    for (int i = 0; i < s->n; i++) free(s->v[i]);
    free(s->v);
}

/* Entries of dir (files if want_dirs is false, else sub-folders), sorted. */
static ed_status list_dir(const char *dir, bool want_dirs, strvec *out)
{
    DIR *d = opendir(dir);
    if (!d) return ed__err(ED_E_IO, "cannot open folder %s: %s", dir, strerror(errno));
    struct dirent *e;
    ed_status st = ED_OK;
    char path[4096];
    while (st == ED_OK && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (stat(path, &sb) != 0) continue;
        if (want_dirs ? S_ISDIR(sb.st_mode) : (S_ISREG(sb.st_mode) && is_image_name(e->d_name)))
            st = push(out, want_dirs ? e->d_name : path);
    }
    closedir(d);
    if (st == ED_OK && out->n > 1) qsort(out->v, (size_t)out->n, sizeof *out->v, cmp_str);
    return st;
}

void ed_file_list_free(ed_file_list *l)
{
    if (!l) return;
    for (int i = 0; i < l->n; i++) free(l->paths[i]);
    for (int i = 0; i < l->n_classes; i++) free(l->class_names[i]);
    free(l->paths);
    free(l->labels);
    free(l->class_names);
    free(l);
}

ed_status ed_file_list_images(const char *dir, int class_folders, ed_file_list **out)
{
    if (!dir || !out) return ed__err(ED_E_ARG, "file list: NULL argument");
    *out = NULL;
    ed_file_list *l = calloc(1, sizeof *l);
    if (!l) return ed__err(ED_E_NOMEM, "file list: out of memory");
    strvec files = { 0 }, classes = { 0 };
    ed_status st = ED_OK;
    int *labels = NULL;
    if (!class_folders) {
        st = list_dir(dir, false, &files);
    } else {
        st = list_dir(dir, true, &classes);
        if (st == ED_OK && classes.n == 0) st = ed__err(ED_E_IO, "%s has no class sub-folders", dir);
        for (int c = 0; st == ED_OK && c < classes.n; c++) {
            char sub[4096];
            snprintf(sub, sizeof sub, "%s/%s", dir, classes.v[c]);
            int before = files.n;
            st = list_dir(sub, false, &files);
            if (st == ED_OK) {
                int *nl = realloc(labels, (size_t)(files.n > 0 ? files.n : 1) * sizeof *nl);
                if (!nl) { st = ed__err(ED_E_NOMEM, "file list: out of memory"); break; }
                labels = nl;
                for (int i = before; i < files.n; i++) labels[i] = c;
            }
        }
    }
    if (st == ED_OK && files.n == 0) st = ed__err(ED_E_IO, "no image files (.png, .jpg) in %s", dir);
    if (st != ED_OK) {
        strvec_free(&files);
        strvec_free(&classes);
        free(labels);
        free(l);
        return st;
    }
    l->n = files.n;
    l->paths = files.v;
    l->labels = labels;
    l->n_classes = classes.n;
    l->class_names = classes.v;
    *out = l;
    return ED_OK;
}
