#!/usr/bin/python3
"""Builds the OpenNMT-py fixtures with OpenNMT-py's own code: gen_opennmt.py OUTDIR

    ONMT_PY_SRC=/tmp/onmt3 [ONMT_PY2_SRC=/tmp/onmt2] [SUBWORD_NMT_SRC=/tmp/subword-nmt] \
        OMP_NUM_THREADS=1 /usr/bin/python3 tests/frameworks/opennmt/gen_opennmt.py OUTDIR [VARIANT...]

SUBWORD_NMT_SRC is an extracted subword-nmt tree (its package is put on
sys.path; without it the bpe variant is skipped):
    git -C subword-nmt archive HEAD | tar -x -C /tmp/subword-nmt

lstm_brnn_general_bpe_trained is TRAINED by OpenNMT-py itself (train_v3):
learn_bpe codes (40 merges) on a toy corpus, onmt_build_vocab and
onmt_train (onmt.bin.train -> train_single -> Trainer; Adam 3e-3, batch 64
sentences, label smoothing 0.1, 1000 steps, ~40-60 s of one CPU thread) on
"reverse the words"; the checkpoint is kept as its ModelSaver wrote it. At
translate time the source goes through OpenNMT-py's own bpe transform
(make_transforms/TransformPipe as onmt_translate builds them) and outputs
through its apply_reverse. The generator prints the greedy exact-match
accuracy on the test sentences (120/120) and the mean largest attention
weight per row (0.84). The other variants use random weights, as below.

ONMT_PY_SRC is an extracted OpenNMT-py 3.x tree (tested: v3.5.1), ONMT_PY2_SRC
an extracted 2.x tree (tested: 2.3.0; without it the v2 variant is skipped):
    git -C OpenNMT-py archive v3.5.1 onmt | tar -x -C /tmp/onmt3
Nothing of OpenNMT-py is committed; only its checkpoints and outputs are.

For each variant (VARIANTS below) this
  1. builds the model with onmt.model_builder.build_model from the option
     namespace of OpenNMT-py's own train parser (random init, its
     -param_init uniform rule; no training: fixtures test equivalence, and
     larger init makes the distributions peaked enough to avoid near ties);
  2. saves it as its ModelSaver does ({"model", "generator", "vocab", "opt",
     "optim"}; v3: vocab = vocabs_to_dict, v2: the torchtext fields; "optim"
     is an empty dict here to keep the files small, the importer ignores it);
  3. loads it back with OpenNMT-py's load_test_model (build_translator) and
     runs its Translator.translate_batch one sentence at a time (batch 1),
     greedy (beam_size 1, no sampling: OpenNMT-py 2.3 and 3.5 both run
     that as BeamSearch with one beam) and beam 5, both with
     -length_penalty none -alpha 0; a forward hook on the generator records
     the log-probabilities of every greedy step.
Sentences whose greedy step has a top-2 margin below 1e-4 are dropped (the
count is printed).

Tokenization: plain variants split the source on " " exactly like
onmt.inputters.text_utils.numericalize; the sentencepiece variant encodes
with the sentencepiece library as onmt.transforms.tokenize
(SentencePieceTransform, nbest 1, alpha 0) does and decodes with
decode_pieces, which is what its apply_reverse does.

Stubs (sys.modules shims; each is a module OpenNMT-py imports at start-up but
RNN inference never calls): spacy, ahocorasick, fasttext, waitress,
sacrebleu, rapidfuzz, regex, ctranslate2 (v3); torch.nn.functional.
scaled_dot_product_attention (torch 1.13 lacks it; only transformers call
it). pyonmttok is NOT only a stub: v3 keeps its vocabularies in
pyonmttok.Vocab, so the shim implements the part used here
(build_vocab_from_tokens with special tokens first, token->id lookup with
default_id, ids_to_tokens), as a dict. v2 (2.3.0) needs torchtext's legacy
Field/Vocab: the shim gives torchtext.data.Field/RawField and
torchtext.vocab.Vocab minimal classes with the attributes OpenNMT-py reads
(vocab.itos/stoi, pad/unk/init/eos tokens); they are pickled under those
real module names, as a real v2 checkpoint is. tensorboard is stubbed too.
"""

import json
import os
import random
import subprocess
import sys
import types

HERE = os.path.dirname(os.path.abspath(__file__))

WORDS = ("the a one two red blue cat dog house tree river stone bird fish small big old new "
         "runs sees eats likes sleeps walks sings reads near over under with and of").split()

# variant -> (onmt version, train-parser argv, options of this generator)
VARIANTS = {
    "lstm_brnn_mlp_feed_bridge": ("v3", [
        "-encoder_type", "brnn", "-decoder_type", "rnn", "-rnn_type", "LSTM", "-layers", "2",
        "-hidden_size", "32", "-word_vec_size", "32", "-global_attention", "mlp",
        "-input_feed", "1", "-bridge", "-share_embeddings", "-share_vocab",
        "-param_init", "0.35"], {"shared": True}),
    "gru_rnn_general_std": ("v3", [
        "-encoder_type", "rnn", "-decoder_type", "rnn", "-rnn_type", "GRU", "-layers", "1",
        "-hidden_size", "24", "-word_vec_size", "24", "-global_attention", "general",
        "-input_feed", "0", "-share_decoder_embeddings", "-param_init", "0.5"], {}),
    "lstm_dot_v2": ("v2", [
        "-encoder_type", "rnn", "-decoder_type", "rnn", "-rnn_type", "LSTM", "-layers", "2",
        "-rnn_size", "24", "-word_vec_size", "16", "-global_attention", "dot",
        "-input_feed", "1", "-param_init", "0.4"], {"eos_bias": 3.0}),
    "lstm_brnn_dot_spm": ("v3", [
        "-encoder_type", "brnn", "-decoder_type", "rnn", "-rnn_type", "LSTM", "-layers", "1",
        "-hidden_size", "32", "-word_vec_size", "24", "-global_attention", "dot",
        "-input_feed", "1", "-param_init", "0.4"], {"spm": True, "eos_bias": 0.25}),
    "lstm_noattn_std": ("v3", [
        "-encoder_type", "rnn", "-decoder_type", "rnn", "-rnn_type", "LSTM", "-layers", "2",
        "-hidden_size", "24", "-word_vec_size", "16", "-global_attention", "none",
        "-input_feed", "0", "-param_init", "0.8"], {"eos_bias": 1.4, "never_bos": True}),
    # Trained by OpenNMT-py's own training loop (onmt.bin.train -> train_single
    # -> Trainer) on a toy task, through its bpe transform (see train_v3).
    "lstm_brnn_general_bpe_trained": ("v3", [
        "-encoder_type", "brnn", "-decoder_type", "rnn", "-rnn_type", "LSTM", "-layers", "1",
        "-hidden_size", "64", "-word_vec_size", "32", "-global_attention", "general",
        "-input_feed", "1", "-share_embeddings", "-dropout", "0", "-label_smoothing", "0.1"],
        {"bpe": True, "train": 1000}),
}

N_SENT = 220
BPE_MERGES = 40
N_CASES = 120
N_LOGPROBS = 10
SPECIALS_V3 = ["<unk>", "<blank>", "<s>", "</s>"]


def corpus(seed, n):
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 9))) for _ in range(n)]


def target_of(s):
    # A deterministic "translation" used only to give the target side its own words.
    return " ".join(w.upper()[::-1] for w in reversed(s.split()))


# ---------------------------------------------------------------------------
# Shims (see the docstring).

def _stub(name, **attrs):
    m = types.ModuleType(name)
    m.__dict__.update(attrs)
    sys.modules[name] = m
    return m


class _OnmtVocab:
    def __init__(self, tokens):
        self.ids_to_tokens = list(tokens)
        self.tokens_to_ids = {t: i for i, t in enumerate(self.ids_to_tokens)}
        self.default_id = 0

    def __len__(self):
        return len(self.ids_to_tokens)

    def __getitem__(self, t):
        return self.tokens_to_ids.get(t, self.default_id)

    def lookup_token(self, t):
        return self[t]

    def add_token(self, t):
        if t not in self.tokens_to_ids:
            self.tokens_to_ids[t] = len(self.ids_to_tokens)
            self.ids_to_tokens.append(t)

    def lookup_index(self, i):
        return self.ids_to_tokens[i]

    def __call__(self, toks):
        return [self[t] for t in toks]


def _build_vocab_from_tokens(tokens, maximum_size=0, minimum_frequency=1, special_tokens=None):
    out, seen = [], set()
    for t in list(special_tokens or []) + list(tokens):
        if t not in seen:
            seen.add(t)
            out.append(t)
    return _OnmtVocab(out[:maximum_size] if maximum_size else out)


def install_shims(version):
    for name in ("spacy", "ahocorasick", "fasttext", "regex", "ctranslate2", "pyhanlp", "snownlp",
                 "pkuseg"):
        _stub(name)
    _stub("waitress", serve=None)
    _stub("sacrebleu", corpus_bleu=None, corpus_ter=None)
    _stub("rapidfuzz", fuzz=None, process=None)
    _stub("pyonmttok", Vocab=_OnmtVocab, build_vocab_from_tokens=_build_vocab_from_tokens)
    import torch.nn.functional as F
    if not hasattr(F, "scaled_dot_product_attention"):
        def _sdpa(*a, **k):
            raise RuntimeError("stub: only transformer models call scaled_dot_product_attention")
        F.scaled_dot_product_attention = _sdpa
    if version == "v2":
        install_torchtext_shim()


def install_torchtext_shim():
    tt = _stub("torchtext")
    data = _stub("torchtext.data")
    field_mod = _stub("torchtext.data.field")
    vocab_mod = _stub("torchtext.vocab")
    tt.data, tt.vocab = data, vocab_mod

    class RawField:
        def __init__(self, preprocessing=None, postprocessing=None, is_target=False):
            self.preprocessing, self.postprocessing, self.is_target = preprocessing, postprocessing, is_target

    class Field(RawField):
        def __init__(self, sequential=True, use_vocab=True, init_token=None, eos_token=None,
                     fix_length=None, dtype=None, preprocessing=None, postprocessing=None,
                     lower=False, tokenize=None, tokenizer_language="en", include_lengths=False,
                     batch_first=False, pad_token="<pad>", unk_token="<unk>", pad_first=False,
                     truncate_first=False, stop_words=None, is_target=False):
            super().__init__(preprocessing, postprocessing, is_target)
            self.sequential, self.use_vocab = sequential, use_vocab
            self.init_token, self.eos_token = init_token, eos_token
            self.pad_token, self.unk_token = pad_token, unk_token
            self.include_lengths, self.batch_first, self.lower = include_lengths, batch_first, lower

        def __getstate__(self):
            d = dict(self.__dict__)
            d.pop("tokenize", None)
            return d

    class Vocab:
        def __init__(self, itos):
            self.itos = list(itos)
            self.stoi = {t: i for i, t in enumerate(self.itos)}
            self.freqs = {}

        def __len__(self):
            return len(self.itos)

    for cls, mod in ((RawField, "torchtext.data.field"), (Field, "torchtext.data.field"),
                     (Vocab, "torchtext.vocab")):
        cls.__module__, cls.__qualname__ = mod, cls.__name__
        setattr(sys.modules[mod], cls.__name__, cls)
    for name in ("Field", "RawField"):
        setattr(data, name, getattr(field_mod, name))
    data.LabelField = type("LabelField", (Field,), {})
    for name in ("Dataset", "Example", "Iterator", "Batch", "BucketIterator", "NestedField"):
        setattr(data, name, type(name, (), {}))
    data.batch = _stub("torchtext.data.batch", Batch=data.Batch)
    data.utils = _stub("torchtext.data.utils", RandomShuffler=object)
    vocab_mod.Vectors = type("Vectors", (), {})
    _stub("torch.utils.tensorboard", SummaryWriter=None)


# ---------------------------------------------------------------------------
# The worker: one variant, in a process of its own (v2 and v3 are both "onmt").

def worker(name, outdir):
    version, argv, extra = VARIANTS[name]
    src_env = "ONMT_PY2_SRC" if version == "v2" else "ONMT_PY_SRC"
    sys.path.insert(0, os.environ[src_env])
    if extra.get("bpe"):
        sys.path.insert(0, os.environ["SUBWORD_NMT_SRC"])
    install_shims(version)
    import torch
    torch.manual_seed(sum(map(ord, name)))
    import onmt
    vdir = os.path.join(outdir, name)
    os.makedirs(vdir, exist_ok=True)
    if extra.get("train"):
        return train_v3(onmt, torch, name, argv, vdir, extra)
    train_src = corpus(1, 400)
    test_src = corpus(2, N_SENT)
    sp = None
    if extra.get("spm"):
        import sentencepiece as spm
        text = os.path.join(vdir, "corpus.tmp")
        with open(text, "w") as f:
            f.write("\n".join(train_src + [target_of(s) for s in train_src]) + "\n")
        spm.SentencePieceTrainer.train(input=text, model_prefix=os.path.join(vdir, "spm"),
                                       vocab_size=60, model_type="unigram", character_coverage=1.0,
                                       minloglevel=2)
        os.unlink(text)
        os.unlink(os.path.join(vdir, "spm.vocab"))
        sp = spm.SentencePieceProcessor(model_file=os.path.join(vdir, "spm.model"))

    def tok(s):
        return sp.encode(s, out_type=str) if sp else s.split(" ")

    def counts(lines):
        c = {}
        for s in lines:
            for t in tok(s):
                c[t] = c.get(t, 0) + 1
        return [t for t, _ in sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))]

    src_words = counts(train_src)
    tgt_words = counts([target_of(s) for s in train_src])
    if extra.get("shared"):
        src_words = tgt_words = counts(train_src + [target_of(s) for s in train_src])
    ckpt = os.path.join(vdir, "model.pt")
    if version == "v3":
        info = build_v3(onmt, torch, argv, src_words, tgt_words, ckpt, extra)
    else:
        info = build_v2(onmt, torch, argv, src_words, tgt_words, ckpt, extra)
    translate_all(onmt, torch, version, ckpt, vdir, test_src, tok, sp, info, extra)


def never_blank(torch, model, pad):
    """A trained model never outputs <blank> (padding is no training target;
    OpenNMT-py ignores it in the loss), a random one may: lower its logit as
    training would, so outputs do not hold a token OpenNMT-py prints as
    "<blank>" and seq2seqd's detokenizer drops as <pad>."""
    lin = model.generator[0] if isinstance(model.generator, torch.nn.Sequential) else model.generator
    with torch.no_grad():
        lin.bias[pad] = -30.0


def build_v3(onmt, torch, argv, src_words, tgt_words, ckpt, extra):
    from onmt.bin.train import _get_parser
    from onmt.utils.parse import ArgumentParser
    from onmt.inputters.inputter import vocabs_to_dict
    import pyonmttok
    opt, _ = _get_parser().parse_known_args(argv + ["-src_vocab", "-", "-save_data", "-",
                                                    "-data", "{}"])
    ArgumentParser.update_model_opts(opt)
    ArgumentParser.validate_model_opts(opt)
    src = pyonmttok.build_vocab_from_tokens(src_words, special_tokens=SPECIALS_V3)
    tgt = src if opt.share_vocab else pyonmttok.build_vocab_from_tokens(tgt_words, special_tokens=SPECIALS_V3)
    for v in (src, tgt):
        v.default_id = v["<unk>"]
    vocabs = {"src": src, "tgt": tgt, "data_task": "seq2seq", "decoder_start_token": "<s>"}
    model = onmt.model_builder.build_model(opt, opt, vocabs, None, 0)
    model.eval()
    never_blank(torch, model, tgt["<blank>"])
    if extra.get("never_bos"):
        # Nor does it output <s> (OpenNMT-py prints it; seq2seqd drops it from the text).
        with torch.no_grad():
            model.generator.bias[tgt["<s>"]] = -30.0
    if extra.get("eos_bias"):
        # As in build_v2: outputs end sooner (and the expected.json is smaller).
        with torch.no_grad():
            model.generator.bias[tgt["</s>"]] += extra["eos_bias"]
    # onmt.models.model_saver.ModelSaver._save, without the optimizer state.
    model_sd = {k: v for k, v in model.state_dict().items() if "generator" not in k}
    torch.save({"model": model_sd, "generator": model.generator.state_dict(),
                "vocab": vocabs_to_dict(vocabs), "opt": opt, "optim": {}}, ckpt)
    return {"framework": "OpenNMT-py v3.5.1"}


def build_v2(onmt, torch, argv, src_words, tgt_words, ckpt, extra):
    from onmt.bin.train import _get_parser
    from onmt.utils.parse import ArgumentParser
    import onmt.inputters as inputters
    import torchtext
    opt, _ = _get_parser().parse_known_args(argv + ["-data", "-", "-save_data", "-",
                                                    "-src_vocab", "-"])
    ArgumentParser.update_model_opts(opt)
    ArgumentParser.validate_model_opts(opt)
    fields = inputters.get_fields("text", 0, 0)
    for side, words in (("src", src_words), ("tgt", tgt_words)):
        base = fields[side].base_field
        specials = [base.unk_token, base.pad_token] + [t for t in (base.init_token, base.eos_token) if t]
        base.vocab = torchtext.vocab.Vocab(specials + [w for w in words if w not in specials])
    model = onmt.model_builder.build_model(opt, opt, fields, None)
    model.eval()
    never_blank(torch, model, fields["tgt"].base_field.vocab.stoi["<blank>"])
    if extra.get("eos_bias"):
        # Random weights of this variant never say </s> and run 100 steps
        # into near ties; a trained model ends its sentences.
        with torch.no_grad():
            model.generator[0].bias[fields["tgt"].base_field.vocab.stoi["</s>"]] += extra["eos_bias"]
    model_sd = {k: v for k, v in model.state_dict().items() if "generator" not in k}
    torch.save({"model": model_sd, "generator": model.generator.state_dict(), "vocab": fields,
                "opt": opt, "optim": {}}, ckpt)
    return {"framework": "OpenNMT-py 2.3.0"}


def reverse_words(s):
    """The toy task of the trained variant: the source's words in reverse order."""
    return " ".join(reversed(s.split(" ")))


def train_v3(onmt, torch, name, argv, vdir, extra):
    """A model trained by OpenNMT-py itself: learn_bpe (subword-nmt) codes on the
    toy corpus, onmt_build_vocab through the bpe transform, onmt_train
    (onmt.bin.train.train -> onmt.train_single.main -> onmt.trainer.Trainer,
    Adam, one CPU thread) on "reverse the words", then the checkpoint exactly
    as its ModelSaver wrote it (optimizer state included)."""
    import io
    import shutil
    import time
    from subword_nmt import learn_bpe
    from onmt.bin import build_vocab as onmt_build_vocab
    from onmt.bin import train as onmt_train
    torch.set_num_threads(1)
    rng = random.Random(7)
    train_src = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 8))) for _ in range(20000)]
    scratch = os.path.join(vdir, "train.tmp")
    os.makedirs(scratch, exist_ok=True)
    cwd = os.getcwd()
    # Relative paths, so the checkpoint's options name "bpe.codes" next to it
    # and the importer finds the codes without a flag.
    os.chdir(vdir)
    try:
        with open("train.tmp/train.src", "w") as f:
            f.write("\n".join(train_src) + "\n")
        with open("train.tmp/train.tgt", "w") as f:
            f.write("\n".join(reverse_words(x) for x in train_src) + "\n")
        with open("bpe.codes", "w") as out:
            learn_bpe.learn_bpe(io.StringIO("\n".join(train_src[:2000]) + "\n"), out, BPE_MERGES,
                                min_frequency=2)
        with open("train.tmp/config.yaml", "w") as f:
            f.write("data:\n  corpus_1:\n    path_src: train.tmp/train.src\n"
                    "    path_tgt: train.tmp/train.tgt\n    transforms: [bpe]\n"
                    "src_vocab: train.tmp/vocab.txt\nshare_vocab: true\n"
                    "src_subword_model: bpe.codes\ntgt_subword_model: bpe.codes\n"
                    "transforms: [bpe]\nsave_data: train.tmp/data\n")
        vopt, _ = onmt_build_vocab._get_parser().parse_known_args(
            ["-config", "train.tmp/config.yaml", "-n_sample", "-1", "-num_threads", "1", "-overwrite"])
        onmt_build_vocab.build_vocab_main(vopt)
        steps = extra["train"]
        topt, _ = onmt_train._get_parser().parse_known_args(
            ["-config", "train.tmp/config.yaml"] + argv +
            ["-optim", "adam", "-learning_rate", "0.003", "-batch_type", "sents", "-batch_size", "64",
             "-train_steps", str(steps), "-save_checkpoint_steps", str(steps),
             "-save_model", "train.tmp/model", "-num_workers", "0", "-bucket_size", "2048",
             "-report_every", "500", "-seed", "3", "-world_size", "1", "-valid_steps", str(10 * steps)])
        t0 = time.time()
        onmt_train.train(topt)
        secs = time.time() - t0
        shutil.move("train.tmp/model_step_%d.pt" % steps, "model.pt")
        shutil.rmtree("train.tmp")
    finally:
        os.chdir(cwd)
    print("%s: trained %d steps (batch 64 sentences) in %.0f s of one CPU thread" % (name, steps, secs))
    test_src = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 8))) for _ in range(N_SENT)]
    translate_all(onmt, torch, "v3", os.path.join(vdir, "model.pt"), vdir, test_src, None, None,
                  {"framework": "OpenNMT-py v3.5.1, trained %d steps by onmt_train" % steps}, extra)


def translate_all(onmt, torch, version, ckpt, vdir, sentences, tok, sp, info, extra):
    from onmt.bin.translate import _get_parser
    import onmt.translate.translator as tr

    codes = os.path.join(vdir, "bpe.codes")

    def translator(beam):
        args = ["-model", ckpt, "-src", "-", "-beam_size", str(beam), "-length_penalty", "none",
                "-alpha", "0", "-n_best", "1"]
        if extra.get("bpe"):
            args += ["-transforms", "bpe", "-src_subword_model", codes, "-tgt_subword_model", codes]
        opt = _get_parser().parse_args(args)
        return opt, tr.build_translator(opt, report_score=False, out_file=open(os.devnull, "w"))

    (gopt, greedy), (_, beam) = translator(1), translator(5)
    pipe = None
    if extra.get("bpe"):
        # OpenNMT-py's own bpe transform (onmt.transforms.tokenize.BPETransform,
        # which runs subword_nmt.apply_bpe), built as onmt_translate does.
        from onmt.utils.parse import ArgumentParser
        from onmt.transforms import get_transforms_cls, make_transforms, TransformPipe
        # The option checks onmt.bin.translate.translate runs first.
        ArgumentParser.validate_translate_opts(gopt)
        ArgumentParser._get_all_transform_translate(gopt)
        ArgumentParser._validate_transforms_opts(gopt)
        ArgumentParser.validate_translate_opts_dynamic(gopt)
        tfs = make_transforms(gopt, get_transforms_cls(gopt._all_transform), greedy.vocabs)
        pipe = TransformPipe.build_from(list(tfs.values()))
        # onmt.inputters.text_corpus: src.strip().split(" "), then the pipe.
        tok = lambda s: pipe.apply({"src": s.strip().split(" "), "tgt": None, "src_original": s,
                                    "tgt_original": None}, is_train=False, corpus_name="infer")["src"]
    rec = []
    greedy.model.generator.register_forward_hook(lambda m, i, o: rec.append(o.detach().clone()))
    if version == "v3":
        vocab_src = greedy.vocabs["src"]
        tgt_itos = greedy.vocabs["tgt"].ids_to_tokens
        src_ids = lambda toks: vocab_src(toks)
        decode = {"beam_size": 1, "max_len_a": 1.25, "max_len_b": 5, "max_length": 250,
                  "length_penalty": 0}
    else:
        base = greedy.fields["src"].base_field
        tgt_itos = greedy.fields["tgt"].base_field.vocab.itos
        src_ids = lambda toks: [base.vocab.stoi.get(t, base.vocab.stoi[base.unk_token]) for t in toks]
        decode = {"beam_size": 1, "max_len_a": 0, "max_len_b": 100, "max_length": 100,
                  "length_penalty": 0}

    def run(t, ids):
        x = torch.tensor(ids, dtype=torch.long)
        if version == "v3":
            batch = {"src": x.view(1, -1, 1), "srclen": torch.tensor([len(ids)]), "indices": torch.tensor([0])}
        else:
            batch = types.SimpleNamespace(src=(x.view(-1, 1, 1), torch.tensor([len(ids)])),
                                          batch_size=1, indices=torch.tensor([0]))
        # Beam runs without attention: v3.5.1's beam search cannot return the
        # attention of an input-feed decoder (it stacks it [1, beam, S] and
        # indexes dim 0 by beam row: IndexError), and the schema needs none.
        extra_arg = () if version == "v3" else (None,)  # v2: src_vocabs (copy attention only)
        res = t.translate_batch(batch, *extra_arg, attn_debug=t.beam_size == 1 and has_attn)
        pred = [int(i) for i in res["predictions"][0][0]]
        attn = res["attention"][0][0] if t.beam_size == 1 and has_attn else None
        return pred, float(res["scores"][0][0]), None if attn is None else attn[:len(pred), :len(ids)].tolist()

    def detok(toks):
        toks = [t for t in toks if t != "</s>"]
        if pipe is not None:
            # Translator._translate: " ".join(pred_sents) -> batch_apply_reverse.
            return pipe.apply_reverse(" ".join(toks))
        return sp.decode_pieces(toks) if sp else " ".join(toks)

    has_attn = greedy.model.decoder.attentional

    cases, dropped, correct, peak = [], 0, 0, []
    for s in sentences:
        if len(cases) == N_CASES:
            break
        toks = tok(s)
        ids = src_ids(toks)
        rec.clear()
        pred, _, attn = run(greedy, ids)
        steps = [torch.log_softmax(r.view(-1), 0) if version == "v3" else r.view(-1) for r in rec]
        margins = [float(torch.topk(lp, 2).values[0] - torch.topk(lp, 2).values[1]) for lp in steps]
        if min(margins) < 1e-4:
            dropped += 1
            continue
        bpred, bscore, _ = run(beam, ids)
        words = [tgt_itos[i] for i in pred]
        bwords = [tgt_itos[i] for i in bpred]
        if extra.get("train"):
            correct += detok(words) == reverse_words(s)
            peak += [max(row) for row in attn]
        greedy_out = {"tokens": words, "text": detok(words)}
        if attn is not None:
            greedy_out["attention"] = attn
        case = {"src": s, "src_tokens": toks, "greedy": greedy_out,
                "beam": {"tokens": bwords, "text": detok(bwords), "score": bscore}}
        if len(cases) < N_LOGPROBS:
            case["logprobs"] = [lp.tolist() for lp in steps]
        cases.append(case)
    print("%s: %d cases, %d dropped for near ties" % (os.path.basename(vdir), len(cases), dropped))
    if extra.get("train"):
        print("%s: toy task (reverse the words) greedy exact match %d/%d = %.1f%%; attention: mean "
              "largest weight per row %.3f" % (os.path.basename(vdir), correct, len(cases),
                                               100.0 * correct / len(cases), sum(peak) / len(peak)))
    imp = ["opennmt", "model.pt"]
    if sp:
        imp += ["--src-subword-model", "spm.model", "--tgt-subword-model", "spm.model"]
    beam_opts = dict(decode, beam_size=5)
    # 7 decimals (error <= 5e-8, far inside the 1e-5 tolerance) halves the files.
    for c in cases:
        if "attention" in c["greedy"]:
            c["greedy"]["attention"] = [[round(a, 7) for a in row] for row in c["greedy"]["attention"]]
        if "logprobs" in c:
            c["logprobs"] = [[round(a, 7) for a in row] for row in c["logprobs"]]
    with open(os.path.join(vdir, "expected.json"), "w") as f:
        doc = {"framework": info["framework"], "import": imp, "decode": decode, "beam": beam_opts}
        if extra.get("train"):
            # test_opennmt.py: trained log-probs are compared within 2e-5 * max(1, |log-prob|).
            doc["logprobs_tolerance"] = "relative"
            # Its recurrence amplifies float32 rounding: attention agrees within
            # ~1.0e-5 (any float32 evaluation order), not always below 1e-5.
            doc["attention_tolerance"] = 2e-5
        doc["cases"] = cases
        json.dump(doc, f, indent=None, separators=(",", ":"))
        f.write("\n")


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--worker":
        return worker(sys.argv[2], sys.argv[3])
    if len(sys.argv) < 2 or any(v not in VARIANTS for v in sys.argv[2:]):
        sys.exit("usage: gen_opennmt.py OUTDIR [VARIANT...]  (variants: %s)" % " ".join(VARIANTS))
    if not os.environ.get("ONMT_PY_SRC"):
        sys.exit("gen_opennmt.py: set ONMT_PY_SRC to an extracted OpenNMT-py 3.x tree "
                 "(git -C OpenNMT-py archive v3.5.1 onmt | tar -x -C DIR)")
    rc = 0
    for name, (version, _, extra) in VARIANTS.items():
        if sys.argv[2:] and name not in sys.argv[2:]:
            continue
        if version == "v2" and not os.environ.get("ONMT_PY2_SRC"):
            print("%s: skipped, ONMT_PY2_SRC is not set" % name)
            continue
        if extra.get("bpe") and not os.environ.get("SUBWORD_NMT_SRC"):
            print("%s: skipped, SUBWORD_NMT_SRC is not set (git -C subword-nmt archive HEAD | "
                  "tar -x -C DIR)" % name)
            continue
        rc |= subprocess.call([sys.executable, os.path.abspath(__file__), "--worker", name, sys.argv[1]])
    return rc


if __name__ == "__main__":
    sys.exit(main())
