"""Run every benchmark in bench/ and print one line each; exit 1 if any misses its target."""

import subprocess
import sys
from pathlib import Path

here = Path(__file__).resolve().parent
failed = []
for script in sorted(here.glob("bench_*.py")):
    print(f"== {script.name}", flush=True)
    if subprocess.run([sys.executable, str(script)], cwd=here).returncode:
        failed.append(script.name)
print("all targets met" if not failed else f"missed: {', '.join(failed)}")
sys.exit(1 if failed else 0)
