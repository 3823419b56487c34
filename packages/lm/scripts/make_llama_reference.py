"""Writes the tiny Llama reference fixtures used by the @gopo/lm model tests.

An independent float64 PyTorch implementation of the Hugging Face Llama forward pass (written from
the math, not from transformers) produces the expected logits, log-probs and greedy continuations
for two tiny random checkpoints stored in Hugging Face layout:

  packages/lm/test/fixtures/tiny-llama/        GQA (4 query heads, 2 kv heads), untied lm_head
  packages/lm/test/fixtures/tiny-llama-tied/   MHA (4 query heads, 4 kv heads), tied embeddings

Run from the repository root with an interpreter that has torch (the Debian python3-torch build):

    /usr/bin/python3 packages/lm/scripts/make_llama_reference.py

Output is deterministic: running it twice gives byte-identical files. Only torch, numpy and the
standard library are used (model.safetensors is written directly in the safetensors layout:
8-byte little-endian header length, JSON header, raw little-endian tensor bytes).

Semantics (Hugging Face Llama):
  RMSNorm(x) = x * rsqrt(mean(x^2, last dim) + eps) * w
  RoPE, non-interleaved "rotate half": within a head of size d, dim i pairs with dim i + d/2;
    inv_freq_i = theta^(-2i/d), angle = pos * inv_freq_i, cos/sin repeated over both halves,
    x' = x * cos + rotate_half(x) * sin with rotate_half([a, b]) = [-b, a]; applied to q and k.
  Linear weights are [out, in] (y = x W^T), no biases.
  q_proj rows h*d..(h+1)*d belong to query head h; GQA: query head h reads kv head
    h // (n_heads / n_kv_heads) (each kv head repeated for consecutive query heads).
  scores = q k^T / sqrt(head_dim), causal (key j visible to query i iff j <= i and key j not
    masked out by attention_mask), softmax, times v, heads concatenated, o_proj.
  MLP: down(silu(gate(x)) * up(x)).  Block: x += attn(norm1(x)); x += mlp(norm2(x)).
  logits = lm_head(norm(x)), or norm(x) @ embed_tokens^T when tie_word_embeddings.
"""

import hashlib
import json
import math
import os
import struct
import sys

try:
    import numpy as np
    import torch
except Exception as e:  # noqa: BLE001 - any import failure means this interpreter lacks torch
    print(f"make_llama_reference: cannot import torch/numpy with {sys.executable} ({e}); "
          "run with /usr/bin/python3 (Debian python3-torch)", file=sys.stderr)
    sys.exit(3)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "test", "fixtures")
SEED = 20240611
BOS, EOS, PAD = 1, 2, 0
FIRST_PLAIN_TOKEN = 3  # sequence bodies avoid pad/bos/eos so no special-token handling is implied
SEQ_LENS = (7, 11)
GREEDY_STEPS = 8
# A float32 implementation must reproduce every greedy argmax, so each step's top-1 must beat
# the runner-up by this much (in logits); float32 forward error on this model is ~1e-5.
MIN_GREEDY_MARGIN = 1e-2
SIG_DIGITS = 7

BASE_CONFIG = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 8,
    "vocab_size": 96,
    "rms_norm_eps": 1e-5,
    "rope_theta": 10000.0,
    "rope_scaling": None,
    "max_position_embeddings": 64,
    "tie_word_embeddings": False,
    "hidden_act": "silu",
    "attention_bias": False,
    "attention_dropout": 0.0,
    "mlp_bias": False,
    "initializer_range": 0.02,
    "pretraining_tp": 1,
    "use_cache": True,
    "torch_dtype": "float32",
    "bos_token_id": BOS,
    "eos_token_id": EOS,
    "pad_token_id": PAD,
}

VARIANTS = [
    ("tiny-llama", {}),
    ("tiny-llama-tied", {"tie_word_embeddings": True, "num_key_value_heads": 4}),
]


# ---------------------------------------------------------------- weights

def make_weights(cfg, gen):
    """Random float32 weights, scaled so logits have spread ~1-3 (not degenerate, not saturated)."""
    D, I, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    hd, H, KV = cfg["head_dim"], cfg["num_attention_heads"], cfg["num_key_value_heads"]

    def normal(shape, std):
        return (torch.randn(shape, generator=gen, dtype=torch.float64) * std).float()

    def norm_w():
        return (1.0 + 0.1 * torch.randn(D, generator=gen, dtype=torch.float64)).float()

    w = {"model.embed_tokens.weight": normal((V, D), 0.4)}
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        w[p + "input_layernorm.weight"] = norm_w()
        w[p + "self_attn.q_proj.weight"] = normal((H * hd, D), 0.2)
        w[p + "self_attn.k_proj.weight"] = normal((KV * hd, D), 0.2)
        w[p + "self_attn.v_proj.weight"] = normal((KV * hd, D), 0.2)
        w[p + "self_attn.o_proj.weight"] = normal((D, H * hd), 0.2)
        w[p + "post_attention_layernorm.weight"] = norm_w()
        w[p + "mlp.gate_proj.weight"] = normal((I, D), 0.2)
        w[p + "mlp.up_proj.weight"] = normal((I, D), 0.2)
        w[p + "mlp.down_proj.weight"] = normal((D, I), 0.2)
    w["model.norm.weight"] = norm_w()
    if not cfg["tie_word_embeddings"]:
        w["lm_head.weight"] = normal((V, D), 0.2)
    return w


def safetensors_bytes(tensors):
    """safetensors layout: u64 LE header size, JSON header (space-padded to 8 bytes), tensor data."""
    header, chunks, offset = {}, [], 0
    for name in sorted(tensors):
        data = tensors[name].contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    header["__metadata__"] = {"format": "pt"}
    hjson = json.dumps(header, separators=(",", ":"), sort_keys=True).encode("utf-8")
    hjson += b" " * (-len(hjson) % 8)
    return struct.pack("<Q", len(hjson)) + hjson + b"".join(chunks)


# ---------------------------------------------------------------- float64 reference model

class Llama64:
    def __init__(self, cfg, weights):
        self.cfg = cfg
        self.w = {k: v.double() for k, v in weights.items()}
        self.hd = cfg["head_dim"]
        self.H = cfg["num_attention_heads"]
        self.KV = cfg["num_key_value_heads"]
        self.inv_freq = cfg["rope_theta"] ** (-torch.arange(0, self.hd, 2, dtype=torch.float64) / self.hd)

    def head_weight(self):
        return self.w["model.embed_tokens.weight"] if self.cfg["tie_word_embeddings"] else self.w["lm_head.weight"]

    def rms(self, x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.cfg["rms_norm_eps"]) * w

    def rope(self, x, pos):
        """x [B, heads, T, hd]; pos [B, T] integer positions."""
        ang = pos.double()[:, None, :, None] * self.inv_freq  # [B, 1, T, hd/2]
        cos = torch.cat([ang.cos(), ang.cos()], -1)
        sin = torch.cat([ang.sin(), ang.sin()], -1)
        half = self.hd // 2
        rot = torch.cat([-x[..., half:], x[..., :half]], -1)
        return x * cos + rot * sin

    def qkv(self, i, h, pos):
        B, T, _ = h.shape
        p = f"model.layers.{i}.self_attn."
        q = (h @ self.w[p + "q_proj.weight"].T).view(B, T, self.H, self.hd).transpose(1, 2)
        k = (h @ self.w[p + "k_proj.weight"].T).view(B, T, self.KV, self.hd).transpose(1, 2)
        v = (h @ self.w[p + "v_proj.weight"].T).view(B, T, self.KV, self.hd).transpose(1, 2)
        return self.rope(q, pos), self.rope(k, pos), v

    def attend(self, i, q, k, v, allowed):
        """q [B,H,Tq,hd]; k,v [B,KV,Tk,hd]; allowed [B,Tq,Tk] bool."""
        rep = self.H // self.KV
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        s = (q @ k.transpose(-1, -2)) / math.sqrt(self.hd)
        s = s.masked_fill(~allowed[:, None], float("-inf"))
        a = torch.nan_to_num(s.softmax(-1))  # fully masked (pad) query rows -> zeros
        B, _, Tq, _ = q.shape
        out = (a @ v).transpose(1, 2).reshape(B, Tq, self.H * self.hd)
        return out @ self.w[f"model.layers.{i}.self_attn.o_proj.weight"].T

    def mlp(self, i, x):
        p = f"model.layers.{i}.mlp."
        g = x @ self.w[p + "gate_proj.weight"].T
        u = x @ self.w[p + "up_proj.weight"].T
        return (torch.nn.functional.silu(g) * u) @ self.w[p + "down_proj.weight"].T

    def forward(self, ids, attention_mask=None, position_ids=None):
        """Full-sequence forward. ids [B,T]; mask [B,T] (1 = real token); returns logits [B,T,V]."""
        B, T = ids.shape
        if attention_mask is None:
            attention_mask = torch.ones(B, T, dtype=torch.long)
        if position_ids is None:
            position_ids = torch.arange(T).expand(B, T)
        causal = torch.ones(T, T, dtype=torch.bool).tril()
        allowed = causal[None] & attention_mask.bool()[:, None, :]
        x = self.w["model.embed_tokens.weight"][ids]
        for i in range(self.cfg["num_hidden_layers"]):
            p = f"model.layers.{i}."
            q, k, v = self.qkv(i, self.rms(x, self.w[p + "input_layernorm.weight"]), position_ids)
            x = x + self.attend(i, q, k, v, allowed)
            x = x + self.mlp(i, self.rms(x, self.w[p + "post_attention_layernorm.weight"]))
        return self.rms(x, self.w["model.norm.weight"]) @ self.head_weight().T

    def forward_cached(self, ids):
        """Second, independent path: one token at a time with a per-layer (post-RoPE) KV cache."""
        L = self.cfg["num_hidden_layers"]
        cache_k, cache_v = [None] * L, [None] * L
        rows = []
        for t in range(ids.shape[1]):
            x = self.w["model.embed_tokens.weight"][ids[:, t:t + 1]]
            pos = torch.full((ids.shape[0], 1), t)
            for i in range(L):
                p = f"model.layers.{i}."
                q, k, v = self.qkv(i, self.rms(x, self.w[p + "input_layernorm.weight"]), pos)
                cache_k[i] = k if cache_k[i] is None else torch.cat([cache_k[i], k], 2)
                cache_v[i] = v if cache_v[i] is None else torch.cat([cache_v[i], v], 2)
                allowed = torch.ones(ids.shape[0], 1, t + 1, dtype=torch.bool)
                x = x + self.attend(i, q, cache_k[i], cache_v[i], allowed)
                x = x + self.mlp(i, self.rms(x, self.w[p + "post_attention_layernorm.weight"]))
            rows.append(self.rms(x, self.w["model.norm.weight"]) @ self.head_weight().T)
        return torch.cat(rows, 1)

    def greedy(self, ids, steps):
        """Greedy continuation (argmax every step, no early stop); returns tokens and top1-top2 margins."""
        seq = ids.clone()
        tokens, margins = [], []
        for _ in range(steps):
            last = self.forward(seq)[0, -1]
            top = last.topk(2)
            tokens.append(int(top.indices[0]))
            margins.append(float(top.values[0] - top.values[1]))
            seq = torch.cat([seq, top.indices[:1].view(1, 1)], 1)
        return tokens, margins


# ---------------------------------------------------------------- fixture assembly

def rounded(t):
    return [float(f"{v:.{SIG_DIGITS}g}") for v in t.reshape(-1).tolist()]


def rounded_rows(t):
    return [rounded(row) for row in t]


def max_abs(a, b):
    return float((a - b).abs().max())


def draw_sequences(model, cfg, gen):
    """Draws bos-led sequences until every greedy step has a clear argmax and never emits eos."""
    V = cfg["vocab_size"]
    for attempt in range(1000):
        seqs = [[BOS] + torch.randint(FIRST_PLAIN_TOKEN, V, (n - 1,), generator=gen).tolist() for n in SEQ_LENS]
        results = [model.greedy(torch.tensor([s]), GREEDY_STEPS) for s in seqs]
        if all(min(m) >= MIN_GREEDY_MARGIN and EOS not in toks for toks, m in results):
            return seqs, results, attempt
    raise RuntimeError("no sequence draw with clear greedy margins in 1000 attempts")


def build_fixture(name, overrides, gen):
    cfg = {**BASE_CONFIG, **overrides}
    weights = make_weights(cfg, gen)
    model = Llama64(cfg, weights)
    seqs, greedy, attempts = draw_sequences(model, cfg, gen)

    per_seq = []
    full_logits = []
    for s, (gtoks, gmargins) in zip(seqs, greedy):
        ids = torch.tensor([s])
        logits = model.forward(ids)[0]
        cached = model.forward_cached(ids)[0]
        err = max_abs(logits, cached)
        assert err < 1e-10, f"{name}: full vs KV-cache logits differ by {err}"
        # Greedy continuation must also agree with incremental decoding over the extended sequence.
        ext = torch.tensor([s + gtoks])
        ext_cached = model.forward_cached(ext)[0]
        assert ext_cached[len(s) - 1:-1].argmax(-1).tolist() == gtoks, f"{name}: cached greedy mismatch"
        lp = torch.log_softmax(logits, -1)
        token_lp = lp[:-1].gather(1, ids[0, 1:, None])[:, 0]
        full_logits.append(logits)
        per_seq.append({
            "input_ids": s,
            "logits": rounded_rows(logits),
            "next_token_logprobs": rounded(token_lp),
            "sum_logprob": float(f"{float(token_lp.sum()):.{SIG_DIGITS}g}"),
            "greedy_tokens": gtoks,
            "greedy_min_margin": float(f"{min(gmargins):.4g}"),
        })

    Tmax = max(SEQ_LENS)
    right_ids = [s + [PAD] * (Tmax - len(s)) for s in seqs]
    right_mask = [[1] * len(s) + [0] * (Tmax - len(s)) for s in seqs]
    out = model.forward(torch.tensor(right_ids), torch.tensor(right_mask))
    for b, s in enumerate(seqs):
        err = max_abs(out[b, :len(s)], full_logits[b])
        assert err < 1e-10, f"{name}: right-padded row {b} differs by {err}"

    left_ids = [[PAD] * (Tmax - len(s)) + s for s in seqs]
    left_mask = [[0] * (Tmax - len(s)) + [1] * len(s) for s in seqs]
    # Positions count real tokens only (cumsum(mask) - 1), clamped to 0 on the pads.
    left_pos = [[max(0, c - 1) for c in np.cumsum(m).tolist()] for m in left_mask]
    out = model.forward(torch.tensor(left_ids), torch.tensor(left_mask), torch.tensor(left_pos))
    for b, s in enumerate(seqs):
        err = max_abs(out[b, Tmax - len(s):], full_logits[b])
        assert err < 1e-10, f"{name}: left-padded row {b} differs by {err}"

    # Sanity: logits are spread out, not degenerate.
    spread = float(torch.cat(full_logits).std())
    assert 0.5 < spread < 10, f"{name}: logit std {spread} looks degenerate"

    st = safetensors_bytes(weights)
    expected = {
        "description": "Float64 reference (HF Llama semantics) for the tiny random checkpoint in this folder; "
                       "see ../README.md. Values rounded to 7 significant digits.",
        "generator": "packages/lm/scripts/make_llama_reference.py",
        "seed": SEED,
        "model_safetensors_sha256": hashlib.sha256(st).hexdigest(),
        "tolerance_hint": {"logits_abs": 1e-4, "logprobs_abs": 1e-4},
        "logit_std": float(f"{spread:.4g}"),
        "sequences": per_seq,
        "right_padded": {
            "input_ids": right_ids,
            "attention_mask": right_mask,
            "position_ids": [list(range(Tmax))] * len(seqs),
            "note": "logits at mask==1 positions equal sequences[b].logits; pad positions are unspecified",
        },
        "left_padded": {
            "input_ids": left_ids,
            "attention_mask": left_mask,
            "position_ids": left_pos,
            "note": "position_ids = max(cumsum(mask)-1, 0); logits at mask==1 positions equal "
                    "sequences[b].logits; pad positions are unspecified",
        },
        "greedy_steps": GREEDY_STEPS,
        "sequence_draw_attempts": attempts + 1,
    }
    return cfg, st, expected


def write_bytes(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def main():
    torch.set_num_threads(1)  # single-threaded reductions: bit-stable output across machines
    gen = torch.Generator().manual_seed(SEED)
    for name, overrides in VARIANTS:
        cfg, st, expected = build_fixture(name, overrides, gen)
        d = os.path.join(FIXTURES, name)
        os.makedirs(d, exist_ok=True)
        write_bytes(os.path.join(d, "config.json"), (json.dumps(cfg, indent=2, sort_keys=True) + "\n").encode())
        write_bytes(os.path.join(d, "model.safetensors"), st)
        write_bytes(os.path.join(d, "expected.json"),
                    (json.dumps(expected, separators=(",", ":"), sort_keys=True) + "\n").encode())
        size = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
        print(f"{d}: {size} bytes, logit std {expected['logit_std']}, "
              f"greedy margins >= {min(s['greedy_min_margin'] for s in expected['sequences'])}")


if __name__ == "__main__":
    main()
