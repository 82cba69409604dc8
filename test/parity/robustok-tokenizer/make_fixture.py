"""Writes test/fixtures/parity/robustok-tokenizer/<case>/: the upstream RobusTok tokenizer (`VQModel` of
tokenizer/tokenizer_image/xqgan_model.py with its DINOv2Encoder/DINOv2Decoder) at a tiny size with seeded
random weights, run on random images: latents, codes, quantised latents, reconstruction, the VQ losses,
the δ nearest codes of every token, and gradients of a loss through the straight-through estimator. Also
the names/shapes of the paper-size state dict (paper-state-dict.json), so the released checkpoints' layout
is checked without downloading them.

    mkdir -p /tmp/upstream/robustok
    git -C /work/.mirror/qiuk2+RobusTok/repo archive HEAD tokenizer datasets | tar -x -C /tmp/upstream/robustok
    ROBUSTOK_UPSTREAM_DIR=/tmp/upstream/robustok /usr/bin/python3 test/parity/robustok-tokenizer/make_fixture.py

Needs torch, numpy, safetensors, timm and einops. Upstream hard-codes ViT-B/16 at 256 px with DINOv2
weights (`create_model(..., pretrained=True)`); we wrap its encoder/decoder classes so the same code
builds a small timm ViT with `pretrained=False`. Two cases:

  p8-32  image 32, patch 8: upstream's level-index buffer `lvl1LC` holds patch_size² + 1 = 65 zeros where
         the sequence has (32/8)² + 1 = 17 image positions, so the unmodified model fails with a shape
         error; we overwrite both buffers with the intended layout (N + 1 zeros, then ones), which is
         what our model implements.
  p4-16  image 16, patch 4: patch_size² = (16/4)², so upstream's buffer is already right and the model
         runs unmodified (the same coincidence as the paper's 256 px / patch 16).

The TS test (test/unit/models/robustok-tokenizer-parity.test.ts) reads the fixtures only.
"""
import importlib.util
import json
import os
import sys
import types

import warnings

import numpy as np
import torch
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "..", "fixtures", "parity", "robustok-tokenizer")

CASES = {
    "p8-32": dict(image_size=32, patch_size=8, width=32, depth=2, num_heads=2, mlp_ratio=4.0,
                  codebook_size=64, codebook_embed_dim=8, num_latent_tokens=16, fix_lvl=True, batch=3),
    "p4-16": dict(image_size=16, patch_size=4, width=32, depth=1, num_heads=2, mlp_ratio=4.0,
                  codebook_size=32, codebook_embed_dim=8, num_latent_tokens=16, fix_lvl=False, batch=3),
}
DELTA = 5
GRAD_PARAMS = ["quant_conv.weight", "quantize.embedding.weight", "encoder.latent_tokens",
               "encoder.model.patch_embed.proj.bias", "decoder.to_pixel.model.weight", "decoder.mask_token",
               "encoder.lvl_embed.weight", "decoder.lvl_embed.weight"]


def stub(name, path=None, **attrs):
    m = types.ModuleType(name)
    if path is not None:
        m.__path__ = [path]
    m.__dict__.update(attrs)
    sys.modules[name] = m
    return m


def load_file(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    m = importlib.util.module_from_spec(spec)
    sys.modules[name] = m
    spec.loader.exec_module(m)
    return m


def upstream_modules(root):
    img = os.path.join(root, "tokenizer", "tokenizer_image")
    if not os.path.exists(os.path.join(img, "xqgan_model.py")):
        sys.exit(f"{img}/xqgan_model.py not found: set ROBUSTOK_UPSTREAM_DIR (or argv[1]) to a RobusTok checkout")
    # imported by the upstream files but unused on this path (LoRA, multi-GPU helpers, data loading)
    stub("peft")
    stub("dist")
    norm = load_file("_upstream_normalize", os.path.join(root, "datasets", "normalize.py"))
    stub("datasets", Normalize=norm.Normalize, Denormalize=norm.Denormalize)
    stub("tokenizer", os.path.join(root, "tokenizer"))
    stub("tokenizer.vqgan", os.path.join(root, "tokenizer", "vqgan"))
    stub("tokenizer.tokenizer_image", img)
    stub("tokenizer.tokenizer_image.dino_enc", os.path.join(img, "dino_enc"))
    return importlib.import_module("tokenizer.tokenizer_image.xqgan_model")


def small_vit(cls, case):
    """Upstream's encoder/decoder class, but building a small random timm ViT instead of DINOv2 ViT-B."""
    def build(**kw):
        kw["model_kwargs"] = dict(img_size=case["image_size"], patch_size=case["patch_size"], drop_path_rate=0.0,
                                  embed_dim=case["width"], depth=case["depth"], num_heads=case["num_heads"],
                                  mlp_ratio=case["mlp_ratio"], num_classes=0)
        kw["pretrained"] = False
        return cls(**kw)
    return build


def fake_distributed():
    """VQModel's training-mode quantizer all-reduces its usage counts; one process, no group."""
    import torch.distributed as tdist

    class Done:
        def wait(self):
            pass
    tdist.all_reduce = lambda t, async_op=False: Done()
    tdist.get_world_size = lambda: 1
    tdist.get_rank = lambda: 0


def randomize(model):
    """Upstream's init (LayerScale 1e-5, latent/mask tokens 1e-6) makes the blocks nearly the identity and
    would hide wiring mistakes: replace every float tensor by seeded noise of a sensible scale."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(".gamma"):
                p.copy_(0.5 + 0.2 * torch.randn_like(p))
            elif "norm" in name and name.endswith("weight"):
                p.copy_(1 + 0.1 * torch.randn_like(p))
            elif p.dim() >= 2 and name.endswith("weight") and "embedding" not in name and "lvl_embed" not in name:
                fan_in = p[0].numel()
                p.copy_(torch.randn_like(p) / fan_in ** 0.5)
            elif name.endswith("bias"):
                p.copy_(0.05 * torch.randn_like(p))
            else:
                p.copy_(0.3 * torch.randn_like(p))


def run_case(xq, name, case):
    torch.manual_seed(1234)
    xq.DINOv2Encoder = small_vit(sys.modules["tokenizer.tokenizer_image.dino_enc.dinov2"].DINOv2Encoder, case)
    xq.DINOv2Decoder = small_vit(sys.modules["tokenizer.tokenizer_image.dino_enc.dinov2"].DINOv2Decoder, case)
    g = case["image_size"] // case["patch_size"]
    args = xq.ModelArgs(codebook_size=case["codebook_size"], codebook_embed_dim=case["codebook_embed_dim"],
                        codebook_l2_norm=True, commit_loss_beta=0.25, v_patch_nums=[g], enc_type="dinov2",
                        dec_type="dinov2", semantic_guide="none", detail_guide="none",
                        num_latent_tokens=case["num_latent_tokens"], abs_pos_embed=True, product_quant=1)
    model = xq.VQModel(args)
    randomize(model)
    N, L = g * g, case["num_latent_tokens"]
    enc_lvl = torch.cat([torch.zeros(N + 1, dtype=torch.long), torch.ones(L, dtype=torch.long)]).view(1, -1)
    dec_lvl = torch.cat([torch.zeros(N + 1, dtype=torch.long), torch.ones(L + 1, dtype=torch.long)]).view(1, -1)
    if case["fix_lvl"]:
        model.encoder.lvl1LC = enc_lvl
        model.decoder.lvl1LC = dec_lvl
    else:
        assert torch.equal(model.encoder.lvl1LC, enc_lvl) and torch.equal(model.decoder.lvl1LC, dec_lvl)

    B = case["batch"]
    x = torch.rand(B, 3, case["image_size"], case["image_size"]) * 2 - 1
    model.train()  # drop-path 0, no dropout: deterministic; the quantizer's loss path needs training mode
    latents = model.encode(x)
    quant, _usage, vq_loss, commit_loss, _ = model.quantize(latents)
    # beta 0: upstream's add_perturbation returns the clean quant for every sample
    recon, (vq2, commit2, _, _), _, _, _ = model(x, 0, 1.0, 0.0, DELTA)
    loss = (recon ** 2).mean() + vq2 + commit2
    grads = torch.autograd.grad(loss, [dict(model.named_parameters())[k] for k in GRAD_PARAMS])
    with torch.no_grad():
        codes = model.quantize.f_to_idxBl_or_fhat(latents, to_fhat=False, v_patch_nums=None)[0].view(B, L)
        recon_codes = model.decode_tokens(codes.view(-1), shape=(B, case["codebook_embed_dim"], g, g))
        # the δ nearest codes, as latent_perturbation.py ranks them
        z = torch.nn.functional.normalize(latents.permute(0, 2, 3, 1).reshape(-1, case["codebook_embed_dim"]), dim=-1)
        e = torch.nn.functional.normalize(model.quantize.embedding.weight, dim=-1)
        d = (z ** 2).sum(1, keepdim=True) + (e ** 2).sum(1) - 2 * z @ e.t()
        nearest = torch.topk(d, DELTA, dim=1, largest=False).indices.view(B, L, DELTA)

    out = os.path.join(OUT, name)
    os.makedirs(out, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    # a converted released checkpoint also holds the frozen teacher: the loader must skip it
    state["semantic_model.cls_token"] = torch.zeros(1, 1, 4)
    save_file(state, os.path.join(out, "weights.safetensors"))
    arrays = dict(images=x, latents=latents, codes=codes.int(), quant=quant, recon=recon,
                  nearest=nearest.int(), losses=torch.stack([vq_loss, commit_loss, loss]))
    for k, v in arrays.items():
        np.save(os.path.join(out, f"{k}.npy"), v.detach().numpy())
    for k, gr in zip(GRAD_PARAMS, grads):
        np.save(os.path.join(out, f"grad.{k}.npy"), gr.numpy())
    config = {k: case[k] for k in ("image_size", "patch_size", "width", "depth", "num_heads", "mlp_ratio",
                                    "codebook_size", "codebook_embed_dim", "num_latent_tokens")}
    config.update(drop_path_rate=0.0, layer_scale_init=1e-5, commit_loss_beta=0.25)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(dict(config=config, delta=DELTA, lvl1LC_replaced=case["fix_lvl"], grad_params=GRAD_PARAMS,
                       loss="mean(recon²) + vq_loss + commit_loss", torch=torch.__version__), f, indent=2)
    top2 = torch.topk(d, 2, dim=1, largest=False).values
    print(f"wrote {out}: recon |max| {float(recon.abs().max()):.3f}, {len(codes.unique())} distinct codes of {codes.numel()}, "
          f"min nearest-code margin {float((top2[:, 1] - top2[:, 0]).min()):.2e}, "
          f"decode_tokens vs forward recon max diff {float((recon - recon_codes).abs().max()):.2e}")


def paper_state_dict_layout(xq):
    """Names, dtypes and shapes of the paper-size VQModel state dict (ViT-B/16 at 256 px, codebook 4096×64,
    DINOv2 semantic teacher), i.e. what a converted main-train.pt / post-train.pt entry holds. Built with
    pretrained=False (the layout is the same; timm takes num_classes=0 from the lvd142m config either way)."""
    dinov2 = sys.modules["tokenizer.tokenizer_image.dino_enc.dinov2"]

    def no_download(cls):
        def build(**kw):
            kw["pretrained"] = False
            return cls(**kw)
        return build
    xq.DINOv2Encoder = no_download(dinov2.DINOv2Encoder)
    xq.DINOv2Decoder = no_download(dinov2.DINOv2Decoder)
    create = xq.create_model
    xq.create_model = lambda *a, **kw: create(*a, **dict(kw, pretrained=False))
    args = xq.ModelArgs(codebook_size=4096, codebook_embed_dim=64, v_patch_nums=[16], enc_type="dinov2",
                        dec_type="dinov2", semantic_guide="dinov2", detail_guide="none", num_latent_tokens=256,
                        encoder_model="vit_base_patch14_dinov2.lvd142m", decoder_model="vit_base_patch14_dinov2.lvd142m",
                        abs_pos_embed=True, product_quant=1)
    with torch.no_grad():
        model = xq.VQModel(args)
    layout = {k: [str(v.dtype).replace("torch.", ""), list(v.shape)] for k, v in model.state_dict().items()}
    with open(os.path.join(OUT, "paper-state-dict.json"), "w") as f:
        json.dump(layout, f, indent=0, separators=(",", ":"))
    print(f"wrote paper-state-dict.json: {len(layout)} entries")


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("ROBUSTOK_UPSTREAM_DIR")
    if not root:
        sys.exit("usage: make_fixture.py <RobusTok checkout> (or ROBUSTOK_UPSTREAM_DIR)")
    warnings.filterwarnings("ignore", message="Overwriting .* in registry")
    fake_distributed()
    xq = upstream_modules(root)
    for name, case in CASES.items():
        run_case(xq, name, case)
    paper_state_dict_layout(xq)


if __name__ == "__main__":
    main()
