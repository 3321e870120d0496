#!/usr/bin/python3
"""PyTorch side of the training-throughput benchmark: the same Llama step as Lathe's.

Random weights for a given config, one batch of B x T random tokens, LoRA (r, alpha on the given
target modules, base frozen) or full fine-tuning; times forward + backward with autograd (no
optimizer, as on the Lathe side) and prints one JSON line: median and all step times, tokens/s,
peak RSS.

usage: torch-train-step.py --config JSON --batch B --seq T --method lora|full --targets q_proj,v_proj
                           --rank R --threads N --steps S --warmup W
"""
import argparse
import json
import math
import resource
import time

import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--seq", type=int, required=True)
    ap.add_argument("--method", choices=["lora", "full"], required=True)
    ap.add_argument("--targets", default="q_proj,v_proj")
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    c = json.loads(a.config)
    D, F, L, H = c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"], c["num_attention_heads"]
    Hkv = c.get("num_key_value_heads", H)
    hd = D // H
    V = c["vocab_size"]
    eps = c.get("rms_norm_eps", 1e-5)
    full = a.method == "full"
    targets = a.targets.split(",")

    def p(*shape):
        return (torch.randn(*shape) * 0.02).requires_grad_(full)

    W = {"embed": p(V, D), "norm": torch.ones(D).requires_grad_(full), "head": p(V, D)}
    shapes = {"q_proj": (H * hd, D), "k_proj": (Hkv * hd, D), "v_proj": (Hkv * hd, D), "o_proj": (D, H * hd),
              "gate_proj": (F, D), "up_proj": (F, D), "down_proj": (D, F)}
    layers = []
    lora = []
    for _ in range(L):
        layer = {k: p(*s) for k, s in shapes.items()}
        layer["ln1"] = torch.ones(D).requires_grad_(full)
        layer["ln2"] = torch.ones(D).requires_grad_(full)
        if not full:
            for t in targets:
                o, i = shapes[t]
                A = (torch.rand(a.rank, i) * 2 - 1) / math.sqrt(i)
                B = torch.randn(o, a.rank) * 0.01
                layer[t + ".lora"] = (A.requires_grad_(True), B.requires_grad_(True))
                lora += [A, B]
        layers.append(layer)
    scale = 2.0

    def lin(x, layer, name):
        y = x @ layer[name].T
        if name + ".lora" in layer:
            A, B = layer[name + ".lora"]
            y = y + scale * ((x @ A.T) @ B.T)
        return y

    def rms(x, w):
        return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))

    T = a.seq
    inv = 1.0 / (c.get("rope_theta", 10000.0) ** (torch.arange(0, hd, 2).float() / hd))
    ang = torch.arange(T).float()[:, None] * inv[None]
    cos, sin = torch.cat([ang, ang], -1).cos(), torch.cat([ang, ang], -1).sin()
    mask = torch.full((T, T), float("-inf")).triu(1)

    def rope(x):
        x1, x2 = x[..., : hd // 2], x[..., hd // 2:]
        return x * cos + torch.cat([-x2, x1], -1) * sin

    ids = torch.randint(0, V, (a.batch, T))
    labels = torch.randint(0, V, (a.batch, T))
    Bn = a.batch

    def step():
        x = W["embed"][ids]
        for ly in layers:
            h = rms(x, ly["ln1"])
            q = lin(h, ly, "q_proj").view(Bn, T, H, hd).transpose(1, 2)
            k = lin(h, ly, "k_proj").view(Bn, T, Hkv, hd).transpose(1, 2)
            v = lin(h, ly, "v_proj").view(Bn, T, Hkv, hd).transpose(1, 2)
            q, k = rope(q), rope(k)
            k = k.repeat_interleave(H // Hkv, 1)
            v = v.repeat_interleave(H // Hkv, 1)
            s = (q @ k.transpose(-1, -2)) / math.sqrt(hd) + mask
            o = (torch.softmax(s, -1) @ v).transpose(1, 2).reshape(Bn, T, D)
            x = x + lin(o, ly, "o_proj")
            h = rms(x, ly["ln2"])
            x = x + lin(torch.nn.functional.silu(lin(h, ly, "gate_proj")) * lin(h, ly, "up_proj"), ly, "down_proj")
        logits = rms(x, W["norm"]) @ W["head"].T
        loss = torch.nn.functional.cross_entropy(logits.view(-1, V), labels.view(-1), reduction="sum") / (Bn * T)
        loss.backward()
        for t in (lora if not full else [w for w in W.values()] + [w for ly in layers for w in ly.values() if torch.is_tensor(w)]):
            t.grad = None
        return float(loss)

    times = []
    for i in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        step()
        if i >= a.warmup:
            times.append(time.perf_counter() - t0)
    times.sort()
    median = times[len(times) // 2]
    print(json.dumps({
        "method": a.method,
        "median_s": median,
        "times_s": times,
        "tokens_per_s": Bn * T / median,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }))


if __name__ == "__main__":
    main()
