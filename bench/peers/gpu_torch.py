#!/usr/bin/env python3
"""Peer for bench/run gpu: what PyTorch does on the same GPU, side by side with Tessera.

  gpu_torch.py matmul 1024 2048 ...     cuBLAS fp32 matmul TFLOP/s, TF32 off ("matmul N tflops")
  gpu_torch.py train STEPS               nanoGPT's GPU Tiny-Shakespeare model (6 layers, 6 heads, 384 wide,
                                         block 256, batch 64, vocab 65, no dropout) in eager fp32 with
                                         AdamW; prints "train tokens_per_s X ms_per_iter Y"
"""
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
dev = "cuda"


def matmul(sizes):
    for n in sizes:
        a = torch.randn(n, n, device=dev)
        b = torch.randn(n, n, device=dev)
        for _ in range(3):
            a @ b
        torch.cuda.synchronize()
        reps = max(3, int(2e11 / (2 * n**3)))
        best = float("inf")
        for _ in range(5):
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            for _ in range(reps):
                a @ b
            torch.cuda.synchronize()
            best = min(best, (time.perf_counter() - t0) / reps)
        print(f"matmul {n} tflops {2 * n**3 / best / 1e12:.3f}", flush=True)


class Block(nn.Module):
    def __init__(self, c, h):
        super().__init__()
        self.h = h
        self.ln1, self.ln2 = nn.LayerNorm(c, bias=False), nn.LayerNorm(c, bias=False)
        self.q, self.k, self.v, self.proj = (nn.Linear(c, c, bias=False) for _ in range(4))
        self.fc, self.out = nn.Linear(c, 4 * c, bias=False), nn.Linear(4 * c, c, bias=False)

    def forward(self, x):
        b, t, c = x.shape
        y = self.ln1(x)
        q, k, v = (m(y).view(b, t, self.h, c // self.h).transpose(1, 2) for m in (self.q, self.k, self.v))
        att = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(att.transpose(1, 2).reshape(b, t, c))
        return x + self.out(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))


class Gpt(nn.Module):
    def __init__(self, vocab=65, block=256, layers=6, heads=6, c=384):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, c), nn.Embedding(block, c)
        self.blocks = nn.ModuleList(Block(c, heads) for _ in range(layers))
        self.lnf = nn.LayerNorm(c, bias=False)

    def forward(self, ids, targets):
        x = self.wte(ids) + self.wpe(torch.arange(ids.shape[1], device=ids.device))
        for b in self.blocks:
            x = b(x)
        logits = self.lnf(x) @ self.wte.weight.T
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def train(steps):
    torch.manual_seed(0)
    model = Gpt().to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.99), weight_decay=0.1)
    batch, block = 64, 256
    ids = torch.randint(0, 65, (steps + 5, batch, block + 1), device=dev)
    for i in range(steps + 5):
        if i == 5:
            torch.cuda.synchronize()
            t0 = time.perf_counter()
        loss = model(ids[i, :, :-1], ids[i, :, 1:])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    torch.cuda.synchronize()
    dt = (time.perf_counter() - t0) / steps
    print(f"train tokens_per_s {batch * block / dt:.1f} ms_per_iter {dt * 1e3:.2f}", flush=True)


if __name__ == "__main__":
    print("device", torch.cuda.get_device_name(0), "torch", torch.__version__, flush=True)
    if sys.argv[1] == "matmul":
        matmul([int(a) for a in sys.argv[2:]])
    else:
        train(int(sys.argv[2]))
