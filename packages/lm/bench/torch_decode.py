"""PyTorch CPU peer for the @gopo/lm decode benchmark (bench/decode.ts).

Loads a Hugging Face-layout Llama folder (config.json + float32 model.safetensors, as LlamaModel.save
writes it) and runs batched greedy generation with a KV cache, the way bench/decode.ts runs ours:
prompts left padded to a common length P, positions counting real tokens only, one prefill pass over
the prompt block, then one token per row per step against the cache, argmax every step (ties to the
lowest id), no early stop. Prints ONE JSON line: per batch size the wall seconds of every timed run
and the greedy tokens.

The model is the float64 reference of scripts/make_llama_reference.py (the same Hugging Face Llama
semantics: RMSNorm, rotate-half RoPE, grouped-query attention, SwiGLU) written for speed in float32:
under torch.inference_mode, Linear layers through F.linear, a preallocated cache written in place
(cache[:, :, P + s] = k: no concatenation per step), grouped-query attention as one batched matmul
per layer over the kv heads (query heads of a group stacked as rows, no repeat of the cache).
With cache "dynamic" the cache grows by torch.cat every step instead, as Hugging Face transformers'
default DynamicCache does (a copy of the whole cache per layer and step).

Run with the Debian python3-torch interpreter (needs libopenblas0-pthread for a fair BLAS):

    /usr/bin/python3 packages/lm/bench/torch_decode.py --spec '{"model_dir": "...", ...}'

Spec fields: model_dir, prompts (list of token-id lists, at least max(batches) of them),
batches (list of batch sizes; batch b uses the first b prompts), new_tokens, threads, reps
(timed runs per batch after one warm-up run), caches (list of "static" / "dynamic"; default static).

Exit codes: 0 ok, 2 bad spec, 3 torch cannot be imported (message on stderr).
"""

import argparse
import json
import math
import os
import struct
import sys
import time

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
except Exception as e:  # noqa: BLE001 - any import failure means this interpreter lacks torch
    print(f"torch_decode: cannot import torch/numpy with {sys.executable} ({e})", file=sys.stderr)
    sys.exit(3)


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    base = 8 + n
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        if e["dtype"] != "F32":
            raise ValueError(f"{name}: dtype {e['dtype']} (the peer reads float32 only)")
        a, b = e["data_offsets"]
        arr = np.frombuffer(raw, dtype="<f4", count=(b - a) // 4, offset=base + a).reshape(e["shape"])
        out[name] = torch.from_numpy(arr.copy())
    return out


class Llama:
    def __init__(self, cfg, w):
        self.cfg = cfg
        self.w = w
        self.H = cfg["num_attention_heads"]
        self.KV = cfg.get("num_key_value_heads") or self.H
        self.hd = cfg.get("head_dim") or cfg["hidden_size"] // self.H
        self.L = cfg["num_hidden_layers"]
        self.eps = cfg.get("rms_norm_eps", 1e-6)
        theta = cfg.get("rope_theta", 10000.0)
        self.inv_freq = theta ** (-torch.arange(0, self.hd, 2, dtype=torch.float64) / self.hd)
        self.head = w["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings") else w["lm_head.weight"]

    def rms(self, x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * w

    def rope_tables(self, pos):
        """pos [B, T] int64 -> cos, sin [B, 1, T, hd] float32 (rotate-half layout)."""
        ang = pos.double()[:, None, :, None] * self.inv_freq
        cos = torch.cat([ang.cos(), ang.cos()], -1).float()
        sin = torch.cat([ang.sin(), ang.sin()], -1).float()
        return cos, sin

    def rope(self, x, cos, sin):
        half = self.hd // 2
        rot = torch.cat([-x[..., half:], x[..., :half]], -1)
        return x * cos + rot * sin

    def layer(self, i, x, cos, sin, kc, vc, s0, allowed_add, dynamic=None):
        """x [B, T, D]; writes the T new keys/values at slots s0.. of the caches [B, KV, S, hd]
        (with `dynamic`, a per-layer [k, v] list, appends them by torch.cat instead); attends over
        slots 0..s0+T-1 with the additive mask allowed_add [B, 1, T, s0+T]."""
        B, T, _ = x.shape
        p = f"model.layers.{i}."
        h = self.rms(x, self.w[p + "input_layernorm.weight"])
        q = F.linear(h, self.w[p + "self_attn.q_proj.weight"]).view(B, T, self.H, self.hd).transpose(1, 2)
        k = F.linear(h, self.w[p + "self_attn.k_proj.weight"]).view(B, T, self.KV, self.hd).transpose(1, 2)
        v = F.linear(h, self.w[p + "self_attn.v_proj.weight"]).view(B, T, self.KV, self.hd).transpose(1, 2)
        q = self.rope(q, cos, sin)
        k = self.rope(k, cos, sin)
        if dynamic is None:
            kc[:, :, s0:s0 + T] = k
            vc[:, :, s0:s0 + T] = v
        else:
            if dynamic[i] is None:
                dynamic[i] = [k, v]
            else:
                dynamic[i] = [torch.cat([dynamic[i][0], k], 2), torch.cat([dynamic[i][1], v], 2)]
            kc, vc = dynamic[i]
        S = s0 + T
        g = self.H // self.KV
        # [B, KV, g*T, hd] x [B, KV, hd, S]: each kv head serves its g query heads as stacked rows.
        qg = q.reshape(B, self.KV, g * T, self.hd)
        scores = torch.matmul(qg, kc[:, :, :S].transpose(-1, -2)) * (1.0 / math.sqrt(self.hd))
        scores = scores.view(B, self.KV, g, T, S) + allowed_add[:, :, None]
        probs = torch.softmax(scores, -1).view(B, self.KV, g * T, S)
        ctx = torch.matmul(probs, vc[:, :, :S]).view(B, self.H, T, self.hd).transpose(1, 2).reshape(B, T, -1)
        x = x + F.linear(ctx, self.w[p + "self_attn.o_proj.weight"])
        h = self.rms(x, self.w[p + "post_attention_layernorm.weight"])
        m = F.silu(F.linear(h, self.w[p + "mlp.gate_proj.weight"])) * F.linear(h, self.w[p + "mlp.up_proj.weight"])
        return x + F.linear(m, self.w[p + "mlp.down_proj.weight"])

    def logits_last(self, x):
        return F.linear(self.rms(x[:, -1], self.w["model.norm.weight"]), self.head)

    def generate(self, prompts, new_tokens, pad=0, cache="static"):
        B = len(prompts)
        P = max(len(q) for q in prompts)
        S = P + new_tokens
        ids = torch.full((B, P), pad, dtype=torch.long)
        mask = torch.zeros((B, S), dtype=torch.bool)
        for b, q in enumerate(prompts):
            ids[b, P - len(q):] = torch.tensor(q, dtype=torch.long)
            mask[b, P - len(q):] = True
        mask[:, P:] = True
        pos = (mask[:, :P].long().cumsum(-1) - 1).clamp(min=0)
        lengths = torch.tensor([len(q) for q in prompts], dtype=torch.long)
        dynamic = [None] * self.L if cache == "dynamic" else None
        kcs = [None if dynamic else torch.zeros(B, self.KV, S, self.hd) for _ in range(self.L)]
        vcs = [None if dynamic else torch.zeros(B, self.KV, S, self.hd) for _ in range(self.L)]
        neg = torch.tensor(-1e9)
        zero = torch.tensor(0.0)
        # Prefill: causal and padding mask; a padding query sees itself (no empty softmax row).
        causal = torch.ones(P, P, dtype=torch.bool).tril()
        allowed = (causal[None] & mask[:, None, :P]) | torch.eye(P, dtype=torch.bool)[None]
        add = torch.where(allowed, zero, neg)[:, None]
        cos, sin = self.rope_tables(pos)
        x = self.w["model.embed_tokens.weight"][ids]
        for i in range(self.L):
            x = self.layer(i, x, cos, sin, kcs[i], vcs[i], 0, add, dynamic)
        nxt = self.logits_last(x).argmax(-1)
        out = [nxt]
        maskadd = torch.where(mask, zero, neg)[:, None, None, :]  # [B, 1, 1, S]
        for s in range(1, new_tokens):
            x = self.w["model.embed_tokens.weight"][nxt[:, None]]
            cos, sin = self.rope_tables((lengths + s - 1)[:, None])
            slot = P + s - 1
            add = maskadd[..., :slot + 1]
            for i in range(self.L):
                x = self.layer(i, x, cos, sin, kcs[i], vcs[i], slot, add, dynamic)
            nxt = self.logits_last(x).argmax(-1)
            out.append(nxt)
        return torch.stack(out, 1).tolist()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--spec", required=True)
    args = ap.parse_args()
    try:
        spec = json.loads(args.spec)
        model_dir = spec["model_dir"]
        prompts = spec["prompts"]
        batches = spec["batches"]
        new_tokens = int(spec["new_tokens"])
        threads = int(spec["threads"])
        reps = int(spec.get("reps", 3))
        caches = spec.get("caches", ["static"])
        assert all(c in ("static", "dynamic") for c in caches)
        assert max(batches) <= len(prompts)
    except Exception as e:  # noqa: BLE001
        print(f"torch_decode: bad spec ({e})", file=sys.stderr)
        sys.exit(2)
    torch.set_num_threads(threads)
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    model = Llama(cfg, read_safetensors(os.path.join(model_dir, "model.safetensors")))
    results = []
    with torch.inference_mode():
        for cache in caches:
            for b in batches:
                rows = prompts[:b]
                model.generate(rows, new_tokens, cache=cache)  # warm-up
                seconds = []
                tokens = None
                for _ in range(reps):
                    t0 = time.perf_counter()
                    tokens = model.generate(rows, new_tokens, cache=cache)
                    seconds.append(time.perf_counter() - t0)
                results.append({"cache": cache, "batch": b, "seconds": seconds, "tokens": tokens})
    print(json.dumps({
        "torch_version": torch.__version__,
        "python": sys.executable,
        "threads": torch.get_num_threads(),
        "results": results,
    }))


if __name__ == "__main__":
    main()
