"""A scratch copy of the repository for scripts that plant bugs and rebuild there
(scripts/mutation-test.py, scripts/jepsen-teeth.py)."""
import os
import subprocess


def sync(root, dest):
    """Copies every tracked or untracked-but-not-ignored file of `root` to `dest`, rewriting only
    files whose bytes differ, so their mtime moves forward and ninja rebuilds exactly what changed
    (copying mtimes could leave stale objects behind)."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=root, capture_output=True,
                           text=True, check=True).stdout.split()
    for f in files:
        dst = os.path.join(dest, f)
        data = open(os.path.join(root, f), "rb").read()
        if os.path.exists(dst) and open(dst, "rb").read() == data:
            continue
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        open(dst, "wb").write(data)
