/* A small .npy reader for the command line (numpy's format, versions 1, 2
 * and 3): little-endian float32 ('<f4') arrays in C order only, which is
 * what np.save writes for a float32 array. Everything else is refused with a
 * message saying what the file holds and how to save it instead. */
#ifndef ED_CLI_NPY_H
#define ED_CLI_NPY_H

#include "encdec.h"

#include <stddef.h>

#define NPY_MAX_DIMS 8

/* Reads path into a new F32 tensor of the file's shape. On failure returns
 * -1 with a message (naming the file) in err; 0 on success. */
int npy_load_f32(const char *path, ed_tensor **out, char *err, size_t errn);

/* The same from bytes in memory (name is used in messages). */
int npy_parse_f32(const unsigned char *buf, size_t len, const char *name, ed_tensor **out, char *err, size_t errn);

#endif
