"""Everything trainable: the networks, what wraps them, and named unknown scalars."""
