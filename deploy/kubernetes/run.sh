#!/usr/bin/env bash
# Runs the study on Kubernetes: the shared volume, the Indexed Job of shards,
# then, when every index succeeded, the merge Job. Needs kubectl with a context.
#   deploy/kubernetes/run.sh [TIMEOUT_SECONDS]      (default 21600 = 6 h)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
TIMEOUT=${1:-21600}

# Waits until job $1 is Complete (returns 0) or Failed (returns 1), at most TIMEOUT seconds.
wait_job() {
  local t=0 state
  while [ "$t" -lt "$TIMEOUT" ]; do
    state=$(kubectl get job "$1" -o jsonpath='{.status.conditions[?(@.status=="True")].type}')
    case " $state " in
      *" Complete "*) return 0 ;;
      *" Failed "*) echo "job $1 failed" >&2; return 1 ;;
    esac
    sleep 20
    t=$((t + 20))
  done
  echo "job $1 did not finish in $TIMEOUT s" >&2
  return 1
}

kubectl apply -f "$HERE/pvc.yaml"
kubectl delete job vicinal-shards vicinal-merge --ignore-not-found
kubectl apply -f "$HERE/shards-job.yaml"
wait_job vicinal-shards
kubectl apply -f "$HERE/merge-job.yaml"
wait_job vicinal-merge
kubectl logs job/vicinal-merge
