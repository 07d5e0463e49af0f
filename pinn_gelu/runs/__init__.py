"""The run directory: what a finished run writes, the rules for writing it, and reading it back."""
