"""Steps 2 and 3 (train, encode): the VAE, its ELBO and training, encoding, and its figures."""
