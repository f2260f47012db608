"""Every field of a sweep config has a value check (costlaw/harness/fields.py), so a new field cannot skip one."""
import dataclasses

from costlaw.harness.config import SweepConfig
from costlaw.harness.fields import SWEEP_FIELDS, TRAIN_FIELDS
from costlaw.harness.train import TrainConfig


def test_every_config_field_has_a_value_check():
    assert {f.name for f in dataclasses.fields(SweepConfig)} <= set(SWEEP_FIELDS)
    assert {f.name for f in dataclasses.fields(TrainConfig)} <= set(TRAIN_FIELDS)
