/* `encdec demo`, second part: the shipped models of models/ on a Set12 and a
 * Set5 image (demo_shipped.c). */
#ifndef ED_CLI_DEMO_SHIPPED_H
#define ED_CLI_DEMO_SHIPPED_H

#include "cli.h"

/* data_root: the data folder (NULL: none); pictures go to out_dir.
 * Returns a CLI exit status; missing models or data are skipped. */
int demo_shipped(const char *data_root, const char *out_dir);

#endif
