"""Run every benchmark and print its figures (python3 tasks.py bench)."""
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

for script in ("bench_load.py", "bench_train_step.py", "bench_many_seeds.py", "bench_notebooks.py",
               "bench_grading_phases.py", "bench_autograde.py"):
    print(f"== {script}", flush=True)
    subprocess.run([sys.executable, str(HERE / script)], check=True)
