"""seq2seq-import: convert a checkpoint trained elsewhere into a seq2seqd checkpoint.

Exit status: 0 written; 2 usage error or the input cannot be imported (every
reason is printed, one per line, and nothing is written); 1 an I/O error.
"""

import argparse
import importlib
import os
import sys

from . import SOURCES
from .common import ImportRefused, write_checkpoint

PROG = os.environ.get("SEQ2SEQ_IMPORT_PROG", "seq2seq-import")


def parser():
    ap = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="source", metavar="SOURCE", required=True)
    for name in SOURCES:
        mod = importlib.import_module("." + name, __package__)
        p = sub.add_parser(name, help=mod.__doc__.split("\n")[0], description=mod.__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        mod.add_arguments(p)
        p.add_argument("-o", "--output", required=True, help="the seq2seqd checkpoint to write (.safetensors)")
        p.add_argument("--dtype", choices=["F32", "F16", "BF16"], default="F32",
                       help="weight type to store (default F32: exactly the framework's weights)")
        p.add_argument("--name", help="model name served by seq2seqd (default: from the file name)")
        p.add_argument("--description", help="one line for humans")
        p.set_defaults(module=mod)
    return ap


def main(argv=None):
    args = parser().parse_args(argv)
    try:
        imp = args.module.convert(args)
        imp.name = args.name or imp.name or os.path.splitext(os.path.basename(args.output))[0]
        imp.description = args.description or imp.description
        write_checkpoint(imp, args.output, args.dtype)
        # Anything else a source writes (a preset's --save-mapping) waits
        # for the checkpoint, so a refused import writes nothing at all.
        if getattr(imp, "after_write", None):
            imp.after_write()
    except ImportRefused as e:
        for line in str(e).splitlines():
            print("%s: error: %s" % (PROG, line), file=sys.stderr)
        return 2
    except OSError as e:
        print("%s: error: %s" % (PROG, e), file=sys.stderr)
        return 1
    print("%s: wrote %s (%s, %d+%d tokens)" % (PROG, args.output, args.source, len(imp.src_vocab),
                                               len(imp.tgt_vocab)), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
