#!/usr/bin/env bash
# Deploy codetune to a Google Cloud project: bucket, topics with dead-letter topics, the three
# functions with a service account each, the log sink, and only the roles each part needs.
#
#   deploy/deploy.sh --project P --region R --bucket B [--settings FILE] [--dry-run]
#
# Safe to run again: creations that find their resource already there carry on.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=deploy/lib.sh
source "$ROOT/deploy/lib.sh"
parse_args "$@"

RUNTIME=python311
BUILD=$ROOT/deploy/build
# FACTS: the pipeline job events a log sink routes to the job-events topic.
SINK_FILTER='resource.type="aiplatform.googleapis.com/PipelineJob" AND jsonPayload.state=("PIPELINE_STATE_SUCCEEDED" OR "PIPELINE_STATE_FAILED" OR "PIPELINE_STATE_CANCELLED")'

# --- APIs ---------------------------------------------------------------------------------------
run gcloud services enable aiplatform.googleapis.com cloudfunctions.googleapis.com \
  run.googleapis.com cloudbuild.googleapis.com artifactregistry.googleapis.com \
  eventarc.googleapis.com pubsub.googleapis.com storage.googleapis.com logging.googleapis.com \
  iam.googleapis.com cloudscheduler.googleapis.com --project "$PROJECT"

PROJECT_NUMBER=$(ask PROJECT_NUMBER gcloud projects describe "$PROJECT" --format='value(projectNumber)')
PUBSUB_AGENT=service-$PROJECT_NUMBER@gcp-sa-pubsub.iam.gserviceaccount.com
STORAGE_AGENT=$(ask "service-$PROJECT_NUMBER@gs-project-accounts.iam.gserviceaccount.com" \
  gcloud storage service-agent --project "$PROJECT")
VERTEX_AGENT=service-$PROJECT_NUMBER@gcp-sa-aiplatform.iam.gserviceaccount.com

# --- Storage and Pub/Sub ------------------------------------------------------------------------
run_tolerant gcloud storage buckets create "gs://$BUCKET" --project "$PROJECT" --location "$REGION" \
  --uniform-bucket-level-access
for topic in "$VALIDATED_TOPIC" "$VALIDATED_DLQ" "$EVENTS_TOPIC" "$EVENTS_DLQ"; do
  run_tolerant gcloud pubsub topics create "$topic" --project "$PROJECT"
done
# Dead letters are kept in a pull subscription of their own, for a person to inspect.
for topic in "$VALIDATED_DLQ" "$EVENTS_DLQ"; do
  run_tolerant gcloud pubsub subscriptions create "$topic" --topic "$topic" --project "$PROJECT" \
    --message-retention-duration 7d
  run gcloud pubsub topics add-iam-policy-binding "$topic" --project "$PROJECT" \
    --member "serviceAccount:$PUBSUB_AGENT" --role roles/pubsub.publisher
done

# --- Service accounts ---------------------------------------------------------------------------
for account in validate tune status sweep pusher pipeline; do
  run_tolerant gcloud iam service-accounts create "$PREFIX-$account" --project "$PROJECT" \
    --display-name "codetune $account"
done
# Each function: objects of this one bucket (datasets, reports, records).
for account in validate tune status sweep pipeline; do
  run gcloud storage buckets add-iam-policy-binding "gs://$BUCKET" \
    --member "serviceAccount:$(sa "$account")" --role roles/storage.objectUser
done
# validate (and the sweep, which validates uploads whose event was lost and announces again
# datasets whose message was lost): publish to the one topic; validate receives Eventarc's events.
for account in validate sweep; do
  run gcloud pubsub topics add-iam-policy-binding "$VALIDATED_TOPIC" --project "$PROJECT" \
    --member "serviceAccount:$(sa "$account")" --role roles/pubsub.publisher
done
run gcloud projects add-iam-policy-binding "$PROJECT" --condition None \
  --member "serviceAccount:$(sa validate)" --role roles/eventarc.eventReceiver
# tune: create pipeline jobs, run them as the pipeline's own account (and no other).
run gcloud projects add-iam-policy-binding "$PROJECT" --condition None \
  --member "serviceAccount:$(sa tune)" --role roles/aiplatform.user
run gcloud iam service-accounts add-iam-policy-binding "$(sa pipeline)" --project "$PROJECT" \
  --member "serviceAccount:$(sa tune)" --role roles/iam.serviceAccountUser
# The pipeline: tune and upload the model.
run gcloud projects add-iam-policy-binding "$PROJECT" --condition None \
  --member "serviceAccount:$(sa pipeline)" --role roles/aiplatform.user
# status and sweep: read jobs.
for account in status sweep; do
  run gcloud projects add-iam-policy-binding "$PROJECT" --condition None \
    --member "serviceAccount:$(sa "$account")" --role roles/aiplatform.viewer
done
# Service agents: Cloud Storage publishes bucket events for Eventarc; Pub/Sub signs push
# requests as the pusher account.
run gcloud projects add-iam-policy-binding "$PROJECT" --condition None \
  --member "serviceAccount:$STORAGE_AGENT" --role roles/pubsub.publisher
run gcloud iam service-accounts add-iam-policy-binding "$(sa pusher)" --project "$PROJECT" \
  --member "serviceAccount:$PUBSUB_AGENT" --role roles/iam.serviceAccountTokenCreator

# Gemini supervised tuning reads the converted datasets as Vertex AI's service agent.
run gcloud storage buckets add-iam-policy-binding "gs://$BUCKET" \
  --member "serviceAccount:$VERTEX_AGENT" --role roles/storage.objectViewer

# Optional CMEK: Vertex AI's service agent must use the key (S-14: GPU, us-central1 only).
for setting in "${TUNING_DEFAULTS[@]}"; do
  case "$setting" in
    CODETUNE_ENCRYPTION_SPEC_KEY_NAME=*)
      run gcloud kms keys add-iam-policy-binding "${setting#*=}" \
        --member "serviceAccount:$VERTEX_AGENT" --role roles/cloudkms.cryptoKeyEncrypterDecrypter ;;
  esac
done

# --- The functions ------------------------------------------------------------------------------
# Each function's source: its entry point as main.py, the codetune package without its
# development parts (the command line and the local stack), its requirements.
for function in "${FUNCTIONS[@]}" sweep; do
  run rm -rf "$BUILD/$function"
  run mkdir -p "$BUILD/$function"
  run cp "$ROOT/functions/$function.py" "$BUILD/$function/main.py"
  run cp -R "$ROOT/shared/codetune" "$BUILD/$function/codetune"
  run rm -rf "$BUILD/$function/codetune/local" "$BUILD/$function/codetune/cli.py"
  run find "$BUILD/$function" -name __pycache__ -prune -exec rm -rf {} +
  run cp "$ROOT/deploy/requirements.txt" "$BUILD/$function/requirements.txt"
done

join_env() { local IFS='|'; echo "^|^$*"; }  # gcloud's own escape for values with commas
COMMON_ENV=("CODETUNE_PROJECT=$PROJECT" "CODETUNE_BUCKET=$BUCKET" "CODETUNE_VALIDATED_TOPIC=$VALIDATED_TOPIC")
TUNE_ENV=("${COMMON_ENV[@]}" "CODETUNE_PIPELINE_REGION=$REGION" "CODETUNE_OUTPUT_DIR=gs://$BUCKET/_codetune/pipeline"
  "CODETUNE_SERVICE_ACCOUNT=$(sa pipeline)" "${TUNING_DEFAULTS[@]}")

run gcloud functions deploy "$PREFIX-validate" --gen2 --runtime "$RUNTIME" --project "$PROJECT" \
  --region "$REGION" --source "$BUILD/validate" --entry-point validate \
  --trigger-event-filters type=google.cloud.storage.object.v1.finalized \
  --trigger-event-filters "bucket=$BUCKET" --trigger-location "$REGION" \
  --trigger-service-account "$(sa validate)" --service-account "$(sa validate)" \
  --retry --memory 1Gi --timeout 540s --no-allow-unauthenticated \
  --set-env-vars "$(join_env "${COMMON_ENV[@]}")"
run gcloud functions deploy "$PREFIX-tune" --gen2 --runtime "$RUNTIME" --project "$PROJECT" \
  --region "$REGION" --source "$BUILD/tune" --entry-point tune --trigger-http \
  --service-account "$(sa tune)" --memory 512Mi --timeout 300s --no-allow-unauthenticated \
  --set-env-vars "$(join_env "${TUNE_ENV[@]}")"
run gcloud functions deploy "$PREFIX-status" --gen2 --runtime "$RUNTIME" --project "$PROJECT" \
  --region "$REGION" --source "$BUILD/status" --entry-point status --trigger-http \
  --service-account "$(sa status)" --memory 512Mi --timeout 300s --no-allow-unauthenticated \
  --set-env-vars "$(join_env "${COMMON_ENV[@]}")"
run gcloud functions deploy "$PREFIX-sweep" --gen2 --runtime "$RUNTIME" --project "$PROJECT" \
  --region "$REGION" --source "$BUILD/sweep" --entry-point sweep --trigger-http \
  --service-account "$(sa sweep)" --memory 512Mi --timeout 540s --no-allow-unauthenticated \
  --set-env-vars "$(join_env "${COMMON_ENV[@]}")"
run gcloud functions add-invoker-policy-binding "$PREFIX-validate" --project "$PROJECT" \
  --region "$REGION" --member "serviceAccount:$(sa validate)"
for function in tune status sweep; do
  run gcloud functions add-invoker-policy-binding "$PREFIX-$function" --project "$PROJECT" \
    --region "$REGION" --member "serviceAccount:$(sa pusher)"
done

# --- Push subscriptions: retries with backoff, dead letters after 10 attempts -------------------
push_subscription() {  # name topic function dead-letter-topic
  run_tolerant gcloud pubsub subscriptions create "$1" --project "$PROJECT" --topic "$2" \
    --push-endpoint "$(function_url "$3")" --push-auth-service-account "$(sa pusher)" \
    --ack-deadline 600 --min-retry-delay 10s --max-retry-delay 600s \
    --dead-letter-topic "$4" --max-delivery-attempts 10
  run gcloud pubsub subscriptions add-iam-policy-binding "$1" --project "$PROJECT" \
    --member "serviceAccount:$PUBSUB_AGENT" --role roles/pubsub.subscriber
}
push_subscription "$TUNE_SUBSCRIPTION" "$VALIDATED_TOPIC" tune "$VALIDATED_DLQ"
push_subscription "$STATUS_SUBSCRIPTION" "$EVENTS_TOPIC" status "$EVENTS_DLQ"

# --- The log sink: pipeline job state changes to the job-events topic ---------------------------
run_tolerant gcloud logging sinks create "$SINK" "pubsub.googleapis.com/projects/$PROJECT/topics/$EVENTS_TOPIC" \
  --project "$PROJECT" --log-filter "$SINK_FILTER"
WRITER=$(ask serviceAccount:SINK_WRITER_IDENTITY gcloud logging sinks describe "$SINK" --project "$PROJECT" \
  --format='value(writerIdentity)')
run gcloud pubsub topics add-iam-policy-binding "$EVENTS_TOPIC" --project "$PROJECT" \
  --member "$WRITER" --role roles/pubsub.publisher

# --- The sweep: Gemini tuning jobs send no state events; lost pipeline events are rescued -----
sweep_schedule() {  # cron: every SWEEP_INTERVAL_MINUTES minutes
  if [ "$SWEEP_INTERVAL_MINUTES" = 1 ]; then echo "* * * * *"; else echo "*/$SWEEP_INTERVAL_MINUTES * * * *"; fi
}
run_tolerant gcloud scheduler jobs create http "$PREFIX-sweep" --project "$PROJECT" --location "$REGION" \
  --schedule "$(sweep_schedule)" --uri "$(function_url sweep)" --http-method POST \
  --oidc-service-account-email "$(sa pusher)" --oidc-token-audience "$(function_url sweep)"

if [ "$DRY_RUN" != 1 ]; then
  cat >&2 <<EOF

codetune is deployed. Drop a dataset:
  gcloud storage cp train.jsonl gs://$BUCKET/incoming/
Follow it:
  gcloud logging read 'jsonPayload.component=~"validate|tune|status" AND labels."codetune/correlation_id"="CORRELATION_ID"' --project $PROJECT
EOF
fi
