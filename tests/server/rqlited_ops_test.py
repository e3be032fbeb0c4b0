#!/usr/bin/env python3
"""rqlited's operations endpoints as a real process (being written)."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rqlited_harness import Node  # noqa: E402,F401

RQLITED = None

if __name__ == "__main__":
    RQLITED = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
