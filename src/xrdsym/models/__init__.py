"""xrdsym.models."""
