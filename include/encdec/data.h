/* encdec: data sets on disk. Included by encdec.h. */
#ifndef ENCDEC_DATA_H
#define ENCDEC_DATA_H

#ifdef __cplusplus
extern "C" {
#endif

/* Image files (.png, .jpg, .jpeg, any case) under a folder, sorted by path
 * so the order never depends on the file system. With class_folders, the
 * images are read from the folder's immediate sub-folders and each file's
 * label is its sub-folder's index in the sorted class list. */
typedef struct ed_file_list {
    int n;
    char **paths;
    int *labels;          /* NULL without class_folders */
    int n_classes;
    char **class_names;   /* NULL without class_folders */
} ed_file_list;

ed_status ed_file_list_images(const char *dir, int class_folders, ed_file_list **out);
void ed_file_list_free(ed_file_list *l);

#ifdef __cplusplus
}
#endif
#endif
