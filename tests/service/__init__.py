"""Tests of the tuning service (oppertune.service)."""
