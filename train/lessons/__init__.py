"""Teaching material: the numpy-vs-autograd gradient check and small step-by-step demos."""
