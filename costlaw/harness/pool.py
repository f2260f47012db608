"""The offline default task: a generated multi-family instruction pool with one target family.

Six templated families (add, reverse, upper, sort, copy, antonym), each with three instruction phrasings, in
offline.md's ``### Instruction / ### Response`` format (~20 BPE tokens per example). The target family makes up
1/6 of the pool; tiny base models are pre-trained on the other five, so finetuning on the target family is what
moves the test score and selection visibly matters.
"""
from __future__ import annotations

import random

from .data import Example, Task

FAMILIES = ("add", "reverse", "upper", "sort", "copy", "antonym")

_TEMPLATES = {
    "add": ("What is {a} plus {b}?", "Add {a} and {b}.", "Compute the sum of {a} and {b}."),
    "reverse": ("Reverse the order of these words: {w}", "Write these words backwards in order: {w}",
                "Give the words in reverse order: {w}"),
    "upper": ("Convert to uppercase: {w}", "Write in capital letters: {w}", "Uppercase this text: {w}"),
    "sort": ("Sort these numbers in ascending order: {n}", "Order from smallest to largest: {n}",
             "Arrange in increasing order: {n}"),
    "copy": ("Repeat exactly: {w}", "Copy this text: {w}", "Echo the following words: {w}"),
    "antonym": ("What is the opposite of {x}?", "Give an antonym for {x}.", "Name the opposite word of {x}."),
}
_ANTONYMS = (
    ("hot", "cold"), ("big", "small"), ("up", "down"), ("fast", "slow"), ("light", "dark"), ("old", "new"),
    ("open", "closed"), ("early", "late"), ("happy", "sad"), ("high", "low"), ("hard", "soft"), ("wet", "dry"),
    ("rich", "poor"), ("full", "empty"), ("strong", "weak"), ("long", "short"), ("near", "far"), ("thick", "thin"),
    ("loud", "quiet"), ("clean", "dirty"), ("win", "lose"), ("buy", "sell"), ("push", "pull"), ("first", "last"),
    ("inside", "outside"), ("left", "right"), ("true", "false"), ("give", "take"), ("before", "after"),
    ("heavy", "light"), ("sweet", "sour"), ("wide", "narrow"), ("young", "old"), ("start", "finish"),
)
_SYLLABLES = ("ka", "lo", "mi", "tu", "re", "sa", "no", "pi", "ve", "do", "gu", "fe", "zi", "ba", "ro", "te")


def _word(rng: random.Random) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(1, 3)))


def make_example(family: str, rng: random.Random) -> Example:
    """One example of ``family`` drawn with ``rng``."""
    template = rng.choice(_TEMPLATES[family])
    if family == "add":
        a, b = rng.randint(0, 99), rng.randint(0, 99)
        return Example(template.format(a=a, b=b), str(a + b), family)
    if family == "sort":
        nums = [rng.randint(0, 99) for _ in range(rng.randint(3, 5))]
        return Example(template.format(n=" ".join(map(str, nums))), " ".join(map(str, sorted(nums))), family)
    if family == "antonym":
        a, b = rng.choice(_ANTONYMS)
        if rng.random() < 0.5:
            a, b = b, a
        return Example(template.format(x=a), b, family)
    words = [_word(rng) for _ in range(rng.randint(2, 4))]
    text = " ".join(words)
    response = {"reverse": " ".join(reversed(words)), "upper": text.upper(), "copy": text}[family]
    return Example(template.format(w=text), response, family)


def generated_pool(n_examples: int, rng: random.Random, families=FAMILIES) -> list[Example]:
    """``n_examples`` examples, the families in equal shares, shuffled."""
    out = [make_example(families[i % len(families)], rng) for i in range(n_examples)]
    rng.shuffle(out)
    return out


def _with_options(examples: list[Example], rng: random.Random, n_options: int) -> list[Example]:
    """Give each test example ``n_options`` choices: its response and distinct responses of other examples."""
    responses = sorted({ex.response for ex in examples})
    out = []
    for ex in examples:
        wrong = [r for r in rng.sample(responses, min(len(responses), n_options + 2)) if r != ex.response]
        options = [ex.response] + wrong[: n_options - 1]
        rng.shuffle(options)
        out.append(Example(ex.prompt, ex.response, ex.family, tuple(options)))
    return out


def generated_task(target: str = "copy", pool_examples: int = 5000, validation_examples: int = 32,
                   test_examples: int = 100, pretrain_examples: int = 4000, n_options: int = 4,
                   seed: int = 0) -> Task:
    """The offline default task: a pool of ``pool_examples``, target family ``target``.

    Validation and test examples are of the target family and disjoint from the pool (by prompt); the
    pre-training corpus holds only the other families.
    """
    if target not in FAMILIES:
        raise ValueError(f"unknown target family {target!r}; known: {', '.join(FAMILIES)}")
    rng = random.Random(seed)
    pool = generated_pool(pool_examples, rng)
    seen = {ex.prompt for ex in pool}
    held_out: list[Example] = []
    while len(held_out) < validation_examples + test_examples:
        ex = make_example(target, rng)
        if ex.prompt not in seen:
            seen.add(ex.prompt)
            held_out.append(ex)
    others = tuple(f for f in FAMILIES if f != target)
    pretrain = generated_pool(pretrain_examples, rng, others)
    test = _with_options(held_out[validation_examples:], rng, n_options)
    return Task(f"gen-{target}", pool, held_out[:validation_examples], test, target, pretrain)
