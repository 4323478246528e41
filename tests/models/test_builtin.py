#!/usr/bin/python3
"""The shipped models in models/ still do what their cards promise, through the C core.

* dates: regenerates the held-out test split with scripts/dates/make_dates.py
  (deterministic, standard library only) and translates all 2,000 dates with
  $S2S_BUILDDIR/seq2seq-translate, beam 5: every one must be exact.
* en-fr: the training corpus is not committed (it is built from Debian
  packages), so its BLEU target is checked by `make eval-builtin`, not here.
  Here: it loads within its 12 MB budget, and on 32 everyday UI strings whose
  French was written by hand for this test (not taken from the corpus) its
  chrF stays above a floor that an untrained or mis-exported model cannot
  reach; its output is cased.

Standard library only (no torch); prints TAP.
"""

import os
import subprocess
import sys
import tempfile

SRC = os.path.abspath(os.environ.get("S2S_SRCDIR", "."))
BUILD = os.path.abspath(os.environ.get("S2S_BUILDDIR", "."))
CLI = os.path.join(BUILD, "seq2seq-translate")
MODELS = os.path.join(SRC, "models")
sys.path.insert(0, os.path.join(SRC, "clients", "python"))
from s2s_train import metrics  # noqa: E402

sys.path.insert(0, os.path.join(SRC, "tests"))
from tap import Tap  # noqa: E402

# English UI strings with the French a translator would write, by hand.
UI_PAIRS = [
    ("Open", "Ouvrir"),
    ("Save", "Enregistrer"),
    ("Close", "Fermer"),
    ("Quit", "Quitter"),
    ("Cancel", "Annuler"),
    ("Delete", "Supprimer"),
    ("Copy", "Copier"),
    ("Paste", "Coller"),
    ("Print", "Imprimer"),
    ("Preferences", "Préférences"),
    ("Help", "Aide"),
    ("Search", "Rechercher"),
    ("Password", "Mot de passe"),
    ("User name", "Nom d'utilisateur"),
    ("New Folder", "Nouveau dossier"),
    ("Select All", "Tout sélectionner"),
    ("File not found", "Fichier introuvable"),
    ("Show hidden files", "Afficher les fichiers cachés"),
    ("Download complete", "Téléchargement terminé"),
    ("Connection failed", "Échec de la connexion"),
    ("Unable to open the file", "Impossible d'ouvrir le fichier"),
    ("Remove the selected items", "Supprimer les éléments sélectionnés"),
    ("Are you sure you want to delete this file?", "Voulez-vous vraiment supprimer ce fichier ?"),
    ("The file could not be saved.", "Le fichier n'a pas pu être enregistré."),
    ("Export as PDF", "Exporter en PDF"),
    ("Add a new account", "Ajouter un nouveau compte"),
    ("Keyboard shortcuts", "Raccourcis clavier"),
    ("Check for updates", "Rechercher des mises à jour"),
    ("Font size", "Taille de police"),
    ("Background color", "Couleur d'arrière-plan"),
    ("Insert image", "Insérer une image"),
    ("Restart the application", "Redémarrer l'application"),
]
# chrF of the shipped model on UI_PAIRS: see models/en-fr.md (above 90 when
# it was committed); a random-weight model of the family scores 0.3.
CHRF_FLOOR = 75.0

TAP = Tap()


def t(name):
    """Decorator: runs the function at once as one TAP test (tests/tap.py)."""
    def wrap(fn):
        TAP.run(name, fn)
        return fn
    return wrap


def translate(model, sources, beam=5):
    """One output line per source line from the C core's offline CLI."""
    r = subprocess.run([CLI, "-m", model, "--beam", str(beam)], input="".join(s + "\n" for s in sources),
                       capture_output=True, text=True, timeout=600, check=False)
    assert r.returncode == 0, "seq2seq-translate exited %d: %s" % (r.returncode, r.stderr[:400])
    lines = r.stdout.split("\n")
    assert len(lines) >= len(sources), "%d lines for %d sources" % (len(lines), len(sources))
    return lines[:len(sources)]


def read_tsv(path):
    with open(path, encoding="utf-8") as f:
        return [tuple(line.rstrip("\n").split("\t")) for line in f if "\t" in line]


print("1..4")


@t("dates: all 2,000 held-out dates exact through the C core, beam 5")
def _dates():
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([sys.executable, os.path.join(SRC, "scripts", "dates", "make_dates.py"), "--out", d],
                       check=True, capture_output=True, timeout=300)
        pairs = read_tsv(os.path.join(d, "test.tsv"))
    assert len(pairs) == 2000, "%d test pairs" % len(pairs)
    hyps = translate(os.path.join(MODELS, "dates.safetensors"), [s for s, _ in pairs])
    wrong = [(s, h, r) for (s, r), h in zip(pairs, hyps) if h != r]
    assert not wrong, "%d of 2000 wrong, e.g. %r" % (len(wrong), wrong[:3])


EN_FR = os.path.join(MODELS, "en-fr.safetensors")


@t("en-fr: shipped with its examples, within the 12 MB budget")
def _enfr_file():
    size = os.path.getsize(EN_FR)
    assert size <= 12 * 1000 * 1000, "en-fr.safetensors is %d bytes" % size
    with open(os.path.join(MODELS, "en-fr.examples"), encoding="utf-8") as f:
        ex = [line.strip() for line in f if line.strip()]
    assert len(ex) >= 3, "only %d examples" % len(ex)
    out = translate(EN_FR, ex)
    assert all(o.strip() for o in out), "empty translation of an example: %r" % list(zip(ex, out))


@t("en-fr: chrF on hand-written UI strings above the floor (beam 5)")
def _enfr_quality():
    hyps = translate(EN_FR, [s for s, _ in UI_PAIRS])
    chrf = metrics.corpus_chrf(hyps, [r for _, r in UI_PAIRS])
    detail = "; ".join("%s -> %s" % (s, h) for (s, _), h in zip(UI_PAIRS, hyps))
    print("# chrF %.1f on %d UI strings: %s" % (chrf, len(UI_PAIRS), detail))
    assert chrf >= CHRF_FLOOR, "chrF %.1f < %.1f" % (chrf, CHRF_FLOOR)


@t("en-fr: cased output: capitalised sources give capitalised French with lowercase letters after")
def _enfr_case():
    srcs = ["Open the file", "Delete all messages", "Show the toolbar", "Import from a CSV file"]
    hyps = translate(EN_FR, srcs)
    for s, h in zip(srcs, hyps):
        assert h and h[0].isalpha() and h[0].isupper(), "%r -> %r: not capitalised" % (s, h)
        assert any(c.islower() for c in h[1:]), "%r -> %r: no lowercase letters" % (s, h)


sys.exit(1 if TAP.failed else 0)
