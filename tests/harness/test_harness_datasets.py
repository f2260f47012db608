"""Real dataset formats through ``hf:NAME[:CONFIG]:SPLIT[@LIMIT]``, on local folders shaped like them (issue 9: 6)."""
import json

import pytest

from costlaw.harness.data import DataError, example_from_row, parse_hf_source, read_examples

pytest.importorskip("datasets")

MMLU = [{"question": f"What is {i}+{i}?", "subject": "elementary_mathematics",
         "choices": [str(2 * i), str(2 * i + 1), "7", "none"], "answer": 0} for i in range(5)] + \
       [{"question": "Capital of France?", "subject": "geography", "choices": ["Rome", "Paris", "Oslo", "Bern"],
         "answer": 1}]
README = """---
configs:
- config_name: all
  data_files:
  - split: test
    path: all/test.jsonl
  - split: dev
    path: all/dev.jsonl
- config_name: geography
  data_files:
  - split: test
    path: geography/test.jsonl
---
"""


def _write(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.fixture()
def mmlu_dir(tmp_path):
    root = tmp_path / "mmlu"
    _write(root / "all" / "test.jsonl", MMLU)
    _write(root / "all" / "dev.jsonl", MMLU[:2])
    _write(root / "geography" / "test.jsonl", MMLU[-1:])
    (root / "README.md").write_text(README)
    return root


def test_mmlu_rows_become_lettered_questions_with_the_subject_as_family(mmlu_dir):
    exs = read_examples(f"hf:{mmlu_dir}:all:test")
    assert len(exs) == 6
    paris = exs[-1]
    assert paris.prompt == "Capital of France?\nA. Rome\nB. Paris\nC. Oslo\nD. Bern\nAnswer:"
    assert paris.response == "B" and paris.options == ("A", "B", "C", "D") and paris.family == "geography"
    assert exs[0].family == "elementary_mathematics" and exs[0].response == "A"
    assert len(read_examples(f"hf:{mmlu_dir}:all:test@3")) == 3  # a row limit
    assert len(read_examples(f"hf:{mmlu_dir}:all:test[:2]")) == 2  # the library's own split slicing
    assert [e.family for e in read_examples(f"hf:{mmlu_dir}:geography:test")] == ["geography"]


def test_bbh_flan_tulu_and_sharegpt_shapes(tmp_path):
    _write(tmp_path / "bbh" / "test.jsonl", [{"input": "not ( True ) and ( True ) is", "target": "False"}])
    bbh = read_examples(f"hf:{tmp_path / 'bbh'}:test")[0]
    assert (bbh.prompt, bbh.response) == ("not ( True ) and ( True ) is", "False")
    _write(tmp_path / "flan" / "train.jsonl", [{"inputs": "Translate: chat", "targets": "cat",
                                               "_task_name": "wmt", "_template_type": "zs_opt"}])
    flan = read_examples(f"hf:{tmp_path / 'flan'}")[0]
    assert (flan.prompt, flan.response, flan.family) == ("Translate: chat", "cat", "wmt")
    tulu = {"dataset": "oasst1", "messages": [{"role": "user", "content": "hi"},
                                              {"role": "assistant", "content": "hello"},
                                              {"role": "user", "content": "name a colour"},
                                              {"role": "assistant", "content": "blue"}]}
    _write(tmp_path / "tulu" / "train.jsonl", [tulu])
    t = read_examples(f"hf:{tmp_path / 'tulu'}:train")[0]
    assert t.response == "blue" and t.family == "oasst1"
    assert t.turns == (("user", "hi"), ("assistant", "hello"), ("user", "name a colour"))
    assert t.prompt == "<|user|>\nhi\n<|assistant|>\nhello\n<|user|>\nname a colour"  # role markers kept
    assert t.first_user == "hi"
    share = example_from_row({"conversations": [{"from": "human", "value": "2+2?"}, {"from": "gpt", "value": "4"}]})
    assert (share.prompt, share.response, share.turns) == ("2+2?", "4", ())


def test_bad_sources_and_rows_say_what_is_wrong(tmp_path):
    assert parse_hf_source("hf:cais/mmlu:all:test@500") == {"name": "cais/mmlu", "config": "all", "split": "test",
                                                            "limit": 500}
    for bad in ("hf:a:b:c:d", "hf:x:test@0", "hf::test"):
        with pytest.raises(DataError):
            parse_hf_source(bad)
    with pytest.raises(DataError, match="no known format"):
        example_from_row({"text": "x"})
    with pytest.raises(DataError, match="not one of"):
        example_from_row({"question": "q", "choices": ["a", "b"], "answer": 3})
    with pytest.raises(DataError, match="cannot load"):
        read_examples(f"hf:{tmp_path / 'missing'}:test")
