"""How a notebook runs: set-up and `Run`, profiles, checks, training with resume, where runs write,
quiet start-up, argument validation, and the rehearsal label. Imports nothing else of cnnlib."""
