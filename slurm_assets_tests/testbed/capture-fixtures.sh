#!/usr/bin/env bash
# Capture real SLURM output from the running testbed into slurm_assets_tests/fixtures/ (parser test inputs).
# Run after start-cluster.sh + submit-jobs.sh; see slurm_assets_tests/fixtures/README.md.
set -euo pipefail

TB="${SLURM_TESTBED_DIR:-/var/lib/slurm-testbed}"
OUT="${1:-$(cd "$(dirname "$0")/.." && pwd)/fixtures}"
export TZ=UTC
[ -s "$TB/state.json" ] || { echo "no $TB/state.json: start the testbed first" >&2; exit 1; }

version="$(sacct --version | awk '{print $2}')"      # 22.05.8
short="${version%.*}"                                 # 22.05
cluster="$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["cluster"])' "$TB/state.json")"
start="$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["start"][:19])' "$TB/state.json")"
ids="$(/usr/bin/python3 -c 'import json,sys; print(",".join(json.load(open(sys.argv[1]))["job_ids"].values()))' "$TB/state.json")"

# The broad field list, minus what this sacct does not know (22.05 has no ArrayJobID/HetJobID...).
WANT=(JobID JobIDRaw JobName User UID Group GID Account Partition QOS State ExitCode DerivedExitCode
  Submit Eligible Start End Elapsed ElapsedRaw Timelimit TimelimitRaw NNodes AllocNodes NCPUS AllocCPUS
  ReqCPUS ReqMem ReqTRES AllocTRES NTasks NodeList MaxRSS AveRSS MaxVMSize TotalCPU UserCPU SystemCPU
  CPUTime CPUTimeRAW TRESUsageInTot TRESUsageInMax Reason Flags Priority Reserved Comment
  ArrayJobID ArrayTaskID HetJobID HetJobOffset Cluster WorkDir SubmitLine)
known="$(sacct --helpformat | tr -s ' \n' '\n')"
fields=()
for f in "${WANT[@]}"; do
  grep -qx "$f" <<<"$known" && fields+=("$f")
done
format="$(IFS=,; echo "${fields[*]}")"

mkdir -p "$OUT"
base="$OUT/sacct_${short}_${cluster}"
sacct --allusers --duplicates --parsable2 -S "$start" -E now --format="$format" >"$base.psv"
sacct --allusers --duplicates --parsable2 --noconvert -S "$start" -E now --format="$format" >"${base}_noconvert.psv"
# -j shows what -S/-E never does: held, dependent and never-eligible jobs, the pending array remainder.
sacct --allusers --duplicates --parsable2 -j "$ids" --format="$format" >"${base}_by_jobid.psv"
sacct --helpformat >"$OUT/sacct_${short}_helpformat.txt"
sacct --version >"$OUT/sacct_${short}_version.txt"
scontrol show node --oneliner >"$OUT/scontrol_show_node_${short}_${cluster}.txt"
sinfo -h -o '%P|%D|%c|%m|%G|%N' >"$OUT/sinfo_${short}_${cluster}.txt"
cp "$TB/state.json" "$OUT/testbed_state_${short}_${cluster}.json"
echo "captured into $OUT with -S $start: $format" >&2
