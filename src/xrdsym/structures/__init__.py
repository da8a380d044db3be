"""Crystal structures: reading CIF sources, symmetry labelling, generated crystals."""
