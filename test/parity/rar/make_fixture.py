"""Writes test/fixtures/parity/rar/: the upstream RAR module (RobusTok's RAR/rar.py) with a tiny config and
seeded random weights, its teacher-forced logits (raster and per-sample random orders), its KV-cache
logits step by step, and the inputs of one classifier-free-guidance step.

    git -C /work/.mirror/qiuk2+RobusTok/repo archive HEAD RAR | tar -x -C /tmp/upstream/robustok
    ROBUSTOK_UPSTREAM_DIR=/tmp/upstream/robustok /usr/bin/python3 test/parity/rar/make_fixture.py

Needs torch, numpy, safetensors and timm (timm is imported only for its Mlp module file, so its
torchvision dependency is not needed). The TS test (test/unit/models/rar-parity.test.ts) reads the
fixture only.
"""
import importlib
import importlib.util
import json
import math
import os
import sys
import types

import numpy as np
import torch
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "..", "fixtures", "parity", "rar")

CONFIG = dict(hidden_size=24, num_hidden_layers=2, num_attention_heads=2, intermediate_size=96,
              image_seq_len=16, condition_num_classes=5, dropout=0.1, attn_drop=0.1, class_label_dropout=0.1)
CODEBOOK = 24
BATCH = 3
CFG = dict(guidance_scale=4.0, guidance_scale_pow=1.15, step=5)


class Cfg(dict):
    """Attribute access plus .get, the two things rar.py asks of its OmegaConf config."""
    def __getattr__(self, k):
        v = self[k]
        return Cfg(v) if isinstance(v, dict) else v


def stub_package(name, path):
    m = types.ModuleType(name)
    m.__path__ = [path]
    sys.modules[name] = m
    return m


def load_file(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    m = importlib.util.module_from_spec(spec)
    sys.modules[name] = m
    spec.loader.exec_module(m)
    return m


def sdpa_polyfill():
    """torch < 2.0 (Debian's 1.13) has no F.scaled_dot_product_attention; this is its documented math
    for the arguments rar.py passes (float additive mask or None, dropout only in training)."""
    import torch.nn.functional as F
    if hasattr(F, "scaled_dot_product_attention"):
        return

    def sdpa(q, k, v, attn_mask=None, dropout_p=0.0):
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
        if attn_mask is not None:
            scores = scores + attn_mask
        att = torch.softmax(scores, dim=-1)
        if dropout_p > 0:
            att = F.dropout(att, p=dropout_p)
        return att @ v

    F.scaled_dot_product_attention = sdpa


def upstream_rar(root):
    rar_py = os.path.join(root, "RAR", "rar.py")
    if not os.path.exists(rar_py):
        sys.exit(f"{rar_py} not found: set ROBUSTOK_UPSTREAM_DIR (or argv[1]) to a RobusTok checkout")
    timm_dir = os.path.dirname(importlib.util.find_spec("timm").origin)
    stub_package("timm", timm_dir)
    layers = stub_package("timm.layers", os.path.join(timm_dir, "layers"))
    layers.Mlp = importlib.import_module("timm.layers.mlp").Mlp
    stub_package("RAR", os.path.join(root, "RAR"))
    modules = stub_package("RAR.modules", os.path.join(root, "RAR", "modules"))
    modules.BaseModel = load_file("RAR.modules.base_model", os.path.join(root, "RAR", "modules", "base_model.py")).BaseModel
    return load_file("RAR.rar", rar_py).RAR


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("ROBUSTOK_UPSTREAM_DIR")
    if not root:
        sys.exit("usage: make_fixture.py <RobusTok checkout> (or ROBUSTOK_UPSTREAM_DIR)")
    sdpa_polyfill()
    RAR = upstream_rar(root)
    torch.manual_seed(0)
    config = Cfg(model=dict(generator=CONFIG, vq_model=dict(codebook_size=CODEBOOK)))
    model = RAR(config).eval()
    # Upstream's init leaves every adaLN at zero (blocks start as the identity), which would hide
    # modulation mistakes: replace all weights by seeded noise.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name and name.endswith("weight"):
                p.copy_(1 + 0.1 * torch.randn_like(p))
            else:
                p.copy_(0.1 * torch.randn_like(p))

    L, C = CONFIG["image_seq_len"], CONFIG["condition_num_classes"]
    classes = torch.tensor([0, 4, 2], dtype=torch.long)
    ids = torch.randint(0, CODEBOOK, (BATCH, L))
    cond = model.preprocess_condition(classes)  # + codebook_size + 1
    orders = torch.stack([torch.randperm(L), torch.arange(L), torch.randperm(L)])

    with torch.no_grad():
        logits_raster = model.forward_fn(ids, cond)
        logits_orders, labels = model.forward_fn(ids, cond, return_labels=True, orders=orders)
        # KV cache, one token per step as in generate(): step s sees the first s tokens
        model.enable_kv_cache()
        kv = []
        for s in range(L):
            kv.append(model.forward_fn(ids[:, :s], cond, is_sampling=True)[:, -1])
        model.disable_kv_cache()
        kv_logits = torch.stack(kv, 1)
        # one CFG step as generate() computes it (no KV cache): [cond; null] with the same prefix
        s, g, p = CFG["step"], CFG["guidance_scale"], CFG["guidance_scale_pow"]
        scale_step = (1 - torch.cos(((s / L) ** (torch.ones(1) * p)) * torch.pi)) * 1 / 2
        cfg_scale = (g - 1) * scale_step + 1
        both = model.forward_fn(torch.cat([ids[:, :s], ids[:, :s]]), torch.cat([cond, model.get_none_condition(cond)]), is_sampling=True)
        cond_l, uncond_l = both[:BATCH], both[BATCH:]
        cfg_logits = (uncond_l + (cond_l - uncond_l) * cfg_scale)[:, -1]
        null_logits = model.forward_fn(ids, model.get_none_condition(cond))

    os.makedirs(OUT, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, os.path.join(OUT, "weights.safetensors"))
    arrays = dict(class_ids=classes.int(), input_ids=ids.int(), orders=orders.int(), labels_orders=labels.int(),
                  logits_raster=logits_raster, logits_orders=logits_orders, kv_logits=kv_logits,
                  cfg_logits=cfg_logits, null_logits=null_logits)
    for k, v in arrays.items():
        np.save(os.path.join(OUT, f"{k}.npy"), v.numpy())
    with open(os.path.join(OUT, "config.json"), "w") as f:
        json.dump(dict(upstream=dict(model=dict(generator=CONFIG, vq_model=dict(codebook_size=CODEBOOK))),
                       cfg=dict(CFG, cfg_scale=float(cfg_scale)), torch=torch.__version__), f, indent=2)
    print("wrote", OUT, "cfg_scale", float(cfg_scale), "check", math.isfinite(float(logits_raster.abs().max())))


if __name__ == "__main__":
    main()
