"""The one loader of networks to evaluate: a checkpoint's weights, its architecture at random
initialisation, or a configuration's fresh network."""
from __future__ import annotations

import pytest
import torch

from splitbrain.checkpoint import config_from_dict, load_checkpoint
from splitbrain.networks import load_network
from splitbrain.presets import get_preset


def test_a_checkpoint_gives_its_weights_and_configuration(smoke_checkpoint):
    model, config = load_network(smoke_checkpoint)
    saved = load_checkpoint(smoke_checkpoint)
    assert config == config_from_dict(saved["config"])
    assert all(torch.equal(value, saved["model"][key]) for key, value in model.state_dict().items())
    again, _ = load_network(saved)  # the loaded dict works as well as the path
    assert all(torch.equal(value, again.state_dict()[key]) for key, value in model.state_dict().items())


def test_random_initialisation_is_seeded_and_not_the_trained_network(smoke_checkpoint):
    trained, _ = load_network(smoke_checkpoint)
    first, config = load_network(smoke_checkpoint, random_init=True, seed=3)
    same, _ = load_network(smoke_checkpoint, random_init=True, seed=3)
    other, _ = load_network(smoke_checkpoint, random_init=True, seed=4)
    fresh, fresh_config = load_network(config, random_init=True, seed=3)  # from the configuration alone
    key = "half1.trunk.stages.conv1.0.weight"
    assert torch.equal(first.state_dict()[key], same.state_dict()[key])
    assert torch.equal(first.state_dict()[key], fresh.state_dict()[key]) and fresh_config == config
    assert not torch.equal(first.state_dict()[key], other.state_dict()[key])
    assert not torch.equal(first.state_dict()[key], trained.state_dict()[key])


def test_a_configuration_holds_no_weights():
    with pytest.raises(ValueError, match="a configuration holds no weights"):
        load_network(get_preset("smoke"))
    with pytest.raises(FileNotFoundError):
        load_network("no/such/checkpoint.pt")
