"""The decoding controls of the PyTorch reference (clients/python/s2s_ref/
decoding.py, issue 14, docs/checkpoint-format.md §7.1-7.6):

* the committed fixtures tests/fixtures/options/*.json decode again to the
  same ids (exactly) and floats (1e-4 absolute + 1e-4 relative), and each
  case that names a baseline still differs from it;
* with default options decode() is Seq2Seq.greedy / beam_search, bit for bit;
* the processors, the n-gram bans, the RNG (splitmix64 against published
  values and the formula redone with % 2**64), top-k/top-p/temperature on
  hand-made distributions, the length and coverage penalties against hand
  arithmetic, forced decoding against teacher forcing (Seq2Seq.forward);
* the option checks refuse what the spec refuses.

Needs torch (python3-torch): skipped where it is missing, except under CI
(CI=true), where a missing torch is a failure.
"""

import contextlib
import glob
import io
import json
import math
import os
import sys
import unittest

ROOT = os.path.abspath(os.environ.get("S2S_SRCDIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")))
sys.path.insert(0, os.path.join(ROOT, "clients", "python"))
OPTIONS_DIR = os.path.join(ROOT, "tests", "fixtures", "options")

try:
	import numpy as np
	import torch
except ImportError:  # pragma: no cover - depends on the machine
	torch = None

if torch is None and os.environ.get("CI") == "true":
	class TorchMissing(unittest.TestCase):
		def test_torch_present(self):
			self.fail("CI needs python3-torch for the reference tests (scripts/deps.sh --with-torch)")

NEED_TORCH = unittest.skipIf(torch is None, "torch not installed")

if torch is not None:
	from s2s_ref import decoding as D
	from s2s_ref.export import load_model
	from s2s_ref.model import EOS, pad_batch

_MODELS = {}


def loaded(rel):
	"""(model, its sentinel constraint or None), loaded once."""
	if rel not in _MODELS:
		torch.set_num_threads(1)
		m, meta = load_model(os.path.join(ROOT, rel))
		_MODELS[rel] = (m, D.sentinel_constraint(meta))
	return _MODELS[rel]


def model(rel):
	return loaded(rel)[0]


def close(a, b):
	if a is None or b is None:
		return a is None and b is None
	return abs(float(a) - float(b)) <= 1e-4 + 1e-4 * abs(float(b))


@NEED_TORCH
class FixtureParity(unittest.TestCase):
	"""Every committed fixture case, decoded again."""

	def test_fixture_files_present(self):
		names = sorted(os.path.basename(p) for p in glob.glob(os.path.join(OPTIONS_DIR, "*.json")))
		self.assertEqual(names, ["en-fr.json", "gru_dot_bahdanau_reverse_bpe.json",
		                         "gru_none_linear_2layer.json", "lstm_additive_luong_feed_bi.json"])

	def test_cases(self):
		n = 0
		for path in sorted(glob.glob(os.path.join(OPTIONS_DIR, "*.json"))):
			with open(path) as f:
				doc = json.load(f)
			m, constraint = loaded(doc["model"])
			self.assertEqual(doc["sentinels_banned"], constraint is not None)
			by_name = {c["name"]: c for c in doc["cases"]}
			for case in doc["cases"]:
				where = "%s: %s" % (os.path.basename(path), case["name"])
				self.assertEqual(sorted(case["options"]), sorted(D.DecodeOptions().to_json()), where)
				out = D.decode(m, case["src_ids"], D.DecodeOptions.from_json(case["options"]), constraint=constraint)
				self.assertEqual([h["ids"] for h in out["hyps"]], [h["ids"] for h in case["hyps"]], where)
				for got, want in zip(out["hyps"], case["hyps"]):
					self.assertEqual(got["finished"], want["finished"], where)
					for key in ("score", "norm_score"):
						self.assertTrue(close(got[key], want[key]), "%s %s %r %r" % (where, key, got[key], want[key]))
					for a, b in zip(got["logprobs"], want["logprobs"]):
						self.assertTrue(close(a, b), "%s logprob %r %r" % (where, a, b))
				if case["options"]["return_alternatives"]:
					self.assertEqual([w for w, _ in out["alternatives"]], [a["id"] for a in case["alternatives"]], where)
					for (_, lp), a in zip(out["alternatives"], case["alternatives"]):
						self.assertTrue(close(lp, a["logprob"]), where)
				else:
					self.assertNotIn("alternatives", case, where)
				if case["options"]["force_eos"]:
					# Scoring: one finished hypothesis, the given target and </s>
					# (force_eos_own scores the baseline's own output: same ids).
					self.assertEqual([(h["ids"], h["finished"]) for h in case["hyps"]],
					                 [(case["options"]["prefix_ids"] + [EOS], True)], where)
				elif "baseline" in case:
					base = by_name[case["baseline"]]
					self.assertEqual(base["src_ids"], case["src_ids"], where)
					self.assertNotEqual(
						[(h["ids"], h["norm_score"]) for h in base["hyps"]] + [base.get("alternatives")],
						[(h["ids"], h["norm_score"]) for h in case["hyps"]] + [case.get("alternatives")],
						where + ": the option has no effect")
				n += 1
		self.assertGreater(n, 150)

	def test_every_option_has_an_effect_case(self):
		"""Each option is non-default in some case that differs from its baseline."""
		defaults = D.DecodeOptions().to_json()
		seen = set()
		for path in glob.glob(os.path.join(OPTIONS_DIR, "*.json")):
			with open(path) as f:
				for case in json.load(f)["cases"]:
					if "baseline" in case:
						seen.update(k for k, v in case["options"].items() if v != defaults[k])
		self.assertEqual(seen, set(defaults))


@NEED_TORCH
class Generator(unittest.TestCase):
	def test_regenerates_the_same_cases(self):
		"""tests/fixtures/gen_options.py (its effect assertions included) rebuilds
		the attention-less model's file: the same cases and ids, floats to 1e-4."""
		import tempfile
		sys.path.insert(0, os.path.join(ROOT, "tests", "fixtures"))
		import gen_options
		name = "gru_none_linear_2layer"
		with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()):  # keep TAP clean
			gen_options.build_file(name, "tests/fixtures/%s.safetensors" % name, gen_options.fixture_sources,
			                       False, tmp)
			with open(os.path.join(tmp, name + ".json")) as f:
				new = json.load(f)
		with open(os.path.join(OPTIONS_DIR, name + ".json")) as f:
			old = json.load(f)
		self.assertEqual(len(new["cases"]), len(old["cases"]))
		for a, b in zip(new["cases"], old["cases"]):
			self.assertEqual((a["name"], a["src_ids"], a["options"], a.get("baseline")),
			                 (b["name"], b["src_ids"], b["options"], b.get("baseline")))
			self.assertEqual([h["ids"] for h in a["hyps"]], [h["ids"] for h in b["hyps"]], a["name"])
			for x, y in zip(a["hyps"], b["hyps"]):
				self.assertTrue(close(x["norm_score"], y["norm_score"]), a["name"])


@NEED_TORCH
class Defaults(unittest.TestCase):
	"""Default options reproduce the existing search bit for bit."""

	def test_greedy_and_beam(self):
		for name in ("lstm_additive_luong_feed_bi", "gru_dot_bahdanau_reverse_bpe", "gru_none_linear_2layer"):
			m = model("tests/fixtures/%s.safetensors" % name)
			with open(os.path.join(ROOT, "tests", "fixtures", name + ".json")) as f:
				doc = json.load(f)
			for case in doc["cases"]:
				ids, lim = case["src_ids"], doc["decode"]
				g = m.greedy([ids], **lim)[0]
				o = D.decode(m, ids, D.DecodeOptions(**lim))["hyps"][0]
				self.assertEqual((o["ids"], o["logprobs"], o["score"]), (g["ids"], g["logprobs"], g["score"]))
				b = case["beam"]
				want = m.beam_search(ids, b["beam_size"], b["n_best"], b["length_penalty"], **lim)
				got = D.decode(m, ids, D.DecodeOptions(beam_size=b["beam_size"], n_best=b["n_best"],
				                                       length_penalty=b["length_penalty"], **lim))["hyps"]
				self.assertEqual([(h["ids"], h["logprobs"], h["norm_score"], h["attention"]) for h in got],
				                 [(h["ids"], h["logprobs"], h["norm_score"], h["attention"]) for h in want])


@NEED_TORCH
class Rng(unittest.TestCase):
	def test_published_splitmix64_outputs(self):
		# Vigna's splitmix64.c from state 0 (first two outputs) and from 1234567.
		self.assertEqual(D.splitmix64(0, 0), 0xE220A8397B1DCDAF)
		self.assertEqual(D.splitmix64(0, 1), 0x6E789E6AA1B965F4)
		self.assertEqual(D.splitmix64(1234567, 0), 6457827717110365317)

	def test_formula_with_modulo(self):
		M = 2 ** 64
		for seed in (0, 1, 42, 2 ** 53, 2 ** 63 + 5, M - 1):
			for t in (0, 1, 7, 1000):
				x = (seed + (t + 1) * 11400714819323198485) % M
				x = ((x ^ (x // 2 ** 30)) * 13787848793156543929) % M
				x = ((x ^ (x // 2 ** 27)) * 10723151780598845931) % M
				x = x ^ (x // 2 ** 31)
				self.assertEqual(D.splitmix64(seed, t), x)
				u = D.uniform(seed, t)
				self.assertEqual(u, (x // 2 ** 11) / 2.0 ** 53)
				self.assertTrue(0.0 <= u < 1.0)

	def test_seed_wraps(self):
		# Sentence i of a request gets seed + i mod 2^64: 2^64 - 1 + 1 is seed 0.
		self.assertEqual(D.splitmix64((2 ** 64 - 1 + 1) % 2 ** 64, 3), D.splitmix64(0, 3))


def logp_of(probs):
	"""A float32 log-probability row from hand-made probabilities."""
	return torch.log(torch.tensor(probs, dtype=torch.float32))


@NEED_TORCH
class Sampling(unittest.TestCase):
	# ids 0..5; best first: 4 (0.5), 1 (0.25), 5 (0.15), 0 (0.06), 2 (0.04); 3 impossible.
	PROBS = [0.06, 0.25, 0.04, 0.0, 0.5, 0.15]

	def draws(self, seed=7, n=400, **kw):
		o = D.DecodeOptions(**dict(dict(sampling_topk=0, seed=seed), **kw))
		lp = logp_of(self.PROBS)
		return [D.sample(lp, o, t) for t in range(n)]

	def expect(self, seed, t, kept):
		"""The rule by hand: u * S against the cumulative sums of the kept probabilities."""
		w = [self.PROBS[i] for i in kept]
		target = D.uniform(seed, t) * sum(w)
		run = 0.0
		for i, x in zip(kept, w):
			run += x
			if run > target:
				return i
		return kept[-1]

	def test_whole_vocabulary(self):
		got = self.draws()
		for t, w in enumerate(got):
			self.assertEqual(w, self.expect(7, t, [4, 1, 5, 0, 2]))
		self.assertEqual(set(got), {4, 1, 5, 0, 2})  # 400 draws reach every id with p >= 0.04, never 3

	def test_topk_keeps_the_k_best(self):
		got = self.draws(sampling_topk=2)
		self.assertEqual(set(got), {4, 1})
		for t, w in enumerate(got):
			self.assertEqual(w, self.expect(7, t, [4, 1]))

	def test_topp_keeps_the_shortest_prefix(self):
		# 0.5 + 0.25 = 0.75 >= 0.7: {4, 1}; for 0.8 the prefix needs 5 too (0.9).
		for p, kept in ((0.7, [4, 1]), (0.8, [4, 1, 5]), (0.4, [4]), (0.95, [4, 1, 5, 0])):
			got = self.draws(sampling_topp=p)
			self.assertEqual(set(got), set(kept), p)
			for t, w in enumerate(got):
				self.assertEqual(w, self.expect(7, t, kept), p)

	def test_temperature(self):
		cold = self.draws(sampling_temperature=0.01)
		self.assertEqual(set(cold), {4})
		# tau = 2 flattens: weights sqrt(p), so the rare ids come up more often.
		hot = self.draws(sampling_temperature=2.0, n=2000)
		self.assertGreater(hot.count(2), self.draws(n=2000).count(2))

	def test_ties_go_to_the_lower_id(self):
		lp = logp_of([0.1, 0.3, 0.1, 0.0, 0.3, 0.2])
		self.assertEqual([w for w, _ in D.ranked(lp)], [1, 4, 5, 0, 2])
		o = D.DecodeOptions(sampling_topk=2, seed=3)
		self.assertEqual({D.sample(lp, o, t) for t in range(200)}, {1, 4})

	def test_seed_reproducible(self):
		self.assertEqual(self.draws(seed=99), self.draws(seed=99))
		self.assertNotEqual(self.draws(seed=99), self.draws(seed=100))


@NEED_TORCH
class Processors(unittest.TestCase):
	def test_ngram_bans(self):
		h = [5, 6, 7, 5, 6]
		self.assertEqual(D.ngram_bans(h, 1), {5, 6, 7})
		self.assertEqual(D.ngram_bans(h, 2), {7})
		self.assertEqual(D.ngram_bans(h, 3), {7})
		self.assertEqual(D.ngram_bans(h, 4), set())
		self.assertEqual(D.ngram_bans([5, 5, 5], 2), {5})
		self.assertEqual(D.ngram_bans([5], 2), set())
		self.assertEqual(D.ngram_bans([], 1), set())

	def test_repetition_penalty(self):
		z = torch.tensor([2.0, -2.0, 0.5, 1.0, 3.0], dtype=torch.float32)
		out = D.process_logits(z, [0, 1, 1], D.DecodeOptions(repetition_penalty=2.0))
		self.assertEqual(out.tolist(), [1.0, -4.0, 0.5, 1.0, 3.0])
		self.assertEqual(z.tolist(), [2.0, -2.0, 0.5, 1.0, 3.0])  # the input is left alone
		out = D.process_logits(z, [4], D.DecodeOptions(repetition_penalty=0.5))
		self.assertEqual(out.tolist(), [2.0, -2.0, 0.5, 1.0, 6.0])

	def test_masks(self):
		z = torch.zeros(8)
		inf = float("-inf")
		out = D.process_logits(z, [4, 5, 4], D.DecodeOptions(no_repeat_ngram_size=2, suppress_ids=(6,),
		                                                     disable_unk=True, min_length=4))
		self.assertEqual(out.tolist(), [0.0, inf, 0.0, inf, 0.0, inf, inf, 0.0])
		# min_length: </s> comes back once the history is long enough.
		out = D.process_logits(z, [4, 5, 4, 7], D.DecodeOptions(min_length=4))
		self.assertEqual(out.tolist(), [0.0] * 8)

	def test_everything_masked_leaves_eos(self):
		z = torch.tensor([0.5, 1.5, -1.0, 0.25, 2.0], dtype=torch.float32)
		out = D.process_logits(z, [0, 2, 4], D.DecodeOptions(no_repeat_ngram_size=1, suppress_ids=(1,),
		                                                     min_length=9, repetition_penalty=2.0))
		inf = float("-inf")
		self.assertEqual(out.tolist(), [inf, inf, inf, 0.25, inf])

	def test_processors_change_the_logprobs(self):
		m = model("tests/fixtures/lstm_additive_luong_feed_bi.safetensors")
		src = [5, 6, 7]
		plain = D.decode(m, src, D.DecodeOptions(max_len_b=6))["hyps"][0]
		w = plain["ids"][0]
		# Suppressing the first choice: the next-best id comes first, with a larger share of the mass.
		alt = D.decode(m, src, D.DecodeOptions(max_len_b=6, return_alternatives=2))["alternatives"]
		sup = D.decode(m, src, D.DecodeOptions(max_len_b=6, suppress_ids=(w,)))["hyps"][0]
		self.assertEqual(sup["ids"][0], alt[1][0])
		self.assertGreater(sup["logprobs"][0], alt[1][1])
		self.assertNotIn(w, sup["ids"])


@NEED_TORCH
class Scores(unittest.TestCase):
	def test_length_penalties(self):
		self.assertEqual(D.lp_factor(4, D.DecodeOptions(length_penalty_type="avg", length_penalty=0.6)), 4.0)
		self.assertEqual(D.lp_factor(4, D.DecodeOptions(length_penalty_type="none", length_penalty=0.6)), 1.0)
		self.assertAlmostEqual(float(D.lp_factor(7, D.DecodeOptions(length_penalty=1.0))), 2.0, places=6)
		self.assertEqual(D.lp_factor(7, D.DecodeOptions()), 1.0)

	def test_coverage_by_hand(self):
		rows = [[0.5, 0.5, 0.0], [0.9, 0.1, 0.0], [0.25, 0.25, 0.5]]
		# c = (1.65, 0.85, 0.5) -> log 1 + log 0.85 + log 0.5
		want = 0.5 * (math.log(0.85) + math.log(0.5))
		self.assertAlmostEqual(float(D.coverage(rows, 0.5)), want, places=6)
		# A never-attended word counts log(1e-6).
		self.assertAlmostEqual(float(D.coverage([[1.0, 0.0]], 1.0)), math.log(1e-6), places=4)

	def test_forced_decoding_is_teacher_forcing(self):
		"""force_eos scores prefix + </s> with the teacher-forced log-probabilities of Seq2Seq.forward."""
		for rel in ("tests/fixtures/gru_dot_bahdanau_reverse_bpe.safetensors", "models/en-fr.safetensors"):
			m = model(rel)
			src, tgt = [7, 9, 11, 8], [12, 5, 30, 6]
			o = D.DecodeOptions(prefix_ids=tuple(tgt), force_eos=True, length_penalty_type="avg",
			                    coverage_penalty=0.3)
			h = D.decode(m, src, o)["hyps"][0]
			self.assertEqual(h["ids"], tgt + [EOS])
			self.assertTrue(h["finished"])
			s, lens = pad_batch([src])
			with torch.no_grad():
				logits = m(s, lens, torch.tensor([[2] + tgt]))
			lp = torch.log_softmax(logits[0], 1)
			want = [float(lp[i, w]) for i, w in enumerate(tgt + [EOS])]
			for a, b in zip(h["logprobs"], want):
				self.assertAlmostEqual(float(a), b, places=4)
			self.assertAlmostEqual(float(h["score"]), sum(want), places=3)
			cp = 0.3 * sum(math.log(min(max(c, 1e-6), 1.0)) for c in np.sum(np.array(h["attention"], dtype=np.float64), 0))
			self.assertAlmostEqual(h["norm_score"], sum(want) / 5 + cp, places=3)

	def test_greedy_scores_itself(self):
		m = model("tests/fixtures/gru_none_linear_2layer.safetensors")
		for src in ([4, 5], [9, 10, 11, 12], [20, 6]):
			g = D.decode(m, src, D.DecodeOptions(length_penalty=0.6))["hyps"][0]
			body = g["ids"][:-1] if g["finished"] else g["ids"]
			if not g["finished"] or not body:
				continue
			f = D.decode(m, src, D.DecodeOptions(length_penalty=0.6, prefix_ids=tuple(body), force_eos=True))["hyps"][0]
			self.assertEqual(f["ids"], g["ids"])
			self.assertEqual((f["score"], f["norm_score"]), (g["score"], g["norm_score"]))


@NEED_TORCH
class Sentinels(unittest.TestCase):
	def test_en_fr_never_draws_a_sentinel(self):
		m, constraint = loaded("models/en-fr.safetensors")
		self.assertIsNone(loaded("tests/fixtures/gru_none_linear_2layer.safetensors")[1])
		banned = set(constraint.never)
		self.assertGreaterEqual(len(banned), 8)
		o = dict(sampling_topk=0, sampling_temperature=4.0, return_alternatives=64, max_len_b=6)
		for seed in range(6):
			out = D.decode(m, [200, 5, 24, 40], D.DecodeOptions(seed=seed, **o), constraint=constraint)
			self.assertFalse(banned & set(out["hyps"][0]["ids"]))
			self.assertFalse(banned & {w for w, _ in out["alternatives"]})
			self.assertEqual(len(out["alternatives"]), 64)


@NEED_TORCH
class Checks(unittest.TestCase):
	def refused(self, field, **kw):
		with self.assertRaises(ValueError) as cm:
			D.DecodeOptions(**kw).check(40, True)
		self.assertTrue(str(cm.exception).startswith(field), str(cm.exception))

	def test_bounds(self):
		self.refused("beam_size", sampling_topk=0, beam_size=2)
		self.refused("sampling_topp", sampling_topp=0.9)
		self.refused("sampling_topp", sampling_topk=0, sampling_topp=0.0)
		self.refused("sampling_topp", sampling_temperature=0.5)
		self.refused("sampling_temperature", sampling_topk=0, sampling_temperature=0.0)
		self.refused("sampling_topk", sampling_topk=41)
		self.refused("repetition_penalty", repetition_penalty=0.0)
		self.refused("no_repeat_ngram_size", no_repeat_ngram_size=33)
		self.refused("suppress_ids", suppress_ids=(3,))
		self.refused("suppress_ids", suppress_ids=(40,))
		self.refused("prefix_ids", prefix_ids=(2,))
		self.refused("length_penalty_type", length_penalty_type="gnmt")
		self.refused("coverage_penalty", coverage_penalty=-1.0)
		self.refused("return_alternatives", return_alternatives=65)
		self.refused("force_eos", force_eos=True, min_length=2)
		self.refused("force_eos", force_eos=True, beam_size=2)
		with self.assertRaises(ValueError):
			D.DecodeOptions(coverage_penalty=0.5).check(40, False)

	def test_prefix_longer_than_the_limit(self):
		m = model("tests/fixtures/gru_none_linear_2layer.safetensors")
		with self.assertRaises(ValueError) as cm:
			D.decode(m, [5, 6], D.DecodeOptions(max_len_a=0.0, max_len_b=3, prefix_ids=(5, 6, 7)))
		self.assertIn("prefix of 3 tokens leaves no step within max_length 3", str(cm.exception))
		h = D.decode(m, [5, 6], D.DecodeOptions(max_len_a=0.0, max_len_b=3, prefix_ids=(5, 6)))["hyps"][0]
		self.assertEqual(len(h["ids"]), 3)


if __name__ == "__main__":
	unittest.main()
