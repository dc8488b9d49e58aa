#!/usr/bin/env bash
# Remove what deploy.sh created. The buckets, with the datasets, reports, records and the
# pipeline's output in them, are kept unless --delete-data is given.
#
#   deploy/teardown.sh --project P --region R --bucket B [--settings FILE] [--delete-data] [--dry-run]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=deploy/lib.sh
source "$ROOT/deploy/lib.sh"
DELETE_DATA=0
EXTRA_USAGE=" [--delete-data]"
extra_arg() { case "$1" in --delete-data|--delete-bucket) DELETE_DATA=1 ;; *) return 1 ;; esac; }
parse_args "$@"

run_tolerant gcloud scheduler jobs delete "$PREFIX-sweep" --project "$PROJECT" --location "$REGION" --quiet
run_tolerant gcloud logging sinks delete "$SINK" --project "$PROJECT" --quiet
for subscription in "$TUNE_SUBSCRIPTION" "$STATUS_SUBSCRIPTION" "$VALIDATED_DLQ" "$EVENTS_DLQ" "$STORAGE_DLQ"; do
  run_tolerant gcloud pubsub subscriptions delete "$subscription" --project "$PROJECT" --quiet
done
# A function's Eventarc trigger, and the trigger's own subscription, go with the function.
for function in "${FUNCTIONS[@]}" sweep; do
  run_tolerant gcloud functions delete "$PREFIX-$function" --gen2 --project "$PROJECT" --region "$REGION" --quiet
done
for topic in "$VALIDATED_TOPIC" "$VALIDATED_DLQ" "$EVENTS_TOPIC" "$EVENTS_DLQ" "$STORAGE_DLQ" \
  "$FINISHED_TOPIC"; do
  run_tolerant gcloud pubsub topics delete "$topic" --project "$PROJECT" --quiet
done
# Grants before accounts: a deleted account's bindings would linger as deleted:serviceAccount.
remove_role() {
  run_tolerant gcloud projects remove-iam-policy-binding "$PROJECT" --condition None \
    --member "serviceAccount:$(sa "$1")" --role "$2"
}
remove_role build roles/cloudbuild.builds.builder
remove_role validate roles/eventarc.eventReceiver
remove_role tune roles/aiplatform.user
remove_role pipeline roles/aiplatform.user
remove_role status roles/aiplatform.viewer
remove_role sweep roles/aiplatform.viewer
for account in validate tune status sweep pipeline; do
  for role in roles/storage.objectViewer roles/storage.objectUser; do
    run_tolerant gcloud storage buckets remove-iam-policy-binding "gs://$BUCKET" \
      --member "serviceAccount:$(sa "$account")" --role "$role" --all
  done
done
run_tolerant gcloud storage buckets remove-iam-policy-binding "gs://$OUTPUT_BUCKET" \
  --member "serviceAccount:$(sa pipeline)" --role roles/storage.objectUser
# Monitoring: the metrics by name; policies and the dashboard by their display names.
for file in "$ROOT"/deploy/monitoring/metrics/*.json; do
  run_tolerant gcloud logging metrics delete "$(basename "$file" .json)" --project "$PROJECT" --quiet
done
for old in $(ask "POLICY" gcloud alpha monitoring policies list --project "$PROJECT" \
    --filter "displayName:\"$PREFIX: \"" --format 'value(name)'); do
  run_tolerant gcloud alpha monitoring policies delete "$old" --project "$PROJECT" --quiet
done
for old in $(ask "DASHBOARD" gcloud monitoring dashboards list --project "$PROJECT" \
    --filter "displayName=$PREFIX" --format 'value(name)'); do
  run_tolerant gcloud monitoring dashboards delete "$old" --project "$PROJECT" --quiet
done
for account in "${ACCOUNTS[@]}"; do
  run_tolerant gcloud iam service-accounts delete "$(sa "$account")" --project "$PROJECT" --quiet
done
if [ "$DELETE_DATA" = 1 ]; then
  for bucket in "$BUCKET" "$OUTPUT_BUCKET"; do
    run_tolerant gcloud storage rm --recursive "gs://$bucket"
  done
fi
