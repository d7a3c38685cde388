"""Conformance checks for plugin authors (scikit-learn's check_estimator for unic-bench plugins)."""
