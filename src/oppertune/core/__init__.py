"""Parameter types and the values that travel through the tuning loop."""
