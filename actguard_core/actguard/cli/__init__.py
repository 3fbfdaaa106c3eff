"""The ``actguard`` command line.

- ``actguard demo [--live] [--model M] [--events-file FILE]``: an offline support agent showing every guard at work.
- ``actguard prices MODEL [--input N] [--output N] [--cached N] [--cache-write N] [--cache-write-1h N]
  [--web-searches N]``: the price actguard uses (every separately billed rate) and the cost of that usage.
- ``actguard events FILE``: a summary of a JSONL event file per user, tool and outcome.
- ``actguard scripted-model [--port N]``: a scripted OpenAI-compatible model on 127.0.0.1, to try examples offline.
- ``actguard --version``.

Exit codes: 0 success, 1 a runtime failure (unknown model, unreadable file), 2 bad arguments (argparse's usage).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from collections.abc import Sequence

__all__ = ["build_parser", "main"]


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of tokens >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number of tokens >= 0, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="actguard", description="Runtime guardrails for LLM agents.")
    parser.add_argument("--version", action="version", version=f"actguard {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser("demo", help="run an offline support agent that shows each guard at work")
    demo.add_argument(
        "--live", action="store_true", help="talk to the real OpenAI API (needs OPENAI_API_KEY) instead of the script"
    )
    demo.add_argument("--model", default="gpt-4o-mini", help="model name (default: %(default)s)")
    demo.add_argument(
        "--events-file", metavar="FILE", default=None, help="also append the guards' events to this JSONL file"
    )

    prices = commands.add_parser("prices", help="show the price actguard uses for a model and a usage's cost")
    prices.add_argument("model", help="model name, e.g. gpt-4o or claude-sonnet-4-5")
    prices.add_argument("--provider", default=None, help="provider id (openai, anthropic, google...) if ambiguous")
    prices.add_argument("--input", type=_non_negative_int, default=0, metavar="N", help="input tokens, cached included")
    prices.add_argument("--output", type=_non_negative_int, default=0, metavar="N", help="output tokens")
    prices.add_argument(
        "--cached", type=_non_negative_int, default=0, metavar="N", help="cached input tokens (part of --input)"
    )
    prices.add_argument(
        "--cache-write", type=_non_negative_int, default=0, metavar="N", help="cache-write tokens (part of --input)"
    )
    prices.add_argument(
        "--cache-write-1h",
        type=_non_negative_int,
        default=0,
        metavar="N",
        help="1-hour cache-write tokens (part of --cache-write)",
    )
    prices.add_argument("--web-searches", type=_non_negative_int, default=0, metavar="N", help="web searches")
    prices.set_defaults(parser=prices)

    events = commands.add_parser("events", help="summarise a JSONL event file per user, tool and outcome")
    events.add_argument("file", help="a JSONL file written by actguard's file sink ('-' for standard input)")

    model = commands.add_parser(
        "scripted-model", help="serve a scripted OpenAI-compatible model on 127.0.0.1 (no network, no key)"
    )
    model.add_argument("--port", type=_port, default=8765, help="port on 127.0.0.1 (default: %(default)s; 0: any)")
    return parser


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number 0-65535, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number 0-65535, got {text!r}")
    return value


def _version() -> str:
    import actguard

    return actguard.__version__


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 done, 1 failed, 2 bad arguments).

    Args:
        argv: the arguments after the program name; ``None`` reads ``sys.argv``.
    """
    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except BrokenPipeError:  # e.g. `actguard demo | head`: stop quietly, like other command-line tools
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


def _run(args: argparse.Namespace) -> int:
    if args.command == "prices":
        if args.cached > args.input:
            args.parser.error(f"--cached ({args.cached}) cannot exceed --input ({args.input}): --input counts them too")
        if args.cached + args.cache_write > args.input:
            args.parser.error("--cached plus --cache-write cannot exceed --input: --input counts them too")
        if args.cache_write_1h > args.cache_write:
            args.parser.error("--cache-write-1h cannot exceed --cache-write: --cache-write counts them too")
        from actguard.cli._prices import run_prices

        return run_prices(
            args.model,
            args.provider,
            args.input,
            args.output,
            args.cached,
            cache_write=args.cache_write,
            cache_write_1h=args.cache_write_1h,
            web_searches=args.web_searches,
        )
    if args.command == "events":
        from actguard.cli._events import run_events

        return run_events(args.file)
    if args.command == "scripted-model":
        return _run_scripted_model(args.port)
    from actguard.cli._demo import run_demo

    return run_demo(live=args.live, model=args.model, events_file=args.events_file)


def _run_scripted_model(port: int) -> int:
    from actguard.cli._scripted_model import serve

    try:
        with serve(port=port) as base_url:
            print(f"actguard's scripted model is serving the OpenAI API on {base_url} (Ctrl-C stops it).", flush=True)
            print("Point the OpenAI SDK (and the frameworks built on it) at it, in another shell:", flush=True)
            print(f"  export OPENAI_BASE_URL={base_url} OPENAI_API_KEY=scripted", flush=True)
            threading.Event().wait()
    except OSError as exc:
        print(f"actguard scripted-model: cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0
