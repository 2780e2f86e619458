/* optim_update.cuh: one element's update of SGD, Adam / AdamW and RMSprop (the math and its
 * order of operations: kernels/optim.cu), written once for the C kernels (csrc/optim.c: a loop
 * over a piece of the parameter on the thread pool) and the CUDA kernels (kernels/optim.cu: a
 * grid-stride loop). Plain C that is also CUDA C++; included inside a generic pass
 * (generic.cuh), so once per dtype with that pass's `real` and NAME().
 *
 * Each optimizer has a struct of its arrays and its hyper-parameters rounded to `real`, made
 * once per call by NAME(<optimizer>_update_of), and NAME(<optimizer>_element)(update, i), the
 * update of element i. A switch is the double's own test (weight_decay != 0, ...), so a weight
 * decay that rounds to 0 in float32 is still applied, as the reference does. Optional state
 * arrays are NULL when their option is off and are then never read. */
#ifdef __CUDACC__
#define OPTIM_FUNCTION static __device__ inline
#else
#define OPTIM_FUNCTION static inline
#endif

/* a * b + c as the reference forms it: for float32 in double (the product is exact), rounded
 * once; for float64 the compiler may fuse it into one rounding (the reference rounds twice:
 * within the 1e-12 contract) */
OPTIM_FUNCTION real NAME(fma_round)(real a, real b, real c) {
    return (real)((accum)a * (accum)b + (accum)c);
}

/* start + weight * (end - start), from the nearer end as torch.lerp does */
OPTIM_FUNCTION real NAME(lerp)(real start, real end, real weight) {
    const real difference = end - start;
    return fabs(weight) < (real)0.5 ? NAME(fma_round)(weight, difference, start)
                                    : NAME(fma_round)(weight - 1, difference, end);
}

struct NAME(sgd_update) {
    real *param, *momentum_buffer;
    const real *grad;
    real decay, keep, mix, step;
    int decay_on, momentum_on, nesterov, maximize, first_step;
};

OPTIM_FUNCTION struct NAME(sgd_update) NAME(sgd_update_of)(
        real *param, const real *grad, real *momentum_buffer, double lr, double momentum,
        double dampening, double weight_decay, int nesterov, int maximize, int first_step) {
    struct NAME(sgd_update) u = {param, momentum_buffer, grad, (real)weight_decay,
                                 (real)momentum, (real)(1 - dampening), (real)-lr,
                                 weight_decay != 0, momentum != 0, nesterov, maximize,
                                 first_step};
    return u;
}

OPTIM_FUNCTION void NAME(sgd_element)(const struct NAME(sgd_update) *u, long long i) {
    real g = u->maximize ? -u->grad[i] : u->grad[i];
    if (u->decay_on) g = NAME(fma_round)(u->param[i], u->decay, g);
    if (u->momentum_on) {
        const real buf = u->first_step ? g
                                       : NAME(fma_round)(g, u->mix, u->momentum_buffer[i] * u->keep);
        u->momentum_buffer[i] = buf;
        g = u->nesterov ? NAME(fma_round)(buf, u->keep, g) : buf;
    }
    u->param[i] = NAME(fma_round)(g, u->step, u->param[i]);
}

struct NAME(adam_update) {
    real *param, *exp_avg, *exp_avg_sq, *max_exp_avg_sq;
    const real *grad;
    real decay, shrink, weight1, keep2, weight2, step_size, correction2, epsilon;
    int decay_on, decoupled_weight_decay, amsgrad, maximize;
};

OPTIM_FUNCTION struct NAME(adam_update) NAME(adam_update_of)(
        real *param, const real *grad, real *exp_avg, real *exp_avg_sq, real *max_exp_avg_sq,
        long long step, double lr, double beta1, double beta2, double eps, double weight_decay,
        int decoupled_weight_decay, int amsgrad, int maximize) {
    struct NAME(adam_update) u = {
        param, exp_avg, exp_avg_sq, max_exp_avg_sq, grad, (real)weight_decay,
        (real)(1 - lr * weight_decay), (real)(1 - beta1), (real)beta2, (real)(1 - beta2),
        (real)-(lr / (1 - pow(beta1, (double)step))), (real)sqrt(1 - pow(beta2, (double)step)),
        (real)eps, weight_decay != 0, decoupled_weight_decay, amsgrad, maximize};
    return u;
}

OPTIM_FUNCTION void NAME(adam_element)(const struct NAME(adam_update) *u, long long i) {
    real g = u->maximize ? -u->grad[i] : u->grad[i];
    real p = u->param[i];
    if (u->decay_on) {
        if (u->decoupled_weight_decay) p *= u->shrink;
        else g = NAME(fma_round)(p, u->decay, g);
    }
    const real m = NAME(lerp)(u->exp_avg[i], g, u->weight1);
    const real v = NAME(fma_round)(u->weight2 * g, g, u->exp_avg_sq[i] * u->keep2);
    u->exp_avg[i] = m;
    u->exp_avg_sq[i] = v;
    real second_moment = v;
    if (u->amsgrad) {
        const real v_max = u->max_exp_avg_sq[i];
        second_moment = (v_max > v || isnan(v_max)) ? v_max : v;  /* np.maximum */
        u->max_exp_avg_sq[i] = second_moment;
    }
    const real denom = sqrt(second_moment) / u->correction2 + u->epsilon;
    u->param[i] = p + u->step_size * m / denom;
}

struct NAME(rmsprop_update) {
    real *param, *square_avg, *grad_avg, *momentum_buffer;
    const real *grad;
    real decay, keep, weight, epsilon, keep_momentum, step;
    int decay_on, momentum_on, centered, maximize;
};

OPTIM_FUNCTION struct NAME(rmsprop_update) NAME(rmsprop_update_of)(
        real *param, const real *grad, real *square_avg, real *grad_avg, real *momentum_buffer,
        double lr, double alpha, double eps, double weight_decay, double momentum, int centered,
        int maximize) {
    struct NAME(rmsprop_update) u = {
        param, square_avg, grad_avg, momentum_buffer, grad, (real)weight_decay, (real)alpha,
        (real)(1 - alpha), (real)eps, (real)momentum, (real)-lr, weight_decay != 0,
        momentum > 0, centered, maximize};
    return u;
}

OPTIM_FUNCTION void NAME(rmsprop_element)(const struct NAME(rmsprop_update) *u, long long i) {
    real g = u->maximize ? -u->grad[i] : u->grad[i];
    if (u->decay_on) g = NAME(fma_round)(u->param[i], u->decay, g);
    const real s = NAME(fma_round)(u->weight * g, g, u->square_avg[i] * u->keep);
    u->square_avg[i] = s;
    real denom;
    if (u->centered) {
        const real a = NAME(lerp)(u->grad_avg[i], g, u->weight);
        u->grad_avg[i] = a;
        denom = sqrt(NAME(fma_round)(-a, a, s));
    } else {
        denom = sqrt(s);
    }
    denom += u->epsilon;
    if (u->momentum_on) {
        const real buf = u->momentum_buffer[i] * u->keep_momentum + g / denom;
        u->momentum_buffer[i] = buf;
        u->param[i] = NAME(fma_round)(buf, u->step, u->param[i]);
    } else {
        u->param[i] = u->param[i] + u->step * g / denom;
    }
}

#undef OPTIM_FUNCTION
