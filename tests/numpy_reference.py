"""Plain NumPy implementations of the PyMC/Lasagne optimizers, for oracle tests.

Written from the published update rules (the papers, as quoted in each
optimizer's docstring), independently of symupdates' symbolic code. Every
optimizer is one function

    name(params, grad_fn, n_steps, **hyper) -> trajectory

where ``params`` is a list of arrays (copied, never modified), ``grad_fn``
maps the list of current parameter values to the list of gradients, and the
trajectory is a list of ``n_steps + 1`` lists of arrays: the starting point,
then the parameters after each step. Arithmetic is done in the dtype of the
given arrays (use float64 for a reference).

Each optimizer is written as a per-parameter ``step(state, g, t)`` closure
returning the amount ``u`` to subtract from the parameter; ``t`` is the
1-based step number.
"""

from __future__ import annotations

from collections import deque

import numpy as np

__all__ = [
    "sgd",
    "momentum",
    "nesterov_momentum",
    "adagrad",
    "adagrad_window",
    "rmsprop",
    "adadelta",
    "adam",
    "adamax",
    "amsgrad",
    "REFERENCES",
]


def _run(params, grad_fn, n_steps, make_step):
    """Drive ``make_step()`` (one fresh stepper per parameter) for ``n_steps`` steps."""
    current = [np.array(p, copy=True) for p in params]
    steppers = [make_step() for _ in current]
    trajectory = [[p.copy() for p in current]]
    for t in range(1, n_steps + 1):
        grads = [np.asarray(g, dtype=p.dtype) for g, p in zip(grad_fn(current), current)]
        current = [np.asarray(p - stepper(g, t), dtype=p.dtype) for p, g, stepper in zip(current, grads, steppers)]
        trajectory.append([p.copy() for p in current])
    return trajectory


def sgd(params, grad_fn, n_steps, learning_rate=1e-3, momentum=0.0, dampening=0.0, nesterov=False):
    """Gradient descent; with ``momentum`` the heavy-ball buffer of torch.optim.SGD.

    buffer_1 = g_1, buffer_t = mu * buffer_{t-1} + (1 - dampening) * g_t,
    direction = buffer_t (or g_t + mu * buffer_t with nesterov), p -= lr * direction.
    """

    def make_step():
        buffer = None

        def step(g, t):
            nonlocal buffer
            if momentum == 0:
                return learning_rate * g
            buffer = g.copy() if buffer is None else momentum * buffer + (1 - dampening) * g
            direction = g + momentum * buffer if nesterov else buffer
            return learning_rate * direction

        return step

    return _run(params, grad_fn, n_steps, make_step)


def momentum(params, grad_fn, n_steps, learning_rate=1e-3, momentum=0.9):
    """Classical momentum (Polyak 1964): v = mu * v - lr * g; p += v."""

    def make_step():
        velocity = 0.0

        def step(g, t):
            nonlocal velocity
            velocity = momentum * velocity - learning_rate * g
            return -velocity

        return step

    return _run(params, grad_fn, n_steps, make_step)


def nesterov_momentum(params, grad_fn, n_steps, learning_rate=1e-3, momentum=0.9):
    """Nesterov momentum in the Sutskever et al. (2013) reformulation: v = mu*v - lr*g; p += mu*v - lr*g."""

    def make_step():
        velocity = 0.0

        def step(g, t):
            nonlocal velocity
            velocity = momentum * velocity - learning_rate * g
            return -(momentum * velocity - learning_rate * g)

        return step

    return _run(params, grad_fn, n_steps, make_step)


def adagrad(
    params,
    grad_fn,
    n_steps,
    learning_rate=1.0,
    epsilon=1e-6,
    lr_decay=0.0,
    initial_accumulator_value=0.0,
    eps_inside_sqrt=True,
):
    """Adagrad (Duchi et al. 2011): s += g^2; p -= lr_t * g / sqrt(s + eps).

    lr_t = lr / (1 + (t - 1) * lr_decay); ``eps_inside_sqrt=False`` divides by sqrt(s) + eps.
    """

    def make_step():
        total = initial_accumulator_value

        def step(g, t):
            nonlocal total
            total = total + g * g
            rate = learning_rate / (1 + (t - 1) * lr_decay)
            denominator = np.sqrt(total + epsilon) if eps_inside_sqrt else np.sqrt(total) + epsilon
            return rate * g / denominator

        return step

    return _run(params, grad_fn, n_steps, make_step)


def adagrad_window(
    params, grad_fn, n_steps, learning_rate=0.001, epsilon=0.1, n_win=10, exclude_current=False, max_step_ratio=10.0
):
    """Adagrad over the last ``n_win`` squared gradients (PyMC's ``adagrad_window``).

    The normaliser is the sum of the squared gradients of steps t-n_win+1..t;
    missing steps count as 0. p -= lr * g / sqrt(normaliser + eps).
    With ``exclude_current`` (PyMC issue 8444 / pull request 8447), once t > n_win
    the normaliser leaves out g_t**2 (steps t-n_win+1..t-1) and g / sqrt(...) is
    clipped to [-max_step_ratio, max_step_ratio].
    """

    def make_step():
        window = deque(maxlen=n_win)

        def step(g, t):
            window.append(g * g)
            if exclude_current and t > n_win:
                others = list(window)[:-1]
                u = g / np.sqrt(sum(others, np.zeros_like(g)) + epsilon)
                return learning_rate * (u if max_step_ratio is None else np.clip(u, -max_step_ratio, max_step_ratio))
            return learning_rate * g / np.sqrt(sum(window) + epsilon)

        return step

    return _run(params, grad_fn, n_steps, make_step)


def rmsprop(
    params,
    grad_fn,
    n_steps,
    learning_rate=1.0,
    rho=0.9,
    epsilon=1e-6,
    centered=False,
    momentum=0.0,
    eps_inside_sqrt=True,
):
    """RMSProp (Tieleman & Hinton 2012); centered as Graves (2013) eq. 38-45.

    s = rho*s + (1-rho)*g^2, mean = rho*mean + (1-rho)*g (centered),
    step = lr * g / sqrt(s - mean^2 + eps), buffer = mu*buffer + step, p -= buffer.
    """

    def make_step():
        square, mean, buffer = 0.0, 0.0, 0.0

        def step(g, t):
            nonlocal square, mean, buffer
            square = rho * square + (1 - rho) * g * g
            variance = square
            if centered:
                mean = rho * mean + (1 - rho) * g
                variance = square - mean * mean
            denominator = np.sqrt(variance + epsilon) if eps_inside_sqrt else np.sqrt(variance) + epsilon
            buffer = momentum * buffer + learning_rate * g / denominator
            return buffer

        return step

    return _run(params, grad_fn, n_steps, make_step)


def adadelta(params, grad_fn, n_steps, learning_rate=1.0, rho=0.95, epsilon=1e-6):
    """Adadelta (Zeiler 2012, Algorithm 1), with a learning rate outside the accumulators.

    E[g^2] = rho*E[g^2] + (1-rho)*g^2, dx = -RMS[dx]_{t-1}/RMS[g]_t * g,
    E[dx^2] = rho*E[dx^2] + (1-rho)*dx^2, p += lr * dx, RMS[y] = sqrt(E[y^2] + eps).
    """

    def make_step():
        mean_square_grad, mean_square_dx = 0.0, 0.0

        def step(g, t):
            nonlocal mean_square_grad, mean_square_dx
            mean_square_grad = rho * mean_square_grad + (1 - rho) * g * g
            dx = -np.sqrt(mean_square_dx + epsilon) / np.sqrt(mean_square_grad + epsilon) * g
            mean_square_dx = rho * mean_square_dx + (1 - rho) * dx * dx
            return -learning_rate * dx

        return step

    return _run(params, grad_fn, n_steps, make_step)


def adam(
    params,
    grad_fn,
    n_steps,
    learning_rate=0.001,
    beta1=0.9,
    beta2=0.999,
    epsilon=1e-8,
    amsgrad=False,
    form="pymc",
):
    """Adam (Kingma & Ba 2015, Algorithm 1); AMSGrad (Reddi et al. 2018) with ``amsgrad``.

    m = b1*m + (1-b1)*g, v = b2*v + (1-b2)*g^2, vmax = max(vmax, v) (amsgrad).
    form="pymc": the paper's end-of-section-2 form,
        alpha_t = lr * sqrt(1-b2^t) / (1-b1^t); p -= alpha_t * m / (sqrt(v) + eps).
    form="torch": Algorithm 1 as written,
        mhat = m/(1-b1^t), vhat = v/(1-b2^t); p -= lr * mhat / (sqrt(vhat) + eps).
    """
    if form not in ("pymc", "torch"):
        raise ValueError(form)

    def make_step():
        m, v, v_max = 0.0, 0.0, 0.0

        def step(g, t):
            nonlocal m, v, v_max
            m = beta1 * m + (1 - beta1) * g
            v = beta2 * v + (1 - beta2) * g * g
            v_max = np.maximum(v_max, v)
            second = v_max if amsgrad else v
            if form == "pymc":
                alpha = learning_rate * np.sqrt(1 - beta2**t) / (1 - beta1**t)
                return alpha * m / (np.sqrt(second) + epsilon)
            m_hat = m / (1 - beta1**t)
            v_hat = second / (1 - beta2**t)
            return learning_rate * m_hat / (np.sqrt(v_hat) + epsilon)

        return step

    return _run(params, grad_fn, n_steps, make_step)


def amsgrad(params, grad_fn, n_steps, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8):
    """AMSGrad (Reddi et al. 2018) with the bias corrections of Adam's "pymc" form."""
    return adam(params, grad_fn, n_steps, learning_rate, beta1, beta2, epsilon, amsgrad=True)


def adamax(params, grad_fn, n_steps, learning_rate=0.002, beta1=0.9, beta2=0.999, epsilon=1e-8, form="pymc"):
    """Adamax (Kingma & Ba 2015, Algorithm 2).

    m = b1*m + (1-b1)*g; form="pymc": u = max(b2*u, |g|), p -= lr/(1-b1^t) * m/(u + eps);
    form="torch": u = max(b2*u, |g| + eps), p -= lr/(1-b1^t) * m/u.
    """
    if form not in ("pymc", "torch"):
        raise ValueError(form)

    def make_step():
        m, u = 0.0, 0.0

        def step(g, t):
            nonlocal m, u
            m = beta1 * m + (1 - beta1) * g
            if form == "pymc":
                u = np.maximum(beta2 * u, np.abs(g))
                denominator = u + epsilon
            else:
                u = np.maximum(beta2 * u, np.abs(g) + epsilon)
                denominator = u
            return learning_rate / (1 - beta1**t) * m / denominator

        return step

    return _run(params, grad_fn, n_steps, make_step)


#: The reference of each optimizer by name.
REFERENCES = {
    "sgd": sgd,
    "momentum": momentum,
    "nesterov_momentum": nesterov_momentum,
    "adagrad": adagrad,
    "adagrad_window": adagrad_window,
    "rmsprop": rmsprop,
    "adadelta": adadelta,
    "adam": adam,
    "adamax": adamax,
    "amsgrad": amsgrad,
}


# -- Hypergradient descent (Baydin et al., 2018) -----------------------------------------
# Written from the paper (arXiv:1703.04782), whose algorithms substitute an optimizer's
# direction into one skeleton; all parameters form one flat vector theta, as there.

__all__ += ["hypergradient_descent", "sgd_hd", "sgdn_hd", "adam_hd"]


def hypergradient_descent(params, grad_fn, n_steps, direction, learning_rate, hyper_learning_rate):
    """The paper's hypergradient skeleton around ``direction``; returns ``(trajectory, rates)``.

    With u_t = -alpha_t d_t the update and d_t = direction(g_t, t, theta_{t-1}) its direction:
        g_t = grad f(theta_{t-1}), h_t = g_t . grad_alpha u_{t-1} = -g_t . d_{t-1}  (d_0 = 0),
        alpha_t = alpha_{t-1} - beta h_t, theta_t = theta_{t-1} - alpha_t d_t.
    ``rates`` holds alpha_0, alpha_1, ..., alpha_n. h and alpha are computed in float64; the
    step uses alpha rounded to the parameters' dtype. All vectors are flat (the parameters
    concatenated in order).
    """
    dtype = np.result_type(*params)
    sizes = np.cumsum([np.size(p) for p in params])[:-1]

    def split(flat):
        return [np.array(x.reshape(np.shape(p)), dtype=dtype) for x, p in zip(np.split(flat, sizes), params)]

    theta = np.concatenate([np.ravel(p) for p in params]).astype(dtype)
    alpha = float(learning_rate)
    previous = np.zeros_like(theta)
    trajectory, rates = [split(theta)], [alpha]
    for t in range(1, n_steps + 1):
        g = np.concatenate([np.ravel(np.asarray(x, dtype=dtype)) for x in grad_fn(split(theta))])
        h = -np.dot(g.astype(np.float64), previous.astype(np.float64))
        alpha = alpha - hyper_learning_rate * h
        d = np.asarray(direction(g, t, theta), dtype=dtype)
        theta = np.asarray(theta - np.asarray(alpha, dtype=dtype) * d, dtype=dtype)
        previous = d
        trajectory.append(split(theta))
        rates.append(alpha)
    return trajectory, rates


def sgd_hd(params, grad_fn, n_steps, learning_rate=1e-3, hyper_learning_rate=1e-3):
    """SGD-HD: d_t = g_t."""
    return hypergradient_descent(params, grad_fn, n_steps, lambda g, t, theta: g, learning_rate, hyper_learning_rate)


def sgdn_hd(params, grad_fn, n_steps, learning_rate=1e-3, hyper_learning_rate=1e-3, momentum=0.9):
    """SGDN-HD: v_t = mu v_{t-1} + g_t (v_0 = 0), d_t = g_t + mu v_t."""
    velocity = 0.0

    def direction(g, t, theta):
        nonlocal velocity
        velocity = momentum * velocity + g
        return g + momentum * velocity

    return hypergradient_descent(params, grad_fn, n_steps, direction, learning_rate, hyper_learning_rate)


def adam_hd(
    params, grad_fn, n_steps, learning_rate=1e-3, hyper_learning_rate=1e-7, beta1=0.9, beta2=0.999, epsilon=1e-8
):
    """Adam-HD: m, v as Adam (zero start), d_t = m_hat_t / (sqrt(v_hat_t) + eps), bias-corrected."""
    m, v = 0.0, 0.0

    def direction(g, t, theta):
        nonlocal m, v
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
        return m_hat / (np.sqrt(v_hat) + epsilon)

    return hypergradient_descent(params, grad_fn, n_steps, direction, learning_rate, hyper_learning_rate)
