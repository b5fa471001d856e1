#!/usr/bin/env bash
# Runs a vicinal study on a Slurm cluster as a job array of SHARDS shards plus
# a merge job that starts when every shard has succeeded (afterok).
#
#   deploy/slurm/submit.sh STUDY SHARDS OUT        (from the repository root, after npm ci && npm run build)
#
# STUDY: a profile (quick, nightly, full) or a config file; OUT: a folder on a
# file system every node sees. Shard I writes OUT/shard-I, the merge job
# OUT/merged (with its report in OUT/merged/report/). Optional environment:
#   CPUS      CPUs (and vicinal worker threads) per shard [2]
#   TIME      time limit per shard [04:00:00]
#   WEIGHTS   an earlier run folder of the same study: balance shards by its measured job times
#   PARTITION Slurm partition [the cluster default]
#   NODE      node binary [node]
# Prints the array job id and the merge job id.
set -euo pipefail
if [ $# -ne 3 ]; then
  echo "usage: $0 STUDY SHARDS OUT" >&2
  exit 2
fi
STUDY=$1 SHARDS=$2 OUT=$3
case "$SHARDS" in '' | *[!0-9]* | 0) echo "SHARDS must be an integer >= 1, got '$SHARDS'" >&2; exit 2 ;; esac
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$OUT/logs"
OUT=$(cd "$OUT" && pwd)
part=()
[ -n "${PARTITION:-}" ] && part=(--partition "$PARTITION")
export STUDY SHARDS OUT WEIGHTS="${WEIGHTS:-}" NODE="${NODE:-node}"
array=$(sbatch --parsable "${part[@]}" --array="1-$SHARDS" --cpus-per-task="${CPUS:-2}" --time="${TIME:-04:00:00}" \
  --output="$OUT/logs/shard-%a.out" --export=ALL "$HERE/shard.sbatch")
array=${array%%;*}
merge=$(sbatch --parsable "${part[@]}" --dependency="afterok:$array" --kill-on-invalid-dep=yes --cpus-per-task=1 \
  --output="$OUT/logs/merge.out" --export=ALL "$HERE/merge.sbatch")
merge=${merge%%;*}
echo "$array $merge"
