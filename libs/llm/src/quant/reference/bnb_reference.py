#!/usr/bin/env python3
"""Independent reference for Lathe's quantization tests (numpy + torch; run with /usr/bin/python3).

Written from the published description of bitsandbytes' blockwise quantization (Dettmers et al.
2022 "8-bit Optimizers via Block-wise Quantization", 2023 "QLoRA") and the Transformers
serialization, not from Lathe's TypeScript:

* absmax per block of `blocksize` elements; values are scaled by the float32 reciprocal of the
  absmax and take the nearest code, found as in the bitsandbytes kernels by comparing against
  float32 midpoints of neighbouring codes (NF4), against the kernel's decimal thresholds on |x|
  (FP4), or by the kernel's binary search (8-bit dynamic map: exact ties stay on the even index);
* two codes per byte, the first element in the high nibble; the tail is padded with zeros;
* double quantization: absmax minus its mean, 8-bit blockwise (256) with the dynamic map;
* a block whose absmax is 0 normalizes to NaN (0 * inf), which every comparison rejects: code 0.

Commands (JSON on stdout):
  check DIR_FP32 DIR_QUANT ...  re-quantize every quantized weight from the fp32 original and
                                compare each stored entry byte for byte (one report per pair)
  perplexity DIR TOKENS.json    mean next-token NLL and perplexity with a plain torch Llama
  greedy DIR N                  greedy continuation of [BOS] (and the first step's logits)
  write DIR_FP32 OUT REF.st     write a "bnb-4bit" checkpoint the way published ones look (bf16
                                base, NF4 + double quantization, two shards and an index) and
                                the reference's own fp32 dequantization of it to REF.st
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch

NF4 = np.array(
    [-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
     -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
     0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
     0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0], dtype=np.float32)

# FP4 (sign, 2-bit exponent, 1-bit mantissa, bias 3) in bit-pattern order, divided by 12 in float32.
FP4 = (torch.tensor([0, 0.0625, 8.0, 12.0, 4.0, 6.0, 2.0, 3.0,
                     -0.0, -0.0625, -8.0, -12.0, -4.0, -6.0, -2.0, -3.0]) / 12.0).numpy()
# The kernel's thresholds on |x| between consecutive FP4 magnitudes (decimal literals, float32).
FP4_THRESHOLDS = np.array([0.00260417, 0.0859375, 0.20833333, 0.29166667, 0.4166667, 0.583333,
                           0.8333333], dtype=np.float32)

DTYPES = {'F32': np.float32, 'F16': np.float16, 'U8': np.uint8, 'I8': np.int8, 'F64': np.float64}


def dynamic_map():
    """Signed dynamic map: for exponent i, 2^i linear fractions in [0.1, 1] times 10^(i-6)."""
    data = []
    for i in range(7):
        bounds = torch.linspace(0.1, 1, 2 ** i + 1, dtype=torch.float32)
        means = (bounds[:-1] + bounds[1:]) / 2.0
        data += ((10 ** (-6 + i)) * means).tolist()
        data += (-(10 ** (-6 + i)) * means).tolist()
    data += [0.0, 1.0]
    data.sort()
    return np.array(data, dtype=np.float32)


def read_safetensors(path):
    with open(path, 'rb') as f:
        raw = f.read()
    (n,) = struct.unpack('<Q', raw[:8])
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, e in header.items():
        if name == '__metadata__':
            continue
        a, b = e['data_offsets']
        buf = raw[8 + n + a:8 + n + b]
        if e['dtype'] == 'BF16':
            arr = (np.frombuffer(buf, np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            arr = np.frombuffer(buf, DTYPES[e['dtype']])
        out[name] = (e['dtype'], list(e['shape']), arr.reshape(e['shape']) if e['shape'] else arr)
    return out


def read_model(d):
    single = os.path.join(d, 'model.safetensors')
    if os.path.exists(single):
        return read_safetensors(single)
    with open(os.path.join(d, 'model.safetensors.index.json')) as f:
        shards = sorted(set(json.load(f)['weight_map'].values()))
    out = {}
    for s in shards:
        out.update(read_safetensors(os.path.join(d, s)))
    return out


def blockwise_normalize(x, blocksize):
    """Pads x to whole blocks with zeros; returns (absmax per block, x * float32(1/absmax))."""
    n = x.size
    nb = -(-n // blocksize)
    padded = np.zeros(nb * blocksize, np.float32)
    padded[:n] = x
    blocks = padded.reshape(nb, blocksize)
    absmax = np.abs(blocks).max(axis=1).astype(np.float32)
    with np.errstate(divide='ignore', invalid='ignore'):
        inv = (np.float32(1.0) / absmax).astype(np.float32)
        normed = (blocks * inv[:, None]).astype(np.float32).reshape(-1)
    return absmax, normed


def nf4_codes(x):
    mids = ((NF4[1:] + NF4[:-1]) / np.float32(2)).astype(np.float32)
    codes = np.searchsorted(mids, x, side='left')  # goes up only when strictly past a midpoint
    codes[np.isnan(x)] = 0
    return codes.astype(np.uint8)


def fp4_codes(x):
    ascending = np.argsort(FP4[:8], kind='stable')  # positive codes by value
    rank = np.searchsorted(FP4_THRESHOLDS, np.abs(x), side='left')
    codes = ascending[rank] | np.where(x < 0, 8, 0)
    codes[np.isnan(x)] = 0
    return codes.astype(np.uint8)


def dynamic_codes(code, x):
    mids = ((code[1:] + code[:-1]) * np.float32(0.5)).astype(np.float32)
    idx = np.searchsorted(mids, x, side='left')
    # An exact tie sits on mids[idx]; the kernel's search keeps the even-indexed neighbour.
    tie = (idx < mids.size) & (x == mids[np.minimum(idx, mids.size - 1)])
    idx = np.where(tie & (idx % 2 == 1), idx + 1, idx)
    idx[np.isnan(x)] = 0
    return idx.astype(np.uint8)


def quantize_4bit(w, qtype, blocksize, nested):
    x = w.astype(np.float32).reshape(-1)
    n = x.size
    absmax, normed = blockwise_normalize(x, blocksize)
    codes = (nf4_codes if qtype == 'nf4' else fp4_codes)(normed)[: n + n % 2]
    packed = ((codes[0::2] << 4) | codes[1::2]).astype(np.uint8)
    out = {'': packed, 'quant_map': (NF4 if qtype == 'nf4' else FP4).astype(np.float32)}
    state = {'quant_type': qtype, 'blocksize': blocksize,
             'dtype': 'float32', 'shape': list(w.shape)}
    if nested:
        offset = np.float32(absmax.astype(np.float64).mean())
        centred = (absmax - offset).astype(np.float32)
        dmap = dynamic_map()
        absmax2, normed2 = blockwise_normalize(centred, 256)
        out['absmax'] = dynamic_codes(dmap, normed2)[: absmax.size]
        out['nested_absmax'] = absmax2
        out['nested_quant_map'] = dmap
        state.update({'nested_blocksize': 256, 'nested_dtype': 'float32',
                      'nested_offset': float(offset)})
    else:
        out['absmax'] = absmax
    out['quant_state.bitsandbytes__' + qtype] = np.frombuffer(
        json.dumps(state).encode('utf-8'), np.uint8)
    return out


def quantize_int8(w):
    absmax = np.abs(w).max(axis=1).astype(np.float32)
    with np.errstate(divide='ignore'):
        scale = np.where(absmax == 0, np.float32(0), np.float32(127) / absmax).astype(np.float32)
    return np.round((w * scale[:, None]).astype(np.float32)).astype(np.int8), absmax


def dequantize_model(tensors):
    """Reference dequantization of a bitsandbytes state dict to float32 tensors."""
    out = {}
    for name, (_, _, arr) in tensors.items():
        if '.quant_state.bitsandbytes__' not in name:
            continue
        base = name.split('.quant_state.')[0]
        st = json.loads(bytes(arr.astype(np.uint8)).decode('utf-8'))
        qmap = tensors[base + '.quant_map'][2]
        absmax = tensors[base + '.absmax'][2]
        if 'nested_blocksize' in st:
            n2 = tensors[base + '.nested_absmax'][2]
            m2 = tensors[base + '.nested_quant_map'][2]
            blk = np.arange(absmax.size) // st['nested_blocksize']
            absmax = ((m2[absmax] * n2[blk]).astype(np.float32) + np.float32(st['nested_offset'])).astype(np.float32)
        packed = tensors[base][2].reshape(-1)
        codes = np.stack([packed >> 4, packed & 15], axis=1).reshape(-1)
        n = int(np.prod(st['shape']))
        vals = (qmap[codes[:n]] * absmax[np.arange(n) // st['blocksize']]).astype(np.float32)
        out[base] = vals.reshape(st['shape'])
    for name, (dtype, _, arr) in tensors.items():
        if name.endswith('.SCB'):
            base = name[:-4] + '.weight'
            out[base] = (tensors[base][2].astype(np.float32) * (arr / np.float32(127)).astype(np.float32)[:, None]).astype(np.float32)
    for name, (dtype, _, arr) in tensors.items():
        if dtype in ('F32', 'F16', 'BF16', 'F64') and name not in out and not any(
                name.endswith(s) for s in ('.absmax', '.quant_map', '.nested_absmax', '.nested_quant_map', '.SCB')):
            out[name] = arr.astype(np.float32)
    return out


def check(orig_dir, quant_dir):
    orig = read_model(orig_dir)
    quant = read_model(quant_dir)
    with open(os.path.join(quant_dir, 'config.json')) as f:
        qc = json.load(f)['quantization_config']
    report = {'tensors': [], 'kept': []}
    for name, (dtype, shape, arr) in orig.items():
        if name in quant and quant[name][0] == dtype:
            same = quant[name][2].tobytes() == arr.tobytes()
            report['kept'].append({'name': name, 'equal': same})
            continue
        entry = {'name': name, 'entries': {}}
        if qc.get('load_in_8bit'):
            codes, scb = quantize_int8(arr.astype(np.float32))
            expected = {'': codes, 'SCB': scb}
            names = {'': name, 'SCB': name[: -len('.weight')] + '.SCB'}
        else:
            expected = quantize_4bit(arr, qc['bnb_4bit_quant_type'],
                                     json.loads(bytes(quant[name + '.quant_state.bitsandbytes__' + qc['bnb_4bit_quant_type']][2]).decode())['blocksize'],
                                     qc['bnb_4bit_use_double_quant'])
            names = {k: (name + '.' + k if k else name) for k in expected}
        for key, want in expected.items():
            got = quant.get(names[key])
            if got is None:
                entry['entries'][key] = {'present': False}
                continue
            g = got[2].reshape(-1)
            w = np.asarray(want).reshape(-1)
            same_len = g.nbytes == w.nbytes
            mism = int(np.count_nonzero(g.view(np.uint8) != w.view(np.uint8))) if same_len else -1
            entry['entries'][key] = {'present': True, 'dtype': got[0], 'shape': got[1],
                                     'byte_mismatches': mism}
        report['tensors'].append(entry)
    report['dynamic_map_hex'] = dynamic_map().view(np.uint32).tolist()
    return report


def llama_logits(w, cfg, ids):
    """Plain Llama decoder in float64 (Touvron et al. 2023), HF weight names and RoPE layout."""
    t = {k: torch.from_numpy(np.ascontiguousarray(v)).double() for k, v in w.items()}
    d, h = cfg['hidden_size'], cfg['num_attention_heads']
    hkv = cfg.get('num_key_value_heads', h)
    hd = cfg.get('head_dim', d // h)
    eps = cfg.get('rms_norm_eps', 1e-6)
    T = len(ids)

    def rms(x, g):
        return x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps) * g

    inv = 1.0 / (cfg.get('rope_theta', 10000.0) ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    ang = torch.outer(torch.arange(T, dtype=torch.float64), inv)
    cos, sin = torch.cat([ang.cos(), ang.cos()], -1)[:, None], torch.cat([ang.sin(), ang.sin()], -1)[:, None]

    def rope(x):
        x1, x2 = x[..., : hd // 2], x[..., hd // 2:]
        return x * cos + torch.cat([-x2, x1], -1) * sin

    x = t['model.embed_tokens.weight'][torch.tensor(ids)]
    mask = torch.full((T, T), float('-inf'), dtype=torch.float64).triu(1)
    for l in range(cfg['num_hidden_layers']):
        p = f'model.layers.{l}.'
        a = rms(x, t[p + 'input_layernorm.weight'])
        q = rope((a @ t[p + 'self_attn.q_proj.weight'].T).view(T, h, hd))
        k = rope((a @ t[p + 'self_attn.k_proj.weight'].T).view(T, hkv, hd))
        v = (a @ t[p + 'self_attn.v_proj.weight'].T).view(T, hkv, hd)
        k = k.repeat_interleave(h // hkv, dim=1)
        v = v.repeat_interleave(h // hkv, dim=1)
        s = torch.einsum('thd,shd->hts', q, k) / math.sqrt(hd) + mask
        o = torch.einsum('hts,shd->thd', s.softmax(-1), v).reshape(T, h * hd)
        x = x + o @ t[p + 'self_attn.o_proj.weight'].T
        m = rms(x, t[p + 'post_attention_layernorm.weight'])
        g = torch.nn.functional.silu(m @ t[p + 'mlp.gate_proj.weight'].T) * (m @ t[p + 'mlp.up_proj.weight'].T)
        x = x + g @ t[p + 'mlp.down_proj.weight'].T
    x = rms(x, t['model.norm.weight'])
    head = t.get('lm_head.weight', t['model.embed_tokens.weight'])
    return x @ head.T


def load_float_model(d):
    with open(os.path.join(d, 'config.json')) as f:
        cfg = json.load(f)
    return dequantize_model(read_model(d)), cfg


def perplexity(d, tokens_path):
    w, cfg = load_float_model(d)
    with open(tokens_path) as f:
        seqs = json.load(f)
    total, count = 0.0, 0
    for ids in seqs:
        logits = llama_logits(w, cfg, ids)
        logp = logits[:-1].log_softmax(-1)
        total -= logp[torch.arange(len(ids) - 1), torch.tensor(ids[1:])].sum().item()
        count += len(ids) - 1
    return {'nll': total / count, 'perplexity': math.exp(total / count), 'tokens': count}


def greedy(d, n):
    w, cfg = load_float_model(d)
    ids = [cfg.get('bos_token_id', 1)]
    first = None
    for _ in range(n):
        logits = llama_logits(w, cfg, ids)[-1]
        if first is None:
            first = logits.tolist()
        ids.append(int(logits.argmax()))
    return {'generated_token_ids': ids[1:], 'first_logits': first}


def to_bf16_bits(x):
    """float32 -> bfloat16 bits, round to nearest even (as torch's .to(torch.bfloat16))."""
    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)


def write_safetensors(path, tensors):
    """tensors: name -> (dtype string, shape, numpy array); names sorted as the Python writer does."""
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        dtype, shape, arr = tensors[name]
        raw = np.ascontiguousarray(arr).tobytes()
        header[name] = {'dtype': dtype, 'shape': list(shape), 'data_offsets': [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    header['__metadata__'] = {'format': 'pt'}
    text = json.dumps(header, separators=(',', ':')).encode()
    text += b' ' * ((8 - len(text) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def write_bnb(orig_dir, out_dir, ref_path):
    orig = read_model(orig_dir)
    with open(os.path.join(orig_dir, 'config.json')) as f:
        cfg = json.load(f)
    os.makedirs(out_dir, exist_ok=True)
    out = {}
    for name, (dtype, shape, arr) in orig.items():
        bf16 = to_bf16_bits(arr)
        if len(shape) == 2 and name.endswith('_proj.weight'):
            # The base is bf16, so bitsandbytes quantizes the bf16 values.
            widened = (bf16.astype(np.uint32) << 16).view(np.float32).reshape(shape)
            q = quantize_4bit(widened, 'nf4', 64, True)
            state = json.loads(bytes(q.pop('quant_state.bitsandbytes__nf4')).decode())
            state['dtype'] = 'bfloat16'
            for key, value in q.items():
                full = name + ('.' + key if key else '')
                kind = 'U8' if value.dtype == np.uint8 else 'F32'
                out[full] = (kind, [value.size, 1] if key == '' else [value.size], value)
            blob = np.frombuffer(json.dumps(state).encode(), np.uint8)
            out[name + '.quant_state.bitsandbytes__nf4'] = ('U8', [blob.size], blob)
        else:
            out[name] = ('BF16', shape, bf16)
    names = sorted(out)
    half = len(names) // 2
    shards = {'model-00001-of-00002.safetensors': names[:half], 'model-00002-of-00002.safetensors': names[half:]}
    weight_map = {}
    for file, part in shards.items():
        write_safetensors(os.path.join(out_dir, file), {n: out[n] for n in part})
        weight_map.update({n: file for n in part})
    with open(os.path.join(out_dir, 'model.safetensors.index.json'), 'w') as f:
        json.dump({'metadata': {'total_size': 0}, 'weight_map': weight_map}, f)
    cfg['torch_dtype'] = 'bfloat16'
    cfg['quantization_config'] = {
        'quant_method': 'bitsandbytes', 'load_in_4bit': True, 'load_in_8bit': False,
        'bnb_4bit_quant_type': 'nf4', 'bnb_4bit_use_double_quant': True,
        'bnb_4bit_compute_dtype': 'bfloat16', 'bnb_4bit_quant_storage': 'uint8',
        'llm_int8_skip_modules': None, 'llm_int8_threshold': 6.0,
        'llm_int8_has_fp16_weight': False, 'llm_int8_enable_fp32_cpu_offload': False}
    with open(os.path.join(out_dir, 'config.json'), 'w') as f:
        json.dump(cfg, f, indent=2)
    reference = {}
    written = {}
    for file in shards:
        written.update(read_safetensors(os.path.join(out_dir, file)))
    for name, arr in dequantize_model(written).items():
        reference[name] = ('F32', list(arr.shape), arr.astype(np.float32))
    write_safetensors(ref_path, reference)
    return {'tensors': len(out), 'reference': len(reference)}


if __name__ == '__main__':
    cmd = sys.argv[1]
    if cmd == 'check':
        pairs = sys.argv[2:]
        result = [check(pairs[i], pairs[i + 1]) for i in range(0, len(pairs), 2)]
    elif cmd == 'perplexity':
        result = perplexity(sys.argv[2], sys.argv[3])
    elif cmd == 'write':
        result = write_bnb(sys.argv[2], sys.argv[3], sys.argv[4])
    elif cmd == 'greedy':
        result = greedy(sys.argv[2], int(sys.argv[3]))
    else:
        raise SystemExit(f'unknown command {cmd!r}')
    json.dump(result, sys.stdout)
