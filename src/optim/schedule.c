/* Learning-rate schedules in closed form: the lr torch's scheduler gives
 * after `step` calls to scheduler.step() (step 0 = the initial lr).
 *
 *   CONSTANT   base_lr
 *   STEP       base_lr * gamma^floor(t / step_size)                  (StepLR)
 *   MULTISTEP  base_lr * gamma^(number of milestones <= t)            (MultiStepLR;
 *              a repeated milestone counts twice, as torch's Counter)
 *   POLY       base_lr * (1 - min(t, total_steps) / total_steps)^power (PolynomialLR)
 *   COSINE     eta_min + (base_lr - eta_min) * (1 + cos(pi t / total_steps)) / 2
 *              (CosineAnnealingLR, T_max = total_steps; not clamped at T_max,
 *              so like torch's it rises again after T_max)
 * Warm-up (warmup_steps > 0) multiplies by LinearLR's factor
 *   start + (1 - start) * min(t, warmup_steps) / warmup_steps,
 * as ChainedScheduler([LinearLR, main]) does (exactly so for the
 * multiplicative schedules and for COSINE with eta_min = 0; torch's recursive
 * cosine drifts from any closed form when chained with eta_min != 0).
 *
 * Invalid settings (step_size < 1, total_steps < 1 for POLY and COSINE,
 * n_milestones outside 0..16, a negative step, an unknown kind) give NaN, so
 * a bad schedule cannot train silently with a made-up rate. */
#include "core/ed_internal.h"

#include <math.h>

double ed_schedule_lr(const ed_schedule *s, int64_t t)
{
    if (!s || t < 0) return NAN;
    double lr;
    switch (s->kind) {
    case ED_SCHED_CONSTANT:
        lr = s->base_lr;
        break;
    case ED_SCHED_STEP:
        if (s->step_size < 1) return NAN;
        lr = s->base_lr * pow(s->gamma, (double)(t / s->step_size));
        break;
    case ED_SCHED_MULTISTEP: {
        if (s->n_milestones < 0 || s->n_milestones > 16) return NAN;
        int k = 0;
        for (int i = 0; i < s->n_milestones; i++) k += s->milestones[i] <= t;
        lr = s->base_lr * pow(s->gamma, (double)k);
        break;
    }
    case ED_SCHED_POLY: {
        if (s->total_steps < 1) return NAN;
        double f = 1.0 - (double)(t < s->total_steps ? t : s->total_steps) / (double)s->total_steps;
        lr = s->base_lr * pow(f, s->power);
        break;
    }
    case ED_SCHED_COSINE:
        if (s->total_steps < 1) return NAN;
        lr = s->eta_min + (s->base_lr - s->eta_min) * (1.0 + cos(M_PI * (double)t / (double)s->total_steps)) / 2.0;
        break;
    default:
        return NAN;
    }
    if (s->warmup_steps > 0) {
        double f0 = s->warmup_start_factor;
        double r = (double)(t < s->warmup_steps ? t : s->warmup_steps) / (double)s->warmup_steps;
        lr *= f0 + (1.0 - f0) * r;
    }
    return lr;
}
