"""`graphc convert`: the modality conversions from the command line (docs/modalities.md).

    graphc convert photo.png --to audio -o photo.wav
    graphc convert --text 2026 --to image -o 2026.png
    graphc convert scans/ --to text -o texts/              # a batch: a folder in, a folder out
    graphc convert --list
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from graphc.scripts import UsageError


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "convert", help="convert text, images, audio and video into each other",
        description="Convert INPUT (a file, a folder of files, or --text) to another "
        "modality with a pipeline of compiled graphs: the built-in default conversion of the "
        "pair, or --method, with the built-in model or --model. A folder (or several inputs) "
        "is a batch: OUTPUT is a folder, finished outputs are skipped, a failing input is "
        "reported and the batch goes on (exit status 1 if any failed).")
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="a file, or a folder or several "
                   "files for a batch")
    p.add_argument("--text", "-t", help="convert this text instead of a file")
    p.add_argument("--to", choices=["text", "image", "audio", "video"],
                   help="the modality to convert to")
    p.add_argument("-o", "--output", help="the output file (its extension names the format), "
                   "or folder for a batch; without it, text is printed")
    p.add_argument("--method", help="a registered conversion other than the pair's default "
                   "(see --list)")
    p.add_argument("--model", help="your model for a model-based stage: an .onnx file or a "
                   "graphc saved-model folder, its tokenizer and labels beside it")
    p.add_argument("--ext", help="the output extension in a batch (default .txt, .png, .wav "
                   "or .gif)")
    p.add_argument("--seed", type=int, help="the seed of conversions that sample")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="an option of the conversion (repeatable), e.g. --set seconds=5")
    p.add_argument("--list", action="store_true", help="list the registered conversions")
    p.set_defaults(func=run_convert)


def _options(pairs: list, seed) -> dict:
    options = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.isidentifier():
            raise UsageError(f"--set {pair!r}: expected NAME=VALUE")
        try:
            options[name] = ast.literal_eval(value)   # numbers, tuples, strings: no code runs
        except (ValueError, SyntaxError):
            options[name] = value
    if seed is not None:
        options["seed"] = seed
    return options


def run_convert(args) -> int:
    from graphc.modalities import convert as C
    if args.list:
        for c in C.conversions():
            print(f"{c.source:>5} -> {c.target:<5}  {c.name:<10} {c.description}")
        return 0
    if args.to is None:
        raise UsageError("--to is required: text, image, audio or video")
    if bool(args.inputs) == (args.text is not None):
        raise UsageError("give one INPUT (or a folder, or several files) or --text TEXT")
    options = _options(args.set, args.seed)
    batch = len(args.inputs) > 1 or (args.inputs and Path(args.inputs[0]).is_dir())
    try:
        if batch:
            if args.output is None:
                raise UsageError("a batch needs -o FOLDER")
            inputs = args.inputs[0] if len(args.inputs) == 1 else args.inputs
            report = C.convert_batch(inputs, args.to, args.output, extension=args.ext,
                                     method=args.method, model=args.model, **options)
            for path, message in report.failed:
                print(f"graphc convert: {path}: {message}", file=sys.stderr)
            print(f"graphc convert: {report}")
            return 1 if report.failed else 0
        if args.output is None and args.to != "text":
            raise UsageError(f"-o OUTPUT is required for {args.to}")
        source = args.text if args.text is not None else Path(args.inputs[0])
        if args.text is None and not source.exists():
            raise UsageError(f"no such file: {source}")
        result = C.convert(source, args.to, args.output, method=args.method,
                           model=args.model, source="text" if args.text is not None else None,
                           **options)
    except TypeError as e:
        if "unexpected keyword argument" in str(e):
            raise UsageError(f"{e}; see the conversion's options in docs/modalities.md") from e
        raise
    except (C.ConversionError, ValueError, FileNotFoundError, ImportError) as e:
        raise UsageError(str(e)) from e
    if args.output is None:
        print(result)
    else:
        print(f"graphc convert: wrote {args.output}")
    return 0
