#!/usr/bin/python3
"""Builds the `tutorial` importer's fixtures: small models trained with the
PyTorch tutorial's own model classes, and what the tutorial's evaluate()
makes of 120 sentences.

    OMP_NUM_THREADS=1 /usr/bin/python3 tests/frameworks/tutorial/gen_tutorial.py OUTDIR

The tutorial ("Translation with a Sequence to Sequence Network and
Attention", pytorch/tutorials intermediate_source/
seq2seq_translation_tutorial.py, 2023+) is not mirrored here (its repository
is too big to fetch), so the classes below -- Lang, normalizeString,
EncoderRNN, BahdanauAttention, AttnDecoderRNN, DecoderRNN, evaluate -- are
PyTorch code we wrote ourselves, line by line from the tutorial's published
text as docs/importing.md and the issue's shared spec (§6) describe it. They
are not copied from the tutorial's source. Training is ours too (a few
hundred Adam steps on a toy French -> English grammar, teacher forcing
through the decoder's own forward(), the tutorial's NLLLoss over every
MAX_LENGTH position): its only job is to make the outputs mean something.

Variants written to OUTDIR/<variant>/:
  attn         EncoderRNN + AttnDecoderRNN; encoder.pt, decoder.pt and the
               Lang objects pickled with pickle.dump (as __main__.Lang)
  decoder_rnn  EncoderRNN + DecoderRNN (no attention); one model.pt holding
               {"encoder", "decoder"} state_dicts, plain word lists
Each gets expected.json (tests/frameworks/README of spec10-fixtures).
Sentences where two outputs are within 1e-4 of each other at some step are
dropped (the count is printed).
"""

import json
import os
import pickle
import random
import re
import sys
import time
import unicodedata

import torch
import torch.nn as nn
import torch.nn.functional as F

SOS_token = 0
EOS_token = 1
MAX_LENGTH = 10
TIE = 1e-4


# -- the tutorial's data handling -------------------------------------------

class Lang:
    def __init__(self, name):
        self.name = name
        self.word2index = {}
        self.word2count = {}
        self.index2word = {0: "SOS", 1: "EOS"}
        self.n_words = 2  # Count SOS and EOS

    def addSentence(self, sentence):
        for word in sentence.split(' '):
            self.addWord(word)

    def addWord(self, word):
        if word not in self.word2index:
            self.word2index[word] = self.n_words
            self.word2count[word] = 1
            self.index2word[self.n_words] = word
            self.n_words += 1
        else:
            self.word2count[word] += 1


def unicodeToAscii(s):
    return ''.join(c for c in unicodedata.normalize('NFD', s) if unicodedata.category(c) != 'Mn')


def normalizeString(s):
    s = unicodeToAscii(s.lower().strip())
    s = re.sub(r"([.!?])", r" \1", s)
    s = re.sub(r"[^a-zA-Z!?]+", r" ", s)
    return s.strip()


def indexesFromSentence(lang, sentence):
    return [lang.word2index[word] for word in sentence.split(' ')]


def tensorFromSentence(lang, sentence):
    indexes = indexesFromSentence(lang, sentence)
    indexes.append(EOS_token)
    return torch.tensor(indexes, dtype=torch.long).view(1, -1)


# -- the tutorial's model classes -------------------------------------------

class EncoderRNN(nn.Module):
    def __init__(self, input_size, hidden_size, dropout_p=0.1):
        super(EncoderRNN, self).__init__()
        self.hidden_size = hidden_size
        self.embedding = nn.Embedding(input_size, hidden_size)
        self.gru = nn.GRU(hidden_size, hidden_size, batch_first=True)
        self.dropout = nn.Dropout(dropout_p)

    def forward(self, input):
        embedded = self.dropout(self.embedding(input))
        output, hidden = self.gru(embedded)
        return output, hidden


class DecoderRNN(nn.Module):
    def __init__(self, hidden_size, output_size):
        super(DecoderRNN, self).__init__()
        self.embedding = nn.Embedding(output_size, hidden_size)
        self.gru = nn.GRU(hidden_size, hidden_size, batch_first=True)
        self.out = nn.Linear(hidden_size, output_size)

    def forward(self, encoder_outputs, encoder_hidden, target_tensor=None):
        batch_size = encoder_outputs.size(0)
        decoder_input = torch.empty(batch_size, 1, dtype=torch.long).fill_(SOS_token)
        decoder_hidden = encoder_hidden
        decoder_outputs = []
        for i in range(MAX_LENGTH):
            decoder_output, decoder_hidden = self.forward_step(decoder_input, decoder_hidden)
            decoder_outputs.append(decoder_output)
            if target_tensor is not None:
                decoder_input = target_tensor[:, i].unsqueeze(1)  # Teacher forcing
            else:
                _, topi = decoder_output.topk(1)
                decoder_input = topi.squeeze(-1).detach()
        decoder_outputs = torch.cat(decoder_outputs, dim=1)
        decoder_outputs = F.log_softmax(decoder_outputs, dim=-1)
        return decoder_outputs, decoder_hidden, None

    def forward_step(self, input, hidden):
        output = self.embedding(input)
        output = F.relu(output)
        output, hidden = self.gru(output, hidden)
        output = self.out(output)
        return output, hidden


class BahdanauAttention(nn.Module):
    def __init__(self, hidden_size):
        super(BahdanauAttention, self).__init__()
        self.Wa = nn.Linear(hidden_size, hidden_size)
        self.Ua = nn.Linear(hidden_size, hidden_size)
        self.Va = nn.Linear(hidden_size, 1)

    def forward(self, query, keys):
        scores = self.Va(torch.tanh(self.Wa(query) + self.Ua(keys)))
        scores = scores.squeeze(2).unsqueeze(1)
        weights = F.softmax(scores, dim=-1)
        context = torch.bmm(weights, keys)
        return context, weights


class AttnDecoderRNN(nn.Module):
    def __init__(self, hidden_size, output_size, dropout_p=0.1):
        super(AttnDecoderRNN, self).__init__()
        self.embedding = nn.Embedding(output_size, hidden_size)
        self.attention = BahdanauAttention(hidden_size)
        self.gru = nn.GRU(2 * hidden_size, hidden_size, batch_first=True)
        self.out = nn.Linear(hidden_size, output_size)
        self.dropout = nn.Dropout(dropout_p)

    def forward(self, encoder_outputs, encoder_hidden, target_tensor=None):
        batch_size = encoder_outputs.size(0)
        decoder_input = torch.empty(batch_size, 1, dtype=torch.long).fill_(SOS_token)
        decoder_hidden = encoder_hidden
        decoder_outputs = []
        attentions = []
        for i in range(MAX_LENGTH):
            decoder_output, decoder_hidden, attn_weights = self.forward_step(
                decoder_input, decoder_hidden, encoder_outputs)
            decoder_outputs.append(decoder_output)
            attentions.append(attn_weights)
            if target_tensor is not None:
                decoder_input = target_tensor[:, i].unsqueeze(1)  # Teacher forcing
            else:
                _, topi = decoder_output.topk(1)
                decoder_input = topi.squeeze(-1).detach()
        decoder_outputs = torch.cat(decoder_outputs, dim=1)
        decoder_outputs = F.log_softmax(decoder_outputs, dim=-1)
        attentions = torch.cat(attentions, dim=1)
        return decoder_outputs, decoder_hidden, attentions

    def forward_step(self, input, hidden, encoder_outputs):
        embedded = self.dropout(self.embedding(input))
        query = hidden.permute(1, 0, 2)
        context, attn_weights = self.attention(query, encoder_outputs)
        input_gru = torch.cat((embedded, context), dim=2)
        output, hidden = self.gru(input_gru, hidden)
        output = self.out(output)
        return output, hidden, attn_weights


def evaluate(encoder, decoder, sentence, input_lang, output_lang):
    with torch.no_grad():
        input_tensor = tensorFromSentence(input_lang, sentence)
        encoder_outputs, encoder_hidden = encoder(input_tensor)
        decoder_outputs, decoder_hidden, decoder_attn = decoder(encoder_outputs, encoder_hidden)
        _, topi = decoder_outputs.topk(1)
        decoded_ids = topi.squeeze()
        decoded_words = []
        for idx in decoded_ids:
            if idx.item() == EOS_token:
                decoded_words.append('<EOS>')
                break
            decoded_words.append(output_lang.index2word[idx.item()])
    return decoded_words, decoder_attn, decoder_outputs


# -- a toy French -> English grammar ----------------------------------------

SUBJECTS = [("Je suis", "Je ne suis pas", "i am"), ("Tu es", "Tu n'es pas", "you are"),
            ("Il est", "Il n'est pas", "he is"), ("Elle est", "Elle n'est pas", "she is"),
            ("Nous sommes", "Nous ne sommes pas", "we are"), ("Vous êtes", "Vous n'êtes pas", "you are"),
            ("Ils sont", "Ils ne sont pas", "they are")]
ADJECTIVES = [("fatigué", "tired"), ("content", "happy"), ("prêt", "ready"), ("désolé", "sorry"),
              ("malade", "sick"), ("occupé", "busy"), ("grand", "tall"), ("petit", "small"),
              ("fâché", "angry"), ("fière", "proud"), ("marié", "married"), ("célèbre", "famous")]


def corpus():
    pairs = []
    for pos, neg, en in SUBJECTS:
        for fr_adj, en_adj in ADJECTIVES:
            for negated in (False, True):
                for very in (False, True):
                    for punct in (".", "!", "?"):
                        fr = "%s %s%s%s" % (neg if negated else pos, "très " if very else "", fr_adj, punct)
                        en_s = "%s%s %s%s %s" % (en, " not" if negated else "", "very " if very else "",
                                                 en_adj, punct)
                        pairs.append((fr, en_s))
    return pairs


def train(encoder, decoder, pairs, input_lang, output_lang, seconds, seed):
    """Teacher forcing through the decoder's own forward(), one source length per batch."""
    rng = random.Random(seed)
    by_len = {}
    for fr, en in pairs:
        src = indexesFromSentence(input_lang, normalizeString(fr)) + [EOS_token]
        tgt = indexesFromSentence(output_lang, normalizeString(en)) + [EOS_token]
        tgt += [0] * (MAX_LENGTH - len(tgt))  # the tutorial pads with zeros
        by_len.setdefault(len(src), []).append((src, tgt))
    groups = list(by_len.values())
    params = list(encoder.parameters()) + list(decoder.parameters())
    opt = torch.optim.Adam(params, lr=0.01)
    crit = nn.NLLLoss()
    encoder.train()
    decoder.train()
    t0, steps = time.time(), 0
    while time.time() - t0 < seconds:
        g = rng.choice(groups)
        batch = [rng.choice(g) for _ in range(32)]
        src = torch.tensor([b[0] for b in batch])
        tgt = torch.tensor([b[1] for b in batch])
        enc_out, enc_h = encoder(src)
        out, _, _ = decoder(enc_out, enc_h, tgt)
        loss = crit(out.view(-1, out.size(-1)), tgt.view(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        steps += 1
    encoder.eval()
    decoder.eval()
    return steps, float(loss), time.time() - t0


def test_sentences(pairs, rng, n):
    """Raw sentences as a user types them: some as the grammar writes them,
    some in capitals with extra spaces (normalizeString undoes both)."""
    out = [fr for fr, _ in rng.sample(pairs, n - 20)]
    for fr, _ in rng.sample(pairs, 20):
        out.append("  " + fr.upper().replace(" ", "   ") + " ")
    return out


def expected_case(src, encoder, decoder, input_lang, output_lang, attention, with_logprobs):
    norm = normalizeString(src)
    words, attn, logp = evaluate(encoder, decoder, norm, input_lang, output_lang)
    n_steps = len(words)
    for t in range(n_steps):
        top2 = torch.topk(logp[0, t], 2).values
        if float(top2[0] - top2[1]) < TIE:
            return None
    tokens = ["</s>" if w == "<EOS>" else w for w in words]
    case = {"src": src, "src_tokens": norm.split(" ") + ["</s>"],
            "greedy": {"tokens": tokens, "text": " ".join(w for w in words if w != "<EOS>"),
                       "attention": [attn[0, t].tolist() for t in range(n_steps)] if attention else None}}
    if with_logprobs:
        case["logprobs"] = [logp[0, t].tolist() for t in range(n_steps)]
    return case


def write_variant(outdir, name, files_fn, import_args, encoder, decoder, input_lang, output_lang,
                  attention, sentences):
    d = os.path.join(outdir, name)
    os.makedirs(d, exist_ok=True)
    files_fn(d)
    cases, dropped = [], 0
    for src in sentences:
        c = expected_case(src, encoder, decoder, input_lang, output_lang, attention, len(cases) < 10)
        if c is None:
            dropped += 1
        else:
            cases.append(c)
    exp = {"framework": "PyTorch tutorial seq2seq_translation_tutorial.py (2023+ text, classes "
                        "rewritten from its description; torch %s)" % torch.__version__,
           "import": ["tutorial"] + import_args,
           "decode": {"beam_size": 1, "max_len_a": 0, "max_len_b": MAX_LENGTH, "max_length": MAX_LENGTH,
                      "length_penalty": 0},
           "beam": None,
           # seq2seqd's names of the framework's target ids, in its order:
           # the order of every "logprobs" vector
           "logprobs_vocab": ["<s>", "</s>"] + [output_lang.index2word[i] for i in range(2, output_lang.n_words)],
           "cases": cases}
    with open(os.path.join(d, "expected.json"), "w") as f:
        json.dump(exp, f, indent=None, separators=(",", ":"))
        f.write("\n")
    print("%s: %d cases, %d dropped for near ties" % (name, len(cases), dropped))


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: gen_tutorial.py OUTDIR")
    outdir = sys.argv[1]
    torch.manual_seed(10)
    rng = random.Random(10)
    pairs = corpus()
    input_lang, output_lang = Lang("fra"), Lang("eng")
    for fr, en in pairs:
        input_lang.addSentence(normalizeString(fr))
        output_lang.addSentence(normalizeString(en))
    sentences = test_sentences(pairs, rng, 130)
    hidden = 32
    seconds = float(os.environ.get("GEN_TUTORIAL_SECONDS", "45"))

    encoder = EncoderRNN(input_lang.n_words, hidden)
    decoder = AttnDecoderRNN(hidden, output_lang.n_words)
    steps, loss, took = train(encoder, decoder, pairs, input_lang, output_lang, seconds, 1)
    print("attn: %d steps, loss %.3f, %.1f s" % (steps, loss, took))

    def attn_files(d):
        torch.save(encoder.state_dict(), os.path.join(d, "encoder.pt"))
        torch.save(decoder.state_dict(), os.path.join(d, "decoder.pt"))
        for lang, fn in ((input_lang, "input_lang.pkl"), (output_lang, "output_lang.pkl")):
            with open(os.path.join(d, fn), "wb") as f:
                pickle.dump(lang, f)

    write_variant(outdir, "attn", attn_files,
                  ["--encoder", "encoder.pt", "--decoder", "decoder.pt", "--input-lang", "input_lang.pkl",
                   "--output-lang", "output_lang.pkl"],
                  encoder, decoder, input_lang, output_lang, True, sentences)

    encoder2 = EncoderRNN(input_lang.n_words, hidden)
    decoder2 = DecoderRNN(hidden, output_lang.n_words)
    steps, loss, took = train(encoder2, decoder2, pairs, input_lang, output_lang, seconds * 0.6, 2)
    print("decoder_rnn: %d steps, loss %.3f, %.1f s" % (steps, loss, took))

    def rnn_files(d):
        torch.save({"encoder": encoder2.state_dict(), "decoder": decoder2.state_dict()},
                   os.path.join(d, "model.pt"))
        for lang, fn in ((input_lang, "src_words.txt"), (output_lang, "tgt_words.txt")):
            with open(os.path.join(d, fn), "w") as f:
                f.write("".join(lang.index2word[i] + "\n" for i in range(lang.n_words)))

    write_variant(outdir, "decoder_rnn", rnn_files,
                  ["--checkpoint", "model.pt", "--src-words", "src_words.txt", "--tgt-words", "tgt_words.txt"],
                  encoder2, decoder2, input_lang, output_lang, False, sentences)


if __name__ == "__main__":
    main()
