"""Metric tests against values computed by hand (derivations in the comments)."""

import math
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "clients", "python"))

from s2s_train import metrics  # noqa: E402


class TestTokenize13a(unittest.TestCase):
	def test_punctuation_and_numbers(self):
		# Rule 1 splits $ ! ( ) ; rule 2 splits the comma after "o" and the
		# final period after a space; "3.50" keeps its period (digits both sides).
		self.assertEqual(metrics.tokenize_13a("Hello, world! It costs $3.50 (ok)."),
				 "Hello , world ! It costs $ 3.50 ( ok ) .".split())

	def test_dash_and_apostrophe(self):
		# A dash after a digit is split; a dash between letters and an apostrophe are not.
		self.assertEqual(metrics.tokenize_13a("1-2 well-known don't"),
				 ["1", "-", "2", "well-known", "don't"])

	def test_entities(self):
		self.assertEqual(metrics.tokenize_13a("a &amp; b &lt;c&gt;"), ["a", "&", "b", "<", "c", ">"])


class TestBleu(unittest.TestCase):
	def test_identical(self):
		self.assertAlmostEqual(metrics.corpus_bleu(["the cat sat on the mat"], ["the cat sat on the mat"]), 100.0)

	def test_clipping_and_zero_fourgram(self):
		# hyp "the cat the cat on the mat" (7 tokens), ref "the cat is on the mat" (6).
		# 1-grams: the 3->2, cat 2->1, on 1, mat 1: 5/7.   2-grams: the cat 2->1,
		# on the, the mat: 3/6.   3-grams: on the mat: 1/5.   4-grams: 0/4.
		h, r = ["the cat the cat on the mat"], ["the cat is on the mat"]
		self.assertEqual(metrics.bleu_stats(h, r), (7, 6, [5, 3, 1, 0], [7, 6, 5, 4]))
		self.assertEqual(metrics.corpus_bleu(h, r), 0.0)
		# exp smoothing: the first zero count becomes 1/2 -> p4 = 1/(2*4); BP = 1 (7 > 6).
		# BLEU = (5/7 * 1/2 * 1/5 * 1/8)^(1/4) = (1/112)^(1/4).
		self.assertAlmostEqual(metrics.corpus_bleu(h, r, smooth="exp"), 100 * (1 / 112) ** 0.25, places=9)

	def test_brevity_penalty_corpus(self):
		# Every n-gram matches (4/4... per order: 6/6, 4/4, 2/2, 1/1); c = 6, r = 8,
		# BP = exp(1 - 8/6) = exp(-1/3).
		h, r = ["a b c d", "e f"], ["a b c d e", "e f g"]
		self.assertEqual(metrics.bleu_stats(h, r), (6, 8, [6, 4, 2, 1], [6, 4, 2, 1]))
		self.assertAlmostEqual(metrics.corpus_bleu(h, r), 100 * math.exp(-1 / 3), places=9)

	def test_partial(self):
		# hyp "a b c d x" vs ref "a b c d y": p = 4/5, 3/4, 2/3, 1/2; c = r -> BP 1.
		# BLEU = (4/5 * 3/4 * 2/3 * 1/2)^(1/4) = (1/5)^(1/4).
		self.assertAlmostEqual(metrics.corpus_bleu(["a b c d x"], ["a b c d y"]), 100 * 0.2 ** 0.25, places=9)

	def test_length_mismatch(self):
		with self.assertRaises(ValueError):
			metrics.corpus_bleu(["a"], [])


class TestChrf(unittest.TestCase):
	def test_identical_ignores_spaces(self):
		self.assertAlmostEqual(metrics.corpus_chrf(["a b"], ["ab"]), 100.0)

	def test_hand(self):
		# hyp "ab", ref "abc". n=1: P 2/2, R 2/3.  n=2: P 1/1, R 1/2.  n>=3: the
		# hypothesis has no n-gram, order left out.  chrP = 1, chrR = 7/12,
		# chrF2 = 5 * 1 * 7/12 / (4 + 7/12) = 35/55 = 7/11.
		self.assertAlmostEqual(metrics.corpus_chrf(["ab"], ["abc"]), 100 * 7 / 11, places=9)

	def test_disjoint(self):
		self.assertEqual(metrics.corpus_chrf(["xyz"], ["abc"]), 0.0)

	def test_corpus_sums_counts(self):
		# Two sentences: ("ab","ab") and ("c","d"). n=1: 2 matches of 3 hyp, 3 ref.
		# n=2: 1 of 1 hyp, 1 ref. P = (2/3 + 1)/2 = 5/6 = R -> chrF = 5/6.
		self.assertAlmostEqual(metrics.corpus_chrf(["ab", "c"], ["ab", "d"]), 100 * 5 / 6, places=9)


class TestExact(unittest.TestCase):
	def test_exact(self):
		self.assertEqual(metrics.exact_match(["a", "b ", "c"], ["a", "b", "d"]), 200 / 3)


if __name__ == "__main__":
	unittest.main()
