#!/usr/bin/env python3
"""Writes the golden dumps that model/src/test/.../GoldenParityTest compares Tessera's GPT with.

For each tiny config it builds the same GPT in PyTorch (parameter names as Tessera's), draws the
parameters and a batch from a fixed torch seed, runs forward and backward in float64 (so the dump
is exact to well below the 1e-4 tolerance), and writes one safetensors file (float32) holding:
  param.<name>   the parameters          ids, targets   the batch (as floats)
  logits, loss   the forward results     grad.<name>    d(mean loss)/d(param)

Needs PyTorch (Debian: apt-get install python3-torch). Run from the repository root:
    /usr/bin/python3 tools/golden/make_golden.py
The dumps are committed, so the tests need no PyTorch.
"""
import json
import math
import pathlib
import struct

import torch
import torch.nn.functional as F

OUT = pathlib.Path(__file__).resolve().parent
EPS = 1e-5

CONFIGS = {
    # GPT-2 style: LayerNorm with bias, GELU MLP, learned positions, biases everywhere.
    "gpt2": dict(vocab=11, block=8, layers=2, heads=2, embd=16, bias=True, norm="layernorm", mlp="gelu",
                 positions="learned", hidden=64, rope_base=10000.0, batch=2, seq=8),
    # Llama style: RMSNorm, SwiGLU, rotary positions, no biases; a shorter sequence than the block.
    "llama": dict(vocab=13, block=8, layers=2, heads=2, embd=16, bias=False, norm="rmsnorm", mlp="swiglu",
                  positions="rotary", hidden=48, rope_base=10000.0, batch=2, seq=6),
}


def params_for(c, gen):
    p = {}

    def normal(name, *shape, std=0.02):
        # Larger than training init so every path carries signal in the test.
        p[name] = torch.randn(*shape, generator=gen, dtype=torch.float64) * std * 10

    def around_one(name, n):
        p[name] = 1.0 + 0.1 * torch.randn(n, generator=gen, dtype=torch.float64)

    def small(name, n):
        p[name] = 0.1 * torch.randn(n, generator=gen, dtype=torch.float64)

    e, h = c["embd"], c["hidden"]
    normal("wte", c["vocab"], e)
    if c["positions"] == "learned":
        normal("wpe", c["block"], e)
    for i in range(c["layers"]):
        b = f"h.{i}"
        for n in ("norm1", "norm2"):
            around_one(f"{b}.{n}.weight", e)
            if c["bias"] and c["norm"] == "layernorm":
                small(f"{b}.{n}.bias", e)
        for n in ("q", "k", "v", "proj"):
            normal(f"{b}.attn.{n}.weight", e, e)
            if c["bias"]:
                small(f"{b}.attn.{n}.bias", e)
        ups = ["fc"] if c["mlp"] == "gelu" else ["gate", "up"]
        for n in ups:
            normal(f"{b}.mlp.{n}.weight", h, e)
            if c["bias"]:
                small(f"{b}.mlp.{n}.bias", h)
        normal(f"{b}.mlp.proj.weight", e, h)
        if c["bias"]:
            small(f"{b}.mlp.proj.bias", e)
    around_one("norm_f.weight", e)
    if c["bias"] and c["norm"] == "layernorm":
        small("norm_f.bias", e)
    return p


def norm(c, p, name, x):
    w = p[name + ".weight"]
    if c["norm"] == "layernorm":
        return F.layer_norm(x, (x.shape[-1],), w, p.get(name + ".bias"), EPS)
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS) * w


def linear(p, name, x):
    return F.linear(x, p[name + ".weight"], p.get(name + ".bias"))


def rope(c, x):
    # x [B, T, H, D]; interleaved pairs (2i, 2i+1) rotated by t * base^(-2i/D).
    b, t, h, d = x.shape
    freqs = torch.tensor([c["rope_base"] ** (-2.0 * i / d) for i in range(d // 2)], dtype=torch.float32)
    pos = torch.arange(t, dtype=torch.float32)
    theta = (pos[:, None] * freqs[None, :]).to(torch.float64)  # float32 product, as Tessera computes it
    cos, sin = theta.cos()[None, :, None, :], theta.sin()[None, :, None, :]
    a, bb = x[..., 0::2], x[..., 1::2]
    out = torch.empty_like(x)
    out[..., 0::2] = a * cos - bb * sin
    out[..., 1::2] = a * sin + bb * cos
    return out


def forward(c, p, ids):
    b, t = ids.shape
    heads, d = c["heads"], c["embd"] // c["heads"]
    x = p["wte"][ids]
    if c["positions"] == "learned":
        x = x + p["wpe"][:t][None]
    for i in range(c["layers"]):
        pre = f"h.{i}"
        hn = norm(c, p, pre + ".norm1", x)
        q = linear(p, pre + ".attn.q", hn).view(b, t, heads, d)
        k = linear(p, pre + ".attn.k", hn).view(b, t, heads, d)
        v = linear(p, pre + ".attn.v", hn).view(b, t, heads, d)
        if c["positions"] == "rotary":
            q, k = rope(c, q), rope(c, k)
        att = (q.transpose(1, 2) @ k.transpose(1, 2).transpose(-1, -2)) / math.sqrt(d)
        mask = torch.triu(torch.ones(t, t, dtype=torch.bool), 1)
        att = att.masked_fill(mask, float("-inf")).softmax(-1)
        y = (att @ v.transpose(1, 2)).transpose(1, 2).reshape(b, t, heads * d)
        x = x + linear(p, pre + ".attn.proj", y)
        hn = norm(c, p, pre + ".norm2", x)
        if c["mlp"] == "gelu":
            m = F.gelu(linear(p, pre + ".mlp.fc", hn), approximate="tanh")
        else:
            m = F.silu(linear(p, pre + ".mlp.gate", hn)) * linear(p, pre + ".mlp.up", hn)
        x = x + linear(p, pre + ".mlp.proj", m)
    x = norm(c, p, "norm_f", x)
    return x @ p["wte"].T


def write_safetensors(path, tensors, meta):
    header = {"__metadata__": meta}
    blobs, offset = [], 0
    for name, t in tensors.items():
        data = t.detach().to(torch.float32).contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for blob in blobs:
            f.write(blob)


def main():
    for name, c in CONFIGS.items():
        gen = torch.Generator().manual_seed(1234)
        p = params_for(c, gen)
        # Round the parameters to float32 first: Tessera starts from exactly these values.
        p = {k: v.to(torch.float32).to(torch.float64).requires_grad_() for k, v in p.items()}
        ids = torch.randint(0, c["vocab"], (c["batch"], c["seq"]), generator=gen)
        targets = torch.randint(0, c["vocab"], (c["batch"], c["seq"]), generator=gen)
        logits = forward(c, p, ids)
        loss = F.cross_entropy(logits.view(-1, c["vocab"]), targets.view(-1))
        loss.backward()
        out = {f"param.{k}": v for k, v in p.items()}
        out["ids"] = ids.to(torch.float32)
        out["targets"] = targets.to(torch.float32)
        out["logits"] = logits
        out["loss"] = loss.reshape(1)
        out.update({f"grad.{k}": v.grad for k, v in p.items()})
        meta = {k: str(v) for k, v in c.items()}
        meta["torch"] = torch.__version__
        write_safetensors(OUT / f"{name}.safetensors", out, meta)
        print(f"{name}: loss {loss.item():.6f}, {len(p)} parameters -> {OUT / (name + '.safetensors')}")


if __name__ == "__main__":
    main()
