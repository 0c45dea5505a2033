"""A demo of the after-sales pipeline: a compressed-time policy and a script of realistic cases."""
