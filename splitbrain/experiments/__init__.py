"""Runnable experiments: ``python -m splitbrain.experiments.<name>``.

``margin``: time to margin. Pretrain with a named recipe, then put the pretrained network and
the same network at random initialisation through the same linear probe (layer chosen on a
validation part, scored on held-out images), and report both, the gap, and what it cost.
``reproduce``: the experiment grids, resumable. ``report``: the README's sections from the records.
"""
