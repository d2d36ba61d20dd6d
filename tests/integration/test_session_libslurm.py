"""test_session_libslurm.py: every session test of test_session.py, with cluster hpc
configured as a SLURM submit host (transport: local, slurm_api: libslurm,
login_user: nbcommunity): nbgated asks SLURM through nbgate-slurmlib instead of
sbatch/squeue/scancel over SSH. The PBS cluster stays on SSH."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_session  # noqa: E402
from harness import BUILDDIR  # noqa: E402

if __name__ == "__main__":
    if not os.path.exists(os.path.join(BUILDDIR, "nbgate-slurmlib")):
        print("1..0 # SKIP nbgate-slurmlib not built (configure found no libslurm)", flush=True)
        sys.exit(0)
    test_session.main("libslurm")
