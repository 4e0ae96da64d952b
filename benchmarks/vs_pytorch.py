"""mtl_tf against a hand-written PyTorch loop (and TorchJD) on the same work (issue 22).

Never part of the test suite; torch lives in its own venv (benchmarks/README.md says how):

  /tmp/venv/bin/python benchmarks/vs_pytorch.py [--quick] [--rounds=3] [--only=trunk20] [--seconds=2] [--no-commands]
      [--command_names=cmd_mmoe_sum,...] [--command_rounds=3]
      [--tf_python=/tmp/venv/bin/python] [--torch_python=/tmp/torchvenv/bin/python]

The driver writes one set of arrays (npz; a CSV of the same arrays for ``mtl-train``), then, per
round, runs each side in its own subprocess, alternating: mtl_tf (``--side=tf``, the Trainer's
in-graph loop on its task-sampled pipeline), PyTorch with 2 threads and with 1 thread
(``--side=torch``; a plain loop, per-task ``torch.autograd.grad`` for the gradient methods) and
TorchJD (``mtl_backward`` + ``jac_to_grad``, where it has the method). Each child measures every
configuration's steady-state steps/s (after warm-up steps, timed for ``--seconds``) and its own
peak RSS. Ratios are mtl_tf / the faster PyTorch loop, per round; medians over rounds.

Whole commands (``--commands``): ``mtl-train`` on the CSV against a PyTorch script that loads the
same arrays, trains the same steps and evaluates the test split; wall time from process start to
exit, steps / wall, peak RSS of the process (``wait4``), and mtl-train's own steady-state rate
(metrics.json) to check "whole command within 10% of steady state".

Work (both sides: task-sampled batches, k = T tasks x b examples each, every head on every row,
masked mean squared error per task, Adam 1e-3):
  mmoe   the MMoE paper's configuration: d = 100, 8 experts of 16 ReLU units, softmax gates, towers of 8, T = 2
  trunk  shared MLP 2 x 256 ReLU, per-task tower 32 ReLU + linear output, T = 2, 8, 20, b = 64
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
D = 100

# name: (model, T, b per task, method); "sum" = back-propagate the summed loss
CONFIGS = {
    "mmoe256_sum": ("mmoe", 2, 128, "sum"),
    "mmoe256_pcgrad": ("mmoe", 2, 128, "pcgrad"),
    "mmoe1024_sum": ("mmoe", 2, 512, "sum"),
    "mmoe4096_sum": ("mmoe", 2, 2048, "sum"),
    "trunk2_sum": ("trunk", 2, 64, "sum"),
    "trunk2_pcgrad": ("trunk", 2, 64, "pcgrad"),
    "trunk2_mgda": ("trunk", 2, 64, "mgda"),
    "trunk8_sum": ("trunk", 8, 64, "sum"),
    "trunk8_pcgrad": ("trunk", 8, 64, "pcgrad"),
    "trunk8_mgda": ("trunk", 8, 64, "mgda"),
    "trunk8_cagrad": ("trunk", 8, 64, "cagrad"),
    "trunk20_sum": ("trunk", 20, 64, "sum"),
    "trunk20_pcgrad": ("trunk", 20, 64, "pcgrad"),
    "trunk20_mgda": ("trunk", 20, 64, "mgda"),
    "trunk20_cagrad": ("trunk", 20, 64, "cagrad"),
    "trunk20_mgda_ub": ("trunk", 20, 64, "mgda_ub"),
}
TORCHJD = {"pcgrad": "PCGrad", "mgda": "MGDA"}     # TorchJD 0.18's CAGrad needs cvxpy: not installed
QUICK = ("mmoe256_sum", "trunk2_pcgrad", "trunk20_mgda", "trunk20_mgda_ub")
# whole commands: name -> (config, steps)
COMMANDS = {"cmd_mmoe_sum": ("mmoe256_sum", 3000), "cmd_mmoe_pcgrad": ("mmoe256_pcgrad", 3000),
            "cmd_trunk20_mgda": ("trunk20_mgda", 150)}


# ---------------------------------------------------------------------------------------- data
def make_data(path, n=10000, seed=0):
    """npz with x [N, 100] and, per T in (2, 8, 20), labels y{T} [N, T] (standardized), and a
    train/test split (first 80% / last 10%). T = 2: the MMoE paper's generator (correlation 0.8);
    T = 8, 20: linear tasks plus noise."""
    import numpy as np
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, D)).astype(np.float32)
    u1, u2 = np.linalg.qr(rng.standard_normal((D, 2)))[0].T
    p, c = 0.8, 1.0
    w1, w2 = c * u1, c * (p * u1 + np.sqrt(1 - p * p) * u2)
    alpha, beta = rng.standard_normal(10), rng.standard_normal(10)
    ys = {2: np.stack([x @ w + np.sin(np.outer(x @ w, alpha) + beta).sum(1) + 0.01 * rng.standard_normal(n)
                       for w in (w1, w2)], 1)}
    for t in (8, 20):
        w = rng.standard_normal((D, t)) / np.sqrt(D)
        ys[t] = x @ w + 0.1 * rng.standard_normal((n, t))
    train = int(0.8 * n)
    out = {"x": x, "train": np.int64(train)}
    for t, y in ys.items():
        y = (y - y[:train].mean(0)) / y[:train].std(0)
        out[f"y{t}"] = y.astype(np.float32)
    np.savez(path, **out)


def write_csv(npz, t, path):
    import numpy as np
    a = np.load(npz)
    cols = np.concatenate([a["x"], a[f"y{t}"]], 1)
    header = ",".join([f"f{i}" for i in range(D)] + [f"t{i}" for i in range(t)])
    np.savetxt(path, cols, delimiter=",", header=header, comments="", fmt="%.6g")


# ------------------------------------------------------------------------------------ tf side
def tf_side(args):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, ROOT)
    import numpy as np
    import keras
    import tensorflow as tf
    from mtl_tf.data import standardize
    from mtl_tf.data.base import MultiTaskData, Split
    from mtl_tf.models import build_model
    from mtl_tf.tasks import Task
    from mtl_tf.training import Trainer

    a = np.load(args.data)
    train = int(a["train"])
    results = {}
    for name in args.configs.split(","):
        model_name, t, b, method = CONFIGS[name]
        y = a[f"y{t}"]
        tasks = [Task(f"t{i}", "regression") for i in range(t)]

        def split(sl):
            return Split({"x": a["x"][sl]}, {k.name: y[sl, i] for i, k in enumerate(tasks)},
                         {k.name: np.ones(len(a["x"][sl]), np.float32) for k in tasks})
        data = standardize(MultiTaskData(name, tasks, split(slice(0, train)), split(slice(train, None)),
                                         split(slice(train, None))))
        keras.utils.set_random_seed(0)
        if model_name == "mmoe":
            model = build_model("mmoe", (D,), tasks, num_experts=8, expert_units=[16], tower_units=[8])
        else:
            model = build_model("shared_bottom", (D,), tasks, hidden_units=[256, 256], tower_units=[32])
        trainer = Trainer(model, data, grad_method=None if method == "sum" else method, batch_size=b,
                          steps=10 ** 9, progress=False, eval_every=0, checkpoint_every=0, log_every=10 ** 9)
        it = iter(trainer.dataset())
        start = time.perf_counter()
        trainer._train_steps(it, tf.constant(5, tf.int64))
        trainer.step.numpy()
        first = time.perf_counter() - start
        rate = _timed(lambda n: (trainer._train_steps(it, tf.constant(n, tf.int64)), trainer.step.numpy()),
                      args.seconds)
        results[name] = {"steps_per_s": rate, "first_5_steps_s": first}
    print(json.dumps({"results": results, "peak_rss_mb": _peak_mb()}))


def _timed(run, seconds, chunk=10):
    """Steady-state steps/s: ``run(n)`` runs n steps and blocks; chunks until ``seconds`` pass."""
    run(chunk)   # warm (caches, thread pools)
    done, start = 0, time.perf_counter()
    while True:
        run(chunk)
        done += chunk
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return done / elapsed
        chunk = min(200, chunk * 2) if elapsed < seconds / 4 else chunk


def _peak_mb():
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --------------------------------------------------------------------------------- torch side
def torch_parts():
    import numpy as np
    import torch
    from torch import nn

    class Trunk(nn.Module):
        def __init__(self, t):
            super().__init__()
            self.shared = nn.Sequential(nn.Linear(D, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU())
            self.heads = nn.ModuleList(nn.Sequential(nn.Linear(256, 32), nn.ReLU(), nn.Linear(32, 1))
                                       for _ in range(t))

        def features(self, x):
            return self.shared(x)

        def heads_on(self, z, x):
            return [h(zi) for h, zi in zip(self.heads, z)]

    class MMoE(nn.Module):
        def __init__(self, t, experts=8, units=16, tower=8):
            super().__init__()
            self.shared = nn.ModuleList(nn.Sequential(nn.Linear(D, units), nn.ReLU()) for _ in range(experts))
            self.gates = nn.ModuleList(nn.Linear(D, experts) for _ in range(t))
            self.heads = nn.ModuleList(nn.Sequential(nn.Linear(units, tower), nn.ReLU(), nn.Linear(tower, 1))
                                       for _ in range(t))

        def features(self, x):
            return torch.stack([e(x) for e in self.shared], 1)       # [B, E, U]

        def heads_on(self, z, x):
            return [h(torch.einsum("be,beu->bu", torch.softmax(g(x), -1), zi))
                    for g, h, zi in zip(self.gates, self.heads, z)]

        def task_params(self, i):
            return list(self.gates[i].parameters()) + list(self.heads[i].parameters())

    def task_params(model, i):
        return model.task_params(i) if hasattr(model, "task_params") else list(model.heads[i].parameters())

    def min_norm(gram, iters=250, tol=1e-5):
        """Frank-Wolfe min-norm point of the hull (Sener & Koltun's MinNormSolver, as LibMTL)."""
        g = gram.astype(np.float64)
        k = len(g)
        w = np.full(k, 1.0 / k)
        for _ in range(iters):
            gw = g @ w
            j = int(np.argmin(gw))
            a, bb, c = w @ gw, gw[j], g[j, j]
            denom = a - 2 * bb + c
            gamma = 1.0 if denom <= 0 else float(np.clip((a - bb) / denom, 0, 1))
            new = (1 - gamma) * w
            new[j] += gamma
            if np.abs(new - w).sum() < tol:
                return new
            w = new
        return w

    def cagrad_weights(gram, c=0.5, iters=100, lr=0.25):
        """CAGrad's dual (official code's objective) by projected gradient on the simplex."""
        g = gram.astype(np.float64)
        k = len(g)
        g0 = g.mean(1)
        g0_norm = np.sqrt(g.mean() + 1e-8)
        phi = c * g0_norm
        w = np.full(k, 1.0 / k)
        for _ in range(iters):
            gw = g @ w
            norm = np.sqrt(w @ gw + 1e-8)
            grad = g0 + phi * gw / norm
            w = _simplex(w - lr * grad / (np.abs(grad).max() + 1e-12))
        gw = g @ w
        lmbda = phi / np.sqrt(w @ gw + 1e-8)
        return (1.0 / k + lmbda * w) / (1 + c)   # d = g0 + lambda g_w, divided by 1 + c; weights over rows

    def _simplex(v):
        u = np.sort(v)[::-1]
        css = np.cumsum(u) - 1
        rho = np.nonzero(u - css / np.arange(1, len(v) + 1) > 0)[0][-1]
        return np.maximum(v - css[rho] / (rho + 1), 0)

    def pcgrad(rows, gen):
        out = rows.clone()
        k = len(rows)
        for i in range(k):
            for j in torch.randperm(k, generator=gen).tolist():
                if j == i:
                    continue
                dot = out[i] @ rows[j]
                if dot < 0:
                    out[i] -= dot / (rows[j] @ rows[j]) * rows[j]
        return out.sum(0)

    class Loop:
        """One task-sampled step of plain PyTorch."""

        def __init__(self, cfg, arrays, impl="loop", seed=0):
            model_name, t, b, method = cfg
            torch.manual_seed(seed)
            self.t, self.b, self.method, self.impl = t, b, method, impl
            self.model = (MMoE(t) if model_name == "mmoe" else Trunk(t))
            self.shared = list(self.model.shared.parameters())
            self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-3)
            train = int(arrays["train"])
            self.x = torch.from_numpy(arrays["x"][:train])
            self.y = torch.from_numpy(arrays[f"y{t}"][:train])
            self.xt = torch.from_numpy(arrays["x"][train:])
            self.yt = torch.from_numpy(arrays[f"y{t}"][train:])
            self.gen = torch.Generator().manual_seed(seed)
            task = torch.arange(t).repeat_interleave(b)
            self.task = task
            self.mask = torch.nn.functional.one_hot(task, t).float()            # [B, T]
            if impl == "torchjd":
                import torchjd.aggregation as agg
                self.aggregator = getattr(agg, TORCHJD[method])()

        def batch(self):
            idx = torch.randint(0, len(self.x), (self.t * self.b,), generator=self.gen)
            return self.x[idx], self.y[idx, self.task]

        def losses(self, x, y, z=None, copies=None):
            z = self.model.features(x) if z is None else z
            outs = self.model.heads_on(copies if copies is not None else [z] * self.t, x)
            err = torch.stack([o[:, 0] for o in outs], 1) - y[:, None]          # every head on every row
            return (err * err * self.mask).sum(0) / self.mask.sum(0), z          # masked means [T]

        def step(self):
            x, y = self.batch()
            self.opt.zero_grad(set_to_none=True)
            m = self.method
            if m == "sum":
                losses, _ = self.losses(x, y)
                losses.sum().backward()
            elif m == "mgda_ub":
                z = self.model.features(x)
                copies = [z.detach().requires_grad_() for _ in range(self.t)]
                losses, _ = self.losses(x, y, z, copies)
                losses.sum().backward()                                         # heads + every d L_i / d Z
                rows = torch.stack([c.grad.reshape(-1) for c in copies])
                w = min_norm((rows @ rows.T).numpy())
                z.backward((torch.from_numpy(w.astype(np.float32)) @ rows).reshape(z.shape))
            elif self.impl == "torchjd":
                from torchjd.autojac import jac_to_grad, mtl_backward
                losses, z = self.losses(x, y)
                mtl_backward(list(losses), features=z, retain_graph=True)
                jac_to_grad(self.shared, self.aggregator)
            else:
                losses, _ = self.losses(x, y)
                rows = []
                for i in range(self.t):           # per-task autograd.grad (shared + task i's own)
                    own = task_params(self.model, i)
                    g = torch.autograd.grad(losses[i], self.shared + own, retain_graph=i < self.t - 1,
                                            allow_unused=True)
                    rows.append(torch.cat([gi.reshape(-1) for gi in g[:len(self.shared)]]))
                    for p, gi in zip(own, g[len(self.shared):]):
                        p.grad = gi
                rows = torch.stack(rows)
                if m == "pcgrad":
                    update = pcgrad(rows, self.gen)
                else:
                    weights = (min_norm if m == "mgda" else cagrad_weights)((rows @ rows.T).numpy())
                    update = torch.from_numpy(weights.astype(np.float32)) @ rows
                offset = 0
                for p in self.shared:
                    p.grad = update[offset:offset + p.numel()].view_as(p)
                    offset += p.numel()
            self.opt.step()
            return losses

        def test_mse(self):
            with torch.no_grad():
                outs = self.model.heads_on([self.model.features(self.xt)] * self.t, self.xt)
                return [float(((o[:, 0] - self.yt[:, i]) ** 2).mean()) for i, o in enumerate(outs)]

    return torch, Loop


def torch_side(args):
    import numpy as np
    torch, Loop = torch_parts()
    torch.set_num_threads(args.threads)
    arrays = dict(np.load(args.data))
    if args.command:
        cfg_name, steps = COMMANDS[args.command]
        loop = Loop(CONFIGS[cfg_name], arrays)
        for _ in range(steps):
            loop.step()
        print(json.dumps({"test_mse": loop.test_mse(), "peak_rss_mb": _peak_mb()}))
        return
    results = {}
    for name in args.configs.split(","):
        cfg = CONFIGS[name]
        if args.impl == "torchjd" and cfg[3] not in TORCHJD:
            continue
        loop = Loop(cfg, arrays, args.impl)
        start = time.perf_counter()
        for _ in range(5):
            loop.step()
        first = time.perf_counter() - start
        results[name] = {"steps_per_s": _timed(lambda n: [loop.step() for _ in range(n)], args.seconds),
                         "first_5_steps_s": first}
    print(json.dumps({"results": results, "peak_rss_mb": _peak_mb()}))


# ------------------------------------------------------------------------------------- driver
def run_child(cmd, env=None):
    """(stdout's last JSON line, wall seconds, peak RSS MB of the process via wait4)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            env={**os.environ, **(env or {})})
    out, err = proc.communicate()
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} ... failed ({proc.returncode}):\n{err[-3000:]}")
    lines = [line for line in out.splitlines() if line.startswith("{")]
    return (json.loads(lines[-1]) if lines else {}), wall


def peak_of(cmd, env=None):
    """(wall s, peak RSS MB, stdout) of a whole command, peak from wait4's rusage."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=ROOT,
                            env={**os.environ, **(env or {})})
    out = proc.stdout.read().decode(errors="replace")
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])} ... failed:\n{out[-3000:]}")
    return wall, usage.ru_maxrss / 1024, out


def driver(args):
    tmp = tempfile.mkdtemp(prefix="vs_pytorch_")
    data = os.path.join(tmp, "data.npz")
    make_data(data)
    names = [n for n in CONFIGS if not args.only or any(n.startswith(o) for o in args.only.split(","))]
    me = os.path.abspath(__file__)
    sides = {"mtl_tf": [args.tf_python, me, "--side=tf"],
             "torch_2thr": [args.torch_python, me, "--side=torch", "--threads=2"],
             "torch_1thr": [args.torch_python, me, "--side=torch", "--threads=1"],
             "torchjd": [args.torch_python, me, "--side=torch", "--threads=2", "--impl=torchjd"]}
    rates = {s: {n: [] for n in names} for s in sides}
    firsts = {s: {n: [] for n in names} for s in sides}
    peaks, loads = {s: [] for s in sides}, []
    for r in range(args.rounds):
        order = list(sides) if r % 2 == 0 else list(sides)[::-1]
        for s in order:
            loads.append(os.getloadavg()[0])
            out, _ = run_child(sides[s] + [f"--data={data}", f"--configs={','.join(names)}",
                                           f"--seconds={args.seconds}"])
            for n, v in out["results"].items():
                rates[s][n].append(v["steps_per_s"])
                firsts[s][n].append(v["first_5_steps_s"])
            peaks[s].append(out["peak_rss_mb"])
            print(f"round {r + 1} {s} done (load {loads[-1]:.2f})", file=sys.stderr, flush=True)
    med = {s: {n: statistics.median(v) for n, v in rates[s].items() if v} for s in sides}
    rows = {}
    print(f"\n{'work':<18}{'mtl_tf':>9}{'torch 2t':>10}{'torch 1t':>10}{'TorchJD':>9}{'÷ faster loop':>15}"
          f"{'first 5 steps s (tf / torch)':>30}")
    for n in names:
        tf_ = med["mtl_tf"].get(n)
        loop = max(med["torch_2thr"][n], med["torch_1thr"][n])
        per_round = [a / max(b, c) for a, b, c in zip(rates["mtl_tf"][n], rates["torch_2thr"][n], rates["torch_1thr"][n])]
        ratio = statistics.median(per_round)
        jd = med["torchjd"].get(n)
        f_tf, f_t = statistics.median(firsts["mtl_tf"][n]), statistics.median(firsts["torch_2thr"][n])
        rows[n] = {"mtl_tf": round(tf_, 2), "torch_2thr": round(med["torch_2thr"][n], 2),
                   "torch_1thr": round(med["torch_1thr"][n], 2), "torchjd": jd and round(jd, 2),
                   "ratio_vs_faster_loop": round(ratio, 3), "ratio_of_medians": round(tf_ / loop, 3),
                   "first_5_steps_s": [round(f_tf, 2), round(f_t, 2)]}
        print(f"{n:<18}{tf_:>9.1f}{med['torch_2thr'][n]:>10.1f}{med['torch_1thr'][n]:>10.1f}"
              f"{(f'{jd:.1f}' if jd else '–'):>9}{ratio:>14.2f}x{f'{f_tf:.2f} / {f_t:.2f}':>30}")
    report = {"benchmark": "vs_pytorch", "rounds": args.rounds, "seconds": args.seconds, "rows": rows,
              "peak_rss_mb_steady_children": {s: max(v) for s, v in peaks.items() if v},
              "load_1min": [round(v, 2) for v in loads]}
    if args.commands:
        report["commands"] = commands(args, tmp, data)
    report["load_1min_end"] = round(os.getloadavg()[0], 2)
    report["date_utc"] = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(report, f, indent=1)
    print(json.dumps(report))


def commands(args, tmp, data):
    """Whole commands: mtl-train on the CSV vs the PyTorch script, alternated, medians."""
    csvs = {}
    out = {}
    me = os.path.abspath(__file__)
    mtl_train = os.path.join(os.path.dirname(args.tf_python), "mtl-train")
    for cmd_name, (cfg_name, steps) in COMMANDS.items():
        if args.command_names and cmd_name not in args.command_names.split(","):
            continue
        model_name, t, b, method = CONFIGS[cfg_name]
        if t not in csvs:
            csvs[t] = os.path.join(tmp, f"data{t}.csv")
            write_csv(data, t, csvs[t])
        model = (["--model=mmoe", "--num_experts=8", "--expert_units=16", "--tower_units=8"] if model_name == "mmoe"
                 else ["--model=shared_bottom", "--hidden_units=256,256", "--tower_units=32"])
        figures = {"mtl_tf": [], "torch": []}
        for r in range(args.command_rounds):
            for side in (("mtl_tf", "torch") if r % 2 == 0 else ("torch", "mtl_tf")):
                load = os.getloadavg()[0]
                if side == "mtl_tf":
                    run_dir = os.path.join(tmp, f"{cmd_name}_{r}")
                    cmd = [mtl_train, "--dataset=csv", f"--data_path={csvs[t]}",
                           "--tasks=" + ",".join(f"t{i}:regression" for i in range(t)),
                           "--features=" + ",".join(f"f{i}" for i in range(D)), *model,
                           f"--grad_method={'none' if method == 'sum' else method}", f"--batch_size={b}",
                           f"--steps={steps}", f"--run_dir={run_dir}", "--quiet"]
                    wall, peak, _ = peak_of(cmd)
                    with open(os.path.join(run_dir, "metrics.json")) as f:
                        steady = json.load(f).get("steps_per_second")
                else:
                    wall, peak, _ = peak_of([args.torch_python, me, "--side=torch", f"--threads={args.command_threads}",
                                             f"--data={data}", f"--command={cmd_name}"])
                    steady = None
                figures[side].append({"wall_s": wall, "steps_per_s": steps / wall, "peak_mb": peak,
                                      "steady_steps_per_s": steady, "load": load})
                print(f"{cmd_name} {side}: {wall:.1f} s, {peak:.0f} MB (load {load:.2f})", file=sys.stderr,
                      flush=True)
        m = {s: {k: statistics.median([f[k] for f in v]) if v and v[0][k] is not None else None
                 for k in ("wall_s", "steps_per_s", "peak_mb", "steady_steps_per_s", "load")}
             for s, v in figures.items()}
        m["ratio_steps_per_s"] = round(m["mtl_tf"]["steps_per_s"] / m["torch"]["steps_per_s"], 3)
        m["peak_ratio"] = round(m["mtl_tf"]["peak_mb"] / m["torch"]["peak_mb"], 3)
        if m["mtl_tf"]["steady_steps_per_s"]:
            m["whole_over_steady"] = round(m["mtl_tf"]["steps_per_s"] / m["mtl_tf"]["steady_steps_per_s"], 3)
        out[cmd_name] = m
        print(f"{cmd_name}: mtl_tf {m['mtl_tf']['steps_per_s']:.1f} steps/s whole ({m['mtl_tf']['peak_mb']:.0f} MB), "
              f"torch {m['torch']['steps_per_s']:.1f} ({m['torch']['peak_mb']:.0f} MB): "
              f"{m['ratio_steps_per_s']:.2f}x; mtl_tf whole / steady {m.get('whole_over_steady')}", flush=True)
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--side", choices=["driver", "tf", "torch"], default="driver")
    p.add_argument("--data")
    p.add_argument("--configs", default=",".join(CONFIGS))
    p.add_argument("--only", default="", help="comma-separated prefixes of configuration names (e.g. trunk20,mmoe)")
    p.add_argument("--seconds", type=float, default=2.0, help="timed seconds per configuration and side")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--impl", choices=["loop", "torchjd"], default="loop")
    p.add_argument("--command", choices=list(COMMANDS))
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--command_rounds", type=int, default=3)
    p.add_argument("--commands", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--tf_python", default="/tmp/venv/bin/python")
    p.add_argument("--torch_python", default="/tmp/torchvenv/bin/python")
    p.add_argument("--command_threads", type=int, default=1,
                   help="PyTorch threads for the whole-command runs (2 stalled on the busy 2-core machine)")
    p.add_argument("--json_out", default="", help="also write the report JSON here")
    p.add_argument("--command_names", default="", help="comma-separated subset of " + ",".join(COMMANDS))
    p.add_argument("--quick", action="store_true",
                   help="a few minutes: 2 rounds of 1 s on " + ",".join(QUICK) + "; one round of cmd_mmoe_sum")
    args = p.parse_args()
    if args.quick:
        args.rounds, args.seconds, args.command_rounds = 2, 1.0, 1
        args.only = args.only or ",".join(QUICK)
        args.command_names = args.command_names or "cmd_mmoe_sum"
    {"driver": driver, "tf": tf_side, "torch": torch_side}[args.side](args)


if __name__ == "__main__":
    main()
