"""Regenerate every golden file: python3 tests/golden/make_golden.py"""
import glob
import os
import runpy

here = os.path.dirname(os.path.abspath(__file__))
for script in sorted(glob.glob(os.path.join(here, "gen_*.py"))):
    runpy.run_path(script, run_name="__main__")
