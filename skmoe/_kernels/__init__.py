"""Array kernels of the EM loop: numpy reference (_xp) and numba (_numba)."""
