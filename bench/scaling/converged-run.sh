#!/usr/bin/env bash
# Issue 24's scaling run at convergence (docs/scaling.md, "The run at convergence"), one part per call:
#   bash bench/scaling/converged-run.sh grid     # the grid search at phi = 1 (7 networks x 2 seeds)
#   bash bench/scaling/converged-run.sh study    # the study at x2 and x4 (3 seeds, searched and paper coefficients)
#   bash bench/scaling/converged-run.sh save     # copy the store into docs/scaling-results-converged/ (and reports)
# Each part resumes from the store: finished trials are kept, and interrupted ones continue from their last
# checkpoint when runs/conv24 still holds it (else they train again). runs/ need not survive a working session, so a
# part starts from the committed copy of the store when runs/conv24/store.sqlite is missing, and `save` (run it
# before the session ends; it is safe while a part runs) puts the store back into docs/.
# Every part appends its start, end and wall time to runs/conv24/parts.log (saved as parts.txt beside the store).
# The whole script is one function, parsed before it runs, so editing this file while a part runs cannot change
# what the running part does next (bash otherwise reads a script as it goes).
set -euo pipefail
main() {
cd "$(dirname "$0")/../.."
RUN=runs/conv24
SAVED=docs/scaling-results-converged
DB=$RUN/store.sqlite
BASE=bench/scaling/base-w025-d15-16px.json
DATA=tar:../shared/data/cifar10-train.tar.gz,val=5000,train=15000
RECIPE='{"weightDecay":5e-4,"warmupEpochs":1}'
COMMON=(--base "$BASE" --data "$DATA" --budget converge:24 --batch-size 128 --recipe "$RECIPE" --parallel 2 --threads 1 --db "$DB")
mkdir -p "$RUN"
if [ ! -f "$DB" ] && [ -f "$SAVED/store.sqlite" ]; then
  cp "$SAVED/store.sqlite" "$DB"
  [ -f "$SAVED/parts.txt" ] && cp "$SAVED/parts.txt" "$RUN/parts.log"
  echo "converged-run: resuming from the committed store $SAVED/store.sqlite"
fi
part=${1:-}
case "$part" in
  grid)
    args=(scale-search "${COMMON[@]}" --grid-step 0.1 --tolerance 0.1 --mac-tolerance 0.1 --repeats 2)
    ;;
  study)
    args=(scaling-study "${COMMON[@]}" --factors 2,4 --mac-tolerance "${MAC_TOLERANCE:-0.1}" --repeats 3 --seed 2 --from-search grid --also-paper)
    ;;
  save)
    mkdir -p "$SAVED"
    sqlite3 "$DB" ".backup $SAVED/store.sqlite"
    for name in grid study; do
      if sqlite3 "$DB" "select 1 from searches where name = '$name'" | grep -q 1; then
        node dist/src/cli/main.js "$([ $name = grid ] && echo scale-search || echo scaling-study)" --db "$DB" --name "$name" --report-only --report-dir "$SAVED/$name"
      fi
    done
    [ -f "$RUN/parts.log" ] && cp "$RUN/parts.log" "$SAVED/parts.txt"
    exit 0
    ;;
  *)
    echo "usage: bash bench/scaling/converged-run.sh grid|study|save" >&2
    exit 2
    ;;
esac
start=$(date +%s)
echo "$part start $(date -u +%FT%TZ)" | tee -a "$RUN/parts.log"
set +e
node dist/src/cli/main.js "${args[@]}"
rc=$?
set -e
echo "$part end $(date -u +%FT%TZ) exit $rc wall $(( $(date +%s) - start )) s" | tee -a "$RUN/parts.log"
exit $rc
}
main "$@"
exit $?
