"""Research tooling beside the library, run from the repository (not installed with xrdsym):
the results report and model card (``python -m research.report``), the ablation of the
laboratory augmentations (``python -m research.ablation``), the measured-versus-simulated gap
analysis (``gap``, ``python -m research.compare``), the survey of the measured sets
(``python -m research.survey``) and the evaluation of indexing joined with the network
(``python -m research.evaluate_indexing``).

It imports ``xrdsym``; ``xrdsym`` imports nothing from here (``tests/test_layers.py``).
"""
