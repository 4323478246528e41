"""Importers: foreign checkpoints -> seq2seqd checkpoints (docs/importing.md).

    /usr/bin/python3 -m s2s_ref.importers SOURCE [options] -o model.safetensors

One module per SOURCE, each with `add_arguments(parser)` and
`convert(args) -> common.Imported`; `common` holds what they share.
"""

# The sources, in the order `--help` lists them. Each name is a module here.
SOURCES = (
    "joeynmt",
    "mapping",
    "opennmt",
    "seed",
    "tutorial",
)
