"""The PyTorch reference of seq2seqd's model family (docs/checkpoint-format.md).

`Seq2Seq` is the model the C core must reproduce: its state_dict names are the
checkpoint's tensor names, and `greedy` / `beam_search` implement section 7 of
the format document step for step (float32 scores, the same tie order), so
golden fixtures produced here pin down the C core's behaviour exactly.
The decoding controls of §7.1-7.6 (prefix, processors, sampling, coverage,
scoring) are in s2s_ref.decoding, whose defaults reproduce these two.
"""

import dataclasses
import json
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

PAD, UNK, BOS, EOS = 0, 1, 2, 3
CELLS = ("rnn_tanh", "rnn_relu", "gru", "lstm")
BRIDGES = ("zeros", "last", "linear")
ATTENTIONS = ("none", "dot", "general", "additive")
PLACEMENTS = ("bahdanau", "luong")
ACTIVATIONS = ("tanh", "relu", "none")
ATTN_OUT_ACTIVATIONS = ("tanh", "none")
BRIDGE_INPUTS = ("top", "all")
BRIDGE_CELLS = ("zeros", "hidden", "linear")


@dataclasses.dataclass
class Seq2SeqConfig:
    cell: str = "lstm"
    emb_dim: int = 32
    enc_hidden: int = 32
    enc_layers: int = 1
    bidirectional: bool = False
    reverse_source: bool = False
    dec_hidden: int = 32
    dec_layers: int = 1
    bridge: str = "zeros"
    attention: str = "additive"
    attn_placement: str = "luong"
    attn_dim: int = 32
    input_feed: bool = False
    tie_embeddings: bool = False
    src_vocab_size: int = 0
    tgt_vocab_size: int = 0
    # Extensions (docs/checkpoint-format.md §3) for imported models. Each is
    # optional and omitted by to_json() at its default, so checkpoints that do
    # not use them stay byte-identical to those written before they existed.
    attn_out_bias: bool = False
    attn_out_activation: str = "tanh"
    bridge_input: str = "top"
    bridge_activation: str = "tanh"
    bridge_cell: str = "zeros"

    @property
    def enc_out(self):
        return self.enc_hidden * (2 if self.bidirectional else 1)

    @property
    def dec_input(self):
        n = self.emb_dim
        if self.attention != "none" and self.attn_placement == "bahdanau":
            n += self.enc_out
        if self.input_feed:
            n += self.dec_hidden
        return n

    @property
    def bridge_in(self):
        """Input size of the linear bridge: the top layer's final state, or every layer's."""
        return self.enc_out * (self.enc_layers if self.bridge_input == "all" else 1)

    def validate(self):
        """Raises ValueError naming the key, with the same rules as core/config.c."""
        def need(ok, key, why):
            if not ok:
                raise ValueError("config key '%s': %s" % (key, why))
        need(self.cell in CELLS, "cell", "must be one of %s" % (CELLS,))
        need(self.bridge in BRIDGES, "bridge", "must be one of %s" % (BRIDGES,))
        need(self.attention in ATTENTIONS, "attention", "must be one of %s" % (ATTENTIONS,))
        need(self.attn_placement in PLACEMENTS, "attn_placement", "must be one of %s" % (PLACEMENTS,))
        for key in ("emb_dim", "enc_hidden", "dec_hidden"):
            need(1 <= getattr(self, key) <= 4096, key, "must be in 1..4096")
        for key in ("enc_layers", "dec_layers"):
            need(1 <= getattr(self, key) <= 8, key, "must be in 1..8")
        for key in ("src_vocab_size", "tgt_vocab_size"):
            need(5 <= getattr(self, key) <= 1 << 24, key, "must be in 5..2^24")
        if self.attention == "additive":
            need(1 <= self.attn_dim <= 4096, "attn_dim", "must be in 1..4096 for additive attention")
        if self.bridge == "last":
            need(self.dec_layers == self.enc_layers and self.dec_hidden == self.enc_out, "bridge",
                 "'last' needs dec_layers == enc_layers and dec_hidden == encoder output size")
        if self.attention == "dot":
            need(self.dec_hidden == self.enc_out, "attention", "'dot' needs dec_hidden == encoder output size")
        if self.input_feed:
            need(self.attention != "none" and self.attn_placement == "luong", "input_feed",
                 "needs attention and luong placement")
        if self.tie_embeddings:
            need(self.emb_dim == self.dec_hidden, "tie_embeddings", "needs emb_dim == dec_hidden")
        self._validate_extensions(need)
        return self

    def _validate_extensions(self, need):
        """The optional keys: their values, then the models they are meaningful for.
        A non-default value where it would have no effect is refused, so a
        converter that sets it by mistake hears about it."""
        need(isinstance(self.attn_out_bias, bool), "attn_out_bias", "must be true or false")
        for key, allowed in (("attn_out_activation", ATTN_OUT_ACTIVATIONS), ("bridge_input", BRIDGE_INPUTS),
                             ("bridge_activation", ACTIVATIONS), ("bridge_cell", BRIDGE_CELLS)):
            v = getattr(self, key)
            need(isinstance(v, str) and v in allowed, key, "must be one of %s" % (allowed,))
        luong = self.attention != "none" and self.attn_placement == "luong"
        for key in ("attn_out_bias", "attn_out_activation"):
            if getattr(self, key) != EXTENSION_DEFAULTS[key]:
                need(luong, key, "needs attention and luong placement")
        for key in ("bridge_input", "bridge_activation", "bridge_cell"):
            if getattr(self, key) != EXTENSION_DEFAULTS[key]:
                need(self.bridge == "linear", key, "needs bridge 'linear'")
        if self.bridge_cell != "zeros":
            need(self.cell == "lstm", "bridge_cell", "needs cell 'lstm'")

    def to_json(self):
        d = dataclasses.asdict(self)
        for key, default in EXTENSION_DEFAULTS.items():
            if d[key] == default and type(d[key]) is type(default):
                del d[key]
        return d

    @classmethod
    def from_json(cls, obj):
        if isinstance(obj, str):
            obj = json.loads(obj)
        unknown = set(obj) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError("unknown config keys: %s" % sorted(unknown))
        return cls(**obj).validate()


EXTENSION_DEFAULTS = {f.name: f.default for f in dataclasses.fields(Seq2SeqConfig)
                      if f.name in ("attn_out_bias", "attn_out_activation", "bridge_input",
                                    "bridge_activation", "bridge_cell")}


def _activation(kind, x):
    if kind == "tanh":
        return torch.tanh(x)
    if kind == "relu":
        return torch.relu(x)
    return x


def _rnn(cfg, inp, hidden, layers, bidirectional=False):
    kw = dict(num_layers=layers, batch_first=True, bidirectional=bidirectional)
    if cfg.cell == "lstm":
        return nn.LSTM(inp, hidden, **kw)
    if cfg.cell == "gru":
        return nn.GRU(inp, hidden, **kw)
    return nn.RNN(inp, hidden, nonlinearity=cfg.cell[4:], **kw)


def _reverse_rows(x, lens):
    """Reverses the first lens[b] positions of each row of x [B, S, ...]; padding stays put."""
    B, S = x.shape[0], x.shape[1]
    idx = torch.arange(S).unsqueeze(0).repeat(B, 1)
    for b in range(B):
        n = int(lens[b])
        idx[b, :n] = torch.arange(n - 1, -1, -1)
    idx = idx.to(x.device)
    if x.dim() == 2:
        return torch.gather(x, 1, idx)
    return torch.gather(x, 1, idx.unsqueeze(-1).expand_as(x))


class Encoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.embedding = nn.Embedding(cfg.src_vocab_size, cfg.emb_dim)
        self.rnn = _rnn(cfg, cfg.emb_dim, cfg.enc_hidden, cfg.enc_layers, cfg.bidirectional)

    def forward(self, src, lens, dropout=0.0):
        """src [B, S] padded with 0, lens [B] -> memory [B, S, K], final state."""
        if self.cfg.reverse_source:
            src = _reverse_rows(src, lens)
        x = F.dropout(self.embedding(src), dropout, self.training)
        packed = pack_padded_sequence(x, torch.as_tensor(lens).cpu(), batch_first=True,
                                      enforce_sorted=False)
        out, final = self.rnn(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=src.shape[1])
        if self.cfg.reverse_source:
            out = _reverse_rows(out, lens)
        return out, final


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.kind = cfg.attention
        if self.kind == "general":
            self.linear_in = nn.Linear(cfg.enc_out, cfg.dec_hidden, bias=False)
        elif self.kind == "additive":
            self.query = nn.Linear(cfg.dec_hidden, cfg.attn_dim, bias=False)
            self.key = nn.Linear(cfg.enc_out, cfg.attn_dim)
            self.v = nn.Linear(cfg.attn_dim, 1, bias=False)

    def keys(self, memory):
        """Per-sentence keys, computed once: W m_j (general), W_k m_j + b_k (additive)."""
        if self.kind == "general":
            return self.linear_in(memory)
        if self.kind == "additive":
            return self.key(memory)
        return memory

    def forward(self, q, keys, memory, mask):
        """q [B, D] -> context [B, K], weights [B, S] (zero on padding)."""
        if self.kind == "additive":
            scores = self.v(torch.tanh(keys + self.query(q).unsqueeze(1))).squeeze(2)
        else:
            scores = torch.bmm(keys, q.unsqueeze(2)).squeeze(2)
        scores = scores.masked_fill(~mask, float("-inf"))
        alpha = torch.softmax(scores, dim=1)
        return torch.bmm(alpha.unsqueeze(1), memory).squeeze(1), alpha

    def forward_all(self, q, keys, memory, mask):
        """Every query at once: q [B, T, D] -> context [B, T, K], weights [B, T, S].

        Same numbers as calling forward() once per step; used only when the
        queries do not depend on earlier contexts (luong placement, no feed).
        """
        if self.kind == "additive":
            scores = self.v(torch.tanh(keys.unsqueeze(1) + self.query(q).unsqueeze(2))).squeeze(3)
        else:
            scores = torch.bmm(q, keys.transpose(1, 2))
        scores = scores.masked_fill(~mask.unsqueeze(1), float("-inf"))
        alpha = torch.softmax(scores, dim=2)
        return torch.bmm(alpha, memory), alpha


class TiedOutput(nn.Module):
    """Output layer sharing the target embedding; only its bias is a parameter."""

    def __init__(self, vocab):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(vocab))


class Decoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.embedding = nn.Embedding(cfg.tgt_vocab_size, cfg.emb_dim)
        self.rnn = _rnn(cfg, cfg.dec_input, cfg.dec_hidden, cfg.dec_layers)
        if cfg.attention != "none":
            self.attention = Attention(cfg)
            if cfg.attn_placement == "luong":
                self.attention_out = nn.Linear(cfg.enc_out + cfg.dec_hidden, cfg.dec_hidden,
                                               bias=cfg.attn_out_bias)
        if cfg.tie_embeddings:
            self.out = TiedOutput(cfg.tgt_vocab_size)
        else:
            self.out = nn.Linear(cfg.dec_hidden, cfg.tgt_vocab_size)

    def project(self, o):
        if self.cfg.tie_embeddings:
            return F.linear(o, self.embedding.weight, self.out.bias)
        return self.out(o)

    def attentional(self, ctx, s):
        """Luong's attentional vector act(W_c [c; h] (+ b_c)), for [..., K] and [..., D]."""
        return _activation(self.cfg.attn_out_activation, self.attention_out(torch.cat([ctx, s], -1)))

    def _top(self, state):
        return (state[0] if self.cfg.cell == "lstm" else state)[-1]

    def step(self, y_prev, state, feed, memory, keys, mask, dropout=0.0):
        """One step of section 6.4 -> (logits [B, V], alpha [B, S] or None, state, feed)."""
        cfg = self.cfg
        emb = F.dropout(self.embedding(y_prev), dropout, self.training)
        alpha = None
        if cfg.attention == "none":
            out, state = self.rnn(emb.unsqueeze(1), state)
            o = out[:, 0]
        elif cfg.attn_placement == "bahdanau":
            ctx, alpha = self.attention(self._top(state), keys, memory, mask)
            out, state = self.rnn(torch.cat([emb, ctx], 1).unsqueeze(1), state)
            o = out[:, 0]
        else:
            inp = torch.cat([emb, feed], 1) if cfg.input_feed else emb
            out, state = self.rnn(inp.unsqueeze(1), state)
            s = out[:, 0]
            ctx, alpha = self.attention(s, keys, memory, mask)
            o = feed = self.attentional(ctx, s)
        o = F.dropout(o, dropout, self.training)
        return self.project(o), alpha, state, feed


class Seq2Seq(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg.validate()
        self.encoder = Encoder(cfg)
        if cfg.bridge == "linear":
            self.bridge = nn.Linear(cfg.bridge_in, cfg.dec_layers * cfg.dec_hidden)
            if cfg.bridge_cell == "linear":
                self.bridge_c = nn.Linear(cfg.bridge_in, cfg.dec_layers * cfg.dec_hidden)
        self.decoder = Decoder(cfg)

    # -- encoding ---------------------------------------------------------
    def _final_by_layer(self, h):
        """[L*dirs, B, H] -> [L, B, dirs*H] with [fwd; bwd] per layer."""
        cfg = self.cfg
        dirs = 2 if cfg.bidirectional else 1
        L, B = cfg.enc_layers, h.shape[1]
        return h.view(L, dirs, B, cfg.enc_hidden).permute(0, 2, 1, 3).reshape(L, B, dirs * cfg.enc_hidden)

    def start_state(self, final, batch):
        cfg = self.cfg
        lstm = cfg.cell == "lstm"
        h_n = final[0] if lstm else final
        zeros = torch.zeros(cfg.dec_layers, batch, cfg.dec_hidden, device=h_n.device)
        if cfg.bridge == "zeros":
            h, c = zeros, zeros.clone()
        elif cfg.bridge == "last":
            h = self._final_by_layer(h_n)
            c = self._final_by_layer(final[1]) if lstm else None
        else:
            h = self._linear_bridge(self.bridge, h_n, batch)
            if not lstm or cfg.bridge_cell == "zeros":
                c = zeros.clone()
            elif cfg.bridge_cell == "hidden":
                c = h.clone()
            else:
                c = self._linear_bridge(self.bridge_c, final[1], batch)
        return (h, c) if lstm else h

    def _linear_bridge(self, linear, finals, batch):
        """act(W s + b) -> [dec_layers, B, D]; s is the top layer's final state
        [fwd; bwd], or with bridge_input 'all' every layer's in h_n order."""
        cfg = self.cfg
        by_layer = self._final_by_layer(finals)
        s = by_layer[-1] if cfg.bridge_input == "top" else by_layer.transpose(0, 1).reshape(batch, -1)
        h = _activation(cfg.bridge_activation, linear(s))
        return h.view(batch, cfg.dec_layers, cfg.dec_hidden).transpose(0, 1).contiguous()

    def encode(self, src, lens, dropout=0.0):
        """-> dict with memory [B,S,K], keys, mask [B,S], state, feed [B,D]."""
        # lens stays on the CPU (pack_padded_sequence wants it there); every
        # tensor made here goes to src's device so a CUDA run works.
        lens = torch.as_tensor(lens).cpu()
        memory, final = self.encoder(src, lens, dropout)
        dev = src.device
        mask = torch.arange(src.shape[1], device=dev).unsqueeze(0) < lens.to(dev).unsqueeze(1)
        keys = self.decoder.attention.keys(memory) if self.cfg.attention != "none" else None
        B = src.shape[0]
        return {"memory": memory, "keys": keys, "mask": mask, "state": self.start_state(final, B),
                "feed": torch.zeros(B, self.cfg.dec_hidden, device=dev)}

    # -- training ----------------------------------------------------------
    def forward(self, src, src_lens, tgt_in, dropout=0.0):
        """Teacher-forced logits [B, T, V] for target inputs tgt_in [B, T] (starting with <s>)."""
        enc = self.encode(src, src_lens, dropout)
        if self.decoder_is_parallel():
            return self._forward_parallel(enc, tgt_in, dropout)
        state, feed = enc["state"], enc["feed"]
        logits = []
        for t in range(tgt_in.shape[1]):
            z, _, state, feed = self.decoder.step(tgt_in[:, t], state, feed, enc["memory"],
                                                  enc["keys"], enc["mask"], dropout)
            logits.append(z)
        return torch.stack(logits, 1)

    def decoder_is_parallel(self):
        """True when no decoder input depends on an earlier attention context,
        so teacher forcing can run the decoder RNN over all steps in one call."""
        cfg = self.cfg
        return cfg.attention == "none" or (cfg.attn_placement == "luong" and not cfg.input_feed)

    def _forward_parallel(self, enc, tgt_in, dropout):
        """forward() without the per-step Python loop: one RNN call over the
        whole target, then attention for every step as batched matrix products.
        On 2 CPU cores this trains several times faster than step()."""
        dec = self.decoder
        emb = F.dropout(dec.embedding(tgt_in), dropout, self.training)
        s, _ = dec.rnn(emb, enc["state"])
        if self.cfg.attention == "none":
            o = s
        else:
            ctx, _ = dec.attention.forward_all(s, enc["keys"], enc["memory"], enc["mask"])
            o = dec.attentional(ctx, s)
        return dec.project(F.dropout(o, dropout, self.training))

    # -- decoding (section 7) -----------------------------------------------
    @staticmethod
    def max_steps(n, max_len_a=2.0, max_len_b=10, max_len=256):
        # At least one step, as the C engine and docs/checkpoint-format.md §7 say:
        # T = 0 would leave no hypothesis to return.
        return max(1, min(max_len, int(math.floor(max_len_a * n)) + max_len_b))

    @torch.no_grad()
    def greedy(self, src_list, max_len_a=2.0, max_len_b=10, max_len=256, record_logits=False,
               constraints=None):
        """Greedy decoding of a batch of id lists; returns one hypothesis dict per sentence.

        `constraints`: None or one s2s_ref.spans.Constraint (or None) per
        sentence; a constrained sentence picks the best allowed token after
        log-softmax (forbidden ones at -inf, no renormalisation; the lowest
        id on ties), as the spec of issue 12 §6 says."""
        src, lens = pad_batch(src_list)
        enc = self.encode(src, lens)
        B = len(src_list)
        limits = [self.max_steps(n, max_len_a, max_len_b, max_len) for n in lens]
        hyps = [_new_hyp() for _ in range(B)]
        done = [False] * B
        y = torch.full((B,), BOS, dtype=torch.long)
        state, feed = enc["state"], enc["feed"]
        cstate = [c.start() if c is not None else None for c in (constraints or [None] * B)]
        for t in range(max(limits)):
            z, alpha, state, feed = self.decoder.step(y, state, feed, enc["memory"], enc["keys"], enc["mask"])
            logp = torch.log_softmax(z, 1)
            if constraints is not None:
                for b, c in enumerate(constraints):
                    if c is not None and not done[b]:
                        c.apply(logp[b], cstate[b])
            y = torch.argmax(logp, 1)
            for b in range(B):
                if done[b]:
                    continue
                w = int(y[b])
                if constraints is not None and constraints[b] is not None:
                    cstate[b] = constraints[b].advance(cstate[b], w)
                _extend(hyps[b], w, logp[b, w], alpha[b, :lens[b]] if alpha is not None else None)
                if record_logits:
                    hyps[b].setdefault("logits", []).append(z[b].tolist())
                if w == EOS or t + 1 == limits[b]:
                    done[b] = True
                    hyps[b]["finished"] = w == EOS
            if all(done):
                break
        for h in hyps:
            h["norm_score"] = float(h["score"])
        return hyps

    @torch.no_grad()
    def beam_search(self, src_ids, beam_size=5, n_best=1, length_penalty=0.0, max_len_a=2.0,
                    max_len_b=10, max_len=256, margins=None, constraint=None):
        """Section 7 beam search for one sentence; returns n_best hypothesis dicts.

        `constraint` (an s2s_ref.spans.Constraint or None): forbidden tokens
        of each hypothesis get -inf after log-softmax and are never selected
        (issue 12 §6); allowed ones keep their log-probabilities.

        `margins`, when a list, receives the score gap at every top-B cut, so a
        fixture generator can reject cases whose order float noise could flip.
        """
        src, lens = pad_batch([src_ids])
        enc = self.encode(src, lens)
        T = self.max_steps(len(src_ids), max_len_a, max_len_b, max_len)
        live, finished = [_new_hyp()], []
        if constraint is not None:
            live[0]["cstate"] = constraint.start()
        state, feed = enc["state"], enc["feed"]
        for t in range(1, T + 1):
            nl = len(live)
            y = torch.tensor([h["ids"][-1] if h["ids"] else BOS for h in live])
            expand = [0] * nl
            z, alpha, state, feed = self.decoder.step(
                y, state, feed, enc["memory"][expand], _sel(enc["keys"], expand), enc["mask"][expand])
            logp = torch.log_softmax(z, 1)
            if constraint is not None:
                for i, h in enumerate(live):
                    constraint.apply(logp[i], h["cstate"])
            scores = torch.tensor([h["score"] for h in live], dtype=torch.float32)
            cand = (scores.unsqueeze(1) + logp).reshape(-1).numpy()
            order = np.argsort(-cand, kind="stable")
            if margins is not None and len(order) > beam_size:
                margins.append(float(cand[order[beam_size - 1]] - cand[order[beam_size]]))
            V = logp.shape[1]
            new_live, rows = [], []
            for flat in order[:beam_size]:
                if not np.isfinite(cand[flat]):
                    break  # fewer allowed candidates than the beam
                i, w = divmod(int(flat), V)
                h = _copy_hyp(live[i])
                if constraint is not None:
                    h["cstate"] = constraint.advance(live[i]["cstate"], w)
                _extend(h, w, logp[i, w], alpha[i] if alpha is not None else None)
                h["score"] = np.float32(cand[flat])
                if w == EOS:
                    h["finished"] = True
                    finished.append(h)
                else:
                    new_live.append(h)
                    rows.append(i)
            if t == T:
                finished.extend(new_live)
                new_live = []
            if len(finished) >= beam_size or not new_live:
                break
            live = new_live
            state = _sel_state(state, rows)
            feed = feed[rows]
        for h in finished:
            h["norm_score"] = float(np.float32(h["score"]) / length_penalty_factor(len(h["ids"]), length_penalty))
        finished.sort(key=lambda h: -h["norm_score"])
        return finished[:n_best]


def length_penalty_factor(n, alpha):
    """GNMT lp(L) = ((5 + L) / 6) ** alpha, rounded to float32 like the C core.

    The power is taken in double precision by libm and then rounded: numpy's
    float32 power is vectorised differently per CPU (AVX-512 builds are a few
    ulps off), which made fixtures regenerate differently on other machines.
    """
    if alpha == 0:
        return np.float32(1.0)
    base = np.float32(5.0 + n) / np.float32(6.0)
    return np.float32(math.pow(float(base), float(np.float32(alpha))))


def pad_batch(src_list):
    lens = [len(s) for s in src_list]
    if min(lens) < 1:
        raise ValueError("empty source sentence")
    src = torch.zeros(len(src_list), max(lens), dtype=torch.long)
    for b, s in enumerate(src_list):
        src[b, : len(s)] = torch.tensor(s, dtype=torch.long)
    return src, lens


def _new_hyp():
    return {"ids": [], "logprobs": [], "score": np.float32(0.0), "attention": [], "finished": False}


def _copy_hyp(h):
    return {"ids": list(h["ids"]), "logprobs": list(h["logprobs"]), "score": h["score"],
            "attention": list(h["attention"]), "finished": False}


def _extend(h, w, logp, alpha):
    h["ids"].append(w)
    lp = np.float32(float(logp))
    h["logprobs"].append(lp)
    h["score"] = np.float32(h["score"] + lp)
    if alpha is not None:
        h["attention"].append([float(a) for a in alpha])


def _sel(x, rows):
    return None if x is None else x[rows]


def _sel_state(state, rows):
    if isinstance(state, tuple):
        return tuple(s[:, rows].contiguous() for s in state)
    return state[:, rows].contiguous()
