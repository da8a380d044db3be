"""xrdsym.datasets."""
