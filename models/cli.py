"""``smartstore model ...`` subcommands: train, export, evaluate, enrol (``model bench`` lives in ``smartstore.bench``).

Only argument declarations live at module level; handlers import torch / ONNX Runtime lazily.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

DEFAULT_RUN_DIR = ".cache/models/run"
DEFAULT_FEWSHOT_DIR = ".cache/models/fewshot"


def _shipped_dir() -> Path:
    return Path(__file__).resolve().parent / "shipped"


def _print_json(obj: object) -> None:
    json.dump(obj, sys.stdout, indent=2)
    sys.stdout.write("\n")


def _cmd_train(args: argparse.Namespace) -> int:
    from models.training.train import TrainConfig, train

    cfg = TrainConfig(
        data_dir=args.data,
        out_dir=args.out_dir,
        seed=args.seed,
        epochs=args.epochs,
        batch_size=args.batch_size,
        image_size=args.image_size,
        eval_sizes=args.eval_sizes,
        frozen_blocks=args.frozen_blocks,
        use_iconic=not args.no_iconic,
        limit_per_class=args.limit_per_class,
        max_steps=args.max_steps,
        threads=args.threads,
        resume=args.resume,
        pretrained=not args.no_pretrained,
        exclude_classes=args.exclude_classes or [],
    )
    summary = train(cfg)
    _print_json({"best": summary["best"], "best_checkpoint": summary["best_checkpoint"]})
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from models.training.export import export

    report = export(
        args.checkpoint,
        args.data,
        args.out,
        work_dir=args.work_dir,
        eval_size=args.eval_size,
        quantize=not args.no_int8,
        threads=args.threads,
        log=lambda m: print(m, file=sys.stderr),
    )
    _print_json(report)
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from models.inference.recognizer import ProductRecognizer

    if args.fewshot:
        from models.fewshot import NOVEL_CLASS_IDS, fewshot_report

        report = fewshot_report(
            args.data,
            args.fewshot_dir,
            train_if_missing=args.train_fewshot,
            epochs=args.fewshot_epochs,
            threads=args.threads,
        )
        report["novel_class_ids"] = list(NOVEL_CLASS_IDS)
    else:
        from models.evaluate import evaluate

        rec = ProductRecognizer.load(args.model, gallery=args.gallery, threads=args.threads)
        report = evaluate(rec, args.data, args.split)
    if args.json:
        _print_json(report)
    else:
        skip = {"per_class_accuracy"}
        for key, value in report.items():
            if key not in skip:
                print(f"{key}: {value}")
    return 0


def _cmd_enrol(args: argparse.Namespace) -> int:
    from models.evaluate import read_bgr
    from models.inference.recognizer import ProductRecognizer

    rec = ProductRecognizer.load(args.model, gallery=args.gallery)
    if args.remove:
        removed = rec.remove(args.product)
        rec.save_gallery()
        _print_json(
            {
                "product": args.product,
                "removed": removed,
                "gallery": str(args.gallery),
                "products": rec.gallery.products,
            }
        )
        return 0 if removed else 1
    if args.list:
        _print_json(
            {
                "gallery": str(args.gallery),
                "products": rec.gallery.products,
                "embeddings": len(rec.gallery),
            }
        )
        return 0
    if not args.images:
        print("enrol: give IMAGES to add (or --remove / --list)", file=sys.stderr)
        return 2
    added = rec.enrol(args.product, [read_bgr(p) for p in args.images])
    rec.save_gallery()
    _print_json(
        {
            "product": args.product,
            "added": added,
            "gallery": str(args.gallery),
            "embeddings": len(rec.gallery),
        }
    )
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``smartstore model {train,export,evaluate,enrol}``."""
    model = commands.add_parser(
        "model",
        help="Product-recognition model: train, export, evaluate, bench, enrol.",
    )
    sub = model.add_subparsers(dest="model_command", metavar="SUBCOMMAND", required=True)
    _add_train(sub)
    _add_export(sub)
    _add_evaluate(sub)
    _add_enrol(sub)


_DATA_HELP = "dataset dir (default ../shared/data/grocery-store relative to cwd)"


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="Fine-tune EfficientNet-Lite0 (needs the train extra).")
    p.add_argument("--data", default=None, help=_DATA_HELP)
    p.add_argument("--out-dir", default=DEFAULT_RUN_DIR, help="checkpoint dir (git-ignored cache)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--image-size", type=int, default=224, help="training crop size")
    p.add_argument(
        "--eval-sizes",
        type=int,
        nargs="+",
        default=[224, 256],
        help="val input sizes to try",
    )
    p.add_argument(
        "--frozen-blocks",
        type=int,
        default=5,
        help="keep stem + first N MBConv blocks frozen",
    )
    p.add_argument("--no-iconic", action="store_true", help="do not add the iconic studio images")
    p.add_argument(
        "--limit-per-class",
        type=int,
        default=None,
        help="smoke runs: at most N images per class",
    )
    p.add_argument(
        "--max-steps",
        type=int,
        default=None,
        help="smoke runs: stop after N optimiser steps",
    )
    p.add_argument(
        "--exclude-classes",
        type=int,
        nargs="*",
        default=None,
        help="fine ids to leave out",
    )
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--resume", action="store_true", help="continue from <out-dir>/last.pt")
    p.add_argument("--no-pretrained", action="store_true", help="random init (tests only)")
    p.set_defaults(func=_cmd_train)


def _add_export(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="Export to ONNX (fp32 + int8), check parity, calibrate on val.")
    p.add_argument("--checkpoint", default=f"{DEFAULT_RUN_DIR}/best.pt")
    p.add_argument("--data", default=None, help=_DATA_HELP)
    p.add_argument(
        "--out",
        default=str(_shipped_dir()),
        help="output model dir (default models/shipped)",
    )
    p.add_argument("--work-dir", default=".cache/models/export")
    p.add_argument(
        "--eval-size",
        type=int,
        default=None,
        help="input size (default: chosen on val in training)",
    )
    p.add_argument("--no-int8", action="store_true")
    p.add_argument("--threads", type=int, default=2)
    p.set_defaults(func=_cmd_export)


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="Evaluate on a split (or the few-shot protocol).")
    p.add_argument("--data", default=None, help=_DATA_HELP)
    p.add_argument("--split", default="val")
    p.add_argument("--model", default=None, help="model dir or .onnx (default: shipped)")
    p.add_argument("--gallery", default=None, help="gallery .npz to merge")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument(
        "--fewshot",
        action="store_true",
        help="run the 20-novel-class enrolment protocol",
    )
    p.add_argument("--fewshot-dir", default=DEFAULT_FEWSHOT_DIR, help="few-shot run/model dir")
    p.add_argument(
        "--train-fewshot",
        action="store_true",
        help="train the 61-class model if missing (torch)",
    )
    p.add_argument("--fewshot-epochs", type=int, default=4)
    p.add_argument("--threads", type=int, default=2)
    p.set_defaults(func=_cmd_evaluate)


def _add_enrol(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("enrol", help="Add (or remove) gallery embeddings for a product id.")
    p.add_argument("--product", required=True, help="product id (label returned by classify)")
    p.add_argument("--gallery", required=True, help="gallery .npz file (created if missing)")
    p.add_argument("--model", default=None, help="model dir or .onnx (default: shipped)")
    p.add_argument("--remove", action="store_true", help="remove the product from the gallery")
    p.add_argument("--list", action="store_true", help="list enrolled products")
    p.add_argument("images", nargs="*", help="image files of the product")
    p.set_defaults(func=_cmd_enrol)
