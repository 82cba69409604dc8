"""Loads what bench/tokenizer-port-check.ts wrote (our weights, inputs, outputs, gradients) into the port
and compares. Exit 1 when anything differs beyond float32 noise.

    check_port.py <check.safetensors>
"""
import json
import os
import sys

import torch
import torch.nn.functional as F
from safetensors import safe_open

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from robustok_tokenizer_port import Tokenizer  # noqa: E402


def main():
    path = sys.argv[1]
    with safe_open(path, "pt") as f:
        config = json.loads(f.metadata()["config"])
        t = {k: f.get_tensor(k) for k in f.keys()}
    torch.set_num_threads(1)
    model = Tokenizer(config)
    weights = {k: v for k, v in t.items() if "." in k and k.split(".", 1)[0] not in ("input", "out", "grad")}
    model.load_state_dict(weights, strict=True)
    model.eval()  # no drop-path: the same deterministic pass as ours
    images = t["input.images"]
    recon, codes, codebook_loss, commit_loss = model(images)
    loss = F.mse_loss(recon, images) + codebook_loss + commit_loss
    loss.backward()

    failures = []

    def compare(name, ours, theirs, tol):
        diff = (ours - theirs).abs().max().item()
        scale = max(theirs.abs().max().item(), 1e-12)
        ok = diff <= tol * scale
        if not ok:
            failures.append(name)
        return diff, scale, ok

    code_match = (codes.to(torch.int32) == t["out.codes"].to(torch.int32)).float().mean().item()
    if code_match < 1:
        failures.append("codes")
    print(f"codes: {code_match * 100:.2f}% equal")
    for name, ours, theirs in [("recon", t["out.recon"], recon.detach()), ("loss", t["out.loss"], loss.detach().reshape(1))]:
        diff, scale, ok = compare(name, ours, theirs, 1e-4)
        print(f"{name}: max |diff| {diff:.3g} (max |value| {scale:.3g}){'' if ok else '  MISMATCH'}")
    worst = (0.0, "")
    params = dict(model.named_parameters())
    missing = [n for n in params if f"grad.{n}" not in t]
    for n, p in params.items():
        if p.grad is None or f"grad.{n}" not in t:
            continue
        diff, scale, _ = compare(f"grad.{n}", t[f"grad.{n}"], p.grad, 1e-3)
        worst = max(worst, (diff / scale, n))
    print(f"gradients: {len(params) - len(missing)}/{len(params)} parameters compared, worst relative max |diff| {worst[0]:.3g} ({worst[1]})")
    if missing:
        failures.append(f"no gradient from ours for {missing}")
    if failures:
        print("MISMATCH: " + ", ".join(failures))
        sys.exit(1)
    print("port matches")


if __name__ == "__main__":
    main()
