#!/bin/sh
{{! ===================================================================== }}
{{! templates/slurm.sh: nbgate's SLURM batch script for one notebook.      }}
{{! Lines like this one are template comments: they do not reach the job.  }}
{{!                                                                        }}
{{! Syntax                                                                 }}
{{!   {{name}}     the value, shell-single-quoted in commands; inside a    }}
{{!                #SBATCH or other # line it is written bare and must be  }}
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
{{!   queue        partition                                               }}
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
{{!   walltime_signal  seconds before the walltime ends that the job is   }}
{{!                asked to end itself (sessions.walltime_signal), empty  }}
{{!                when off or the walltime is too short for it           }}
{{!   workdir      the user's own working directory (clusters.NAME.workdir  }}
{{!                with {user} filled in); relative to $HOME when          }}
{{!   workdir_home is "yes". Made 0700; the notebook starts there.         }}
{{!   prologue     epilogue  extra_directives   trusted, from the config   }}
{{! ===================================================================== }}
#SBATCH --job-name={{job_name}}
#SBATCH --comment={{comment}}
#SBATCH --partition={{queue}}
#SBATCH --time={{walltime}}
#SBATCH --nodes=1
#SBATCH --ntasks=1
#SBATCH --cpus-per-task={{cores}}
#SBATCH --mem={{memory_mb}}M
{{#gpus}}
#SBATCH --gres=gpu:{{gpus}}
{{/gpus}}
{{#account}}
#SBATCH --account={{account}}
{{/account}}
{{#reservation}}
#SBATCH --reservation={{reservation}}
{{/reservation}}
{{#qos}}
#SBATCH --qos={{qos}}
{{/qos}}
#SBATCH --output={{job_dir}}/job.out
#SBATCH --error={{job_dir}}/job.err
{{#walltime_signal}}
{{! SIGUSR1 to the batch shell (the agent) before the end: it stops the     }}
{{! kernels through the notebook server and leaves saying "walltime".       }}
{{! SLURM sends it up to 30 s early (its timer's resolution).               }}
#SBATCH --signal=B:USR1@{{walltime_signal}}
{{/walltime_signal}}
{{#extra_directives}}
{{{extra_directives}}}
{{/extra_directives}}

# Rendered by nbgate for {{user}}, session {{session}}.
NBGATE_USER={{user}}
NBGATE_SESSION={{session}}
export NBGATE_USER NBGATE_SESSION

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
# The shell stays for the epilogue: the agent runs beside it, and the batch
# system's signals to this shell (USR1 before the walltime, TERM) go on to it.
nbgate_forward() {
	"$@" &
	nbgate_pid=$!
	unset NBGATE_ENROLL
	trap 'kill -USR1 "$nbgate_pid" 2>/dev/null' USR1
	trap 'kill -TERM "$nbgate_pid" 2>/dev/null' TERM
	while :; do
		wait "$nbgate_pid"
		nbgate_rc=$?
		kill -0 "$nbgate_pid" 2>/dev/null || break
	done
	return "$nbgate_rc"
}
nbgate_exec=nbgate_forward
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
