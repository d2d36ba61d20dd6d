"""test_session_slurmrestd.py: every session test of test_session.py, with cluster hpc
reached through the testenv's slurmrestd (transport: slurmrestd, OpenAPI v0.0.38, a JWT
minted with the cluster's jwt_key, login_user: nbcommunity): nbgated asks SLURM over HTTP
on its own loop instead of running sbatch/squeue/scancel over SSH. The PBS cluster stays
on SSH. Then a second cluster whose token file holds an expired token: the session's
page says why."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_session  # noqa: E402

if __name__ == "__main__":
    test_session.main("slurmrestd")
