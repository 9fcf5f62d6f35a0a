"""Predictions -> numbers: metrics, their intervals, diagnostics and the class-count sweep."""
