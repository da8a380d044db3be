"""xrdsym.io."""
