"""The trainer: one loop from the Dirac-GAN to image GANs, on the shared objective, penalty and update-rule code.

`config` (one dataclass of every field and why) and `presets` (paper algorithm boxes); `parts` (data, players,
game, optimisers, built from the config: the only place names become objects); `loop` (make_run, run_steps,
train); `ensemble` (K seeds as one batched model); `distributed` (torchrun data parallelism); `checkpoint`
(atomic, weights-only); `runfolder` (which folder a run writes, and its rules); `runlog` (meters, metrics.jsonl,
sample plots, the EMA generator); `evaluate` (FID or modes of a run, during training and as `sandbox-eval`); `api`
(load_run, load_generator, sample, train_resumable); `probes` (a fresh D against a frozen G).
The command line is `python -m sandbox.trainer` (`__main__`, installed as `sandbox-train`).
"""
