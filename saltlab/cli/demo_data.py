"""`demo-data`: a synthetic data set in the Kaggle layout (random tiles, or tiles cut from sections)."""

from __future__ import annotations

import argparse

from saltlab.cli.common import EXIT_OK, error

HELP = "generate a synthetic data set in the Kaggle layout"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("out", help="folder to create (must not exist or be empty)")
    p.add_argument("--n", type=int, default=1000, help="train images (default 1000)")
    p.add_argument("--n-test", type=int, default=None, help="test images (default n/2)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--sections",
        type=int,
        default=None,
        metavar="K",
        help="instead: tiles cut out of K seismic sections of 4x5 tiles (for the Mosaic page), 30%% as test",
    )


def _sections(args: argparse.Namespace) -> int:
    from saltlab.core.demo import generate_section_dataset

    if args.sections < 1:
        return error("--sections must be at least 1")
    try:
        out = generate_section_dataset(args.out, n_sections=args.sections, seed=args.seed)
    except FileExistsError as exc:
        return error(str(exc))
    print(
        f"wrote a demo data set cut from {args.sections} sections of 4x5 tiles to {out} "
        f"(the true layout in {out / 'layout.csv'})"
    )
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    from saltlab.core.demo import generate_demo_dataset

    if args.sections is not None:
        return _sections(args)
    if args.n < 1 or (args.n_test is not None and args.n_test < 0):
        return error("--n must be at least 1 and --n-test at least 0")
    try:
        out = generate_demo_dataset(args.out, n=args.n, n_test=args.n_test, seed=args.seed)
    except FileExistsError as exc:
        return error(str(exc))
    n_test = args.n // 2 if args.n_test is None else args.n_test
    print(f"wrote a demo data set to {out}: {args.n} train, {n_test} test images (seed {args.seed})")
    return EXIT_OK
