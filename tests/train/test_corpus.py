"""Corpus builder: .mo parsing on a hand-built catalog, cleaning rules, split."""

import importlib.util
import os
import struct
import unittest

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
spec = importlib.util.spec_from_file_location("build_corpus", os.path.join(ROOT, "scripts", "corpus", "build_corpus.py"))
bc = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bc)


def make_mo(entries):
	"""A little-endian .mo file laid out by hand from the GNU gettext spec:
	header (magic, revision, N, offset of originals, offset of translations,
	hash size 0, hash offset), two tables of (length, offset), then strings."""
	n = len(entries)
	o_tab = 28
	t_tab = o_tab + 8 * n
	pos = t_tab + 8 * n
	ids, strs, blob = [], [], b""
	for k, v in entries:
		ids.append((len(k), pos + len(blob)))
		blob += k + b"\0"
	for k, v in entries:
		strs.append((len(v), pos + len(blob)))
		blob += v + b"\0"
	head = struct.pack("<7I", 0x950412DE, 0, n, o_tab, t_tab, 0, 0)
	tabs = b"".join(struct.pack("<2I", *e) for e in ids + strs)
	return head + tabs + blob


class TestMo(unittest.TestCase):
	def test_parse(self):
		data = make_mo([
			(b"", b"Content-Type: text/plain; charset=UTF-8\n"),
			(b"Open", b"Ouvrir"),
			(b"menu\x04Quit", b"Quitter"),
			(b"%d file\x00%d files", b"%d fichier\x00%d fichiers"),
		])
		self.assertEqual(bc.mo_charset(data), "UTF-8")
		self.assertEqual(bc.parse_mo(data), [
			(b"Open", b"Ouvrir"), (b"Quit", b"Quitter"),
			(b"%d file", b"%d fichier"), (b"%d files", b"%d fichiers")])

	def test_bad_magic(self):
		with self.assertRaises(ValueError):
			bc.parse_mo(b"\0" * 40)


class TestClean(unittest.TestCase):
	def keep(self, en, fr, want_en, want_fr):
		self.assertEqual(bc.clean_pair(en, fr), ((want_en, want_fr), None))

	def drop(self, en, fr, reason):
		self.assertEqual(bc.clean_pair(en, fr), (None, reason))

	def test_accelerators(self):
		self.keep("_Open File", "_Ouvrir le fichier", "Open File", "Ouvrir le fichier")
		self.keep("&Save", "&Enregistrer", "Save", "Enregistrer")
		self.keep("~Insert", "~Insérer", "Insert", "Insérer")
		self.keep("Fi_le", "Fichier (_F)", "File", "Fichier")

	def test_spaces_and_apostrophes(self):
		self.keep("Can't  open", "Impossible d\u2019ouvrir\u00a0!", "Can't open", "Impossible d'ouvrir !")

	def test_drops(self):
		self.drop("%s files", "%s fichiers", "format")
		self.drop("Open %1", "Ouvrir %1", "format")
		self.drop("Delete {name}", "Supprimer {name}", "format")
		self.drop("<b>Bold</b>", "<b>Gras</b>", "markup")
		self.drop("Tom &amp; Jerry", "Tom &amp; Jerry", "markup")
		self.drop("Open", "", "untranslated")
		self.drop("Menu", "Menu", "untranslated")
		self.drop("use --verbose to see", "utiliser --verbose", "code")
		self.drop("/usr/share", "/usr/share/fr", "code")
		self.drop("getValue", "obtenirValeur", "code")
		self.drop("x", "une traduction beaucoup trop longue", "length")
		# (8 + 6) / (28 + 6) = 0.41 < 0.5
		self.drop("Print the whole document now", "Imprimer", "ratio")


class TestSplit(unittest.TestCase):
	def test_variants_share_a_split(self):
		key = bc.split_key
		self.assertEqual(key("Open File..."), key("open file"))
		self.assertEqual(key("Open File\u2026"), key("Open file:"))
		for s in ["Open", "Save As", "Print preview", "Quit", "Help"]:
			self.assertEqual(bc.split_of(key(s), 2, 2), bc.split_of(key(s + "..."), 2, 2))

	def test_proportions(self):
		counts = {"train": 0, "dev": 0, "test": 0}
		for i in range(20000):
			counts[bc.split_of("sentence %d" % i, 2, 2)] += 1
		self.assertTrue(300 < counts["test"] < 500, counts)
		self.assertTrue(300 < counts["dev"] < 500, counts)


if __name__ == "__main__":
	unittest.main()
