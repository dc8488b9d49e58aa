#!/usr/bin/env bash
# Remove what deploy.sh created. The buckets, with the datasets, reports, the functions' state
# and the pipeline's output in them, are kept unless --delete-data is given.
#
#   deploy/teardown.sh --project P --region R --bucket B [--state-bucket S] [--uploader MEMBER]...
#     [--settings FILE] [--delete-data] [--dry-run]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=deploy/lib.sh
source "$ROOT/deploy/lib.sh"
DELETE_DATA=0
EXTRA_USAGE=" [--delete-data]"
extra_arg() { case "$1" in --delete-data|--delete-bucket) DELETE_DATA=1 ;; *) return 1 ;; esac; }
parse_args "$@"

placeholders \
  POLICY "each alert policy named \"$PREFIX: ...\" (gcloud alpha monitoring policies list)" \
  DASHBOARD "the dashboard named $PREFIX (gcloud monitoring dashboards list)"

section "deliveries and functions"
run_tolerant gcloud scheduler jobs delete "$PREFIX-sweep" --project "$PROJECT" --location "$REGION" --quiet
run_tolerant gcloud logging sinks delete "$SINK" --project "$PROJECT" --quiet
for subscription in "$TUNE_SUBSCRIPTION" "$STATUS_SUBSCRIPTION" "$EVALUATE_SUBSCRIPTION" \
  "$VALIDATED_DLQ" "$EVENTS_DLQ" "$STORAGE_DLQ" "$EVALUATION_DLQ"; do
  run_tolerant gcloud pubsub subscriptions delete "$subscription" --project "$PROJECT" --quiet
done
# A function's Eventarc trigger, and the trigger's own subscription, go with the function.
for function in "${FUNCTIONS[@]}" sweep; do
  run_tolerant gcloud functions delete "$PREFIX-$function" --gen2 --project "$PROJECT" --region "$REGION" --quiet
done

section "topics"
for topic in "$VALIDATED_TOPIC" "$VALIDATED_DLQ" "$EVENTS_TOPIC" "$EVENTS_DLQ" "$STORAGE_DLQ" \
  "$FINISHED_TOPIC" "$EVALUATION_TOPIC" "$EVALUATION_DLQ"; do
  run_tolerant gcloud pubsub topics delete "$topic" --project "$PROJECT" --quiet
done

section "identities and roles"
# Grants before accounts: a deleted account's bindings would linger as deleted:serviceAccount.
remove_role() {
  run_tolerant gcloud projects remove-iam-policy-binding "$PROJECT" --condition None \
    --member "serviceAccount:$(sa "$1")" --role "$2"
}
remove_role build roles/run.builder
remove_role validate roles/eventarc.eventReceiver
remove_role tune "$TUNER_ROLE"
remove_role pipeline "$RUNNER_ROLE"
remove_role status "$READER_ROLE"
remove_role sweep "$READER_ROLE"
remove_role evaluate "$EVALUATOR_ROLE"
for old in "${OLD_PROJECT_ROLES[@]}"; do  # a deployment of an older version
  remove_role "${old% *}" "${old#* }"
done
# Bucket grants with all their conditions (--all), those of older versions too.
remove_on() {  # bucket member role
  run_tolerant gcloud storage buckets remove-iam-policy-binding "gs://$1" --member "$2" --role "$3" --all
}
for account in validate tune status sweep evaluate pipeline; do
  for role in roles/storage.objectViewer roles/storage.objectUser; do
    remove_on "$BUCKET" "serviceAccount:$(sa "$account")" "$role"
  done
done
for account in validate tune status sweep evaluate; do
  remove_on "$STATE_BUCKET" "serviceAccount:$(sa "$account")" roles/storage.objectUser
done
remove_on "$STATE_BUCKET" "serviceAccount:$(sa pipeline)" roles/storage.objectViewer
for member in "${UPLOADERS[@]}"; do
  remove_on "$BUCKET" "$member" roles/storage.objectCreator
  remove_on "$BUCKET" "$member" roles/storage.objectViewer
done
run_tolerant gcloud storage buckets remove-iam-policy-binding "gs://$OUTPUT_BUCKET" \
  --member "serviceAccount:$(sa pipeline)" --role roles/storage.objectUser
for account in "${ACCOUNTS[@]}"; do
  run_tolerant gcloud iam service-accounts delete "$(sa "$account")" --project "$PROJECT" --quiet
done
# The custom roles stay, bound to no one, so grant nothing: a deleted custom role's id cannot be
# used again for 37 days (https://cloud.google.com/iam/docs/creating-custom-roles),
# and deploy.sh would fail to create it again meanwhile.

section "monitoring"
# The metrics by name; policies and the dashboard by their display names.
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

if [ "$DELETE_DATA" = 1 ]; then
  section "buckets"
  for bucket in "$BUCKET" "$STATE_BUCKET" "$OUTPUT_BUCKET"; do
    run_tolerant gcloud storage rm --recursive "gs://$bucket"
  done
fi
