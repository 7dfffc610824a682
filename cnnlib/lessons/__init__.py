"""What a learner may read: the from-scratch operations, kernels, windows, receptive fields and
architectures the notebooks compare Keras against, and the helpers that draw them."""
