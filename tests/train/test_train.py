"""Training tool end to end on a tiny date task: batches, a few steps,
best/last checkpoints, resume, export and reload. Skipped without torch."""

import contextlib
import io
import os
import random
import sys
import tempfile
import unittest

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path.insert(0, os.path.join(ROOT, "clients", "python"))

try:
	import torch
except ImportError:  # pragma: no cover
	torch = None

from s2s_train import data as D  # noqa: E402


class TestBatches(unittest.TestCase):
	def test_every_example_once_and_caps(self):
		rng = random.Random(3)
		ex = [([5] * rng.randint(1, 30), [6] * rng.randint(1, 30)) for _ in range(1000)]
		batches = D.make_batches(ex, max_tokens=300, max_sents=16, seed=1)
		flat = sorted(i for b in batches for i in b)
		self.assertEqual(flat, list(range(1000)))
		for b in batches:
			self.assertLessEqual(len(b), 16)
			longest = max(len(ex[i][0]) + len(ex[i][1]) + 1 for i in b)
			self.assertTrue(len(b) == 1 or longest * len(b) <= 300, (len(b), longest))
		self.assertEqual(batches, D.make_batches(ex, 300, 16, 1))
		self.assertNotEqual(batches, D.make_batches(ex, 300, 16, 2))

	@unittest.skipIf(torch is None, "torch not installed")
	def test_collate(self):
		ex = [([7, 8, 9], [10]), ([11], [12, 13])]
		src, lens, tin, tout = D.collate(ex, [0, 1], torch, torch.device("cpu"))
		self.assertEqual(src.tolist(), [[7, 8, 9], [11, 0, 0]])
		self.assertEqual(lens.tolist(), [3, 1])
		self.assertEqual(tin.tolist(), [[D.BOS, 10, 0], [D.BOS, 12, 13]])
		self.assertEqual(tout.tolist(), [[10, D.EOS, 0], [12, 13, D.EOS]])


@unittest.skipIf(torch is None, "torch not installed")
class TestParallelForward(unittest.TestCase):
	"""The one-call teacher-forced decoder must give the step loop's logits."""

	def check(self, **kw):
		from s2s_ref.model import Seq2Seq, Seq2SeqConfig
		torch.manual_seed(5)
		cfg = Seq2SeqConfig(src_vocab_size=23, tgt_vocab_size=19, emb_dim=16, enc_hidden=8,
				    dec_hidden=16, attn_dim=12, bidirectional=True, bridge="linear", **kw)
		model = Seq2Seq(cfg).eval()
		self.assertTrue(model.decoder_is_parallel())
		src = torch.tensor([[3, 4, 5, 6], [7, 8, 0, 0]])
		lens = torch.tensor([4, 2])
		tin = torch.tensor([[1, 9, 10, 11, 12], [1, 13, 14, 0, 0]])
		with torch.no_grad():
			fast = model(src, lens, tin)
			enc = model.encode(src, lens)
			state, feed, steps = enc["state"], enc["feed"], []
			for t in range(tin.shape[1]):
				z, _, state, feed = model.decoder.step(tin[:, t], state, feed, enc["memory"],
								       enc["keys"], enc["mask"])
				steps.append(z)
		slow = torch.stack(steps, 1)
		self.assertEqual(fast.shape, slow.shape)
		self.assertLess(float((fast - slow).abs().max()), 1e-5)

	def test_every_parallel_variant(self):
		for cell in ("gru", "lstm", "rnn_tanh"):
			for att in ("dot", "general", "additive", "none"):
				with self.subTest(cell=cell, attention=att):
					self.check(cell=cell, attention=att, attn_placement="luong")

	def test_bahdanau_and_feed_use_the_loop(self):
		from s2s_ref.model import Seq2Seq, Seq2SeqConfig
		for kw in (dict(attn_placement="bahdanau"), dict(input_feed=True)):
			cfg = Seq2SeqConfig(src_vocab_size=5, tgt_vocab_size=5, **kw)
			self.assertFalse(Seq2Seq(cfg).decoder_is_parallel())


@unittest.skipIf(torch is None, "torch not installed")
class TestTrainLoop(unittest.TestCase):
	def test_train_resume_export(self):
		from s2s_ref.export import load_model
		from s2s_train import train

		torch.set_num_threads(1)
		with tempfile.TemporaryDirectory() as tmp:
			rows = ["%d/%d/%d\t%04d-%02d-%02d" % (m, d, y, y, m, d)
				for y in (1999, 2000, 2001) for m in range(1, 13) for d in (1, 9, 17, 25)]
			for name in ("train", "dev"):
				with open(os.path.join(tmp, name + ".tsv"), "w") as f:
					f.write("\n".join(rows) + "\n")
			work = os.path.join(tmp, "run")
			args = ["--train", os.path.join(tmp, "train.tsv"), "--dev", os.path.join(tmp, "dev.tsv"),
				"--work", work, "--src-tok", "char", "--tgt-tok", "char", "--emb", "8",
				"--hidden", "8", "--attn-dim", "8", "--batch-size", "16", "--eval-every", "5",
				"--dev-limit", "20", "--threads", "1", "--metric", "exact"]
			err = io.StringIO()
			with contextlib.redirect_stderr(err):
				train.main(args + ["--max-steps", "5"])
				first = torch.load(os.path.join(work, "last.pt"))
				self.assertEqual(first["progress"]["step"], 5)
				self.assertTrue(os.path.exists(os.path.join(work, "best.pt")))
				out = os.path.join(tmp, "m.safetensors")
				train.main(args + ["--max-steps", "8", "--export", out, "--dtype", "F16", "--name", "t"])
			self.assertIn("resuming", err.getvalue())
			second = torch.load(os.path.join(work, "last.pt"))
			self.assertEqual(second["progress"]["step"], 8)
			self.assertEqual(second["progress"]["batch"], first["progress"]["batch"] + 3)
			model, meta = load_model(out)
			self.assertEqual(meta["seq2seqd.name"], "t")
			self.assertEqual(model.cfg.enc_hidden, 8)
			self.fine_tune_with_sentinels(tmp, out, model, meta)

	def fine_tune_with_sentinels(self, tmp, init, old, old_meta):
		"""--init/--sentinels/--train-spans (issue 12): the vocabularies grow by
		the sentinel pieces, the old rows are kept, span pairs are trained
		sentinel-masked, and the export holds P = 2, T = 1."""
		import json

		from s2s_ref import spans as S
		from s2s_ref.export import load_model
		from s2s_train import train

		spans = ["%d/%d %s\t%s %04d-%02d" % (m, d, "<b>x</b>" if d % 2 else "%s", "%s" if d % 2 == 0 else "<b>x</b>", 2000, m)
			 for m in range(1, 13) for d in (1, 2, 3)]
		with open(os.path.join(tmp, "spans.tsv"), "w") as f:
			f.write("\n".join(spans) + "\n")
		work = os.path.join(tmp, "ft")
		out = os.path.join(tmp, "ft.safetensors")
		err = io.StringIO()
		with contextlib.redirect_stderr(err):
			train.main(["--train", os.path.join(tmp, "train.tsv"), "--dev", os.path.join(tmp, "dev.tsv"),
				    "--work", work, "--init", init, "--sentinels", "2,1",
				    "--train-spans", os.path.join(tmp, "spans.tsv"), "--dev-spans", os.path.join(tmp, "spans.tsv"),
				    "--spans-repeat", "2", "--batch-size", "16", "--eval-every", "4", "--dev-limit", "10",
				    "--threads", "1", "--max-steps", "4", "--lr", "1e-3", "--export", out, "--name", "ft"])
		self.assertIn("+4 source, +4 target sentinel tokens", err.getvalue())
		self.assertIn("span pairs masked with P=2 T=1", err.getvalue())
		self.assertIn("sentinels exactly kept", err.getvalue())
		model, meta = load_model(out)
		src_v = json.loads(meta["seq2seqd.src_vocab"])
		old_v = json.loads(old_meta["seq2seqd.src_vocab"])
		self.assertEqual(src_v, old_v + ["<ph0>", "<ph1>", "<t0>", "</t0>"])
		sent = S.Sentinels(src_v, json.loads(meta["seq2seqd.tgt_vocab"]))
		self.assertEqual((sent.n_ph, sent.n_pairs), (2, 1))
		self.assertEqual(model.cfg.src_vocab_size, len(src_v))
		self.assertEqual(tuple(model.encoder.embedding.weight.shape[1:]), tuple(old.encoder.embedding.weight.shape[1:]))


if __name__ == "__main__":
	unittest.main()
