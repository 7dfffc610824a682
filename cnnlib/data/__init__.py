"""Every download the course makes (Keras's cache, checksums, offline fallbacks): MNIST, the
ImageNet weights and the photo set, and the features computed from them."""
