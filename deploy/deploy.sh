#!/usr/bin/env bash
# Deploy codetune to a Google Cloud project: the upload bucket, the functions' state bucket and
# the pipeline's output bucket, topics with dead-letter topics, the five functions with a service
# account each, a build account, the log sink, the sweep's schedule, and only the roles each part
# needs: custom roles with the Vertex AI permissions each identity uses, and on the upload bucket
# grants limited by IAM conditions to the prefix and names their holder reads or writes
# (docs/deploy.md has the table; a test holds it against this script's dry run).
#
#   deploy/deploy.sh --project P --region R --bucket B [--state-bucket S] [--uploader MEMBER]...
#     [--operator MEMBER]...
#     [--settings FILE] [--dry-run]
#
# Safe to run again: creations that find their resource carry on, and every setting is then
# applied with an update, so a second run changes nothing and fails nothing. Run on a deployment
# of an older version, it moves the state that version kept in the upload bucket to the state
# bucket and removes the grants it no longer makes.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=deploy/lib.sh
source "$ROOT/deploy/lib.sh"
parse_args "$@"
REQUIREMENTS=requirements.txt
[ "$NEAR_DUPLICATES" = on ] && REQUIREMENTS=requirements-near.txt
# A deployment with no budget lets any upload start a job of any size: say so, every run.
case " ${TUNING_DEFAULTS[*]} " in
  *" CODETUNE_MAX_TRAINING_TOKENS="* | *" CODETUNE_MAX_COST="*) ;;
  *) echo "deploy.sh: WARNING: no budget is set: any upload can start a job of any size." \
    "Set CODETUNE_MAX_TRAINING_TOKENS or CODETUNE_MAX_COST in the settings file" \
    "(deploy/settings.example.env has a cap sized for a typical code dataset)" >&2 ;;
esac

RUNTIME=python311
PYTHON=${PYTHON:-python3}  # the Python that compiles the functions' bytecode (below)
PYTHON_TAG=$("$PYTHON" -c 'import sys; print("python%d%d" % sys.version_info[:2])' 2>/dev/null || true)
BUILD=$ROOT/deploy/build
# The pipeline job events a log sink routes to the job-events topic: Vertex AI Pipelines logs
# each state change under this resource type (docs/chain.md, status).
SINK_FILTER='resource.type="aiplatform.googleapis.com/PipelineJob" AND jsonPayload.state=("PIPELINE_STATE_SUCCEEDED" OR "PIPELINE_STATE_FAILED" OR "PIPELINE_STATE_CANCELLED")'
# tune's worst case is a Vertex AI read retried 5 times at 30 s with backoff (about 3 min)
# after a dataset's conversion; it gets the whole ack deadline of its push subscription.
ACK_DEADLINE=600
TUNE_TIMEOUT=${ACK_DEADLINE}s

placeholders \
  PROJECT_NUMBER "the project's number (gcloud projects describe); it names the service agents" \
  RUN_APP_HASH "the part of a function's run.app URL that Cloud Run chose (serviceConfig.uri)" \
  TRIGGER_SUBSCRIPTION "the Pub/Sub subscription Eventarc made for validate's trigger (transport.pubsub.subscription)" \
  SINK_WRITER_IDENTITY "the log sink's writer identity (writerIdentity), made with the sink"

section "APIs and service agents"
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
section "buckets"
for bucket in "$BUCKET" "$STATE_BUCKET" "$OUTPUT_BUCKET"; do
  run_tolerant gcloud storage buckets create "gs://$bucket" --project "$PROJECT" --location "$REGION" \
    --uniform-bucket-level-access --public-access-prevention
  run gcloud storage buckets update "gs://$bucket" --uniform-bucket-level-access --public-access-prevention
done

# An older version kept the functions' state under _codetune/ in the upload bucket. Moved to the
# state bucket under the same names, before the functions are replaced (the new ones read the
# state bucket only: a claim left behind could let tune submit a job a second time) and once
# more after, for what the old ones wrote meanwhile. An object whose name the state bucket
# already has is left where it is (--no-clobber), and said. A move that fails stops the
# deployment before any function is replaced.
old_state_count() {  # objects under _codetune/ in the upload bucket
  local listing
  if listing=$(gcloud storage ls "gs://$BUCKET/${SYSTEM_PREFIX}**" 2>&1); then
    grep -c '^gs://' <<<"$listing" || true
  elif grep -q "matched no objects" <<<"$listing"; then
    echo 0
  else
    echo "$listing" >&2
    return 1
  fi
}
move_old_state() {
  if [ "$DRY_RUN" = 1 ]; then
    echo "# moves what an older version left under gs://$BUCKET/$SYSTEM_PREFIX, if anything (a real run says how many)"
    run gcloud storage mv --no-clobber "gs://$BUCKET/${SYSTEM_PREFIX%/}" "gs://$STATE_BUCKET"
    return
  fi
  local found left open
  found=$(old_state_count)
  [ "$found" -gt 0 ] || return 0
  # Jobs of the older version read their data from the upload bucket's _codetune/: moved, a job
  # still reading it fails. Upgrade when none is unfinished (docs/deploy.md, "Upgrading").
  open=$(gcloud storage ls "gs://$BUCKET/${SYSTEM_PREFIX}open/**" 2>/dev/null | grep -c '^gs://' || true)
  if [ "${open:-0}" -gt 0 ]; then
    echo "deploy.sh: WARNING: $open jobs of the older deployment are unfinished; a job that" \
      "still reads its data from gs://$BUCKET/$SYSTEM_PREFIX will fail once it is moved" >&2
  fi
  # The destination is the bucket itself: a prefix that already exists there would otherwise
  # receive the moved prefix inside it (_codetune/_codetune/...).
  run gcloud storage mv --no-clobber "gs://$BUCKET/${SYSTEM_PREFIX%/}" "gs://$STATE_BUCKET"
  left=$(old_state_count)
  echo "moved $((found - left)) objects of an older deployment from gs://$BUCKET/$SYSTEM_PREFIX" \
    "to gs://$STATE_BUCKET/$SYSTEM_PREFIX" >&2
  if [ "$left" -gt 0 ]; then
    echo "  $left objects stay in gs://$BUCKET/$SYSTEM_PREFIX: the state bucket has objects of" \
      "their names already; compare the two and remove the older by hand" >&2
  fi
}
move_old_state

# --- Topics, and dead letters kept 7 days in a pull subscription for a person to inspect --------
section "topics"
for topic in "$VALIDATED_TOPIC" "$VALIDATED_DLQ" "$EVENTS_TOPIC" "$EVENTS_DLQ" "$STORAGE_DLQ" \
  "$FINISHED_TOPIC" "$EVALUATION_TOPIC" "$EVALUATION_DLQ"; do
  run_tolerant gcloud pubsub topics create "$topic" --project "$PROJECT"
done
for topic in "$VALIDATED_DLQ" "$EVENTS_DLQ" "$STORAGE_DLQ" "$EVALUATION_DLQ"; do
  run_tolerant gcloud pubsub subscriptions create "$topic" --topic "$topic" --project "$PROJECT" \
    --message-retention-duration 7d
  # https://cloud.google.com/pubsub/docs/handling-failures#grant_forwarding_permissions
  run gcloud pubsub topics add-iam-policy-binding "$topic" --project "$PROJECT" \
    --member "serviceAccount:$PUBSUB_AGENT" --role roles/pubsub.publisher
done

# --- Service accounts, custom roles, and every grant --------------------------------------------
section "identities and roles"
for account in "${ACCOUNTS[@]}"; do
  run_tolerant gcloud iam service-accounts create "$PREFIX-$account" --project "$PROJECT" \
    --display-name "codetune $account"
done

# Custom roles: only the Vertex AI permissions each identity uses, in place of the project-wide
# aiplatform.user and aiplatform.viewer. Each name is the one the REST method's reference gives
# under "IAM Permissions" (tuningJobs: https://cloud.google.com/vertex-ai/docs/reference/rest/v1/projects.locations.tuningJobs,
# pipelineJobs: https://cloud.google.com/vertex-ai/docs/reference/rest/v1/projects.locations.pipelineJobs),
# except pipelineJobs.list, whose page was not read that far: its name follows the others. IAM
# refuses a custom role naming a permission that does not exist, so a wrong one fails here.
TUNER_PERMISSIONS=aiplatform.tuningJobs.create,aiplatform.tuningJobs.get,aiplatform.tuningJobs.list,aiplatform.tuningJobs.cancel,aiplatform.pipelineJobs.create,aiplatform.pipelineJobs.get,aiplatform.pipelineJobs.list,aiplatform.pipelineJobs.cancel
READER_PERMISSIONS=aiplatform.tuningJobs.get,aiplatform.tuningJobs.list,aiplatform.pipelineJobs.get,aiplatform.pipelineJobs.list
# The job account: Google's permissions for "Model tuning"
# (https://cloud.google.com/vertex-ai/generative-ai/docs/access-control), with its
# aiplatform.pipelineJobs.* and aiplatform.customJobs.* spelled out (a custom role takes no
# wildcard) as the verbs of those resources' methods: create, get, list, cancel, delete. Its
# storage.objects.* are the bucket grants below, not project-wide.
RUNNER_PERMISSIONS=aiplatform.pipelineJobs.create,aiplatform.pipelineJobs.get,aiplatform.pipelineJobs.list,aiplatform.pipelineJobs.cancel,aiplatform.pipelineJobs.delete,aiplatform.customJobs.create,aiplatform.customJobs.get,aiplatform.customJobs.list,aiplatform.customJobs.cancel,aiplatform.customJobs.delete,aiplatform.datasets.export,aiplatform.datasets.get,aiplatform.models.upload,aiplatform.models.get,aiplatform.endpoints.create,aiplatform.endpoints.get,aiplatform.endpoints.deploy,aiplatform.metadataStores.get
# The evaluate function: generateContent on the base model (publishers/google/models/M) and on
# the tuned model's endpoint (endpoints/E), one RPC whose reference names
# aiplatform.endpoints.predict on the model resource for both
# (https://cloud.google.com/vertex-ai/generative-ai/docs/reference/rpc/google.cloud.aiplatform.v1,
# PredictionService.GenerateContent; "Make prompt requests" in
# https://cloud.google.com/vertex-ai/generative-ai/docs/access-control). It reads no job: the
# record names the endpoint.
EVALUATOR_PERMISSIONS=aiplatform.endpoints.predict
custom_role() {  # role title permissions: created, or brought to these permissions
  local role=${1##*/} fields=(--project "$PROJECT" --title "$2" --permissions "$3" --stage GA)
  run_tolerant gcloud iam roles create "$role" "${fields[@]}" \
    --description "codetune (deploy/deploy.sh): only what $2 uses"
  run gcloud iam roles update "$role" "${fields[@]}" --quiet
}
custom_role "$TUNER_ROLE" "codetune tune" "$TUNER_PERMISSIONS"
custom_role "$READER_ROLE" "codetune job reader" "$READER_PERMISSIONS"
custom_role "$RUNNER_ROLE" "codetune job runner" "$RUNNER_PERMISSIONS"
custom_role "$EVALUATOR_ROLE" "codetune evaluate" "$EVALUATOR_PERMISSIONS"
grant_on_project() {  # account role
  run gcloud projects add-iam-policy-binding "$PROJECT" --condition None \
    --member "serviceAccount:$(sa "$1")" --role "$2"
}
# tune: create and follow jobs, run them as the job account (and no other).
grant_on_project tune "$TUNER_ROLE"
run gcloud iam service-accounts add-iam-policy-binding "$(sa pipeline)" --project "$PROJECT" \
  --member "serviceAccount:$(sa tune)" --role roles/iam.serviceAccountUser
# The job account (codetune-pipeline): runs every job, the pipeline and Gemini tuning alike.
grant_on_project pipeline "$RUNNER_ROLE"
# status and sweep: read jobs.
grant_on_project status "$READER_ROLE"
grant_on_project sweep "$READER_ROLE"
# evaluate: asks the base model and the tuned endpoint.
grant_on_project evaluate "$EVALUATOR_ROLE"
# Builds run as their own account: a new project's default build account may lack what a
# functions build needs. Cloud Run Builder is the role Google names for a function's build
# account (https://cloud.google.com/run/docs/configuring/services/build-service-account): it
# reads the source, writes logs and the image's artifacts, and no more (six permissions:
# https://cloud.google.com/run/docs/reference/iam/roles), where cloudbuild.builds.builder also
# reaches the project's builds, buckets and topics.
grant_on_project build roles/run.builder

# Grants of older versions that this one no longer makes: the broad project roles, and the
# upload bucket's grants on the state the functions kept there. Removed by their exact
# condition, so that the grants made below are never touched (none is ever missing), and before
# the functions are replaced: the old ones can then write no state the new ones would not see
# (their deliveries fail, are retried, and reach the new ones).
for old in "${OLD_PROJECT_ROLES[@]}"; do
  run_tolerant gcloud projects remove-iam-policy-binding "$PROJECT" --condition None \
    --member "serviceAccount:$(sa "${old% *}")" --role "${old#* }"
done
revoke_on_uploads() {  # account role title expression
  run_tolerant gcloud storage buckets remove-iam-policy-binding "gs://$BUCKET" \
    --member "serviceAccount:$(sa "$1")" --role "$2" --condition "$(condition "$3" "$4")"
}
S=$SYSTEM_PREFIX U=$UPLOAD_PREFIX
revoke_on_uploads validate roles/storage.objectUser validate-writes-state \
  "$(objects_in "$BUCKET" "${S}records/" "${S}pinned/" "${S}reports/")"
revoke_on_uploads tune roles/storage.objectViewer tune-reads-data "$(objects_in "$BUCKET" "$U" "${S}pinned/")"
revoke_on_uploads tune roles/storage.objectUser tune-writes-state \
  "$(objects_in "$BUCKET" "${S}records/" "${S}converted/" "${S}claims/" "${S}jobs/" "${S}open/")"
revoke_on_uploads status roles/storage.objectViewer status-reads-pointers "$(objects_in "$BUCKET" "${S}jobs/")"
revoke_on_uploads status roles/storage.objectUser status-writes-state \
  "$(objects_in "$BUCKET" "${S}records/" "${S}open/")"
revoke_on_uploads sweep roles/storage.objectViewer sweep-lists-the-bucket \
  'resource.type == "storage.googleapis.com/Bucket"'
revoke_on_uploads sweep roles/storage.objectViewer sweep-reads-data "$(objects_in "$BUCKET" "$U" "${S}jobs/")"
revoke_on_uploads sweep roles/storage.objectUser sweep-writes-state \
  "$(objects_in "$BUCKET" "${S}records/" "${S}pinned/" "${S}reports/" "${S}open/")"
revoke_on_uploads pipeline roles/storage.objectViewer pipeline-reads-datasets \
  "$(objects_in "$BUCKET" "${S}pinned/" "${S}converted/")"

# The state bucket: the functions' own, read and written whole by each of them (the sweep lists
# it, and evaluate the answers it stored: objectUser holds storage.objects.list). No uploader has
# any grant there.
for account in validate tune status sweep evaluate; do
  run gcloud storage buckets add-iam-policy-binding "gs://$STATE_BUCKET" \
    --member "serviceAccount:$(sa "$account")" --role roles/storage.objectUser
done
# The job account runs every job (the pipeline, and Gemini tuning: a TuningJob's serviceAccount
# is "the service account that the tuningJob workload runs as", so Vertex AI's own agents need
# nothing here): it reads the pinned copies and conversions, nothing else of the state.
grant_on "$STATE_BUCKET" "serviceAccount:$(sa pipeline)" roles/storage.objectViewer \
  pipeline-reads-datasets "$(objects_in "$STATE_BUCKET" "${S}pinned/" "${S}converted/")"
# ... and writes its artifacts to its own bucket.
run gcloud storage buckets add-iam-policy-binding "gs://$OUTPUT_BUCKET" \
  --member "serviceAccount:$(sa pipeline)" --role roles/storage.objectUser

# The upload bucket: uploads under the upload prefix, and the reports beside them. Nothing in
# the chain reads anything else there.
grant_on_uploads() {  # account role title expression
  grant_on "$BUCKET" "serviceAccount:$(sa "$1")" "$2" "$3" "$4"
}
# validate: reads an upload (the dataset, its manifest <name>.tuning.json, their metadata);
# writes the report beside it.
grant_on_uploads validate roles/storage.objectViewer validate-reads-uploads "$(objects_in "$BUCKET" "$U")"
grant_on_uploads validate roles/storage.objectUser validate-writes-reports "$(reports_beside_uploads)"
# tune: the live generation of an evaluation dataset, from its metadata (storage.objects.get).
grant_on_uploads tune roles/storage.objectViewer tune-reads-uploads "$(objects_in "$BUCKET" "$U")"
# sweep: lists the uploads (to find those whose event was lost), then does what validate does.
grant_on_uploads sweep roles/storage.objectViewer sweep-lists-uploads "$(listing_under "$U")"
grant_on_uploads sweep roles/storage.objectViewer sweep-reads-uploads "$(objects_in "$BUCKET" "$U")"
grant_on_uploads sweep roles/storage.objectUser sweep-writes-reports "$(reports_beside_uploads)"
# status and sweep: when a job ends, its run page beside the dataset (<name>.run.html).
grant_on_uploads status roles/storage.objectUser status-writes-run-pages "$(run_pages_beside_uploads)"
grant_on_uploads sweep roles/storage.objectUser sweep-writes-run-pages "$(run_pages_beside_uploads)"
# evaluate: the run page again, with the verdict. Its evaluation page, which holds the
# evaluation dataset's text and both models' answers, stays in the state bucket: an uploader may
# read what lies beside any upload, and would read another team's evaluation data there.
grant_on_uploads evaluate roles/storage.objectUser evaluate-writes-run-pages "$(run_pages_beside_uploads)"
# Uploaders: create objects under the upload prefix (objectCreator cannot read, replace or
# delete one: https://cloud.google.com/storage/docs/access-control/iam-roles), read the reports
# and run pages.
for member in "${UPLOADERS[@]}"; do
  grant_on "$BUCKET" "$member" roles/storage.objectCreator uploader-creates-uploads \
    "$(objects_in "$BUCKET" "$U")"
  grant_on "$BUCKET" "$member" roles/storage.objectViewer uploader-reads-reports \
    "$(reports_beside_uploads) || $(run_pages_beside_uploads)"
done
# Operators: codetune status, runs and cancel. They read the records (never write them: only
# the functions write state) and publish cancels on the validated topic, where tune takes them
# (it trusts nothing a message says: the record decides, docs/guarantees.md).
for member in "${OPERATORS[@]}"; do
  run gcloud storage buckets add-iam-policy-binding "gs://$STATE_BUCKET" --member "$member" \
    --role roles/storage.objectViewer
  run gcloud pubsub topics add-iam-policy-binding "$VALIDATED_TOPIC" --project "$PROJECT" \
    --member "$member" --role roles/pubsub.publisher
done

# Pub/Sub and Eventarc.
# validate (and the sweep, which validates uploads whose event was lost and announces again
# datasets whose message was lost): publish to the one topic; validate receives Eventarc's events.
for account in validate sweep; do
  run gcloud pubsub topics add-iam-policy-binding "$VALIDATED_TOPIC" --project "$PROJECT" \
    --member "serviceAccount:$(sa "$account")" --role roles/pubsub.publisher
done
# status asks for a succeeded job's evaluation; the sweep asks again for one that was lost.
for account in status sweep; do
  run gcloud pubsub topics add-iam-policy-binding "$EVALUATION_TOPIC" --project "$PROJECT" \
    --member "serviceAccount:$(sa "$account")" --role roles/pubsub.publisher
done
# Whoever records a dataset's end tells the completion topic (codetune.app.finished).
for account in validate tune status sweep evaluate; do
  run gcloud pubsub topics add-iam-policy-binding "$FINISHED_TOPIC" --project "$PROJECT" \
    --member "serviceAccount:$(sa "$account")" --role roles/pubsub.publisher
done
grant_on_project validate roles/eventarc.eventReceiver
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
section "functions"
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
  run rm -rf "$BUILD/$function/codetune/local" "$BUILD/$function/codetune/cli"
  run find "$BUILD/$function" -name __pycache__ -prune -exec rm -rf {} +
  # Pinned and hash-checked (deploy/lock.sh); near-duplicates' numerical stack only where a
  # deployment turns the check on; the evaluation's metrics (sacrebleu, tree-sitter grammars)
  # for the function that scores answers, and no other.
  requirements=$REQUIREMENTS
  [ "$function" = evaluate ] && requirements=requirements-evaluation.txt
  run cp "$ROOT/deploy/$requirements" "$BUILD/$function/requirements.txt"
  # Bytecode compiled here, so that a new instance does not compile codetune's modules before
  # its first event (about 100 ms of CPU a cold start: benchmarks/README.md). Hash-checked
  # without looking at the source, as the upload keeps no modification times; only when this
  # Python is the runtime's, whose interpreter would ignore another version's bytecode.
  if [ "$PYTHON_TAG" = "$RUNTIME" ]; then
    run "$PYTHON" -m compileall -q --invalidation-mode unchecked-hash "$BUILD/$function"
  fi
done
# Jobs run in the deployment's region unless the settings file names another: one value, in
# every function's environment once (the tuning defaults then leave it out).
JOB_REGION=$REGION
DEFAULTS=()
for setting in "${TUNING_DEFAULTS[@]}"; do
  case "$setting" in
    CODETUNE_PIPELINE_REGION=*|CODETUNE_REGION=*) JOB_REGION=${setting#*=} ;;
    *) DEFAULTS+=("$setting") ;;
  esac
done
TUNING_DEFAULTS=("${DEFAULTS[@]}")
# validate (and the sweep, which validates missed uploads) plans the job as tune will, to refuse
# before any message what tune would refuse (the model, the kind, the budget): it gets the
# same tuning defaults and the same settings tune plans with.
PLAN_ENV=("CODETUNE_OUTPUT_DIR=gs://$OUTPUT_BUCKET/pipeline" "CODETUNE_SERVICE_ACCOUNT=$(sa pipeline)")
VALIDATE_ENV=("CODETUNE_SECRETS=$SECRETS" "CODETUNE_NEAR_DUPLICATES=$NEAR_DUPLICATES"
  "CODETUNE_SUPERSEDE=$SUPERSEDE"
  "CODETUNE_VALIDATION_SECONDS=$VALIDATION_SECONDS" "${PLAN_ENV[@]}" "${TUNING_DEFAULTS[@]}")
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
  # tune counts the converted file the job reads with it, as validate counted the dataset.
  run cp "$TOKENIZER_MODEL" "$BUILD/tune/tokenizer.model"
  VALIDATE_ENV+=("CODETUNE_TOKENIZER_MODEL=tokenizer.model")
  PLAN_ENV+=("CODETUNE_TOKENIZER_MODEL=tokenizer.model")
fi

join_env() { local IFS='|'; echo "^|^$*"; }  # gcloud's own escape for values with commas
# The evaluation's settings, one value in every function: tune plans an evaluation only when it
# is on, within the cap (validate and the sweep plan as tune does); status and the sweep ask for
# it on its topic; evaluate answers, and ends one that is off. Its timeout: EVALUATION_SECONDS
# of answering, then 60 s to score and record them (an event function's most is 540 s; the
# lease a delivery takes outlives it, and the push subscription's ack deadline too).
EVALUATION_ENV=("CODETUNE_EVALUATION=$EVALUATION" "CODETUNE_EVALUATION_TOPIC=$EVALUATION_TOPIC"
  "CODETUNE_EVALUATION_MAX_EXAMPLES=$EVALUATION_MAX_EXAMPLES"
  "CODETUNE_EVALUATION_CONCURRENCY=$EVALUATION_CONCURRENCY"
  "CODETUNE_EVALUATION_SECONDS=$EVALUATION_SECONDS"
  "CODETUNE_EVALUATION_ATTEMPTS=$EVALUATION_ATTEMPTS")
EVALUATE_TIMEOUT=$((EVALUATION_SECONDS + 60))s
# Every function: the state bucket, and the project (id and number: Vertex AI names jobs by the
# number) and region(s) that a job name read from state, an event or Vertex AI must name before
# any request is sent. status gets the model location too where the deployment sets one; the
# others have it among the tuning defaults.
COMMON_ENV=("CODETUNE_PROJECT=$PROJECT" "CODETUNE_PROJECT_NUMBER=$PROJECT_NUMBER"
  "CODETUNE_BUCKET=$BUCKET" "CODETUNE_STATE_BUCKET=$STATE_BUCKET"
  "CODETUNE_PIPELINE_REGION=$JOB_REGION"
  "CODETUNE_VALIDATED_TOPIC=$VALIDATED_TOPIC" "CODETUNE_FINISHED_TOPIC=$FINISHED_TOPIC"
  "CODETUNE_TUNING_SLOTS=$TUNING_SLOTS" "${EVALUATION_ENV[@]}")
# Where tuned models may be served from: every function that reads a model's name holds it to
# the same places.
[ -z "$MULTI_REGIONS" ] || COMMON_ENV+=("CODETUNE_MULTI_REGIONS=$MULTI_REGIONS")
STATUS_ENV=("${COMMON_ENV[@]}")
for setting in "${TUNING_DEFAULTS[@]}"; do
  case "$setting" in CODETUNE_LOCATION=*) STATUS_ENV+=("$setting") ;; esac
done
# tune compares a training dataset with its evaluation dataset, nearly too where the deployment
# asks for near-duplicates.
TUNE_ENV=("${COMMON_ENV[@]}" "${PLAN_ENV[@]}" "CODETUNE_NEAR_DUPLICATES=$NEAR_DUPLICATES"
  "${TUNING_DEFAULTS[@]}")

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
deploy_function status 512Mi 300s "${STATUS_ENV[@]}" -- --trigger-http
# evaluate mostly waits for answers, EVALUATION_CONCURRENCY at a time; scoring them (chrF, the
# parsers, the bootstrap) is seconds of CPU for a whole version: tune's and status's size.
# Deployed with EVALUATION=off too: a version whose evaluation was planned before it was turned
# off waits in EVALUATING until evaluate ends it as off (the sweep would ask again, for ever);
# idle, it costs nothing.
deploy_function evaluate 512Mi "$EVALUATE_TIMEOUT" "${STATUS_ENV[@]}" -- --trigger-http
# One sweep at a time: two would validate the same missed upload twice.
deploy_function sweep 1Gi "${SWEEP_TIMEOUT}s" "${COMMON_ENV[@]}" "${VALIDATE_ENV[@]}" \
  "CODETUNE_SWEEP_SECONDS=$SWEEP_SECONDS" -- --trigger-http --max-instances 1
run gcloud functions add-invoker-policy-binding "$PREFIX-validate" --project "$PROJECT" \
  --region "$REGION" --member "serviceAccount:$(sa validate)"
for function in tune status evaluate sweep; do
  run gcloud functions add-invoker-policy-binding "$PREFIX-$function" --project "$PROJECT" \
    --region "$REGION" --member "serviceAccount:$(sa pusher)"
done
# What the replaced functions wrote to the upload bucket while the new ones were deployed.
move_old_state

# Tokens name the function's run.app URL (serviceConfig.uri), the audience Cloud Run checks
# (https://cloud.google.com/run/docs/authenticating/service-to-service#acquire-token).
run_app_url() {
  ask "https://$PREFIX-$1-RUN_APP_HASH-uc.a.run.app" gcloud functions describe "$PREFIX-$1" --gen2 \
    --project "$PROJECT" --region "$REGION" --format 'value(serviceConfig.uri)'
}

# --- Push subscriptions: retries with backoff, dead letters after 10 attempts -------------------
section "deliveries: push subscriptions, the Eventarc trigger's dead letters, the log sink, the sweep's schedule"
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
# A request whose delivery ran out of time is delivered again (the answers so far are kept);
# after EVALUATION_ATTEMPTS deliveries (at most 9) the next one records the failure, before the
# 10th sends it to the dead letters. One lost anyway is asked for again by the sweep.
push_subscription "$EVALUATE_SUBSCRIPTION" "$EVALUATION_TOPIC" evaluate "$EVALUATION_DLQ"

# validate's trigger delivers through a subscription Eventarc made; its dead letters go to their
# own topic (https://cloud.google.com/eventarc/docs/retry-events#dead-letter-topics).
TRIGGER=$(ask "projects/$PROJECT/locations/$REGION/triggers/$PREFIX-validate-TRIGGER_ID" \
  gcloud functions describe "$PREFIX-validate" --gen2 --project "$PROJECT" --region "$REGION" \
  --format 'value(eventTrigger.trigger)')
TRIGGER_SUBSCRIPTION=$(ask "projects/$PROJECT/subscriptions/TRIGGER_SUBSCRIPTION" \
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
section "monitoring"
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
Dead letters, if any: gcloud pubsub subscriptions pull $VALIDATED_DLQ --project $PROJECT (also $EVENTS_DLQ, $STORAGE_DLQ, $EVALUATION_DLQ)
EOF
fi
