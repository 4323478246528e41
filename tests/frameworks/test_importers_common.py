#!/usr/bin/python3
"""s2s_ref.importers.common: the safe .pt/pickle reader, special-token
remapping and atomic writing that every importer relies on; TAP.

The reader is attacked with files torch.save itself writes, then edited:
a tensor whose offset/size points past its storage, a storage file shorter
than its record, globals that are not on the allow-list (os.system, with its
side effect checked), the legacy non-zip format; and it must still read
what real checkpoints hold (argparse.Namespace, OrderedDict, framework
classes named as stand-ins, views with offsets and strides).
"""

import argparse
import collections
import datetime
import os
import pickle
import shutil
import sys
import tempfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

try:
    import torch
except ImportError as e:  # pragma: no cover
    print("1..0 # SKIP torch not importable (%s)" % e)
    sys.exit(0)

import fwtest  # noqa: E402,F401  (puts clients/python and tests/ on sys.path)
from fwtest import MARKER, Evil  # noqa: E402
from tap import Tap  # noqa: E402
from s2s_ref.importers import common  # noqa: E402
from s2s_ref.importers.common import ImportRefused  # noqa: E402

class Framework:
    """Stands for a framework's vocabulary class."""

    def __init__(self):
        self.itos = ["a", "b"]


class Tampered:
    """Pickles as a tensor whose view does not fit its storage."""

    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, size, stride)

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, self.args + (False, collections.OrderedDict()))


def refused(fn, *needles):
    try:
        fn()
    except ImportRefused as e:
        for n in needles:
            assert n in str(e), "%r not in %r" % (n, str(e))
        return str(e)
    raise AssertionError("not refused")


def main():
    tap = Tap()
    tmp = tempfile.mkdtemp(prefix="s2s-common-test.")
    os.chdir(tmp)

    def save(obj, name, **kw):
        path = os.path.join(tmp, name)
        torch.save(obj, path, **kw)
        return path

    def roundtrip():
        base = torch.arange(24, dtype=torch.float32).view(4, 6)
        obj = {"sd": collections.OrderedDict(w=base, view=base[1:, 2:4], t=base.t(), h=base.half(),
                                             i=torch.arange(3)),
               "args": argparse.Namespace(layers=2, rnn="lstm"), "n": 3, "s": {1, 2}}
        got = common.safe_torch_load(save(obj, "ok.pt"))
        for k, v in obj["sd"].items():
            assert torch.equal(got["sd"][k], v) and got["sd"][k].dtype == v.dtype, k
        assert got["args"].layers == 2 and isinstance(got["args"], argparse.Namespace)
        assert got["n"] == 3 and got["s"] == {1, 2}
    tap.run("tensors (views, transposes, f16, int), Namespace and containers read back exactly", roundtrip)

    def stand_in():
        path = save({"vocab": Framework()}, "fw.pt")
        refused(lambda: common.safe_torch_load(path), "__main__.Framework")
        got = common.safe_torch_load(path, [("__main__", "Framework")])
        assert isinstance(got["vocab"], common.StandIn) and got["vocab"].itos == ["a", "b"]
        got = common.safe_torch_load(path, ["__main__."])
        assert got["vocab"].itos == ["a", "b"]
    tap.run("framework classes: refused unless named, then inert records", stand_in)

    def unknown_global():
        refused(lambda: common.safe_torch_load(save({"d": datetime.date(2020, 1, 2)}, "date.pt")),
                "datetime.date", "never run")
    tap.run("an unknown global is refused by name", unknown_global)

    def malicious():
        refused(lambda: common.safe_torch_load(save({"w": Evil()}, "evil.pt")), "system")
        with open("evil.pkl", "wb") as f:
            pickle.dump({"w": Evil()}, f)
        refused(lambda: common.safe_pickle_load(os.path.join(tmp, "evil.pkl")), "system")
        assert not os.path.exists(os.path.join(tmp, MARKER)), "the pickle's command ran"
    tap.run("os.system in a .pt and in a plain pickle: refused, not run", malicious)

    def tampered_view():
        st = torch.zeros(4).storage()
        for offset, size, stride in ((3, (4,), (1,)), (0, (2, 3), (3, 1)), (0, (2,), (5,)), (-1, (2,), (1,))):
            path = save({"w": Tampered(st, offset, size, stride)}, "view.pt")
            refused(lambda: common.safe_torch_load(path), "view.pt is damaged")
    tap.run("tensor offset/size/stride past its storage: refused", tampered_view)

    def short_storage():
        path = save({"w": torch.zeros(16)}, "short.pt")
        bad = os.path.join(tmp, "short2.pt")
        with zipfile.ZipFile(path) as zin, zipfile.ZipFile(bad, "w") as zout:
            for info in zin.infolist():
                data = zin.read(info)
                if "/data/" in info.filename:
                    data = data[:-4]
                zout.writestr(info, data)
        refused(lambda: common.safe_torch_load(bad), "holds 60 bytes, its record says 64")
    tap.run("storage shorter than its record: refused", short_storage)

    def legacy_and_truncated():
        path = save({"w": torch.zeros(2)}, "legacy.pt", _use_new_zipfile_serialization=False)
        refused(lambda: common.safe_torch_load(path), "not a PyTorch zip file")
        data = open(save({"w": torch.zeros(2)}, "t.pt"), "rb").read()
        open("t2.pt", "wb").write(data[: len(data) // 2])
        refused(lambda: common.safe_torch_load(os.path.join(tmp, "t2.pt")), "not a PyTorch zip file")
        refused(lambda: common.safe_torch_load(os.path.join(tmp, "none.pt")), "none.pt: no such file")
    tap.run("legacy format, truncated file, missing file: one clear line each", legacy_and_truncated)

    def remap():
        vocab, order = common.remap_vocab(["<s>", "x", "</s>", "<blank>", "y"], pad=3, bos=0, eos=2)
        assert vocab == ["<pad>", "<unk>", "<s>", "</s>", "x", "y"] and order == [3, -1, 0, 2, 1, 4], (vocab, order)
        t = torch.arange(5, dtype=torch.float32).unsqueeze(1)
        assert common.take_rows(t, order, -7).view(-1).tolist() == [3, -7, 0, 2, 1, 4]
        refused(lambda: common.remap_vocab(["a", "b", "c", "d", "c"], 0, 1, None, None), "'c' appears twice")
        refused(lambda: common.remap_vocab(["a", "b"], 0, 0), "share one id")
    tap.run("remap_vocab moves specials to 0-3, adds missing rows, refuses duplicates", remap)

    def installed():
        # seq2seq-import runs s2s_ref from $(pkgdatadir)/python: a module
        # missing from clients/Makemodule.am works in the source tree but is
        # absent from the tarball and the installed command.
        top = os.path.join(HERE, "..", "..")
        with open(os.path.join(top, "clients", "Makemodule.am")) as f:
            listed = set(f.read().replace("\\\n", " ").split())
        pkg = os.path.join(top, "clients", "python", "s2s_ref")
        for d, _, files in os.walk(pkg):
            for name in files:
                if name.endswith(".py"):
                    rel = os.path.relpath(os.path.join(d, name), top)
                    assert rel in listed, "%s is not installed or distributed (clients/Makemodule.am)" % rel
    tap.run("every s2s_ref module is installed and distributed", installed)

    print("1..%d" % tap.n)
    os.chdir("/")
    shutil.rmtree(tmp, ignore_errors=True)
    return 1 if tap.failed else 0


if __name__ == "__main__":
    sys.exit(main())
