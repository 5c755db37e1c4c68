"""Every configuration field has one role, written beside it, and the field lists derive from it."""
import dataclasses

import pytest

from splitbrain import presets
from splitbrain.presets import EvalConfig, PretrainConfig


@pytest.mark.parametrize("cls", [PretrainConfig, EvalConfig], ids=lambda c: c.__name__)
def test_every_field_has_a_known_role(cls):
    unclassified = [f.name for f in dataclasses.fields(cls) if f.metadata.get("role") not in presets.FIELD_ROLES]
    assert not unclassified, f"{cls.__name__} fields without a role (use presets._field): {unclassified}"


def test_the_field_lists_are_the_roles():
    assert set(presets.MODEL_FIELDS) == {"method", "arch", "width", "color_space", "image_size", "grid", "bins1", "bins2"}
    assert presets.DAE_FIELDS == ("noise", "noise_level")
    # the fields a finished stage or checkpoint may differ in and still count
    assert presets.MACHINERY_FIELDS == {"out", "record_dir", "progress", "verbose", "device", "num_workers", "data_root",
                                        "in_memory", "download", "log_every", "amp", "channels_last", "compile",
                                        "feature_batch_size", "bad_images"}
    assert presets.FINETUNE_ONLY_FIELDS == {
        "finetune_epochs", "finetune_lr", "finetune_weight_decay", "finetune_batch_size", "finetune_precise_bn",
        "augment", "finetune_optimizer", "finetune_schedule", "finetune_warmup", "finetune_images", "finetune_trunk_lr",
        "finetune_head", "finetune_head_layer", "finetune_crop_padding", "finetune_val_points", "finetune_trials"}
    # no field is both what a run computes and how it runs
    for cls in (PretrainConfig, EvalConfig):
        names = [f.name for f in dataclasses.fields(cls)]
        assert sum(len(presets.fields_with_role(cls, role)) for role in presets.FIELD_ROLES) == len(names)


def test_a_field_with_an_unknown_role_is_refused():
    with pytest.raises(ValueError, match="role must be one of"):
        presets._field("speed", 1)


def test_the_vocabularies_come_from_the_modules_that_implement_them():
    from splitbrain import color, data, models

    assert presets.ARCHITECTURES is models.ARCHITECTURES and presets.WIDTHS is models.WIDTHS
    assert presets.NOISES is models.NOISE_TYPES and presets.DATASETS is data.DATASET_NAMES
    assert presets.COLOR_SPACE_NAMES == tuple(color.COLOR_SPACES)
