"""Engine parity suite (see conftest.py)."""
