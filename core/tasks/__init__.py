"""Task kinds: what a label is, which loss the head minimizes, and r = ∂ℓ/∂z (docs/tasks.md)."""
