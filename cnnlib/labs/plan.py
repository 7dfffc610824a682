"""How long an exercise takes a learner: planning estimates for lab plans and INSTRUCTORS.md.

These are estimates, not measurements: a rule by difficulty and kind, with the exceptions named
below where an exercise trains models (each attempt then waits for a training run). The kit's
exercise tables and its glance table are generated from here, so changing a number here and
running `python tests/unit/test_instructors_kit.py --write` is the only way to change them.
"""

# A learner who read the notebook: a prediction is worked out on paper, an implementation written
# and debugged against the check, a design tried more than once, an experiment run and read.
BY_DIFFICULTY_AND_KIND = {
    ("warm-up", "predict"): 5,
    ("warm-up", "implement"): 10,
    ("core", "predict"): 10,
    ("core", "implement"): 15,
    ("core", "design"): 15,
    ("core", "experiment"): 15,
    ("stretch", "predict"): 15,
    ("stretch", "implement"): 25,
    ("stretch", "design"): 20,
}
# Exercises whose check or whose experiment trains networks: add the waiting.
TRAINING = {"05.small_cnn": 10, "05.learning_rate": 10, "07.features_vs_end_to_end": 5}


def minutes(exercise):
    """Estimated minutes for `exercise` (a registered `Exercise`)."""
    key = (exercise.difficulty, exercise.kind)
    if key not in BY_DIFFICULTY_AND_KIND:
        raise ValueError(f"no time estimate for a {exercise.difficulty} {exercise.kind} exercise")
    return BY_DIFFICULTY_AND_KIND[key] + TRAINING.get(exercise.id, 0)
