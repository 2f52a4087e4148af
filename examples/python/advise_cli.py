"""What the two advise examples share: their command line and what they do with the advice
(print it, keep the evidence, append its rows to a CSV table)."""

import argparse
import csv
import os


def parser(doc, probe_seconds):
    """The examples' arguments; `probe_seconds` is each example's default probe budget."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--probe-steps", type=int, default=300)
    ap.add_argument("--probe-seconds", type=float, default=probe_seconds)
    ap.add_argument("--validate", choices=["none", "top", "all"], default="top")
    ap.add_argument("--graphs", type=int, default=0, help="the first N training molecules only (0: all)")
    ap.add_argument("--config", default="configs/examples/qm9-dynamic.toml")
    ap.add_argument("--csv", help="append the advice's rows here")
    ap.add_argument("--candidates", help="batchers, comma-separated (default: advise's four)")
    ap.add_argument("--evidence", help="save every probe and validation step here (.npz)")
    return ap


def advise_options(args):
    """geobatch.advise's keyword arguments that come from the command line."""
    return {
        "steps": args.steps, "batch_size": args.batch_size, "probe_steps": args.probe_steps,
        "probe_seconds": args.probe_seconds,
        "validate": {"none": False, "top": True, "all": "all"}[args.validate],
        **({"candidates": args.candidates.split(",")} if args.candidates else {}),
    }


def keep(advice, args, engine):
    """The evidence saved (`--evidence`) and the rows appended (`--csv`), named by `engine`."""
    if args.evidence:
        advice.save(args.evidence)
    if args.csv:
        rows = advice.rows()
        new = not os.path.exists(args.csv)
        with open(args.csv, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=["engine", "steps", *rows[0]])
            if new:
                w.writeheader()
            for r in rows:
                w.writerow({"engine": engine, "steps": args.steps, **r})
