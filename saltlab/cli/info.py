"""`info`: the summary and health report of a data set."""

from __future__ import annotations

import argparse
import json

from saltlab.cli.common import EXIT_BAD_ITEMS, EXIT_OK, data_args, load

HELP = "summary and health report of a data set"


def add_arguments(p: argparse.ArgumentParser) -> None:
    data_args(p)
    p.add_argument("--json", action="store_true", help="print the summary and every issue as JSON")
    p.add_argument("--max-issues", type=int, default=50, help="issues to list (default 50)")


def _print_summary(info: dict, ds) -> None:
    print(f"data set      {info['root']}")
    print(f"images        {info['n_train']} train, {info['n_test']} test")
    if info["n_train"]:
        print(f"empty masks   {info['empty_masks']} ({100 * info['empty_fraction']:.1f}%)")
        print(f"vertical      {info['vertical_masks']}")
        print(f"full masks    {info['full_masks']}")
    print(f"constant img  {info['constant_images_train']} train, {info['constant_images_test']} test")
    if info["n_train"]:
        counts = info["coverage_class_counts"]
        print("coverage cls  " + "  ".join(f"{c}:{n}" for c, n in enumerate(counts)))
    if info["depth_min"] is not None:
        print(
            f"depth         {info['depth_min']:.0f}..{info['depth_max']:.0f}"
            + (f" ({info['depth_unknown']} unknown)" if info["depth_unknown"] else "")
        )
    print(f"health        {ds.health.describe()}" + (" (from cache)" if ds.from_cache else ""))


def _print_health(ds, limit: int) -> None:
    issues = ds.health.issues
    for issue in issues[:limit]:
        where = f"{issue.split}/{issue.id}" if issue.id else (issue.split or "-")
        print(f"  {issue.severity:<7} {where:<20} {issue.file}: {issue.reason}")
    if len(issues) > limit:
        print(f"  ... {len(issues) - limit} more (use --max-issues)")


def run(args: argparse.Namespace) -> int:
    from saltlab.core.table import summary

    ds = load(args)
    info = summary(ds)
    if args.json:
        info["issues"] = ds.health.to_records()
        info["from_cache"] = ds.from_cache
        print(json.dumps(info, indent=2))
    else:
        _print_summary(info, ds)
        _print_health(ds, args.max_issues)
    return EXIT_BAD_ITEMS if ds.health.errors else EXIT_OK
