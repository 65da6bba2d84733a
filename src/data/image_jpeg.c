/* JPEG through libjpeg-turbo: decoding from memory.
 *
 * libjpeg's error_exit must not return; ours formats the message and
 * longjmps back to the entry function, which destroys the decoder, frees the
 * image and returns ED_E_FORMAT. Messages are never printed. The warning
 * "Premature end of JPEG file" (libjpeg pads the rest with gray and goes on)
 * is turned into an error after decoding, so a truncated file fails; other
 * recoverable corruption warnings are tolerated, as PIL does.
 *
 * Gray files give 1 channel, YCbCr and RGB files 3 (RGB), with libjpeg's
 * defaults (islow IDCT, fancy upsampling), the settings PIL uses, so the
 * pixels equal PIL's for the same libjpeg-turbo IDCT. CMYK and YCCK files
 * are ED_E_UNSUPPORTED. */
#include "data/image_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <setjmp.h>
#include <jpeglib.h>
#include <jerror.h>

typedef struct jpeg_ctx {
    struct jpeg_error_mgr pub;   /* first: libjpeg hands back a pointer to it */
    jmp_buf jb;
    char msg[JMSG_LENGTH_MAX];
    int truncated;
    ed_image *img;               /* freed on error */
} jpeg_ctx;

static void on_error_exit(j_common_ptr ci)
{
    jpeg_ctx *c = (jpeg_ctx *)ci->err;
    (*ci->err->format_message)(ci, c->msg);
    longjmp(c->jb, 1);
}

static void on_emit(j_common_ptr ci, int level)
{
    jpeg_ctx *c = (jpeg_ctx *)ci->err;
    if (level < 0 && ci->err->msg_code == JWRN_JPEG_EOF) c->truncated = 1;
    if (level < 0) ci->err->num_warnings++;
}

static void on_output(j_common_ptr ci) { (void)ci; }

static ed_status read_jpeg(jpeg_ctx *c, struct jpeg_decompress_struct *ci, const uint8_t *buf, size_t len,
                           const char *name)
{
    jpeg_mem_src(ci, buf, (unsigned long)len);
    jpeg_read_header(ci, TRUE);
    if (ci->jpeg_color_space == JCS_CMYK || ci->jpeg_color_space == JCS_YCCK)
        return ed__err(ED_E_UNSUPPORTED, "image_load: %s: CMYK JPEG is not supported", name);
    ED_TRY(ed__image_check_dims(ci->image_width, ci->image_height, name));
    ci->out_color_space = ci->num_components == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_start_decompress(ci);
    int ch = ci->output_components;
    if ((ch != 1 && ch != 3) || ci->output_width != ci->image_width || ci->output_height != ci->image_height)
        return ed__err(ED_E_FORMAT, "image_load: %s: unexpected JPEG output (%d components)", name, ch);
    ED_TRY(ed__image_alloc((int)ci->output_width, (int)ci->output_height, ch, 8, 0, &c->img));
    size_t stride = (size_t)ci->output_width * ch;
    while (ci->output_scanline < ci->output_height) {
        JSAMPROW row = (uint8_t *)c->img->data + (size_t)ci->output_scanline * stride;
        jpeg_read_scanlines(ci, &row, 1);
    }
    jpeg_finish_decompress(ci);
    if (c->truncated) return ed__err(ED_E_FORMAT, "image_load: %s: bad JPEG: file is truncated", name);
    return ED_OK;
}

ed_status ed__jpeg_decode(const uint8_t *buf, size_t len, const char *name, ed_image **out)
{
    struct jpeg_decompress_struct ci;
    jpeg_ctx c;
    memset(&c, 0, sizeof c);
    ci.err = jpeg_std_error(&c.pub);
    c.pub.error_exit = on_error_exit;
    c.pub.emit_message = on_emit;
    c.pub.output_message = on_output;
    if (setjmp(c.jb)) {
        jpeg_destroy_decompress(&ci);
        ed_image_free(c.img);
        return ed__err(ED_E_FORMAT, "image_load: %s: bad JPEG: %s", name, c.msg);
    }
    jpeg_create_decompress(&ci);
    ed_status s = read_jpeg(&c, &ci, buf, len, name);
    jpeg_destroy_decompress(&ci);
    if (s != ED_OK) {
        ed_image_free(c.img);
        return s;
    }
    *out = c.img;
    return ED_OK;
}
