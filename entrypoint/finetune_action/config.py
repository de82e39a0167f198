"""The one reader of finetune.yaml: load, validate and normalise a fine-tune description.

Every problem is collected (not just the first) and raised as one ConfigError whose lines
name the file, the key path, what is wrong and how to fix it. Nothing downstream
re-validates the config.
"""
from __future__ import annotations

import datetime
import difflib
import glob
import math
import re
import reprlib
import subprocess
import warnings
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from finetune_action import models
from finetune_action.dataset import scan as data_scan
from finetune_action.errors import ConfigError, ConfigProblem
from finetune_action.registry import PROVIDERS

CONFIG_VERSION = 1
METHODS = ("supervised", "dpo", "reinforcement")
#: The preview surface Azure's training tiers need; the GA v1 surface needs no version.
AZURE_PREVIEW_API_VERSION = "2025-04-01-preview"
TEMPLATE_FIELDS = ("name", "sha7", "date")
MAX_USER_METADATA = 12  # 16 pairs allowed by the API, 4 are ours (fingerprint, repository, commit, config)


class ProviderSettings(NamedTuple):
    kind: str  # "openai" | "azure" | "together" | "fireworks"
    base_url: str | None  # openai: an OpenAI-compatible gateway; together, fireworks: another API host
    endpoint: str | None  # azure: https://<resource>.openai.azure.com
    api_version: str | None  # azure: only for preview features (None: the GA v1 surface)
    api_key_env: str  # the environment variable holding the key
    training_type: str | None = None  # azure: standard | global | developer (priced by the catalogue's tiers)


class CompareSpec(NamedTuple):
    """One alternative under `compare:`: the same data priced at another provider and model."""

    provider: str
    model: str
    method: str | None  # None: the config's method
    lora: bool | None  # None: the provider's default (LoRA where it distinguishes)
    training_type: str | None  # azure tier


class DataFile(NamedTuple):
    path: Path  # absolute
    display_path: str  # relative to the repository root, posix


class Split(NamedTuple):
    fraction: float
    seed: int


class Budget(NamedTuple):
    max_usd: float | None
    max_increase_usd: float | None
    max_increase_pct: float | None
    unpriced: str = "fail"  # fail | warn: when a limit is set but the cost has no USD figure


class Wait(NamedTuple):
    timeout_seconds: float
    poll_interval_seconds: float
    cancel_on_abort: bool


class EvalModel(NamedTuple):
    """A model to evaluate: `base`, `fine_tuned`, `checkpoints` (each kept one), or a model id."""

    model: str
    provider: ProviderSettings | None  # None: the config's provider
    label: str  # as the tables name it


class GraderSpec(NamedTuple):
    name: str  # unique within eval.graders; the type unless `name` is given
    type: str  # a key of evaluation.graders.GRADERS
    options: dict[str, Any]


class Gate(NamedTuple):
    grader: str | None  # the grader min_improvement is judged on (default: the first)
    min_improvement: float | None  # on the lower confidence bound of candidate - baseline
    no_regressions: bool  # no example that passed with the previous release may fail now


class Eval(NamedTuple):
    data: tuple[DataFile, ...]
    split: Split | None  # taken from the training data and never uploaded
    graders: tuple[GraderSpec, ...]
    models: tuple[EvalModel, ...]  # the first is the baseline; the second the candidate the gate judges
    judge: EvalModel | None
    gate: Gate
    min_examples: int
    confidence: float
    max_error_rate: float
    concurrency: int
    max_tokens: int
    seed: int  # sent to providers that take one, and the bootstrap's
    cache: Path  # response cache directory (absolute)


class Config(NamedTuple):
    path: Path  # absolute path of the finetune.yaml
    display_path: str  # relative to the repository root, posix
    root: Path  # repository root: data may not escape it
    name: str
    provider: ProviderSettings
    model: str
    method: str
    grader: dict[str, Any] | None
    train: tuple[DataFile, ...]
    validation: tuple[DataFile, ...]
    split: Split | None
    hyperparameters: dict[str, Any]  # only keys the user set; values may be "auto"
    suffix: str  # template: {name} {sha7} {date}
    seed: int | None
    metadata: dict[str, str]
    integrations: dict[str, Any]
    budget: Budget
    wait: Wait
    release_tag: str  # template: {name} {sha7} {date}
    pricing: dict[str, float]
    retry_failed: bool
    eval: Eval | None
    normalised: dict[str, Any]  # the validated mapping with defaults, for fingerprints and diffs
    compare: tuple[CompareSpec, ...] = ()  # report only: never part of the fingerprint
    scan: data_scan.ScanRules = data_scan.ScanRules()  # levels and allowlist of the secrets and personal-data scan

    @property
    def model_info(self) -> models.ModelInfo:
        return models.resolve(self.model, self.pricing, self.provider.kind, method=self.method, tier=self.provider.training_type)


# --- the schema of finetune.yaml, as the loader sees it --------------------------------------

TOP_LEVEL = {
    "version": "required, 1",
    "name": "required",
    "provider": "openai | azure | together | fireworks, or a mapping with type",
    "model": "required",
    "method": "supervised | dpo | reinforcement",
    "grader": "reinforcement only",
    "data": "required",
    "hyperparameters": "",
    "suffix": "",
    "seed": "",
    "metadata": "",
    "integrations": "",
    "budget": "",
    "wait": "",
    "release": "",
    "pricing": "",
    "retry_failed": "",
    "compare": "",
    "scan": "",
    "eval": "",
}
PROVIDER_KEYS = ("type", "base_url", "endpoint", "api_version", "api_key_env", "training_type")
TRAINING_TYPES = ("standard", "global", "developer")  # Azure's training tiers
COMPARE_KEYS = ("provider", "model", "method", "lora", "training_type")
MAX_COMPARE = 8
DATA_KEYS = ("train", "validation", "split")
SPLIT_KEYS = ("fraction", "seed")
BUDGET_KEYS = ("max_usd", "max_increase_usd", "max_increase_pct")
UNPRICED_CHOICES = ("fail", "warn")
WAIT_KEYS = ("timeout", "poll_interval", "cancel_on_abort")
RELEASE_KEYS = ("tag",)
SCAN_KEYS = (*data_scan.KINDS, "allow")
WANDB_KEYS = ("project", "entity", "name", "tags")
INTEGRATION_KEYS = ("wandb",)

# Hyperparameters per method: (kind, low, high, low_inclusive) ; kind int | number | choice.
_COMMON = {
    "n_epochs": ("int", 1, 50, True),
    "batch_size": ("int", 1, 256, True),
    "learning_rate_multiplier": ("number", 0, None, False),
}
HYPERPARAMETERS: dict[str, dict[str, tuple]] = {
    "supervised": dict(_COMMON),
    "dpo": {**_COMMON, "beta": ("number", 0, 2, False)},
    "reinforcement": {
        **_COMMON,
        "compute_multiplier": ("number", 0, 10, False),
        "eval_interval": ("int", 1, None, True),
        "eval_samples": ("int", 1, None, True),
        "reasoning_effort": ("choice", ("default", "low", "medium", "high"), None, True),
    },
}

#: Hyperparameters some providers take on top of the method's, in finetune.yaml's words
#: (each provider module maps them to its API's names).
_LORA = {"lora_r": ("int", 1, None, True)}
PROVIDER_HYPERPARAMETERS: dict[str, dict[str, tuple]] = {
    "together": {
        "learning_rate": ("number", 0, None, False),
        "lora": ("bool", None, None, True),
        **_LORA,
        "lora_alpha": ("int", 1, None, True),
        "lora_dropout": ("number", 0, 1, True),
        "n_evals": ("int", 0, None, True),
        "n_checkpoints": ("int", 1, None, True),
        "warmup_ratio": ("number", 0, 1, True),
        "weight_decay": ("number", 0, None, True),
        "max_seq_length": ("int", 1, None, True),
    },
    "fireworks": {"learning_rate": ("number", 0, None, False), **_LORA, "max_context_length": ("int", 1, None, True)},
}
#: OpenAI's words the open-model providers do not take, and what they take instead.
_ABSOLUTE_RATE = "learning_rate (absolute, e.g. 0.00001)"
OPENAI_ONLY: dict[str, dict[str, str]] = {
    "together": {"learning_rate_multiplier": _ABSOLUTE_RATE},
    "fireworks": {"learning_rate_multiplier": _ABSOLUTE_RATE, "batch_size": "no batch size in examples (its batch size counts tokens); leave it to Fireworks"},
}
#: Methods each provider trains with (absent: every method).
PROVIDER_METHODS = {"together": ("supervised", "dpo"), "fireworks": ("supervised", "dpo")}

DEFAULTS = {
    "method": "supervised",
    "suffix": "{name}",
    "wait_timeout": "5h",
    "poll_interval": "30s",
    "release_tag": "{name}-{date}-{sha7}",
}

#: What the loader accepts: a config is a few kilobytes, so these only stop hostile or broken
#: files (a 20 MB file, YAML aliases that expand exponentially, nesting that exhausts the stack).
MAX_CONFIG_BYTES = 256 * 1024
MAX_DEPTH = 32  # nested mappings and lists
MAX_NODES = 20_000  # every value, counted once per place it appears (aliases expanded)
SHOWN_CHARS = 60  # of a value echoed in a message

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")
_DURATION_RE = re.compile(r"^\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+)s)?\s*$")


Mark = tuple[int, int]  # (line, column), from 1


class _Problems:
    """Collects config problems so the user sees them all at once, each at its place in the file."""

    def __init__(self, display_path: str, marks: dict[str, tuple[Mark, Mark]] | None = None) -> None:
        self.display_path = display_path
        self.marks = marks or {}
        self.problems: list[ConfigProblem] = []

    @property
    def lines(self) -> list[str]:
        return [f"{_cut(p.key)}: {p.message}" if p.key else p.message for p in self.problems]

    def add(self, key: str, message: str, mark: Mark | None = None) -> None:
        line, column = mark or self._mark(key) or (None, None)
        self.problems.append(ConfigProblem(key, message, line, column))

    def _mark(self, key: str) -> Mark | None:
        # A missing key has no node: point at the closest enclosing one that exists.
        while key:
            if key in self.marks:
                return self.marks[key][1]
            parent = re.sub(r"(\.[^.\[\]]*|\[\d+\])$", "", key)
            key = parent if parent != key else ""
        return None

    def key_mark(self, key: str) -> Mark | None:
        """Where the key itself is written (for problems with the key, not its value)."""
        return self.marks[key][0] if key in self.marks else None

    def raise_if_any(self) -> None:
        if not self.problems:
            return
        count = len(self.problems)
        head = f"{self.display_path}: {count} problem{'s' if count > 1 else ''} in the config"
        lines = []
        for p, text in zip(self.problems, self.lines):
            where = f"{self.display_path}:{p.line}:{p.column}: " if p.line else ""
            lines.append(f"  - {where}{text}")
        raise ConfigError("\n".join([head, *lines]), tuple(self.problems))


def _cut(key: str) -> str:
    # A key is user text too: a huge one must not flood the message.
    return key if len(key) <= 2 * SHOWN_CHARS else key[: 2 * SHOWN_CHARS] + "..."


_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxdict, _SHORT.maxlist, _SHORT.maxstring, _SHORT.maxother = 2, 3, 3, SHOWN_CHARS, SHOWN_CHARS


def shown(value: Any) -> str:
    """A value as a message may echo it: repr-like, and short whatever its size or nesting."""
    if isinstance(value, (datetime.date, datetime.datetime)):
        return f"{value.isoformat()} (a date to YAML: quote it to mean the text)"
    text = _SHORT.repr(value)
    return text if len(text) <= SHOWN_CHARS + 10 else text[:SHOWN_CHARS] + "..."


def is_number(value: Any) -> bool:
    """An int or a finite float; not a boolean, not .nan or .inf, and not an integer past 2^63
    (one of 400 digits was an OverflowError in math.isfinite: no count or price is that big)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return abs(value) < INT_LIMIT if isinstance(value, int) else math.isfinite(value)


INT_LIMIT = 2**63  # seeds and numbers beyond it are refused: providers take int64, and a hash key takes 64 bytes


class _LimitExceeded(yaml.YAMLError):
    def __init__(self, problem: str, mark: Any) -> None:
        super().__init__(problem)
        self.problem = problem
        self.problem_mark = mark


class _Loader(yaml.SafeLoader):
    """SafeLoader that bounds nesting and alias expansion while composing, and notes duplicate keys.

    Checks happen on nodes, before any Python object is built, so a hostile file costs little.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0
        self.sizes: dict[int, int] = {}  # id(node) -> values under it, aliases expanded
        self.duplicates: list[tuple[yaml.Node, yaml.Node]] = []  # (first key, repeated key)

    def compose_node(self, parent: Any, index: Any) -> Any:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _LimitExceeded(f"nested deeper than {MAX_DEPTH} levels; a finetune.yaml needs a few. Flatten it", self.peek_event().start_mark)
        try:
            node = super().compose_node(parent, index)
        finally:
            self.depth -= 1
        if id(node) not in self.sizes:
            children: list[Any] = []
            if isinstance(node, yaml.MappingNode):
                children = [n for pair in node.value for n in pair]
                self._note_duplicates(node)
            elif isinstance(node, yaml.SequenceNode):
                children = node.value
            size = 1 + sum(self.sizes.get(id(child), 1) for child in children)
            if size > MAX_NODES:
                raise _LimitExceeded(
                    f"more than {MAX_NODES:,} values once aliases are expanded (an alias bomb?); write the config out plainly",
                    node.start_mark,
                )
            self.sizes[id(node)] = size
        return node

    def _note_duplicates(self, node: yaml.MappingNode) -> None:
        seen: dict[tuple[str, str], yaml.Node] = {}
        for key, _value in node.value:
            if not isinstance(key, yaml.ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
                continue
            first = seen.setdefault((key.tag, key.value), key)
            if first is not key:
                self.duplicates.append((first, key))


def _marks(node: Any, prefix: str = "", out: dict[str, tuple[Mark, Mark]] | None = None) -> dict[str, tuple[Mark, Mark]]:
    """Key path (a.b.c) -> ((line, column) of the key, of its value when a scalar, else of the key)."""
    out = {} if out is None else out
    if isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            path = f"{prefix}[{index}]"
            if path not in out:
                out[path] = (_mark_of(item), _mark_of(item))
                _marks(item, path, out)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode):
                continue
            path = f"{prefix}.{key.value}" if prefix else key.value
            if path not in out:
                at = value if isinstance(value, yaml.ScalarNode) else key
                out[path] = (_mark_of(key), _mark_of(at))
                _marks(value, path, out)
    return out


# YAML 1.2's floats, which editors (yaml-language-server, so the schema) read: `1e-5` and `5e1`
# without a dot were strings to YAML 1.1's rules, and `learning_rate: 1e-5` was refused.
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"), list("-+0123456789")
)


def parse_yaml(text: str) -> tuple[Any, dict[str, tuple[Mark, Mark]], list[tuple[str, Mark, Mark]]]:
    """(document, key path -> mark, duplicate keys as (path, first, repeated)); raises yaml.YAMLError.

    The one way finetune.yaml text is parsed (here and for the base branch's copy).
    """
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}, []
        marks = _marks(node)
        parents = {id(key): path for path, key in _key_nodes(node)}
        duplicates = [
            (parents.get(id(repeated), str(repeated.value)), _mark_of(first), _mark_of(repeated))
            for first, repeated in loader.duplicates
        ]
        try:
            document = loader.construct_document(node)
        except ValueError as exc:  # an integer of more digits than Python converts (4,300)
            raise _LimitExceeded(f"a value cannot be read ({str(exc).split(';')[0]}); no setting takes a number that long", None) from None
        return document, marks, duplicates
    finally:
        loader.dispose()


def _key_nodes(node: Any, prefix: str = "", seen: set[int] | None = None):
    """(key path, key node) for every scalar key, each node once."""
    seen = set() if seen is None else seen
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from _key_nodes(item, f"{prefix}[{index}]", seen)
    if not isinstance(node, yaml.MappingNode):
        return
    for key, value in node.value:
        if isinstance(key, yaml.ScalarNode):
            path = f"{prefix}.{key.value}" if prefix else key.value
            yield path, key
            yield from _key_nodes(value, path, seen)


def _mark_of(node: yaml.Node) -> Mark:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _did_you_mean(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f' Did you mean "{close[0]}"?' if close else ""


def _unknown_keys(problems: _Problems, prefix: str, mapping: dict, allowed: Any) -> None:
    for key in mapping:
        if not isinstance(key, str):  # `~:`, `null:`, `1:` or a date: YAML reads the key as another value
            problems.add(prefix, f"a key that YAML reads as {_type_name(key)} ({shown(key)}), not as text: quote it, or remove it.")
            continue
        if key not in allowed:
            where = f"{prefix}.{key}" if prefix else str(key)
            hint = _did_you_mean(str(key), allowed) or f" Allowed keys: {', '.join(allowed)}."
            problems.add(where, f"unknown key.{hint}", problems.key_mark(where))


def _type_name(value: Any) -> str:
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a mapping",
        type(None): "empty",
    }.get(type(value), type(value).__name__)


def parse_duration(value: Any) -> float | None:
    """Seconds in `value` ("5h", "1h30m", "45s", or a number of seconds), None if invalid."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if is_number(value) and value > 0 else None
    if isinstance(value, str):
        match = _DURATION_RE.match(value)
        if match and any(match.groups()):
            hours, minutes, seconds = (int(g or 0) for g in match.groups())
            total = hours * 3600 + minutes * 60 + seconds
            return float(total) if total > 0 else None
    return None


def repository_root(start: Path) -> Path:
    """The git work tree containing `start`, or `start` itself outside git."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"],
            cwd=start,
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return start
    if out.returncode == 0 and out.stdout.strip():
        return Path(out.stdout.strip()).resolve()
    return start


def load(path: str | Path, root: Path | None = None) -> Config:
    """Read and validate the finetune.yaml at `path`; raise ConfigError listing every problem."""
    config_path = Path(path).resolve()
    root = (root or repository_root(config_path.parent)).resolve()
    display = _display(config_path, root)
    try:
        with open(config_path, "rb") as f:
            raw = f.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"{display}: no such config file. Create it (see `finetune schema`) or pass the right path.") from None
    except IsADirectoryError:
        raise ConfigError(f"{display or '.'}: is a directory, not a config. Name the finetune.yaml in it ({(display + '/') if display else ''}finetune.yaml).") from None
    except OSError as exc:
        raise ConfigError(f"{display}: cannot read the config ({exc.__class__.__name__}). Check the path and its permissions.") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise _whole_file(display, f"larger than {MAX_CONFIG_BYTES // 1024} KiB; a finetune.yaml is a few kilobytes. Point it at data files instead of inlining data.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _whole_file(display, "not UTF-8 text. Save it as UTF-8.") from None
    try:
        document, marks, duplicates = parse_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or "invalid YAML"
        if isinstance(exc, _LimitExceeded):
            message = f"{problem}."
        elif isinstance(exc, yaml.reader.ReaderError):  # a control character such as NUL: no mark, a position
            message = f"holds a character YAML does not allow (U+{exc.character if isinstance(exc.character, int) else ord(exc.character):04X}, character {exc.position + 1} of the file). Remove it."
        else:
            message = f"invalid YAML: {problem}. Fix the syntax (indentation, quotes, colons)."
        where = f"{display}:{mark.line + 1}:{mark.column + 1}" if mark else display
        position = (mark.line + 1, mark.column + 1) if mark else (None, None)
        raise ConfigError(f"{where}: {message}", (ConfigProblem("", message, *position),)) from None
    except RecursionError:  # cannot happen below MAX_DEPTH; kept so no input ends as a bug
        raise _whole_file(display, "nested too deeply to read. Flatten it.") from None
    problems = _Problems(display, marks)
    for key, first, repeated in duplicates:
        problems.add(key, f"duplicate key: set on line {first[0]} and again on line {repeated[0]}; YAML would keep only the last. Keep one.", repeated)
    if not isinstance(document, dict):
        problems.add("", f"the config must be a mapping of keys (version, name, model, data, ...), not {_type_name(document)}.")
        problems.raise_if_any()
    return _validate(document, config_path, display, root, problems)


def _whole_file(display: str, message: str) -> ConfigError:
    return ConfigError(f"{display}: {message}", (ConfigProblem("", message, None, None),))


def _display(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _validate(doc: dict, config_path: Path, display: str, root: Path, problems: _Problems) -> Config:
    _unknown_keys(problems, "", doc, TOP_LEVEL)
    for key, note in TOP_LEVEL.items():
        if note.startswith("required") and key not in doc:
            problems.add(key, "missing. Add it: see `finetune schema` or the README for an example.")

    version = doc.get("version")
    if "version" in doc and (version != CONFIG_VERSION or isinstance(version, bool)):
        problems.add("version", f"must be {CONFIG_VERSION}, got {shown(version)}.")

    name = doc.get("name")
    if "name" in doc and not (isinstance(name, str) and _NAME_RE.match(name)):
        problems.add("name", f"{shown(name)} is not a valid name: use 1-40 letters, digits, '.', '_' or '-', starting with a letter or digit.")

    provider = _provider(doc.get("provider", "openai"), problems)
    model = doc.get("model")
    if "model" in doc and not (isinstance(model, str) and model.strip()):
        problems.add("model", f"must be a model name such as gpt-4.1-mini-2025-04-14, got {_type_name(model)}.")
        model = None

    method = doc.get("method", DEFAULTS["method"])
    if method not in METHODS:
        problems.add("method", f"{shown(method)} is not a method.{_did_you_mean(str(method), METHODS)} Use one of: {', '.join(METHODS)}.")
        method = None
    pricing = _pricing(doc.get("pricing", {}), problems)
    if isinstance(model, str) and method:
        _offered(problems, "", provider, model, method, pricing)
    compare = _compare(doc.get("compare", []), method, problems)

    grader = doc.get("grader")
    if method == "reinforcement" and grader is None:
        problems.add("grader", "reinforcement fine-tuning needs a grader (a mapping as in OpenAI's grader docs, e.g. type: string_check).")
    elif grader is not None and method and method != "reinforcement":
        problems.add("grader", f"only used with method: reinforcement; remove it or change method (now {method}).")
    elif grader is not None and not (isinstance(grader, dict) and isinstance(grader.get("type"), str)):
        problems.add("grader", "must be a mapping with a `type` (string_check, text_similarity, python, score_model, label_model, multi).")

    train, validation, split = _data(doc.get("data"), "data" in doc, config_path.parent, root, problems)
    if method == "reinforcement" and not validation and split is None and train:
        problems.add("data.validation", "reinforcement fine-tuning requires a validation file. Add data.validation or data.split.")
    if method and method not in PROVIDER_METHODS.get(provider.kind, METHODS):
        problems.add("method", f"{provider.kind} trains with {' or '.join(PROVIDER_METHODS[provider.kind])}, not {method}. Change `method` or `provider`.")
    hyperparameters = _hyperparameters(doc.get("hyperparameters", {}), method, provider.kind, problems)
    suffix = _template(doc.get("suffix", DEFAULTS["suffix"]), "suffix", problems)
    seed = doc.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < INT_LIMIT):
        problems.add("seed", f"must be a non-negative integer, got {shown(seed)} (at most {INT_LIMIT - 1}).")
    metadata = _metadata(doc.get("metadata", {}), problems)
    integrations = _integrations(doc.get("integrations", {}), problems)
    budget = _budget(doc.get("budget", {}), problems)
    wait = _wait(doc.get("wait", {}), problems)
    release = doc.get("release", {})
    release_tag = DEFAULTS["release_tag"]
    if not isinstance(release, dict):
        problems.add("release", f"must be a mapping such as {{tag: \"{DEFAULTS['release_tag']}\"}}, got {_type_name(release)}.")
    else:
        _unknown_keys(problems, "release", release, RELEASE_KEYS)
        release_tag = _template(release.get("tag", DEFAULTS["release_tag"]), "release.tag", problems)
    retry_failed = doc.get("retry_failed", False)
    if not isinstance(retry_failed, bool):
        problems.add("retry_failed", f"must be true or false, got {shown(retry_failed)}.")

    scan = _scan(doc.get("scan", {}), problems)
    evaluation = _eval(doc["eval"], config_dir=config_path.parent, root=root, problems=problems, provider=provider) if "eval" in doc else None

    problems.raise_if_any()
    normalised = {
        "version": CONFIG_VERSION,
        "name": name,
        "provider": provider._asdict(),
        "model": model,
        "method": method,
        "grader": grader,
        "data": {
            "train": [f.display_path for f in train],
            "validation": [f.display_path for f in validation],
            "split": split._asdict() if split else None,
        },
        "hyperparameters": hyperparameters,
        "suffix": suffix,
        "seed": seed,
        "metadata": metadata,
        "integrations": integrations,
        "pricing": pricing,
    }
    if evaluation and evaluation.split:
        # Only the split changes what is trained; graders, models and gate do not touch the fingerprint.
        normalised["data"]["eval_split"] = evaluation.split._asdict()
    return Config(
        path=config_path,
        display_path=display,
        root=root,
        name=name,
        provider=provider,
        model=model.strip(),
        method=method,
        grader=grader,
        train=train,
        validation=validation,
        split=split,
        hyperparameters=hyperparameters,
        suffix=suffix,
        seed=seed,
        metadata=metadata,
        integrations=integrations,
        budget=budget,
        wait=wait,
        release_tag=release_tag,
        pricing=pricing,
        retry_failed=retry_failed,
        eval=evaluation,
        normalised=normalised,
        compare=compare,
        scan=scan,
    )


def _provider(value: Any, problems: _Problems) -> ProviderSettings:
    # The registry and the catalogue are the lists of providers. A provider with a
    # catalogue but no module yet can be checked (priced, limited), not trained.
    kinds = list(dict.fromkeys([*PROVIDERS, *models.providers()]))
    if isinstance(value, str):
        value = {"type": value}
    if not isinstance(value, dict):
        problems.add("provider", f"must be a provider name ({', '.join(kinds)}) or a mapping with `type`, got {_type_name(value)}.")
        return ProviderSettings("openai", None, None, None, "OPENAI_API_KEY")
    _unknown_keys(problems, "provider", value, PROVIDER_KEYS)
    kind = value.get("type", "openai")
    if kind not in kinds:
        problems.add("provider.type" if "type" in value and len(value) > 1 else "provider", f"{shown(kind)} is not a supported provider.{_did_you_mean(str(kind), kinds)} Use one of: {', '.join(kinds)}.")
        kind = "openai"
    for key in ("base_url", "endpoint", "api_version", "api_key_env", "training_type"):
        if key in value and not (isinstance(value[key], str) and value[key].strip()):
            problems.add(f"provider.{key}", f"must be a non-empty string, got {_type_name(value[key])}.")
    for key in ("base_url", "endpoint"):
        url = value.get(key)
        if isinstance(url, str) and not re.match(r"^https?://", url):
            problems.add(f"provider.{key}", f"{shown(url)} is not a URL; write it as https://...")
    if kind != "azure" and ("endpoint" in value or "api_version" in value):
        problems.add("provider", f"endpoint and api_version are Azure settings; set `type: azure`{', or use base_url for an OpenAI-compatible gateway' if kind == 'openai' else ''}.")
    if kind == "azure" and "base_url" in value:
        problems.add("provider.base_url", "Azure OpenAI uses `endpoint` (https://<resource>.openai.azure.com), not base_url.")
    training_type = value.get("training_type")
    if training_type is not None and kind != "azure":
        problems.add("provider.training_type", f"the training tier is an Azure OpenAI setting; remove it, or set `type: azure` (now {kind}).")
        training_type = None
    elif training_type is not None and training_type not in TRAINING_TYPES:
        problems.add("provider.training_type", f"{shown(training_type)} is not an Azure training tier.{_did_you_mean(str(training_type), TRAINING_TYPES)} Use one of: {', '.join(TRAINING_TYPES)}.")
        training_type = None
    default_key = {"openai": "OPENAI_API_KEY", "azure": "AZURE_OPENAI_API_KEY"}.get(kind, f"{kind.upper()}_API_KEY")
    # No version: Azure's GA v1 surface. The tiers exist only on the preview surface, so a tier without a version gets it.
    api_version = value.get("api_version") or (AZURE_PREVIEW_API_VERSION if kind == "azure" and training_type else None)
    return ProviderSettings(
        kind=kind,
        base_url=value.get("base_url"),
        endpoint=value.get("endpoint"),
        api_version=api_version,
        api_key_env=value.get("api_key_env") or default_key,
        training_type=training_type,
    )


def _offered(problems: _Problems, prefix: str, provider: ProviderSettings, model: str, method: str, pricing: dict[str, float], lora: bool | None = None) -> None:
    """Is `model` one the provider fine-tunes, with `method` (and tier, LoRA/full)? A typo gets a did-you-mean.

    A model the catalogue does not list is allowed when `pricing` names it (the catalogue may
    lag the provider) or behind an OpenAI-compatible gateway (`base_url`), whose models are
    not ours to know; the check then warns `unknown-model`.
    """
    where = f"{prefix}.model" if prefix else "model"
    info = models.resolve(model, pricing, provider.kind, method=method, lora=lora, tier=provider.training_type)
    label = models.label(provider.kind)
    if not info.known:
        if model.strip() in pricing or (provider.kind == "openai" and provider.base_url):
            return
        hint = _did_you_mean(model.strip(), models.spellings(provider.kind))
        problems.add(
            where,
            f"{shown(model)} is not a model {label} fine-tunes.{hint} `finetune models --provider {provider.kind}` lists them; "
            f"a model the catalogue does not list yet can be allowed by pricing it: `pricing: {{{model.strip()}: <USD per 1M training tokens>}}`.",
        )
        return
    if method not in info.methods:
        problems.add(f"{prefix}.method" if prefix else "method", f"{model} cannot be fine-tuned with {method} at {label} (it supports: {', '.join(info.methods)}). Change `method` or `model`.")
    if info.training_tiers and (provider.training_type or "standard") not in info.training_tiers:
        tiers = ", ".join(info.training_tiers)
        problems.add(f"{prefix}.training_type" if prefix else "provider.training_type", f"{info.base} trains at {label} only on the {tiers} tier: set `training_type: {info.training_tiers[0]}`.")
    if lora is False and info.lora == "only":
        problems.add(f"{prefix}.lora", f"{label} trains {info.base} with LoRA only: remove `lora: false`.")
    elif lora is not None and info.lora is None:
        problems.add(f"{prefix}.lora", f"{label} does not distinguish LoRA from full fine-tuning: remove `lora`.")


def _compare(value: Any, method: str | None, problems: _Problems) -> tuple[CompareSpec, ...]:
    if not isinstance(value, list):
        problems.add("compare", f"must be a list of alternatives such as [{{provider: together, model: openai/gpt-oss-20b}}], got {_type_name(value)}.")
        return ()
    if len(value) > MAX_COMPARE:
        problems.add("compare", f"has {len(value)} alternatives; at most {MAX_COMPARE} are priced (each is counted with its own tokenizer).")
    specs = []
    for index, item in enumerate(value[:MAX_COMPARE]):
        where = f"compare[{index}]"
        if not isinstance(item, dict):
            problems.add(where, f"must be a mapping with provider and model, got {_type_name(item)}.")
            continue
        _unknown_keys(problems, where, item, COMPARE_KEYS)
        kind, model = item.get("provider"), item.get("model")
        if kind not in models.providers():
            if isinstance(kind, dict):  # the top-level `provider:` mapping: here only the name is taken
                named = kind.get("type")
                problems.add(f"{where}.provider", f"takes a provider's name ({', '.join(models.providers())}), not a mapping{f': write provider: {named}' if named in models.providers() else ''}.")
            else:
                problems.add(f"{where}.provider", f"{shown(kind)} has no catalogue.{_did_you_mean(str(kind).lower(), models.providers())} Use one of: {', '.join(models.providers())}.")
            continue
        if not (isinstance(model, str) and model.strip()):
            problems.add(f"{where}.model", f"must be a model name (see `finetune models --provider {kind}`), got {_type_name(model)}.")
            continue
        alt_method = item.get("method", method)
        if alt_method not in METHODS:
            problems.add(f"{where}.method", f"{shown(alt_method)} is not a method. Use one of: {', '.join(METHODS)}.")
            continue
        lora = item.get("lora")
        if lora is not None and not isinstance(lora, bool):
            problems.add(f"{where}.lora", f"must be true (LoRA) or false (full fine-tuning), got {shown(lora)}.")
            lora = None
        tier = item.get("training_type")
        if tier is not None and (kind != "azure" or tier not in TRAINING_TYPES):
            why = f"is not one of Azure's training tiers ({', '.join(TRAINING_TYPES)})" if kind == "azure" else f"only Azure has training tiers ({', '.join(TRAINING_TYPES)})"
            problems.add(f"{where}.training_type", f"{shown(tier)}: {why}.{_did_you_mean(str(tier), TRAINING_TYPES) if kind == 'azure' else ''}")
            tier = None
        settings = ProviderSettings(kind, None, None, None, "", tier)
        count = len(problems.lines)
        _offered(problems, where, settings, model, alt_method, {}, lora)
        if len(problems.lines) == count:
            specs.append(CompareSpec(kind, model.strip(), item.get("method"), lora, tier))
    return tuple(specs)


def _pricing(value: Any, problems: _Problems) -> dict[str, float]:
    if not isinstance(value, dict):
        problems.add("pricing", f"must map model names to USD per 1M training tokens, got {_type_name(value)}.")
        return {}
    pricing = {}
    for model, usd in value.items():
        if not is_number(usd) or usd < 0:
            problems.add(f"pricing.{model}", f"must be a finite non-negative number of USD per 1M training tokens, got {shown(usd)}.")
        else:
            pricing[str(model)] = float(usd)
    return pricing


def _paths(value: Any, key: str, config_dir: Path, root: Path, problems: _Problems) -> tuple[DataFile, ...]:
    patterns = value if isinstance(value, list) else [value]
    if not patterns or not all(isinstance(p, str) and p.strip() for p in patterns):
        problems.add(key, "must be a path (or a list of paths or globs) relative to the config file, e.g. data/train.jsonl.")
        return ()
    files: list[DataFile] = []
    for pattern in patterns:
        if "\0" in pattern:  # no file system takes it (it was an unexpected ValueError)
            problems.add(key, f"{shown(pattern)} holds a NUL character; no path can. Write the file's path.")
            continue
        if Path(pattern).is_absolute():
            problems.add(key, f"{shown(pattern)} is absolute; write it relative to the config file so it works on every checkout.")
            continue
        full = str(config_dir / pattern)
        matches = sorted(glob.glob(full, recursive=True)) if glob.has_magic(pattern) else [full]
        if not matches:
            problems.add(key, f"{shown(pattern)} matches no file. Check the pattern, or commit the data.")
        for match in matches:
            resolved = Path(match).resolve()
            if resolved != root and root not in resolved.parents:
                problems.add(key, f"{shown(pattern)} points outside the repository ({root}). Keep training data inside the repository.")
                continue
            if resolved.is_dir():
                problems.add(key, f"{_display(resolved, root)} is a directory. Name the JSONL files in it (a glob such as {_display(resolved, root)}/*.jsonl).")
                continue
            if not resolved.is_file():
                problems.add(key, f"{_display(resolved, root)} does not exist. Check the path (relative to {_display(config_dir, root) or '.'}), or commit the file.")
                continue
            if any(f.path == resolved for f in files):
                continue
            files.append(DataFile(resolved, _display(resolved, root)))
    return tuple(files)


def _data(value: Any, present: bool, config_dir: Path, root: Path, problems: _Problems):
    if not present:
        return (), (), None
    if isinstance(value, (str, list)):
        value = {"train": value}
    if not isinstance(value, dict):
        problems.add("data", "must be a mapping with `train` (and optionally `validation` or `split`).")
        return (), (), None
    _unknown_keys(problems, "data", value, DATA_KEYS)
    if "train" not in value:
        problems.add("data.train", "missing. Point it at your training JSONL file, e.g. data/train.jsonl.")
    train = _paths(value["train"], "data.train", config_dir, root, problems) if "train" in value else ()
    validation = _paths(value["validation"], "data.validation", config_dir, root, problems) if "validation" in value else ()
    split = None
    if "split" in value:
        raw = value["split"]
        if "validation" in value:
            problems.add("data.split", "use either data.validation or data.split, not both.")
        else:
            split = _split(raw, "data.split", problems)
    train_paths = {f.path for f in train}
    for f in validation:
        if f.path in train_paths:
            problems.add("data.validation", f"{f.display_path} is also a training file; validation data must be separate.")
    return train, validation, split


def _split(raw: Any, key: str, problems: _Problems) -> Split | None:
    """A {fraction, seed} mapping (data.split, eval.split)."""
    if not isinstance(raw, dict):
        problems.add(key, "must be a mapping such as {fraction: 0.1, seed: 42}.")
        return None
    _unknown_keys(problems, key, raw, SPLIT_KEYS)
    fraction, seed = raw.get("fraction"), raw.get("seed", 0)
    if not is_number(fraction) or not 0 < fraction < 1:
        problems.add(f"{key}.fraction", f"must be a number between 0 and 1 (exclusive), e.g. 0.1; got {shown(fraction)}.")
    elif isinstance(seed, bool) or not isinstance(seed, int) or abs(seed) >= INT_LIMIT:
        problems.add(f"{key}.seed", f"must be an integer of magnitude below 2^63, got {shown(seed)}.")
    else:
        return Split(float(fraction), seed)
    return None


def _hyperparameters(value: Any, method: str | None, provider: str, problems: _Problems) -> dict[str, Any]:
    if not isinstance(value, dict):
        problems.add("hyperparameters", f"must be a mapping such as {{n_epochs: 3}}, got {_type_name(value)}.")
        return {}
    extra = PROVIDER_HYPERPARAMETERS.get(provider, {})
    refused = OPENAI_ONLY.get(provider, {})
    allowed = {k: v for k, v in HYPERPARAMETERS.get(method or "supervised", {}).items() if k not in refused} | extra
    every = {k for spec in (*HYPERPARAMETERS.values(), *PROVIDER_HYPERPARAMETERS.values()) for k in spec}
    result: dict[str, Any] = {}
    for key, given in value.items():
        where = f"hyperparameters.{key}"
        if key not in allowed:
            if key in refused:
                problems.add(where, f"is OpenAI's; {provider} takes {refused[key]}.")
            elif (takes := [p for p, spec in PROVIDER_HYPERPARAMETERS.items() if key in spec]) and not any(key in spec for spec in HYPERPARAMETERS.values()):
                problems.add(where, f"only {' and '.join(takes)} take{'s' if len(takes) == 1 else ''} it, not {provider}. Remove it or change provider.")
            elif key in every:
                problems.add(where, f"not used by method {method}. Remove it or change method.")
            else:
                problems.add(where, f"unknown hyperparameter.{_did_you_mean(str(key), allowed) or ' Allowed: ' + ', '.join(allowed) + '.'}")
            continue
        kind, low, high, low_inclusive = allowed[key]
        if given == "auto":
            result[key] = "auto"
            continue
        if kind == "bool":
            if not isinstance(given, bool):
                problems.add(where, f"must be true or false, got {shown(given)}.")
            else:
                result[key] = given
            continue
        if kind == "choice":
            if given not in low:
                problems.add(where, f"{shown(given)} is not one of: {', '.join(low)}.")
            else:
                result[key] = given
            continue
        number = is_number(given)
        if kind == "int" and not (number and float(given).is_integer()):
            problems.add(where, f"must be an integer or \"auto\", got {shown(given)}.")
            continue
        if kind == "number" and not number:
            problems.add(where, f"must be a finite number or \"auto\", got {shown(given)}.")
            continue
        too_low = given < low if low_inclusive else given <= low
        too_high = high is not None and given > high
        if too_low or too_high:
            lower = f">= {low}" if low_inclusive else f"> {low}"
            bounds = f"{lower} and <= {high}" if high is not None else lower
            problems.add(where, f"{given} is out of range: it must be {bounds}, or \"auto\".")
            continue
        result[key] = int(given) if kind == "int" else given
    return result


def _template(value: Any, key: str, problems: _Problems) -> str:
    if not isinstance(value, str) or not value.strip():
        problems.add(key, f"must be a non-empty string template using {{name}}, {{sha7}}, {{date}}; got {_type_name(value)}.")
        return ""
    for field in re.findall(r"\{([^{}]*)\}", value):
        if field not in TEMPLATE_FIELDS:
            problems.add(key, f"unknown placeholder {{{field}}}.{_did_you_mean(field, TEMPLATE_FIELDS)} Use {{name}}, {{sha7}} or {{date}}.")
    if re.search(r"[{}]", re.sub(r"\{[^{}]*\}", "", value)):
        problems.add(key, f"{value!r} has a brace that opens or closes no placeholder; write {{name}}, {{sha7}} or {{date}} (a literal brace is not allowed).")
    return value


def _metadata(value: Any, problems: _Problems) -> dict[str, str]:
    if not isinstance(value, dict):
        problems.add("metadata", f"must be a mapping of string keys to string values, got {_type_name(value)}.")
        return {}
    if len(value) > MAX_USER_METADATA:
        problems.add("metadata", f"has {len(value)} pairs; at most {MAX_USER_METADATA} fit (the provider allows 16 and finetune-action uses 4).")
    result = {}
    for key, item in value.items():
        if not isinstance(key, str) or len(key) > 64 or key.startswith("finetune_"):
            problems.add(f"metadata.{key}", "keys must be strings of at most 64 characters not starting with finetune_ (reserved).")
        elif isinstance(item, (dict, list)) or item is None or len(str(item)) > 512:
            problems.add(f"metadata.{key}", "values must be strings (or numbers) of at most 512 characters.")
        else:
            result[key] = str(item)
    return result


def _integrations(value: Any, problems: _Problems) -> dict[str, Any]:
    if not isinstance(value, dict):
        problems.add("integrations", f"must be a mapping such as {{wandb: {{project: my-project}}}}, got {_type_name(value)}.")
        return {}
    _unknown_keys(problems, "integrations", value, INTEGRATION_KEYS)
    wandb = value.get("wandb")
    if wandb is None:
        return {}
    if not isinstance(wandb, dict) or not isinstance(wandb.get("project"), str):
        problems.add("integrations.wandb", "must be a mapping with at least `project` (and optionally entity, name, tags).")
        return {}
    _unknown_keys(problems, "integrations.wandb", wandb, WANDB_KEYS)
    tags = wandb.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        problems.add("integrations.wandb.tags", "must be a list of strings.")
    return {"wandb": {k: v for k, v in wandb.items() if k in WANDB_KEYS}}


def _budget(value: Any, problems: _Problems) -> Budget:
    if not isinstance(value, dict):
        problems.add("budget", f"must be a mapping such as {{max_usd: 50}}, got {_type_name(value)}.")
        return Budget(None, None, None)
    _unknown_keys(problems, "budget", value, (*BUDGET_KEYS, "unpriced"))
    unpriced = value.get("unpriced", "fail")
    if unpriced not in UNPRICED_CHOICES:
        problems.add("budget.unpriced", f"must be fail or warn (what to do when a limit is set but the cost has no USD figure), got {unpriced!r}.")
        unpriced = "fail"
    limits: dict[str, Any] = {"unpriced": unpriced}
    for key in BUDGET_KEYS:
        limit = value.get(key)
        if limit is not None and (not is_number(limit) or limit < 0):
            problems.add(f"budget.{key}", f"must be a finite non-negative number, got {shown(limit)}.")
            limit = None
        limits[key] = float(limit) if limit is not None else None
    return Budget(**limits)


def _wait(value: Any, problems: _Problems) -> Wait:
    if not isinstance(value, dict):
        problems.add("wait", f"must be a mapping such as {{timeout: 5h, poll_interval: 30s}}, got {_type_name(value)}.")
        value = {}
    _unknown_keys(problems, "wait", value, WAIT_KEYS)
    seconds = {}
    for key, default in (("timeout", DEFAULTS["wait_timeout"]), ("poll_interval", DEFAULTS["poll_interval"])):
        parsed = parse_duration(value.get(key, default))
        if parsed is None:
            problems.add(f"wait.{key}", f"{shown(value.get(key))} is not a duration; write it like 5h, 90m, 1h30m or 45s.")
            parsed = parse_duration(default)
        seconds[key] = parsed
    cancel = value.get("cancel_on_abort", False)
    if not isinstance(cancel, bool):
        problems.add("wait.cancel_on_abort", f"must be true or false, got {shown(cancel)}.")
        cancel = False
    return Wait(seconds["timeout"], seconds["poll_interval"], cancel)


_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


def _scan(value: Any, problems: _Problems) -> data_scan.ScanRules:
    """`scan:` (off, or a level per kind and an allowlist). Messages never repeat an allow entry: it may be a pasted secret."""
    if value == "off" or value is False:
        return data_scan.OFF
    if not isinstance(value, dict):
        problems.add("scan", f"must be a mapping such as {{secret: error, email: off, allow: [...]}}, or off; got {_type_name(value)}.")
        return data_scan.ScanRules()
    _unknown_keys(problems, "scan", value, SCAN_KEYS)
    levels = dict(data_scan.DEFAULT_LEVELS)
    for kind in data_scan.KINDS:
        level = value.get(kind, levels[kind])
        level = "off" if level is False else level  # YAML reads a bare `off` as false
        if level not in data_scan.LEVELS:
            problems.add(f"scan.{kind}", f"must be one of {', '.join(data_scan.LEVELS)}, got {_type_name(level)}.")
            continue
        levels[kind] = level
    hashes: list[str] = []
    patterns: list[str] = []
    allow = value.get("allow", [])
    if not isinstance(allow, list):
        problems.add("scan.allow", f"must be a list of {{sha256: ...}} or {{pattern: ...}} entries, got {_type_name(allow)}.")
        allow = []
    for index, entry in enumerate(allow):
        where = f"scan.allow[{index}]"
        if not isinstance(entry, dict) or len(entry) != 1 or next(iter(entry)) not in ("sha256", "pattern"):
            problems.add(where, "must be {sha256: <64 hex digits from `finetune scan-hash`>} or {pattern: <regular expression>}.")
            continue
        (key, item), = entry.items()
        if key == "sha256":
            if not (isinstance(item, str) and _SHA256_RE.match(item.strip().lower())):
                problems.add(f"{where}.sha256", "is not a sha256 (64 hex digits). Put the hash here, never the value: run `finetune scan-hash` and paste its output.")
                continue
            hashes.append(item.strip().lower())
        else:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("error", FutureWarning)  # "possible nested set": read as the mistake it likely is
                    re.compile(item) if isinstance(item, str) else None
            except FutureWarning as exc:
                problems.add(f"{where}.pattern", f"is an ambiguous regular expression ({exc}); escape the [ or write the set another way.")
                continue
            except re.error as exc:
                problems.add(f"{where}.pattern", f"is not a valid regular expression ({exc}).")
                continue
            if not isinstance(item, str):
                problems.add(f"{where}.pattern", f"must be a regular expression as a string, got {_type_name(item)}.")
                continue
            patterns.append(item)
    return data_scan.ScanRules(tuple(levels.items()), tuple(hashes), tuple(patterns))
# --- eval: ----------------------------------------------------------------------------------

EVAL_KEYS = ("data", "split", "graders", "models", "judge", "gate", "min_examples", "confidence", "max_error_rate", "concurrency", "max_tokens", "seed", "cache")
GATE_KEYS = ("grader", "min_improvement", "no_regressions")
EVAL_MODEL_KEYS = ("model", "provider", "label")
EVAL_ROLES = ("base", "fine_tuned", "checkpoints")
EVAL_DEFAULTS = {"models": ["base", "fine_tuned"], "min_examples": 30, "confidence": 0.95, "max_error_rate": 0.1, "concurrency": 8, "max_tokens": 1024, "seed": 0, "cache": ".finetune-cache/eval"}


class _Within:
    """Problems under a key prefix, so a nested provider mapping says where it is."""

    def __init__(self, problems: _Problems, prefix: str) -> None:
        self.problems, self.prefix = problems, prefix

    def add(self, key: str, message: str) -> None:
        self.problems.add(f"{self.prefix}.{key}", message)


def _eval(value: Any, *, config_dir: Path, root: Path, problems: _Problems, provider: ProviderSettings | None = None) -> Eval | None:
    from finetune_action.evaluation.graders import GRADERS  # the grader table is the one list of grader types

    if not isinstance(value, dict):
        problems.add("eval", f"must be a mapping such as {{split: {{fraction: 0.1, seed: 1}}, graders: [normalised_match]}}, got {_type_name(value)}.")
        return None
    _unknown_keys(problems, "eval", value, EVAL_KEYS)
    data = _paths(value["data"], "eval.data", config_dir, root, problems) if "data" in value else ()
    split = None
    if "split" in value:
        if "data" in value:
            problems.add("eval.split", "use either eval.data (a held-out file) or eval.split (taken from the training data), not both.")
        else:
            split = _split(value["split"], "eval.split", problems)
    if "data" not in value and "split" not in value:
        problems.add("eval", "needs held-out examples: eval.data (a JSONL file in the chat format) or eval.split (e.g. {fraction: 0.1, seed: 1}).")
    graders = _graders(value.get("graders"), GRADERS, problems)
    listed = value.get("models", EVAL_DEFAULTS["models"])
    if not isinstance(listed, list) or len(listed) < 2:
        problems.add("eval.models", "must list at least two models: the baseline first, then the candidate (default: [base, fine_tuned]).")
        listed = []
    models = tuple(_eval_model(m, f"eval.models[{i}]", problems) for i, m in enumerate(listed))
    judge = _eval_model(value["judge"], "eval.judge", problems) if "judge" in value else None
    for where, entry in [*((f"eval.models[{i}]", m) for i, m in enumerate(models)), *((("eval.judge", judge),) if judge else ())]:
        problem = _asked_where_not_served(entry, provider)
        if problem:
            problems.add(where, problem)
    if judge is None and any(GRADERS.get(g.type) and g.type.startswith("judge_") for g in graders):
        problems.add("eval.judge", "judge_rubric and judge_pairwise need a judge model: add e.g. `judge: gpt-4.1-2025-04-14`.")
    gate = _gate(value.get("gate", {}), graders, problems)
    numbers = {}
    for key, kind, low, high in (("min_examples", int, 1, None), ("confidence", float, 0.5, 0.999), ("max_error_rate", float, 0, 1), ("concurrency", int, 1, 64), ("max_tokens", int, 1, 100_000), ("seed", int, 0, None)):
        given = value.get(key, EVAL_DEFAULTS[key])
        ok = isinstance(given, (int, float)) and not isinstance(given, bool) and (kind is float or float(given).is_integer())
        if not ok or given < low or (high is not None and given > high):
            bounds = f"from {low}" + (f" to {high}" if high is not None else "")
            problems.add(f"eval.{key}", f"must be {'an integer' if kind is int else 'a number'} {bounds}, got {given!r}.")
            given = EVAL_DEFAULTS[key]
        numbers[key] = kind(given)
    cache = value.get("cache", EVAL_DEFAULTS["cache"])
    if not (isinstance(cache, str) and cache.strip()) or Path(cache).is_absolute() or not (root / cache).resolve().is_relative_to(root.resolve()):
        # `../../x` was taken, and the answers written outside the checkout.
        problems.add("eval.cache", f"must be a directory inside the repository, relative to its root (for actions/cache), got {shown(cache)}.")
        cache = EVAL_DEFAULTS["cache"]
    return Eval(data, split, graders, models, judge, gate, cache=(root / cache).resolve(), **numbers)


def _graders(value: Any, table: dict, problems: _Problems) -> tuple[GraderSpec, ...]:
    if not isinstance(value, list) or not value:
        problems.add("eval.graders", f"must list at least one grader, e.g. [normalised_match]; the types: {', '.join(table)}.")
        return ()
    specs: list[GraderSpec] = []
    for index, item in enumerate(value):
        where = f"eval.graders[{index}]"
        item = {"type": item} if isinstance(item, str) else item
        if not isinstance(item, dict) or item.get("type") not in table:
            kind = item.get("type") if isinstance(item, dict) else item
            problems.add(where, f"{kind!r} is not a grader.{_did_you_mean(str(kind), table)} Use one of: {', '.join(table)}.")
            continue
        kind = table[item["type"]]
        options = {k: v for k, v in item.items() if k not in ("type", "name")}
        _unknown_keys(problems, where, options, (*kind.options, *kind.optional))
        for key in kind.options:
            if key not in options:
                problems.add(f"{where}.{key}", f"missing: the {item['type']} grader needs `{key}`.")
        problem = _grader_option_problem(item["type"], options)
        if problem:
            problems.add(where, problem)
        name = str(item.get("name", item["type"]))
        if any(s.name == name for s in specs):
            problems.add(where, f"a second grader named {name!r}; give one a `name`.")
        specs.append(GraderSpec(name, item["type"], options))
    return tuple(specs)


def _grader_option_problem(kind: str, options: dict) -> str | None:
    import jsonschema

    if kind == "regex" and "pattern" in options:
        if not isinstance(options["pattern"], str):  # 123 passed the check as "123", then failed the grading, answers paid for
            return f"pattern must be a regular expression as a string, got {_type_name(options['pattern'])}; quote it."
        try:
            re.compile(options["pattern"])
        except re.error as exc:
            return f"pattern {options['pattern']!r} is not a regular expression ({exc})."
    if kind == "json_schema" and "schema" in options:
        try:
            jsonschema.Draft202012Validator.check_schema(options["schema"])
        except jsonschema.SchemaError as exc:
            return f"schema is not a valid JSON Schema: {exc.message}."
    if kind == "json_field_match" and "fields" in options and not (isinstance(options["fields"], list) and options["fields"] and all(isinstance(f, str) for f in options["fields"])):
        return "fields must be a list of dotted paths such as [order.id, items.0.sku]."
    if kind in ("judge_rubric", "judge_pairwise") and "rubric" in options and not (isinstance(options["rubric"], str) and options["rubric"].strip()):
        return "rubric must be a non-empty text."
    scale = options.get("scale", 5)
    if kind == "judge_rubric" and (isinstance(scale, bool) or not isinstance(scale, int) or not 2 <= scale <= 100):
        return f"scale must be an integer from 2 to 100, got {scale!r}."
    return None


def _asked_where_not_served(entry: EvalModel, provider: ProviderSettings | None) -> str | None:
    """An OpenAI model id (a catalogue model or an `ft:` fine-tune of one) that the eval would ask
    at Together AI or Fireworks AI, which do not serve it: the eval block of a config that moved
    its top-level provider off OpenAI, kept as it was, asks the retiring fine-tune and the judge
    at the new provider, and fails at every call after the training is paid for."""
    settings = entry.provider or provider
    if settings is None or settings.kind not in ("together", "fireworks") or settings.base_url or entry.model in EVAL_ROLES:
        return None
    if not models.resolve(entry.model, None, "openai").known or models.resolve(entry.model, None, settings.kind).known:
        return None
    what = "an OpenAI fine-tune" if entry.model.startswith("ft:") else "an OpenAI model"
    how = "this entry's provider is" if entry.provider else "this entry names no provider, so the eval would ask it at the config's provider,"
    return (
        f"{entry.model} is {what}, but {how} {models.label(settings.kind)}, which does not serve it: "
        f"give it `provider: openai`, e.g. {{model: \"{entry.model}\", provider: openai}}."
    )


def _eval_model(value: Any, where: str, problems: _Problems) -> EvalModel:
    if isinstance(value, str) and value.strip():
        return EvalModel(value.strip(), None, value.strip())
    if not isinstance(value, dict) or not (isinstance(value.get("model"), str) and value["model"].strip()):
        problems.add(where, f"must be a model id, one of {', '.join(EVAL_ROLES)}, or a mapping {{model: ..., provider: ...}}; got {_type_name(value)}.")
        return EvalModel("?", None, "?")
    _unknown_keys(problems, where, value, EVAL_MODEL_KEYS)
    provider = _provider(value["provider"], _Within(problems, where)) if "provider" in value else None  # type: ignore[arg-type]
    label = value.get("label") or value["model"]
    return EvalModel(value["model"].strip(), provider, str(label))


def _gate(value: Any, graders: tuple[GraderSpec, ...], problems: _Problems) -> Gate:
    if not isinstance(value, dict):
        problems.add("eval.gate", f"must be a mapping such as {{min_improvement: 0.02, no_regressions: true}}, got {_type_name(value)}.")
        return Gate(None, None, False)
    _unknown_keys(problems, "eval.gate", value, GATE_KEYS)
    grader = value.get("grader")
    if grader is not None and grader not in [g.name for g in graders]:
        problems.add("eval.gate.grader", f"{grader!r} is not one of eval.graders ({', '.join(g.name for g in graders)}).")
    improvement = value.get("min_improvement")
    if improvement is not None and (isinstance(improvement, bool) or not isinstance(improvement, (int, float)) or not -1 <= improvement <= 1):
        problems.add("eval.gate.min_improvement", f"must be a number from -1 to 1 (a difference in pass rate or score), got {improvement!r}.")
        improvement = None
    regressions = value.get("no_regressions", False)
    if not isinstance(regressions, bool):
        problems.add("eval.gate.no_regressions", f"must be true or false, got {regressions!r}.")
        regressions = False
    return Gate(grader, float(improvement) if improvement is not None else None, regressions)


def render_template(template: str, *, name: str, sha: str, date: str) -> str:
    """Fill {name}, {sha7} and {date} in a suffix or release-tag template."""
    return template.replace("{name}", name).replace("{sha7}", sha[:7]).replace("{date}", date)


def expand_config_paths(patterns: list[str], cwd: Path) -> list[Path]:
    """Config paths from the command line or the action input; globs allowed. Raises ConfigError."""
    found: list[Path] = []
    for pattern in patterns:
        if not pattern.strip():
            raise ConfigError("an empty config path: name a finetune.yaml, or give none for ./finetune.yaml.")
        if glob.has_magic(pattern):
            matches = sorted(Path(p) for p in glob.glob(str(cwd / pattern), recursive=True))
            if not matches:
                raise ConfigError(f"{pattern}: no config file matches this pattern. Check the path or glob.")
        else:
            matches = [cwd / pattern]
        for match in matches:
            if match.resolve() not in [f.resolve() for f in found]:
                found.append(match)
    return found
