"""Matplotlib figures the chapters show, one module per topic; every function returns a Figure."""
