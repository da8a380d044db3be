"""xrdsym.training."""
