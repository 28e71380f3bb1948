"""symbnn."""
