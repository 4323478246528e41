#!/usr/bin/python3
"""Greedy-decoding throughput of the PyTorch reference module on a checkpoint.

    bench_torch.py --srcdir SRC --model M.safetensors --out torch.txt [--seconds S]

Runs the reference module's greedy loop (clients/python/s2s_ref) under
torch.no_grad() on the same random sentences as bench_core (source length 20,
exactly 20 decoder steps: max_len_a 0, max_len_b 20) at batch 1, 8, 32, 64:

* "default": as typically run - the environment as given, torch's default
  thread count;
* for every n in 1..cores, torch.set_num_threads(n) with the environment as
  given ("omp-default") and with OMP_WAIT_POLICY=PASSIVE ("omp-passive").

Each configuration is a separate subprocess because OpenMP reads its
environment once, at import. The figure is the batch size over the median
time of one greedy call, as in bench_core. PyTorch's best for a thread count
and batch size is the fastest configuration that ran with that many threads
("default" counts for the thread count torch chose). Output lines, read by
bench_core:

    default BATCH SENTENCES_PER_S THREADS
    best THREADS BATCH SENTENCES_PER_S CONFIG
"""
import argparse
import os
import subprocess
import sys
import time


def load_reference(srcdir, path):
    """The reference module with the checkpoint's weights (s2s_ref.export.load_model)."""
    sys.path.insert(0, os.path.join(srcdir, "clients", "python"))
    from s2s_ref.export import load_model
    model, _ = load_model(path)
    return model, model.cfg if hasattr(model, "cfg") else None


def random_sources(batch, n, vocab):
    """Same xorshift stream as bench_core's random_sources."""
    mask = (1 << 64) - 1
    s = 0x9E3779B97F4A7C15
    ids = []
    for _ in range(batch * n):
        s ^= (s << 13) & mask
        s ^= s >> 7
        s ^= (s << 17) & mask
        ids.append(4 + s % (vocab - 4))
    return [ids[i * n:(i + 1) * n] for i in range(batch)]


def child(args):
    import torch
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    model, _ = load_reference(args.srcdir, args.model)
    vocab = model.encoder.embedding.weight.shape[0]
    threads = torch.get_num_threads()
    for batch in args.batches:
        srcs = random_sources(batch, args.src_len, vocab)
        times = []
        start = time.perf_counter()
        with torch.no_grad():
            while True:
                t = time.perf_counter()
                out = model.greedy(srcs, max_len_a=0.0, max_len_b=args.steps)
                t = time.perf_counter() - t
                if time.perf_counter() - start > 0.1 * args.seconds:
                    times.append(t)
                if time.perf_counter() - start >= args.seconds and len(times) >= 3:
                    break
        steps = {len(h["ids"]) for h in out} if isinstance(out, list) else {args.steps}
        if steps != {args.steps}:
            print(f"bench_torch: WARNING: steps {sorted(steps)} != {args.steps}", file=sys.stderr)
        times.sort()
        med = times[len(times) // 2] if len(times) % 2 else 0.5 * (
            times[len(times) // 2 - 1] + times[len(times) // 2])
        print(f"{batch} {batch / med:.3f} {threads}", flush=True)


def run_child(args, threads, env_extra):
    env = dict(os.environ, **env_extra)
    cmd = [sys.executable, os.path.abspath(__file__), "--child", "--srcdir", args.srcdir,
           "--model", args.model, "--seconds", str(args.seconds), "--threads", str(threads),
           "--batches", ",".join(map(str, args.batches))]
    out = subprocess.run(cmd, env=env, check=True, stdout=subprocess.PIPE, text=True).stdout
    figs = {}
    for line in out.splitlines():
        b, r, t = line.split()
        figs[int(b)] = (float(r), int(t))
    return figs


def parent(args):
    cores = os.cpu_count() or 1
    default = run_child(args, 0, {})
    # candidates[(threads, batch)] = [(rate, config), ...]
    candidates = {}
    for b, (r, t) in default.items():
        candidates.setdefault((t, b), []).append((r, "default"))
    for n in range(1, cores + 1):
        for name, env in (("omp-default", {}), ("omp-passive", {"OMP_WAIT_POLICY": "PASSIVE"})):
            for b, (r, t) in run_child(args, n, env).items():
                print(f"  candidate: {name} threads {t} batch {b}: {r:.1f} sent/s")
                candidates.setdefault((t, b), []).append((r, name))
    with open(args.out, "w") as f:
        f.write("# bench/bench_torch.py: default BATCH SENT_S THREADS; "
                "best THREADS BATCH SENT_S CONFIG\n")
        for b in args.batches:
            r, t = default[b]
            f.write(f"default {b} {r:.3f} {t}\n")
        for (t, b), cands in sorted(candidates.items()):
            r, name = max(cands)
            f.write(f"best {t} {b} {r:.3f} {name}\n")
            print(f"torch best, {t} thread(s), batch {b:3d}: {r:9.1f} sent/s ({name})")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--srcdir", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--out")
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--batches", type=lambda s: [int(x) for x in s.split(",")],
                   default=[1, 8, 32, 64])
    p.add_argument("--src-len", type=int, default=20)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--child", action="store_true")
    args = p.parse_args()
    if args.child:
        child(args)
    else:
        if not args.out:
            p.error("--out is required")
        parent(args)


if __name__ == "__main__":
    main()
