"""Command line: parse arguments and dispatch to one module per command."""
from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence

from finetune_action import __version__, redact
from finetune_action.errors import EXIT_PROBLEMS, EXIT_USAGE, FinetuneError

EXIT_CODES = """exit codes:
  0  passed
  1  the check found problems (or a job failed)
  2  usage, config or environment error"""


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on usage errors already; make it add a hint to read --help."""

    def error(self, message: str):  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\nRun `{self.prog} --help` for usage.\n")


def _add_format(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format",
        choices=("text", "json", "markdown"),
        default="text",
        help="how results are written to stdout (default: text); logs go to stderr",
    )


def _add_today(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--today", metavar="YYYY-MM-DD", help="judge training windows and serving ends on this day (default: FINETUNE_TODAY, else today)")


def _add_verbosity(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("-q", "--quiet", dest="verbosity", action="store_const", const=-1, default=0, help="terse: one line per config, no progress on stderr")
    group.add_argument("-v", "--verbose", dest="verbosity", action="store_const", const=1, help="detailed: every problem kept (not the first few per code), every event")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="finetune",
        description="Fine-tuning as code: validate, cost, diff, train and record fine-tuned models.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"finetune {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    check = commands.add_parser(
        "check",
        help="validate configs and their data, count tokens, estimate cost (no network)",
        description="Validate finetune.yaml files and their data, count tokens offline and estimate the cost. Nothing is sent anywhere.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("configs", nargs="*", metavar="CONFIG", help="finetune.yaml paths or globs (default: finetune.yaml)")
    check.add_argument("--data", action="append", metavar="FILE.jsonl", help="check a training file without a config (repeatable); needs --model")
    check.add_argument("--validation", action="append", default=[], metavar="FILE.jsonl", help="with --data: a validation file (repeatable)")
    check.add_argument("--model", help="with --data: the model to fine-tune, e.g. gpt-4.1-mini-2025-04-14")
    check.add_argument("--method", choices=("supervised", "dpo", "reinforcement"), default="supervised", help="with --data: the method (default: supervised)")
    check.add_argument("--provider", default="openai", help="with --data: the provider whose catalogue prices and limits the model (default: openai)")
    _add_today(check)
    _add_format(check)
    _add_verbosity(check)

    catalogue = commands.add_parser(
        "models",
        help="list the catalogue: fine-tunable models per provider, prices, limits, lifecycle dates",
        description="List the fine-tunable models of each provider's catalogue with tokenizer, limits, methods, "
        "training prices and the dates training closes and serving ends. Offline.",
    )
    catalogue.add_argument("--provider", help="only this provider (openai, azure, together, fireworks)")
    catalogue.add_argument("--format", choices=("text", "json"), default="text", help="text (default) or json")
    _add_today(catalogue)

    commands.add_parser(
        "schema",
        help="print the JSON Schema of finetune.yaml",
        description="Print the JSON Schema of finetune.yaml (for editors: yaml-language-server, SchemaStore).",
    )

    commands.add_parser(
        "action",
        help="run as the GitHub Action (reads GITHUB_* and INPUT_* variables)",
        description="Run as the GitHub Action: the mode comes from the event or the `mode` input "
        "(pull_request -> check, push to the default branch -> train, workflow_run -> comment).",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )

    for name, summary in (
        ("train", "check, then upload, launch and wait for the fine-tuning job of each config; record the model"),
        ("resume", "re-attach to the job of each config (never starts one), wait, and record the model"),
    ):
        command = commands.add_parser(name, help=summary, description=summary[0].upper() + summary[1:] + ". Needs the provider's API key.", epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
        command.add_argument("configs", nargs="*", metavar="CONFIG", help="finetune.yaml paths or globs (default: finetune.yaml)")
        command.add_argument("--wait-timeout", metavar="DURATION", help="how long to wait for the job (e.g. 5h, 90m; 0 to not wait), overriding wait.timeout")
        _add_verbosity(command)
        if name == "train":
            command.add_argument("--retry-failed", action="store_true", help="start a new job when the last one for this data and config failed or was cancelled")
            command.add_argument("--allow-over-budget", action="store_true", help="start a job even when its estimate is over budget.max_usd or has no USD figure")
    for name, summary in (("status", "show the job of each config (found by fingerprint) or of --job"), ("cancel", "cancel the running job of each config (found by fingerprint) or --job")):
        command = commands.add_parser(name, help=summary, description=summary[0].upper() + summary[1:] + ". Needs the provider's API key.")
        command.add_argument("configs", nargs="*", metavar="CONFIG", help="finetune.yaml paths or globs (default: finetune.yaml); with --job, the provider settings")
        command.add_argument("--job", metavar="ID", help="a job id instead of the fingerprint's job")
        _add_verbosity(command)

    hashing = commands.add_parser(
        "scan-hash",
        help="print the finetune.yaml scan.allow entry for a known-safe value (its sha256)",
        description="Print `- sha256: <hash>` for each value, to paste under scan.allow in finetune.yaml: the scan then lets that exact value "
        "through, and the repository holds only its hash. Without VALUE, reads one value per line from standard input "
        "(which keeps it out of your shell history).",
    )
    hashing.add_argument("values", nargs="*", metavar="VALUE", help="the exact value as it appears in the data")

    evaluate = commands.add_parser(
        "eval",
        help="evaluate each config's models on its held-out data (eval: in finetune.yaml) and record the verdict",
        description="Ask the baseline and the candidate (default: the recorded base model and fine-tune) every held-out prompt, "
        "grade the answers, compare them item by item, apply eval.gate and record the result in model.json. "
        "Answers are cached (eval.cache), so a re-run pays only for what is missing. Needs each provider's API key.",
        epilog=EXIT_CODES + "\n  1  also: the eval gate did not pass (the record is written first)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    evaluate.add_argument("configs", nargs="*", metavar="CONFIG", help="finetune.yaml paths or globs (default: finetune.yaml)")
    evaluate.add_argument("--models", nargs="+", metavar="MODEL", help="the models to compare, baseline first: labels from eval.models, base, fine_tuned, or model ids")
    evaluate.add_argument("--previous", metavar="MODEL.JSON", help="the previous release's model.json, for eval.gate.no_regressions")

    post = commands.add_parser(
        "comment",
        help="post a report file as the sticky PR comment(s)",
        description="Post a report file written by `finetune action` (report-path) as sticky pull-request comments. "
        "The file is treated as untrusted: it is re-rendered with all data escaped. Needs GITHUB_TOKEN.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    post.add_argument("--report", required=True, metavar="FILE", help="the report JSON file")
    post.add_argument("--repo", metavar="OWNER/NAME", help="repository (default: GITHUB_REPOSITORY, else the report's)")
    post.add_argument("--pr", type=int, metavar="NUMBER", help="pull request (default: the one the report names)")
    post.add_argument("--behavior", choices=("update", "new", "hide-and-new", "delete-and-new"), default="update", help="how to post (default: update in place)")
    post.add_argument("--tag", default="", help="extra key for the sticky comment marker")
    _add_verbosity(post)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # Every line written, whatever writes it, passes through the one redaction (redact.py).
    streams = sys.stdout, sys.stderr
    wrapped = redact.Redacted(sys.stdout), redact.Redacted(sys.stderr)
    sys.stdout, sys.stderr = wrapped
    try:
        return _run(argv)
    finally:
        for stream in wrapped:
            stream.finish()  # the end of the last write, held back in case a secret went on in the next
        sys.stdout, sys.stderr = streams


def _run(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from finetune_action.dataset import results

    cache_file = os.environ.get(results.ENV)
    # Lines already checked (the base after the head, or an earlier run's FINETUNE_CACHE) are not
    # checked again. Remembering costs a hash and a record per line, so it is on only where it
    # can pay: the PR review (head, then base) and a cache file to carry results between runs.
    if args.command == "action" or (cache_file and args.command in CHECKING):
        with results.session(cache_file, log=lambda line: print(line, file=sys.stderr)):
            return _main(parser, args)
    return _main(parser, args)


#: Commands that check data.
CHECKING = ("check", "action", "train", "resume")


def _main(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    try:
        code = _dispatch(parser, args)
        sys.stdout.flush()  # a closed pipe shows here, not as a message at exit
        return code
    except BrokenPipeError:
        return _closed_stdout()
    except FinetuneError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: one clear line for the user, the details on disk
        return _unexpected(exc)


def _closed_stdout() -> int:
    """The reader went away (`finetune check | head`): stop quietly, as Unix tools do on SIGPIPE."""
    # Later writes (and the flush at exit) go nowhere instead of raising again.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 128 + signal.SIGPIPE


def _dispatch(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """Run the command `args` names; its exit code."""
    from finetune_action.lifecycle import today

    if args.command == "check":
        from finetune_action.commands.check import check, check_files

        if args.data or args.model or args.validation:
            if args.configs or not (args.data and args.model):
                parser.error("check: --data FILE.jsonl --model MODEL go together, without CONFIG arguments")
            return check_files(args.data, args.validation, args.model, args.method, output_format=args.format, provider=args.provider, today=today(args.today), verbosity=args.verbosity)
        return check(args.configs or ["finetune.yaml"], output_format=args.format, today=today(args.today), verbosity=args.verbosity)
    if args.command == "models":
        from finetune_action.commands.models import list_models

        return list_models(args.provider, args.format, today(args.today))
    if args.command == "schema":
        from finetune_action.commands.schema import schema

        return schema()
    if args.command == "action":
        from finetune_action.commands.action import action

        return action()
    if args.command in ("train", "resume"):
        from finetune_action.commands.train import train

        retry, over_budget = getattr(args, "retry_failed", False), getattr(args, "allow_over_budget", False)
        return train(args.configs or ["finetune.yaml"], mode=args.command, retry_failed=retry, wait_timeout=args.wait_timeout, env=os.environ, allow_over_budget=over_budget, verbosity=args.verbosity)
    if args.command == "eval":
        from finetune_action.commands.eval import evaluate

        return evaluate(args.configs or ["finetune.yaml"], models=args.models, previous=args.previous, env=os.environ)
    if args.command == "status":
        from finetune_action.commands.status import status

        return status(args.configs or ["finetune.yaml"], job_id=args.job, env=os.environ, verbosity=args.verbosity)
    if args.command == "cancel":
        from finetune_action.commands.cancel import cancel

        return cancel(args.configs or ["finetune.yaml"], job_id=args.job, env=os.environ, verbosity=args.verbosity)
    if args.command == "scan-hash":
        from finetune_action.commands.scan_hash import scan_hash

        return scan_hash(args.values)
    if args.command == "comment":
        from finetune_action.commands.comment import comment

        return comment(args.report, repository=args.repo, number=args.pr, behavior=args.behavior, tag=args.tag, verbosity=args.verbosity)
    parser.print_help(sys.stderr)
    return EXIT_USAGE


def _unexpected(exc: BaseException) -> int:
    import tempfile
    import traceback

    details = redact.redact("".join(traceback.format_exception(exc)))
    with tempfile.NamedTemporaryFile("w", prefix="finetune-error-", suffix=".log", delete=False) as log:
        log.write(details)
    print(
        f"error: unexpected {type(exc).__name__}. This is a bug in finetune-action, not in your data or config; "
        f"please report it with the details saved in {log.name} (secrets removed). Nothing was retried.",
        file=sys.stderr,
    )
    if os.environ.get("GITHUB_ACTIONS") == "true":
        # The container's temp dir is gone after the step: keep the details, folded, in the log.
        from finetune_action.github import actions

        with actions.group("finetune-action bug report details"), actions.stop_commands():
            print(details)
    return EXIT_PROBLEMS


if __name__ == "__main__":
    raise SystemExit(main())
