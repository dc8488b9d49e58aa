# Shared by deploy.sh and teardown.sh: arguments, settings, names, and `run`.
# shellcheck shell=bash

usage() {
  cat >&2 <<EOF
usage: $(basename "$0") --project P --region R --bucket B [--state-bucket S] [--uploader MEMBER]...
       [--operator MEMBER]...
       [--settings FILE] [--dry-run]${EXTRA_USAGE:-}

Settings may also come from a file of KEY=VALUE lines (default deploy/settings.env when it
exists; see deploy/settings.example.env): PROJECT, REGION, BUCKET, STATE_BUCKET (the functions'
own bucket, default BUCKET-state), UPLOADERS (IAM members, comma-separated, who may create
uploads: user:..., group:..., serviceAccount:..., domain:...), OPERATORS (IAM members who may
follow and cancel runs: read the state bucket, publish cancels), SWEEP_INTERVAL_MINUTES
(1 to 59, default 1), SECRETS (error or warning, default error: what a credential in a
dataset is), NEAR_DUPLICATES (on or off, default off), SUPERSEDE (keep or cancel, default
keep: what a new version of a dataset does to the older version's unfinished job),
TUNING_SLOTS (the project's concurrent tuning job quota, default 0: not known),
VALIDATION_SECONDS (60 to 420,
default 420: how long one validation may read), EVALUATION (on or off, default on: evaluate a
tuned model against its base on the evaluation dataset), EVALUATION_MAX_EXAMPLES (default 200),
EVALUATION_CONCURRENCY (default 4), EVALUATION_SECONDS (60 to 480, default 480: one delivery's
answering time), EVALUATION_ATTEMPTS (1 to 9, default 5), MULTI_REGIONS (us, eu, us,eu or
none: the multi-regions a tuned model may be served from; default those the regions lie in),
FINISHED_TOPIC (the completion topic,
default codetune-finished), TOKENIZER_MODEL (a SentencePiece model
file of the base model's tokenizer, shipped with the validate function for exact token counts),
and CODETUNE_* tuning defaults passed to the tune function.
Command-line flags win over the file (--uploader and --operator flags add to the lists).
--dry-run prints every command, one a line, and touches nothing.
EOF
  exit 2
}

DRY_RUN=0
PROJECT="" REGION="" BUCKET="" STATE_BUCKET="" SETTINGS=""
# Who may drop datasets: IAM members granted create (not read, not overwrite) under the upload
# prefix, and read of the reports beside their uploads.
UPLOADERS=()
# Who may follow and cancel runs (codetune status, runs, cancel): read of the state bucket and
# publish on the validated topic, where tune takes cancels; nothing else.
OPERATORS=()
# How often the sweep re-reads unfinished jobs; a Gemini job's end is recorded within it.
SWEEP_INTERVAL_MINUTES=1
# A credential found in a dataset (rule `secret`): an error that rejects it, or a warning.
SECRETS=error
# Warn about near-duplicate training examples (MinHash; several times validation's cost).
NEAR_DUPLICATES=off
# A new version of a dataset name and the older version's unfinished job: keep it, or cancel it.
SUPERSEDE=keep
# Concurrent tuning jobs the project's quota allows (0: not known; Vertex AI's 429 tells).
TUNING_SLOTS=0
# How long one validation may read (rule time-limit); the functions' timeouts follow from it.
VALIDATION_SECONDS=420
# A SentencePiece model file (local path): exact token counts instead of characters / 4.
TOKENIZER_MODEL=""
# The evaluation of a tuned model against its base (docs/evaluation.md): on or off; at most so
# many examples a version; so many requests at once; one delivery answers for so long (the
# evaluate function's timeout is 60 s more); and gives up after so many deliveries.
EVALUATION=on
EVALUATION_MAX_EXAMPLES=200
EVALUATION_CONCURRENCY=4
EVALUATION_SECONDS=480
EVALUATION_ATTEMPTS=5
# The multi-regions (us, eu) whose endpoints may serve the deployment's tuned models (tuned
# Gemini 3 models are served there only); "" leaves it to the functions: those its regions lie in.
MULTI_REGIONS=""
TUNING_DEFAULTS=()

parse_args() {
  local project="" region="" bucket="" state_bucket="" uploaders=() operators=() member
  while [ $# -gt 0 ]; do
    case "$1" in
      --project) project=${2:?--project needs a value}; shift 2 ;;
      --region) region=${2:?--region needs a value}; shift 2 ;;
      --bucket) bucket=${2:?--bucket needs a value}; shift 2 ;;
      --state-bucket) state_bucket=${2:?--state-bucket needs a value}; shift 2 ;;
      --uploader) uploaders+=("${2:?--uploader needs a member, like user:alice@example.com}"); shift 2 ;;
      --operator) operators+=("${2:?--operator needs a member, like user:alice@example.com}"); shift 2 ;;
      --settings) SETTINGS=${2:?--settings needs a file}; shift 2 ;;
      --dry-run) DRY_RUN=1; shift ;;
      -h|--help) usage ;;
      *) if ! extra_arg "$1"; then echo "unknown argument: $1" >&2; usage; fi; shift ;;
    esac
  done
  local file=${SETTINGS:-$ROOT/deploy/settings.env}
  if [ -n "$SETTINGS" ] && [ ! -f "$SETTINGS" ]; then echo "no settings file $SETTINGS" >&2; exit 2; fi
  if [ -f "$file" ]; then read_settings "$file"; fi
  PROJECT=${project:-$PROJECT} REGION=${region:-$REGION} BUCKET=${bucket:-$BUCKET}
  [ -n "$PROJECT" ] && [ -n "$REGION" ] && [ -n "$BUCKET" ] || usage
  STATE_BUCKET=${state_bucket:-${STATE_BUCKET:-$BUCKET-state}}
  # State in a bucket uploaders can write is state they can forge (records, pointers, claims).
  if [ "$STATE_BUCKET" = "$BUCKET" ] || [ "$STATE_BUCKET" = "$BUCKET-pipeline" ]; then
    echo "STATE_BUCKET must be a bucket of its own, not the upload bucket or the pipeline's" \
      "output bucket ($STATE_BUCKET)" >&2
    exit 2
  fi
  local -A seen=() operator_seen=()
  local all=("${UPLOADERS[@]}" "${uploaders[@]}")
  UPLOADERS=()
  for member in "${all[@]}"; do
    member_or_exit "an uploader" "$member"
    if [ -z "${seen[$member]:-}" ]; then seen[$member]=1; UPLOADERS+=("$member"); fi
  done
  all=("${OPERATORS[@]}" "${operators[@]}")
  OPERATORS=()
  for member in "${all[@]}"; do
    member_or_exit "an operator" "$member"
    if [ -z "${operator_seen[$member]:-}" ]; then operator_seen[$member]=1; OPERATORS+=("$member"); fi
  done
  case "$SWEEP_INTERVAL_MINUTES" in
    [1-9]|[1-5][0-9]) ;;
    *) echo "SWEEP_INTERVAL_MINUTES must be 1 to 59, not '$SWEEP_INTERVAL_MINUTES'" >&2; exit 2 ;;
  esac
  case "$SECRETS" in
    error|warning) ;;
    *) echo "SECRETS must be error or warning, not '$SECRETS'" >&2; exit 2 ;;
  esac
  case "$SUPERSEDE" in
    keep|cancel) ;;
    *) echo "SUPERSEDE must be keep or cancel, not '$SUPERSEDE'" >&2; exit 2 ;;
  esac
  case "$TUNING_SLOTS" in
    ''|*[!0-9]*) echo "TUNING_SLOTS must be a whole number of 0 or more, not '$TUNING_SLOTS'" >&2; exit 2 ;;
  esac
  case "$NEAR_DUPLICATES" in
    on|off) ;;
    *) echo "NEAR_DUPLICATES must be on or off, not '$NEAR_DUPLICATES'" >&2; exit 2 ;;
  esac
  # validate's timeout is this plus 120 s to write the report, and an event-driven function
  # runs at most 540 s (https://cloud.google.com/functions/docs/configuring/timeout).
  if ! [[ "$VALIDATION_SECONDS" =~ ^[0-9]+$ ]] || [ "$VALIDATION_SECONDS" -lt 60 ] \
    || [ "$VALIDATION_SECONDS" -gt 420 ]; then
    echo "VALIDATION_SECONDS must be 60 to 420, not '$VALIDATION_SECONDS'" >&2; exit 2
  fi
  case "$EVALUATION" in
    on|off) ;;
    *) echo "EVALUATION must be on or off, not '$EVALUATION'" >&2; exit 2 ;;
  esac
  whole_or_exit EVALUATION_MAX_EXAMPLES "$EVALUATION_MAX_EXAMPLES" 1  # none: EVALUATION=off
  whole_or_exit EVALUATION_CONCURRENCY "$EVALUATION_CONCURRENCY" 1
  # The evaluate function's timeout is this plus 60 s to score and record what was answered, and
  # an event-driven function runs at most 540 s (as VALIDATION_SECONDS above).
  whole_or_exit EVALUATION_SECONDS "$EVALUATION_SECONDS" 60 480
  # The delivery after the last attempt records the failure: it must come before the
  # subscription's 10 delivery attempts send the request to the dead letters.
  whole_or_exit EVALUATION_ATTEMPTS "$EVALUATION_ATTEMPTS" 1 9
  case "$MULTI_REGIONS" in
    ''|us|eu|us,eu|eu,us|none) ;;
    *) echo "MULTI_REGIONS must be us, eu, us,eu or none, not '$MULTI_REGIONS'" >&2; exit 2 ;;
  esac
  if [ -n "$TOKENIZER_MODEL" ] && [ ! -f "$TOKENIZER_MODEL" ]; then
    echo "TOKENIZER_MODEL: no file $TOKENIZER_MODEL" >&2; exit 2
  fi
  names
}

# A whole number from least to most (no most: any above least), or exit: name value least [most]
whole_or_exit() {
  local name=$1 value=$2 least=$3 most=${4:-}
  # No leading zero: the scripts' arithmetic would read 0480 as octal.
  if [[ "$value" =~ ^(0|[1-9][0-9]{0,8})$ ]] && [ "$value" -ge "$least" ] \
    && { [ -z "$most" ] || [ "$value" -le "$most" ]; }; then
    return 0
  fi
  if [ -n "$most" ]; then
    echo "$name must be $least to $most, not '$value'" >&2
  else
    echo "$name must be a whole number of $least or more, not '$value'" >&2
  fi
  exit 2
}

# A principal, never allUsers or allAuthenticatedUsers (public access prevention refuses them
# anyway, after half the grants are made).
member_or_exit() {
  if ! [[ "$2" =~ ^(user|group|serviceAccount|domain|principal|principalSet):[^[:space:],]+$ ]]; then
    echo "$1 is an IAM member like user:alice@example.com or group:ml@example.com, not '$2'" >&2
    exit 2
  fi
}

# The functions' settings that deploy.sh sets itself, from a setting of the file or a flag: as
# a CODETUNE_* tuning default they would reach only the functions that plan jobs, and disagree
# with the value the others get.
declare -A OWN_SETTINGS=(
  [CODETUNE_PROJECT]=PROJECT [CODETUNE_BUCKET]=BUCKET [CODETUNE_STATE_BUCKET]=STATE_BUCKET
  [CODETUNE_SECRETS]=SECRETS [CODETUNE_NEAR_DUPLICATES]=NEAR_DUPLICATES
  [CODETUNE_SUPERSEDE]=SUPERSEDE [CODETUNE_TUNING_SLOTS]=TUNING_SLOTS
  [CODETUNE_VALIDATION_SECONDS]=VALIDATION_SECONDS [CODETUNE_FINISHED_TOPIC]=FINISHED_TOPIC
  [CODETUNE_TOKENIZER_MODEL]=TOKENIZER_MODEL [CODETUNE_EVALUATION]=EVALUATION
  [CODETUNE_EVALUATION_MAX_EXAMPLES]=EVALUATION_MAX_EXAMPLES
  [CODETUNE_EVALUATION_CONCURRENCY]=EVALUATION_CONCURRENCY
  [CODETUNE_EVALUATION_SECONDS]=EVALUATION_SECONDS
  [CODETUNE_EVALUATION_ATTEMPTS]=EVALUATION_ATTEMPTS [CODETUNE_MULTI_REGIONS]=MULTI_REGIONS
  [CODETUNE_EVALUATION_TOPIC]=-  # the functions' own topic, always codetune-evaluate
)

# KEY=VALUE lines; comments and blank lines skipped. Read, never executed.
read_settings() {
  local line key value members
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in ''|'#'*) continue ;; esac
    key=${line%%=*} value=${line#*=}
    value=${value%\"} value=${value#\"}
    case "$key" in
      PROJECT) PROJECT=$value ;;
      REGION) REGION=$value ;;
      BUCKET) BUCKET=$value ;;
      STATE_BUCKET) STATE_BUCKET=$value ;;
      UPLOADERS) IFS=', ' read -r -a members <<<"$value"; UPLOADERS+=("${members[@]}") ;;
      OPERATORS) IFS=', ' read -r -a members <<<"$value"; OPERATORS+=("${members[@]}") ;;
      SWEEP_INTERVAL_MINUTES) SWEEP_INTERVAL_MINUTES=$value ;;
      SECRETS) SECRETS=$value ;;
      NEAR_DUPLICATES) NEAR_DUPLICATES=$value ;;
      SUPERSEDE) SUPERSEDE=$value ;;
      TUNING_SLOTS) TUNING_SLOTS=$value ;;
      VALIDATION_SECONDS) VALIDATION_SECONDS=$value ;;
      TOKENIZER_MODEL) TOKENIZER_MODEL=$value ;;
      EVALUATION) EVALUATION=$value ;;
      EVALUATION_MAX_EXAMPLES) EVALUATION_MAX_EXAMPLES=$value ;;
      EVALUATION_CONCURRENCY) EVALUATION_CONCURRENCY=$value ;;
      EVALUATION_SECONDS) EVALUATION_SECONDS=$value ;;
      EVALUATION_ATTEMPTS) EVALUATION_ATTEMPTS=$value ;;
      MULTI_REGIONS) MULTI_REGIONS=$value ;;
      FINISHED_TOPIC) FINISHED_TOPIC=$value ;;
      CODETUNE_*)
        case "${OWN_SETTINGS[$key]:-}" in
          '') ;;
          -) echo "$key in $1 is set by deploy.sh, not by a setting" >&2; exit 2 ;;
          *) echo "$key in $1 is what deploy.sh sets from the setting ${OWN_SETTINGS[$key]}" \
               "(in every function that reads it): write ${OWN_SETTINGS[$key]}=$value instead" >&2
             exit 2 ;;
        esac
        TUNING_DEFAULTS+=("$key=$value") ;;
      *) echo "unknown setting $key in $1" >&2; exit 2 ;;
    esac
  done < "$1"
}

extra_arg() { return 1; }  # a script may define more flags

names() {
  PREFIX=codetune
  # Where uploads land (codetune/config.py): every grant on the upload bucket is limited to it.
  UPLOAD_PREFIX=incoming/
  # The functions' state keeps its names in the state bucket (codetune/state/store.py); an
  # older deployment kept it here in the upload bucket.
  SYSTEM_PREFIX=_codetune/
  OUTPUT_BUCKET=$BUCKET-pipeline  # the pipeline's output: its own bucket, not the upload bucket
  STORAGE_DLQ=$PREFIX-storage-events-dead-letter
  VALIDATED_TOPIC=$PREFIX-dataset-validated
  FINISHED_TOPIC=${FINISHED_TOPIC:-$PREFIX-finished}  # for systems downstream (docs/chain.md)
  EVENTS_TOPIC=$PREFIX-job-events
  # status and the sweep ask the evaluate function here (codetune/config.py: EVALUATION_TOPIC).
  EVALUATION_TOPIC=$PREFIX-evaluate
  VALIDATED_DLQ=$VALIDATED_TOPIC-dead-letter
  EVENTS_DLQ=$EVENTS_TOPIC-dead-letter
  EVALUATION_DLQ=$EVALUATION_TOPIC-dead-letter
  TUNE_SUBSCRIPTION=$PREFIX-tune
  STATUS_SUBSCRIPTION=$PREFIX-status
  EVALUATE_SUBSCRIPTION=$PREFIX-evaluate
  SINK=$PREFIX-job-events
  FUNCTIONS=(validate tune status evaluate)
  ACCOUNTS=(validate tune status sweep evaluate pusher pipeline build)
  sa() { echo "$PREFIX-$1@$PROJECT.iam.gserviceaccount.com"; }
  # Custom roles (deploy.sh says which permissions): a role id may hold letters, digits, _ and .
  TUNER_ROLE=projects/$PROJECT/roles/$PREFIX.tuner
  READER_ROLE=projects/$PROJECT/roles/$PREFIX.jobReader
  RUNNER_ROLE=projects/$PROJECT/roles/$PREFIX.jobRunner
  EVALUATOR_ROLE=projects/$PROJECT/roles/$PREFIX.evaluator
  # Project roles of versions before the custom roles: deploy.sh and teardown.sh remove them.
  OLD_PROJECT_ROLES=("tune roles/aiplatform.user" "pipeline roles/aiplatform.user"
    "status roles/aiplatform.viewer" "sweep roles/aiplatform.viewer"
    "build roles/cloudbuild.builds.builder")
}

# IAM condition expressions (Cloud Storage IAM Conditions:
# https://cloud.google.com/storage/docs/access-control/iam#conditions, resource names as in
# https://cloud.google.com/iam/docs/conditions-resource-attributes#resource-name).
objects_in() {  # bucket prefix... -> "resource.name.startsWith(...) || ..."
  local bucket=$1 expression="" prefix; shift
  for prefix in "$@"; do
    expression+="${expression:+ || }resource.name.startsWith(\"projects/_/buckets/$bucket/objects/$prefix\")"
  done
  echo "$expression"
}
reports_beside_uploads() {
  local uploads; uploads=$(objects_in "$BUCKET" "$UPLOAD_PREFIX")
  echo "$uploads && resource.name.endsWith(\".report.json\") || $uploads && resource.name.endsWith(\".report.html\")"
}
run_pages_beside_uploads() {  # a version's run page, written when its job ends
  echo "$(objects_in "$BUCKET" "$UPLOAD_PREFIX") && resource.name.endsWith(\".run.html\")"
}
# Listing is checked on the bucket, not on objects, so no object-name condition ever matches
# it; the listing's prefix is the request attribute objectListPrefix (an absent one is "").
listing_under() {  # prefix
  echo "resource.type == \"storage.googleapis.com/Bucket\" && api.getAttribute(\"storage.googleapis.com/objectListPrefix\", \"\").startsWith(\"$1\")"
}
# A binding's condition for gcloud: ";" separates its fields, as expressions hold commas
# (https://cloud.google.com/sdk/gcloud/reference/topic/escaping).
condition() { echo "^;^expression=$2;title=$1"; }  # title expression

# Grant a role on a bucket under a condition: bucket member role title expression.
grant_on() {
  run gcloud storage buckets add-iam-policy-binding "gs://$1" --member "$2" --role "$3" \
    --condition "$(condition "$4" "$5")"
}

# A heading before each group of commands: a comment line of the dry run's output (which stays
# one command a line), or on stderr in a real run.
section() { if [ "$DRY_RUN" = 1 ]; then echo "# --- $*"; else echo "# --- $*" >&2; fi; }

# What each placeholder of a dry run stands for, said before its commands: name meaning ...
placeholders() {
  [ "$DRY_RUN" = 1 ] || return 0
  echo "# Placeholders: values only Google Cloud knows, which a real run asks for."
  while [ $# -gt 0 ]; do printf '#   %-22s %s\n' "$1" "$2"; shift 2; done
}

# Run a command, or print it (shell-quoted, one line) with --dry-run.
run() {
  if [ "$DRY_RUN" = 1 ]; then
    local out="" arg
    for arg in "$@"; do out+="$(printf '%q' "$arg") "; done
    echo "${out% }"
  else
    echo "+ $*" >&2
    "$@"
  fi
}

# Like run, for commands that may fail because the resource is already there (or gone).
run_tolerant() {
  if [ "$DRY_RUN" = 1 ]; then run "$@"; else run "$@" || echo "  (continuing: $1 ${2:-} ${3:-} failed, probably already done)" >&2; fi
}

# A value only known by asking Google Cloud; a placeholder in a dry run.
ask() {
  local placeholder=$1; shift
  if [ "$DRY_RUN" = 1 ]; then echo "$placeholder"; else "$@"; fi
}
