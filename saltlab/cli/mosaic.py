"""`mosaic`: rebuild the seismic sections from the tiles by matching their edges."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from saltlab.cli.common import EXIT_OK, data_args, load

HELP = "rebuild the seismic sections from the tiles by matching their edges"


def add_arguments(p: argparse.ArgumentParser) -> None:
    data_args(p)
    p.add_argument("--out", type=Path, default=None, help="write id,split,section,row,col of every placed tile as CSV")
    p.add_argument("--json", action="store_true", help="print the numbers as JSON")


def _print_links(info: dict) -> None:
    if info["salty_links"]:
        print(
            f"link precision proxy: along {info['salty_links']} of {info['train_links']} train-train links with salt "
            f"on an edge, the truth masks agree with IoU {info['linked_iou']:.2f} "
            f"(random pairs: {info['random_iou']:.2f})"
        )
    else:
        print(f"link precision proxy: none of the {info['train_links']} train-train links has salt on its edge")


def run(args: argparse.Namespace) -> int:
    from saltlab.core.mosaic import load_mosaic, section_table, summary

    ds = load(args)
    start = time.perf_counter()
    mosaic, cached = load_mosaic(ds, use_cache=not args.no_cache)
    took = time.perf_counter() - start
    info = summary(mosaic, ds)
    if args.out:
        args.out.write_text(section_table(mosaic))
    if args.json:
        print(json.dumps({**info, "from_cache": cached, "seconds": round(took, 3)}, indent=2))
        return EXIT_OK
    print(
        f"{info['placed']} of {info['tiles']} tiles placed in {info['sections']} sections by {info['links']} "
        f"edge links ({'from cache' if cached else 'matched'} in {took:.2f} s)"
    )
    largest = ", ".join(f"{s['tiles']} tiles ({s['rows']}x{s['cols']})" for s in info["largest"])
    print(f"largest sections: {largest or '-'}")
    _print_links(info)
    if args.out:
        print(f"wrote {args.out} (id, split, section, row, col of every placed tile)")
    return EXIT_OK
