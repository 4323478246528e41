"""Our own reader/writer of the safetensors container (docs/checkpoint-format.md §1).

Written here rather than imported so the exporter needs nothing beyond
Debian's python3-torch and python3-numpy.
"""

import json
import struct

import numpy as np
import torch

DTYPE_SIZE = {"F32": 4, "F16": 2, "BF16": 2}


def _tensor_bytes(t, dtype):
    t = t.detach().cpu().contiguous()
    if dtype == "F32":
        return t.to(torch.float32).numpy().astype("<f4").tobytes()
    if dtype == "F16":
        return t.to(torch.float16).numpy().astype("<f2").tobytes()
    if dtype == "BF16":
        return t.to(torch.bfloat16).view(torch.int16).numpy().astype("<i2").tobytes()
    raise ValueError("unsupported dtype %r" % (dtype,))


def save(path, tensors, metadata, dtype="F32"):
    """Writes {name: tensor} in `dtype` with string metadata; contiguous data, padded header."""
    header = {"__metadata__": {str(k): str(v) for k, v in metadata.items()}}
    blobs, offset = [], 0
    for name, t in tensors.items():
        b = _tensor_bytes(t, dtype)
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    text = json.dumps(header, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - (8 + len(text)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def load(path):
    """Returns ({name: float32 torch tensor}, metadata dict, {name: dtype})."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {})
    base, tensors, dtypes = 8 + n, {}, {}
    for name, info in header.items():
        b, e = info["data_offsets"]
        raw = data[base + b : base + e]
        if info["dtype"] == "F32":
            arr = torch.from_numpy(np.frombuffer(raw, "<f4").copy())
        elif info["dtype"] == "F16":
            arr = torch.from_numpy(np.frombuffer(raw, "<f2").astype(np.float32))
        else:
            arr = torch.from_numpy(np.frombuffer(raw, "<i2").copy()).view(torch.bfloat16).float()
        tensors[name] = arr.reshape(info["shape"])
        dtypes[name] = info["dtype"]
    return tensors, meta, dtypes
