#!/usr/bin/env bash
# Deploy codetune to a Google Cloud project: the upload bucket and the pipeline's output
# bucket, topics with dead-letter topics, the four functions with a service account each, a
# build account, the log sink, the sweep's schedule, and only the roles each part needs, each
# bucket grant limited to the object prefixes its holder reads or writes (docs/deploy.md has the
# table; a test holds it against this script's dry run).
#
#   deploy/deploy.sh --project P --region R --bucket B [--settings FILE] [--dry-run]
#
# Safe to run again: creations that find their resource carry on, and every setting is then
# applied with an update, so a second run changes nothing and fails nothing.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=deploy/lib.sh
source "$ROOT/deploy/lib.sh"
parse_args "$@"

RUNTIME=python311
PYTHON=${PYTHON:-python3}  # the Python that compiles the functions' bytecode (below)
PYTHON_TAG=$("$PYTHON" -c 'import sys; print("python%d%d" % sys.version_info[:2])' 2>/dev/null || true)
BUILD=$ROOT/deploy/build
# FACTS: the pipeline job events a log sink routes to the job-events topic.
SINK_FILTER='resource.type="aiplatform.googleapis.com/PipelineJob" AND jsonPayload.state=("PIPELINE_STATE_SUCCEEDED" OR "PIPELINE_STATE_FAILED" OR "PIPELINE_STATE_CANCELLED")'
# tune's worst case is a Vertex AI read retried 5 times at 30 s with backoff (about 3 min)
# after a dataset's conversion; it gets the whole ack deadline of its push subscription.
ACK_DEADLINE=600
TUNE_TIMEOUT=${ACK_DEADLINE}s

# --- APIs ---------------------------------------------------------------------------------------
run gcloud services enable aiplatform.googleapis.com cloudfunctions.googleapis.com \
  run.googleapis.com cloudbuild.googleapis.com artifactregistry.googleapis.com \
  eventarc.googleapis.com pubsub.googleapis.com storage.googleapis.com logging.googleapis.com \
  iam.googleapis.com cloudscheduler.googleapis.com --project "$PROJECT"

# Service agents, created now if the project has none yet, so that no grant to one can fail on
# an agent that does not exist (https://cloud.google.com/iam/docs/create-service-agents).
PROJECT_NUMBER=$(ask PROJECT_NUMBER gcloud projects describe "$PROJECT" --format='value(projectNumber)')
run gcloud beta services identity create --service pubsub.googleapis.com --project "$PROJECT"
PUBSUB_AGENT=service-$PROJECT_NUMBER@gcp-sa-pubsub.iam.gserviceaccount.com
STORAGE_AGENT=$(ask "service-$PROJECT_NUMBER@gs-project-accounts.iam.gserviceaccount.com" \
  gcloud storage service-agent --project "$PROJECT")

# --- Buckets: uniform access, public access prevention ------------------------------------------
# https://cloud.google.com/storage/docs/using-public-access-prevention
for bucket in "$BUCKET" "$OUTPUT_BUCKET"; do
  run_tolerant gcloud storage buckets create "gs://$bucket" --project "$PROJECT" --location "$REGION" \
    --uniform-bucket-level-access --public-access-prevention
  run gcloud storage buckets update "gs://$bucket" --uniform-bucket-level-access --public-access-prevention
done

# --- Topics, and dead letters kept 7 days in a pull subscription for a person to inspect --------
for topic in "$VALIDATED_TOPIC" "$VALIDATED_DLQ" "$EVENTS_TOPIC" "$EVENTS_DLQ" "$STORAGE_DLQ" \
  "$FINISHED_TOPIC"; do
  run_tolerant gcloud pubsub topics create "$topic" --project "$PROJECT"
done
for topic in "$VALIDATED_DLQ" "$EVENTS_DLQ" "$STORAGE_DLQ"; do
  run_tolerant gcloud pubsub subscriptions create "$topic" --topic "$topic" --project "$PROJECT" \
    --message-retention-duration 7d
  # https://cloud.google.com/pubsub/docs/handling-failures#grant_forwarding_permissions
  run gcloud pubsub topics add-iam-policy-binding "$topic" --project "$PROJECT" \
    --member "serviceAccount:$PUBSUB_AGENT" --role roles/pubsub.publisher
done

# --- Service accounts ---------------------------------------------------------------------------
for account in "${ACCOUNTS[@]}"; do
  run_tolerant gcloud iam service-accounts create "$PREFIX-$account" --project "$PROJECT" \
    --display-name "codetune $account"
done
# Builds run as their own account: a new project's default build account may lack what a
# functions build needs (https://cloud.google.com/functions/docs/securing/build-custom-sa).
run gcloud projects add-iam-policy-binding "$PROJECT" --condition None \
  --member "serviceAccount:$(sa build)" --role roles/cloudbuild.builds.builder

# --- The upload bucket: each account, only the prefixes it reads or writes ----------------------
S=$SYSTEM_PREFIX U=$UPLOAD_PREFIX
# validate: reads uploads (datasets, manifests); writes reports, records, pinned copies.
grant_on_uploads validate roles/storage.objectViewer validate-reads-uploads "$(objects_under "$U")"
grant_on_uploads validate roles/storage.objectUser validate-writes-reports "$(reports_beside_uploads)"
grant_on_uploads validate roles/storage.objectUser validate-writes-state \
  "$(objects_under "${S}records/" "${S}pinned/" "${S}reports/")"
# tune: reads uploads (an evaluation dataset's live version) and pinned copies; writes records,
# conversions, claims, job pointers.
grant_on_uploads tune roles/storage.objectViewer tune-reads-data "$(objects_under "$U" "${S}pinned/")"
grant_on_uploads tune roles/storage.objectUser tune-writes-state \
  "$(objects_under "${S}records/" "${S}converted/" "${S}claims/" "${S}jobs/" "${S}open/")"
# status: reads job pointers; writes records, closes open jobs.
grant_on_uploads status roles/storage.objectViewer status-reads-pointers "$(objects_under "${S}jobs/")"
grant_on_uploads status roles/storage.objectUser status-writes-state "$(objects_under "${S}records/" "${S}open/")"
# sweep: lists the bucket (the reconciler), then does what validate and status do.
grant_on_uploads sweep roles/storage.objectViewer sweep-lists-the-bucket "$(the_bucket_itself)"
grant_on_uploads sweep roles/storage.objectViewer sweep-reads-data "$(objects_under "$U" "${S}jobs/")"
grant_on_uploads sweep roles/storage.objectUser sweep-writes-reports "$(reports_beside_uploads)"
grant_on_uploads sweep roles/storage.objectUser sweep-writes-state \
  "$(objects_under "${S}records/" "${S}pinned/" "${S}reports/" "${S}open/")"
# The pipeline account runs every job (the pipeline, and Gemini tuning: a TuningJob's
# serviceAccount is "the service account that the tuningJob workload runs as", so Vertex AI's
# own agents need nothing here): it reads the pinned and converted datasets only.
grant_on_uploads pipeline roles/storage.objectViewer pipeline-reads-datasets \
  "$(objects_under "${S}pinned/" "${S}converted/")"
# ... and writes its artifacts to its own bucket.
run gcloud storage buckets add-iam-policy-binding "gs://$OUTPUT_BUCKET" \
  --member "serviceAccount:$(sa pipeline)" --role roles/storage.objectUser

# --- Pub/Sub, Eventarc, Vertex AI ---------------------------------------------------------------
# validate (and the sweep, which validates uploads whose event was lost and announces again
# datasets whose message was lost): publish to the one topic; validate receives Eventarc's events.
for account in validate sweep; do
  run gcloud pubsub topics add-iam-policy-binding "$VALIDATED_TOPIC" --project "$PROJECT" \
    --member "serviceAccount:$(sa "$account")" --role roles/pubsub.publisher
done
# Whoever records a dataset's end tells the completion topic (codetune.app.finished).
for account in validate tune status sweep; do
  run gcloud pubsub topics add-iam-policy-binding "$FINISHED_TOPIC" --project "$PROJECT" \
    --member "serviceAccount:$(sa "$account")" --role roles/pubsub.publisher
done
run gcloud projects add-iam-policy-binding "$PROJECT" --condition None \
  --member "serviceAccount:$(sa validate)" --role roles/eventarc.eventReceiver
# tune: create jobs, run them as the pipeline's own account (and no other).
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
# Service agents: Cloud Storage publishes bucket events for Eventarc
# (https://cloud.google.com/eventarc/docs/run/create-trigger-storage-gcloud); Pub/Sub signs push
# requests as the pusher account (https://cloud.google.com/pubsub/docs/authenticate-push-subscriptions).
run gcloud projects add-iam-policy-binding "$PROJECT" --condition None \
  --member "serviceAccount:$STORAGE_AGENT" --role roles/pubsub.publisher
run gcloud iam service-accounts add-iam-policy-binding "$(sa pusher)" --project "$PROJECT" \
  --member "serviceAccount:$PUBSUB_AGENT" --role roles/iam.serviceAccountTokenCreator

# Optional CMEK: Vertex AI's service agent must use the key (S-14: GPU, us-central1 only).
for setting in "${TUNING_DEFAULTS[@]}"; do
  case "$setting" in
    CODETUNE_ENCRYPTION_SPEC_KEY_NAME=*)
      VERTEX_AGENT=$(ask "service-$PROJECT_NUMBER@gcp-sa-aiplatform.iam.gserviceaccount.com" \
        gcloud beta services identity create --service aiplatform.googleapis.com \
        --project "$PROJECT" --format 'value(email)')
      run gcloud kms keys add-iam-policy-binding "${setting#*=}" \
        --member "serviceAccount:$VERTEX_AGENT" --role roles/cloudkms.cryptoKeyEncrypterDecrypter ;;
  esac
done

# --- The functions ------------------------------------------------------------------------------
# Each function's source: its entry point as main.py, the codetune package without its
# development parts (the command line and the local stack), its requirements.
if [ "$PYTHON_TAG" != "$RUNTIME" ]; then
  echo "note: $PYTHON is not the runtime's Python ($RUNTIME): the functions go without bytecode" \
    "and compile codetune at each cold start; set PYTHON to a $RUNTIME interpreter" >&2
fi
for function in "${FUNCTIONS[@]}" sweep; do
  run rm -rf "$BUILD/$function"
  run mkdir -p "$BUILD/$function"
  run cp "$ROOT/functions/$function.py" "$BUILD/$function/main.py"
  run cp -R "$ROOT/shared/codetune" "$BUILD/$function/codetune"
  run rm -rf "$BUILD/$function/codetune/local" "$BUILD/$function/codetune/cli.py"
  run find "$BUILD/$function" -name __pycache__ -prune -exec rm -rf {} +
  run cp "$ROOT/deploy/requirements.txt" "$BUILD/$function/requirements.txt"
  # Bytecode compiled here, so that a new instance does not compile codetune's modules before
  # its first event (about 100 ms of CPU a cold start: benchmarks/README.md). Hash-checked
  # without looking at the source, as the upload keeps no modification times; only when this
  # Python is the runtime's, whose interpreter would ignore another version's bytecode.
  if [ "$PYTHON_TAG" = "$RUNTIME" ]; then
    run "$PYTHON" -m compileall -q --invalidation-mode unchecked-hash "$BUILD/$function"
  fi
done
# validate checks a dataset by the rules of the base model tune will use, and prices it at the
# epochs and price tune will use: it gets the same tuning defaults.
VALIDATE_ENV=("CODETUNE_SECRETS=$SECRETS" "CODETUNE_NEAR_DUPLICATES=$NEAR_DUPLICATES"
  "CODETUNE_VALIDATION_SECONDS=$VALIDATION_SECONDS" "${TUNING_DEFAULTS[@]}")
# A validation stops reading after VALIDATION_SECONDS (rule time-limit) and still writes its
# report and record: validate's timeout leaves it 120 s for that. The sweep validates missed
# uploads only with a whole VALIDATION_SECONDS ahead, within SWEEP_SECONDS, and the same CPU
# (memory sets it: https://cloud.google.com/functions/docs/configuring/memory), so that an
# upload is judged alike by either function.
VALIDATE_TIMEOUT=$((VALIDATION_SECONDS + 120))s
SWEEP_SECONDS=$((VALIDATION_SECONDS + 60))
SWEEP_TIMEOUT=$((SWEEP_SECONDS + 120))
if [ -n "$TOKENIZER_MODEL" ]; then  # shipped with the function: no bucket grant to read it
  run cp "$TOKENIZER_MODEL" "$BUILD/validate/tokenizer.model"
  run cp "$TOKENIZER_MODEL" "$BUILD/sweep/tokenizer.model"  # the sweep validates missed uploads
  VALIDATE_ENV+=("CODETUNE_TOKENIZER_MODEL=tokenizer.model")
fi

join_env() { local IFS='|'; echo "^|^$*"; }  # gcloud's own escape for values with commas
COMMON_ENV=("CODETUNE_PROJECT=$PROJECT" "CODETUNE_BUCKET=$BUCKET" "CODETUNE_VALIDATED_TOPIC=$VALIDATED_TOPIC"
  "CODETUNE_FINISHED_TOPIC=$FINISHED_TOPIC")
# tune compares a training dataset with its evaluation dataset, nearly too where the deployment
# asks for near-duplicates.
TUNE_ENV=("${COMMON_ENV[@]}" "CODETUNE_PIPELINE_REGION=$REGION" "CODETUNE_OUTPUT_DIR=gs://$OUTPUT_BUCKET/pipeline"
  "CODETUNE_SERVICE_ACCOUNT=$(sa pipeline)" "CODETUNE_NEAR_DUPLICATES=$NEAR_DUPLICATES" "${TUNING_DEFAULTS[@]}")

# Only Eventarc, Pub/Sub and Cloud Scheduler of this project call the functions: internal
# ingress lets exactly those through on the run.app URL
# (https://cloud.google.com/run/docs/securing/ingress#settings).
deploy_function() {  # name memory timeout env... -- trigger flags...
  local name=$1 memory=$2 timeout=$3; shift 3
  local env=() ; while [ "$1" != -- ]; do env+=("$1"); shift; done; shift
  run gcloud functions deploy "$PREFIX-$name" --gen2 --runtime "$RUNTIME" --project "$PROJECT" \
    --region "$REGION" --source "$BUILD/$name" --entry-point "$name" "$@" \
    --service-account "$(sa "$name")" \
    --build-service-account "projects/$PROJECT/serviceAccounts/$(sa build)" \
    --ingress-settings internal-only --no-allow-unauthenticated \
    --memory "$memory" --timeout "$timeout" --set-env-vars "$(join_env "${env[@]}")"
}
deploy_function validate 1Gi "$VALIDATE_TIMEOUT" "${COMMON_ENV[@]}" "${VALIDATE_ENV[@]}" -- \
  --trigger-event-filters type=google.cloud.storage.object.v1.finalized \
  --trigger-event-filters "bucket=$BUCKET" --trigger-location "$REGION" \
  --trigger-service-account "$(sa validate)" --retry
deploy_function tune 512Mi "$TUNE_TIMEOUT" "${TUNE_ENV[@]}" -- --trigger-http
deploy_function status 512Mi 300s "${COMMON_ENV[@]}" -- --trigger-http
# One sweep at a time: two would validate the same missed upload twice.
deploy_function sweep 1Gi "${SWEEP_TIMEOUT}s" "${COMMON_ENV[@]}" "${VALIDATE_ENV[@]}" \
  "CODETUNE_SWEEP_SECONDS=$SWEEP_SECONDS" -- --trigger-http --max-instances 1
run gcloud functions add-invoker-policy-binding "$PREFIX-validate" --project "$PROJECT" \
  --region "$REGION" --member "serviceAccount:$(sa validate)"
for function in tune status sweep; do
  run gcloud functions add-invoker-policy-binding "$PREFIX-$function" --project "$PROJECT" \
    --region "$REGION" --member "serviceAccount:$(sa pusher)"
done

# Tokens name the function's run.app URL (serviceConfig.uri), the audience Cloud Run checks
# (https://cloud.google.com/run/docs/authenticating/service-to-service#acquire-token).
run_app_url() {
  ask "https://$PREFIX-$1-RUN_APP_HASH-uc.a.run.app" gcloud functions describe "$PREFIX-$1" --gen2 \
    --project "$PROJECT" --region "$REGION" --format 'value(serviceConfig.uri)'
}

# --- Push subscriptions: retries with backoff, dead letters after 10 attempts -------------------
push_subscription() {  # name topic function dead-letter-topic
  local url; url=$(run_app_url "$3")
  local settings=(--push-endpoint "$url" --push-auth-service-account "$(sa pusher)"
    --push-auth-token-audience "$url" --ack-deadline "$ACK_DEADLINE" --min-retry-delay 10s
    --max-retry-delay 600s --dead-letter-topic "$4" --max-delivery-attempts 10)
  run_tolerant gcloud pubsub subscriptions create "$1" --project "$PROJECT" --topic "$2" "${settings[@]}"
  run gcloud pubsub subscriptions update "$1" --project "$PROJECT" "${settings[@]}"
  run gcloud pubsub subscriptions add-iam-policy-binding "$1" --project "$PROJECT" \
    --member "serviceAccount:$PUBSUB_AGENT" --role roles/pubsub.subscriber
}
push_subscription "$TUNE_SUBSCRIPTION" "$VALIDATED_TOPIC" tune "$VALIDATED_DLQ"
push_subscription "$STATUS_SUBSCRIPTION" "$EVENTS_TOPIC" status "$EVENTS_DLQ"

# validate's trigger delivers through a subscription Eventarc made; its dead letters go to their
# own topic (https://cloud.google.com/eventarc/docs/retry-events#dead-letter-topics).
TRIGGER=$(ask "projects/$PROJECT/locations/$REGION/triggers/$PREFIX-validate-TRIGGER_ID" \
  gcloud functions describe "$PREFIX-validate" --gen2 --project "$PROJECT" --region "$REGION" \
  --format 'value(eventTrigger.trigger)')
TRIGGER_SUBSCRIPTION=$(ask "projects/$PROJECT/subscriptions/eventarc-$REGION-$PREFIX-validate-sub" \
  gcloud eventarc triggers describe "${TRIGGER##*/}" --project "$PROJECT" --location "$REGION" \
  --format 'value(transport.pubsub.subscription)')
run gcloud pubsub subscriptions update "$TRIGGER_SUBSCRIPTION" --project "$PROJECT" \
  --dead-letter-topic "$STORAGE_DLQ" --max-delivery-attempts 10
run gcloud pubsub subscriptions add-iam-policy-binding "$TRIGGER_SUBSCRIPTION" --project "$PROJECT" \
  --member "serviceAccount:$PUBSUB_AGENT" --role roles/pubsub.subscriber

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
SWEEP_URL=$(run_app_url sweep)
SCHEDULE=(--project "$PROJECT" --location "$REGION" --schedule "$(sweep_schedule)" --uri "$SWEEP_URL"
  --http-method POST --oidc-service-account-email "$(sa pusher)" --oidc-token-audience "$SWEEP_URL"
  --attempt-deadline "${SWEEP_TIMEOUT}s")  # Scheduler's default, 180 s, is shorter than a sweep
run_tolerant gcloud scheduler jobs create http "$PREFIX-sweep" "${SCHEDULE[@]}"
run gcloud scheduler jobs update http "$PREFIX-sweep" "${SCHEDULE[@]}"

# --- Monitoring: log-based metrics, alert policies, a dashboard ---------------------------------
# The bodies are deploy/monitoring/ (written from codetune/monitoring.py; docs/monitoring.md).
# A second run brings each to its file: metrics are updated, policies replaced by name, the
# dashboard deleted and created again. Alert policies need gcloud's alpha component.
for file in "$ROOT"/deploy/monitoring/metrics/*.json; do
  metric=$(basename "$file" .json)
  run_tolerant gcloud logging metrics create "$metric" --project "$PROJECT" --config-from-file "$file"
  run gcloud logging metrics update "$metric" --project "$PROJECT" --config-from-file "$file"
done
for file in "$ROOT"/deploy/monitoring/policies/*.json; do
  title=$(sed -n 's/^  "displayName": "\(.*\)",$/\1/p' "$file")
  for old in $(ask "" gcloud alpha monitoring policies list --project "$PROJECT" \
      --filter "displayName=\"$title\"" --format 'value(name)'); do
    run gcloud alpha monitoring policies delete "$old" --project "$PROJECT" --quiet
  done
  run gcloud alpha monitoring policies create --project "$PROJECT" --policy-from-file "$file"
done
for old in $(ask "" gcloud monitoring dashboards list --project "$PROJECT" \
    --filter "displayName=$PREFIX" --format 'value(name)'); do
  run gcloud monitoring dashboards delete "$old" --project "$PROJECT" --quiet
done
run gcloud monitoring dashboards create --project "$PROJECT" \
  --config-from-file "$ROOT/deploy/monitoring/dashboard.json"

if [ "$DRY_RUN" != 1 ]; then
  cat >&2 <<EOF

codetune is deployed. Drop a first dataset (JSONL, see docs/datasets.md):
  gcloud storage cp train.jsonl gs://$BUCKET/${UPLOAD_PREFIX}
See where it stands, with its correlation id (the report lands beside it as train.jsonl.report.json):
  codetune status gs://$BUCKET/${UPLOAD_PREFIX}train.jsonl
Read its story in the logs (Logs Explorer, or):
  gcloud logging read 'labels."codetune/correlation_id"="CORRELATION_ID"' --project $PROJECT --format json
Dead letters, if any: gcloud pubsub subscriptions pull $VALIDATED_DLQ --project $PROJECT (also $EVENTS_DLQ, $STORAGE_DLQ)
EOF
fi
