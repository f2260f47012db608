"""The ``rules`` benchmark task: a target skill that lexical similarity finds only partly and a model finds well.

Every example asks for a short list of words (3-4, from one of six topics) to be written out joined in one of
six ways (the *rules*: ", ", " and ", " or ", " then ", " - ", " / "). The words of a response are those of the
prompt, so what a model must learn for a rule is its separator, a token that BM25 never sees (bm25s drops
punctuation and English stopwords such as "and", "or", "then"). The target is one rule (default ``then``):

* **Surface form differs.** The target's validation and test prompts use their own phrasings
  (``VALIDATION_PHRASINGS``) and draw their words from one topic (``target_topic``). In the pool the target rule
  is mostly phrased differently (``POOL_PHRASINGS``); only ``leak_share`` of its examples use a validation
  phrasing. The pool's *other* rules reuse the validation phrasings' wording (give, read, write, words, list,
  items, sequence, one after another) over every topic, so a lexical match to the validation set is mostly a
  **decoy**: the same words, another separator. BM25 finds the target only partly.
* **A model finds it.** A selector tuned on the validation set predicts the target's separator whatever the
  prompt says (PPL), and a target example's gradient points where the validation gradients point (LESS). How
  well depends on how well the selector learned the separator in its tuning budget: bigger selectors learn it
  faster and select better.
* **A large effect.** Tiny base models are pre-trained on the other five rules only, so zero-shot they put almost
  no probability on the target's separator; a few target examples teach it, and decoys teach another separator
  for the validation phrasing.

The task's measured properties (BM25 purity, selector-size effect, effect size against seed noise) are in
docs/ratio.md.
"""
from __future__ import annotations

import random

from .data import Example, Task

RULES = ("comma", "and", "or", "then", "dash", "slash")
"""How the listed words are joined in the response: ", ", " and ", " or ", " then ", " - ", " / "."""
SEPARATORS = {"comma": ", ", "and": " and ", "or": " or ", "then": " then ", "dash": " - ", "slash": " / "}

TOPICS = {
    "fruit": ("apple", "pear", "plum", "grape", "lemon", "mango", "peach", "melon", "lime", "fig", "kiwi",
              "cherry"),
    "tool": ("hammer", "saw", "drill", "wrench", "nail", "screw", "file", "chisel", "clamp", "rake", "spade",
             "axe"),
    "animal": ("cat", "dog", "horse", "sheep", "goat", "mouse", "tiger", "lion", "bear", "wolf", "fox", "deer"),
    "color": ("red", "blue", "green", "yellow", "purple", "orange", "black", "white", "brown", "pink", "gray",
              "gold"),
    "city": ("paris", "rome", "berlin", "madrid", "vienna", "oslo", "lisbon", "prague", "dublin", "athens",
             "warsaw", "sofia"),
    "body": ("hand", "foot", "head", "knee", "elbow", "neck", "nose", "ear", "eye", "arm", "leg", "chin"),
}

VALIDATION_PHRASINGS = {
    "then": ("Give these words in a sequence: {w}", "Read the list out in a sequence: {w}",
             "Write the items one after another: {w}"),
}
"""How the target rule is asked for in validation and test (and in ``leak_share`` of its pool examples)."""

POOL_PHRASINGS = {
    "comma": ("Give these words as a list: {w}", "Read the list out: {w}", "Write the items of the list: {w}",
              "Enumerate: {w}"),
    "and": ("Give these words all together: {w}", "Read the list out as a whole: {w}",
            "Write the items one with another: {w}", "Combine: {w}"),
    "or": ("Give these words as a choice: {w}", "Read the list out as options: {w}",
           "Write the items one instead of another: {w}", "Alternatives: {w}"),
    "then": ("Chain: {w}", "Order of events: {w}", "Step by step, please: {w}", "Narrate the steps: {w}"),
    "dash": ("Give these words in a sequence with dashes: {w}", "Read the list out in a line: {w}",
             "Write the items one after another, hyphenated: {w}", "Hyphenate: {w}"),
    "slash": ("Give these words in a sequence with slashes: {w}", "Read the list out in a path: {w}",
              "Write the items one after another as a path: {w}", "Path: {w}"),
}
"""Pool phrasings per rule: the non-target rules reuse the validation wording (give/read/write, words, list,
items, sequence, one after another); the target rule's own pool phrasings share none of it."""


def apply_rule(rule: str, words: list[str]) -> str:
    """The response: ``words`` joined by ``rule``'s separator (one of RULES)."""
    if rule not in SEPARATORS:
        raise ValueError(f"unknown rule {rule!r}; known: {', '.join(RULES)}")
    return SEPARATORS[rule].join(words)


def _words(rng: random.Random, topic: str, n_words: tuple[int, int]) -> list[str]:
    return rng.sample(TOPICS[topic], rng.randint(*n_words))


def rule_example(rule: str, topic: str, phrasing: str, rng: random.Random, n_words=(3, 4)) -> Example:
    """One example: ``phrasing`` with the words of ``topic`` rearranged by ``rule`` (family = the rule)."""
    words = _words(rng, topic, n_words)
    return Example(phrasing.format(w=" ".join(words)), apply_rule(rule, words), rule)


def rules_pool(n_examples: int, rng: random.Random, target: str, leak_share: float, rules=RULES,
               n_words=(3, 4)) -> list[Example]:
    """``n_examples`` pool examples, rules and topics in equal shares; the target rule uses a validation
    phrasing in ``leak_share`` of its examples and its own pool phrasings otherwise."""
    topics = list(TOPICS)
    out = []
    for i in range(n_examples):
        rule = rules[i % len(rules)]
        topic = topics[(i // len(rules)) % len(topics)]
        if rule == target and rng.random() < leak_share:
            phrasing = rng.choice(VALIDATION_PHRASINGS[target])
        else:
            phrasing = rng.choice(POOL_PHRASINGS[rule])
        out.append(rule_example(rule, topic, phrasing, rng, n_words))
    rng.shuffle(out)
    return out


def _with_options(examples: list[Example], rng: random.Random, n_options: int) -> list[Example]:
    """Multiple choice: the right response and the responses other rules give, shuffled."""
    out = []
    for ex in examples:
        words = ex.prompt.split(": ", 1)[1].split()
        wrong = list(dict.fromkeys(apply_rule(r, words) for r in RULES))
        wrong = [w for w in wrong if w != ex.response]
        rng.shuffle(wrong)
        options = [ex.response] + wrong[:n_options - 1]
        rng.shuffle(options)
        out.append(Example(ex.prompt, ex.response, ex.family, tuple(options)))
    return out


def rules_task(target: str = "then", target_topic: str = "fruit", pool_examples: int = 1800,
               validation_examples: int = 32, test_examples: int = 100, pretrain_examples: int = 4000,
               leak_share: float = 0.3, n_options: int = 4, n_words=(3, 4), seed: int = 0) -> Task:
    """The ``rules`` task (see the module docstring): pool, validation and test, and a pre-training corpus of
    the other rules (all topics, pool phrasings). Validation and test are disjoint from the pool by prompt."""
    if target not in VALIDATION_PHRASINGS:
        raise ValueError(f"target must be one of {', '.join(VALIDATION_PHRASINGS)}, got {target!r}")
    if target_topic not in TOPICS:
        raise ValueError(f"unknown target_topic {target_topic!r}; known: {', '.join(TOPICS)}")
    if not 0 <= leak_share <= 1:
        raise ValueError(f"leak_share must be in [0, 1], got {leak_share}")
    n_words = tuple(n_words)
    rng = random.Random(seed)
    pool = rules_pool(pool_examples, rng, target, leak_share, n_words=n_words)
    seen = {ex.prompt for ex in pool}
    held_out: list[Example] = []
    while len(held_out) < validation_examples + test_examples:
        ex = rule_example(target, target_topic, rng.choice(VALIDATION_PHRASINGS[target]), rng, n_words)
        if ex.prompt not in seen:
            seen.add(ex.prompt)
            held_out.append(ex)
    others = tuple(r for r in RULES if r != target)
    pretrain = rules_pool(pretrain_examples, rng, target, 0.0, rules=others, n_words=n_words)
    test = _with_options(held_out[validation_examples:], rng, n_options)
    return Task(f"rules-{target}", pool, held_out[:validation_examples], test, target, pretrain)
