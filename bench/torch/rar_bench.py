"""PyTorch side of the RAR bench (bench/rar.suite.ts): the cases of bench/rar-cases.ts on the port in
rar_port.py, timed as our side is (median after warm-up, CPU time / wall).

stdin:  {"cases": [RarCaseSpec], "threads": n, "reps": r, "warmup": w}
stdout: last line {"torch": version, "threads": n, "results": {name: {median_ms, min_ms, max_ms, reps, cores}}}
"""
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rar_port import Rar, adamw, sample, train_step  # noqa: E402


def time_steps(fn, reps, warmup):
    for _ in range(warmup):
        fn()
    times = []
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    times.sort()
    return {"median_ms": times[len(times) // 2], "min_ms": times[0], "max_ms": times[-1], "reps": reps, "cores": cpu / wall}


def make(c):
    torch.manual_seed(1)
    cfg = c["size"]["model"]
    model = Rar(cfg)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.02)
    B, L = c["size"]["batch"], cfg["imageSeqLen"]
    classes = torch.arange(B) % cfg["numClasses"]
    s = c["sampling"]
    if c["kind"] != "train":
        model.eval()
        kv = c["kind"] == "sample-kv"
        return lambda: sample(model, classes, s["guidanceScale"], s["guidanceScalePow"], s["temperature"], kv_cache=kv)
    model.train()
    a = c["adamw"]
    opt = adamw(model, a["lr"], (a["beta1"], a["beta2"]), a["weightDecay"])
    tokens = torch.randint(0, cfg["codebookSize"], (B, L))
    return lambda: train_step(model, opt, tokens, classes, 1.0)


def main():
    req = json.load(sys.stdin)
    torch.set_num_threads(req["threads"])
    results = {}
    for c in req["cases"]:
        results[c["name"]] = time_steps(make(c), req["reps"], req["warmup"])
    print(json.dumps({"torch": torch.__version__, "threads": req["threads"], "results": results}))


if __name__ == "__main__":
    main()
