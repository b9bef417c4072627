"""Evaluation: metrics as pure functions, and the offline MNIST classifier that supplies their features.

`metrics` (FID, KID, classifier score, precision/recall), `support` (nearest neighbours, modes, birthday test),
`twosample` (MMD and classifier two-sample tests), `classifier` (the committed MNIST CNN and its weights),
`mnist` (all of them applied to an MNIST or Stacked MNIST generator) and `probe` (gradient probes of a frozen
generator). Used by the trainer during training and by the studies; it never imports the trainer.
"""
