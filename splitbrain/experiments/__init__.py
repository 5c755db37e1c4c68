"""Runnable experiments: ``python -m splitbrain.experiments.<name>``.

``sanity``: does pretraining learn anything? Pretrain on real photographs, then put the
pretrained network and the same network at random initialisation through the same linear
probe on held-out images, and report both and the margin.
"""
