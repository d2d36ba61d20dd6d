#!/bin/sh
{{! ===================================================================== }}
{{! templates/pbs.sh: nbgate's PBS batch script for one notebook.          }}
{{! Lines like this one are template comments: they do not reach the job.  }}
{{!                                                                        }}
{{! Syntax                                                                 }}
{{!   {{name}}     the value, shell-single-quoted in commands; inside a    }}
{{!                #PBS or other # line     it is written bare and must be  }}
{{!                letters, digits and _.:=/- (nbgate refuses otherwise).  }}
{{!                Never put it inside your own quotes, after $ or \.      }}
{{!   {{#name}} .. {{/name}}  kept only when the value is not empty.       }}
{{!   {{^name}} .. {{/name}}  kept only when the value is empty.           }}
{{!   {{{name}}}   trusted text from nbgated.yaml, inserted as written     }}
{{!                (only prologue, epilogue, extra_directives).            }}
{{!   Here-documents (<<) are refused: use a command with arguments.       }}
{{!                                                                        }}
{{! Variables                                                              }}
{{!   user         gateway user the job is for ([a-z_][a-z0-9_.-]*)        }}
{{!   server       named server, empty for the default one                 }}
{{!   session      nbgate session id (a number)                            }}
{{!   cluster      cluster name from nbgated.yaml                          }}
{{!   queue        PBS queue                                               }}
{{!   walltime     HH:MM:SS             walltime_s  the same in seconds    }}
{{!   cores        CPUs for the notebook (one task)                        }}
{{!   memory_mb    memory in MiB                                           }}
{{!   gpus         GPUs, empty when none                                   }}
{{!   account      account to charge, empty for the scheduler's default    }}
{{!   reservation  qos   from the queue's settings, empty when unset       }}
{{!   job_name     nbgate-USER[-SERVER]                                    }}
{{!   comment      nbgate:user=USER:session=ID (usage attribution)         }}
{{!   pbs_name     nb-USER cut to 15 characters (PBS only)                 }}
{{!   job_dir      output_dir/SESSION: must exist before submission        }}
{{!   container    image  runtime  binds   the chosen container            }}
{{!   agent        nbgate-agent command on the compute node                }}
{{!   gateway      hostkey_fp  base_url   where and how the agent dials    }}
{{!   route        USER or USER/SERVER: the tunnel the agent serves        }}
{{!   enroll       one-time enrollment secret for the agent (see below)    }}
{{!   container_gpus  "yes" when GPUs were asked for inside a container    }}
{{!   notebook_app the container's notebook: classic, server or lab        }}
{{!                (the agent's --notebook-app; give it in your own        }}
{{!                templates, or the agent runs the classic notebook)      }}
{{!   app_type     apps.NAME.type (desktop, web), empty for Jupyter; with  }}
{{!   geometry     the desktop's WIDTHxHEIGHT; app_tcp for loopback apps:  }}
{{!                required (own netns) or preferred (loopback-shared)     }}
{{!   notebook_cmd the container's notebook_command, words joined by one   }}
{{!                blank (none has a blank); empty: the flavour's own      }}
{{!   keepalive    seconds between keepalives (nbgated's ssh.keepalive)    }}
{{!   activity_interval  seconds between the agent's activity reports   }}
{{!   walltime_soft_s  the walltime less sessions.walltime_signal, in   }}
{{!                seconds; empty when off or the walltime is too short   }}
{{!   workdir      the user's own working directory (clusters.NAME.workdir  }}
{{!                with {user} filled in); relative to $HOME when          }}
{{!   workdir_home is "yes". Made 0700; the notebook starts there.         }}
{{!   prologue     epilogue  extra_directives   trusted, from the config   }}
{{! ===================================================================== }}
{{! ---------------------------------------------------------------------- }}
{{! PBS notes                                                              }}
{{!  - -N: POSIX and older PBS/Torque allow 15 characters, first a letter;  }}
{{!    so -N gets pbs_name (nb-USER, cut) and the full identity goes in    }}
{{!    NBGATE_USER / NBGATE_SESSION (-v and the environment below).        }}
{{!  - Resources use the PBS Pro form, all in ONE -l line: Debian's        }}
{{!    slurm-wlm-torque qsub keeps only the last of repeated -l options,   }}
{{!    and sbatch (which reads the #PBS lines there) understands select=N, }}
{{!    ncpus=, mem= and walltime= in it. The Torque form would be          }}
{{!    -l nodes=1:ppn=CORES,mem=MEMmb,walltime=...; the Debian wrappers    }}
{{!    accept that too, real Torque needs it instead of select=.           }}
{{!  - GPUs: PBS Pro spells them ngpus=N inside select.                    }}
{{!  - The early end: PBS Pro and Torque have no counterpart of SLURM's    }}
{{!    --signal, so the agent keeps its own time: the script takes the     }}
{{!    clock when the job starts and gives the agent --walltime-signal-at  }}
{{!    (start + walltime_soft_s, seconds since the epoch); then it does    }}
{{!    what SIGUSR1 does on SLURM: stops the kernels and leaves saying     }}
{{!    "walltime". Without it, at the walltime PBS sends SIGTERM, then      }}
{{!    SIGKILL kill_delay seconds later (a queue/server setting, default   }}
{{!    10 s): the agent stops the kernels in that time, as for any SIGTERM.}}
{{! ---------------------------------------------------------------------- }}
#PBS -N {{pbs_name}}
#PBS -q {{queue}}
{{#gpus}}
#PBS -l select=1:ncpus={{cores}}:mem={{memory_mb}}mb:ngpus={{gpus}},walltime={{walltime}}
{{/gpus}}
{{^gpus}}
#PBS -l select=1:ncpus={{cores}}:mem={{memory_mb}}mb,walltime={{walltime}}
{{/gpus}}
{{#account}}
#PBS -A {{account}}
{{/account}}
{{#reservation}}
{{! PBS Pro submits into a reservation through its queue, e.g. R123.      }}
#PBS -q {{reservation}}
{{/reservation}}
#PBS -v NBGATE_USER={{user}},NBGATE_SESSION={{session}}
#PBS -o {{job_dir}}/job.out
#PBS -e {{job_dir}}/job.err
{{#extra_directives}}
{{{extra_directives}}}
{{/extra_directives}}

# Rendered by nbgate for {{user}}, session {{session}}.
NBGATE_USER={{user}}
NBGATE_SESSION={{session}}
export NBGATE_USER NBGATE_SESSION
{{#walltime_soft_s}}
# The early end: the agent ends itself {{walltime_soft_s}} s after the job started.
nbgate_signal_at={{walltime_soft_s}}
case $nbgate_signal_at in
''|*[!0-9]*) nbgate_signal_at= ;;
*) nbgate_signal_at=$(($(date +%s) + nbgate_signal_at)) ;;
esac
{{/walltime_soft_s}}

{{#prologue}}
# --- prologue (clusters.{{cluster}}.prologue) ---
{{{prologue}}}
# --- end of prologue ---
{{/prologue}}
nbgate_exec=exec
{{#epilogue}}
# --- epilogue (clusters.{{cluster}}.epilogue): after the agent exits ---
nbgate_epilogue() {
{{{epilogue}}}
}
trap nbgate_epilogue EXIT
nbgate_exec=
{{/epilogue}}

# The user's own working directory: made private to this account (umask
# 077, and chmod 0700 if it existed), never a symbolic link; the notebook
# starts there and, in a container, sees it as its only home.
{{#workdir_home}}
nbgate_workdir="$HOME"/{{workdir}}
{{/workdir_home}}
{{^workdir_home}}
nbgate_workdir={{workdir}}
{{/workdir_home}}
if [ -L "$nbgate_workdir" ] ||
    ! (umask 077 && mkdir -p -- "$nbgate_workdir" && chmod 0700 -- "$nbgate_workdir"); then
	echo "nbgate: cannot make the private working directory $nbgate_workdir" >&2
	exit 1
fi

# NBGATE_ENROLL: the one-time enrollment secret, worthless once the agent
# has used it (it then holds its own key) and only valid from inside this
# job. It is handed over in the agent's environment only (not the shell's,
# so an epilogue does not see it), never on a command line.
NBGATE_ENROLL={{enroll}} $nbgate_exec {{agent}} --notebook \
    --gateway {{gateway}} \
    --route {{route}} \
    --hostkey-fingerprint {{hostkey_fp}} \
    --enroll-env NBGATE_ENROLL \
{{#keepalive}}
    --keepalive {{keepalive}} \
{{/keepalive}}
{{#activity_interval}}
    --activity-interval {{activity_interval}} \
{{/activity_interval}}
{{#walltime_soft_s}}
    --walltime-signal-at "$nbgate_signal_at" \
{{/walltime_soft_s}}
    --workdir "$nbgate_workdir" \
    --runtime {{runtime}} \
{{#image}}
    --image {{image}} \
{{/image}}
{{#binds}}
    --bind {{binds}} \
{{/binds}}
{{#container_gpus}}
    --gpus \
{{/container_gpus}}
    --notebook-app {{notebook_app}} \
{{#notebook_cmd}}
    --notebook-cmd {{notebook_cmd}} \
{{/notebook_cmd}}
{{#app_type}}
    --app {{app_type}} \
{{/app_type}}
{{#geometry}}
    --geometry {{geometry}} \
{{/geometry}}
{{#app_tcp}}
    --tcp --netns {{app_tcp}} \
{{/app_tcp}}
    --base-url {{base_url}}
