"""PyTorch CPU peer for the @gopo/nn benchmark.

Builds a GPT-style pre-norm decoder from a JSON spec, then times (a) full training steps
(forward, cross-entropy, backward, AdamW, zero_grad) and (b) forward-only passes under no_grad,
and prints ONE JSON line on stdout.

The interpreter must have torch importable. On the CI/dev images that is the Debian
python3-torch build under /usr/bin/python3 (the pyenv `python3` on PATH has no torch):

    /usr/bin/python3 packages/nn/bench/torch_peer.py --spec '{"threads": 2}'
    /usr/bin/python3 packages/nn/bench/torch_peer.py --spec-file spec.json

Timings are per-step medians over the timed steps (train_step_ms, forward_ms; *_min give the
fastest step); tokens/s = batch * context / median step time. *_cpu_ms are median process CPU
milliseconds per step (all threads summed). Worker threads spin while idle, so on a quiet machine
cpu_ms ~= threads * wall ms; when other processes share the cores wall time inflates much more
than CPU time, so cpu_ms / threads is a rough contention-robust estimate of the quiet step time.

Exit codes: 0 ok, 2 bad spec, 3 torch cannot be imported (message on stderr).

Model (matches the spec fields; any field may be omitted to take the default below):
  x = tok_emb[ids] (+ pos_emb[0..T-1] when pos == "learned")
  per layer:  x = x + o(attn(norm1(x)));  x = x + mlp(norm2(x))
  logits = head(norm_f(x))  with head = tok_emb^T when tie_embeddings
Linear layers carry no bias (so the parameter count depends only on the shapes); LayerNorm has
weight and bias, RMSNorm weight only. Attention is written out with matmuls, an additive causal
mask and softmax, so it runs on torch 1.13 without scaled_dot_product_attention. RoPE uses the
non-interleaved rotate-half layout with inv_freq = theta^(-2i/head_dim).
AdamW decays only the >= 2-D weights (matrices and embeddings), not norms.

FLOP estimate (flops_per_train_step), per train step of N = batch * context tokens:
  6 * P_matmul * N                 (forward 2 flops per MAC, backward twice the forward)
  + 12 * n_layers * d_model * context * N    (attention scores QK^T and A.V: forward
                                    2 * 2 * T * d per token per layer, times 3 for fwd+bwd,
                                    counting the full T x T square as the PaLM appendix does)
where P_matmul is every parameter that takes part in a matmul: all block weights plus the
output projection (vocab * d_model, counted once whether or not it is tied to the embedding);
the embedding lookups (token and learned position tables) and norm parameters are excluded.
"""

import argparse
import json
import math
import statistics
import sys
import time

DEFAULT_SPEC = {
    "vocab_size": 4096,
    "d_model": 256,
    "n_layers": 4,
    "n_heads": 4,
    "context": 128,
    "batch": 16,
    "mlp": "gelu4x",
    "gelu_approx": "tanh",
    "intermediate_size": None,
    "norm": "layernorm",
    "eps": 1e-5,
    "pos": "learned",
    "rope_theta": 10000.0,
    "tie_embeddings": True,
    "lr": 3e-4,
    "betas": [0.9, 0.95],
    "adam_eps": 1e-8,
    "weight_decay": 0.1,
    "threads": 2,
    "warmup_steps": 3,
    "steps": 10,
    "forward_steps": None,
    "seed": 0,
}

SPEC_HELP = {
    "vocab_size": "token vocabulary size",
    "d_model": "model width",
    "n_layers": "number of decoder blocks",
    "n_heads": "attention heads (d_model must divide evenly)",
    "context": "sequence length T of every training row",
    "batch": "rows per step",
    "mlp": '"gelu4x" (Linear d->4d, GELU, Linear 4d->d) or "swiglu" (down(silu(gate x) * up x))',
    "gelu_approx": '"tanh" or "none" (exact erf GELU); gelu4x only',
    "intermediate_size": "swiglu hidden width; default round(8/3 * d_model) up to a multiple of 64",
    "norm": '"layernorm" or "rmsnorm"',
    "eps": "norm epsilon",
    "pos": '"learned" (absolute position table) or "rope"',
    "rope_theta": "RoPE base",
    "tie_embeddings": "output head shares the token embedding matrix",
    "lr": "AdamW learning rate",
    "betas": "AdamW [beta1, beta2]",
    "adam_eps": "AdamW epsilon (the key `eps` is the norm epsilon)",
    "weight_decay": "AdamW decoupled weight decay on >= 2-D weights",
    "threads": "torch intra-op threads (inter-op is pinned to 1)",
    "warmup_steps": "untimed steps before each timed phase",
    "steps": "timed training steps",
    "forward_steps": "timed forward-only passes; default = steps",
    "seed": "seed for weights and random tokens",
}


def fail(msg, code=2):
    print(f"torch_peer: {msg}", file=sys.stderr)
    sys.exit(code)


def parse_spec(argv):
    ap = argparse.ArgumentParser(
        description="PyTorch CPU peer for the @gopo/nn benchmark (prints one JSON line).",
        epilog="spec fields:\n" + "\n".join(f"  {k}: {v} (default {DEFAULT_SPEC[k]!r})" for k, v in SPEC_HELP.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--spec", help="JSON object with spec fields")
    g.add_argument("--spec-file", help="path of a JSON file holding the spec object")
    args = ap.parse_args(argv)
    raw = {}
    if args.spec is not None:
        try:
            raw = json.loads(args.spec)
        except json.JSONDecodeError as e:
            fail(f"--spec is not valid JSON: {e}")
        where = "--spec"
    elif args.spec_file is not None:
        try:
            with open(args.spec_file, encoding="utf-8") as f:
                raw = json.load(f)
        except OSError as e:
            fail(f"cannot read --spec-file {args.spec_file}: {e}")
        except json.JSONDecodeError as e:
            fail(f"{args.spec_file}: not valid JSON: {e}")
        where = args.spec_file
    else:
        where = "default"
    if not isinstance(raw, dict):
        fail(f"{where}: spec must be a JSON object")
    unknown = sorted(set(raw) - set(DEFAULT_SPEC))
    if unknown:
        fail(f"{where}: unknown spec field(s) {unknown}; valid: {sorted(DEFAULT_SPEC)}")
    spec = {**DEFAULT_SPEC, **raw}
    validate(spec, where)
    return spec


def validate(s, where):
    def need(cond, field, what):
        if not cond:
            fail(f"{where}: field {field} = {s[field]!r}: {what}")

    for k in ("vocab_size", "d_model", "n_layers", "n_heads", "context", "batch", "threads", "steps"):
        need(isinstance(s[k], int) and not isinstance(s[k], bool) and s[k] > 0, k, "must be a positive integer")
    for k in ("warmup_steps", "seed"):
        need(isinstance(s[k], int) and not isinstance(s[k], bool) and s[k] >= 0, k, "must be an integer >= 0")
    if s["forward_steps"] is None:
        s["forward_steps"] = s["steps"]
    need(isinstance(s["forward_steps"], int) and s["forward_steps"] > 0, "forward_steps", "must be a positive integer")
    need(s["d_model"] % s["n_heads"] == 0, "n_heads", f"must divide d_model = {s['d_model']}")
    need(s["mlp"] in ("gelu4x", "swiglu"), "mlp", 'must be "gelu4x" or "swiglu"')
    need(s["gelu_approx"] in ("tanh", "none"), "gelu_approx", 'must be "tanh" or "none"')
    need(s["norm"] in ("layernorm", "rmsnorm"), "norm", 'must be "layernorm" or "rmsnorm"')
    need(s["pos"] in ("learned", "rope"), "pos", 'must be "learned" or "rope"')
    if s["pos"] == "rope":
        need((s["d_model"] // s["n_heads"]) % 2 == 0, "n_heads", "RoPE needs an even head_dim")
    need(isinstance(s["tie_embeddings"], bool), "tie_embeddings", "must be a boolean")
    if s["mlp"] == "swiglu":
        if s["intermediate_size"] is None:
            s["intermediate_size"] = 64 * math.ceil(8 * s["d_model"] / 3 / 64)
        need(isinstance(s["intermediate_size"], int) and s["intermediate_size"] > 0, "intermediate_size",
             "must be a positive integer")
    need(isinstance(s["betas"], list) and len(s["betas"]) == 2 and all(0 <= b < 1 for b in s["betas"]), "betas",
         "must be [beta1, beta2] in [0, 1)")
    for k in ("lr", "eps", "adam_eps", "rope_theta"):
        need(isinstance(s[k], (int, float)) and s[k] > 0, k, "must be a positive number")
    need(isinstance(s["weight_decay"], (int, float)) and s["weight_decay"] >= 0, "weight_decay", "must be >= 0")


def build(torch, s):
    nn = torch.nn
    F = torch.nn.functional
    D, H, T = s["d_model"], s["n_heads"], s["context"]
    hd = D // H

    class RMSNorm(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(D))

        def forward(self, x):
            return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + s["eps"]) * self.weight

    def norm():
        return nn.LayerNorm(D, eps=s["eps"]) if s["norm"] == "layernorm" else RMSNorm()

    if s["pos"] == "rope":
        inv_freq = s["rope_theta"] ** (-torch.arange(0, hd, 2, dtype=torch.float64) / hd)
        ang = torch.outer(torch.arange(T, dtype=torch.float64), inv_freq)
        cos = torch.cat([ang.cos(), ang.cos()], -1).float()
        sin = torch.cat([ang.sin(), ang.sin()], -1).float()

        def rope(x):
            x1, x2 = x[..., : hd // 2], x[..., hd // 2:]
            return x * cos + torch.cat([-x2, x1], -1) * sin
    else:
        rope = None

    # Additive mask: 0 on and below the diagonal, -inf above.
    mask = torch.full((T, T), float("-inf")).triu(1)

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            if s["mlp"] == "gelu4x":
                self.up = nn.Linear(D, 4 * D, bias=False)
                self.down = nn.Linear(4 * D, D, bias=False)
            else:
                I = s["intermediate_size"]
                self.gate = nn.Linear(D, I, bias=False)
                self.up = nn.Linear(D, I, bias=False)
                self.down = nn.Linear(I, D, bias=False)

        def forward(self, x):
            if s["mlp"] == "gelu4x":
                return self.down(F.gelu(self.up(x), approximate=s["gelu_approx"]))
            return self.down(F.silu(self.gate(x)) * self.up(x))

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm1 = norm()
            self.qkv = nn.Linear(D, 3 * D, bias=False)
            self.o = nn.Linear(D, D, bias=False)
            self.norm2 = norm()
            self.mlp = MLP()

        def attn(self, x):
            B, Tn, _ = x.shape
            q, k, v = self.qkv(x).view(B, Tn, 3, H, hd).permute(2, 0, 3, 1, 4)
            if rope is not None:
                q, k = rope(q), rope(k)
            scores = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(hd)) + mask
            return (scores.softmax(-1) @ v).transpose(1, 2).reshape(B, Tn, D)

        def forward(self, x):
            x = x + self.o(self.attn(self.norm1(x)))
            return x + self.mlp(self.norm2(x))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok = nn.Embedding(s["vocab_size"], D)
            self.pos = nn.Embedding(T, D) if s["pos"] == "learned" else None
            self.blocks = nn.ModuleList(Block() for _ in range(s["n_layers"]))
            self.norm_f = norm()
            self.head = None if s["tie_embeddings"] else nn.Linear(D, s["vocab_size"], bias=False)
            for name, p in self.named_parameters():
                if p.dim() >= 2:
                    nn.init.normal_(p, std=0.02)

        def forward(self, ids):
            x = self.tok(ids)
            if self.pos is not None:
                x = x + self.pos.weight[: ids.shape[1]]
            for b in self.blocks:
                x = b(x)
            x = self.norm_f(x)
            return x @ self.tok.weight.t() if self.head is None else self.head(x)

    return GPT()


def flops_per_train_step(model, s):
    embed_ids = {id(model.tok.weight)} | ({id(model.pos.weight)} if model.pos is not None else set())
    p_matmul = sum(p.numel() for p in model.parameters() if p.dim() >= 2 and id(p) not in embed_ids)
    if model.head is None:
        p_matmul += model.tok.weight.numel()  # tied head still costs a vocab x d matmul
    tokens = s["batch"] * s["context"]
    attn = 12 * s["n_layers"] * s["d_model"] * s["context"] * tokens
    return 6 * p_matmul * tokens + attn, p_matmul


def main(argv):
    spec = parse_spec(argv)
    try:
        import torch
    except Exception as e:  # noqa: BLE001 - any import failure means "no torch here"
        fail(f"cannot import torch with {sys.executable} ({e.__class__.__name__}: {e}); "
             "run with an interpreter that has torch, e.g. /usr/bin/python3 with Debian python3-torch", code=3)

    torch.set_num_threads(spec["threads"])
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass  # already set in this process; only matters when imported twice
    torch.manual_seed(spec["seed"])
    model = build(torch, spec)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": spec["weight_decay"]}, {"params": no_decay, "weight_decay": 0.0}],
        lr=spec["lr"], betas=tuple(spec["betas"]), eps=spec["adam_eps"],
    )
    gen = torch.Generator().manual_seed(spec["seed"] + 1)
    B, T, V = spec["batch"], spec["context"], spec["vocab_size"]
    # Fixed random batch: inputs are ids[:, :T], targets the next token ids[:, 1:].
    ids = torch.randint(0, V, (B, T + 1), generator=gen)
    x, y = ids[:, :T], ids[:, 1:]

    def train_step():
        logits = model(x)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, V), y.reshape(-1))
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.item()

    losses = []
    for _ in range(spec["warmup_steps"]):
        losses.append(train_step())
    train_times, train_cpu = [], []
    for _ in range(spec["steps"]):
        t0, c0 = time.perf_counter(), time.process_time()
        losses.append(train_step())
        train_times.append(time.perf_counter() - t0)
        train_cpu.append(time.process_time() - c0)

    with torch.no_grad():
        for _ in range(spec["warmup_steps"]):
            model(x)
        fwd_times, fwd_cpu = [], []
        for _ in range(spec["forward_steps"]):
            t0, c0 = time.perf_counter(), time.process_time()
            model(x)
            fwd_times.append(time.perf_counter() - t0)
            fwd_cpu.append(time.process_time() - c0)
    # Medians: robust to the odd step slowed by other processes on a shared CI machine.
    train_s, fwd_s = statistics.median(train_times), statistics.median(fwd_times)

    if not all(math.isfinite(l) for l in losses):
        fail(f"non-finite training loss {losses}", code=1)
    flops, p_matmul = flops_per_train_step(model, spec)
    tokens = B * T
    out = {
        "torch_version": torch.__version__,
        "threads": torch.get_num_threads(),
        "train_tokens_per_s": tokens / train_s,
        "forward_tokens_per_s": tokens / fwd_s,
        "train_step_ms": train_s * 1e3,
        "forward_ms": fwd_s * 1e3,
        "train_step_ms_min": min(train_times) * 1e3,
        "forward_ms_min": min(fwd_times) * 1e3,
        "train_step_cpu_ms": statistics.median(train_cpu) * 1e3,
        "forward_cpu_ms": statistics.median(fwd_cpu) * 1e3,
        "params": sum(p.numel() for p in model.parameters()),
        "params_matmul": p_matmul,
        "flops_per_train_step": flops,
        "train_gflops_per_s": flops / train_s / 1e9,
        "loss_first": losses[0],
        "loss_last": losses[-1],
        "spec": spec,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1:])
