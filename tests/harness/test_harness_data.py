import json

import pytest

pytest.importorskip("torch")

from costlaw.harness.data import DataError, Example, read_examples, read_jsonl, write_jsonl  # noqa: E402
from costlaw.harness.pool import FAMILIES, generated_task  # noqa: E402


def test_reads_messages_and_prompt_response(tmp_path):
    path = tmp_path / "pool.jsonl"
    rows = [{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi?"},
                          {"role": "assistant", "content": "Hello."}], "source": "oasst"},
            {"prompt": "2+2?", "response": "4"}, {"instruction": "Say yes", "output": "yes"}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    got = read_examples(path)
    assert got[0] == Example("<|system|>\nBe brief.\n<|user|>\nHi?", "Hello.", "oasst",
                             turns=(("system", "Be brief."), ("user", "Hi?")))  # role markers kept
    assert (got[1].prompt, got[1].response) == ("2+2?", "4")
    assert got[2].response == "yes"


def test_bad_line_names_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"prompt": "a", "response": "b"}\n{not json\n')
    with pytest.raises(DataError, match=r"bad.jsonl:2"):
        read_jsonl(path)
    path.write_text('{"text": "no keys"}\n')
    with pytest.raises(DataError, match="messages"):
        read_jsonl(path)


def test_jsonl_round_trip_keeps_options(tmp_path):
    ex = [Example("Pick", "b", "mc", ("a", "b", "c"))]
    write_jsonl(ex, tmp_path / "t.jsonl")
    assert read_jsonl(tmp_path / "t.jsonl") == ex


def test_generated_task_shares_and_disjoint_held_out():
    task = generated_task(target="upper", pool_examples=600, validation_examples=10, test_examples=20,
                          pretrain_examples=100)
    assert task.pool_target_share == pytest.approx(1 / len(FAMILIES), abs=0.01)
    assert {ex.family for ex in task.validation + task.test} == {"upper"}
    assert "upper" not in {ex.family for ex in task.pretrain}
    assert not {ex.prompt for ex in task.pool} & {ex.prompt for ex in task.test + task.validation}
    assert all(ex.response in ex.options and len(ex.options) == 4 for ex in task.test)
    assert task.fingerprint() == generated_task(target="upper", pool_examples=600, validation_examples=10,
                                                test_examples=20, pretrain_examples=100).fingerprint()
