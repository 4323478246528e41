"""Protected spans in the reference (clients/python/s2s_ref/spans.py): parsing,
glossary, accelerators, masking, the search constraint, rendering, the parity
dump, and the corpus/training helpers built on them (issue 12). The decoding
tests need torch and are skipped without it; everything else runs anywhere."""

import importlib.util
import json
import os
import subprocess
import sys
import unittest

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
PY = os.path.join(ROOT, "clients", "python")
sys.path.insert(0, PY)

try:
	import torch
except ImportError:  # pragma: no cover
	torch = None

from s2s_ref import spans as S  # noqa: E402
from s2s_ref.tokenizer import Tokenizer, build_vocab, learn_bpe  # noqa: E402
from s2s_train import spandata  # noqa: E402

spec = importlib.util.spec_from_file_location("build_corpus", os.path.join(ROOT, "scripts", "corpus", "build_corpus.py"))
bc = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bc)


def texts(sp):
	return [sp.text[s.start:s.end].decode() for s in sp.spans]


def kinds(sp):
	return [S.KIND_NAMES[s.kind] for s in sp.spans]


SENT = ["<ph%d>" % k for k in range(4)] + [p % k for k in range(2) for p in ("<t%d>", "</t%d>")]


def toy_model_parts():
	"""A BPE tokenizer whose pieces are whole words, and a vocabulary with 4
	placeholder and 2 pair sentinels."""
	words = ["open the file now clic save to", "ouvrir le fichier maintenant", "a b x y z"] * 2
	tok = learn_bpe(words, 200)
	vocab = build_vocab(tok, words) + SENT
	return tok, vocab


class TestFormats(unittest.TestCase):
	def test_names(self):
		self.assertEqual(S.parse_formats("printf, xml"), S.FMT_PRINTF | S.FMT_XML)
		self.assertEqual(S.parse_formats(["auto"]), S.FMT_AUTO)
		self.assertEqual(S.parse_formats("text"), 0)
		self.assertEqual(S.parse_formats("printf,"), S.FMT_PRINTF)
		with self.assertRaises(S.SpanError) as c:
			S.parse_formats("printf,yaml")
		self.assertEqual(c.exception.code, "invalid_field")
		self.assertIn('"yaml"', str(c.exception))

	def test_text_protects_nothing(self):
		sp = S.parse("Open %s <b>x</b> {0} _File", "text")
		self.assertEqual(sp.spans, [])
		self.assertEqual(sp.accel_pos, -1)


class TestParse(unittest.TestCase):
	def test_issue_examples(self):
		sp = S.parse("Could not open file %s", "auto")
		self.assertEqual(texts(sp), ["%s"])
		s = sp.spans[0]
		self.assertEqual((s.start, s.end, s.group, s.sentinel), (20, 22, S.ORDERED_PRINTF, 0))
		self.assertTrue(s.space_before)
		self.assertFalse(s.space_after)
		sp = S.parse("Welcome, {name}!", "auto")
		self.assertEqual(texts(sp), ["{name}"])
		self.assertEqual(sp.spans[0].group, S.FREE)
		sp = S.parse("Click <b>Save</b> to continue", "auto")
		self.assertEqual(kinds(sp), ["open", "close"])
		self.assertEqual([s.partner for s in sp.spans], [1, 0])
		self.assertEqual([s.sentinel for s in sp.spans], [0, 0])
		self.assertEqual((sp.n_ph, sp.n_pairs), (0, 1))

	def test_printf(self):
		sp = S.parse("%1$s %2$s %(name)s %5.2f %lld %% %-10s %*d", "printf")
		self.assertEqual(texts(sp), ["%1$s", "%2$s", "%(name)s", "%5.2f", "%lld", "%%", "%-10s", "%*d"])
		self.assertEqual([s.group for s in sp.spans], [0, 0, 0, 1, 1, 0, 1, 1])
		# The auto flavour leaves "100% of" and "50% sure" alone; printf does not.
		self.assertEqual(texts(S.parse("100% of 50% sure", "auto")), [])
		self.assertEqual(texts(S.parse("100% of", "printf")), ["% o"])
		self.assertEqual(texts(S.parse("%'d files", "auto")), [])
		self.assertEqual(texts(S.parse("%'d files", "auto,printf")), ["%'d"])
		self.assertEqual(texts(S.parse("50%", "printf")), [])

	def test_brace(self):
		sp = S.parse("{{0}} {} {0} {name!r:>10} {count, plural, one {# file} other {# files}}", "brace")
		self.assertEqual(texts(sp), ["{{", "}}", "{}", "{0}", "{name!r:>10}",
					     "{count, plural, one {# file} other {# files}}"])
		self.assertEqual([s.group for s in sp.spans], [0, 0, 2, 0, 0, 0])
		self.assertEqual(texts(S.parse("{ name} {unclosed", "brace")), [])
		self.assertEqual(texts(S.parse("{a b}", "brace")), [])

	def test_xml(self):
		sp = S.parse('A <!-- c --> &amp; &#169; &#x263A; <a href="x>y">b</a><br/><img src="i"/>', "xml")
		self.assertEqual(texts(sp), ["<!-- c -->", "&amp;", "&#169;", "&#x263A;", '<a href="x>y">', "</a>",
					     "<br/>", '<img src="i"/>'])
		self.assertEqual(kinds(sp), ["placeholder"] * 4 + ["open", "close"] + ["placeholder"] * 2)
		self.assertEqual(texts(S.parse("<!-- open", "xml")), [])
		# Void tags need html (or auto); in xml alone <br> must be closed.
		self.assertEqual(kinds(S.parse("a<br>b", "html")), ["placeholder"])
		self.assertEqual(kinds(S.parse("a<BR>b", "auto")), ["placeholder"])
		with self.assertRaises(S.SpanError):
			S.parse("a<br>b", "xml")

	def test_nesting_and_numbers(self):
		sp = S.parse("<b>x <i>%s</i> y</b> <u>%d</u>", "auto")
		self.assertEqual(kinds(sp), ["open", "open", "placeholder", "close", "close", "open", "placeholder", "close"])
		self.assertEqual([s.partner for s in sp.spans], [4, 3, -1, 1, 0, 7, -1, 5])
		self.assertEqual([s.sentinel for s in sp.spans], [0, 1, 0, 1, 0, 2, 1, 2])

	def test_unbalanced_errors(self):
		cases = [("é <b>bold", 'tag "<b>" at character 2 is never closed'),
			 ("a</b>", 'tag "</b>" at character 1 has no opening tag'),
			 ("<b>x<i>y</b></i>", 'tag "</b>" at character 8 closes "<i>"'),
			 ("<b>a<i>b", 'tag "<i>" at character 4 is never closed')]
		for text, msg in cases:
			for fmt in ("xml", "html", "auto,xml"):
				with self.assertRaises(S.SpanError) as c:
					S.parse(text, fmt)
				self.assertEqual(c.exception.code, "unbalanced_markup")
				self.assertEqual(str(c.exception), msg)
		# html compares names case-insensitively, xml does not.
		self.assertEqual(kinds(S.parse("<B>x</b>", "html")), ["open", "close"])
		with self.assertRaises(S.SpanError):
			S.parse("<B>x</b>", "xml")

	def test_unbalanced_auto_passes_tags_as_text(self):
		sp = S.parse("<b>bold &amp; <!-- c --> <br/> %s", "auto")
		self.assertEqual(texts(sp), ["&amp;", "<!-- c -->", "%s"])

	def test_adjacent_and_edges(self):
		sp = S.parse("%s%d", "printf")
		self.assertEqual(texts(sp), ["%s", "%d"])
		self.assertEqual([(s.space_before, s.space_after) for s in sp.spans], [(False, False), (False, False)])
		sp = S.parse(" %s ", "printf")
		self.assertEqual([(s.space_before, s.space_after) for s in sp.spans], [(True, True)])

	def test_limits(self):
		self.assertEqual(S.parse(" ".join(["%s"] * 100), "printf").n_ph, 100)
		self.assertEqual(S.parse("%s" * 1024, "printf").n_ph, 1024)
		with self.assertRaises(S.SpanError) as c:
			S.parse("%s" * 1025, "printf")
		self.assertEqual(c.exception.code, "too_many_spans")


class TestAccelerator(unittest.TestCase):
	def test_detect(self):
		sp = S.parse("_File", "accelerator")
		self.assertEqual((sp.accel_pos, sp.accel_marker, sp.accel_char), (0, "_", "F"))
		sp = S.parse("Save &As…", "auto")
		self.assertEqual((sp.accel_pos, sp.accel_marker, sp.accel_char), (5, "&", "A"))
		sp = S.parse("__init__ and _Édition", "accelerator")
		self.assertEqual((sp.accel_pos, sp.accel_char), (13, "É"))
		# auto: only one candidate in a short string.
		self.assertEqual(S.parse("my_var and _File", "auto").accel_pos, -1)
		self.assertEqual(S.parse("a b c d e _File", "auto").accel_pos, -1)
		self.assertEqual(S.parse("a b c d _File", "auto").accel_pos, 8)
		# an entity is a span, not an accelerator
		self.assertEqual(S.parse("&amp; more", "auto").accel_pos, -1)
		self.assertEqual(S.parse("&amp more", "auto").accel_pos, 0)

	def test_placement(self):
		cases = [("Fichier", "_", "F", "_Fichier"), ("Enregistrer sous", "&", "s", "Enregistrer &sous"),
			 ("Ouvrir", "_", "x", "_Ouvrir"), ("… 1", "_", "z", "_… 1"), ("«", "_", "q", "_«")]
		for out, marker, char, want in cases:
			self.assertEqual(S._place_accel(out, [], marker, char), want)
		# not inside a span's text, not after a word char when a word-initial one exists
		self.assertEqual(S._place_accel("%f fichier", [(0, 2)], "_", "f"), "%f _fichier")
		self.assertEqual(S._place_accel("off", [], "_", "f"), "_off")  # no word-initial f: the first letter


class TestGlossary(unittest.TestCase):
	def test_longest_and_boundaries(self):
		g = S.make_glossary({"GNOME": None, "GNOME Shell": "GNOME Shell", "file": "fichier"})
		sp = S.parse("Restart GNOME Shell, then open the file profile %s", "printf", g)
		self.assertEqual([(texts(sp)[k], s.glossary, (s.output or b"").decode()) for k, s in enumerate(sp.spans)],
				 [("GNOME Shell", True, "GNOME Shell"), ("file", True, "fichier"), ("%s", False, "")])
		self.assertEqual([s.sentinel for s in sp.spans], [0, 1, 2])
		# "do not translate": output = the source term
		sp = S.parse("GNOME rocks", "text", g)
		self.assertEqual(sp.spans[0].output, b"GNOME")

	def test_overlaps_spans_and_marker(self):
		g = S.make_glossary({"file %s": "x", "open": "ouvrir"})
		sp = S.parse("open file %s", "printf", g)
		self.assertEqual(texts(sp), ["open", "%s"])  # a term may not run into a span
		self.assertEqual(texts(S.parse("_open", "accelerator", g)), [])  # preceded by a word char
		g = S.make_glossary({"Op": "x"})
		self.assertEqual(texts(S.parse("O_p", "accelerator", g)), [])

	def test_refused(self):
		for bad in ({"": "x"}, {"a": ""}, {"a\tb": None}, {"x" * 257: None}, [{"target": "x"}], "a",
			    {str(k): None for k in range(257)}):
			with self.assertRaises(S.SpanError) as c:
				S.make_glossary(bad)
			self.assertEqual(c.exception.code, "invalid_glossary")
		with self.assertRaises(S.SpanError):
			S.make_glossary([{"source": " a "}, {"source": "a", "target": "b"}])
		self.assertEqual(S.make_glossary([{"source": "  Foo ", "target": None}]), [("Foo", None)])


class TestMask(unittest.TestCase):
	def test_sentinel_and_alignment_paths(self):
		tok, vocab = toy_model_parts()
		sent = S.Sentinels(vocab, vocab)
		self.assertEqual((sent.n_ph, sent.n_pairs), (4, 2))
		sp = S.parse("open <b>%s</b> now", "auto")
		ms = S.mask(sp, tok, vocab, sent)
		self.assertTrue(ms.sentinel_path)
		self.assertEqual(ms.pieces, ["\u2581open", "<t0>", "<ph0>", "</t0>", "\u2581now"])
		self.assertEqual(ms.words, [0, 1, 2, 3, 4])
		self.assertEqual(ms.span_token, [1, 2, 3])
		self.assertEqual(ms.span_left, [0, 0, 0])
		self.assertEqual(ms.span_right, [4, 4, 4])
		al = S.mask(sp, tok, vocab, None)
		self.assertFalse(al.sentinel_path)
		self.assertEqual(al.pieces, ["\u2581open", "\u2581now"])
		self.assertEqual((al.span_left, al.span_right), ([0, 0, 0], [1, 1, 1]))
		self.assertEqual(al.span_token, [-1, -1, -1])
		# five placeholders do not fit P = 4: alignment path
		self.assertFalse(S.mask(S.parse("%s " * 5 + "x", "printf"), tok, vocab, sent).sentinel_path)

	def test_passthrough_and_marker(self):
		tok, vocab = toy_model_parts()
		sent = S.Sentinels(vocab, vocab)
		sp = S.parse("%s %d", "printf")
		self.assertTrue(S.mask(sp, tok, vocab, None).passthrough)
		self.assertFalse(S.mask(sp, tok, vocab, sent).passthrough)  # sentinels are tokens
		r = S.render(sp, S.mask(sp, tok, vocab, None), tok, None, [], [], None)
		self.assertEqual(r.text, "%s %d")
		sp = S.parse("_open", "accelerator")
		self.assertEqual(S.mask(sp, tok, vocab, None).pieces, ["\u2581open"])
		eos = Tokenizer("char", False, True, append_eos=True)
		ms = S.mask(S.parse("%s", "printf"), eos, vocab + ["</s>"], None)
		self.assertTrue(ms.passthrough)


class TestConstraint(unittest.TestCase):
	def test_rules(self):
		tok, vocab = toy_model_parts()
		sent = S.Sentinels(vocab, vocab)
		ix = {t: i for i, t in enumerate(vocab)}
		c = S.Constraint(sent, 1, 2)
		st = c.start()
		bad = set(c.forbidden(st))
		self.assertEqual(bad, {ix["<ph1>"], ix["<ph2>"], ix["<ph3>"], ix["</t0>"], ix["</t1>"], 3})
		st = c.advance(st, ix["<t1>"])
		bad = set(c.forbidden(st))
		self.assertNotIn(ix["</t1>"], bad)
		self.assertIn(ix["</t0>"], bad)
		self.assertIn(ix["<t1>"], bad)
		st = c.advance(st, ix["<t0>"])
		bad = set(c.forbidden(st))
		self.assertIn(ix["</t1>"], bad)  # not the innermost
		self.assertNotIn(ix["</t0>"], bad)
		for p in ("</t0>", "</t1>", "<ph0>"):
			st = c.advance(st, ix[p])
		self.assertEqual(set(c.forbidden(st)), set(sent.tgt_kind))  # </s> allowed, every sentinel banned
		# no spans: every sentinel banned, </s> allowed
		self.assertEqual(set(S.Constraint(sent, 0, 0).forbidden(S.Constraint.start())), set(sent.tgt_kind))


@unittest.skipIf(torch is None, "torch not installed")
class TestConstrainedDecoding(unittest.TestCase):
	@classmethod
	def setUpClass(cls):
		from s2s_ref.model import Seq2Seq, Seq2SeqConfig

		torch.manual_seed(5)
		cls.tok, cls.vocab = toy_model_parts()
		V = len(cls.vocab)
		cfg = Seq2SeqConfig(cell="gru", emb_dim=16, enc_hidden=16, dec_hidden=16, attn_dim=16,
				    attention="general", attn_placement="luong", bridge="linear",
				    src_vocab_size=V, tgt_vocab_size=V)
		cls.model = Seq2Seq(cfg)
		for p in cls.model.parameters():
			torch.nn.init.uniform_(p, -0.5, 0.5)
		with torch.no_grad():  # make sentinels and </s> tempting, so the constraint has work
			cls.model.decoder.out.bias[-len(SENT):] += 3.0
			cls.model.decoder.out.bias[3] += 2.0
		cls.model.eval()
		cls.sent = S.Sentinels(cls.vocab, cls.vocab)

	def check_hyp(self, ids, n_ph, n_pairs, finished):
		ix = {t: i for i, t in enumerate(self.vocab)}
		pieces = [self.vocab[i] for i in ids]
		sents = [p for p in pieces if S.SENTINEL_RE.match(p)]
		want = ["<ph%d>" % k for k in range(n_ph)] + [p % k for k in range(n_pairs) for p in ("<t%d>", "</t%d>")]
		if finished:
			self.assertEqual(sorted(sents), sorted(want), pieces)
		self.assertEqual(len(sents), len(set(sents)), pieces)
		stack = []
		for p in sents:
			if p.startswith("<t"):
				stack.append(p[2:-1])
			elif p.startswith("</t"):
				self.assertEqual(stack.pop(), p[3:-1], pieces)
		self.assertNotIn(ix["<ph3>"], ids)

	def test_greedy_and_beam(self):
		n_checked = 0
		for text in ["open %s now", "<b>save</b> %s of %d", "%s", "open the file", "<i>a <b>%s</b></i>"]:
			sp = S.parse(text, "auto")
			ms = S.mask(sp, self.tok, self.vocab, self.sent)
			con = S.Constraint.for_masked(ms, self.sent)
			g = self.model.greedy([ms.ids], constraints=[con], max_len_a=3.0, max_len_b=12)[0]
			self.check_hyp(g["ids"][:-1] if g["finished"] else g["ids"], sp.n_ph, sp.n_pairs, g["finished"])
			b1 = self.model.beam_search(ms.ids, beam_size=1, constraint=con, max_len_a=3.0, max_len_b=12)[0]
			self.assertEqual(b1["ids"], g["ids"])
			for h in self.model.beam_search(ms.ids, beam_size=4, n_best=4, constraint=con,
							max_len_a=3.0, max_len_b=12):
				self.check_hyp(h["ids"][:-1] if h["finished"] else h["ids"], sp.n_ph, sp.n_pairs, h["finished"])
				n_checked += 1
			r = S.translate(self.model, self.tok, self.tok, self.vocab, self.vocab, text, "auto", beam=4,
					max_len_a=3.0, max_len_b=12)
			self.assertEqual(S.spans_kept(text, r.text, "auto"), (len(sp.spans), len(sp.spans)), r.text)
		self.assertGreater(n_checked, 10)

	def test_greedy_is_best_allowed(self):
		sp = S.parse("open %s", "auto")
		ms = S.mask(sp, self.tok, self.vocab, self.sent)
		con = S.Constraint.for_masked(ms, self.sent)
		g = self.model.greedy([ms.ids], constraints=[con], record_logits=True)[0]
		st = con.start()
		for w, z in zip(g["ids"], g["logits"]):
			logp = torch.log_softmax(torch.tensor(z), 0)
			con.apply(logp, st)
			self.assertEqual(w, int(torch.argmax(logp)))
			self.assertTrue(torch.isfinite(logp[w]))
			st = con.advance(st, w)
		unc = self.model.greedy([ms.ids])[0]
		self.assertNotEqual(unc["ids"], g["ids"])  # the constraint changed something


class TestRender(unittest.TestCase):
	def setUp(self):
		self.tok, self.vocab = toy_model_parts()
		self.sent = S.Sentinels(self.vocab, self.vocab)
		self.ix = {t: i for i, t in enumerate(self.vocab)}

	def hyp(self, pieces):
		return pieces, [self.ix.get(p, 1) for p in pieces]

	def test_sentinel_path(self):
		sp = S.parse("Click <b>Save</b> to %s", "auto")
		ms = S.mask(sp, self.tok, self.vocab, self.sent)
		pieces, ids = self.hyp(["\u2581clic", "<t0>", "\u2581save", "</t0>", "\u2581to", "<ph0>"])
		r = S.render(sp, ms, self.tok, self.sent, pieces, ids)
		self.assertEqual(r.text, "clic <b>save</b> to %s")
		self.assertEqual(r.span_token, [1, 3, 5])
		self.assertFalse(r.reinserted)

	def test_ordered_groups_keep_source_order(self):
		sp = S.parse("%s has %d items %1$s", "printf")
		ms = S.mask(sp, self.tok, self.vocab, self.sent)
		pieces, ids = self.hyp(["<ph1>", "\u2581a", "<ph0>", "<ph2>"])
		r = S.render(sp, ms, self.tok, self.sent, pieces, ids)
		self.assertEqual(r.text, "%s a %d %1$s")

	def test_unfinished_falls_back_to_alignment(self):
		sp = S.parse("open %s", "printf")
		ms = S.mask(sp, self.tok, self.vocab, self.sent)
		pieces, ids = self.hyp(["\u2581ouvrir", "<ph1>"])  # a foreign sentinel, <ph0> missing
		r = S.render(sp, ms, self.tok, self.sent, pieces, ids, None)
		self.assertTrue(r.reinserted)
		self.assertEqual(r.text, "ouvrir %s")
		self.assertEqual(r.span_token, [-1])

	def test_alignment_reinsertion(self):
		# source "open <b>the</b> file %s": text tokens open | the | file
		sp = S.parse("open <b>the</b> file %s", "auto")
		ms = S.mask(sp, self.tok, self.vocab, None)
		self.assertEqual(len(ms.ids), 3)
		pieces = ["\u2581ouvrir", "\u2581le", "\u2581fichier"]
		att = [[0.0] * 3 for _ in range(3)]
		att[0][0] = 1.0  # ouvrir <- open
		att[1][1] = 1.0  # le <- the (inside the pair)
		att[2][2] = 1.0  # fichier <- file (the placeholder's left anchor)
		r = S.render(sp, ms, self.tok, None, pieces, [1, 1, 1], att)
		self.assertTrue(r.reinserted)
		self.assertEqual(r.text, "ouvrir <b>le</b> fichier %s")
		# no attention: every span at the end, pairs empty
		r = S.render(sp, ms, self.tok, None, pieces, [1, 1, 1], None)
		self.assertEqual(r.text, "ouvrir le fichier <b></b> %s")

	def test_nested_pairs_stay_nested(self):
		sp = S.parse("<a>x <b>y</b></a> z", "xml")
		ms = S.mask(sp, self.tok, self.vocab, None)
		pieces = ["\u2581y", "\u2581x", "\u2581z"]
		att = [[0.0] * len(ms.ids) for _ in range(3)]
		att[0][1] = 1.0  # y <- y (inner pair)
		att[1][0] = 1.0  # x <- x (outer pair only)
		att[2][2] = 1.0
		r = S.render(sp, ms, self.tok, None, pieces, [1, 1, 1], att)
		# §7.3 v2.1, looking through glued spans: after </b> comes </a> then
		# a space (so " x"); before </a> comes </b> then the word y (so "x</a>")
		self.assertEqual(r.text, "<a><b>y</b> x</a> z")

	def test_join_rule_v2(self):
		cases = [("file%s", ["\u2581fichier"], [[1.0]], "fichier%s"),  # glued word to word
			 ("%d files", ["\u2581le", "\u2581fichier"], [[0.0], [1.0]], "le %d fichier"),  # edge: never glued
			 ("now: %s", ["\u2581maintenant", "\u2581:"], [[1.0, 0.0], [0.0, 1.0]], "maintenant : %s"),
			 ("file%s%d", ["\u2581fichier"], [[1.0]], "fichier%s%d")]  # %d glued to "file" through %s
		for src, pieces, att, want in cases:
			sp = S.parse(src, "printf")
			ms = S.mask(sp, self.tok, self.vocab, None)
			att = [row + [0.0] * (len(ms.ids) - 1) for row in att]
			self.assertEqual(S.render(sp, ms, self.tok, None, pieces, [1] * len(pieces), att).text, want, src)

	def test_passthrough_glossary(self):
		g = S.make_glossary({"Cancel": "Annuler"})
		for src, want in (("Cancel", "Annuler"), ("Cancel %s", "Annuler %s"), ("&Cancel", "&Annuler")):
			sp = S.parse(src, "auto", g)
			ms = S.mask(sp, self.tok, self.vocab, None)
			self.assertTrue(ms.passthrough)
			self.assertEqual(S.render(sp, ms, self.tok, None, [], [], None).text, want)

	def test_accelerator_and_glossary(self):
		g = S.make_glossary({"file": "fichier"})
		sp = S.parse("_Open file", "auto", g)
		ms = S.mask(sp, self.tok, self.vocab, self.sent)
		pieces, ids = self.hyp(["\u2581ouvrir", "<ph0>"])
		self.assertEqual(S.render(sp, ms, self.tok, self.sent, pieces, ids).text, "_ouvrir fichier")


class TestDump(unittest.TestCase):
	def test_cli(self):
		lines = ["Could not open file %s", "<b>x", "_File", "\u00e9 {0}"]
		r = subprocess.run([sys.executable, "-m", "s2s_ref.spans", "--dump", "auto"], cwd=PY,
				   input="\n".join(lines) + "\n", capture_output=True, text=True, check=True)
		got = [json.loads(x) for x in r.stdout.splitlines()]
		self.assertEqual(len(got), 4)
		self.assertEqual(got[0]["spans"][0]["output"], "%s")
		self.assertEqual(sorted(got[0]["spans"][0]), ["end", "glossary", "group", "kind", "output", "partner",
							      "sentinel", "space_after", "space_before", "start"])
		self.assertEqual(got[1], {"accel": None, "error": None, "spans": []})  # auto: dropped
		self.assertEqual(got[2]["accel"], {"char": "F", "marker": "_", "pos": 0})
		self.assertEqual((got[3]["spans"][0]["start"], got[3]["spans"][0]["end"]), (3, 6))
		r = subprocess.run([sys.executable, "-m", "s2s_ref.spans", "--dump", "xml"], cwd=PY,
				   input="<b>x\n", capture_output=True, text=True, check=True)
		self.assertEqual(json.loads(r.stdout)["error"], 'tag "<b>" at character 0 is never closed')


class TestCorpusAndTraining(unittest.TestCase):
	def test_clean_span_pair(self):
		ok = [("Could not open file %s", "Impossible d'ouvrir le fichier %s", {"printf": 1}),
		      ("Click <b>_Save</b> to continue", "Cliquez sur <b>_Enregistrer</b> pour continuer", {"tag pair": 1}),
		      ("Delete %1$s from %2$s?", "Supprimer %2$s de %1$s ?", {"printf": 2})]
		for en, fr, want in ok:
			self.assertIn(bc.clean_pair(en, fr)[1], ("format", "markup"))
			pair, k = bc.clean_span_pair(en, fr)
			self.assertIsNotNone(pair, (en, k))
			self.assertEqual(dict(k), want)
		self.assertEqual(bc.clean_span_pair("Click <b>Save</b>", "Cliquez sur <b>Enregistrer")[1], "unmatched")
		self.assertEqual(bc.clean_span_pair("Open %s", "Ouvrir %d")[1], "unmatched")
		self.assertEqual(bc.clean_span_pair("Open %1 now", "Ouvrir %1 maintenant")[1], "unmatched")
		self.assertEqual(bc.clean_span_pair("Open %s with %1", "Ouvrir %s avec %1")[1], "residue")
		self.assertEqual(bc.clean_span_pair("_Save %s", "_Enregistrer %s")[0], ("Save %s", "Enregistrer %s"))

	def test_mask_pair_maps_target_to_source_sentinels(self):
		tok, vocab = toy_model_parts()
		sent = S.Sentinels(vocab, vocab)
		ix = {t: i for i, t in enumerate(vocab)}
		src, tgt = spandata.mask_pair("<b>a</b> %1$s %2$s", "%2$s <b>b</b> %1$s", tok, ix, tok, ix, sent)
		self.assertEqual([vocab[i] for i in src], ["<t0>", "\u2581a", "</t0>", "<ph0>", "<ph1>"])
		self.assertEqual([vocab[i] for i in tgt], ["<ph1>", "<t0>", "\u2581b", "</t0>", "<ph0>"])
		self.assertIsNone(spandata.mask_pair("%s %s %s %s %s x", "%s %s %s %s %s y", tok, ix, tok, ix, sent))


if __name__ == "__main__":
	unittest.main()


DUMP = os.path.join(os.path.abspath(os.environ.get("S2S_BUILDDIR", os.path.join(ROOT, "build"))),
		    "tests", "core", "spans_dump")


@unittest.skipUnless(os.path.exists(DUMP), "no tests/core/spans_dump in the build tree (issue 12 C side)")
class TestDumpParity(unittest.TestCase):
	def test_c_and_python_agree(self):
		"""tests/train/spans_parity.py on the hand-written cases and 300
		generated lines per format list, with and without a glossary."""
		r = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "train", "spans_parity.py"),
				    "--dump", DUMP, "--n", "300"], capture_output=True, text=True, check=False)
		self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr[-2000:])
		self.assertIn(" 0 differ", r.stdout)
