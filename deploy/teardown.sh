#!/usr/bin/env bash
# Remove what deploy.sh created. The bucket, with the datasets, reports and records in it, is
# kept unless --delete-bucket is given.
#
#   deploy/teardown.sh --project P --region R --bucket B [--settings FILE] [--delete-bucket] [--dry-run]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=deploy/lib.sh
source "$ROOT/deploy/lib.sh"
DELETE_BUCKET=0
EXTRA_USAGE=" [--delete-bucket]"
extra_arg() { [ "$1" = --delete-bucket ] && DELETE_BUCKET=1; }
parse_args "$@"

run_tolerant gcloud scheduler jobs delete "$PREFIX-sweep" --project "$PROJECT" --location "$REGION" --quiet
run_tolerant gcloud logging sinks delete "$SINK" --project "$PROJECT" --quiet
for subscription in "$TUNE_SUBSCRIPTION" "$STATUS_SUBSCRIPTION" "$VALIDATED_DLQ" "$EVENTS_DLQ"; do
  run_tolerant gcloud pubsub subscriptions delete "$subscription" --project "$PROJECT" --quiet
done
for function in "${FUNCTIONS[@]}" sweep; do
  run_tolerant gcloud functions delete "$PREFIX-$function" --gen2 --project "$PROJECT" --region "$REGION" --quiet
done
for topic in "$VALIDATED_TOPIC" "$VALIDATED_DLQ" "$EVENTS_TOPIC" "$EVENTS_DLQ"; do
  run_tolerant gcloud pubsub topics delete "$topic" --project "$PROJECT" --quiet
done
# Project-level roles first: a deleted account's bindings would linger as deleted:serviceAccount.
remove_role() {
  run_tolerant gcloud projects remove-iam-policy-binding "$PROJECT" --condition None \
    --member "serviceAccount:$(sa "$1")" --role "$2"
}
remove_role validate roles/eventarc.eventReceiver
remove_role tune roles/aiplatform.user
remove_role pipeline roles/aiplatform.user
remove_role status roles/aiplatform.viewer
remove_role sweep roles/aiplatform.viewer
for account in validate tune status sweep pipeline; do
  run_tolerant gcloud storage buckets remove-iam-policy-binding "gs://$BUCKET" \
    --member "serviceAccount:$(sa "$account")" --role roles/storage.objectUser
done
for account in validate tune status sweep pusher pipeline; do
  run_tolerant gcloud iam service-accounts delete "$(sa "$account")" --project "$PROJECT" --quiet
done
PROJECT_NUMBER=$(ask PROJECT_NUMBER gcloud projects describe "$PROJECT" --format='value(projectNumber)')
run_tolerant gcloud storage buckets remove-iam-policy-binding "gs://$BUCKET" \
  --member "serviceAccount:service-$PROJECT_NUMBER@gcp-sa-aiplatform.iam.gserviceaccount.com" \
  --role roles/storage.objectViewer
if [ "$DELETE_BUCKET" = 1 ]; then
  run_tolerant gcloud storage rm --recursive "gs://$BUCKET"
fi
