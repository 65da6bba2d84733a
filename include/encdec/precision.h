/* Numeric precision of convolutions (a process-wide library setting).
 *
 *   ED_PRECISION_F32  (default) float32 tensors are convolved in float32.
 *   ED_PRECISION_BF16 float32 conv2d / conv_transpose2d, forward and
 *       backward, multiply in bfloat16 where a fast kernel exists (the
 *       oneDNN backend: AMX-BF16 where the CPU has it, AVX512-BF16
 *       otherwise): inputs, weights and output gradients are rounded to
 *       bf16 inside the kernel, products are summed in float32, and outputs
 *       and weight/bias gradients are float32. Tensors, parameters (the
 *       "master weights") and every other op stay float32. Results differ
 *       from float32 by about 1e-2 of the tensor's scale.
 *       Where no such kernel exists (a build without oneDNN, float64
 *       tensors, a configuration the backend declines) the float32
 *       reference runs: the setting is a request, never an error.
 * Read by each call; changing it between calls is allowed (not while
 * another thread is inside a convolution). */
#ifndef ENCDEC_PRECISION_H
#define ENCDEC_PRECISION_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ed_precision { ED_PRECISION_F32 = 0, ED_PRECISION_BF16 = 1 } ed_precision;

/* ED_E_ARG for any other value. */
ed_status ed_set_conv_precision(ed_precision p);
ed_precision ed_get_conv_precision(void);

/* Convolution algorithm for float32 (a process-wide setting, read by each
 * call like the precision).
 *
 *   ED_CONV_ALGO_DIRECT   (default) direct convolution: results match
 *       PyTorch's to float rounding.
 *   ED_CONV_ALGO_WINOGRAD 3x3, stride-1, undilated, ungrouped float32
 *       convolutions, forward and backward (training, evaluation,
 *       prediction), use Winograd's F(4x4, 3x3) algorithm where the backend
 *       has it (oneDNN with AVX-512): about 2x faster convolutions, and
 *       results that differ from direct ones by about 1e-6 to 1e-5 of the
 *       output's scale (its transforms round more than direct sums; docs/
 *       PERFORMANCE.md has the measurements). bf16 and every other
 *       convolution stay direct; without such a kernel the setting is a
 *       request, never an error. Under it, U-Net/DnCNN training runs
 *       convolution, BatchNorm and ReLU as separate ops (the fused block
 *       works in a layout Winograd's kernels do not take). */
typedef enum ed_conv_algo { ED_CONV_ALGO_DIRECT = 0, ED_CONV_ALGO_WINOGRAD = 1 } ed_conv_algo;

/* ED_E_ARG for any other value. */
ed_status ed_set_conv_algo(ed_conv_algo a);
ed_conv_algo ed_get_conv_algo(void);

#ifdef __cplusplus
}
#endif

#endif
