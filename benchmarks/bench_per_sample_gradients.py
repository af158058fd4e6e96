"""Per-sample gradients of a skorch MLP: outer products vs ``torch.func.vmap``.

The target: per-sample gradients of 20,000 rows within 3x
of one batched forward+backward over the same rows. This script measures,
side by side in one run (median over ``--repeat`` runs each):

* reference: one forward of the module on all rows, skorch's mean loss, and
  ``torch.autograd.grad`` of it with respect to the parameters;
* ``SkorchAdapter.per_sample_gradients(method="outer")`` (hooks on the
  ``nn.Linear`` layers, per-row outer products), every chunk computed;
* ``SkorchAdapter.per_sample_gradients(method="vmap")``;
* a floor for any method that returns the gradients: allocating and filling
  the ``(n, n_params)`` output, chunk by chunk, with no arithmetic.

The module is the benchmarks' MLP, ``d -> 64 -> 32 -> 2`` with ReLU, in a
``NeuralNetClassifier`` (cross-entropy; the benchmarks' net,
``_common.make_net``), initialised with random weights. Nothing here asserts
a timing.

Usage::

    python benchmarks/bench_per_sample_gradients.py --n 20000 --d 20 --repeat 5
    python benchmarks/bench_per_sample_gradients.py --quick   # n=2000, 2 repeats
"""

from __future__ import annotations

import torch
from _common import (
    limit_threads,
    machine_header,
    make_net,
    markdown_table,
    median_timing,
    script_parser,
)

from sklearn_unlearn.adapters._torch import SkorchAdapter


def main(argv=None) -> None:
    parser = script_parser(__doc__, "n=2000, 2 repeats")
    parser.add_argument("--n", type=int, default=None, help="rows (default 20000)")
    parser.add_argument("--d", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=None, help="default 5")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--chunk-size", type=int, default=4096)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.n is None:
        args.n = 2000 if args.quick else 20000
    if args.repeat is None:
        args.repeat = 2 if args.quick else 5
    with limit_threads(args.threads):
        run(args)


def run(args) -> None:
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    net = make_net(args.d, epochs=0, device=args.device).initialize()
    with torch.no_grad():
        for p in net.module_.parameters():
            p.normal_(0.0, 0.3)
    X = torch.randn(args.n, args.d, device=device)
    y = torch.randint(0, 2, (args.n,), device=device)
    adapter = SkorchAdapter(net, chunk_size=args.chunk_size)
    theta = adapter.get_theta(net)
    params = [p for p in net.module_.parameters() if p.requires_grad]

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    def reference():
        net.module_.eval()
        loss = net.get_loss(net.module_(X), y)
        torch.autograd.grad(loss, params)
        sync()

    def per_sample(method):
        def run():
            for G in adapter.per_sample_gradients(theta, X, y, method=method):
                G.sum()  # touch the chunk
            sync()

        return run

    def write_floor():
        # only allocating and writing the (n, n_params) output, chunk by chunk
        for start in range(0, args.n, args.chunk_size):
            m = min(args.chunk_size, args.n - start)
            G = torch.empty((m, adapter.n_params), dtype=theta.dtype, device=device)
            G.fill_(1.0)
        sync()

    # correctness on a slice, not timed
    Xs, ys = X[:512], y[:512]
    Go = adapter.per_sample_gradients_dense(theta, Xs, ys)
    Gv = torch.cat(list(adapter.per_sample_gradients(theta, Xs, ys, method="vmap")))
    max_diff = float((Go - Gv).abs().max())

    def median_time(fn):
        return median_timing(fn, args.repeat, warmup=True, sync=sync)

    rows = [
        ("batched forward+backward (mean loss)", median_time(reference)),
        ("per-sample, outer products", median_time(per_sample("outer"))),
        ("per-sample, vmap", median_time(per_sample("vmap"))),
        ("floor: allocate + write the n x n_params output", median_time(write_floor)),
    ]
    ref = rows[0][1]
    print(machine_header(args.threads) + "\n")
    print(
        f"n={args.n}, d={args.d}, MLP {args.d}-64-32-2 ReLU, "
        f"n_params={adapter.n_params}, chunk_size={args.chunk_size}, "
        f"threads={torch.get_num_threads()}, device={args.device}, "
        f"float32, median of {args.repeat}; "
        f"max |outer - vmap| on 512 rows = {max_diff:.1e}\n"
    )
    table = [
        [name, f"{t.wall * 1e3:.1f}", f"{t.cpu * 1e3:.1f}", f"{t.wall / ref.wall:.1f}x"]
        for name, t in rows
    ]
    header = ["computation", "wall (ms)", "CPU (ms)", "wall ratio to reference"]
    print(markdown_table(header, table, numeric=True))


if __name__ == "__main__":
    main()
