"""PyTorch port of OUR RobusTok tokenizer (models/robustok-tokenizer.ts), written for the bench.

Not upstream code: the same shapes and the same computation as our TypeScript model, in the form a
PyTorch user would write it (nn.Conv2d for the stride-p patch embedding and the 1x1 quant convs, as
upstream's timm/VQModel do; indexing for the code lookup where we use a one-hot matmul).

    images [B, 3, H, W] -> patch embed [B, N, W] -> [cls | patches] + pos (+ lvl[0]),
                           latent tokens + pos[1:] (+ lvl[1])              -> ViT -> norm -> last L
    -> quant_conv 1x1 -> l2-normalised VQ (nearest code, straight-through)  [B, D, g, g]
    -> (training) perturb the first floor(beta*B) samples: a uniform rank among the delta nearest codes
       with probability alpha
    -> post_quant_conv 1x1 -> decoder: [cls | mask tokens] + pos (+ lvl[0]), [cls | latents] + pos
       (+ lvl[1]) -> ViT -> norm -> mask positions -> to_pixel -> unpatchify (py, px, c)

ViT blocks are pre-norm with LayerScale and drop-path, exact-erf GELU, LayerNorm eps 1e-6, and explicit
attention (softmax(q k^T / sqrt(hs)) v), as ours.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def drop_path(x, rate, training):
    """Per-sample stochastic depth (timm DropPath): drop a sample's branch, scale survivors by 1/keep."""
    if not training or rate == 0:
        return x
    keep = 1 - rate
    mask = (torch.rand(x.shape[0], *([1] * (x.dim() - 1))) < keep).to(x.dtype)
    return x * mask / keep


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, t, c = x.shape
        hs = c // self.heads
        q, k, v = self.qkv(x).reshape(b, t, 3, self.heads, hs).permute(2, 0, 3, 1, 4)  # each [B, nh, T, hs]
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hs), dim=-1)  # [B, nh, T, T]
        return self.proj((att @ v).transpose(1, 2).reshape(b, t, c))


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class LayerScale(nn.Module):
    def __init__(self, dim, init):
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), init))

    def forward(self, x):
        return x * self.gamma


class Block(nn.Module):
    def __init__(self, dim, heads, mlp_ratio, ls_init, dpr):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.ls1 = LayerScale(dim, ls_init) if ls_init is not None else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, round(dim * mlp_ratio))
        self.ls2 = LayerScale(dim, ls_init) if ls_init is not None else nn.Identity()
        self.dpr = dpr

    def forward(self, x):
        x = x + drop_path(self.ls1(self.attn(self.norm1(x))), self.dpr, self.training)
        return x + drop_path(self.ls2(self.mlp(self.norm2(x))), self.dpr, self.training)


class PatchEmbed(nn.Module):
    def __init__(self, width, patch):
        super().__init__()
        self.proj = nn.Conv2d(3, width, kernel_size=patch, stride=patch)

    def forward(self, images):
        return self.proj(images).flatten(2).transpose(1, 2)  # [B, W, g, g] -> [B, N, W]


class Vit(nn.Module):
    """cls_token, pos_embed, blocks, norm (+ patch_embed on the encoder side): timm's names."""

    def __init__(self, c, with_patch_embed):
        super().__init__()
        w, p = c["width"], c["patch_size"]
        n = (c["image_size"] // p) ** 2
        if with_patch_embed:
            self.patch_embed = PatchEmbed(w, p)
        self.cls_token = nn.Parameter(torch.randn(1, 1, w) * 1e-6)
        self.pos_embed = nn.Parameter(torch.randn(1, 1 + n, w) * 0.02)
        d = c["depth"]
        rates = [c["drop_path_rate"] * i / (d - 1) if d > 1 else 0.0 for i in range(d)]
        self.blocks = nn.ModuleList(Block(w, c["num_heads"], c["mlp_ratio"], c["layer_scale_init"], r) for r in rates)
        self.norm = nn.LayerNorm(w, eps=1e-6)

    def with_cls(self, tokens):
        """[B, T, W] -> [cls | tokens] + pos_embed  [B, 1 + T, W]."""
        b, _, w = tokens.shape
        return torch.cat([self.cls_token.expand(b, 1, w), tokens], 1) + self.pos_embed

    def trunk(self, x):
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x)


class Encoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.model = Vit(c, with_patch_embed=True)
        self.latent_tokens = nn.Parameter(torch.randn(1, c["num_latent_tokens"], c["width"]) * 1e-6)
        self.lvl_embed = nn.Embedding(2, c["width"])

    def forward(self, images):
        m = self.model
        patches = m.patch_embed(images)  # [B, N, W]
        b, n, _ = patches.shape
        lvl = self.lvl_embed.weight
        x = m.with_cls(patches) + lvl[0]  # [B, 1 + N, W]
        lat = (self.latent_tokens + m.pos_embed[:, 1:] + lvl[1]).expand(b, -1, -1)  # [B, L, W]
        return m.trunk(torch.cat([x, lat], 1))[:, 1 + n:]  # [B, 1 + N + L, W] -> [B, L, W]


class ToPixel(nn.Module):
    def __init__(self, width, patch):
        super().__init__()
        self.model = nn.Linear(width, 3 * patch * patch)


class Decoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.grid = c["image_size"] // c["patch_size"]
        self.patch = c["patch_size"]
        self.model = Vit(c, with_patch_embed=False)
        self.mask_token = nn.Parameter(torch.randn(1, 1, c["width"]) * 1e-6)
        self.lvl_embed = nn.Embedding(2, c["width"])
        self.to_pixel = ToPixel(c["width"], c["patch_size"])

    def forward(self, tokens):
        b, n, w = tokens.shape
        m = self.model
        lvl = self.lvl_embed.weight
        masks = m.with_cls(self.mask_token.expand(b, n, w)) + lvl[0]  # [B, 1 + N, W]
        lat = m.with_cls(tokens) + lvl[1]  # [B, 1 + L, W]
        x = m.trunk(torch.cat([masks, lat], 1))[:, 1:1 + n]  # [B, 2 + N + L, W] -> [B, N, W] (mask positions)
        pix = self.to_pixel.model(x)  # [B, N, 3·p·p] in (py, px, c) order
        g, p = self.grid, self.patch
        return pix.reshape(b, g, g, p, p, 3).permute(0, 5, 1, 3, 2, 4).reshape(b, 3, g * p, g * p)  # [B, 3, H, W]


class Quantize(nn.Module):
    def __init__(self, k, d):
        super().__init__()
        self.embedding = nn.Embedding(k, d)
        nn.init.uniform_(self.embedding.weight, -1 / k, 1 / k)


class Tokenizer(nn.Module):
    """Parameter names equal ours (models/robustok-tokenizer.ts), so our state dict loads as is."""

    def __init__(self, c):
        super().__init__()
        self.c = c
        self.grid = c["image_size"] // c["patch_size"]
        w, d, k = c["width"], c["codebook_embed_dim"], c["codebook_size"]
        self.encoder = Encoder(c)
        self.quant_conv = nn.Conv2d(w, d, 1)
        self.decoder = Decoder(c)
        self.post_quant_conv = nn.Conv2d(d, w, 1)
        self.quantize = Quantize(k, d)

    def encode(self, images):
        """images -> latents [B, D, g, g] after quant_conv."""
        h = self.encoder(images)  # [B, L, W]
        b, _, w = h.shape
        return self.quant_conv(h.transpose(1, 2).reshape(b, w, self.grid, self.grid))  # [B, W, g, g] -> [B, D, g, g]

    def nearest(self, latents):
        """latents [B, D, g, g] -> unit tokens zn [B·L, D], unit codebook [K, D], distances [B·L, K], ids."""
        d = latents.shape[1]
        zn = F.normalize(latents.permute(0, 2, 3, 1).reshape(-1, d), dim=-1)  # [B, g, g, D] -> [B·L, D]
        cb = F.normalize(self.quantize.embedding.weight, dim=-1)
        dist = zn.pow(2).sum(1, keepdim=True) + cb.pow(2).sum(1)[None] - 2 * zn @ cb.t()  # [B·L, K]
        return zn, cb, dist, dist.argmin(1)

    @torch.no_grad()
    def encode_codes(self, images):
        b = images.shape[0]
        return self.nearest(self.encode(images))[3].reshape(b, -1)  # [B, L]

    def forward(self, images, perturbation=None):
        """-> recon [B, 3, H, W] (unclamped), codes [B, L], codebook loss, commitment loss."""
        b = images.shape[0]
        g, d = self.grid, self.c["codebook_embed_dim"]
        l = g * g
        zn, cb, dist, ids = self.nearest(self.encode(images))
        zq = cb[ids]  # [B·L, D]
        codebook_loss = (zq - zn.detach()).pow(2).mean()
        commit_loss = self.c["commit_loss_beta"] * (zq.detach() - zn).pow(2).mean()
        q = zn + (zq - zn).detach()
        n_pert = int(b * perturbation["beta"]) if perturbation else 0
        if n_pert > 0:
            m = n_pert * l
            delta = perturbation["delta"]
            top = (-dist[:m].detach()).topk(delta, dim=1).indices  # [n·L, δ] ascending distance
            rank = torch.randint(delta, (m,))
            rank = torch.where(torch.rand(m) <= perturbation["alpha"], rank, torch.zeros_like(rank))
            pert = cb[top.gather(1, rank[:, None])[:, 0]]  # [n·L, D]
            q = torch.cat([zn[:m] + (pert - zn[:m]).detach(), q[m:]], 0)
        quant = q.reshape(b, g, g, d).permute(0, 3, 1, 2)  # [B·L, D] -> [B, D, g, g]
        tokens = self.post_quant_conv(quant).flatten(2).transpose(1, 2)  # [B, W, g, g] -> [B, L, W]
        return self.decoder(tokens), ids.reshape(b, l), codebook_loss, commit_loss
