"""Shared helpers of the parity fixture generators (run with Debian's torch: /usr/bin/python3).

Each generator builds the upstream PyTorch module with a tiny configuration, fills it with seeded
random weights, runs it on a seeded input and writes test/fixtures/parity/<model>/: weights.safetensors,
inputs/outputs as .npy and a config.json the TypeScript test reads. The TS tests never need torch.
"""
import json
import os
import sys

import numpy as np
import torch
from safetensors.torch import save_file

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))


def upstream_dir():
    """The RobusTok checkout: $ROBUSTOK_UPSTREAM_DIR or argv[1] (a work tree, e.g. from git archive)."""
    d = os.environ.get('ROBUSTOK_UPSTREAM_DIR') or (sys.argv[1] if len(sys.argv) > 1 else None)
    if not d or not os.path.isdir(d):
        sys.exit('set ROBUSTOK_UPSTREAM_DIR (or pass it as the first argument) to a RobusTok work tree')
    return os.path.abspath(d)


def out_dir(model):
    d = os.path.join(REPO, 'test', 'fixtures', 'parity', model)
    os.makedirs(d, exist_ok=True)
    return d


def save_npy(d, name, t):
    np.save(os.path.join(d, name), t.detach().cpu().numpy().astype(np.float32))


def save_weights(d, sd):
    save_file({k: v.detach().contiguous() for k, v in sd.items()}, os.path.join(d, 'weights.safetensors'))


def save_config(d, cfg):
    with open(os.path.join(d, 'config.json'), 'w') as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write('\n')


@torch.no_grad()
def randomize(module, seed):
    """Replaces every floating parameter with O(1)-scale random values (fan-in scaled for matrices), so
    every path of the network matters numerically; timm's tiny inits (LayerScale 1e-5, std 0.02) would
    leave most blocks near the identity and hide errors."""
    g = torch.Generator().manual_seed(seed)
    for name, p in module.named_parameters():
        if not p.is_floating_point():
            continue
        if p.dim() >= 2 and not name.endswith(('cls_token', 'pos_embed')):
            fan_in = p[0].numel()
            p.copy_(torch.randn(p.shape, generator=g) / fan_in ** 0.5)
        elif name.endswith(('norm1.weight', 'norm2.weight', 'norm.weight', 'gamma')):
            p.copy_(1 + 0.3 * torch.randn(p.shape, generator=g))
        else:
            p.copy_(0.3 * torch.randn(p.shape, generator=g))
