"""test_walltime.py: the walltime lifeline against real SLURM (the World of
test_session.py): time left from the scheduler's time limit, the warning
(sessions.walltime_warning) on the progress stream and the home page, the job
asked to end itself before the scheduler's kill (sessions.walltime_signal:
SLURM --signal=B:USR1@S; the agent stops the kernels through the notebook
server and leaves saying "walltime"), Extend (clusters.NAME.extend: scontrol
update as the login user; nbcommunity is a SLURM operator in the testenv,
alice is not) and Relaunch.

Everything runs at once to keep the time down: wuser's 2-minute job runs out
while xop's job is extended and alice's extension is refused.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Env, kernel_computes, wait_for  # noqa: E402
from test_pages import get, login, post, xsrf  # noqa: E402
from test_progress import Stream, prog_path  # noqa: E402
from test_session import session_cleanup, session_world, squeue_field  # noqa: E402

WARN = 60       # sessions.walltime_warning
SIGNAL = 20     # sessions.walltime_signal
USERS = ("wuser", "xop", "xalice")


def edit(env):
    """The World's config with the lifeline on, extend on cluster hpc, and a
    cluster "nonop" that logs in as alice (no SLURM operator)."""
    v = env.w.v
    alice_jobs = os.path.join(env.w.dir, "jobs-alice")
    os.makedirs(alice_jobs)
    shutil.chown(alice_jobs, "alice")
    os.chmod(alice_jobs, 0o700)
    env.marks = os.path.join(env.w.dir, "marks")
    os.makedirs(env.marks)
    os.chmod(env.marks, 0o1777)

    def fn(cfg):
        cfg = cfg.replace("sessions:\n", "sessions:\n  walltime_warning: %ds\n"
                          "  walltime_signal: %ds\n" % (WARN, SIGNAL), 1)
        cfg = cfg.replace("  hpc:\n    scheduler: slurm\n", "  hpc:\n    scheduler: slurm\n"
                          "    extend: {step: 1m, max_total: 4m}\n", 1)
        nonop = env.w.cluster("nonop", "slurm").replace(
            "login_user: nbcommunity\n    login_key: %s\n" % v["NB_KEY_COMMUNITY"],
            "login_user: alice\n    login_key: %s\n" % v["NB_KEY_ALICE"]).replace(
            "community_account: community\n    accounts: [community]\n",
            "community_account: alloc_alice\n    accounts: [alloc_alice]\n").replace(
            "output_dir: %s\n" % env.w.jobs, "output_dir: %s\n" % alice_jobs).replace(
            "    scheduler: slurm\n",
            "    scheduler: slurm\n    extend: {step: 1m, max_total: 1h}\n")
        return cfg + nonop
    return fn


def journal(env, user):
    st, m = env.api.server(user)
    return [(e["event"], e.get("cause") or "") for e in (m or {}).get("events", [])]


def follow(env, user, out):
    """Reads @user's progress stream with ?until=end into @out until it closes."""
    s = Stream(env.gw, prog_path(user) + "?until=end", token=env.api.token, timeout=240)
    out.append(("status", s.status, time.time()))
    while True:
        ev = s.next(240)
        if ev is None:
            break
        if isinstance(ev, dict):
            out.append(("event", ev, time.time()))
    out.append(("closed", s.eof, time.time()))
    s.close()


def start_all(env):
    t = env.tap
    for user, opts in (("wuser", {"walltime": "2m"}), ("xop", {"walltime": "2m"}),
                       ("xalice", {"walltime": "5m", "cluster": "nonop"})):
        st, m = env.api.call("POST", "/users/%s/server" % user, opts)
        t.eq(st, 202, "%s's server requested (%s)" % (user, opts))


def running(env, user, what):
    """@user's server model once it runs (checked as @what), or None."""
    m, seen = env.api.wait(user, timeout=120)
    env.tap.ok(m is not None and m["ready"], what, (seen, m and m["state"]))
    return m if m is not None and m["ready"] else None


def test_time_left(env):
    t = env.tap
    if (m := running(env, "wuser", "wuser's 2-minute notebook runs")) is None:
        return
    env.events = []
    env.follower = threading.Thread(target=follow, args=(env, "wuser", env.events), daemon=True)
    env.follower.start()
    st = m["state"]
    t.ok(st.get("time_limit") == 120, "the time limit is the scheduler's (squeue %l): 120 s", st)
    t.ok(isinstance(st.get("time_left"), int) and 60 < st["time_left"] <= 120,
         "time left is between 1 and 2 minutes", st)
    t.ok(st.get("ends_at") and "walltime_warning" not in st, "an end time, no warning yet", st)
    job = st["job_id"]
    script = subprocess.run(["scontrol", "write", "batch_script", job, "-"], capture_output=True,
                            text=True, timeout=30).stdout
    t.has(script, "#SBATCH --signal=B:USR1@%d\n" % SIGNAL,
          "the batch script asks SLURM for USR1 %d s before the end" % SIGNAL)
    env.wjob = job
    # A kernel that leaves a mark only when it shuts down cleanly (atexit runs on a shutdown
    # request, not on a signal's kill).
    tok = env.gw.token("wuser")
    env.mark = os.path.join(env.marks, "wuser-kernel")
    kernel_computes(t, env.gw, "/user/wuser/", tok, "the kernel registers its exit mark",
                    code="import atexit\natexit.register(lambda: open(%r, 'w').write('clean'))\n"
                    "'armed'" % env.mark, expect="'armed'",
                    starts="a kernel started in wuser's notebook")


def test_extend(env):
    t = env.tap
    if (m := running(env, "xop", "xop's notebook runs")) is None:
        return
    job = m["state"]["job_id"]
    t.eq(m["state"].get("extend"), {"step": 60, "max_total": 240},
         "the model offers extend (step, max_total)")
    # The home page's button, as xop in a browser.
    cookie = login(env, "xop")
    st, _, page = get(env, "/hub/home", cookie)
    t.ok(st == 200 and "Extend by 1m</button>" in page and 'action="/hub/extend"' in page,
         "xop's home page has an Extend button", page[-1500:])
    st, hd, out = post(env, "/hub/extend", {"_xsrf": xsrf(page)}, cookie)
    t.ok(st == 303 and hd.get("location") == "/hub/home", "Extend: back to the home page",
         (st, out[-500:]))
    t.ok(wait_for(lambda: squeue_field(job, "%l") == "3:00", 15),
         "squeue shows the new limit, 3:00", squeue_field(job, "%l"))
    t.ok(wait_for(lambda: env.api.server("xop")[1]["state"].get("time_limit") == 180, 15),
         "the model's time limit follows: 180 s", env.api.server("xop")[1]["state"])
    # The API, as the user's own token (scope servers).
    tok = env.gw.token("xop")
    st, _, out = env.gw.request("POST", "/hub/api/users/xop/server/extend", token=tok)
    j = json.loads(out) if out else {}
    t.ok(st == 200 and j.get("time_limit") == 240, "POST .../extend: 200, 240 s", (st, out))
    t.ok(wait_for(lambda: squeue_field(job, "%l") == "4:00", 15), "squeue: 4:00",
         squeue_field(job, "%l"))
    st, _, out = env.gw.request("POST", "/hub/api/users/xop/server/extend", token=tok)
    j = json.loads(out) if out else {}
    t.ok(st == 429 and "4m" in j.get("message", ""), "past max_total: 429 and why", (st, out))
    t.ok("extend" not in env.api.server("xop")[1]["state"], "at max_total no extend is offered")
    ev = journal(env, "xop")
    t.ok(sum(1 for e in ev if e[0] == "extended") == 2 and
         any(e[0] == "extended" and "2m -> 3m by xop" in e[1] for e in ev),
         "the journal has both extensions, who and how far", ev)
    st, _, out = env.gw.request("POST", "/hub/api/users/nobody/server/extend",
                                token=env.api.token)
    t.eq(st, 404, "no server: 404")


def test_extend_refused(env):
    t = env.tap
    if (m := running(env, "xalice", "xalice's notebook runs on nonop (login user alice)")) is None:
        return
    job = m["state"]["job_id"]
    st, j = env.api.call("POST", "/users/xalice/server/extend")
    t.ok(st == 403 and "Access/permission denied" in (j or {}).get("message", ""),
         "as a non-operator: 403 with the scheduler's own words", (st, j))
    t.eq(squeue_field(job, "%l"), "5:00", "the limit is unchanged")
    ev = journal(env, "xalice")
    t.ok(any(e[0] == "extend-refused" and "denied" in e[1] for e in ev),
         "the journal has the refusal", ev)
    st = env.api.server("xalice")[1]["state"]
    t.ok(st.get("extend", {}).get("refused") is True and st.get("continue", {}).get("mode") ==
         "offer", "after the refusal the model offers continue in a new job", st)
    _, _, page = get(env, "/hub/home", login(env, "xalice"))
    t.ok('action="/hub/continue"' in page, "and the home page has a Continue button",
         page[-1500:])


def wuser_ran(env):
    """wuser's login cookie if its job ran (test_time_left), else None (and a failure)."""
    if not getattr(env, "wjob", None):
        env.tap.ok(False, "wuser's job ran")
        return None
    return login(env, "wuser")


def test_warning_and_end(env):
    t = env.tap
    if (cookie := wuser_ran(env)) is None:
        return
    t.ok(wait_for(lambda: "walltime_warning" in env.api.server("wuser")[1]["state"], 100),
         "the warning is in the model within %d s of the end" % WARN,
         env.api.server("wuser")[1]["state"])
    st = env.api.server("wuser")[1]["state"]
    t.ok(st.get("phase") == "running" and st.get("time_left", 999) <= WARN + 2,
         "given while running, at most %d s before the end" % WARN, st)
    st_, _, page = get(env, "/hub/home", cookie)
    t.ok('class="notice walltime-warning"' in page and "save your work" in page,
         "the home page shows the warning", page[-2000:])
    m, seen = env.api.wait("wuser", phases=("ended",), timeout=120)
    t.ok(m is not None and "walltime" in (m["state"].get("reason") or "") and
         "before the scheduler's kill" in (m["state"].get("reason") or ""),
         "the session ended itself at the walltime, and says so", m and m["state"])
    ev = journal(env, "wuser")
    names = [e[0] for e in ev]
    t.ok("walltime-warning" in names and "walltime" in names and
         names.index("walltime-warning") < names.index("walltime"),
         "the journal: walltime-warning, then walltime (the agent's leaving)", ev)
    said = [e[1] for e in ev if e[0] == "walltime"]
    t.ok(said and "1 kernel stopped cleanly" in said[0],
         "the agent stopped the kernel through the notebook server", said)
    t.ok(os.path.exists(env.mark) and open(env.mark).read() == "clean",
         "the kernel shut down cleanly (its atexit hook ran)", env.mark)
    state = subprocess.run(["sacct", "-n", "-X", "-P", "-j", env.wjob, "-o", "State"],
                           capture_output=True, text=True, timeout=30).stdout.strip()
    t.ok(state == "COMPLETED", "the job ended itself before the time limit (not TIMEOUT)", state)
    env.follower.join(30)
    evs = [e[1] for e in env.events if e[0] == "event"]
    t.ok(env.events and env.events[0][1] == 200, "the progress stream (?until=end) opened",
         env.events[:1])
    warned = [e for e in evs if e.get("walltime_warning")]
    t.ok(warned and warned[0].get("ready") and warned[0].get("time_left", 999) <= WARN + 2,
         "an event carries the warning while the server is ready", evs)
    t.ok(evs and evs[-1].get("phase") == "ended" and env.events[-1][0] == "closed",
         "the stream goes on past ready and closes once the server ended",
         [(e.get("phase"), e.get("walltime_warning") is not None) for e in evs])


def sbatch_lines(job):
    """The #SBATCH lines of a job's script, less those that name its session."""
    r = subprocess.run(["scontrol", "write", "batch_script", job, "-"], capture_output=True,
                       text=True, timeout=30)
    return [l for l in r.stdout.splitlines() if l.startswith("#SBATCH") and
            not re.match(r"#SBATCH --(comment|output|error)=", l)]


def job_fields(job):
    r = subprocess.run(["scontrol", "show", "job", job], capture_output=True, text=True,
                       timeout=30)
    return dict(re.findall(r"\b(TimeLimit|Partition|NumCPUs|MinMemoryNode|Account|JobName)"
                           r"=(\S+)", r.stdout))


def test_relaunch(env):
    """The ended wuser server again in one click, alike; the form remembers the choices."""
    t = env.tap
    if (cookie := wuser_ran(env)) is None:
        return
    st, _, page = get(env, "/hub/spawn", cookie)
    t.ok(st == 200 and re.search(r'name="walltime" [^>]*value="2m"', page) is not None,
         "the spawn form is filled in with wuser's last choices (walltime 2m)", page[-3000:])
    st, _, page = get(env, "/hub/home", cookie)
    t.ok('action="/hub/relaunch"' in page and "Relaunch</button>" in page,
         "the ended server has a Relaunch button", page[-1500:])
    st, hd, out = post(env, "/hub/relaunch", {"_xsrf": xsrf(page)}, cookie)
    t.ok(st == 303 and hd.get("location") == "/hub/spawn-pending",
         "Relaunch: one click, to the progress page", (st, hd.get("location"), out[-300:]))
    m, seen = env.api.wait("wuser", phases=("queued", "starting", "running"), timeout=60)
    job = m and m["state"].get("job_id")
    t.ok(job and job != env.wjob, "a new job", (env.wjob, job))
    if not job:
        return
    old, new = sbatch_lines(env.wjob), sbatch_lines(job)
    t.ok(old and old == new, "its #SBATCH lines are the ended job's", (old, new))
    t.eq(job_fields(job), job_fields(env.wjob), "scontrol shows the same limits and place")
    st, j = env.api.call("POST", "/users/wuser/server/relaunch")
    t.eq(st, 400, "relaunching a server that runs: 400")
    st, j = env.api.call("POST", "/users/nobody/server/relaunch")
    t.eq(st, 404, "no ended server: 404")


def main():
    env = Env("test_walltime")
    session_world(env, edit=lambda cfg: edit(env)(cfg))
    try:
        start_all(env)
        for fn in (test_time_left, test_extend, test_extend_refused, test_warning_and_end,
                   test_relaunch):
            env.run(fn)
        env.tap.ok(env.gw.alive(), "nbgated is still running")
    finally:
        session_cleanup(env, USERS)
    env.finish()


if __name__ == "__main__":
    main()
