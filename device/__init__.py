"""The toy: audio in, speech recognised on the toy, a minimal intent out through one gate."""
