"""xrdsym.symmetry."""
