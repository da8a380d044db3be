"""The study tooling beside the library: reports and model cards (``report``), the ablation of
the laboratory augmentations (``ablation``), the packaging of the shipped model (``bundle``),
the measured-versus-simulated gap analysis (``gap``, ``xrdsym compare``) and the survey of the
measured sets (``survey``, ``python -m xrdsym.study.survey``).

The library (``xrdsym`` without this package) imports nothing from here.
"""
