"""Command line: ``python -m sklearn_unlearn demo``."""

from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    """Run the command line; return the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m sklearn_unlearn",
        description="sklearn-unlearn: machine unlearning for scikit-learn.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser(
        "demo",
        help="forget 5%% of German credit's training rows with every method",
        description="Fit a logistic regression on the bundled German credit data, "
        "forget a fraction of its training rows with every method, and compare "
        "each with retraining from scratch.",
    )
    demo.add_argument("--random-state", type=int, default=0, help="seed (default 0)")
    demo.add_argument(
        "--forget-fraction",
        type=float,
        default=0.05,
        help="fraction of the training rows to forget (default 0.05)",
    )
    args = parser.parse_args(argv)
    if args.command != "demo":
        parser.print_help()
        return 2
    from ._demo import format_table, run_demo

    try:
        table = run_demo(
            random_state=args.random_state, forget_fraction=args.forget_fraction
        )
    except ValueError as exc:
        parser.error(str(exc))
    a = table.attrs
    encoding = {
        "pipeline": "sklearn_unlearn.pipeline: StandardScaler on numeric columns, "
        "OneHotEncoder on categorical ones (both forget rows with the model)",
        "fixed": "fixed encoding: log1p of numeric columns, one-hot over the "
        "documented category codes (sklearn_unlearn.pipeline not available)",
    }[a["encoding"]]
    print(
        "German credit: logistic regression, forget "
        f"{a['n_forget']} of {a['n_train']} training rows "
        f"(test set: {a['n_test']} rows)"
    )
    print(f"Preprocessing: {encoding}")
    print("Each method starts from its own fit; distances are to 'retrain'.\n")
    print(format_table(table))
    for note in a["notes"]:
        print(f"\nNote: {note}")
    print(
        "\nOn 750 rows a retrain is itself quick, and most of an update's time is "
        "scikit-learn's own transform of the rows through the pipeline; the "
        "speed-ups at scale are measured by benchmarks/bench_linear.py."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
