"""Examples, pools and target tasks: JSONL in the common instruction formats, or a Hugging Face dataset.

An example is one (prompt, response) pair. A pool row may be ``{"messages": [{"role", "content"}, ...]}`` as in
open-instruct/Tulu (the last assistant turn is the response, the earlier turns the prompt) or
``{"prompt": ..., "response": ...}``. A target task has a validation set (what selectors see) and a separate test
set (what is scored); test rows may carry ``options`` (multiple choice, the response is the right one).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CostlawError

PROMPT_TEMPLATE = "### Instruction:\n{prompt}\n\n### Response:\n"
"""How a prompt is laid out before its response (the format of offline.md's synthetic task)."""


@dataclass(frozen=True)
class Example:
    """One instruction example; ``family`` names its source (the generated pool's family, or a dataset)."""

    prompt: str
    response: str
    family: str = ""
    options: tuple[str, ...] = ()
    turns: tuple[tuple[str, str], ...] = ()
    """A multi-turn prompt as (role, content) pairs, the last one the user turn the response answers; empty for
    a single-turn example (then ``prompt`` is the user turn). ``prompt`` then holds the turns with role markers."""

    @property
    def prompt_text(self) -> str:
        return PROMPT_TEMPLATE.format(prompt=self.prompt)

    def chat_messages(self) -> list[dict]:
        """The prompt as chat messages (for a tokenizer's chat template)."""
        if self.turns:
            return [{"role": r, "content": c} for r, c in self.turns]
        return [{"role": "user", "content": self.prompt}]

    @property
    def first_user(self) -> str:
        """The first user message (what CCDS's BM25 and embedding selectors read)."""
        return next((c for r, c in self.turns if r == "user"), self.prompt) if self.turns else self.prompt

    @property
    def text(self) -> str:
        """Prompt and response as one training text (no end-of-sequence token)."""
        return self.prompt_text + self.response


@dataclass
class Task:
    """A target task: selectors see ``validation``, the trained model is scored on ``test``."""

    name: str
    pool: list[Example]
    validation: list[Example]
    test: list[Example]
    target_family: str | None = None
    """For a generated pool: the family whose share among selected examples is reported (target_share)."""
    pretrain: list[Example] = field(default_factory=list)
    """Corpus the tiny base models are pre-trained on (empty: the pool itself)."""

    def fingerprint(self) -> str:
        """A short hash of the pool, validation and test sets: cache keys depend on it."""
        h = hashlib.sha256()
        for part in (self.pool, self.validation, self.test, self.pretrain):
            for ex in part:
                h.update(ex.text.encode())
                h.update(b"\x00")
            h.update(b"\x01")
        return h.hexdigest()[:12]

    @property
    def pool_target_share(self) -> float:
        """Share of pool examples from the target family (nan without one)."""
        if not self.target_family:
            return float("nan")
        return sum(ex.family == self.target_family for ex in self.pool) / len(self.pool)


class DataError(CostlawError, ValueError):
    """A pool or task file cannot be read; the message names the file and the line."""


def _text(value, what: str, where: str) -> str:
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise DataError(f"{where}: {what} must be text, got {json.dumps(value)}")
    text = str(value)
    if not text.strip():
        raise DataError(f"{where}: {what} is empty")
    return text


LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
ROLE_NAMES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "chatgpt": "assistant",
              "bing": "assistant", "bard": "assistant", "model": "assistant", "system": "system"}
"""Role names of ShareGPT (``from``) and Tulu/open-instruct (``role``) rows, normalised."""


def role_marked(turns) -> str:
    """Turns as text with role markers (Tulu's ``<|user|>`` / ``<|assistant|>`` style), for the fixed template."""
    return "\n".join(f"<|{role}|>\n{content}" for role, content in turns)


def from_messages(msgs, family: str, options, where: str) -> Example:
    """A ``messages`` (Tulu: role/content) or ``conversations`` (ShareGPT: from/value) row: the last assistant
    turn is the response; earlier turns form the prompt, kept as turns (multi-turn keeps its role markers)."""
    if not isinstance(msgs, list) or not msgs:
        raise DataError(f"{where}: 'messages' must be a non-empty list")
    turns = []
    for m in msgs:
        if not isinstance(m, dict):
            raise DataError(f"{where}: every message must be a mapping")
        role = ROLE_NAMES.get(str(m.get("role", m.get("from", ""))).lower())
        if role is None:
            raise DataError(f"{where}: unknown role {m.get('role', m.get('from'))!r}")
        turns.append((role, _text(m.get("content", m.get("value")), f"messages[{len(turns)}].content", where)))
    last = max((i for i, (r, _) in enumerate(turns) if r == "assistant"), default=None)
    if last is None:
        raise DataError(f"{where}: no assistant turn in 'messages'")
    before = tuple(turns[:last])
    if not before:
        raise DataError(f"{where}: the assistant turn has no prompt before it")
    single = len(before) == 1 and before[0][0] == "user"
    prompt = before[0][1] if single else role_marked(before)
    return Example(prompt, turns[last][1], family, options, () if single else before)


def from_mmlu(row, family: str, where: str) -> Example:
    """MMLU (cais/mmlu): question + lettered choices -> the answer letter; the subject is the family."""
    choices = [str(c) for c in row["choices"]]
    answer = row["answer"]
    index = answer if isinstance(answer, int) else LETTERS.index(str(answer).strip().upper()[:1])
    if not 0 <= index < len(choices):
        raise DataError(f"{where}: answer {answer!r} is not one of {len(choices)} choices")
    letters = tuple(LETTERS[:len(choices)])
    lines = [str(row["question"]).strip()] + [f"{x}. {c}" for x, c in zip(letters, choices)] + ["Answer:"]
    return Example("\n".join(lines), letters[index], str(row.get("subject") or family), letters)


def example_from_row(row: dict, where: str = "", family: str = "") -> Example:
    """Parse one row in a known format (the first that fits):

    * ``messages`` (Tulu/open-instruct) or ``conversations`` (ShareGPT): the last assistant turn is the response;
    * MMLU: ``question``, ``choices``, ``answer`` (index or letter), ``subject`` (the family);
    * Flan: ``inputs``/``targets`` (family from ``_task_name``/``task_name``/``task``);
    * BBH: ``input``/``target``;
    * ``prompt``/``response``, ``instruction``(+``input``)/``output`` (Alpaca), ``question``/``answer``.

    ``family`` (e.g. the dataset config) is used when the row names none; ``options`` give multiple choice.
    """
    if not isinstance(row, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(row).__name__} {json.dumps(row)[:60]}")
    family = str(row.get("family") or row.get("source") or row.get("dataset") or row.get("_task_name")
                 or row.get("task_name") or row.get("task") or row.get("subject") or family or "")
    options = row.get("options", ()) or ()
    if not isinstance(options, (list, tuple)):
        raise DataError(f"{where}: 'options' must be a list of texts")
    options = tuple(_text(o, f"options[{i}]", where) for i, o in enumerate(options))
    for key in ("messages", "conversations"):
        if key in row:
            return from_messages(row[key], family, options, where)
    if {"question", "choices", "answer"} <= set(row):
        return from_mmlu(row, family, where)
    if "instruction" in row and "output" in row and row.get("input"):
        return Example(f"{_text(row['instruction'], 'instruction', where)}\n\n{row['input']}",
                       _text(row["output"], "'output'", where), family, options)
    for p_key, r_key in (("prompt", "response"), ("inputs", "targets"), ("input", "target"),
                         ("instruction", "output"), ("question", "answer")):
        if p_key in row and r_key in row:
            return Example(_text(row[p_key], f"'{p_key}'", where), _text(row[r_key], f"'{r_key}'", where),
                           family, options)
    raise DataError(f"{where}: no known format (messages, conversations, MMLU question/choices/answer, "
                    f"Flan inputs/targets, BBH input/target, prompt/response); keys {sorted(row)}")


def read_jsonl(path) -> list[Example]:
    """Read examples from a JSONL file; a bad line raises DataError naming the file and line."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"no such file: {path}")
    if not path.is_file():
        raise DataError(f"not a file: {path}")
    out = []
    with path.open(encoding="utf-8") as fh:
        i = 0
        try:
            for i, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as err:
                    raise DataError(f"{path}:{i}: not JSON ({err.msg})") from None
                out.append(example_from_row(row, f"{path}:{i}"))
        except UnicodeDecodeError as err:
            raise DataError(f"{path}:{i + 1}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    if not out:
        raise DataError(f"{path}: no examples")
    return out


def write_jsonl(examples, path) -> None:
    """Write examples in the ``prompt``/``response`` format (plus family and options when set)."""
    with Path(path).open("w", encoding="utf-8") as fh:
        for ex in examples:
            row = {"prompt": ex.prompt, "response": ex.response}
            if ex.family:
                row["family"] = ex.family
            if ex.options:
                row["options"] = list(ex.options)
            fh.write(json.dumps(row) + "\n")


def read_hf(name: str, split: str = "train", config: str | None = None, limit: int | None = None) -> list[Example]:
    """Load a Hugging Face ``datasets`` dataset (a hub name with the network or a local cache, or a local folder).

    ``split`` may use the library's slicing (``test[:500]``); ``limit`` keeps the first rows. The config name is
    the family when rows name none (BBH's subtasks).
    """
    try:
        import datasets
    except ImportError:
        raise DataError("reading a Hugging Face dataset needs the 'datasets' package "
                        "(pip install 'costlaw[harness]')") from None
    try:
        ds = datasets.load_dataset(name, config, split=split)
    except Exception as err:  # offline machines fail here with many different exception types
        raise DataError(f"cannot load dataset {name!r} ({type(err).__name__}: {str(err).splitlines()[0][:200]})") from None
    rows = ds if limit is None else ds.select(range(min(limit, len(ds))))
    return [example_from_row(dict(r), f"{name}[{i}]", config or "") for i, r in enumerate(rows)]


def parse_hf_source(source: str) -> dict:
    """``hf:NAME[:CONFIG]:SPLIT[@LIMIT]`` -> {name, config, split, limit} (a bare ``hf:NAME`` is the train split)."""
    body = source[3:]
    limit = None
    if "@" in body:
        body, _, raw = body.rpartition("@")
        if not raw.isdigit() or int(raw) < 1:
            raise DataError(f"{source}: the row limit after '@' must be a positive integer")
        limit = int(raw)
    slicing = ""
    if body.endswith("]") and "[" in body:  # datasets' split slicing, e.g. test[:500]
        body, slicing = body[:body.rindex("[")], body[body.rindex("["):]
    parts = body.split(":")
    parts[-1] += slicing
    if not parts[0] or len(parts) > 3:
        raise DataError(f"{source}: expected hf:NAME[:CONFIG]:SPLIT[@LIMIT]")
    if len(parts) == 1:
        return {"name": parts[0], "config": None, "split": "train", "limit": limit}
    if len(parts) == 2:
        return {"name": parts[0], "config": None, "split": parts[1], "limit": limit}
    return {"name": parts[0], "config": parts[1], "split": parts[2], "limit": limit}


def read_examples(source) -> list[Example]:
    """A JSONL path, or ``hf:NAME[:CONFIG]:SPLIT[@LIMIT]`` for a Hugging Face dataset (``hf:cais/mmlu:all:test@500``)."""
    source = str(source)
    if source.startswith("hf:"):
        return read_hf(**parse_hf_source(source))
    return read_jsonl(source)
