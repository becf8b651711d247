#!/usr/bin/env bash
# Build the two function images, push them to ECR and deploy (or update) the CloudFormation stack
# in infra/template.yaml. Safe to re-run: with nothing changed, a second run changes nothing.
# Settings come from flags, then the environment, then deploy.env, then defaults (./deploy.sh -h).
set -euo pipefail
if ((BASH_VERSINFO[0] * 100 + BASH_VERSINFO[1] < 403)); then
  echo "deploy.sh: needs bash 4.3 or newer, this is $BASH_VERSION (macOS: brew install bash)" >&2
  exit 1
fi

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly ROOT
readonly TEMPLATE="$ROOT/infra/template.yaml"
readonly DOCKERFILE="$ROOT/docker/Dockerfile"
# Names kept from the lab: other tools and the reporter's defaults rely on them.
readonly EXTRACTOR_FUNCTION=salesAnalysisReportDataExtractor
readonly REPORTER_FUNCTION=salesAnalysisReport
readonly DB_KEYS=(dbUrl dbName dbUser dbPort dbPassword)
# Every setting deploy.env may hold (anything else there is a typo).
readonly SETTINGS=(
  AWS_PROFILE AWS_REGION STACK_NAME ARCHITECTURE IMAGE_TAG ECR_REPOSITORY_PREFIX
  VPC_ID PRIVATE_SUBNET_IDS DATABASE_SECURITY_GROUP_ID
  REPORT_EMAIL ALARM_EMAIL SCHEDULE_EXPRESSION SCHEDULE_TIMEZONE SCHEDULE_STATE SSM_PREFIX
  MEMORY_SIZE TIMEOUT EXTRACTOR_RESERVED_CONCURRENCY LOG_RETENTION_DAYS
  DB_URL DB_NAME DB_USER DB_PORT DB_PASSWORD
)
readonly RETENTION_DAYS="1 3 5 7 14 30 60 90 120 150 180 365 400 545 731 1096 1827 2192 2557 2922 3288 3653"
# ECR keeps the newest images only; a deployed image is always among them.
readonly LIFECYCLE_POLICY='{"rules":[{"rulePriority":1,"description":"Keep the 10 most recent images","selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":10},"action":{"type":"expire"}}]}'

usage() {
  cat <<'EOF'
Usage: ./deploy.sh [options]

Builds the extractor and reporter images, pushes them to ECR, makes sure the database settings
exist in SSM Parameter Store, and creates or updates the CloudFormation stack (infra/template.yaml).
Running it again with nothing changed changes nothing.

Modes (default: full deploy):
  --update-code           push new images and update the two functions' code only (fast path)
  --destroy               delete the stack; keeps the ECR images and the SSM parameters
  --purge                 with --destroy: also delete the ECR repositories and the SSM parameters
  --dry-run               check everything, print the plan, change nothing (no build, no writes)

Options:
  --invoke-now            run the reporter once after deploying and show its result
  --overwrite-db-settings replace existing SSM database parameters with the DB_* values given
  --env-file FILE         settings file (default: ./deploy.env if it exists)
  --region REGION         AWS region (default: AWS_REGION, AWS_DEFAULT_REGION, aws configure)
  --stack-name NAME       stack name (default: cafe-sales-report)
  --arch x86_64|arm64     architecture of the images and functions (default: x86_64)
  --tag TAG               image tag (default: the git commit, with -dirty for local changes)
  -y, --yes               do not ask for confirmation (needed for --destroy without a terminal)
  -h, --help              show this help

Settings (flags > environment > deploy.env > defaults; see deploy.env.example):
  VPC_ID, PRIVATE_SUBNET_IDS (comma-separated), DATABASE_SECURITY_GROUP_ID   required to deploy
  REPORT_EMAIL, ALARM_EMAIL                 optional email subscriptions (confirm the AWS email)
  SCHEDULE_EXPRESSION ["cron(0 20 ? * MON-SAT *)"], SCHEDULE_TIMEZONE [Europe/London],
  SCHEDULE_STATE [ENABLED], SSM_PREFIX [/cafe], MEMORY_SIZE [128], TIMEOUT [30],
  EXTRACTOR_RESERVED_CONCURRENCY [2], LOG_RETENTION_DAYS [30], ECR_REPOSITORY_PREFIX
  [cafe-sales-report], AWS_PROFILE, AWS_REGION, STACK_NAME, ARCHITECTURE, IMAGE_TAG
  DB_URL, DB_NAME, DB_USER, DB_PORT, DB_PASSWORD   values for missing SSM parameters; missing ones
                                             are prompted for (the password without echo)

Requires bash 4.3+, the AWS CLI (v1 or v2) with credentials, and Docker with buildx (not for
--dry-run or --destroy). Exit status: 0 done, 1 failed (the reason is printed), 2 bad usage.
EOF
}

# --- output -----------------------------------------------------------------------------------

say() { printf '==> %s\n' "$*"; }
info() { printf '    %s\n' "$*"; }
warn() { printf 'deploy.sh: warning: %s\n' "$*" >&2; }
CHANGED=0 # set before the first write, so an error can say whether anything was changed
die() {
  if ((CHANGED)); then
    printf 'deploy.sh: error: %s\n' "$*" >&2
  else
    printf 'deploy.sh: error: %s; nothing was changed\n' "$*" >&2
  fi
  exit 1
}
usage_error() {
  printf 'deploy.sh: %s (see ./deploy.sh --help)\n' "$*" >&2
  exit 2
}

# --- arguments and settings -------------------------------------------------------------------

MODE=deploy
DRY_RUN=0
INVOKE_NOW=0
PURGE=0
OVERWRITE_DB=0
ASSUME_YES=0
ENV_FILE=""
declare -A FLAG_SETTINGS=()

parse_args() {
  while (($#)); do
    case $1 in
      --update-code) set_mode update-code ;;
      --destroy) set_mode destroy ;;
      --purge) PURGE=1 ;;
      --dry-run) DRY_RUN=1 ;;
      --invoke-now) INVOKE_NOW=1 ;;
      --overwrite-db-settings) OVERWRITE_DB=1 ;;
      -y | --yes) ASSUME_YES=1 ;;
      -h | --help)
        usage
        exit 0
        ;;
      --env-file | --region | --stack-name | --arch | --tag)
        (($# >= 2)) || usage_error "$1 needs a value"
        case $1 in
          --env-file) ENV_FILE=$2 ;;
          --region) FLAG_SETTINGS[AWS_REGION]=$2 ;;
          --stack-name) FLAG_SETTINGS[STACK_NAME]=$2 ;;
          --arch) FLAG_SETTINGS[ARCHITECTURE]=$2 ;;
          --tag) FLAG_SETTINGS[IMAGE_TAG]=$2 ;;
        esac
        shift
        ;;
      *) usage_error "unknown option: $1" ;;
    esac
    shift
  done
  if ((PURGE)) && [[ $MODE != destroy ]]; then usage_error "--purge only goes with --destroy"; fi
  if ((INVOKE_NOW)) && [[ $MODE == destroy ]]; then usage_error "--invoke-now cannot go with --destroy"; fi
  if ((OVERWRITE_DB)) && [[ $MODE != deploy ]]; then
    usage_error "--overwrite-db-settings only goes with a full deploy"
  fi
  return 0
}

set_mode() {
  [[ $MODE == deploy ]] || usage_error "choose one of --update-code and --destroy"
  MODE=$1
}

is_setting() {
  local name
  for name in "${SETTINGS[@]}"; do [[ $name == "$1" ]] && return 0; done
  return 1
}

# deploy.env holds KEY=VALUE lines (optionally quoted, "export " allowed). It is read, never
# sourced: nothing in it runs, and a variable already in the environment wins over it.
load_env_file() {
  local file=$ENV_FILE line key value n=0
  if [[ -z $file ]]; then
    file="$ROOT/deploy.env"
    [[ -f $file ]] || return 0
  fi
  [[ -f $file && -r $file ]] || die "settings file $file does not exist or cannot be read"
  say "Reading settings from $file"
  while IFS= read -r line || [[ -n $line ]]; do
    n=$((n + 1))
    line=${line%$'\r'}
    [[ $line =~ ^[[:space:]]*(#|$) ]] && continue
    [[ $line =~ ^[[:space:]]*(export[[:space:]]+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]] ||
      die "$file line $n: expected KEY=VALUE, got: ${line:0:60}"
    key=${BASH_REMATCH[2]}
    value=${BASH_REMATCH[3]}
    is_setting "$key" || die "$file line $n: unknown setting $key (known: ${SETTINGS[*]})"
    if [[ $value =~ ^\"([^\"]*)\"[[:space:]]*(#.*)?$ || $value =~ ^\'([^\']*)\'[[:space:]]*(#.*)?$ ]]; then
      value=${BASH_REMATCH[1]}
    else
      value=${value%%[[:space:]]#*} # an unquoted value ends at a comment
      value=${value%"${value##*[![:space:]]}"}
    fi
    [[ -n ${!key+set} ]] || printf -v "$key" '%s' "$value"
  done <"$file"
}

apply_settings() {
  local key
  for key in "${!FLAG_SETTINGS[@]}"; do printf -v "$key" '%s' "${FLAG_SETTINGS[$key]}"; done
  if [[ -n ${AWS_PROFILE:-} ]]; then export AWS_PROFILE; fi
  if [[ -z ${AWS_REGION:-} ]]; then
    AWS_REGION=${AWS_DEFAULT_REGION:-}
    if [[ -z $AWS_REGION ]] && command -v aws >/dev/null; then
      AWS_REGION=$(aws configure get region 2>/dev/null || true)
    fi
  fi
  STACK_NAME=${STACK_NAME:-cafe-sales-report}
  ARCHITECTURE=${ARCHITECTURE:-x86_64}
  ECR_REPOSITORY_PREFIX=${ECR_REPOSITORY_PREFIX:-cafe-sales-report}
  VPC_ID=${VPC_ID:-}
  PRIVATE_SUBNET_IDS=${PRIVATE_SUBNET_IDS:-}
  DATABASE_SECURITY_GROUP_ID=${DATABASE_SECURITY_GROUP_ID:-}
  REPORT_EMAIL=${REPORT_EMAIL:-}
  ALARM_EMAIL=${ALARM_EMAIL:-}
  SCHEDULE_EXPRESSION=${SCHEDULE_EXPRESSION:-"cron(0 20 ? * MON-SAT *)"}
  SCHEDULE_TIMEZONE=${SCHEDULE_TIMEZONE:-Europe/London}
  SCHEDULE_STATE=${SCHEDULE_STATE:-ENABLED}
  SSM_PREFIX=${SSM_PREFIX:-/cafe}
  MEMORY_SIZE=${MEMORY_SIZE:-128}
  TIMEOUT=${TIMEOUT:-30}
  EXTRACTOR_RESERVED_CONCURRENCY=${EXTRACTOR_RESERVED_CONCURRENCY:-2}
  LOG_RETENTION_DAYS=${LOG_RETENTION_DAYS:-30}
  DB_URL=${DB_URL:-}
  DB_NAME=${DB_NAME:-}
  DB_USER=${DB_USER:-}
  DB_PORT=${DB_PORT:-}
  DB_PASSWORD=${DB_PASSWORD:-}
  EXTRACTOR_REPO="$ECR_REPOSITORY_PREFIX-extractor"
  REPORTER_REPO="$ECR_REPOSITORY_PREFIX-reporter"
  local subnet parts=()
  SUBNETS=()
  IFS=', ' read -r -a parts <<<"$PRIVATE_SUBNET_IDS"
  for subnet in "${parts[@]}"; do [[ -n $subnet ]] && SUBNETS+=("$subnet"); done
  # The AWS CLI v1 reads only AWS_DEFAULT_REGION; v2 would otherwise page its output.
  export AWS_REGION AWS_DEFAULT_REGION="$AWS_REGION" AWS_PAGER=""
}

ERRORS=()
bad() { ERRORS+=("$1"); } # every bad setting is collected, then all are reported at once
matches() { [[ $1 =~ $2 ]]; }
between() { [[ $1 =~ ^[0-9]+$ ]] && ((10#$1 >= $2 && 10#$1 <= $3)); }
is_email() { [[ $1 =~ ^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:]]+$ ]]; }

validate_settings() {
  matches "$AWS_REGION" '^[a-z]{2}(-[a-z]+)+-[0-9]+$' ||
    bad "AWS_REGION: '$AWS_REGION' is not a region (set AWS_REGION or --region, e.g. eu-west-2)"
  # The schedule is named <stack>-daily-report, and schedule names stop at 64 characters.
  matches "$STACK_NAME" '^[A-Za-z][A-Za-z0-9-]{0,49}$' ||
    bad "STACK_NAME: '$STACK_NAME' must be letters, digits and hyphens, start with a letter, at most 50"
  matches "$ARCHITECTURE" '^(x86_64|arm64)$' || bad "ARCHITECTURE: '$ARCHITECTURE' must be x86_64 or arm64"
  matches "$ECR_REPOSITORY_PREFIX" '^[a-z0-9]+([._-][a-z0-9]+)*$' ||
    bad "ECR_REPOSITORY_PREFIX: '$ECR_REPOSITORY_PREFIX' must be lowercase letters, digits and . _ -"
  [[ -z ${IMAGE_TAG:-} ]] || matches "$IMAGE_TAG" '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$' ||
    bad "IMAGE_TAG: '$IMAGE_TAG' is not a valid image tag"
  matches "$SSM_PREFIX" '^(/[A-Za-z0-9_.-]+)+$' || bad "SSM_PREFIX: '$SSM_PREFIX' must be a path such as /cafe"
  if [[ $MODE == deploy ]]; then
    if [[ -z $VPC_ID ]]; then
      bad "VPC_ID: not set: the VPC of the database (the lab's Lab VPC), vpc-..."
    else
      matches "$VPC_ID" '^vpc-[0-9a-f]{8,17}$' || bad "VPC_ID: '$VPC_ID' is not a VPC id (vpc-...)"
    fi
    ((${#SUBNETS[@]} > 0)) ||
      bad "PRIVATE_SUBNET_IDS: not set: the private subnets for the extractor, comma-separated (subnet-...,subnet-...)"
    ((${#SUBNETS[@]} <= 16)) || bad "PRIVATE_SUBNET_IDS: Lambda takes at most 16 subnets"
    local subnet
    for subnet in "${SUBNETS[@]}"; do
      matches "$subnet" '^subnet-[0-9a-f]{8,17}$' || bad "PRIVATE_SUBNET_IDS: '$subnet' is not a subnet id (subnet-...)"
    done
    if [[ -z $DATABASE_SECURITY_GROUP_ID ]]; then
      bad "DATABASE_SECURITY_GROUP_ID: not set: the database's security group (the lab's DatabaseSG), sg-..."
    else
      matches "$DATABASE_SECURITY_GROUP_ID" '^sg-[0-9a-f]{8,17}$' ||
        bad "DATABASE_SECURITY_GROUP_ID: '$DATABASE_SECURITY_GROUP_ID' is not a security group id (sg-...)"
    fi
    [[ -z $REPORT_EMAIL ]] || is_email "$REPORT_EMAIL" || bad "REPORT_EMAIL: '$REPORT_EMAIL' is not an email address"
    [[ -z $ALARM_EMAIL ]] || is_email "$ALARM_EMAIL" || bad "ALARM_EMAIL: '$ALARM_EMAIL' is not an email address"
    matches "$SCHEDULE_EXPRESSION" '^(cron|rate)\([^()]+\)$' ||
      bad "SCHEDULE_EXPRESSION: '$SCHEDULE_EXPRESSION' must be cron(...) or rate(...)"
    valid_timezone "$SCHEDULE_TIMEZONE" ||
      bad "SCHEDULE_TIMEZONE: '$SCHEDULE_TIMEZONE' is not an IANA time zone (e.g. Europe/London, America/New_York)"
    matches "$SCHEDULE_STATE" '^(ENABLED|DISABLED)$' || bad "SCHEDULE_STATE: '$SCHEDULE_STATE' must be ENABLED or DISABLED"
    between "$MEMORY_SIZE" 128 10240 || bad "MEMORY_SIZE: '$MEMORY_SIZE' must be 128 to 10240 (MB)"
    between "$TIMEOUT" 15 900 ||
      bad "TIMEOUT: '$TIMEOUT' must be 15 to 900 (s): the extractor needs up to 15 s to report an unreachable database"
    between "$EXTRACTOR_RESERVED_CONCURRENCY" 0 50 ||
      bad "EXTRACTOR_RESERVED_CONCURRENCY: '$EXTRACTOR_RESERVED_CONCURRENCY' must be 0 (none) to 50"
    [[ " $RETENTION_DAYS " == *" $LOG_RETENTION_DAYS "* ]] ||
      bad "LOG_RETENTION_DAYS: '$LOG_RETENTION_DAYS' must be one of: $RETENTION_DAYS"
    [[ -z $DB_URL ]] || matches "$DB_URL" '^[A-Za-z0-9.-]+(:[0-9]{1,5})?$' ||
      bad "DB_URL: '$DB_URL' must be the database host name (e.g. the RDS endpoint), without scheme or path"
    [[ -z $DB_PORT ]] || between "$DB_PORT" 1 65535 || bad "DB_PORT: '$DB_PORT' must be a port number"
    [[ -z $DB_NAME ]] || matches "$DB_NAME" '^[A-Za-z0-9_$]{1,64}$' || bad "DB_NAME: '$DB_NAME' is not a MySQL database name"
    [[ -z $DB_USER ]] || printable "$DB_USER" || bad "DB_USER: must be printable characters"
    [[ -z $DB_PASSWORD ]] || printable "$DB_PASSWORD" || bad "DB_PASSWORD: must be printable characters"
  fi
  if ((${#ERRORS[@]})); then
    printf 'deploy.sh: error: bad setting: %s\n' "${ERRORS[@]}" >&2
    printf 'deploy.sh: nothing was changed; fix the settings (flags, environment or deploy.env) and retry\n' >&2
    exit 1
  fi
}

printable() { [[ $1 != *[[:cntrl:]]* ]]; }

valid_timezone() {
  matches "$1" '^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$' || return 1
  # The local tz database, where there is one, catches typos such as Europe/Londn.
  [[ ! -d /usr/share/zoneinfo || -f /usr/share/zoneinfo/$1 ]]
}

# --- prerequisites ----------------------------------------------------------------------------

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

check_tools() {
  say "Checking prerequisites"
  command -v aws >/dev/null || die "the AWS CLI (aws) is not on PATH: install it (https://aws.amazon.com/cli/)"
  [[ -f $TEMPLATE ]] || die "$TEMPLATE is missing: run deploy.sh from a complete checkout"
  if [[ $MODE == destroy ]]; then return 0; fi
  [[ -f $DOCKERFILE ]] || die "$DOCKERFILE is missing: the images are built from it"
  if ! command -v docker >/dev/null; then
    ((DRY_RUN)) || die "docker is not on PATH: install Docker (with buildx) to build the images"
    info "docker: not found (a real run needs it)"
    return 0
  fi
  if ! docker version >/dev/null 2>"$TMP/err"; then
    ((DRY_RUN)) || die "docker cannot reach its engine: start Docker and retry ($(head -n 1 "$TMP/err"))"
    info "docker: engine not reachable (a real run needs it)"
  fi
  if ! docker buildx version >/dev/null 2>&1; then
    ((DRY_RUN)) || die "docker buildx is missing: install the buildx plugin (Docker 23+ ships it)"
    info "docker buildx: not found (a real run needs it)"
  fi
  return 0
}

# AWS calls that do not depend on each other run at once (each AWS CLI call costs a second or
# more). `background NAME COMMAND...` leaves $TMP/NAME.out, .err and .rc; `wait` collects them.
background() {
  local name=$1
  shift
  {
    if "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"; then echo 0; else echo 1; fi >"$TMP/$name.rc"
  } &
}
succeeded() { [[ $(<"$TMP/$1.rc") == 0 ]]; }
reason() { grep -v '^[[:space:]]*$' "$TMP/$1.err" | tail -n 1; }

ask_stack() { background stack aws cloudformation describe-stacks --stack-name "$STACK_NAME" --query 'Stacks[0].StackStatus' --output text; }
ask_repositories() {
  background repositories aws ecr describe-repositories --output text --query \
    "repositories[?repositoryName=='$EXTRACTOR_REPO' || repositoryName=='$REPORTER_REPO'].[repositoryName,repositoryUri]"
}

ACCOUNT=""
check_credentials() {
  ACCOUNT=$(aws sts get-caller-identity --query Account --output text 2>"$TMP/identity.err") ||
    die "no usable AWS credentials for $AWS_REGION ($(reason identity)): configure them with 'aws configure', AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, then retry"
  info "account $ACCOUNT, region $AWS_REGION, stack $STACK_NAME"
}

# The network settings must name real, matching things.
check_network() {
  local subnet vpc zone zones=() found=()
  succeeded subnets || die "PRIVATE_SUBNET_IDS: cannot find ${SUBNETS[*]} in $AWS_REGION ($(reason subnets))"
  while read -r subnet vpc zone; do
    [[ -n $subnet ]] || continue
    found+=("$subnet")
    [[ $vpc == "$VPC_ID" ]] || die "PRIVATE_SUBNET_IDS: $subnet is in $vpc, not in VPC_ID $VPC_ID"
    [[ " ${zones[*]} " == *" $zone "* ]] || zones+=("$zone")
  done <"$TMP/subnets.out"
  ((${#found[@]} == ${#SUBNETS[@]})) || die "PRIVATE_SUBNET_IDS: only ${found[*]:-none} of ${SUBNETS[*]} exist in $AWS_REGION"
  info "subnets ${SUBNETS[*]} in $VPC_ID (zones: ${zones[*]})"
  ((${#zones[@]} > 1)) || warn "all subnets are in ${zones[*]}: give two zones so the extractor survives a zone outage"
  succeeded database_sg ||
    die "DATABASE_SECURITY_GROUP_ID: cannot find $DATABASE_SECURITY_GROUP_ID in $AWS_REGION ($(reason database_sg))"
  vpc=$(<"$TMP/database_sg.out")
  [[ $vpc == "$VPC_ID" ]] || die "DATABASE_SECURITY_GROUP_ID: $DATABASE_SECURITY_GROUP_ID is in $vpc, not in VPC_ID $VPC_ID"
  info "database security group $DATABASE_SECURITY_GROUP_ID in $VPC_ID"
}

STACK_STATUS=NONE
inspect_stack() {
  if succeeded stack; then
    STACK_STATUS=$(<"$TMP/stack.out")
  elif grep -q 'does not exist' "$TMP/stack.err"; then
    STACK_STATUS=NONE
  else
    die "cannot read stack $STACK_NAME: $(reason stack)"
  fi
  case $STACK_STATUS in
    REVIEW_IN_PROGRESS) STACK_STATUS=NONE ;; # a change set was made but never run: nothing exists
    *_IN_PROGRESS) die "stack $STACK_NAME is busy ($STACK_STATUS): wait for it to finish, then retry" ;;
    *_FAILED)
      die "stack $STACK_NAME is $STACK_STATUS: see its events (aws cloudformation describe-stack-events --stack-name $STACK_NAME), fix the cause, then retry or delete it"
      ;;
  esac
}

# The lab's manual setup leaves functions and log groups with the stack's fixed names; the stack
# cannot create them while they exist, so say so now rather than fail half-way.
check_leftovers() {
  local name
  succeeded functions || die "cannot list the Lambda functions: $(reason functions)"
  succeeded log_groups || die "cannot list the log groups: $(reason log_groups)"
  for name in $(<"$TMP/functions.out"); do
    ERRORS+=("function $name already exists outside stack $STACK_NAME (the lab's manual setup?): delete it (aws lambda delete-function --function-name $name) and retry")
  done
  for name in $(<"$TMP/log_groups.out"); do
    ERRORS+=("log group $name already exists and the stack creates it with a retention: delete it (aws logs delete-log-group --log-group-name $name) and retry")
  done
  ((${#ERRORS[@]})) || return 0
  local last=${ERRORS[-1]}
  unset 'ERRORS[-1]'
  ((${#ERRORS[@]} == 0)) || printf 'deploy.sh: error: %s\n' "${ERRORS[@]}" >&2
  die "$last"
}

# New accounts may have a concurrency quota of 10, where Lambda refuses any reservation.
check_concurrency() {
  ((EXTRACTOR_RESERVED_CONCURRENCY > 0)) || return 0
  local limit unreserved floor
  if ! succeeded concurrency || ! read -r limit unreserved <"$TMP/concurrency.out"; then
    info "could not read the account's Lambda concurrency quota; reserving $EXTRACTOR_RESERVED_CONCURRENCY for the extractor"
    return 0
  fi
  floor=$((limit >= 100 ? 100 : limit))
  if ((unreserved - EXTRACTOR_RESERVED_CONCURRENCY < floor)); then
    die "EXTRACTOR_RESERVED_CONCURRENCY=$EXTRACTOR_RESERVED_CONCURRENCY: this account's Lambda concurrency quota is $limit ($unreserved unreserved), and Lambda keeps $floor unreserved: set EXTRACTOR_RESERVED_CONCURRENCY=0 or ask for a higher quota"
  fi
}

declare -A REPO_URI=()
inspect_repositories() {
  local name uri
  succeeded repositories || die "cannot list the ECR repositories: $(reason repositories)"
  while read -r name uri; do
    [[ -n $name ]] && REPO_URI[$name]=$uri
  done <"$TMP/repositories.out"
  return 0
}

# SSM: what exists (and the values of the non-secret ones), and what this run would write.
declare -A PARAM_TYPE=() PARAM_VALUE=() NEW_VALUE=() REPLACE_ASKED=()
inspect_db_parameters() {
  local name type value
  succeeded parameters || die "cannot read the SSM parameters under $SSM_PREFIX: $(reason parameters)"
  while IFS=$'\t' read -r name type value; do
    [[ -n $name ]] || continue
    PARAM_TYPE[${name##*/}]=$type
    PARAM_VALUE[${name##*/}]=$value
  done <"$TMP/parameters.out"
  if [[ ${PARAM_TYPE[dbPassword]:-SecureString} != SecureString ]]; then
    warn "$SSM_PREFIX/dbPassword is a ${PARAM_TYPE[dbPassword]}, not a SecureString: replace it with --overwrite-db-settings and DB_PASSWORD"
  fi
}

setting_for() {
  case $1 in
    dbUrl) printf '%s' "$DB_URL" ;;
    dbName) printf '%s' "$DB_NAME" ;;
    dbUser) printf '%s' "$DB_USER" ;;
    dbPort) printf '%s' "$DB_PORT" ;;
    dbPassword) printf '%s' "$DB_PASSWORD" ;;
  esac
}

setting_name() {
  case $1 in
    dbUrl) echo DB_URL ;; dbName) echo DB_NAME ;; dbUser) echo DB_USER ;;
    dbPort) echo DB_PORT ;; dbPassword) echo DB_PASSWORD ;;
  esac
}

# One line of the plan per parameter; also records in NEW_VALUE what will be written.
plan_db_parameters() {
  local key given
  for key in "${DB_KEYS[@]}"; do
    given=$(setting_for "$key")
    if [[ -n ${PARAM_TYPE[$key]:-} ]]; then
      if ((OVERWRITE_DB)) && [[ -n $given ]]; then
        NEW_VALUE[$key]=$given
        info "$SSM_PREFIX/$key: exists, will be overwritten from $(setting_name "$key") (--overwrite-db-settings)"
      elif ((OVERWRITE_DB)) && [[ $key == dbPassword && -t 0 ]]; then
        REPLACE_ASKED[$key]=1
        info "$SSM_PREFIX/$key: exists; a new value will be asked for (Enter keeps the current one)"
      elif [[ -n $given && $key == dbPassword ]]; then
        info "$SSM_PREFIX/$key: exists, kept (DB_PASSWORD is not used: --overwrite-db-settings replaces it)"
      elif [[ -n $given && $given != "${PARAM_VALUE[$key]}" ]]; then
        info "$SSM_PREFIX/$key: exists (${PARAM_VALUE[$key]}), kept; $(setting_name "$key") differs: --overwrite-db-settings replaces it"
      else
        info "$SSM_PREFIX/$key: exists, kept"
      fi
    elif [[ $key == dbPort ]]; then
      if [[ -n $given ]]; then
        NEW_VALUE[$key]=$given
        info "$SSM_PREFIX/$key: will be created ($given)"
      else
        info "$SSM_PREFIX/$key: absent (optional: the extractor uses 3306 or the port in dbUrl)"
      fi
    elif [[ -n $given ]]; then
      NEW_VALUE[$key]=$given
      if [[ $key == dbPassword ]]; then
        info "$SSM_PREFIX/$key: will be created as a SecureString from DB_PASSWORD"
      else
        info "$SSM_PREFIX/$key: will be created ($given)"
      fi
    else
      NEW_VALUE[$key]=""
      info "$SSM_PREFIX/$key: missing: will be asked for (or set $(setting_name "$key"))"
    fi
  done
}

# Without a terminal to ask, a missing value stops the run before anything is written.
require_db_values() {
  local key missing=()
  for key in dbUrl dbName dbUser dbPassword; do
    if [[ -v NEW_VALUE[$key] && -z ${NEW_VALUE[$key]} ]]; then missing+=("$(setting_name "$key")"); fi
  done
  ((${#missing[@]} == 0)) ||
    die "SSM parameters under $SSM_PREFIX are missing and there is no terminal to ask: set ${missing[*]} (environment or deploy.env) and retry"
}

# Missing values are asked for (the password without echo, twice).
ask_missing_db_values() {
  local key value again
  for key in dbUrl dbName dbUser dbPassword; do
    if [[ -n ${REPLACE_ASKED[$key]:-} ]]; then
      read -r -s -p "    new $SSM_PREFIX/$key (not shown; Enter keeps the current one): " value
      echo
      [[ -z $value ]] || NEW_VALUE[$key]=$value
      continue
    fi
    [[ -v NEW_VALUE[$key] && -z ${NEW_VALUE[$key]} ]] || continue
    while true; do
      if [[ $key == dbPassword ]]; then
        read -r -s -p "    $SSM_PREFIX/dbPassword (not shown): " value
        echo
        read -r -s -p "    again, to confirm: " again
        echo
        [[ $value == "$again" ]] || {
          echo "    the two entries differ; try again"
          continue
        }
      else
        read -r -p "    $SSM_PREFIX/$key: " value
      fi
      if [[ -n $value ]] && printable "$value"; then break; fi
      echo "    a value is required (printable characters)"
    done
    NEW_VALUE[$key]=$value
  done
}

# The port the extractor will use, which the security group rules must open.
database_port() {
  local port=${NEW_VALUE[dbPort]:-${PARAM_VALUE[dbPort]:-}} url=${NEW_VALUE[dbUrl]:-${PARAM_VALUE[dbUrl]:-}}
  if [[ -n $port ]]; then
    echo "$port"
  elif [[ $url =~ :([0-9]+)$ ]]; then
    echo "${BASH_REMATCH[1]}"
  else
    echo 3306
  fi
}

# --- writes -----------------------------------------------------------------------------------

json_string() {
  local s=$1
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  printf '"%s"' "$s"
}

# The value goes through a private temporary file, never the command line (visible to `ps`)
# and never the output; --cli-input-json also stops the CLI v1 from fetching "http://..." values.
put_parameter() {
  local key=$1 value=$2 type=String overwrite=false file="$TMP/parameter-$1.json" status=0
  [[ $key != dbPassword ]] || type=SecureString
  [[ -z ${PARAM_TYPE[$key]:-} ]] || overwrite=true
  (
    umask 077
    printf '{"Name": %s, "Value": %s, "Type": "%s", "Overwrite": %s}' \
      "$(json_string "$SSM_PREFIX/$key")" "$(json_string "$value")" "$type" "$overwrite" >"$file"
  )
  aws ssm put-parameter --cli-input-json "file://$file" --query Version --output text || status=$?
  rm -f "$file"
  return "$status"
}

write_db_parameters() {
  local key written=()
  for key in "${DB_KEYS[@]}"; do
    [[ -n ${NEW_VALUE[$key]:-} ]] || continue
    background "put_$key" put_parameter "$key" "${NEW_VALUE[$key]}"
    written+=("$key")
  done
  ((${#written[@]})) || return 0
  say "Writing the database settings to SSM Parameter Store"
  wait
  for key in "${written[@]}"; do
    succeeded "put_$key" || die "cannot write $SSM_PREFIX/$key: $(reason "put_$key")"
    info "$SSM_PREFIX/$key: $([[ -n ${PARAM_TYPE[$key]:-} ]] && echo overwritten || echo created) ($([[ $key == dbPassword ]] && echo SecureString || echo String))"
  done
}

create_repository() {
  aws ecr create-repository --repository-name "$1" --image-scanning-configuration scanOnPush=true \
    --image-tag-mutability MUTABLE --query repository.repositoryUri --output text &&
    aws ecr put-lifecycle-policy --repository-name "$1" --lifecycle-policy-text "$LIFECYCLE_POLICY" >/dev/null
}

create_repositories() {
  local name created=()
  for name in "$EXTRACTOR_REPO" "$REPORTER_REPO"; do
    [[ -z ${REPO_URI[$name]:-} ]] || continue
    background "repository_$name" create_repository "$name"
    created+=("$name")
  done
  ((${#created[@]})) || return 0
  say "Creating ECR repositories ${created[*]} (scan on push, keeping the 10 newest images)"
  wait
  for name in "${created[@]}"; do
    succeeded "repository_$name" || die "cannot create ECR repository $name: $(reason "repository_$name")"
    REPO_URI[$name]=$(<"$TMP/repository_$name.out")
    info "${REPO_URI[$name]}"
  done
}

default_tag() {
  local sha
  if sha=$(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null); then
    if [[ -n $(git -C "$ROOT" status --porcelain 2>/dev/null) ]]; then sha+=-dirty; fi
    echo "$sha"
  else
    date -u +build-%Y%m%d%H%M%S
  fi
}

platform() { [[ $1 == arm64 ]] && echo linux/arm64 || echo linux/amd64; }

# Build both images, each for its platform, push them, and record each one's repository@digest.
# Lambda rejects image indexes, which BuildKit makes when it adds attestations: --provenance and
# --sbom=false keep each push a single image manifest, and the media type ECR reports for it is
# checked before anything is deployed.
declare -A IMAGE=()
publish_images() {
  local -A arch=([extractor]=$1 [reporter]=$2) repo=([extractor]=$EXTRACTOR_REPO [reporter]=$REPORTER_REPO)
  local target uri digest media
  for target in extractor reporter; do
    uri=${REPO_URI[${repo[$target]}]}
    say "Building the $target image ($(platform "${arch[$target]}"), tag $IMAGE_TAG)"
    BUILDX_NO_DEFAULT_ATTESTATIONS=1 docker buildx build --platform "$(platform "${arch[$target]}")" \
      --provenance=false --sbom=false --load --target "$target" -f "$DOCKERFILE" \
      -t "$uri:$IMAGE_TAG" "$ROOT" || die "docker build of the $target image failed (see above)"
  done
  for target in extractor reporter; do
    uri=${REPO_URI[${repo[$target]}]}
    say "Pushing $uri:$IMAGE_TAG"
    docker push "$uri:$IMAGE_TAG" || die "docker push of the $target image failed (see above)"
    background "image_$target" aws ecr describe-images --repository-name "${repo[$target]}" \
      --image-ids "imageTag=$IMAGE_TAG" --query 'imageDetails[0].[imageDigest,imageManifestMediaType]' --output text
  done
  wait
  for target in extractor reporter; do
    succeeded "image_$target" || die "ECR does not show ${repo[$target]}:$IMAGE_TAG after the push: $(reason "image_$target")"
    read -r digest media <"$TMP/image_$target.out"
    case $media in
      application/vnd.docker.distribution.manifest.v2+json | application/vnd.oci.image.manifest.v1+json) ;;
      *) die "${repo[$target]}:$IMAGE_TAG was pushed as $media, an image index, which Lambda rejects: build with 'docker buildx build --provenance=false --sbom=false --platform $(platform "${arch[$target]}")' (update Docker if it ignores them); the stack and the functions were not changed" ;;
    esac
    IMAGE[$target]="${REPO_URI[${repo[$target]}]}@$digest"
    info "$target image: ${IMAGE[$target]}"
  done
}

docker_login() {
  local registry=${REPO_URI[$EXTRACTOR_REPO]%%/*}
  say "Logging Docker in to $registry"
  aws ecr get-login-password | docker login --username AWS --password-stdin "$registry" >/dev/null ||
    die "docker login to $registry failed"
}

stack_parameters() {
  local IFS=,
  PARAMS=(
    "ExtractorImageUri=${IMAGE[extractor]:-<built>}"
    "ReporterImageUri=${IMAGE[reporter]:-<built>}"
    "Architecture=$ARCHITECTURE"
    "VpcId=$VPC_ID"
    "PrivateSubnetIds=${SUBNETS[*]}"
    "DatabaseSecurityGroupId=$DATABASE_SECURITY_GROUP_ID"
    "DatabasePort=$(database_port)"
    "ReportEmail=$REPORT_EMAIL"
    "AlarmEmail=$ALARM_EMAIL"
    "ScheduleExpression=$SCHEDULE_EXPRESSION"
    "ScheduleTimezone=$SCHEDULE_TIMEZONE"
    "ScheduleState=$SCHEDULE_STATE"
    "SsmPrefix=$SSM_PREFIX"
    "MemorySize=$MEMORY_SIZE"
    "Timeout=$TIMEOUT"
    "ExtractorReservedConcurrency=$EXTRACTOR_RESERVED_CONCURRENCY"
    "LogRetentionDays=$LOG_RETENTION_DAYS"
  )
}

print_failed_events() {
  echo "deploy.sh: the stack's most recent failures (newest first):" >&2
  aws cloudformation describe-stack-events --stack-name "$STACK_NAME" --max-items 50 --output text \
    --query "StackEvents[?ends_with(ResourceStatus, 'FAILED')].[Timestamp, LogicalResourceId, ResourceStatus, ResourceStatusReason]" \
    >&2 || true
}

STACK_CHANGED=0
deploy_stack() {
  if [[ $STACK_STATUS == ROLLBACK_COMPLETE ]]; then
    say "Deleting stack $STACK_NAME: its creation failed and rolled back, so it holds nothing"
    aws cloudformation delete-stack --stack-name "$STACK_NAME"
    aws cloudformation wait stack-delete-complete --stack-name "$STACK_NAME"
  fi
  say "Deploying stack $STACK_NAME (CloudFormation changes only what differs)"
  stack_parameters
  # Every parameter is passed, so the stack always matches these settings (no stale previous
  # values) and an unchanged run gives CloudFormation an empty change set.
  if ! aws cloudformation deploy --stack-name "$STACK_NAME" --template-file "$TEMPLATE" \
    --capabilities CAPABILITY_IAM --no-fail-on-empty-changeset \
    --tags project=cafe-sales-report --parameter-overrides "${PARAMS[@]}" | tee "$TMP/deploy.out"; then
    print_failed_events
    die "the stack deployment failed (reasons above). A failed first deployment rolls back; run deploy.sh again after fixing the cause"
  fi
  if grep -q 'No changes to deploy' "$TMP/deploy.out"; then
    # Its empty change set stays until the next real update, which removes it.
    info "stack $STACK_NAME was already up to date"
  else
    STACK_CHANGED=1
  fi
}

wait_for_functions() {
  say "Waiting until both functions have finished updating"
  local name
  for name in "$EXTRACTOR_FUNCTION" "$REPORTER_FUNCTION"; do
    background "updated_$name" aws lambda wait function-updated-v2 --function-name "$name"
  done
  wait
  for name in "$EXTRACTOR_FUNCTION" "$REPORTER_FUNCTION"; do
    succeeded "updated_$name" ||
      die "$name did not finish updating ($(reason "updated_$name")): see aws lambda get-function --function-name $name (LastUpdateStatusReason)"
    info "$name: ready"
  done
}

print_outputs() {
  local rows
  rows=$(aws cloudformation describe-stacks --stack-name "$STACK_NAME" --output text \
    --query 'Stacks[0].Outputs[].[OutputKey,OutputValue]' 2>/dev/null || true)
  if [[ -n $rows && $rows != None ]]; then
    say "Stack outputs"
    while IFS=$'\t' read -r key value; do info "$key: $value"; done <<<"$rows"
  fi
}

invoke_reporter() {
  say "Running the reporter once (today's report so far)"
  local error
  # fileb:// passes the event as is with the CLI v1 and v2 alike (v2 reads plain --payload as base64).
  printf '{}' >"$TMP/event.json"
  error=$(aws lambda invoke --function-name "$REPORTER_FUNCTION" --payload "fileb://$TMP/event.json" \
    --query FunctionError --output text "$TMP/result.json") || die "cannot invoke $REPORTER_FUNCTION"
  info "result: $(cat "$TMP/result.json")"
  if [[ -n $error && $error != None ]]; then
    die "$REPORTER_FUNCTION failed ($error): the message above names the cause; see README, Troubleshooting, and its log group /aws/lambda/$REPORTER_FUNCTION"
  fi
}

# --- modes ------------------------------------------------------------------------------------

deploy() {
  say "Looking up the account, the network and what exists already"
  local names=() key
  for key in "${DB_KEYS[@]}"; do names+=("$SSM_PREFIX/$key"); done
  check_credentials
  background subnets aws ec2 describe-subnets --subnet-ids "${SUBNETS[@]}" --output text \
    --query 'Subnets[].[SubnetId,VpcId,AvailabilityZone]'
  background database_sg aws ec2 describe-security-groups --group-ids "$DATABASE_SECURITY_GROUP_ID" \
    --query 'SecurityGroups[0].VpcId' --output text
  ask_stack
  ask_repositories
  background parameters aws ssm get-parameters --names "${names[@]}" --output text \
    --query "Parameters[].[Name, Type, (Type=='SecureString' && '(secret)') || Value]"
  wait
  check_network
  inspect_stack
  inspect_repositories
  inspect_db_parameters
  plan_db_parameters >"$TMP/parameters.plan"
  ((DRY_RUN)) || [[ -t 0 ]] || require_db_values
  if [[ $STACK_STATUS == NONE ]]; then
    background functions aws lambda list-functions --output text --query \
      "Functions[?FunctionName=='$REPORTER_FUNCTION' || FunctionName=='$EXTRACTOR_FUNCTION'].FunctionName"
    background log_groups aws logs describe-log-groups --log-group-name-prefix "/aws/lambda/$REPORTER_FUNCTION" \
      --output text --query \
      "logGroups[?logGroupName=='/aws/lambda/$REPORTER_FUNCTION' || logGroupName=='/aws/lambda/$EXTRACTOR_FUNCTION'].logGroupName"
    background concurrency aws lambda get-account-settings --output text \
      --query 'AccountLimit.[ConcurrentExecutions,UnreservedConcurrentExecutions]'
    wait
    check_leftovers
    check_concurrency
  fi

  say "Plan$( ((DRY_RUN)) && echo ' (dry run: nothing will be changed)')"
  case $STACK_STATUS in
    NONE) info "stack $STACK_NAME: create" ;;
    ROLLBACK_COMPLETE) info "stack $STACK_NAME: delete (its creation failed) and create again" ;;
    *) info "stack $STACK_NAME ($STACK_STATUS): update if anything differs, else leave it" ;;
  esac
  local name
  for name in "$EXTRACTOR_REPO" "$REPORTER_REPO"; do
    if [[ -n ${REPO_URI[$name]:-} ]]; then info "ECR $name: exists"; else info "ECR $name: create"; fi
  done
  info "images: build extractor and reporter for $(platform "$ARCHITECTURE") from docker/Dockerfile, tag $IMAGE_TAG, push, deploy by digest"
  cat "$TMP/parameters.plan"
  stack_parameters
  info "stack parameters:"
  local parameter
  for parameter in "${PARAMS[@]}"; do info "  $parameter"; done
  info "  (DatabasePort follows dbPort, else the port in dbUrl, else 3306: the extractor's own rule)"
  ((INVOKE_NOW)) && info "then run $REPORTER_FUNCTION once"
  if ((DRY_RUN)); then
    say "Dry run: nothing was changed"
    return 0
  fi

  ask_missing_db_values
  CHANGED=1
  create_repositories
  write_db_parameters
  docker_login
  publish_images "$ARCHITECTURE" "$ARCHITECTURE"
  deploy_stack
  if ((STACK_CHANGED)); then
    wait_for_functions
    print_outputs
    [[ -z $REPORT_EMAIL ]] || info "$REPORT_EMAIL gets the report once it confirms the subscription (AWS emailed a link; check spam)"
  fi
  ((INVOKE_NOW)) && invoke_reporter
  say "Done"
}

update_code() {
  say "Looking up the account and the deployed functions"
  local name image uri architecture updating=()
  local -A current=() arch=() target=([$EXTRACTOR_FUNCTION]=extractor [$REPORTER_FUNCTION]=reporter)
  check_credentials
  ask_repositories
  for name in "$EXTRACTOR_FUNCTION" "$REPORTER_FUNCTION"; do
    background "$name" aws lambda get-function --function-name "$name" --output text \
      --query '[Code.ImageUri, Configuration.Architectures[0]]'
  done
  wait
  for name in "$EXTRACTOR_FUNCTION" "$REPORTER_FUNCTION"; do
    succeeded "$name" || die "$name does not exist in $AWS_REGION ($(reason "$name")): run ./deploy.sh (a full deploy) first"
    read -r uri architecture <"$TMP/$name.out"
    current[$name]=$uri
    arch[$name]=$architecture
    info "$name: $uri ($architecture)"
  done
  inspect_repositories
  for name in "$EXTRACTOR_REPO" "$REPORTER_REPO"; do
    [[ -n ${REPO_URI[$name]:-} ]] || die "ECR repository $name does not exist: run ./deploy.sh (a full deploy) first"
  done
  say "Plan$( ((DRY_RUN)) && echo ' (dry run: nothing will be changed)')"
  info "build and push both images, tag $IMAGE_TAG, each for its function's architecture; update a function whose image digest changed"
  info "the stack is not touched: the next full deploy records the new digests in it"
  if ((DRY_RUN)); then
    say "Dry run: nothing was changed"
    return 0
  fi
  CHANGED=1
  docker_login
  publish_images "${arch[$EXTRACTOR_FUNCTION]}" "${arch[$REPORTER_FUNCTION]}"
  for name in "$EXTRACTOR_FUNCTION" "$REPORTER_FUNCTION"; do
    image=${IMAGE[${target[$name]}]}
    if [[ ${current[$name]} == "$image" ]]; then
      info "$name: already runs this image"
      continue
    fi
    say "Updating $name to $image"
    background "update_$name" aws lambda update-function-code --function-name "$name" \
      --image-uri "$image" --query LastUpdateStatus --output text
    updating+=("$name")
  done
  wait
  for name in "${updating[@]}"; do
    succeeded "update_$name" || die "cannot update $name: $(reason "update_$name")"
  done
  ((${#updating[@]} == 0)) || wait_for_functions
  ((INVOKE_NOW)) && invoke_reporter
  say "Done"
}

destroy() {
  if ((!ASSUME_YES && !DRY_RUN)) && [[ ! -t 0 ]]; then
    die "refusing to delete without confirmation and no terminal to ask: add --yes"
  fi
  say "Looking up the account and the stack"
  check_credentials
  ask_stack
  ask_repositories
  wait
  inspect_stack
  inspect_repositories
  say "Plan$( ((DRY_RUN)) && echo ' (dry run: nothing will be changed)')"
  if [[ $STACK_STATUS == NONE ]]; then info "stack $STACK_NAME: does not exist"; else info "stack $STACK_NAME: delete (functions, roles, topics, schedule, alarms, LambdaSG and its DatabaseSG rule, log groups)"; fi
  if ((PURGE)); then
    if ((${#REPO_URI[@]})); then info "ECR ${!REPO_URI[*]}: delete, with their images"; fi
    info "SSM parameters under $SSM_PREFIX (${DB_KEYS[*]}): delete"
  else
    info "kept: ECR repositories and images, SSM parameters under $SSM_PREFIX (add --purge to delete them)"
  fi
  if ((DRY_RUN)); then
    say "Dry run: nothing was changed"
    return 0
  fi
  if ((!ASSUME_YES)); then
    local answer
    read -r -p "Type the stack name ($STACK_NAME) to confirm: " answer
    [[ $answer == "$STACK_NAME" ]] || die "not confirmed"
  fi
  CHANGED=1
  if [[ $STACK_STATUS != NONE ]]; then
    say "Deleting stack $STACK_NAME (the extractor's network interfaces can take 20 minutes or more to go)"
    aws cloudformation delete-stack --stack-name "$STACK_NAME"
    if ! aws cloudformation wait stack-delete-complete --stack-name "$STACK_NAME"; then
      print_failed_events
      die "stack $STACK_NAME was not deleted (reasons above)"
    fi
    info "stack $STACK_NAME deleted"
  fi
  if ((PURGE)); then
    local name names=() key
    ((${#REPO_URI[@]} == 0)) || say "Deleting the ECR repositories ${!REPO_URI[*]}, with their images"
    say "Deleting the SSM parameters under $SSM_PREFIX"
    for name in "${!REPO_URI[@]}"; do
      background "delete_$name" aws ecr delete-repository --repository-name "$name" --force
    done
    for key in "${DB_KEYS[@]}"; do names+=("$SSM_PREFIX/$key"); done
    background delete_parameters aws ssm delete-parameters --names "${names[@]}"
    wait
    for name in "${!REPO_URI[@]}" parameters; do
      succeeded "delete_$name" || die "cannot delete $name: $(reason "delete_$name")"
    done
  fi
  say "Done"
}

main() {
  parse_args "$@"
  load_env_file
  apply_settings
  validate_settings
  IMAGE_TAG=${IMAGE_TAG:-$(default_tag)}
  check_tools
  case $MODE in
    deploy) deploy ;;
    update-code) update_code ;;
    destroy) destroy ;;
  esac
}

main "$@"
