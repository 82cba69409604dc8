"""PyTorch side of the compute bench (bench/compute.ts): the same work, timed the same way.

Reads a JSON list of cases on stdin, prints {"torch": version, "threads": n, "results": {name: median_ms}}.
Case kinds mirror bench/compute.ts: matmul, matmul_grad, conv_fwd, conv_bwd_filter, conv_bwd_input,
block_train (pre-LN transformer block forward + backward + Adam step, as bench/compute-block.ts).
"""
import json
import math
import sys
import time

import torch
import torch.nn.functional as F


# Same rule as bench/threads.ts timeSteps: at least `reps` timed calls, and more until they add up to
# `min_ms` (at most MAX_REPS calls), so a 1 ms kernel's median is not decided by 5 calls.
MAX_REPS = 400


def median_ms(fn, reps, warmup=1, min_ms=0.0):
    for _ in range(warmup):
        fn()
    times = []
    timed = 0.0
    while len(times) < reps or (timed < min_ms and len(times) < MAX_REPS):
        t0 = time.perf_counter()
        fn()
        dt = (time.perf_counter() - t0) * 1000
        times.append(dt)
        timed += dt
    times.sort()
    return times[len(times) // 2]


def gelu_tanh(x):
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


def train_step(opt, forward):
    """One step of the block cases: loss mean(out²), backward, optimizer update."""

    def step():
        opt.zero_grad(set_to_none=True)
        out = forward()
        (out * out).mean().backward()
        opt.step()

    return step


def block_case(c):
    b, t, width, heads, ratio = c["b"], c["t"], c["width"], c["heads"], c["mlpRatio"]
    hs = width // heads
    g = torch.Generator().manual_seed(1)
    p = {
        "ln1g": torch.ones(width), "ln1b": torch.zeros(width),
        "wqkv": torch.randn(width, 3 * width, generator=g) * 0.02, "bqkv": torch.zeros(3 * width),
        "wo": torch.randn(width, width, generator=g) * 0.02, "bo": torch.zeros(width),
        "ln2g": torch.ones(width), "ln2b": torch.zeros(width),
        "w1": torch.randn(width, ratio * width, generator=g) * 0.02, "b1": torch.zeros(ratio * width),
        "w2": torch.randn(ratio * width, width, generator=g) * 0.02, "b2": torch.zeros(width),
    }
    for v in p.values():
        v.requires_grad_(True)
    opt = torch.optim.Adam(list(p.values()), lr=1e-3)
    x = torch.randn(b, t, width, generator=g)
    mask = torch.triu(torch.full((t, t), -1e9), diagonal=1)

    def forward():
        h = F.layer_norm(x, (width,), p["ln1g"], p["ln1b"], 1e-5)
        qkv = (h.reshape(b * t, width) @ p["wqkv"] + p["bqkv"]).reshape(b, t, 3, heads, hs).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hs) + mask, dim=-1)
        y = (att @ v).transpose(1, 2).reshape(b * t, width)
        x1 = x + (y @ p["wo"] + p["bo"]).reshape(b, t, width)
        h2 = F.layer_norm(x1, (width,), p["ln2g"], p["ln2b"], 1e-5).reshape(b * t, width)
        m = (gelu_tanh(h2 @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]).reshape(b, t, width)
        return x1 + m

    return train_step(opt, forward)


def our_block_case(c):
    """The block our models train (models/layers/vit-block.ts), as a PyTorch model writes it: functional
    layer norm (eps 1e-6), nn.Linear-layout weights [out, in] with biases, causal softmax attention, exact
    GELU, torch.optim.AdamW (weight decay 0.01 on every parameter, as bench/compute-cases.ts)."""
    b, t, width, heads, ratio = c["b"], c["t"], c["width"], c["heads"], c["mlpRatio"]
    hs = width // heads
    g = torch.Generator().manual_seed(1)
    w = lambda o, i: torch.randn(o, i, generator=g) * 0.02
    p = {
        "n1w": torch.ones(width), "n1b": torch.zeros(width),
        "qkvw": w(3 * width, width), "qkvb": torch.zeros(3 * width),
        "projw": w(width, width), "projb": torch.zeros(width),
        "n2w": torch.ones(width), "n2b": torch.zeros(width),
        "fc1w": w(ratio * width, width), "fc1b": torch.zeros(ratio * width),
        "fc2w": w(width, ratio * width), "fc2b": torch.zeros(width),
    }
    for v in p.values():
        v.requires_grad_(True)
    opt = torch.optim.AdamW(list(p.values()), lr=1e-3, weight_decay=0.01)
    x = torch.randn(b, t, width, generator=g)
    mask = torch.triu(torch.full((t, t), float("-inf")), diagonal=1)

    def forward():
        h = F.layer_norm(x, (width,), p["n1w"], p["n1b"], 1e-6)
        qkv = F.linear(h, p["qkvw"], p["qkvb"]).reshape(b, t, 3, heads, hs).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        att = torch.softmax(q @ k.transpose(-1, -2) * hs ** -0.5 + mask, dim=-1)
        y = (att @ v).transpose(1, 2).reshape(b, t, width)
        x1 = x + F.linear(y, p["projw"], p["projb"])
        h2 = F.layer_norm(x1, (width,), p["n2w"], p["n2b"], 1e-6)
        return x1 + F.linear(F.gelu(F.linear(h2, p["fc1w"], p["fc1b"])), p["fc2w"], p["fc2b"])

    return train_step(opt, forward)


def make(c):
    kind = c["kind"]
    g = torch.Generator().manual_seed(0)
    if kind == "matmul":
        a = torch.randn(c["m"], c["k"], generator=g)
        b = torch.randn(c["k"], c["n"], generator=g)
        return lambda: a @ b
    if kind == "matmul_grad":
        # The two matmuls of a dense layer's backward pass: dA = dY·Bᵀ, dB = Aᵀ·dY.
        a = torch.randn(c["m"], c["k"], generator=g)
        b = torch.randn(c["k"], c["n"], generator=g)
        dy = torch.randn(c["m"], c["n"], generator=g)
        return lambda: (dy @ b.t(), a.t() @ dy)
    if kind == "batched_matmul":
        q = torch.randn(*c["a"], generator=g)
        k = torch.randn(*c["b"], generator=g)
        return lambda: q @ (k.transpose(-1, -2) if c.get("transposeB") else k)
    if kind.startswith("conv"):
        n, h, w, ci = c["x"]
        kh, kw, _, co = c["f"]
        s, pad = c["stride"], c["pad"]
        x = torch.randn(n, ci, h, w, generator=g)
        wt = torch.randn(co, ci, kh, kw, generator=g)
        y = F.conv2d(x, wt, stride=s, padding=pad)
        dy = torch.randn(*y.shape, generator=g)
        if kind == "conv_fwd":
            return lambda: F.conv2d(x, wt, stride=s, padding=pad)
        if kind == "conv_bwd_filter":
            return lambda: torch.nn.grad.conv2d_weight(x, wt.shape, dy, stride=s, padding=pad)
        if kind == "conv_bwd_input":
            return lambda: torch.nn.grad.conv2d_input(x.shape, wt, dy, stride=s, padding=pad)
    if kind == "block_train":
        return our_block_case(c) if c.get("layers") == "ours" else block_case(c)
    raise ValueError(f"unknown case kind {kind}")


def main():
    spec = json.load(sys.stdin)
    torch.set_num_threads(spec["threads"])
    results = {}
    for c in spec["cases"]:
        fn = make(c)
        min_ms = spec.get("minMs", 0.0)
        if c["kind"] == "block_train":
            results[c["name"]] = median_ms(fn, spec["reps"], min_ms=min_ms)
        else:
            with torch.no_grad():
                results[c["name"]] = median_ms(fn, spec["reps"], min_ms=min_ms)
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "results": results}))


if __name__ == "__main__":
    main()
