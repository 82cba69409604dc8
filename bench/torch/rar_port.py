"""PyTorch port of our RAR (models/rar.ts) for the bench: same state-dict names, same sequence layout,
same step (random orders, label dropout, dropout, CE on rows 0..L-1, clip, AdamW) and the same sampler
(raster order, KV cache, [class; null] CFG with the power-cosine schedule, temperature, multinomial).

`python3 bench/torch/rar_port.py` checks it against the parity fixture of the upstream module
(test/fixtures/parity/rar), so both sides of the bench compute the same model.
"""
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

EPS = 1e-6


class Attention(nn.Module):
    def __init__(self, dim, heads, attn_drop, proj_drop):
        super().__init__()
        self.heads, self.hd = heads, dim // heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.q_norm = nn.LayerNorm(self.hd, eps=EPS)
        self.k_norm = nn.LayerNorm(self.hd, eps=EPS)
        self.proj = nn.Linear(dim, dim)
        self.attn_drop, self.proj_drop = attn_drop, proj_drop

    def forward(self, x, cache=None):
        B, T, C = x.shape
        q, k, v = self.qkv(x).reshape(B, T, 3, self.heads, self.hd).permute(2, 0, 3, 1, 4).unbind(0)
        q, k = self.q_norm(q), self.k_norm(k)
        past = 0
        if cache is not None:
            if "k" in cache:
                past = cache["k"].shape[2]
                k, v = torch.cat([cache["k"], k], 2), torch.cat([cache["v"], v], 2)
            cache["k"], cache["v"] = k, v
        s = q @ k.transpose(-2, -1) / math.sqrt(self.hd)
        if T > 1:
            s = s + torch.full((T, past + T), float("-inf"), device=x.device).triu(past + 1)
        a = s.softmax(-1)
        if self.training and self.attn_drop > 0:
            a = F.dropout(a, self.attn_drop)
        y = self.proj((a @ v).transpose(1, 2).reshape(B, T, C))
        return F.dropout(y, self.proj_drop, self.training)


class Mlp(nn.Module):
    def __init__(self, dim, hidden, drop):
        super().__init__()
        self.fc1, self.fc2, self.drop = nn.Linear(dim, hidden), nn.Linear(hidden, dim), drop

    def forward(self, x):
        h = F.dropout(F.gelu(self.fc1(x)), self.drop, self.training)
        return F.dropout(self.fc2(h), self.drop, self.training)


def modulate(x, shift, scale):
    return x * (1 + scale) + shift


class Block(nn.Module):
    def __init__(self, dim, heads, hidden, drop, attn_drop):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=EPS)
        self.attn = Attention(dim, heads, attn_drop, drop)
        self.norm2 = nn.LayerNorm(dim, eps=EPS)
        self.mlp = Mlp(dim, hidden, drop)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 6 * dim))

    def forward(self, x, c, cache=None):
        sa, ca, ga, sm, cm, gm = self.adaLN_modulation(c).chunk(6, -1)
        x = x + ga * self.attn(modulate(self.norm1(x), sa, ca), cache)
        return x + gm * self.mlp(modulate(self.norm2(x), sm, cm))


class Final(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.norm_final = nn.LayerNorm(dim, eps=EPS, elementwise_affine=False)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 2 * dim))

    def forward(self, x, c):
        scale, shift = self.adaLN_modulation(c).chunk(2, -1)
        return modulate(self.norm_final(x), shift, scale)


class Rar(nn.Module):
    """cfg: hiddenSize, numLayers, numHeads, intermediateSize, imageSeqLen, codebookSize, numClasses, dropout, attnDrop, classLabelDropout."""

    def __init__(self, cfg):
        super().__init__()
        D, L, K, C = cfg["hiddenSize"], cfg["imageSeqLen"], cfg["codebookSize"], cfg["numClasses"]
        self.cfg, self.L, self.K = cfg, L, K
        self.null_id = K + 1 + C
        self.cls_token = nn.Parameter(torch.zeros(1, 1, D))
        self.pos_embed = nn.Parameter(torch.randn(1, L + 1024, D) * 0.02)
        self.target_aware_pos_embed = nn.Parameter(torch.randn(1, L + 1024, D) * 0.02)
        self.timesteps_embeddings = nn.Parameter(torch.randn(1, L + 100, D) * 0.02)
        hidden = int(D * (cfg["intermediateSize"] / D))
        self.blocks = nn.ModuleList([Block(D, cfg["numHeads"], hidden, cfg["dropout"], cfg["attnDrop"]) for _ in range(cfg["numLayers"])])
        self.embeddings = nn.Embedding(K + 1 + C + 1, D)
        self.adaln_before_head = Final(D)
        self.lm_head = nn.Linear(D, K)

    def condition_ids(self, classes, drop=None):
        c = classes + self.K + 1
        return c if drop is None else torch.where(drop, torch.full_like(c, self.null_id), c)

    def embed(self, ids, cond, p0, p1, orders=None):
        """Inputs and conditions of positions [p0, p1); ids in generation order."""
        B, D, L = cond.shape[0], self.cls_token.shape[-1], self.L
        ce = self.embeddings(cond)[:, None]
        parts, pos, tgt = [], [], []
        if p0 == 0:
            parts.append(self.cls_token.expand(B, 1, D))
        if p0 <= 1 < p1:
            parts.append(ce)
        t0 = max(p0, 2)
        if p1 > t0:
            parts.append(self.embeddings(ids[:, t0 - 2:p1 - 2]))
        if p0 < 2:
            pos.append(self.pos_embed[:, p0:min(p1, 2)].expand(B, -1, -1))
        table = self.pos_embed[0, 2:2 + L]
        if p1 > t0:
            pos.append(table[orders[:, t0 - 2:p1 - 2]] if orders is not None else self.pos_embed[:, t0:p1].expand(B, -1, -1))
        if p0 == 0:
            tgt.append(torch.zeros(B, 1, D))
        q0, q1 = max(p0, 1), min(p1, L + 1)
        ta = self.target_aware_pos_embed[0, 2:2 + L]
        if q1 > q0:
            tgt.append(ta[orders[:, q0 - 1:q1 - 1]] if orders is not None else self.target_aware_pos_embed[:, q0 + 1:q1 + 1].expand(B, -1, -1))
        if p1 == L + 2:
            tgt.append(torch.zeros(B, 1, D))
        x = torch.cat(parts, 1) + torch.cat(pos, 1) + torch.cat(tgt, 1)
        return x, ce + self.timesteps_embeddings[:, p0:p1]

    def head(self, h, c):
        return self.lm_head(self.adaln_before_head(h, c))

    def forward(self, ids, cond, orders=None, row=None):
        n = ids.shape[1]
        if orders is not None:
            ids = torch.gather(ids, 1, orders)
        x, c = self.embed(ids, cond, 0, n + 2, orders)
        for blk in self.blocks:
            x = blk(x, c)
        if row is not None:  # output row `row` only, like Rar.forward's `row` (no-cache sampling reads one)
            return self.head(x[:, 1 + row : 2 + row], c[:, 1 + row : 2 + row])
        return self.head(x[:, 1:], c[:, 1:])

    def forward_cached(self, ids, cond, caches):
        past = caches[0].get("k", torch.empty(0, 0, 0)).shape[2] if "k" in caches[0] else 0
        x, c = self.embed(ids, cond, past, ids.shape[1] + 2)
        for blk, cache in zip(self.blocks, caches):
            x = blk(x, c, cache)
        return self.head(x, c) if past > 0 else self.head(x[:, 1:], c[:, 1:])


def train_step(model, opt, tokens, classes, ratio, max_grad_norm=1.0):
    B, L = tokens.shape
    rand = torch.rand(B) < ratio
    orders = torch.stack([torch.randperm(L) if r else torch.arange(L) for r in rand.tolist()])
    cond = model.condition_ids(classes, torch.rand(B) < model.cfg["classLabelDropout"])
    logits = model(tokens, cond, orders)
    labels = torch.gather(tokens, 1, orders)
    loss = F.cross_entropy(logits[:, :L].reshape(B * L, -1), labels.reshape(-1))
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
    opt.step()
    return loss.item()


def adamw(model, lr, betas, weight_decay):
    def no_decay(n, p):
        return p.ndim < 2 or any(k in n for k in ("ln", "bias", "latent_tokens", "mask_token", "embedding", "norm", "gamma", "embed"))

    named = list(model.named_parameters())
    return torch.optim.AdamW([
        {"params": [p for n, p in named if no_decay(n, p)], "weight_decay": 0.0},
        {"params": [p for n, p in named if not no_decay(n, p)], "weight_decay": weight_decay},
    ], lr=lr, betas=betas)


def cfg_scale(step, total, g, p):
    return (g - 1) * (1 - math.cos(math.pi * (step / total) ** p)) / 2 + 1


@torch.no_grad()
def sample(model, classes, guidance_scale, guidance_pow, temperature, kv_cache=True):
    B, L, K = classes.shape[0], model.L, model.K
    cond = model.condition_ids(classes)
    guided = guidance_scale != 0
    cond_all = torch.cat([cond, torch.full_like(cond, model.null_id)]) if guided else cond
    R = cond_all.shape[0]
    ids = torch.zeros(R, 0, dtype=torch.long)
    caches = [{} for _ in model.blocks] if kv_cache else None
    for s in range(L):
        out = model.forward_cached(ids, cond_all, caches) if kv_cache else model(ids, cond_all, row=s)
        last = out[:, -1]
        if guided:
            last = last[B:] + (last[:B] - last[B:]) * cfg_scale(s, L, guidance_scale, guidance_pow)
        tok = torch.multinomial(F.softmax(last / temperature, -1), 1)
        ids = torch.cat([ids, tok.repeat(2, 1) if guided else tok], 1)
    return ids[:B]


def check_against_fixture():
    import json
    import numpy as np
    from safetensors.torch import load_file
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "test", "fixtures", "parity", "rar")
    up = json.load(open(os.path.join(root, "config.json")))["upstream"]["model"]
    g = up["generator"]
    cfg = dict(hiddenSize=g["hidden_size"], numLayers=g["num_hidden_layers"], numHeads=g["num_attention_heads"], intermediateSize=g["intermediate_size"],
               imageSeqLen=g["image_seq_len"], codebookSize=up["vq_model"]["codebook_size"], numClasses=g["condition_num_classes"],
               dropout=0.1, attnDrop=0.1, classLabelDropout=0.1)
    m = Rar(cfg).eval()
    m.load_state_dict(load_file(os.path.join(root, "weights.safetensors")))
    npy = lambda k: torch.from_numpy(np.load(os.path.join(root, f"{k}.npy")))  # noqa: E731
    ids, cond, orders = npy("input_ids").long(), m.condition_ids(npy("class_ids").long()), npy("orders").long()
    with torch.no_grad():
        errs = {
            "raster": (m(ids, cond) - npy("logits_raster")).abs().max().item(),
            "orders": (m(ids, cond, orders) - npy("logits_orders")).abs().max().item(),
        }
        caches = [{} for _ in m.blocks]
        kv = torch.stack([m.forward_cached(ids[:, :s], cond, caches)[:, -1] for s in range(cfg["imageSeqLen"])], 1)
        errs["kv"] = (kv - npy("kv_logits")).abs().max().item()
    print(json.dumps(errs))
    assert all(v < 1e-4 for v in errs.values()), errs


if __name__ == "__main__":
    check_against_fixture()
