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


def example_from_row(row: dict, where: str = "") -> Example:
    """Parse one JSON row in the ``messages`` or ``prompt``/``response`` format."""
    family = str(row.get("family", row.get("source", row.get("dataset", ""))) or "")
    options = tuple(str(o) for o in row.get("options", ()) or ())
    if "messages" in row:
        msgs = row["messages"]
        if not isinstance(msgs, list) or not msgs:
            raise DataError(f"{where}: 'messages' must be a non-empty list")
        last = max((i for i, m in enumerate(msgs) if m.get("role") == "assistant"), default=None)
        if last is None:
            raise DataError(f"{where}: no assistant turn in 'messages'")
        prompt = "\n".join(str(m.get("content", "")) for m in msgs[:last])
        return Example(prompt, str(msgs[last].get("content", "")), family, options)
    for p_key, r_key in (("prompt", "response"), ("instruction", "output"), ("question", "answer")):
        if p_key in row and r_key in row:
            return Example(str(row[p_key]), str(row[r_key]), family, options)
    raise DataError(f"{where}: expected 'messages' or 'prompt'/'response' keys, got {sorted(row)}")


def read_jsonl(path) -> list[Example]:
    """Read examples from a JSONL file; a bad line raises DataError naming the file and line."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"no such file: {path}")
    out = []
    with path.open(encoding="utf-8") as fh:
        for i, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(f"{path}:{i}: not JSON ({err.msg})") from None
            out.append(example_from_row(row, f"{path}:{i}"))
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


def read_hf(name: str, split: str = "train", limit: int | None = None) -> list[Example]:
    """Load a Hugging Face ``datasets`` dataset by name (needs the network or a local cache)."""
    try:
        import datasets
    except ImportError:
        raise DataError("reading a Hugging Face dataset needs the 'datasets' package") from None
    try:
        ds = datasets.load_dataset(name, split=split)
    except Exception as err:  # offline machines fail here with many different exception types
        raise DataError(f"cannot load dataset {name!r} ({type(err).__name__}: {str(err).splitlines()[0][:200]})") from None
    rows = ds if limit is None else ds.select(range(min(limit, len(ds))))
    return [example_from_row(dict(r), f"{name}[{i}]") for i, r in enumerate(rows)]


def read_examples(source) -> list[Example]:
    """A JSONL path, or ``hf:NAME[:SPLIT]`` for a Hugging Face dataset."""
    source = str(source)
    if source.startswith("hf:"):
        parts = source[3:].split(":")
        return read_hf(parts[0], parts[1] if len(parts) > 1 else "train")
    return read_jsonl(source)
