"""sandbox: a GAN theory-and-dynamics laboratory.

Conventions (tested in tests/test_conventions.py):
  * D returns a logit t, large on real data; probabilities are sigmoid(t).
  * -log sigmoid(t) = softplus(-t) and -log(1 - sigmoid(t)) = softplus(t); no log(sigmoid(.)) anywhere.
  * R1/R2 = gamma/2 * E||grad_x D||^2; WGAN-GP = lam * E(||grad D(x_hat)|| - 1)^2, norm per sample.
  * Alternating updates step D first, n_critic (= n_d) times per G step.
  * Divergences are in nats.
"""

__version__ = "0.1.0"
