"""Tune any program from a spec: ``oppertune tune SPEC -- COMMAND``."""
