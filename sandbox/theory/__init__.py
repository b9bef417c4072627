"""Theory: closed forms and derivations that need no training loop.

Divergences on discrete and sampled distributions (`divergences`), sympy derivations of the GAN identities
(`symbolic`) and of the low-dimensional games (`symbolic_games`), and the 1-D Gaussian games solved by quadrature
(`gaussian1d`). Built on the shared maths (objectives, penalties, games); nothing here imports the trainer.
"""
