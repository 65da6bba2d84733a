/* encdec: parameters, initialisers, optimizers and schedules. Included by encdec.h. */
#ifndef ENCDEC_NN_H
#define ENCDEC_NN_H

#ifdef __cplusplus
extern "C" {
#endif

/* ---- parameters ----------------------------------------------------------
 * A model's persistent tensors with PyTorch state_dict names
 * ("encoder.0.weight"). Trainable ones require grad. After ed_params_pack()
 * all trainable data sits in one block, their gradients in a second block of
 * the same layout and the optimizer's moments in more such blocks, so an
 * optimizer step is one loop. Buffers (running_mean) are not trainable. */
typedef struct ed_params ed_params;

ed_status ed_params_new(ed_params **out);
void ed_params_free(ed_params *p);
/* Adds a zero-filled f32 tensor; *out is borrowed (owned by p). */
ed_status ed_params_add(ed_params *p, const char *name, int ndim, const int64_t *shape,
                        int trainable, ed_tensor **out);
ed_status ed_params_pack(ed_params *p);
int ed_params_count(const ed_params *p);
const char *ed_params_name(const ed_params *p, int i);
ed_tensor *ed_params_tensor(const ed_params *p, int i);
int ed_params_trainable(const ed_params *p, int i);
ed_tensor *ed_params_find(const ed_params *p, const char *name);
int64_t ed_params_numel(const ed_params *p, int trainable_only);
/* Drop (zero) every gradient. */
void ed_params_zero_grad(ed_params *p);
/* Total 2-norm of all gradients; if max_norm > 0 scales them to at most
 * max_norm as torch.nn.utils.clip_grad_norm_ (coef = max_norm/(norm+1e-6)). */
ed_status ed_clip_grad_norm(ed_params *p, double max_norm, double *total_norm);

/* ---- initialisers (seeded through rng) ---------------------------------- */
typedef enum ed_nonlinearity { ED_NL_LINEAR = 0, ED_NL_RELU, ED_NL_LEAKY_RELU, ED_NL_TANH, ED_NL_SIGMOID } ed_nonlinearity;
typedef enum ed_fan_mode { ED_FAN_IN = 0, ED_FAN_OUT } ed_fan_mode;
/* fan_in/fan_out as torch.nn.init._calculate_fan_in_and_fan_out on t's shape. */
ed_status ed_init_fans(const ed_tensor *t, int64_t *fan_in, int64_t *fan_out);
ed_status ed_init_uniform(ed_tensor *t, double lo, double hi, ed_rng *rng);
ed_status ed_init_normal(ed_tensor *t, double mean, double std, ed_rng *rng);
ed_status ed_init_constant(ed_tensor *t, double v);
ed_status ed_init_kaiming_uniform(ed_tensor *t, double a, ed_fan_mode mode, ed_nonlinearity nl, ed_rng *rng);
ed_status ed_init_kaiming_normal(ed_tensor *t, double a, ed_fan_mode mode, ed_nonlinearity nl, ed_rng *rng);
ed_status ed_init_xavier_uniform(ed_tensor *t, double gain, ed_rng *rng);
ed_status ed_init_xavier_normal(ed_tensor *t, double gain, ed_rng *rng);
/* PyTorch's default for Conv2d/ConvTranspose2d/Linear: weight kaiming_uniform
 * with a = sqrt(5), bias uniform(+-1/sqrt(fan_in)) (bias may be NULL). */
ed_status ed_init_torch_default(ed_tensor *weight, ed_tensor *bias, ed_rng *rng);

/* ---- optimizers ---------------------------------------------------------- */
typedef enum ed_optim_kind { ED_OPTIM_SGD = 0, ED_OPTIM_ADAM, ED_OPTIM_ADAMW } ed_optim_kind;
typedef struct ed_optim_args {
    ed_optim_kind kind;
    double lr;                 /* SGD 0.01 (torch requires one), Adam 1e-3 */
    double momentum, dampening; int nesterov;   /* SGD */
    double beta1, beta2, eps;  /* Adam(W): 0.9, 0.999, 1e-8 */
    double weight_decay;       /* SGD/Adam: L2 in the gradient; AdamW: decoupled (default 1e-2) */
} ed_optim_args;
void ed_optim_args_default(ed_optim_args *a, ed_optim_kind kind);

typedef struct ed_optim ed_optim;
/* p must be packed. */
ed_status ed_optim_new(ed_params *p, const ed_optim_args *a, ed_optim **out);
void ed_optim_free(ed_optim *o);
/* One update, equal to torch.optim's step (parameters whose grad was never
 * set are skipped, as torch skips p.grad is None). */
ed_status ed_optim_step(ed_optim *o);
void ed_optim_set_lr(ed_optim *o, double lr);
double ed_optim_get_lr(const ed_optim *o);
int64_t ed_optim_steps(const ed_optim *o);

/* ---- learning-rate schedules ---------------------------------------------
 * lr at step t (0-based, the value torch's scheduler gives after t calls to
 * scheduler.step()). Warm-up multiplies by a linear ramp from
 * warmup_start_factor to 1 over warmup_steps, as LinearLR. */
typedef enum ed_sched_kind { ED_SCHED_CONSTANT = 0, ED_SCHED_STEP, ED_SCHED_MULTISTEP,
                             ED_SCHED_POLY, ED_SCHED_COSINE } ed_sched_kind;
typedef struct ed_schedule {
    ed_sched_kind kind;
    double base_lr;
    int64_t step_size; double gamma;          /* STEP, MULTISTEP */
    int64_t milestones[16]; int n_milestones; /* MULTISTEP */
    int64_t total_steps; double power;        /* POLY (power 0.9), COSINE (T_max) */
    double eta_min;                           /* COSINE */
    int64_t warmup_steps; double warmup_start_factor;
} ed_schedule;
double ed_schedule_lr(const ed_schedule *s, int64_t step);

#ifdef __cplusplus
}
#endif
#endif
