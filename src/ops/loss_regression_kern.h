/* Typed loops for loss_regression.c (see typed.h). Element i of input x
 * and target t; d = x - t. Computed in double. */

/* v[i] = the unreduced loss of element i. */
static void K(reg_fwd)(const reg_par *p, const T *x, const T *t, const T *w, const T *pw, double *v, int64_t n)
{
    ED_PARALLEL_FOR_IF(n > 32768)
    for (int64_t i = 0; i < n; i++) {
        double xi = x[i], ti = t[i], d = xi - ti, l;
        switch (p->op) {
        case REG_MSE: l = d * d; break;
        case REG_L1: l = fabs(d); break;
        case REG_SMOOTH_L1: {
            double z = fabs(d);
            l = z < p->beta ? 0.5 * z * z / p->beta : z - 0.5 * p->beta;
            break;
        }
        default: {   /* REG_BCE: (1 - t) x - (1 + (pw - 1) t) log sigmoid(x) */
            double lw = pw ? 1 + ((double)pw[bc_off(p, p->ps, i)] - 1) * ti : 1.0;
            l = (1 - ti) * xi - lw * log_sigmoid(xi);
            if (w) l *= (double)w[bc_off(p, p->ws, i)];
            break;
        }
        }
        v[i] = l;
    }
}

/* gx += g_i dloss/dx, gt += g_i dloss/dt (either may be NULL), with
 * g_i = gy[i] for reduction none, else gs. */
static void K(reg_bwd)(const reg_par *p, const T *x, const T *t, const T *w, const T *pw, const T *gy, double gs,
                       T *gx, T *gt, int64_t n)
{
    ED_PARALLEL_FOR_IF(n > 32768)
    for (int64_t i = 0; i < n; i++) {
        double g = gy ? (double)gy[i] : gs;
        double xi = x[i], ti = t[i], d = xi - ti, dx, dt;
        switch (p->op) {
        case REG_MSE: dx = 2 * d; dt = -dx; break;
        case REG_L1: dx = d > 0 ? 1.0 : d < 0 ? -1.0 : 0.0; dt = -dx; break;   /* sign(0) = 0, as torch */
        case REG_SMOOTH_L1:
            dx = fabs(d) < p->beta ? d / p->beta : d > 0 ? 1.0 : d < 0 ? -1.0 : 0.0;
            dt = -dx;
            break;
        default: {   /* REG_BCE */
            double pwi = pw ? (double)pw[bc_off(p, p->ps, i)] : 1.0;
            double lw = 1 + (pwi - 1) * ti;
            dx = (1 - ti) - lw * (1 / (1 + exp(xi)));                    /* 1 - sigmoid(x) = sigmoid(-x) */
            dt = pw ? log_sigmoid(-xi) - pwi * log_sigmoid(xi) : -xi;
            if (w) {
                double wi = w[bc_off(p, p->ws, i)];
                dx *= wi;
                dt *= wi;
            }
            break;
        }
        }
        if (gx) gx[i] += (T)(g * dx);
        if (gt) gt[i] += (T)(g * dt);
    }
}
