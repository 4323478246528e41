"""Decoding controls of docs/checkpoint-format.md §7.1-7.6 (issue 14) for the
PyTorch reference: logit processors, target prefix, forced decoding
(scoring), alternatives, the wu/avg/none length penalties, the GNMT coverage
penalty and seeded sampling.

    from s2s_ref.decoding import DecodeOptions, decode
    out = decode(model, src_ids, DecodeOptions(beam_size=5, coverage_penalty=0.2))
    out["hyps"][0]["ids"], out["alternatives"]

`decode` handles one sentence, the way the C engine handles one sentence of
a batch: greedy is beam search with B = 1 (so its norm_score carries the
length penalty, as the C core's does), every float that the C core keeps in
float32 is float32 here, and ties go to the lower flat index (§7). With
default options it gives exactly what Seq2Seq.beam_search gives.

The step order (spec: processors -> log-softmax -> selection) and every
formula are the contract the C core implements; the comments name the
section each piece follows.
"""

import dataclasses
import json
import math

import numpy as np
import torch

from .model import EOS, UNK, _copy_hyp, _extend, _new_hyp, _sel, _sel_state, length_penalty_factor, pad_batch

LP_TYPES = ("wu", "avg", "none")
MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


@dataclasses.dataclass
class DecodeOptions:
    """The fields of s2s_decode_options (core/s2s_decode.h), with its defaults."""
    beam_size: int = 1
    n_best: int = 1
    length_penalty: float = 0.0
    length_penalty_type: str = "wu"
    coverage_penalty: float = 0.0
    min_length: int = 0
    repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    suppress_ids: tuple = ()
    disable_unk: bool = False
    prefix_ids: tuple = ()
    force_eos: bool = False
    sampling_topk: int = 1
    sampling_topp: float = 1.0
    sampling_temperature: float = 1.0
    seed: int = 0
    return_alternatives: int = 0
    max_len_a: float = 2.0
    max_len_b: int = 10
    max_len: int = 256

    def to_json(self):
        d = dataclasses.asdict(self)
        d["suppress_ids"] = [int(i) for i in self.suppress_ids]
        d["prefix_ids"] = [int(i) for i in self.prefix_ids]
        return d

    @classmethod
    def from_json(cls, obj):
        return cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in obj.items()})

    @property
    def sampling(self):
        return self.sampling_topk != 1

    def has_processors(self):
        return (self.repetition_penalty != 1.0 or self.no_repeat_ngram_size > 0 or
                len(self.suppress_ids) > 0 or self.disable_unk or self.min_length > 0)

    def check(self, vocab_size, has_attention):
        """The bounds of the spec (s2s_decode_options_check + s2s_batch_add); ValueError naming the field."""
        def need(ok, field, why):
            if not ok:
                raise ValueError("%s: %s" % (field, why))
        need(1 <= self.beam_size <= 64, "beam_size", "must be in 1..64")
        need(1 <= self.n_best <= self.beam_size, "n_best", "must be in 1..beam_size")
        need(self.length_penalty_type in LP_TYPES, "length_penalty_type", "must be wu, avg or none")
        need(math.isfinite(self.coverage_penalty) and 0 <= self.coverage_penalty <= 100,
             "coverage_penalty", "must be in [0, 100]")
        need(self.coverage_penalty == 0 or has_attention, "coverage_penalty", "needs a model with attention")
        need(0 <= self.min_length <= self.max_len, "min_length", "must be in 0..max_len")
        need(math.isfinite(self.repetition_penalty) and 0 < self.repetition_penalty <= 100,
             "repetition_penalty", "must be in (0, 100]")
        need(0 <= self.no_repeat_ngram_size <= 32, "no_repeat_ngram_size", "must be in 0..32")
        for w in self.suppress_ids:
            need(0 <= w < vocab_size and w not in (0, 2, EOS), "suppress_ids", "bad id %d" % w)
        for w in self.prefix_ids:
            need(0 <= w < vocab_size and w not in (0, 2, EOS), "prefix_ids", "bad id %d" % w)
        need(0 <= self.sampling_topk <= vocab_size, "sampling_topk", "must be in 0..V")
        need(0 < self.sampling_topp <= 1, "sampling_topp", "must be in (0, 1]")
        need(math.isfinite(self.sampling_temperature) and 0 < self.sampling_temperature <= 100,
             "sampling_temperature", "must be in (0, 100]")
        need(self.sampling or (self.sampling_topp == 1 and self.sampling_temperature == 1),
             "sampling_topp", "needs sampling_topk != 1")
        need(not self.sampling or (self.beam_size == 1 and self.n_best == 1), "beam_size",
             "sampling needs beam_size 1")
        need(0 <= self.return_alternatives <= 64, "return_alternatives", "must be in 0..64")
        if self.force_eos:
            need(self.beam_size == 1 and not self.sampling and not self.has_processors()
                 and self.return_alternatives == 0, "force_eos",
                 "needs beam_size 1, no sampling, no processors, no alternatives")


# -- §7.5 random numbers ---------------------------------------------------------

def splitmix64(seed, t):
    """The 64-bit output of splitmix64 for step t (0-based) of a sentence seeded `seed`."""
    x = (seed + (t + 1) * GOLDEN) & MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK64
    return x ^ (x >> 31)


def uniform(seed, t):
    """u(seed, t): a double in [0, 1) from the top 53 bits."""
    return (splitmix64(seed, t) >> 11) * (2.0 ** -53)


# -- §7.1 processors on logits ------------------------------------------------------

def ngram_bans(hist, n):
    """Ids w such that (hist[-n+1:], w) is an n-gram already in hist."""
    if n <= 0 or len(hist) < n - 1:
        return set()
    if n == 1:
        return set(hist)
    suffix = hist[len(hist) - n + 1:]
    return {hist[i + n - 1] for i in range(len(hist) - n + 1) if hist[i:i + n - 1] == suffix}


def process_logits(z, hist, opts):
    """Returns the processed float32 logits of one row (a new tensor when
    anything applies): repetition penalty, then the masks; </s> comes back
    if the masks left nothing finite."""
    if not opts.has_processors():
        return z
    z = z.clone()
    if opts.repetition_penalty != 1.0 and hist:
        theta = torch.tensor(opts.repetition_penalty, dtype=torch.float32)
        idx = torch.tensor(sorted(set(hist)), dtype=torch.long)
        v = z[idx]
        z[idx] = torch.where(v > 0, v / theta, v * theta)
    banned = ngram_bans(hist, opts.no_repeat_ngram_size)
    banned.update(int(w) for w in opts.suppress_ids)
    if opts.disable_unk:
        banned.add(UNK)
    if len(hist) < opts.min_length:
        banned.add(EOS)
    if banned:
        eos_before = z[EOS].clone()
        z[torch.tensor(sorted(banned), dtype=torch.long)] = float("-inf")
        if not torch.isfinite(z).any():
            z[EOS] = eos_before
    return z


# -- selection helpers ------------------------------------------------------------

def ranked(logp_row, limit=None):
    """Finite ids by logp descending, ties by lower id: [(id, logp float)]."""
    vals = logp_row.tolist()
    ids = [w for w in range(len(vals)) if math.isfinite(vals[w])]
    ids.sort(key=lambda w: (-vals[w], w))
    if limit:
        ids = ids[:limit]
    return [(w, vals[w]) for w in ids]


def sample(logp_row, opts, t, margins=None):
    """§7.5: the sampled id at step t. `margins` gets the distance (relative
    to the total weight) of every cut a float difference could move."""
    order = ranked(logp_row, opts.sampling_topk if opts.sampling_topk > 0 else None)
    if margins is not None and opts.sampling_topk > 0:
        rest = ranked(logp_row)
        if len(rest) > len(order):
            margins.append(order[-1][1] - rest[len(order)][1])
    tau = np.float32(opts.sampling_temperature)
    first = float(np.float32(order[0][1]) / tau)
    weights = [math.exp(float(np.float32(lp) / tau) - first) for _, lp in order]
    p = float(np.float32(opts.sampling_topp))
    if p < 1.0:
        total = 0.0
        for x in weights:
            total += x
        run, keep = 0.0, len(weights)
        for k, x in enumerate(weights):
            run += x
            if run >= p * total:
                keep = k + 1
                if margins is not None:
                    margins.append((run - p * total) / total)
                    if k > 0:
                        margins.append((p * total - (run - x)) / total)
                    if k + 1 < len(order):  # which id is last kept: its gap to the next
                        margins.append(order[k][1] - order[k + 1][1])
                break
        order, weights = order[:keep], weights[:keep]
    total = 0.0
    for x in weights:
        total += x
    target = uniform(opts.seed, t) * total
    run = 0.0
    for k, x in enumerate(weights):
        before = run
        run += x
        if run > target:
            if margins is not None:
                margins.append(min(target - before, run - target) / total)
                # A near tie with a neighbour could swap which id owns this interval.
                margins.extend(order[j][1] - order[j + 1][1] for j in (k - 1, k) if 0 <= j < len(order) - 1)
            return order[k][0]
    return order[-1][0]


# -- §7.2 final scores ---------------------------------------------------------------

def lp_factor(n, opts):
    if opts.length_penalty_type == "avg":
        return np.float32(n)
    if opts.length_penalty_type == "none":
        return np.float32(1.0)
    return length_penalty_factor(n, opts.length_penalty)


def coverage(attention, beta):
    """GNMT cp = beta * sum_j log(min(max(c_j, 1e-6), 1)): c_j summed over the
    hypothesis' attention rows in float32 (t order), clamped in float32, each
    log in float64 summed in j order, the sum cast to float32 once and
    multiplied by the float32 beta (as core/beam.c does)."""
    if not attention:
        return np.float32(0.0)
    c = np.zeros(len(attention[0]), dtype=np.float32)
    for row in attention:
        c = (c + np.asarray(row, dtype=np.float32)).astype(np.float32)
    floor = float(np.float32(1e-6))
    s = 0.0
    for cj in c.tolist():
        s += math.log(min(max(cj, floor), 1.0))
    return np.float32(np.float32(beta) * np.float32(s))


def final_score(h, opts):
    norm = np.float32(np.float32(h["score"]) / lp_factor(len(h["ids"]), opts))
    if opts.coverage_penalty > 0:
        norm = np.float32(norm + coverage(h["attention"], opts.coverage_penalty))
    return norm


# -- the search -------------------------------------------------------------------

def max_steps(n_src, opts):
    if opts.force_eos:
        return len(opts.prefix_ids) + 1
    return max(1, min(opts.max_len, int(math.floor(opts.max_len_a * n_src)) + opts.max_len_b))


def sentinel_constraint(meta):
    """The §6 constraint (docs/localisation.md) every sentence without spans
    of a model with sentinels decodes under, as the C core does: no sentinel
    is ever emitted. None for a model without sentinels. `meta` is the
    checkpoint metadata (s2s_ref.export.load_model's second value)."""
    from .spans import Constraint, Sentinels
    sent = Sentinels(json.loads(meta["seq2seqd.src_vocab"]), json.loads(meta["seq2seqd.tgt_vocab"]))
    if sent.n_ph < 1 and sent.n_pairs < 1:
        return None
    return Constraint(sent, 0, 0)


@torch.no_grad()
def decode(model, src_ids, opts=None, margins=None, constraint=None):
    """One sentence under `opts` -> {"hyps": [hyp dicts, best first], "alternatives": [(id, logp)]}.

    `constraint`: None or an s2s_ref.spans.Constraint (sentinel_constraint()
    for a model with sentinels): its bans apply after the log-softmax, with
    no renormalisation (spec step 4), before alternatives and selection; not
    at forced steps (prefix, force_eos), whose token is taken regardless.

    Hypothesis dicts are those of Seq2Seq.beam_search (ids, logprobs, score,
    norm_score, finished, attention). `margins`, when a list, receives every
    gap that float noise between this and the C core could flip (top-1/top-2
    at greedy steps, the top-B cut, sampling cuts, final ranking), so a
    fixture generator can reject fragile cases.
    """
    opts = opts or DecodeOptions()
    opts.check(model.cfg.tgt_vocab_size, model.cfg.attention != "none")
    prefix = [int(w) for w in opts.prefix_ids]
    T = max_steps(len(src_ids), opts)
    if len(prefix) > T - 1:
        raise ValueError("prefix of %d tokens leaves no step within max_length %d" % (len(prefix), T))
    B = opts.beam_size
    src, lens = pad_batch([src_ids])
    enc = model.encode(src, lens)
    live, finished, alternatives = [_new_hyp()], [], []
    state, feed = enc["state"], enc["feed"]
    for t in range(T):
        nl = len(live)
        y = torch.tensor([h["ids"][-1] if h["ids"] else 2 for h in live])
        expand = [0] * nl
        z, alpha, state, feed = model.decoder.step(
            y, state, feed, enc["memory"][expand], _sel(enc["keys"], expand), enc["mask"][expand])
        rows_z = [process_logits(z[i], live[i]["ids"], opts) for i in range(nl)]
        logp = torch.log_softmax(torch.stack(rows_z), 1)
        forced = t < len(prefix) or (opts.force_eos and t == len(prefix))
        for h in live:
            if constraint is not None:
                h.setdefault("cstate", constraint.start())
        if constraint is not None and not forced:
            # A forced token is taken whatever the sentinel constraint says
            # (as in core/beam.c); the history still records it.
            for i, h in enumerate(live):
                constraint.apply(logp[i], h["cstate"])
        if opts.return_alternatives and t == len(prefix):
            alternatives = ranked(logp[0], opts.return_alternatives)
            if margins is not None:
                near = ranked(logp[0], opts.return_alternatives + 1)
                margins.extend(a[1] - b[1] for a, b in zip(near, near[1:]))
        if forced:
            picks = [(0, prefix[t] if t < len(prefix) else EOS)]
        elif opts.sampling:
            picks = [(0, sample(logp[0], opts, t, margins))]
        else:
            picks = _beam_picks(live, logp, B, margins)
        new_live, rows = [], []
        for i, w in picks:
            h = _copy_hyp(live[i])
            if constraint is not None:
                h["cstate"] = constraint.advance(live[i]["cstate"], w)
            _extend(h, w, logp[i, w], alpha[i] if alpha is not None else None)
            if w == EOS:
                h["finished"] = True
                finished.append(h)
            else:
                new_live.append(h)
                rows.append(i)
        if t == T - 1:
            finished.extend(new_live)
            new_live = []
        if len(finished) >= B or not new_live:
            break
        live = new_live
        state = _sel_state(state, rows)
        feed = feed[rows]
    for h in finished:
        h["norm_score"] = float(final_score(h, opts))
    finished.sort(key=lambda h: -h["norm_score"])
    if margins is not None:
        norms = [h["norm_score"] for h in finished[:opts.n_best + 1]]
        margins.extend(a - b for a, b in zip(norms, norms[1:]))
    return {"hyps": finished[:opts.n_best], "alternatives": alternatives}


def _beam_picks(live, logp, B, margins):
    """§7 step 2: the first B finite candidates by score, ties by flat index."""
    scores = torch.tensor([float(h["score"]) for h in live], dtype=torch.float32)
    cand = (scores.unsqueeze(1) + logp).reshape(-1).numpy()
    order = np.argsort(-cand, kind="stable")
    if margins is not None and len(order) > B and np.isfinite(cand[order[B]]):
        margins.append(float(cand[order[B - 1]] - cand[order[B]]))
    V = logp.shape[1]
    picks = []
    for flat in order[:B]:
        if not np.isfinite(cand[flat]):
            break  # fewer allowed candidates than the beam
        picks.append(divmod(int(flat), V))
    return picks
