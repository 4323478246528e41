"""s2s_ref: PyTorch reference of the seq2seqd model family, tokenizer and exporter."""
