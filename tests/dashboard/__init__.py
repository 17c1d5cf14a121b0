"""Tests of the dashboard: its chart data and its pages in a real browser."""
