#!/usr/bin/python3
"""Builds the Joey NMT fixtures with Joey NMT's own code (spec10-fixtures.md).

    JOEYNMT_SRC=/path/to/joeynmt-tree SUBWORD_NMT_SRC=/path/to/subword-nmt-tree \\
    OMP_NUM_THREADS=1 /usr/bin/python3 gen_joeynmt.py OUTDIR

JOEYNMT_SRC is an extracted Joey NMT source tree (the directory holding the
`joeynmt` package and `scripts/`), tested with v2.3 (git c19c6c84):
    git -C joeynmt.git archive v2.3 joeynmt scripts | tar -x -C /tmp/joey
SUBWORD_NMT_SRC is an extracted subword-nmt tree (holding the `subword_nmt`
package), tested with v0.3.8 (Joey 2.3 passes --separator as text, which
later byte-level versions refuse); Joey's BPE tokenizer imports it. Neither is ever copied here: only
what they produce is committed.

For each variant this trains a small recurrent model on Joey's reverse toy
task with Joey's own training loop (`joeynmt.training.train`, about a minute
each on one core), keeps what a Joey user has afterwards (the checkpoint as
Joey saved it, config.yaml, the vocabulary files, the BPE codes or the
SentencePiece .model), reloads it
the way Joey's `translate` does (build_vocab, build_tokenizer, build_model,
load_checkpoint) and decodes >= 100 held-out sentences with Joey's
`joeynmt.search.search` (recurrent_greedy, and beam_search where asked).
expected.json records the tokens, attention, per-step log-probabilities
(Joey's vocabulary order) and the import command line. It also runs Joey's
model in float64 over the log-prob cases and records how far Joey's own
float32 results are from those ("float32_noise"): a trained RNN can amplify
float32 rounding beyond 1e-5, and then no float32 implementation, Joey's
included, is closer than that to the exact result.

The SentencePiece variant trains its unigram .model with Joey's own
scripts/build_vocab.py train_spm (python3-sentencepiece's trainer, Joey's
special pieces at Joey's ids) and uses the .vocab it writes as both
vocabularies, as Joey's docs do: it lists every piece, so Joey's
SetVocabulary leaves the segmentation alone (the generator checks that on
every sentence against a processor without it, and stops if not).

Joey's decoding rules that differ from docs/checkpoint-format.md §7 (the
importer documents them in docs/importing.md):
* greedy and beam never emit <s> or <pad> (their log-probs are set to -inf
  after the softmax) and never end at step 1 (min_output_length 1). A case
  where that changed a choice is dropped and counted; none does in a trained
  model.
* beam_search keeps finished hypotheses in the beam (they keep taking slots)
  and stops when every slot has been finished once. The generator also runs a
  §7 beam over Joey's own step function; a case gets a "beam" entry only when
  Joey's beam result equals it (the others are counted, not compared).

Modules stubbed in sys.modules because Joey imports them at module level but
neither training without validation plots nor inference runs them:
* torch.utils.tensorboard (SummaryWriter: no-op; the real one needs tensorboard)
* matplotlib, matplotlib.pyplot, matplotlib.backends.backend_pdf,
  matplotlib.figure (attention plots: never drawn here)
* sacrebleu, sacrebleu.metrics (BLEU/CHRF: validation uses
  sequence_accuracy instead, which Joey computes itself)
* tqdm (progress bars: identity)
* importlib_metadata (version("joeynmt") -> joeynmt.__version__)
* packaging, packaging.version (parse(): only `.major` is read)
* plotly, plotly.express (hub_interface only, never imported by training)
"""

import json
import math
import os
import shutil
import sys
import types

import numpy as np
import torch

VARIANTS = {
    # (a) GRU, bidirectional encoder, bahdanau, bridge, input feeding, 2 decoder layers
    "gru_bi_bahdanau_bridge_feed_2dec": dict(
        rnn="gru", enc_layers=1, dec_layers=2, emb=16, hidden=32, attention="bahdanau",
        init_hidden="bridge", input_feeding=True, beam=dict(beam_size=5, beam_alpha=1.0)),
    # (b) LSTM, luong, last, tied softmax (emb == decoder hidden)
    "lstm_luong_last_tiedsoftmax": dict(
        rnn="lstm", enc_layers=1, dec_layers=1, emb=24, hidden=24, attention="luong",
        init_hidden="last", input_feeding=True, tied_softmax=True,
        beam=dict(beam_size=4, beam_alpha=-1), epochs=5),
    # (c) subword-nmt BPE, lowercased, shared vocabulary with tied embeddings and
    #     softmax, embedding scale, GRU, luong, bridge
    "bpe_gru_luong_tied_scale": dict(
        rnn="gru", enc_layers=1, dec_layers=1, emb=32, hidden=32, attention="luong",
        init_hidden="bridge", input_feeding=True, tied_embeddings=True, tied_softmax=True,
        scale=True, bpe=True, lowercase=True, beam=dict(beam_size=3, beam_alpha=0.6)),
    # (d) zero init, no input feeding, bahdanau, LSTM with 2 encoder layers
    "lstm_zero_bahdanau_nofeed_2enc": dict(
        rnn="lstm", enc_layers=2, dec_layers=1, emb=16, hidden=24, attention="bahdanau",
        init_hidden="zero", input_feeding=False, beam=None, max_output_length=20),
    # (e) SentencePiece (unigram, trained by Joey's own scripts/build_vocab.py
    #     train_spm, i.e. python3-sentencepiece's trainer, with Joey's special ids
    #     and its .vocab as both vocabularies), mixed case, LSTM, bahdanau, bridge
    "spm_lstm_bahdanau_bridge": dict(
        rnn="lstm", enc_layers=1, dec_layers=1, emb=16, hidden=32, attention="bahdanau",
        init_hidden="bridge", input_feeding=True, spm=True, spm_vocab=40,
        beam=dict(beam_size=3, beam_alpha=1.0), epochs=int(os.environ.get("JOEY_SPM_EPOCHS", "15"))),
}

N_CASES = 120          # decoded sentences per variant (>= 100 after drops)
N_LOGPROB_CASES = 10   # cases that carry full log-prob vectors
TRAIN_EPOCHS = int(os.environ.get("JOEY_EPOCHS", "30"))


def die(msg):
    print("gen_joeynmt.py: " + msg, file=sys.stderr)
    sys.exit(2)


def install_stubs():
    """See the module docstring: every stub, and why inference never needs it."""
    def mod(name, **attrs):
        m = types.ModuleType(name)
        m.__dict__.update(attrs)
        sys.modules[name] = m
        return m

    class SummaryWriter:
        def __init__(self, *a, **k):
            pass

        def __getattr__(self, name):
            return lambda *a, **k: None

    mod("torch.utils.tensorboard", SummaryWriter=SummaryWriter)
    mpl = mod("matplotlib", use=lambda *a, **k: None, rcParams={})
    mpl.pyplot = mod("matplotlib.pyplot")
    mod("matplotlib.backends")
    mod("matplotlib.backends.backend_pdf", PdfPages=object)
    mod("matplotlib.figure", Figure=object)

    class _Metric:
        def __init__(self, *a, **k):
            raise RuntimeError("sacrebleu is stubbed: use sequence_accuracy")

    mod("sacrebleu")
    mod("sacrebleu.metrics", BLEU=_Metric, CHRF=_Metric)
    mod("tqdm", tqdm=lambda it=None, *a, **k: it)
    mod("importlib_metadata", version=lambda name: sys.modules["joeynmt"].__version__)

    class _Version:
        def __init__(self, s):
            self.s = s
            self.major = int(str(s).split(".")[0])

        def __str__(self):
            return self.s

    pk = mod("packaging")
    pk.version = mod("packaging.version", parse=_Version)
    mod("plotly")
    mod("plotly.express")


def import_joey():
    src = os.environ.get("JOEYNMT_SRC")
    if not src or not os.path.isdir(os.path.join(src, "joeynmt")):
        die("set JOEYNMT_SRC to an extracted Joey NMT tree (the directory holding joeynmt/), "
            "e.g. git -C joeynmt.git archive v2.3 joeynmt scripts | tar -x -C /tmp/joey")
    bpe = os.environ.get("SUBWORD_NMT_SRC")
    if not bpe or not os.path.isdir(os.path.join(bpe, "subword_nmt")):
        die("set SUBWORD_NMT_SRC to an extracted subword-nmt tree (the directory holding subword_nmt/)")
    sys.path[:0] = [src, bpe]
    install_stubs()
    import joeynmt  # noqa: F401
    return src


# --------------------------------------------------------------------------
# Data: Joey's reverse task (scripts/generate_reverse_task.py), on words.

WORDS = ["ka", "lo", "mi", "ne", "su", "ta", "ri", "po", "kalo", "mine", "suta", "ripo",
         "lomi", "neta", "kari", "posu", "tami", "rone", "Kasu", "Milo"]


def reverse_task(joey_src, seed, n, maxlen, words):
    sys.path.insert(0, os.path.join(joey_src, "scripts"))
    import generate_reverse_task as grt
    np.random.seed(seed)
    samples = grt.generate_samples(n=n, low=0, high=len(words), maxlen=maxlen)
    src = [" ".join(words[i] for i in s) for s in samples]
    trg = [" ".join(words[i] for i in s[::-1]) for s in samples]
    return src, trg


def digits_task(joey_src, seed, n, maxlen):
    sys.path.insert(0, os.path.join(joey_src, "scripts"))
    import generate_reverse_task as grt
    np.random.seed(seed)
    samples = grt.generate_samples(n=n, low=0, high=20, maxlen=maxlen)
    src = [grt.sample_to_str(s) for s in samples]
    trg = [grt.sample_to_str(s[::-1]) for s in samples]
    return src, trg


def write_lines(path, lines):
    with open(path, "w", encoding="utf-8") as f:
        for line in lines:
            f.write(line + "\n")


def learn_codes(train_lines, path, merges=40):
    from subword_nmt import learn_bpe
    import io
    with open(path, "w", encoding="utf-8") as out:
        learn_bpe.learn_bpe(io.StringIO("\n".join(train_lines) + "\n"), out, merges,
                            min_frequency=2, is_dict=False, total_symbols=False)


def bpe_vocab(codes_path, train_tokens):
    """Every piece the codes can produce, both forms, plus the training tokens:
    Joey hands its vocabulary to subword-nmt as a filter, and a vocabulary that
    covers every producible piece makes that filter a no-op (the importer
    refuses models where it is not)."""
    pieces = []
    with open(codes_path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("#version") or not line.strip():
                continue
            l, r = line.rstrip("\n").split(" ")
            m = l + r
            pieces += [m[:-4]] if m.endswith("</w>") else [m + "@@"]
    seen, out = set(), []
    for p in sorted(train_tokens) + pieces:
        if p not in seen:
            seen.add(p)
            out.append(p)
    return out


def learn_spm(joey_src, sents, model_file, vocab_file, size):
    """Joey's scripts/build_vocab.py train_spm (SentencePieceTrainer.Train with
    Joey's special pieces at Joey's ids, --vocabulary_output_piece_score=false):
    the .vocab it writes lists every piece of the model, specials first, so
    Joey's Vocabulary holds all of them and SentencePieceTokenizer.set_vocab
    (SetVocabulary) leaves the segmentation as the model alone makes it."""
    from pathlib import Path
    sys.path.insert(0, os.path.join(joey_src, "scripts"))
    import build_vocab
    ss = types.SimpleNamespace(unk_token="<unk>", pad_token="<pad>", bos_token="<s>", eos_token="</s>",
                               unk_id=0, pad_id=1, bos_id=2, eos_id=3, sep_token=None, lang_tags=[])
    build_vocab.train_spm(sents, ["src", "trg"], size, model_file, 10 ** 9, Path(vocab_file), ss)


# --------------------------------------------------------------------------
# Training with Joey's own loop.

def joey_config(name, v, work):
    data_src = {"lang": "src", "level": "bpe" if v.get("bpe") or v.get("spm") else "word",
                "lowercase": bool(v.get("lowercase")), "max_length": 30, "voc_min_freq": 1}
    data_trg = dict(data_src, lang="trg")
    if v.get("bpe"):
        tok = {"codes": os.path.join(work, "codes.bpe")}
        for d in (data_src, data_trg):
            d.update(tokenizer_type="subword-nmt", tokenizer_cfg=dict(tok),
                     voc_file=os.path.join(work, "vocab.txt"))
    if v.get("spm"):
        # What Joey's build_vocab.py leaves: spm.model and its .vocab (one piece
        # a line, Joey's specials at their ids) as the vocabulary of both sides.
        tok = {"model_file": os.path.join(work, "spm.model")}
        for d in (data_src, data_trg):
            d.update(tokenizer_type="sentencepiece", tokenizer_cfg=dict(tok),
                     voc_file=os.path.join(work, "spm.vocab"))
    emb = lambda: {"embedding_dim": v["emb"], "scale": bool(v.get("scale")), "dropout": 0.0}
    cfg = {
        "name": name, "joeynmt_version": "2.3.0", "model_dir": os.path.join(work, "model"),
        "use_cuda": False, "fp16": False, "random_seed": 42,
        "data": {"train": os.path.join(work, "train"), "dev": os.path.join(work, "dev"),
                 "dataset_type": "plain", "src": data_src, "trg": data_trg,
                 "special_symbols": {"unk_token": "<unk>", "unk_id": 0, "pad_token": "<pad>",
                                     "pad_id": 1, "bos_token": "<s>", "bos_id": 2,
                                     "eos_token": "</s>", "eos_id": 3}},
        "testing": {"n_best": 1, "beam_size": (v.get("beam") or {}).get("beam_size", 1),
                    "beam_alpha": (v.get("beam") or {}).get("beam_alpha", -1),
                    "eval_metrics": ["sequence_accuracy"], "batch_size": 10,
                    "batch_type": "sentence", "return_prob": "none"},
        "training": {"optimizer": "adam", "learning_rate": 0.005, "batch_size": 32,
                     "batch_type": "sentence", "scheduling": "plateau", "patience": 5,
                     "early_stopping_metric": "loss", "epochs": v.get("epochs", TRAIN_EPOCHS),
                     "validation_freq": 100000, "logging_freq": 100000, "overwrite": True,
                     "shuffle": True, "print_valid_sents": [], "keep_best_ckpts": 1,
                     "clip_grad_norm": 1.0, "label_smoothing": 0.2},
        "model": {
            "initializer": "xavier_uniform", "embed_initializer": "normal",
            "embed_init_weight": 0.1, "bias_initializer": "zeros",
            "tied_embeddings": bool(v.get("tied_embeddings")),
            "tied_softmax": bool(v.get("tied_softmax")),
            "encoder": {"type": "recurrent", "rnn_type": v["rnn"], "embeddings": emb(),
                        "hidden_size": v["hidden"],
                        "bidirectional": True, "dropout": 0.0, "num_layers": v["enc_layers"]},
            "decoder": {"type": "recurrent", "rnn_type": v["rnn"], "embeddings": emb(),
                        "hidden_size": v["hidden"], "dropout": 0.0, "hidden_dropout": 0.0,
                        "num_layers": v["dec_layers"], "input_feeding": v["input_feeding"],
                        "init_hidden": v["init_hidden"], "attention": v["attention"]},
        },
    }
    if "max_output_length" in v:
        cfg["testing"]["max_output_length"] = v["max_output_length"]
    return cfg


def train(joey_src, name, v, work):
    import yaml
    from joeynmt.helpers import make_model_dir
    from joeynmt.helpers_for_ddp import get_logger
    from joeynmt.training import train as joey_train
    from joeynmt.config import load_config
    from pathlib import Path

    if v.get("bpe") or v.get("spm"):
        src, trg = reverse_task(joey_src, 1, 3000, 8, WORDS)
        dev_src, dev_trg = reverse_task(joey_src, 2, 50, 8, WORDS)
    else:
        src, trg = digits_task(joey_src, 1, 3000, 8)
        dev_src, dev_trg = digits_task(joey_src, 2, 50, 8)
    write_lines(os.path.join(work, "train.src"), src)
    write_lines(os.path.join(work, "train.trg"), trg)
    write_lines(os.path.join(work, "dev.src"), dev_src)
    write_lines(os.path.join(work, "dev.trg"), dev_trg)
    if v.get("bpe"):
        lower = [s.lower() for s in src]
        learn_codes(lower, os.path.join(work, "codes.bpe"))
        from subword_nmt.apply_bpe import BPE
        with open(os.path.join(work, "codes.bpe"), encoding="utf-8") as f:
            bpe = BPE(f)
        toks = {t for s in lower for t in bpe.process_line(s).split()}
        write_lines(os.path.join(work, "vocab.txt"), bpe_vocab(os.path.join(work, "codes.bpe"), toks))
    if v.get("spm"):
        learn_spm(joey_src, src + trg, os.path.join(work, "spm.model"), os.path.join(work, "spm.vocab"),
                  v["spm_vocab"])
    cfg = joey_config(name, v, work)
    cfg_path = os.path.join(work, "config.yaml")
    with open(cfg_path, "w", encoding="utf-8") as f:
        yaml.safe_dump(cfg, f, sort_keys=False)
    cfg = load_config(Path(cfg_path))
    make_model_dir(Path(cfg["model_dir"]), overwrite=True)
    shutil.copy2(cfg_path, os.path.join(cfg["model_dir"], "config.yaml"))
    get_logger("", log_file=os.path.join(cfg["model_dir"], "train.log"))
    torch.manual_seed(42)
    joey_train(rank=0, world_size=None, cfg=cfg, skip_test=True)
    return cfg["model_dir"]


# --------------------------------------------------------------------------
# Packaging what a Joey user has, and decoding with Joey.

def package(name, v, model_dir, out):
    """Copies checkpoint, config and vocabularies into out/, config paths made relative."""
    import yaml
    os.makedirs(out, exist_ok=True)
    ckpts = sorted((f for f in os.listdir(model_dir) if f.endswith(".ckpt") and f[:-5].isdigit()),
                   key=lambda f: int(f[:-5]))
    shutil.copyfile(os.path.join(model_dir, ckpts[-1]), os.path.join(out, "model.ckpt"))
    with open(os.path.join(model_dir, "config.yaml"), encoding="utf-8") as f:
        cfg = yaml.safe_load(f)
    cfg["model_dir"] = "."
    for k in ("train", "dev"):
        cfg["data"].pop(k, None)
    for side, voc in (("src", "src_vocab.txt"), ("trg", "trg_vocab.txt")):
        shutil.copyfile(os.path.join(model_dir, voc), os.path.join(out, voc))
        cfg["data"][side]["voc_file"] = voc
        if "tokenizer_cfg" in cfg["data"][side]:
            if v.get("spm"):  # Joey copied the model into model_dir (copy_cfg_file)
                cfg["data"][side]["tokenizer_cfg"]["model_file"] = "spm.model"
            else:
                cfg["data"][side]["tokenizer_cfg"]["codes"] = "codes.bpe"
    if v.get("spm"):
        shutil.copyfile(os.path.join(model_dir, "spm.model"), os.path.join(out, "spm.model"))
    if v.get("bpe"):
        shutil.copyfile(os.path.join(model_dir, "codes.bpe"), os.path.join(out, "codes.bpe"))
    with open(os.path.join(out, "config.yaml"), "w", encoding="utf-8") as f:
        yaml.safe_dump(cfg, f, sort_keys=False)
    return cfg


def load_joey(out):
    """Rebuilds the model the way Joey's translate mode does, from out/ alone."""
    from pathlib import Path
    from joeynmt.config import load_config, parse_global_args
    from joeynmt.helpers import load_checkpoint
    from joeynmt.model import build_model
    from joeynmt.tokenizers import build_tokenizer
    from joeynmt.vocabulary import build_vocab
    cwd = os.getcwd()
    os.chdir(out)  # Joey resolves config paths against the working directory
    try:
        cfg = load_config(Path("config.yaml"))
        args = parse_global_args(cfg, rank=0, mode="translate")
        src_vocab, trg_vocab = build_vocab(args.data, model_dir=Path("."))
        tok = build_tokenizer(args.data)
        tok["src"].set_vocab(src_vocab)
        tok["trg"].set_vocab(trg_vocab)
        model = build_model(cfg["model"], src_vocab=src_vocab, trg_vocab=trg_vocab)
        ckpt = load_checkpoint(Path("model.ckpt"), map_location="cpu")
        model.load_state_dict(ckpt["model_state"])
    finally:
        os.chdir(cwd)
    model.eval()
    return cfg, src_vocab, trg_vocab, tok, model


def encode(model, ids):
    src = torch.tensor([ids])
    length = torch.tensor([len(ids)])
    mask = (src != model.pad_index).unsqueeze(1)
    with torch.no_grad():
        out, hid, _, _ = model(return_type="encode", src=src, src_length=length, src_mask=mask)
    return src, length, mask, out, hid


def joey_search(model, ids, cfg, beam_size, beam_alpha):
    from joeynmt.batch import Batch
    from joeynmt.search import search
    src = torch.tensor([ids])
    batch = Batch(src=src, src_length=torch.tensor([len(ids)]), src_prompt_mask=None, trg=None,
                  trg_prompt_mask=None, indices=torch.tensor([0]), device=torch.device("cpu"),
                  pad_index=model.pad_index, eos_index=model.eos_index, is_train=False)
    mol = cfg["testing"].get("max_output_length", -1)
    out, scores, att = search(model, batch, max_output_length=mol, beam_size=beam_size,
                              beam_alpha=beam_alpha, n_best=1, return_prob="hyp",
                              min_output_length=1, generate_unk=True)
    return out[0].tolist(), scores, att


def cut_at_eos(ids, eos, pad):
    res = []
    for i in ids:
        if i == pad:
            continue
        res.append(i)
        if i == eos:
            break
    return res


def teacher_forced(model, ids, hyp):
    """Joey's decoder over the greedy output: logits of every step."""
    _, _, mask, enc_out, enc_hid = encode(model, ids)
    trg_in = torch.tensor([[model.bos_index] + hyp[:-1]])
    with torch.no_grad():
        logits, _, att, _ = model(return_type="decode", trg_input=trg_in, encoder_output=enc_out,
                                  encoder_hidden=enc_hid, src_mask=mask, unroll_steps=len(hyp))
    return torch.log_softmax(logits[0], -1), att[0]


def s7_beam(model, ids, B, alpha, T):
    """docs/checkpoint-format.md §7 beam search over Joey's own decoder step."""
    _, _, mask, enc_out, enc_hid = encode(model, ids)
    V = model.decoder.output_size
    live = [([], np.float32(0.0))]
    finished = []
    hidden, att_vec = None, None
    for t in range(1, T + 1):
        n = len(live)
        prev = torch.tensor([[h[-1] if h else model.bos_index] for h, _ in live])
        with torch.no_grad():
            logits, hidden, _, att_vec = model(
                return_type="decode", trg_input=prev, encoder_output=enc_out.expand(n, -1, -1),
                encoder_hidden=enc_hid.expand(n, -1), src_mask=mask.expand(n, -1, -1),
                unroll_steps=1, decoder_hidden=hidden, att_vector=att_vec)
        logp = torch.log_softmax(logits[:, 0], -1)
        cand = (torch.tensor([s for _, s in live], dtype=torch.float32).unsqueeze(1) + logp).reshape(-1).numpy()
        order = np.argsort(-cand, kind="stable")[:B]
        new_live, rows = [], []
        for flat in order:
            i, w = divmod(int(flat), V)
            h = (live[i][0] + [w], np.float32(cand[flat]))
            if w == model.eos_index:
                finished.append(h)
            else:
                new_live.append(h)
                rows.append(i)
        if t == T:
            finished += new_live
            new_live = []
        if len(finished) >= B or not new_live:
            break
        live = new_live
        # Joey's decode() returns hidden batch-first (B, layers, D)
        if isinstance(hidden, tuple):
            hidden = tuple(x[rows] for x in hidden)
        else:
            hidden = hidden[rows]
        att_vec = att_vec[rows]
    def lp(L):
        return np.float32(1.0) if alpha <= 0 else np.float32(math.pow(float(np.float32(5.0 + L) / np.float32(6.0)), float(np.float32(alpha))))
    scored = [(h, float(np.float32(s) / lp(len(h)))) for h, s in finished]
    scored.sort(key=lambda x: -x[1])
    return scored[0]


def decode_variant(name, v, out, joey_src):
    cfg, src_vocab, trg_vocab, tok, model = load_joey(out)
    if v.get("bpe"):
        sents, _ = reverse_task(joey_src, 3, N_CASES + 40, 10, WORDS)
        # A few with upper case and an unseen word, so lowercasing and BPE
        # fallback to smaller pieces and <unk> are exercised.
        sents[:4] = ["Kalo Mine suta", "RIPO kasu zebra", "Tamiri po", "neta neta neta"]
    elif v.get("spm"):
        sents, _ = reverse_task(joey_src, 3, N_CASES + 40, 10, WORDS)
        # Characters the model has no piece for (unknown pieces, merged when
        # adjacent), extra spaces (SentencePiece's normalizer removes them),
        # words glued together and split differently.
        sents[:5] = ["Kalo Mine suta", "RIPO kasu zebra", "Tamiri  po ", "netaneta  ka", "ka lo Xylo"]
    else:
        sents, _ = digits_task(joey_src, 3, N_CASES + 40, 10)
        sents[:2] = ["3 17 99 4", "12"]
    import copy
    model64 = copy.deepcopy(model).double()  # Joey's own model in float64: the noise floor
    noise = {"logprobs": 0.0, "attention": 0.0}
    beam = v.get("beam")
    tcfg = cfg["testing"]
    cases, dropped, beam_skipped = [], {"masking": 0, "tie": 0}, 0
    if v.get("spm"):
        # Joey's tokenizers went through set_vocab (SetVocabulary); a processor
        # that did not must cut every sentence the same way.
        import sentencepiece as spm_lib
        plain = spm_lib.SentencePieceProcessor()
        plain.load(os.path.join(out, "spm.model"))
        changed = [s for s in sents if plain.encode(s, out_type=str) != tok["src"](tok["src"].pre_process(s))]
        if changed:
            die("%s: Joey's vocabulary changes the SentencePiece segmentation of %r" % (name, changed[:3]))
    eos, pad, bos = model.eos_index, model.pad_index, model.bos_index
    for raw in sents:
        if len(cases) >= N_CASES:
            break
        toks = tok["src"](tok["src"].pre_process(raw))
        ids = src_vocab.sentences_to_ids([toks], bos=False, eos=True)[0][0]
        src_tokens = toks + [src_vocab.specials[src_vocab.eos_index]]
        hyp, _, att = joey_search(model, ids, cfg, 1, -1)
        hyp = cut_at_eos(hyp, eos, pad)
        logp, tf_att = teacher_forced(model, ids, hyp)
        # Joey's masking of <s>/<pad> and of </s> at step 1 must not have mattered,
        # and no step may be a near tie.
        raw_argmax = logp.argmax(-1).tolist()
        if raw_argmax != hyp:
            dropped["masking"] += 1
            continue
        top2 = torch.topk(logp, 2, -1).values
        if float((top2[:, 0] - top2[:, 1]).min()) < 1e-4:
            dropped["tie"] += 1
            continue
        att = torch.as_tensor(att)
        assert torch.allclose(tf_att, att[0, :len(hyp)], atol=1e-6)
        out_toks = [trg_vocab._itos[i] for i in hyp]
        case = {"src": raw, "src_tokens": src_tokens,
                "greedy": {"tokens": out_toks, "text": tok["trg"].post_process(out_toks[:-1] if hyp[-1] == eos else out_toks),
                           "attention": att[0, :len(hyp), :len(ids)].tolist()}}
        if len(cases) < N_LOGPROB_CASES:
            case["logprobs"] = logp.tolist()
            lp64, att64 = teacher_forced(model64, ids, hyp)
            noise["logprobs"] = max(noise["logprobs"], float((logp.double() - lp64).abs().max()))
            noise["attention"] = max(noise["attention"], float((tf_att.double() - att64).abs().max()))
        if beam:
            bhyp, bscores, _ = joey_search(model, ids, cfg, beam["beam_size"], beam["beam_alpha"])
            bhyp = cut_at_eos(bhyp, eos, pad)
            T = len(ids) * 3 // 2 if tcfg.get("max_output_length", -1) < 0 else tcfg["max_output_length"]
            ref, ref_score = s7_beam(model, ids, beam["beam_size"], beam["beam_alpha"], T)
            if ref == bhyp and abs(ref_score - float(bscores[0][0])) < 1e-4:
                btoks = [trg_vocab._itos[i] for i in bhyp]
                case["beam"] = {"tokens": btoks, "score": float(bscores[0][0]),
                                "text": tok["trg"].post_process(btoks[:-1] if bhyp[-1] == eos else btoks)}
            else:
                beam_skipped += 1
        cases.append(case)
    if len(cases) < 100:
        die("%s: only %d usable cases" % (name, len(cases)))
    mol = tcfg.get("max_output_length", -1)
    # Greedy ignores the length penalty; it is Joey's beam_alpha so that these
    # options equal the defaults the import writes (seq2seqd.decoding).
    alpha = tcfg.get("beam_alpha", -1)
    decode = {"beam_size": 1, "length_penalty": alpha if alpha > 0 else 0, "max_length": 4096}
    decode.update({"max_len_a": 1.5, "max_len_b": 0} if mol < 0 else {"max_len_a": 0, "max_len_b": mol})
    beam_opts = None
    if beam:
        beam_opts = dict(decode, beam_size=beam["beam_size"],
                         length_penalty=beam["beam_alpha"] if beam["beam_alpha"] > 0 else 0)
    from joeynmt import __version__
    if v.get("spm"):
        import sentencepiece as spm_lib
        fw = "Joey NMT %s (%s), SentencePiece %s" % (__version__, os.environ.get("JOEYNMT_REV", "git c19c6c84"),
                                                    spm_lib.__version__)
    else:
        fw = "Joey NMT %s (%s)" % (__version__, os.environ.get("JOEYNMT_REV", "git c19c6c84"))
    exp = {"framework": fw,
           "import": ["joeynmt", "model.ckpt", "--config", "config.yaml"],
           "decode": decode, "beam": beam_opts,
           "joey_vocab": {"src": src_vocab._itos, "trg": trg_vocab._itos},
           "float32_noise": noise,
           "notes": {"dropped_masking": dropped["masking"], "dropped_near_tie": dropped["tie"],
                     "beam_cases_unlike_s7": beam_skipped},
           "cases": cases}
    with open(os.path.join(out, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(exp, f, indent=None, separators=(",", ":"))
        f.write("\n")
    print("%s: %d cases, dropped %s, beam cases unlike §7: %d, Joey float32 vs float64: %s"
          % (name, len(cases), dropped, beam_skipped, noise),
          file=sys.stderr)


def main():
    if len(sys.argv) != 2:
        die("usage: gen_joeynmt.py OUTDIR")
    outdir = os.path.abspath(sys.argv[1])
    joey_src = import_joey()
    torch.set_num_threads(1)
    import tempfile
    only = os.environ.get("JOEY_VARIANTS")
    for name, v in VARIANTS.items():
        if only and name not in only.split(","):
            continue
        work = tempfile.mkdtemp(prefix="joey-%s-" % name)
        try:
            model_dir = train(joey_src, name, v, work)
            out = os.path.join(outdir, name)
            if os.path.isdir(out):
                shutil.rmtree(out)
            package(name, v, model_dir, out)
            decode_variant(name, v, out, joey_src)
        finally:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
