#!/usr/bin/python3
"""PyTorch reference for `lathe grads`: loss and gradients of a Llama-family causal LM.

An independent implementation for tests: a plain Llama forward written in torch (Hugging Face
semantics: rotate-half RoPE, RMSNorm in fp32, grouped-query attention, SwiGLU, labels shifted
inside the loss), weights read from safetensors with struct + numpy, optional PEFT LoRA
adapter, autograd for the gradients. Writes the gradients under their PEFT / HF names to a
safetensors file with the loss in its metadata.

With --dpo SPEC (JSON: beta, loss_type sigmoid|ipo, label_smoothing, weights [P], reference
[2P] summed log-probs; rows 0..P-1 chosen, P..2P-1 rejected) the loss is DPO's instead, and its
metrics go into the metadata. The metadata always holds each row's summed target log-probs.

usage: llama-reference.py --model DIR [--adapter DIR] --tokens FILE --out FILE [--threads N]
                          [--dpo SPEC]
"""
import argparse
import json
import math
import os
import struct

import numpy as np
import torch

DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I64": np.int64}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    header.pop("__metadata__", None)
    out = {}
    for name, e in header.items():
        begin, end = e["data_offsets"]
        raw = data[8 + n + begin : 8 + n + end]
        if e["dtype"] == "BF16":
            arr = (np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            arr = np.frombuffer(raw, dtype=DTYPES[e["dtype"]])
        out[name] = torch.from_numpy(arr.astype(np.float32).reshape(e["shape"]).copy())
    return out


def write_safetensors(path, tensors, metadata):
    header = {"__metadata__": metadata}
    offset = 0
    blobs = []
    for name, t in tensors.items():
        b = t.detach().contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def load_batch(path):
    """Returns input_ids [B,T], labels [B,T] (unshifted, -100 ignored), valid [B,T]."""
    spec = json.load(open(path))
    if isinstance(spec, list):
        rows = spec
        labels = [list(r) for r in rows]
    else:
        rows = spec["input_ids"]
        if "labels" in spec:
            labels = spec["labels"]
        else:
            labels = [[t if m else -100 for t, m in zip(r, mask)] for r, mask in zip(rows, spec["loss_mask"])]
    width = max(len(r) for r in rows)
    ids = torch.zeros(len(rows), width, dtype=torch.long)
    lab = torch.full((len(rows), width), -100, dtype=torch.long)
    valid = torch.zeros(len(rows), width, dtype=torch.bool)
    for b, (r, l) in enumerate(zip(rows, labels)):
        ids[b, : len(r)] = torch.tensor(r)
        lab[b, : len(l)] = torch.tensor(l)
        valid[b, : len(r)] = True
    return ids, lab, valid


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--adapter")
    ap.add_argument("--tokens", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--dpo")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    cfg = json.load(open(os.path.join(args.model, "config.json")))
    W = read_safetensors(os.path.join(args.model, "model.safetensors"))
    D = cfg["hidden_size"]
    H = cfg["num_attention_heads"]
    Hkv = cfg.get("num_key_value_heads", H)
    hd = cfg.get("head_dim", D // H)
    L = cfg["num_hidden_layers"]
    eps = cfg.get("rms_norm_eps", 1e-6)
    theta = cfg.get("rope_theta", 10000.0)
    tied = cfg.get("tie_word_embeddings", False)

    trainable = {}
    lora = {}
    scale = 0.0
    if args.adapter:
        acfg = json.load(open(os.path.join(args.adapter, "adapter_config.json")))
        scale = acfg["lora_alpha"] / (math.sqrt(acfg["r"]) if acfg.get("use_rslora") else acfg["r"])
        for name, t in read_safetensors(os.path.join(args.adapter, "adapter_model.safetensors")).items():
            t.requires_grad_(True)
            trainable[name] = t
            module = name[len("base_model.model.") :].rsplit(".lora_", 1)[0]
            lora.setdefault(module, {})["A" if ".lora_A." in name else "B"] = t
    else:
        for name, t in W.items():
            if tied and name == "lm_head.weight":
                continue
            t.requires_grad_(True)
            trainable[name] = t

    def linear(x, module):
        y = x @ W[module + ".weight"].T
        if module + ".bias" in W:
            y = y + W[module + ".bias"]
        if module in lora:
            y = y + scale * ((x @ lora[module]["A"].T) @ lora[module]["B"].T)
        return y

    def rmsnorm(x, w):
        return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))

    ids, labels, valid = load_batch(args.tokens)
    B, T = ids.shape
    inv = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd))
    ang = torch.arange(T).float()[:, None] * inv[None, :]
    emb = torch.cat([ang, ang], -1)
    cos, sin = emb.cos(), emb.sin()

    def rope(x):  # [B, h, T, hd], rotate-half convention
        x1, x2 = x[..., : hd // 2], x[..., hd // 2 :]
        return x * cos + torch.cat([-x2, x1], -1) * sin

    causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
    mask = causal[None] & valid[:, None, :] & valid[:, :, None]
    mask = mask | torch.eye(T, dtype=torch.bool)[None]

    x = W["model.embed_tokens.weight"][ids]
    for l in range(L):
        p = f"model.layers.{l}."
        h = rmsnorm(x, W[p + "input_layernorm.weight"])
        q = linear(h, p + "self_attn.q_proj").view(B, T, H, hd).transpose(1, 2)
        k = linear(h, p + "self_attn.k_proj").view(B, T, Hkv, hd).transpose(1, 2)
        v = linear(h, p + "self_attn.v_proj").view(B, T, Hkv, hd).transpose(1, 2)
        q, k = rope(q), rope(k)
        k = k.repeat_interleave(H // Hkv, dim=1)
        v = v.repeat_interleave(H // Hkv, dim=1)
        s = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
        s = s.masked_fill(~mask[:, None], float("-inf"))
        a = torch.softmax(s, -1) @ v
        x = x + linear(a.transpose(1, 2).reshape(B, T, H * hd), p + "self_attn.o_proj")
        h = rmsnorm(x, W[p + "post_attention_layernorm.weight"])
        g = linear(h, p + "mlp.gate_proj")
        x = x + linear(torch.nn.functional.silu(g) * linear(h, p + "mlp.up_proj"), p + "mlp.down_proj")
    x = rmsnorm(x, W["model.norm.weight"])
    head = W["model.embed_tokens.weight"] if tied else W["lm_head.weight"]
    logits = x @ head.T
    shift_logits = logits[:, :-1].reshape(-1, logits.shape[-1])
    shift_labels = labels[:, 1:].reshape(-1)
    count = int((shift_labels != -100).sum())
    token_nll = torch.nn.functional.cross_entropy(shift_logits, shift_labels, ignore_index=-100, reduction="none")
    row_logps = -token_nll.view(B, T - 1).sum(1)
    meta = {"sequence_log_probs": json.dumps([float(v) for v in row_logps])}
    if args.dpo:
        spec = json.load(open(args.dpo))
        P = B // 2
        beta, eps = spec["beta"], spec.get("label_smoothing", 0.0)
        ref = torch.tensor(spec["reference"], dtype=torch.float32)
        pol = row_logps
        if spec["loss_type"] == "ipo":  # TRL: IPO on mean per-token log-probs
            n = (labels[:, 1:] != -100).sum(1).float()
            pol, ref = pol / n, ref / n
        d = (pol[:P] - ref[:P]) - (pol[P:] - ref[P:])
        if spec["loss_type"] == "ipo":
            losses = (d - 1 / (2 * beta)) ** 2
        else:
            ls = torch.nn.functional.logsigmoid
            losses = -(1 - eps) * ls(beta * d) - eps * ls(-beta * d)
        w = torch.tensor(spec["weights"], dtype=torch.float32)
        loss = (losses * w).sum() / w.sum()
        rc, rr = beta * (pol[:P] - ref[:P]).detach(), beta * (pol[P:] - ref[P:]).detach()
        meta["metrics"] = json.dumps({
            "loss": float(loss), "rewards/chosen": float(rc.mean()), "rewards/rejected": float(rr.mean()),
            "rewards/accuracies": float((rc > rr).float().mean()), "rewards/margins": float((rc - rr).mean()),
            "logps/chosen": float(pol[:P].mean()), "logps/rejected": float(pol[P:].mean()),
        })
    else:
        loss = token_nll.sum() / count
    loss.backward()
    grads = {name: t.grad if t.grad is not None else torch.zeros_like(t) for name, t in trainable.items()}
    write_safetensors(args.out, grads, {"loss": repr(float(loss)), "tokens": str(count), **meta})


if __name__ == "__main__":
    main()
