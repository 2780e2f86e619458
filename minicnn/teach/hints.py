"""Hints for each exercise, in three levels: 1 a nudge (what to think about), 2 the method
(how to go about it, the shapes on the way), 3 the derivation (the answer, derived).

    minicnn exercise hint batch_norm --level 2
"""

HINTS = {
    "three_layer_convnet": (
        "Go backward layer by layer, each one an exercise you have done: the loss, two affine "
        "layers with a ReLU between, the max pool, the conv's ReLU, the convolution. Where does "
        "the regulariser enter?",
        "Keep what the forward pass computed (cols, conv, the pooled windows, flat, hidden); "
        "dscores (N, K) -> dW3, db3, dhidden = dscores @ W3.T * [hidden > 0] -> dW2, db2, "
        "dflat -> dpooled -> the 2x2 winners -> dconv = drelu * [conv > 0] -> dW1, db1 as in "
        "conv_im2col; add reg * W to each dW.",
        "dscores = (softmax - onehot) / N; dW3 = relu2.T @ dscores + reg W3; dW2 = flat.T @ "
        "dhidden + reg W2; dflat = dhidden @ W2.T reshaped to (N, F, H/2, W/2); each 2x2 window's "
        "gradient goes to its first maximum; dW1 = dY @ cols.T + reg W1, db1 = row sums of dY "
        "(dY: dconv as (F, N*H*W))."),
    "solver": (
        "A training loop is: for each epoch, shuffle, cut into minibatches, and for each "
        "minibatch compute the loss and gradients and update every parameter. What must be "
        "copied so that nothing changes behind your back?",
        "rng = np.random.default_rng(seed) once; per epoch order = rng.permutation(N); per "
        "minibatch loss_fn, then v = momentum * v + g and p = p - lr * v for each parameter "
        "(a velocity per parameter, zeros at first). After each epoch, both accuracies; when "
        "the validation accuracy beats the best so far, copy the params.",
        "Work on params = {k: v.copy() ...} so the caller's arrays stay intact; best_params = "
        "{k: v.copy() ...} at the best epoch (a plain reference would follow every later "
        "step). If 50 images do not reach 100% training accuracy, the loop (or the gradient) "
        "is wrong: a net with more parameters than images can always memorise them."),
    "gradient_check": (
        "A derivative is the limit of a difference quotient. Which difference quotient is "
        "accurate to O(h^2) rather than O(h)?",
        "For each element i of x (np.ndindex(*x.shape)): set x[i] to old + h, evaluate, set it "
        "to old - h, evaluate, put old back, divide the difference by 2h. For an array-valued f, "
        "weight the change of every output by its upstream gradient df.",
        "Taylor: f(x + h) - f(x - h) = 2 h f'(x) + h^3 f'''(x) / 3 + ..., so (f(x + h) - f(x - h)) "
        "/ 2h = f'(x) + O(h^2), while (f(x + h) - f(x)) / h = f'(x) + O(h). For f with an array "
        "output, d sum(f(x) * df) / dx[i] = sum((f(x + h e_i) - f(x - h e_i)) * df) / 2h."),
    "affine_relu": (
        "out = X @ w + b with X = x reshaped to (N, D). What are the gradients of a matrix "
        "product? And how does max(x, 0) change when x moves a little?",
        "For out = X @ w: dX = dout @ w.T (N, D) and dw = X.T @ dout (D, M), as the shapes "
        "force; db sums dout over the batch; reshape dX back to x's shape. d max(x, 0) / dx is "
        "1 where x > 0 and 0 where x < 0.",
        "dout[n, m] * d out[n, m] / d w[d, m] = dout[n, m] * X[n, d], summed over n: dw = X.T @ "
        "dout; d out[n, m] / d X[n, d] = w[d, m], summed over m: dX = dout @ w.T; db = dout.sum("
        "axis=0). ReLU: dx = dout * (x > 0), the mask from the forward input."),
    "fc_net": (
        "Stack the layers you have written, keep what each forward step computed, and go "
        "backward in reverse order. Where does the regulariser enter?",
        "Forward: per hidden layer affine -> [batch norm] -> ReLU -> [times the dropout mask], "
        "keeping each input; then affine -> softmax cross-entropy. Backward in reverse: dlogits, "
        "the last affine, then per hidden layer the mask, the ReLU, batch norm's backward, the "
        "affine. Add the regulariser's gradient to every dW.",
        "loss = CE + 0.5 reg sum_l |W_l|^2, so dW_l = (data gradient) + reg * W_l; db_l, dgamma_l, "
        "dbeta_l carry no regulariser. The dropout mask multiplies in the forward pass, so it "
        "multiplies dh in the backward pass (dh * mask); batch norm's dx as in batch_norm_1d."),
    "adam_rmsprop": (
        "Both keep per-parameter running averages of (squared) gradients; Adam's start at zero. "
        "What does that do to the first steps?",
        "RMSprop: cache = decay * cache + (1 - decay) dw^2, then step dw / (sqrt(cache) + eps). "
        "Adam: m and v as running averages of dw and dw^2 (beta1, beta2), divided by (1 - "
        "beta^t) before the step.",
        "E[v_t] = (1 - beta2^t) E[g^2] for v_0 = 0, hence v_hat = v_t / (1 - beta2^t) (Kingma and "
        "Ba 2015, section 3); the same for m. new_w = w - lr * m_hat / (sqrt(v_hat) + eps), eps "
        "outside the root as in PyTorch."),
    "batch_norm_1d": (
        "Each of the D features is normalised with its own mean and variance over the N samples "
        "(axis 0). Through which nodes does x reach the output?",
        "Graph: mu = mean(x); xc = x - mu; var = mean(xc^2); std = sqrt(var + eps); xhat = xc / "
        "std; out = gamma xhat + beta. Go back one node at a time: dxhat = dout * gamma, then "
        "dxc from xhat = xc / std (direct) and through std and var, then dx = dxc - mean(dxc) "
        "(the mu node).",
        "Simplified: dx = gamma / std * (dout - mean(dout) - xhat * mean(dout * xhat)) (means "
        "over axis 0): - mean(dout) is the path through mu, - xhat mean(dout xhat) the path "
        "through var. dgamma = sum(dout * xhat), dbeta = sum(dout) over axis 0."),
    "layer_norm": (
        "Layer norm is batch norm turned around: statistics per SAMPLE (over its features), "
        "parameters per FEATURE. Which axis goes where?",
        "The forward math is batch norm's with axis=1 (keepdims=True) for mean and variance; "
        "gamma and beta still broadcast over the rows. In the backward pass the statistics' "
        "terms use means over axis 1; dgamma and dbeta sum over axis 0.",
        "dxhat = dout * gamma; dx = (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)) / std, means "
        "over axis 1 (each row); dgamma = sum over axis 0 of dout * xhat, dbeta = sum over axis "
        "0 of dout."),
    "group_norm": (
        "A group is C // G consecutive channels of one sample. Reshape so that one axis holds "
        "exactly one group's values.",
        "x.reshape(N, G, -1) puts each (sample, group) in a row: normalise each row as layer norm "
        "does, reshape back to (N, C, H, W), then scale and shift per channel. The backward "
        "pass is layer norm's on those rows; dgamma, dbeta sum over N, H, W.",
        "With rows r = (n, g) of M = C/G * H * W values: dxhat = dout * gamma[c]; dx_row = "
        "(dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)) / std_row; dgamma[c] = sum over n, h, "
        "w of dout * xhat; dbeta[c] = sum over n, h, w of dout (Wu and He 2018)."),
    "im2col": (
        "Every column is one window: the values that one output position of the convolution "
        "multiplies with the kernel. How many windows are there, and in what order?",
        "Pad x first. For each kernel tap (i, j), the rows r*stride + i*dilation over r = 0..oh-1 "
        "(a strided slice) give one value per window at once: loop over the kh*kw taps, not over "
        "the windows. Fill an array (C, kh, kw, N, oh, ow), then reshape.",
        "cols[(c*kh + i)*kw + j, (n*oh + r)*ow + q] = xp[n, c, r*stride + i*dilation, "
        "q*stride + j*dilation]. With taps[c, i, j, n, r, q] = xp[n, c, i*d + r*s, j*d + q*s] "
        "(the slice xp[:, :, i*d : i*d + s*(oh-1) + 1 : s, ...] transposed to (C, N, oh, ow)), "
        "cols = taps.reshape(C*kh*kw, N*oh*ow): the row index (c, i, j) varies c slowest and the "
        "column index (n, r, q) n slowest, because reshape reads in C order."),
    "col2im": (
        "col2im is the adjoint of im2col: im2col copies each input pixel into every window that "
        "reads it, so the way back must do what with those copies?",
        "Loop over the kernel taps (i, j) as in im2col, and ADD each tap's (C, N, oh, ow) slab "
        "into the strided slice of a padded zero image that im2col read it from; drop the "
        "padding at the end.",
        "<im2col(x), c> = sum over windows and taps of xp[...] * c[...] = <x, col2im(c)> forces "
        "col2im(c)[n, c, h, w] = the sum of c over every (tap, window) whose read position is "
        "(h, w): xp[:, :, i*d : i*d + s*(oh-1) + 1 : s, j*d : ...] += taps[:, i, j].transpose(1, "
        "0, 2, 3). '=' instead of '+=' loses every window but the last where windows overlap."),
    "conv_forward_naive": (
        "One output value is a dot product between the kernel of filter f and one window of the "
        "padded input. Which window belongs to output (r, q)?",
        "Pad x with np.pad, then loop over n, f, r, q: window = xp[n, :, r*stride : r*stride + kh, "
        "q*stride : q*stride + kw] (C, kh, kw), y[n, f, r, q] = sum(window * w[f]) + b[f].",
        "y[n, f, r, q] = b[f] + sum over c, i, j of w[f, c, i, j] * xp[n, c, r*stride + i, "
        "q*stride + j], oh = (H + 2p - kh) // stride + 1. No kernel flip: deep learning's "
        "'convolution' is a cross-correlation."),
    "conv_backward": (
        "Write the forward sum for one y[n, f, r, q] and ask, for each of b[f], w[f, c, i, j] and "
        "xp[n, c, h, w]: in which terms of which outputs does it appear?",
        "Chain rule: dL/dtheta = sum over every output y of dout[y] * dy/dtheta. b[f] is in every "
        "output of filter f, of every image; w[f, c, i, j] multiplies xp[n, c, r*s + i, q*s + j] "
        "in output (n, f, r, q); xp[n, c, h, w] is multiplied by w[f, c, i, j] wherever "
        "r*s + i = h and q*s + j = w. Loop over n, f, r, q as in the forward pass and accumulate.",
        "db[f] = sum over n, r, q of dout[n, f, r, q]; dw[f] += dout[n, f, r, q] * window "
        "(window = xp[n, :, r*s : r*s + kh, q*s : q*s + kw]); dxp[n, :, window] += dout[n, f, r, "
        "q] * w[f]; dx = dxp without the padding. Every sum runs over the batch too: the loss's "
        "1/N is already inside dout, so nothing is divided by N."),
    "conv_im2col": (
        "Once x is cols (C*kh*kw, N*oh*ow), the layer is one matrix product Y = W @ cols + b. "
        "What are the gradients of a matrix product?",
        "For Y = A @ B: dA = dY @ B.T and dB = A.T @ dY (check the shapes). Lay dout out like Y: "
        "(N, F, oh, ow) -> (F, N, oh, ow) -> (F, N*oh*ow).",
        "dW = dY @ cols.T -> reshape (F, C, kh, kw); db = dY.sum(axis=1); dcols = W.T @ dY "
        "(C*kh*kw, N*oh*ow); dx = col2im(dcols), which adds the overlapping windows back."),
    "max_pool": (
        "A max passes on one of its inputs unchanged. How does the output change when you nudge "
        "an input that is not the max? And the max?",
        "d max(a_1..a_k) / d a_i is 1 for the winner (the first maximum on a tie) and 0 for the "
        "others. Route each dout[n, c, r, q] to its window's winner; with overlapping windows "
        "(3x3, stride 2) one element can win several windows.",
        "dx[n, c, h, w] = sum over the windows (r, q) whose argmax is (h, w) of dout[n, c, r, q]: "
        "i, j = unravel_index(argmax(window)); dx[n, c, r*s + i, q*s + j] += dout[n, c, r, q]. "
        "Writing dx[window] = mask * dout instead erases what an earlier, overlapping window "
        "put there."),
    "avg_pool": (
        "The mean of a window is linear in each of its inputs: with what weight does each input "
        "enter it?",
        "y[r, q] = (1/(kh*kw)) * sum of its window, so dy[r, q]/dxp[h, w] = 1/(kh*kw) when (h, w) "
        "is in window (r, q), else 0. An input can be in several windows.",
        "dxp[n, c, r*s : r*s + kh, q*s : q*s + kw] += dout[n, c, r, q] / (kh*kw) for every "
        "(r, q); dx = dxp without the padding (the padding's zeros count in the divisor, so "
        "every window divides by kh*kw)."),
    "batch_norm": (
        "mean and var are functions of every x of the channel, so x reaches y along three paths: "
        "directly through (x - mean), through mean, and through var. Draw the graph.",
        "Go backward through the graph one node at a time, shapes per channel (M = N*H*W values): "
        "dxhat = dout * gamma; dvar = sum(dxhat * (x - mean)) * (-1/2) (var + eps)^(-3/2); dmean "
        "= -sum(dxhat) / sqrt(var + eps) + dvar * (-2/M) sum(x - mean) (which is 0); dx = dxhat "
        "/ sqrt(var + eps) + dvar * 2 (x - mean) / M + dmean / M. Sums are over (N, H, W); "
        "dbeta = sum(dout), dgamma = sum(dout * xhat).",
        "Substituting the graph's terms and using sum(x - mean) = 0: dx = gamma / sqrt(var + eps) "
        "* (dout - mean(dout) - xhat * mean(dout * xhat)), means over (N, H, W) per channel. "
        "The first term is the direct path, - mean(dout) the mean's path, - xhat * mean(dout * "
        "xhat) the variance's path (Ioffe and Szegedy 2015, section 3)."),
    "lrn_forward": (
        "Each channel is divided by a power of a sum of squares of its neighbouring channels at "
        "the same pixel. Which channels are the neighbours of c?",
        "window(c) = c - size//2 .. c + (size - 1)//2, clipped to [0, C). Loop over c, sum "
        "x[:, j]**2 over the window, scale = k + alpha/size * sum.",
        "y[:, c] = x[:, c] / (k + alpha / size * sum over j in window(c) of x[:, j]^2) ** beta: "
        "alpha divided by the window size as in PyTorch and Caffe (the AlexNet paper folds the "
        "1/size into its alpha)."),
    "dropout": (
        "The mask is drawn once in the forward pass and then fixed: y = x * mask is linear in x.",
        "dy/dx for y = x * mask (elementwise, mask a constant) is mask.",
        "dx = dout * mask: dropped units pass no gradient, kept ones pass it scaled by 1/(1 - p), "
        "as they were in the forward pass."),
    "softmax_cross_entropy": (
        "Differentiate loss_i = -z_{y_i} + log(sum_k exp(z_k)) with respect to z_j, for j = y_i "
        "and for j != y_i. And what does exp do with logits near 1000?",
        "d log(sum_k exp z_k) / d z_j = softmax(z)_j, and d(-z_y)/dz_j = -[j = y]. Compute log p "
        "as log-softmax, z - max - log(sum(exp(z - max))): exp(z) overflows, and log(softmax) "
        "underflows to log(0) = -inf for a p below 1e-308.",
        "dloss/dz = (softmax(z) - onehot(labels)) / N for the mean over the batch; softmax(z) = "
        "exp(log_p)."),
    "sgd_momentum": (
        "PyTorch's SGD keeps a velocity of past gradients; the step uses the velocity, not the "
        "gradient.",
        "Add the weight decay to the gradient first, then update the velocity, then step with "
        "the NEW velocity.",
        "g = dw + weight_decay * w; v = momentum * v + g; w = w - lr * v (torch.optim.SGD; "
        "CS231n's v = mu * v - lr * dw; w = w + v is the same trajectory for a constant lr, with "
        "v scaled by -lr)."),
    "two_layer_convnet": (
        "Go backward layer by layer, each one an exercise you have done: the loss, the linear "
        "layer, the max pool, the ReLU, the convolution.",
        "Keep what the forward pass computed (cols, conv, relu, the pooled windows, flat); dlogits "
        "(N, K) -> dfc.weight (K, D), dflat (N, D) -> dpooled -> drelu through the 2x2 winners "
        "-> dconv = drelu * [conv > 0] -> the conv's gradients as in conv_im2col.",
        "dlogits = (softmax - onehot) / N; dfc.weight = dlogits.T @ flat; dfc.bias = sum over N; "
        "dflat = dlogits @ fc.weight; max pool: route to each window's max; ReLU: dconv = dpool "
        "* [conv > 0]; dconv.weight = dY @ cols.T, dconv.bias = row sums of dY (dY: dconv as "
        "(F, N*H*W)); then p - lr * dp into NEW arrays."),
}


def hint(name, level):
    """The hint of ``level`` (1, 2 or 3) for exercise ``name``. Raises ValueError for an unknown
    exercise or level."""
    from minicnn.teach.exercises import _check_name
    _check_name(name)
    if level not in (1, 2, 3):
        raise ValueError(f"level must be 1, 2 or 3, got {level}")
    return HINTS[name][level - 1]
