#!/bin/sh
{{! ===================================================================== }}
{{! templates/gridengine.sh: nbgate's Grid Engine batch script, one notebook}}
{{! Lines like this one are template comments: they do not reach the job.  }}
{{!                                                                        }}
{{! Syntax                                                                 }}
{{!   {{name}}     the value, shell-single-quoted in commands; inside a    }}
{{!                #$ or other # line       it is written bare and must be  }}
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
{{!   queue        Grid Engine cluster queue                              }}
{{!   walltime     HH:MM:SS             walltime_s  the same in seconds    }}
{{!   cores        CPUs for the notebook (one task)                        }}
{{!   memory_mb    memory in MiB                                           }}
{{!   gpus         GPUs, empty when none                                   }}
{{!   account      account to charge, empty for the scheduler's default    }}
{{!   reservation  qos   from the queue's settings, empty when unset       }}
{{!   job_name     nbgate-USER[-SERVER]                                    }}
{{!   comment      nbgate:user=USER:session=ID (usage attribution)         }}
{{!   pbs_name     nb-USER cut to 15 characters (PBS only)                 }}
{{!   pe           the queue's parallel environment (queues.NAME.pe)       }}
{{!   memory_complex  the site's memory complex (clusters.NAME.memory_complex)}}
{{!   memory_per_core_mb  memory_mb / cores, rounded up: Grid Engine       }}
{{!                counts memory complexes per slot                        }}
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
{{!   walltime_soft  the walltime less sessions.walltime_signal, HH:MM:SS}}
{{!                (s_rt), empty when off or the walltime is too short    }}
{{!   workdir      the user's own working directory (clusters.NAME.workdir  }}
{{!                with {user} filled in); relative to $HOME when          }}
{{!   workdir_home is "yes". Made 0700; the notebook starts there.         }}
{{!   prologue     epilogue  extra_directives   trusted, from the config   }}
{{! ===================================================================== }}
{{! ---------------------------------------------------------------------- }}
{{! Grid Engine notes                                                      }}
{{!  - Cores are slots of the queue's parallel environment (-pe NAME N,    }}
{{!    allocation_rule $pe_slots keeps them on one host); memory requests  }}
{{!    (h_vmem, mem_free, or a consumable the site defines) are per slot.  }}
{{!  - -S /bin/sh: queues in posix_compliant mode start the queue's shell   }}
{{!    (csh by default) otherwise.                                         }}
{{!  - -ac: the job's context carries nbgate's tag (qstat -j shows it);     }}
{{!    -A is Grid Engine's accounting string, what qacct reports.          }}
{{!  - GPUs: sites name the complex (often gpu); add it here.              }}
{{!  - The early end: s_rt (the soft limit) sends SIGUSR1 to the job at    }}
{{!    walltime_soft; the agent stops the kernels and leaves saying         }}
{{!    "walltime". Grid Engine kills the job the queue's notify time after }}
{{!    s_rt (60 s by default) if it has not ended, or at h_rt if sooner.   }}
{{! ---------------------------------------------------------------------- }}
#$ -N {{job_name}}
#$ -S /bin/sh
#$ -q {{queue}}
#$ -pe {{pe}} {{cores}}
#$ -l h_rt={{walltime}},{{memory_complex}}={{memory_per_core_mb}}M
{{#walltime_soft}}
#$ -l s_rt={{walltime_soft}}
{{/walltime_soft}}
{{#gpus}}
#$ -l gpu={{gpus}}
{{/gpus}}
{{#account}}
#$ -A {{account}}
{{/account}}
{{#reservation}}
#$ -ar {{reservation}}
{{/reservation}}
#$ -ac nbgate_comment={{comment}}
#$ -v NBGATE_USER={{user}},NBGATE_SESSION={{session}}
#$ -o {{job_dir}}/job.out
#$ -e {{job_dir}}/job.err
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
# system's signals to this shell (USR1 at s_rt, TERM) go on to it.
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
    --job-id "$JOB_ID" \
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
