#!/usr/bin/env bash
# Build the two function images, push them to ECR and deploy (or update) the CloudFormation stack
# in infra/template.yaml. Safe to re-run: with nothing changed, a second run changes nothing.
# Settings come from flags, then the environment, then deploy.env, then defaults (./deploy.sh -h).
set -Eeuo pipefail
if ((BASH_VERSINFO[0] * 100 + BASH_VERSINFO[1] < 403)); then
  echo "deploy.sh: needs bash 4.3 or newer, this is $BASH_VERSION (macOS: brew install bash)" >&2
  exit 1
fi

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly ROOT
readonly TEMPLATE="$ROOT/infra/template.yaml"
readonly DOCKERFILE="$ROOT/docker/Dockerfile"
readonly DEFAULT_ENV_FILE="$ROOT/deploy.env"
# The default stack keeps the lab's names (functions salesAnalysisReport and
# salesAnalysisReportDataExtractor, SSM prefix /cafe); any other stack derives every name from
# its own, so two stacks never share a function, a log group, a repository or a parameter.
# infra/template.yaml applies the same rule.
readonly DEFAULT_STACK=cafe-sales-report
readonly DB_KEYS=(dbUrl dbName dbUser dbPort dbPassword dbSslMode)
readonly SSL_MODES="VERIFY_IDENTITY VERIFY_CA REQUIRED PREFERRED"
# Every setting deploy.env may hold (anything else there is a typo).
readonly SETTINGS=(
  AWS_PROFILE AWS_REGION STACK_NAME ARCHITECTURE IMAGE_TAG ECR_REPOSITORY_PREFIX
  VPC_ID PRIVATE_SUBNET_IDS DATABASE_SECURITY_GROUP_ID
  REPORT_EMAIL ALARM_EMAIL SCHEDULE_EXPRESSION SCHEDULE_TIMEZONE SCHEDULE_STATE SSM_PREFIX
  MEMORY_SIZE EXTRACTOR_TIMEOUT REPORTER_TIMEOUT EXTRACTOR_RESERVED_CONCURRENCY LOG_RETENTION_DAYS
  EXTRACTOR_ROLE_ARN REPORTER_ROLE_ARN SCHEDULER_ROLE_ARN
  DB_URL DB_NAME DB_USER DB_PORT DB_PASSWORD DB_SSL_MODE
)
readonly RETENTION_DAYS="1 3 5 7 14 30 60 90 120 150 180 365 400 545 731 1096 1827 2192 2557 2922 3288 3653"
# The reporter's own work besides waiting for the extractor: the SSM read, the delivery
# record's check, claim and record in DynamoDB, the SNS publish, and margins to log and fail.
readonly REPORTER_OWN_SECONDS=15
# What the extractor reserves when EXTRACTOR_RESERVED_CONCURRENCY is not set and the account
# has room (new accounts, with a quota of 10, have none: then nothing is reserved).
readonly AUTO_RESERVED_CONCURRENCY=2
# ECR keeps the newest images only; a deployed image is always among them.
readonly LIFECYCLE_POLICY='{"rules":[{"rulePriority":1,"description":"Keep the 10 most recent images","selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":10},"action":{"type":"expire"}}]}'
readonly POLL_SECONDS=${DEPLOY_POLL_SECONDS:-15} # how often a long wait looks again

usage() {
  cat <<EOF
Usage: ./deploy.sh [options]

Builds the extractor and reporter images, pushes them to ECR, makes sure the database settings
exist in SSM Parameter Store, and creates or updates the CloudFormation stack (infra/template.yaml).
Running it again with nothing changed changes nothing; every run ends with the stack's outputs,
the state of each email subscription and any failed day waiting to be re-sent.

Modes (default: full deploy):
  --update-code           push new images and update only the stack's image digests (and, with
                          --arch, its architecture); every other setting keeps its deployed value
  --replay-failures       re-send the failed days kept in the failure queue and the schedule's
                          dead-letter queue; a message is deleted only once its day was sent
  --destroy               delete the stack (or resume a deletion that failed); keeps the ECR
                          images and the SSM parameters
  --purge                 with --destroy: also delete the ECR repositories and the SSM parameters
  --dry-run               check everything, print the plan, change nothing (no build, no writes)

Options:
  --invoke-now            run the reporter once after deploying (today's report, sent at most
                          once a day) and show its result
  --overwrite-db-settings replace existing SSM database parameters with the DB_* values given
  --retain-resources IDS  with --destroy, for a stack in DELETE_FAILED: delete it without these
                          resources (logical ids, comma-separated), which you then delete by hand
  --env-file FILE         settings file (default: deploy.env next to deploy.sh, if it exists:
                          $DEFAULT_ENV_FILE)
  --region REGION         AWS region (default: AWS_REGION, AWS_DEFAULT_REGION, aws configure)
  --stack-name NAME       stack name (default: $DEFAULT_STACK); other names get their own
                          functions, repositories and SSM prefix (see README)
  --arch x86_64|arm64     architecture of the images and functions (default: x86_64)
  --tag TAG               image tag (default: the git commit, with -dirty for local changes)
  -y, --yes               do not ask for confirmation (needed for --destroy without a terminal)
  -h, --help              show this help

Settings (flags > environment > deploy.env > defaults; copy deploy.env.example to deploy.env):
  VPC_ID, PRIVATE_SUBNET_IDS (comma-separated), DATABASE_SECURITY_GROUP_ID   required to deploy
  REPORT_EMAIL, ALARM_EMAIL                 email subscriptions (each must confirm AWS's email);
                                            without them reports and alarms reach nobody
  SCHEDULE_EXPRESSION ["cron(0 20 ? * MON-SAT *)"], SCHEDULE_TIMEZONE [Europe/London],
  SCHEDULE_STATE [ENABLED], SSM_PREFIX [/cafe, or /<stack> for another stack], MEMORY_SIZE [128],
  EXTRACTOR_TIMEOUT [30], REPORTER_TIMEOUT [45, at least EXTRACTOR_TIMEOUT + $REPORTER_OWN_SECONDS],
  EXTRACTOR_RESERVED_CONCURRENCY [$AUTO_RESERVED_CONCURRENCY where the account has room, else 0], LOG_RETENTION_DAYS [30],
  ECR_REPOSITORY_PREFIX [the stack name], AWS_PROFILE, AWS_REGION, STACK_NAME, ARCHITECTURE, IMAGE_TAG
  EXTRACTOR_ROLE_ARN, REPORTER_ROLE_ARN, SCHEDULER_ROLE_ARN   existing roles (ARN or bare name)
                                            to use instead of creating them; empty: created
  DB_URL, DB_NAME, DB_USER, DB_PORT, DB_PASSWORD, DB_SSL_MODE   values for missing SSM parameters;
                                            missing required ones are prompted for (the password
                                            without echo). DB_SSL_MODE: $SSL_MODES

Requires bash 4.3+, the AWS CLI (v1 or v2) with credentials, and Docker with buildx (not for
--dry-run, --destroy or --replay-failures). Exit status: 0 done, 1 failed (the reason is
printed), 2 bad usage.
EOF
}

# --- output -----------------------------------------------------------------------------------

say() { printf '==> %s\n' "$*"; }
info() { printf '    %s\n' "$*"; }
warn() { printf 'deploy.sh: warning: %s\n' "$*" >&2; }
CHANGED=0 # set before the first write, so an error can say whether anything was changed
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
die() {
  : >"$TMP/died" # a die inside $(...) must not be reported again by the ERR trap outside it
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
# Every failure that no check above expected still ends with a sentence, not a bare exit.
unexpected_failure() {
  local status=$1 command=$2 line=$3
  [[ ! -e $TMP/died ]] || exit "$status"
  : >"$TMP/died"
  printf 'deploy.sh: error: unexpected failure (exit status %s) of: %s (deploy.sh line %s)%s\n' \
    "$status" "$command" "$line" "$( ((CHANGED)) || echo '; nothing was changed')" >&2
  exit 1
}
trap 'unexpected_failure $? "$BASH_COMMAND" $LINENO' ERR

# --- arguments and settings -------------------------------------------------------------------

MODE=deploy
DRY_RUN=0
INVOKE_NOW=0
PURGE=0
OVERWRITE_DB=0
ASSUME_YES=0
ENV_FILE=""
RETAIN=""
declare -A FLAG_SETTINGS=()

parse_args() {
  while (($#)); do
    case $1 in
      --update-code) set_mode update-code ;;
      --destroy) set_mode destroy ;;
      --replay-failures) set_mode replay ;;
      --purge) PURGE=1 ;;
      --dry-run) DRY_RUN=1 ;;
      --invoke-now) INVOKE_NOW=1 ;;
      --overwrite-db-settings) OVERWRITE_DB=1 ;;
      -y | --yes) ASSUME_YES=1 ;;
      -h | --help)
        usage
        exit 0
        ;;
      --env-file | --region | --stack-name | --arch | --tag | --retain-resources)
        (($# >= 2)) || usage_error "$1 needs a value"
        case $1 in
          --env-file) ENV_FILE=$2 ;;
          --region) FLAG_SETTINGS[AWS_REGION]=$2 ;;
          --stack-name) FLAG_SETTINGS[STACK_NAME]=$2 ;;
          --arch) FLAG_SETTINGS[ARCHITECTURE]=$2 ;;
          --tag) FLAG_SETTINGS[IMAGE_TAG]=$2 ;;
          --retain-resources) RETAIN=$2 ;;
        esac
        shift
        ;;
      *) usage_error "unknown option: $1" ;;
    esac
    shift
  done
  if ((PURGE)) && [[ $MODE != destroy ]]; then usage_error "--purge only goes with --destroy"; fi
  if [[ -n $RETAIN && $MODE != destroy ]]; then usage_error "--retain-resources only goes with --destroy"; fi
  if [[ -n $RETAIN ]] && ! [[ $RETAIN =~ ^[A-Za-z0-9]+(,[A-Za-z0-9]+)*$ ]]; then
    usage_error "--retain-resources takes logical resource ids, comma-separated (e.g. LambdaSG,DatabaseIngressFromLambdaSG)"
  fi
  if ((INVOKE_NOW)) && [[ $MODE == destroy || $MODE == replay ]]; then
    usage_error "--invoke-now only goes with a deploy or --update-code"
  fi
  if ((OVERWRITE_DB)) && [[ $MODE != deploy ]]; then
    usage_error "--overwrite-db-settings only goes with a full deploy"
  fi
  return 0
}

set_mode() {
  [[ $MODE == deploy ]] || usage_error "choose one of --update-code, --replay-failures and --destroy"
  MODE=$1
}

is_setting() {
  local name
  for name in "${SETTINGS[@]}"; do [[ $name == "$1" ]] && return 0; done
  return 1
}

# TIMEOUT was one setting for both functions; the reporter now needs more than the extractor.
readonly TIMEOUT_REPLACED="TIMEOUT is no longer read: set EXTRACTOR_TIMEOUT (default 30) and REPORTER_TIMEOUT (default 45, at least EXTRACTOR_TIMEOUT + $REPORTER_OWN_SECONDS) instead"

# deploy.env holds KEY=VALUE lines (optionally quoted, "export " allowed). It is read, never
# sourced: nothing in it runs, and a variable already in the environment wins over it.
ENV_FILE_READ=""
load_env_file() {
  local file=$ENV_FILE line key value n=0
  if [[ -z $file ]]; then
    file=$DEFAULT_ENV_FILE
    [[ -f $file ]] || return 0
  fi
  [[ -f $file && -r $file ]] || die "settings file $file does not exist or cannot be read"
  say "Reading settings from $file"
  ENV_FILE_READ=$file
  while IFS= read -r line || [[ -n $line ]]; do
    n=$((n + 1))
    line=${line%$'\r'}
    [[ $line =~ ^[[:space:]]*(#|$) ]] && continue
    [[ $line =~ ^[[:space:]]*(export[[:space:]]+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]] ||
      die "$file line $n: expected KEY=VALUE, got: ${line:0:60}"
    key=${BASH_REMATCH[2]}
    value=${BASH_REMATCH[3]}
    [[ $key != TIMEOUT ]] || die "$file line $n: $TIMEOUT_REPLACED"
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
  [[ -z ${TIMEOUT+set} ]] || die "$TIMEOUT_REPLACED (unset TIMEOUT in your environment)"
  for key in "${!FLAG_SETTINGS[@]}"; do printf -v "$key" '%s' "${FLAG_SETTINGS[$key]}"; done
  if [[ -n ${AWS_PROFILE:-} ]]; then export AWS_PROFILE; fi
  if [[ -z ${AWS_REGION:-} ]]; then
    AWS_REGION=${AWS_DEFAULT_REGION:-}
    if [[ -z $AWS_REGION ]] && command -v aws >/dev/null; then
      AWS_REGION=$(aws configure get region 2>/dev/null || true)
    fi
  fi
  STACK_NAME=${STACK_NAME:-$DEFAULT_STACK}
  ARCHITECTURE_GIVEN=${ARCHITECTURE:-}
  ARCHITECTURE=${ARCHITECTURE:-x86_64}
  ECR_REPOSITORY_PREFIX=${ECR_REPOSITORY_PREFIX:-${STACK_NAME,,}}
  VPC_ID=${VPC_ID:-}
  PRIVATE_SUBNET_IDS=${PRIVATE_SUBNET_IDS:-}
  DATABASE_SECURITY_GROUP_ID=${DATABASE_SECURITY_GROUP_ID:-}
  REPORT_EMAIL=${REPORT_EMAIL:-}
  ALARM_EMAIL=${ALARM_EMAIL:-}
  SCHEDULE_EXPRESSION=${SCHEDULE_EXPRESSION:-"cron(0 20 ? * MON-SAT *)"}
  SCHEDULE_TIMEZONE=${SCHEDULE_TIMEZONE:-Europe/London}
  SCHEDULE_STATE=${SCHEDULE_STATE:-ENABLED}
  MEMORY_SIZE=${MEMORY_SIZE:-128}
  EXTRACTOR_TIMEOUT=${EXTRACTOR_TIMEOUT:-30}
  REPORTER_TIMEOUT=${REPORTER_TIMEOUT:-45}
  EXTRACTOR_RESERVED_CONCURRENCY=${EXTRACTOR_RESERVED_CONCURRENCY:-}
  LOG_RETENTION_DAYS=${LOG_RETENTION_DAYS:-30}
  EXTRACTOR_ROLE_ARN=${EXTRACTOR_ROLE_ARN:-}
  REPORTER_ROLE_ARN=${REPORTER_ROLE_ARN:-}
  SCHEDULER_ROLE_ARN=${SCHEDULER_ROLE_ARN:-}
  DB_URL=${DB_URL:-}
  DB_NAME=${DB_NAME:-}
  DB_USER=${DB_USER:-}
  DB_PORT=${DB_PORT:-}
  DB_PASSWORD=${DB_PASSWORD:-}
  DB_SSL_MODE=${DB_SSL_MODE:-}
  if [[ $STACK_NAME == "$DEFAULT_STACK" ]]; then
    EXTRACTOR_FUNCTION=salesAnalysisReportDataExtractor
    REPORTER_FUNCTION=salesAnalysisReport
    SSM_PREFIX=${SSM_PREFIX:-/cafe}
  else
    EXTRACTOR_FUNCTION=$STACK_NAME-salesAnalysisReportDataExtractor
    REPORTER_FUNCTION=$STACK_NAME-salesAnalysisReport
    SSM_PREFIX=${SSM_PREFIX:-/$STACK_NAME}
  fi
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
printable() { [[ $1 != *[[:cntrl:]]* ]]; }
is_role() { [[ $1 =~ ^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$ || $1 =~ ^[A-Za-z0-9+=,.@_-]{1,64}$ ]]; }

# Why VALUE cannot be the SSM parameter KEY (nothing when it can): settings and typed answers
# are checked alike.
db_value_problem() {
  local key=$1 value=$2
  case $key in
    dbUrl) matches "$value" '^[A-Za-z0-9.-]+(:[0-9]{1,5})?$' ||
      echo "must be the database host name (e.g. the RDS endpoint), without scheme, user or path" ;;
    dbPort) between "$value" 1 65535 || echo "must be a port number (1 to 65535)" ;;
    dbName) matches "$value" '^[A-Za-z0-9_$]{1,64}$' || echo "is not a MySQL database name (letters, digits, _ and \$, at most 64)" ;;
    dbUser) { printable "$value" && ((${#value} <= 80)); } || echo "must be at most 80 printable characters" ;;
    dbPassword) printable "$value" || echo "must be printable characters" ;;
    dbSslMode) [[ " $SSL_MODES " == *" $value "* ]] || echo "must be one of: $SSL_MODES" ;;
  esac
}

validate_settings() {
  matches "$AWS_REGION" '^[a-z]{2}(-[a-z]+)+-[0-9]+$' ||
    bad "AWS_REGION: '$AWS_REGION' is not a region (set AWS_REGION or --region, e.g. eu-west-2)"
  # Another stack's functions are named <stack>-salesAnalysisReportDataExtractor, and Lambda
  # names stop at 64 characters.
  matches "$STACK_NAME" '^[A-Za-z][A-Za-z0-9-]{0,30}$' ||
    bad "STACK_NAME: '$STACK_NAME' must be letters, digits and hyphens, start with a letter, at most 31 (the functions' names derive from it)"
  matches "$ARCHITECTURE" '^(x86_64|arm64)$' || bad "ARCHITECTURE: '$ARCHITECTURE' must be x86_64 or arm64"
  matches "$ECR_REPOSITORY_PREFIX" '^[a-z0-9]+([._-][a-z0-9]+)*$' ||
    bad "ECR_REPOSITORY_PREFIX: '$ECR_REPOSITORY_PREFIX' must be lowercase letters, digits and . _ -"
  [[ -z ${IMAGE_TAG:-} ]] || matches "$IMAGE_TAG" '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$' ||
    bad "IMAGE_TAG: '$IMAGE_TAG' is not a valid image tag"
  matches "$SSM_PREFIX" '^(/[A-Za-z0-9_.-]+)+$' || bad "SSM_PREFIX: '$SSM_PREFIX' must be a path such as /cafe"
  if [[ $MODE == deploy ]]; then
    local missing=0
    if [[ -z $VPC_ID ]]; then
      bad "VPC_ID: not set: the VPC of the database (the lab's Lab VPC), vpc-..."
      missing=1
    else
      matches "$VPC_ID" '^vpc-[0-9a-f]{8,17}$' || bad "VPC_ID: '$VPC_ID' is not a VPC id (vpc-...)"
    fi
    if ((${#SUBNETS[@]} == 0)); then
      bad "PRIVATE_SUBNET_IDS: not set: the private subnets for the extractor, comma-separated (subnet-...,subnet-...)"
      missing=1
    fi
    ((${#SUBNETS[@]} <= 16)) || bad "PRIVATE_SUBNET_IDS: Lambda takes at most 16 subnets"
    local subnet
    for subnet in "${SUBNETS[@]}"; do
      matches "$subnet" '^subnet-[0-9a-f]{8,17}$' || bad "PRIVATE_SUBNET_IDS: '$subnet' is not a subnet id (subnet-...)"
    done
    if [[ -z $DATABASE_SECURITY_GROUP_ID ]]; then
      bad "DATABASE_SECURITY_GROUP_ID: not set: the database's security group (the lab's DatabaseSG), sg-..."
      missing=1
    else
      matches "$DATABASE_SECURITY_GROUP_ID" '^sg-[0-9a-f]{8,17}$' ||
        bad "DATABASE_SECURITY_GROUP_ID: '$DATABASE_SECURITY_GROUP_ID' is not a security group id (sg-...)"
    fi
    if ((missing)) && [[ -z $ENV_FILE_READ ]]; then
      bad "no settings file was read: copy deploy.env.example to $DEFAULT_ENV_FILE and fill in its first block (or pass --env-file FILE)"
    fi
    [[ -z $REPORT_EMAIL ]] || is_email "$REPORT_EMAIL" || bad "REPORT_EMAIL: '$REPORT_EMAIL' is not an email address"
    [[ -z $ALARM_EMAIL ]] || is_email "$ALARM_EMAIL" || bad "ALARM_EMAIL: '$ALARM_EMAIL' is not an email address"
    matches "$SCHEDULE_EXPRESSION" '^(cron|rate)\([^()]+\)$' ||
      bad "SCHEDULE_EXPRESSION: '$SCHEDULE_EXPRESSION' must be cron(...) or rate(...)"
    valid_timezone "$SCHEDULE_TIMEZONE" ||
      bad "SCHEDULE_TIMEZONE: '$SCHEDULE_TIMEZONE' is not an IANA time zone (e.g. Europe/London, America/New_York)"
    matches "$SCHEDULE_STATE" '^(ENABLED|DISABLED)$' || bad "SCHEDULE_STATE: '$SCHEDULE_STATE' must be ENABLED or DISABLED"
    between "$MEMORY_SIZE" 128 10240 || bad "MEMORY_SIZE: '$MEMORY_SIZE' must be 128 to 10240 (MB)"
    validate_timeouts
    [[ -z $EXTRACTOR_RESERVED_CONCURRENCY ]] || between "$EXTRACTOR_RESERVED_CONCURRENCY" 0 50 ||
      bad "EXTRACTOR_RESERVED_CONCURRENCY: '$EXTRACTOR_RESERVED_CONCURRENCY' must be 0 (none) to 50, or empty (automatic)"
    [[ " $RETENTION_DAYS " == *" $LOG_RETENTION_DAYS "* ]] ||
      bad "LOG_RETENTION_DAYS: '$LOG_RETENTION_DAYS' must be one of: $RETENTION_DAYS"
    local setting
    for setting in EXTRACTOR_ROLE_ARN REPORTER_ROLE_ARN SCHEDULER_ROLE_ARN; do
      [[ -z ${!setting} ]] || is_role "${!setting}" ||
        bad "$setting: '${!setting}' is neither an IAM role ARN (arn:aws:iam::123456789012:role/NAME) nor a role name"
    done
    local key problem
    for key in "${DB_KEYS[@]}"; do
      setting=$(setting_name "$key")
      [[ -n ${!setting} ]] || continue
      problem=$(db_value_problem "$key" "${!setting}")
      [[ -z $problem ]] && continue
      if [[ $key == dbPassword || $key == dbUser ]]; then
        bad "$setting: $problem"
      else
        bad "$setting: '${!setting}' $problem"
      fi
    done
  fi
  if ((${#ERRORS[@]})); then
    printf 'deploy.sh: error: bad setting: %s\n' "${ERRORS[@]}" >&2
    printf 'deploy.sh: nothing was changed; fix the settings (flags, environment or deploy.env) and retry\n' >&2
    exit 1
  fi
}

# Each function fails with its own error before its Lambda timeout; the reporter waits for the
# extractor, so it needs the extractor's timeout plus its own work. CloudFormation cannot add
# numbers, so this is the one place the relation is enforced.
validate_timeouts() {
  local ok=1
  between "$EXTRACTOR_TIMEOUT" 10 885 || {
    bad "EXTRACTOR_TIMEOUT: '$EXTRACTOR_TIMEOUT' must be 10 to 885 (s): the extractor needs up to 10 s to report an unreachable database"
    ok=0
  }
  between "$REPORTER_TIMEOUT" 25 900 || {
    bad "REPORTER_TIMEOUT: '$REPORTER_TIMEOUT' must be 25 to 900 (s)"
    ok=0
  }
  if ((ok && 10#$REPORTER_TIMEOUT < 10#$EXTRACTOR_TIMEOUT + REPORTER_OWN_SECONDS)); then
    bad "REPORTER_TIMEOUT: $REPORTER_TIMEOUT is too short for EXTRACTOR_TIMEOUT $EXTRACTOR_TIMEOUT: the reporter waits for the extractor, then needs about $REPORTER_OWN_SECONDS s of its own (SSM, DynamoDB, SNS): set it to at least $((10#$EXTRACTOR_TIMEOUT + REPORTER_OWN_SECONDS))"
  fi
  return 0
}

valid_timezone() {
  matches "$1" '^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$' || return 1
  # The local tz database, where there is one, catches typos such as Europe/Londn.
  [[ ! -d /usr/share/zoneinfo || -f /usr/share/zoneinfo/$1 ]]
}

setting_name() {
  case $1 in
    dbUrl) echo DB_URL ;; dbName) echo DB_NAME ;; dbUser) echo DB_USER ;;
    dbPort) echo DB_PORT ;; dbPassword) echo DB_PASSWORD ;; dbSslMode) echo DB_SSL_MODE ;;
  esac
}

# --- prerequisites ----------------------------------------------------------------------------

check_tools() {
  say "Checking prerequisites"
  command -v aws >/dev/null || die "the AWS CLI (aws) is not on PATH: install it (https://aws.amazon.com/cli/)"
  [[ -f $TEMPLATE ]] || die "$TEMPLATE is missing: run deploy.sh from a complete checkout"
  if [[ $MODE == destroy || $MODE == replay ]]; then return 0; fi
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

# The stack's status and parameters, then (one after the other) its resources.
ask_stack() {
  background stack aws cloudformation describe-stacks --stack-name "$STACK_NAME" --output text \
    --query 'Stacks[0].[StackStatus, Parameters[].[ParameterKey, ParameterValue]]'
}
ask_stack_resources() {
  background stack_resources aws cloudformation describe-stack-resources --stack-name "$STACK_NAME" \
    --output text --query 'StackResources[].[LogicalResourceId, PhysicalResourceId, ResourceStatus]'
  wait
}
# One call per repository (named, so the deployer needs no ecr:DescribeRepositories on "*").
ask_repositories() {
  local name
  for name in "$EXTRACTOR_REPO" "$REPORTER_REPO"; do
    background "repository_$name" aws ecr describe-repositories --repository-names "$name" --output text \
      --query 'repositories[0].[repositoryName, repositoryUri, imageScanningConfiguration.scanOnPush]'
  done
}

ACCOUNT=""
PARTITION=aws
CALLER=""
check_credentials() {
  local identity
  if ! identity=$(aws sts get-caller-identity --query '[Account, Arn]' --output text 2>"$TMP/identity.err"); then
    die "$(credentials_problem)"
  fi
  read -r ACCOUNT CALLER <<<"$identity"
  [[ $CALLER =~ ^arn:([a-z-]+): ]] && PARTITION=${BASH_REMATCH[1]}
  info "account $ACCOUNT, region $AWS_REGION, stack $STACK_NAME, as $CALLER"
}

# Which fix the credentials need, from what the CLI said.
credentials_problem() {
  local why profile=${AWS_PROFILE:+ --profile $AWS_PROFILE}
  why=$(reason identity)
  case $why in
    *SSO* | *sso* | *"Token has expired"* | *"token has expired"*)
      echo "the AWS SSO session for $AWS_REGION has expired or was never started ($why): run 'aws sso login$profile', then retry" ;;
    *ExpiredToken* | *"security token included in the request is expired"*)
      echo "the temporary AWS credentials have expired ($why): get new ones (aws sso login, your identity provider, or aws sts assume-role), then retry" ;;
    *InvalidClientTokenId* | *SignatureDoesNotMatch* | *"security token included in the request is invalid"*)
      echo "the AWS access key is wrong or deactivated ($why): check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or the profile's keys (aws configure list), then retry" ;;
    *)
      echo "no usable AWS credentials for $AWS_REGION ($why): configure them with 'aws configure', AWS_PROFILE (and 'aws sso login') or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, then retry" ;;
  esac
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

# --- the stack --------------------------------------------------------------------------------

STACK_STATUS=NONE
declare -A STACK_PARAM=() RESOURCE=()
inspect_stack() {
  local first=1 line key value logical physical status
  if succeeded stack; then
    while IFS=$'\t' read -r key value; do
      if ((first)); then
        STACK_STATUS=$key
        first=0
      elif [[ -n $key ]]; then
        STACK_PARAM[$key]=$value
      fi
    done <"$TMP/stack.out"
  elif grep -q 'does not exist' "$TMP/stack.err"; then
    STACK_STATUS=NONE
  else
    die "cannot read stack $STACK_NAME: $(reason stack)"
  fi
  if [[ $STACK_STATUS != NONE ]]; then
    ask_stack_resources
    succeeded stack_resources || die "cannot read the resources of stack $STACK_NAME: $(reason stack_resources)"
    while IFS=$'\t' read -r logical physical status; do
      if [[ -n $logical && $physical != None ]]; then RESOURCE[$logical]=$physical; fi
    done <"$TMP/stack_resources.out"
  fi
  [[ $STACK_STATUS != REVIEW_IN_PROGRESS ]] || STACK_STATUS=NONE # a change set never run: nothing exists
  return 0
}

# A stack that another operation holds, or that CloudFormation left failed, is explained.
require_usable_stack() {
  case $STACK_STATUS in
    *_IN_PROGRESS) die "stack $STACK_NAME is busy ($STACK_STATUS): wait for it to finish (aws cloudformation describe-stacks --stack-name $STACK_NAME), then retry" ;;
    UPDATE_ROLLBACK_FAILED)
      print_failed_events
      die "stack $STACK_NAME is UPDATE_ROLLBACK_FAILED: an update failed and CloudFormation could not undo it (often because a resource was changed or deleted by hand). Fix what the first failure above names, then run 'aws cloudformation continue-update-rollback --stack-name $STACK_NAME' (add --resources-to-skip LOGICAL_ID for a resource that cannot be restored), wait for UPDATE_ROLLBACK_COMPLETE, and run deploy.sh again"
      ;;
    DELETE_FAILED)
      print_failed_events
      die "stack $STACK_NAME is DELETE_FAILED: finish deleting it with ./deploy.sh --destroy (it resumes the deletion), then deploy again"
      ;;
    ROLLBACK_FAILED | *_FAILED)
      print_failed_events
      die "stack $STACK_NAME is $STACK_STATUS: fix what the first failure above names, then delete it with ./deploy.sh --destroy and deploy again"
      ;;
  esac
  return 0
}

# The failures of the stack's latest operation, oldest first: the first one is the cause, and
# "Resource creation cancelled" lines are only its consequences. SINCE is the newest event id
# before the operation started; without it, the events back to the last user-initiated start.
print_failed_events() {
  local since=${1:-} id when logical status why lines=() first="" rest=() cancelled=() i
  aws cloudformation describe-stack-events --stack-name "$STACK_NAME" --max-items 200 --output text \
    --query 'StackEvents[].[EventId, Timestamp, LogicalResourceId, ResourceStatus, ResourceStatusReason]' \
    >"$TMP/events.out" 2>/dev/null || return 0
  while IFS=$'\t' read -r id when logical status why; do
    [[ -n $id && $id != "$since" ]] || break
    [[ $status == *FAILED ]] && lines+=("$when  $logical  $status  $why")
    if [[ -z $since && $logical == "$STACK_NAME" && $why == "User Initiated" ]]; then break; fi
  done <"$TMP/events.out"
  ((${#lines[@]})) || return 0
  for ((i = ${#lines[@]} - 1; i >= 0; i--)); do
    if [[ ${lines[i]} == *cancelled* ]]; then
      cancelled+=("${lines[i]}")
    elif [[ -n $first ]]; then
      rest+=("${lines[i]}")
    else
      first=${lines[i]}
    fi
  done
  {
    echo "deploy.sh: what failed in stack $STACK_NAME, oldest first:"
    [[ -z $first ]] || echo "    first failure (the cause): $first"
    for i in "${rest[@]}"; do echo "    then: $i"; done
    for i in "${cancelled[@]}"; do echo "    cancelled because of the above: $i"; done
  } >&2
}

# --- roles (bring your own: issue 14) ---------------------------------------------------------

# What each function's role must allow: "ACTION[,ACTION...] RESOURCE" per line. README, "Bring
# your own IAM roles", lists the same.
role_needs() {
  local region=$AWS_REGION account=$ACCOUNT p=$PARTITION
  local logs="arn:$p:logs:$region:$account:log-group:/aws/lambda"
  case $1 in
    extractor)
      echo "ec2:CreateNetworkInterface,ec2:DescribeNetworkInterfaces,ec2:DescribeSubnets,ec2:DeleteNetworkInterface,ec2:AssignPrivateIpAddresses,ec2:UnassignPrivateIpAddresses *"
      echo "logs:CreateLogStream,logs:PutLogEvents $logs/$EXTRACTOR_FUNCTION:*"
      ;;
    reporter)
      echo "logs:CreateLogStream,logs:PutLogEvents $logs/$REPORTER_FUNCTION:*"
      echo "ssm:GetParameters arn:$p:ssm:$region:$account:parameter$SSM_PREFIX/dbPassword"
      echo "lambda:InvokeFunction arn:$p:lambda:$region:$account:function:$EXTRACTOR_FUNCTION"
      echo "dynamodb:GetItem,dynamodb:PutItem,dynamodb:UpdateItem arn:$p:dynamodb:$region:$account:table/$(resource_name DeliveryTable)"
      echo "sns:Publish $(topic_arn ReportTopic)"
      echo "sqs:SendMessage $(queue_arn ReportFailureQueue)"
      ;;
    scheduler)
      echo "lambda:InvokeFunction arn:$p:lambda:$region:$account:function:$REPORTER_FUNCTION"
      echo "sqs:SendMessage $(queue_arn ScheduleDeadLetterQueue)"
      ;;
  esac
}

# The stack's resource, or the name CloudFormation gives a new one (<stack>-<LogicalId>-<random>)
# with an example suffix: role policies written for the stack match it with <stack>-*.
resource_name() {
  local physical=${RESOURCE[$1]:-}
  if [[ -n $physical ]]; then echo "${physical##*[/:]}"; else echo "$STACK_NAME-$1-EXAMPLE"; fi
}
topic_arn() { echo "${RESOURCE[$1]:-arn:$PARTITION:sns:$AWS_REGION:$ACCOUNT:$(resource_name "$1")}"; }
queue_arn() { echo "arn:$PARTITION:sqs:$AWS_REGION:$ACCOUNT:$(resource_name "$1")"; }

ROLE_SETTINGS=(EXTRACTOR_ROLE_ARN REPORTER_ROLE_ARN SCHEDULER_ROLE_ARN)
role_of() { case $1 in EXTRACTOR_ROLE_ARN) echo extractor ;; REPORTER_ROLE_ARN) echo reporter ;; *) echo scheduler ;; esac; }
service_of() { [[ $1 == SCHEDULER_ROLE_ARN ]] && echo scheduler.amazonaws.com || echo lambda.amazonaws.com; }
logical_role() { case $1 in EXTRACTOR_ROLE_ARN) echo ExtractorRole ;; REPORTER_ROLE_ARN) echo ReporterRole ;; *) echo SchedulerRole ;; esac; }

# Starts the look-ups for the given roles (existence and trust) and, when the stack would create
# a role, whether the deployer may (iam:SimulatePrincipalPolicy on itself, where allowed).
ask_roles() {
  local setting value name
  for setting in "${ROLE_SETTINGS[@]}"; do
    value=${!setting}
    [[ -n $value ]] || continue
    name=${value##*/}
    background "role_$setting" aws iam get-role --role-name "$name" --output text \
      --query "[Role.Arn, join(' ', Role.AssumeRolePolicyDocument.Statement[?Effect=='Allow'].Principal.Service[] || [''])]"
  done
}

# Checks the given roles (before anything is built or pushed): each exists, trusts the right
# service and, where the simulator may be used, allows what its function needs.
declare -A ROLE_ARN=()
check_roles() {
  local setting value arn services creating=()
  for setting in "${ROLE_SETTINGS[@]}"; do
    value=${!setting}
    if [[ -z $value ]]; then
      [[ -n ${RESOURCE[$(logical_role "$setting")]:-} ]] || creating+=("$setting")
      continue
    fi
    if ! succeeded "role_$setting"; then
      if grep -q NoSuchEntity "$TMP/role_$setting.err"; then
        die "$setting: role ${value##*/} does not exist in account $ACCOUNT: create it (README, Bring your own IAM roles) or leave $setting empty to let the stack create one"
      fi
      arn=$value
      [[ $arn == arn:* ]] || arn="arn:$PARTITION:iam::$ACCOUNT:role/$value"
      warn "$setting: cannot read role ${value##*/} ($(reason "role_$setting")): check yourself that it exists and that its trust policy lets $(service_of "$setting") assume it (needs iam:GetRole to check)"
      ROLE_ARN[$setting]=$arn
      continue
    fi
    read -r arn services <"$TMP/role_$setting.out"
    if [[ $value == arn:* && $value != "$arn" ]]; then
      die "$setting: $value names role ${value##*/}, whose ARN is $arn (another account or path): give the role's own ARN"
    fi
    [[ " $services " == *" $(service_of "$setting") "* ]] ||
      die "$setting: role ${arn##*/} does not trust $(service_of "$setting") (its trust policy lets ${services:-no service} assume it): add $(service_of "$setting") to its trust policy, or choose another role"
    ROLE_ARN[$setting]=$arn
    info "$(role_of "$setting") role: $arn (exists, trusts $(service_of "$setting"))"
  done
  simulate_roles
  ((${#creating[@]} == 0)) || check_may_create_roles "${creating[@]}"
}

# The policy simulator evaluates each role's policies for each need (denied: stop; cannot
# simulate: a warning naming what to verify).
simulate_roles() {
  local setting need actions resource n=0 jobs=()
  for setting in "${!ROLE_ARN[@]}"; do
    while read -r actions resource; do
      n=$((n + 1))
      IFS=, read -r -a need <<<"$actions"
      background "simulate_$n" aws iam simulate-principal-policy --policy-source-arn "${ROLE_ARN[$setting]}" \
        --action-names "${need[@]}" --resource-arns "$resource" --output text \
        --query "EvaluationResults[?EvalDecision!='allowed'].EvalActionName"
      jobs+=("$n $setting $actions $resource")
    done < <(role_needs "$(role_of "$setting")")
  done
  wait
  local job id denied_actions problems=()
  local -A unverified=() unchecked=()
  for job in "${jobs[@]}"; do
    read -r id setting actions resource <<<"$job"
    if ! succeeded "simulate_$id"; then
      unverified[$setting]+="${unverified[$setting]:+; }${actions//,/, } on $resource"
      unchecked[$setting]=$(reason "simulate_$id")
      continue
    fi
    denied_actions=$(<"$TMP/simulate_$id.out")
    denied_actions=${denied_actions//$'\t'/, }
    [[ -z $denied_actions || $denied_actions == None ]] ||
      problems+=("$setting: role ${ROLE_ARN[$setting]##*/} does not allow $denied_actions on $resource")
  done
  for setting in "${!unverified[@]}"; do
    warn "$setting: cannot check what role ${ROLE_ARN[$setting]##*/} allows (iam:SimulatePrincipalPolicy: ${unchecked[$setting]}): make sure it allows ${unverified[$setting]}"
  done
  ((${#problems[@]} == 0)) && return 0
  printf 'deploy.sh: error: %s\n' "${problems[@]}" >&2
  die "the roles given lack permissions their functions need (README, Bring your own IAM roles, lists them): add them, or leave the setting empty to let the stack create the role"
}

# Where roles cannot be created (the lab's accounts, many company ones), the stack would fail at
# its first role after the images were pushed: say so now, if the simulator may tell.
check_may_create_roles() {
  local principal=$CALLER settings=("$@") decision
  if [[ $CALLER =~ ^arn:([a-z-]+):sts::([0-9]+):assumed-role/([^/]+)/ ]]; then
    principal="arn:${BASH_REMATCH[1]}:iam::${BASH_REMATCH[2]}:role/${BASH_REMATCH[3]}"
    if aws iam get-role --role-name "${BASH_REMATCH[3]}" --query Role.Arn --output text >"$TMP/self.out" 2>/dev/null; then
      principal=$(<"$TMP/self.out")
    fi
  elif [[ $CALLER == *:root ]]; then
    return 0
  fi
  if decision=$(aws iam simulate-principal-policy --policy-source-arn "$principal" \
    --action-names iam:CreateRole iam:PutRolePolicy iam:PassRole \
    --resource-arns "arn:$PARTITION:iam::$ACCOUNT:role/$STACK_NAME-EXAMPLE" --output text \
    --query "EvaluationResults[?EvalDecision!='allowed'].EvalActionName" 2>"$TMP/self.err"); then
    [[ -z $decision || $decision == None ]] ||
      die "you may not create IAM roles here (${decision//$'\t'/, } denied), and the stack would create the ${settings[*]//_ROLE_ARN/} role(s): set ${settings[*]} to existing roles (an ARN or a bare name; README, Bring your own IAM roles)"
  else
    warn "cannot check that you may create IAM roles (iam:SimulatePrincipalPolicy: $(grep -v '^[[:space:]]*$' "$TMP/self.err" | tail -n 1)): the stack creates the ${settings[*]//_ROLE_ARN/} role(s); if iam:CreateRole is denied in this account, set ${settings[*]} to existing roles"
  fi
}

# --- leftovers and quotas ---------------------------------------------------------------------

# Functions and log groups with this stack's names that the stack does not own would make it fail
# half-way: say whose they are. Never advise deleting what another stack owns.
ask_leftovers() {
  background functions aws lambda list-functions --output text --query \
    "Functions[?FunctionName=='$REPORTER_FUNCTION' || FunctionName=='$EXTRACTOR_FUNCTION'].[FunctionName, FunctionArn]"
  # The reporter's name is a prefix of the extractor's, for every stack.
  background log_groups aws logs describe-log-groups --log-group-name-prefix "/aws/lambda/$REPORTER_FUNCTION" \
    --output text --query \
    "logGroups[?logGroupName=='/aws/lambda/$REPORTER_FUNCTION' || logGroupName=='/aws/lambda/$EXTRACTOR_FUNCTION'].logGroupName"
}

# Which stack owns a resource, from the tag CloudFormation puts on what it creates ("" if none).
stack_tag() {
  local owner
  owner=$("$@" --output text 2>/dev/null) || owner=""
  [[ $owner == None ]] && owner=""
  printf '%s' "$owner"
}

check_leftovers() {
  local name arn group owner problems=()
  succeeded functions || die "cannot list the Lambda functions: $(reason functions)"
  succeeded log_groups || die "cannot list the log groups: $(reason log_groups)"
  while read -r name arn; do
    [[ -n $name ]] || continue
    [[ ${RESOURCE[ExtractorFunction]:-} == "$name" || ${RESOURCE[ReporterFunction]:-} == "$name" ]] && continue
    owner=$(stack_tag aws lambda list-tags --resource "$arn" --query 'Tags."aws:cloudformation:stack-name"')
    if [[ -n $owner && $owner != "$STACK_NAME" ]]; then
      problems+=("function $name belongs to stack $owner: update that stack with --stack-name $owner, or choose another STACK_NAME (its functions get other names); do not delete it")
    else
      problems+=("function $name exists outside any stack (the lab's manual setup?): if it is the lab's hand-made function, delete it (aws lambda delete-function --function-name $name); else choose another STACK_NAME")
    fi
  done <"$TMP/functions.out"
  for group in $(<"$TMP/log_groups.out"); do
    [[ $group != None ]] || continue
    [[ ${RESOURCE[ExtractorLogGroup]:-} == "$group" || ${RESOURCE[ReporterLogGroup]:-} == "$group" ]] && continue
    owner=$(stack_tag aws logs list-tags-log-group --log-group-name "$group" --query 'tags."aws:cloudformation:stack-name"')
    if [[ -n $owner && $owner != "$STACK_NAME" ]]; then
      problems+=("log group $group belongs to stack $owner: choose another STACK_NAME; do not delete it")
    else
      problems+=("log group $group exists outside any stack (left by the lab's hand-made function?) and the stack creates it with a retention: keep what you need from it, delete it (aws logs delete-log-group --log-group-name $group) and retry")
    fi
  done
  ((${#problems[@]})) || return 0
  local last=${problems[-1]}
  unset 'problems[-1]'
  ((${#problems[@]} == 0)) || printf 'deploy.sh: error: %s\n' "${problems[@]}" >&2
  die "$last"
}

# New accounts may have a concurrency quota of 10, where Lambda refuses any reservation: without
# a setting, the extractor reserves AUTO_RESERVED_CONCURRENCY where there is room, else nothing.
RESERVED=""
check_concurrency() {
  local limit unreserved floor current=0 want=$EXTRACTOR_RESERVED_CONCURRENCY
  if [[ -z $want && -n ${STACK_PARAM[ExtractorReservedConcurrency]:-} ]]; then
    RESERVED=${STACK_PARAM[ExtractorReservedConcurrency]} # automatic keeps what is deployed
    return 0
  fi
  [[ -n $want ]] || want=$AUTO_RESERVED_CONCURRENCY
  RESERVED=$want
  ((want > 0)) || return 0
  [[ -z ${RESOURCE[ExtractorFunction]:-} ]] || current=${STACK_PARAM[ExtractorReservedConcurrency]:-0}
  if ! succeeded concurrency || ! read -r limit unreserved <"$TMP/concurrency.out"; then
    info "could not read the account's Lambda concurrency quota; reserving $want for the extractor"
    return 0
  fi
  floor=$((limit >= 100 ? 100 : limit))
  ((unreserved + current - want >= floor)) && return 0
  if [[ -z $EXTRACTOR_RESERVED_CONCURRENCY ]]; then
    RESERVED=0
    info "extractor concurrency: not reserved (this account's Lambda quota is $limit, and Lambda keeps $floor unreserved); set EXTRACTOR_RESERVED_CONCURRENCY once the quota is raised"
    return 0
  fi
  die "EXTRACTOR_RESERVED_CONCURRENCY=$EXTRACTOR_RESERVED_CONCURRENCY: this account's Lambda concurrency quota is $limit ($unreserved unreserved), and Lambda keeps $floor unreserved: leave EXTRACTOR_RESERVED_CONCURRENCY empty (automatic) or 0, or ask for a higher quota"
}

# --- ECR --------------------------------------------------------------------------------------

declare -A REPO_URI=() REPO_SCAN=() REPO_FIX=()
inspect_repositories() {
  local name uri scan repository
  for repository in "$EXTRACTOR_REPO" "$REPORTER_REPO"; do
    if ! succeeded "repository_$repository"; then
      grep -q RepositoryNotFound "$TMP/repository_$repository.err" ||
        die "cannot look up ECR repository $repository: $(reason "repository_$repository")"
      continue
    fi
    read -r name uri scan <"$TMP/repository_$repository.out"
    REPO_URI[$name]=$uri
    REPO_SCAN[$name]=$scan
  done
}

# Lambda pulls the images with its own service principal. Setting this here (rather than
# letting Lambda add it on CreateFunction with the deployer's credentials) means a deployer
# without ecr:SetRepositoryPolicy on Lambda's behalf is never surprised; the condition keeps
# other accounts' functions out.
repository_policy() {
  printf '{"Version":"2012-10-17","Statement":[{"Sid":"LambdaECRImageRetrievalPolicy","Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"],"Condition":{"StringLike":{"aws:sourceArn":"arn:%s:lambda:%s:%s:function:*"}}}]}' \
    "$PARTITION" "$AWS_REGION" "$ACCOUNT"
}

# Existing repositories are brought to the same settings as new ones on every run, so a
# half-made or older repository catches up: scan on push, the lifecycle policy, Lambda's pull.
ask_repository_settings() {
  local name
  for name in "${!REPO_URI[@]}"; do
    background "lifecycle_$name" aws ecr get-lifecycle-policy --repository-name "$name" \
      --query lifecyclePolicyText --output text
    background "policy_$name" aws ecr get-repository-policy --repository-name "$name" \
      --query policyText --output text
  done
}

plan_repository_settings() {
  local name fixes policy
  for name in "$EXTRACTOR_REPO" "$REPORTER_REPO"; do
    if [[ -z ${REPO_URI[$name]:-} ]]; then
      info "ECR $name: create (scan on push, keep the 10 newest images, Lambda may pull)"
      continue
    fi
    fixes=""
    [[ ${REPO_SCAN[$name]} == True ]] || fixes+=" scan-on-push"
    if ! succeeded "lifecycle_$name" || [[ $(tr -d '[:space:]' <"$TMP/lifecycle_$name.out") != "${LIFECYCLE_POLICY//[[:space:]]/}" ]]; then
      fixes+=" lifecycle"
    fi
    if succeeded "policy_$name"; then
      policy=$(<"$TMP/policy_$name.out")
      if [[ $policy != *lambda.amazonaws.com* ]]; then
        warn "ECR $name has a repository policy of its own that does not let Lambda pull: deploy.sh does not merge policies; add the statement README, Deploy to AWS, shows (or Lambda adds it itself if you may call ecr:SetRepositoryPolicy)"
      fi
    elif grep -q RepositoryPolicyNotFound "$TMP/policy_$name.err"; then
      fixes+=" pull-policy"
    else
      warn "cannot read the repository policy of ECR $name ($(reason "policy_$name")): Lambda needs ecr:BatchGetImage and ecr:GetDownloadUrlForLayer on it"
    fi
    REPO_FIX[$name]=${fixes# }
    if [[ -n $fixes ]]; then
      info "ECR $name: exists; will set:$fixes"
    else
      info "ECR $name: exists, settings as expected"
    fi
  done
}

# Each step is safe to repeat: a run interrupted half-way is completed by the next.
create_repository() {
  local name=$1 fixes=$2
  if [[ $fixes == new ]]; then
    aws ecr create-repository --repository-name "$name" --image-scanning-configuration scanOnPush=true \
      --image-tag-mutability MUTABLE --query repository.repositoryUri --output text >"$TMP/uri_$name" || return 1
    fixes="lifecycle pull-policy"
  fi
  if [[ " $fixes " == *" scan-on-push "* ]]; then
    aws ecr put-image-scanning-configuration --repository-name "$name" \
      --image-scanning-configuration scanOnPush=true >/dev/null || return 1
  fi
  if [[ " $fixes " == *" lifecycle "* ]]; then
    aws ecr put-lifecycle-policy --repository-name "$name" --lifecycle-policy-text "$LIFECYCLE_POLICY" >/dev/null || return 1
  fi
  if [[ " $fixes " == *" pull-policy "* ]]; then
    aws ecr set-repository-policy --repository-name "$name" --policy-text "$(repository_policy)" >/dev/null || return 1
  fi
}

prepare_repositories() {
  local name fixes done=()
  for name in "$EXTRACTOR_REPO" "$REPORTER_REPO"; do
    if [[ -z ${REPO_URI[$name]:-} ]]; then fixes=new; else fixes=${REPO_FIX[$name]:-}; fi
    [[ -n $fixes ]] || continue
    background "setup_$name" create_repository "$name" "$fixes"
    done+=("$name")
  done
  ((${#done[@]})) || return 0
  say "Setting up ECR repositories ${done[*]} (scan on push, the 10 newest images kept, Lambda may pull)"
  wait
  for name in "${done[@]}"; do
    succeeded "setup_$name" || die "cannot set up ECR repository $name: $(reason "setup_$name") (run deploy.sh again once fixed: it completes what is missing)"
    [[ -n ${REPO_URI[$name]:-} ]] || REPO_URI[$name]=$(<"$TMP/uri_$name")
    info "${REPO_URI[$name]}"
  done
}

# --- SSM --------------------------------------------------------------------------------------

# What exists (and the values of the non-secret ones), and what this run would write.
declare -A PARAM_TYPE=() PARAM_VALUE=() NEW_VALUE=() REPLACE_ASKED=()
ask_db_parameters() {
  local names=() key
  for key in "${DB_KEYS[@]}"; do names+=("$SSM_PREFIX/$key"); done
  background parameters aws ssm get-parameters --names "${names[@]}" --output text \
    --query "Parameters[].[Name, Type, (Type=='SecureString' && '(secret)') || Value]"
}

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

setting_for() { local name; name=$(setting_name "$1") && printf '%s' "${!name}"; }
optional_key() { [[ $1 == dbPort || $1 == dbSslMode ]]; }

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
    elif optional_key "$key"; then
      if [[ -n $given ]]; then
        NEW_VALUE[$key]=$given
        info "$SSM_PREFIX/$key: will be created ($given)"
      elif [[ $key == dbPort ]]; then
        info "$SSM_PREFIX/$key: absent (optional: the extractor uses 3306 or the port in dbUrl)"
      else
        info "$SSM_PREFIX/$key: absent (optional: the extractor verifies the server's certificate and name, VERIFY_IDENTITY)"
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

# Missing values are asked for (the password without echo, twice), each checked as the DB_*
# settings are.
ask_missing_db_values() {
  local key value again problem
  for key in dbUrl dbName dbUser dbPassword; do
    if [[ -n ${REPLACE_ASKED[$key]:-} ]]; then
      while true; do
        read -r -s -p "    new $SSM_PREFIX/$key (not shown; Enter keeps the current one): " value
        echo
        [[ -n $value ]] || break
        problem=$(db_value_problem "$key" "$value")
        [[ -n $problem ]] || {
          NEW_VALUE[$key]=$value
          break
        }
        echo "    it $problem; try again"
      done
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
      if [[ -z $value ]]; then
        echo "    a value is required"
        continue
      fi
      problem=$(db_value_problem "$key" "$value")
      [[ -n $problem ]] || break
      echo "    it $problem; try again"
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

# --- images -----------------------------------------------------------------------------------

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

# Build both images for ARCH, push them, and record each one's repository@digest. Lambda
# rejects image indexes, which BuildKit makes when it adds attestations: --provenance and
# --sbom=false keep each push a single image manifest, and the media type ECR reports for it
# is checked before anything is deployed.
declare -A IMAGE=()
publish_images() {
  local arch=$1 target uri digest media
  local -A repo=([extractor]=$EXTRACTOR_REPO [reporter]=$REPORTER_REPO)
  for target in extractor reporter; do
    uri=${REPO_URI[${repo[$target]}]}
    say "Building the $target image ($(platform "$arch"), tag $IMAGE_TAG)"
    BUILDX_NO_DEFAULT_ATTESTATIONS=1 docker buildx build --platform "$(platform "$arch")" \
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
      *) die "${repo[$target]}:$IMAGE_TAG was pushed as $media, an image index, which Lambda rejects: build with 'docker buildx build --provenance=false --sbom=false --platform $(platform "$arch")' (update Docker if it ignores them); the stack and the functions were not changed" ;;
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

# --- deploying --------------------------------------------------------------------------------

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
    "ExtractorTimeout=$EXTRACTOR_TIMEOUT"
    "ReporterTimeout=$REPORTER_TIMEOUT"
    "ExtractorReservedConcurrency=${RESERVED:-0}"
    "LogRetentionDays=$LOG_RETENTION_DAYS"
    "ExtractorRoleArn=${ROLE_ARN[EXTRACTOR_ROLE_ARN]:-}"
    "ReporterRoleArn=${ROLE_ARN[REPORTER_ROLE_ARN]:-}"
    "SchedulerRoleArn=${ROLE_ARN[SCHEDULER_ROLE_ARN]:-}"
  )
}

latest_event() {
  aws cloudformation describe-stack-events --stack-name "$STACK_NAME" --max-items 1 \
    --query 'StackEvents[0].EventId' --output text 2>/dev/null | head -n 1 || true
}

# After a failed create or update: what failed first, and the way out for the state it left.
explain_failed_stack() {
  local since=$1 what=$2 status
  print_failed_events "$since"
  status=$(aws cloudformation describe-stacks --stack-name "$STACK_NAME" --query 'Stacks[0].StackStatus' \
    --output text 2>/dev/null || echo NONE)
  case $status in
    REVIEW_IN_PROGRESS) die "$what failed: CloudFormation refused the change (the reason is above) and created nothing: fix it and run deploy.sh again" ;;
    ROLLBACK_COMPLETE) die "$what failed and the new stack was rolled back (status ROLLBACK_COMPLETE; it holds nothing): fix the first failure above, then run deploy.sh again (it deletes the empty stack first)" ;;
    UPDATE_ROLLBACK_COMPLETE) die "$what failed; CloudFormation put the stack back as it was (UPDATE_ROLLBACK_COMPLETE): fix the first failure above, then run deploy.sh again" ;;
    UPDATE_ROLLBACK_FAILED) die "$what failed and CloudFormation could not undo it (UPDATE_ROLLBACK_FAILED): fix the first failure above, then run 'aws cloudformation continue-update-rollback --stack-name $STACK_NAME' (with --resources-to-skip LOGICAL_ID for a resource that cannot be restored) and deploy again" ;;
    *_IN_PROGRESS) die "$what did not finish: stack $STACK_NAME is still $status; follow it with 'aws cloudformation describe-stack-events --stack-name $STACK_NAME' and run deploy.sh again when it has finished" ;;
    *) die "$what failed (stack status: $status; reasons above)" ;;
  esac
}

STACK_CHANGED=0
deploy_stack() {
  local since=""
  if [[ $STACK_STATUS == ROLLBACK_COMPLETE ]]; then
    say "Deleting stack $STACK_NAME: its creation failed and rolled back, so it holds nothing"
    aws cloudformation delete-stack --stack-name "$STACK_NAME" ||
      die "cannot delete the rolled-back stack $STACK_NAME (see above)"
    aws cloudformation wait stack-delete-complete --stack-name "$STACK_NAME" ||
      die "the rolled-back stack $STACK_NAME was not deleted: see 'aws cloudformation describe-stack-events --stack-name $STACK_NAME'"
  elif [[ $STACK_STATUS != NONE ]]; then
    since=$(latest_event)
  fi
  say "Deploying stack $STACK_NAME (CloudFormation changes only what differs)"
  stack_parameters
  # Every parameter is passed, so the stack always matches these settings (no stale previous
  # values) and an unchanged run gives CloudFormation an empty change set.
  if ! aws cloudformation deploy --stack-name "$STACK_NAME" --template-file "$TEMPLATE" \
    --capabilities CAPABILITY_IAM --no-fail-on-empty-changeset \
    --tags project=cafe-sales-report --parameter-overrides "${PARAMS[@]}" | tee "$TMP/deploy.out"; then
    explain_failed_stack "$since" "the stack deployment"
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

# --- the state of a deployment, shown after every run -----------------------------------------

read_stack_resources() {
  local logical physical status
  RESOURCE=()
  aws cloudformation describe-stack-resources --stack-name "$STACK_NAME" --output text \
    --query 'StackResources[].[LogicalResourceId, PhysicalResourceId, ResourceStatus]' >"$TMP/resources.out" 2>"$TMP/resources.err" ||
    return 1
  while IFS=$'\t' read -r logical physical status; do
    if [[ -n $logical && $physical != None ]]; then RESOURCE[$logical]=$physical; fi
  done <"$TMP/resources.out"
}

print_outputs() {
  local key value
  succeeded outputs || return 0
  while IFS=$'\t' read -r key value; do
    [[ -z $key || $key == None ]] || info "$key: $value"
  done <"$TMP/outputs.out"
}

# Who gets the reports and the alarms, and whether each address has confirmed: an unconfirmed
# or missing subscription means reports or alarms reach nobody, which nothing else would say.
print_subscriptions() {
  local topic label arn protocol endpoint confirmed
  for topic in ReportTopic AlarmTopic; do
    [[ -n ${RESOURCE[$topic]:-} ]] || continue
    [[ $topic == ReportTopic ]] && label=reports || label=alarms
    if ! succeeded "subscriptions_$topic"; then
      warn "cannot list who gets the $label ($(reason "subscriptions_$topic"))"
      continue
    fi
    confirmed=0
    while IFS=$'\t' read -r arn protocol endpoint; do
      [[ -n $arn ]] || continue
      if [[ $arn == PendingConfirmation ]]; then
        info "$label: $endpoint ($protocol): waiting for confirmation: click the link in the email from AWS Notifications (check spam)"
      else
        info "$label: $endpoint ($protocol): confirmed"
        confirmed=1
      fi
    done <"$TMP/subscriptions_$topic.out"
    ((confirmed)) && continue
    if [[ $topic == ReportTopic ]]; then
      warn "no confirmed subscriber gets the reports: they are published to ${RESOURCE[$topic]} and reach nobody; set REPORT_EMAIL and confirm the email (or subscribe a queue)"
    else
      warn "no confirmed subscriber gets the alarms: a failed day would go unnoticed; set ALARM_EMAIL and confirm the email"
    fi
  done
}

# How many failed days wait in each queue: `waiting_QUEUE` jobs.
ask_waiting_days() {
  local queue
  for queue in ReportFailureQueue ScheduleDeadLetterQueue; do
    [[ -n ${RESOURCE[$queue]:-} ]] || continue
    background "waiting_$queue" aws sqs get-queue-attributes --queue-url "${RESOURCE[$queue]}" \
      --attribute-names ApproximateNumberOfMessages --query Attributes.ApproximateNumberOfMessages --output text
  done
}

waiting_days() {
  local count
  succeeded "waiting_$1" && count=$(<"$TMP/waiting_$1.out") && [[ $count =~ ^[0-9]+$ ]] && echo "$count"
}

print_failed_days() {
  local queue count total=0
  for queue in ReportFailureQueue ScheduleDeadLetterQueue; do
    [[ -n ${RESOURCE[$queue]:-} ]] || continue
    if ! count=$(waiting_days "$queue"); then
      warn "cannot read $queue ($(reason "waiting_$queue")): look for failed days yourself (README, Troubleshooting)"
      continue
    fi
    total=$((total + count))
  done
  if ((total)); then
    warn "$total failed day(s) wait in the failure queues: fix the cause (the reporter's log names it), then run ./deploy.sh --replay-failures (README, Troubleshooting)"
  else
    info "failed days waiting to be re-sent: none"
  fi
}

# What every run shows at its end, asked all at once.
show_state() {
  read_stack_resources || return 0
  local topic
  background outputs aws cloudformation describe-stacks --stack-name "$STACK_NAME" --output text \
    --query 'Stacks[0].Outputs[].[OutputKey,OutputValue]'
  for topic in ReportTopic AlarmTopic; do
    [[ -z ${RESOURCE[$topic]:-} ]] || background "subscriptions_$topic" aws sns list-subscriptions-by-topic \
      --topic-arn "${RESOURCE[$topic]}" --output text --query 'Subscriptions[].[SubscriptionArn, Protocol, Endpoint]'
  done
  ask_waiting_days
  wait
  say "State of stack $STACK_NAME"
  print_outputs
  print_subscriptions
  print_failed_days
}

# --- running the reporter ---------------------------------------------------------------------

# One synchronous invoke, never retried (a retry would run the report twice), with a read
# timeout past the function's own. fileb:// sends the JSON as is with the CLI v1 and v2 alike.
# Leaves the answer in $TMP/result.json; prints the function error type, if any.
invoke_function() {
  local name=$1 payload=$2 timeout=$3
  printf '%s' "$payload" >"$TMP/event.json"
  AWS_MAX_ATTEMPTS=1 aws lambda invoke --function-name "$name" --payload "fileb://$TMP/event.json" \
    --cli-read-timeout "$((timeout + 30))" --query FunctionError --output text "$TMP/result.json"
}

invoke_reporter() {
  say "Running the reporter once (today's report; a day already sent answers \"already-sent\")"
  local error
  error=$(invoke_function "$REPORTER_FUNCTION" '{}' "${REPORTER_TIMEOUT:-900}") || die "cannot invoke $REPORTER_FUNCTION"
  info "result: $(cat "$TMP/result.json")"
  if [[ -n $error && $error != None ]]; then
    die "$REPORTER_FUNCTION failed ($error): the message above names the cause; see README, Troubleshooting, and its log group /aws/lambda/$REPORTER_FUNCTION"
  fi
}

# --- modes ------------------------------------------------------------------------------------

deploy() {
  say "Looking up the account, the network and what exists already"
  check_credentials
  background subnets aws ec2 describe-subnets --subnet-ids "${SUBNETS[@]}" --output text \
    --query 'Subnets[].[SubnetId,VpcId,AvailabilityZone]'
  background database_sg aws ec2 describe-security-groups --group-ids "$DATABASE_SECURITY_GROUP_ID" \
    --query 'SecurityGroups[0].VpcId' --output text
  ask_stack
  ask_repositories
  ask_db_parameters
  ask_roles
  ask_leftovers
  background concurrency aws lambda get-account-settings --output text \
    --query 'AccountLimit.[ConcurrentExecutions,UnreservedConcurrentExecutions]'
  wait
  check_network
  inspect_stack
  require_usable_stack
  inspect_repositories
  ask_repository_settings
  inspect_db_parameters
  check_roles
  check_leftovers
  check_concurrency
  wait
  plan_repository_settings >"$TMP/repositories.plan"
  plan_db_parameters >"$TMP/parameters.plan"
  ((DRY_RUN)) || [[ -t 0 ]] || require_db_values

  say "Plan$( ((DRY_RUN)) && echo ' (dry run: nothing will be changed)')"
  case $STACK_STATUS in
    NONE) info "stack $STACK_NAME: create" ;;
    ROLLBACK_COMPLETE) info "stack $STACK_NAME: delete (its creation failed) and create again" ;;
    *) info "stack $STACK_NAME ($STACK_STATUS): update if anything differs, else leave it" ;;
  esac
  info "functions: $EXTRACTOR_FUNCTION, $REPORTER_FUNCTION"
  local setting
  for setting in "${ROLE_SETTINGS[@]}"; do
    if [[ -n ${ROLE_ARN[$setting]:-} ]]; then
      info "$(role_of "$setting") role: use ${ROLE_ARN[$setting]} (the stack creates none)"
    else
      info "$(role_of "$setting") role: $([[ -n ${RESOURCE[$(logical_role "$setting")]:-} ]] && echo keep the stack\'s || echo create a) least-privilege role"
    fi
  done
  cat "$TMP/repositories.plan"
  info "images: build extractor and reporter for $(platform "$ARCHITECTURE") from docker/Dockerfile, tag $IMAGE_TAG, push, deploy by digest"
  cat "$TMP/parameters.plan"
  stack_parameters
  info "stack parameters:"
  local parameter
  for parameter in "${PARAMS[@]}"; do info "  $parameter"; done
  info "  (DatabasePort follows dbPort, else the port in dbUrl, else 3306: the extractor's own rule)"
  [[ -n $REPORT_EMAIL ]] || warn "REPORT_EMAIL is empty: nobody is subscribed to the reports by deploy.sh (fine only if you subscribe an address or queue yourself)"
  [[ -n $ALARM_EMAIL ]] || warn "ALARM_EMAIL is empty: nobody is told when a day's report fails"
  ((INVOKE_NOW)) && info "then run $REPORTER_FUNCTION once"
  if ((DRY_RUN)); then
    say "Dry run: nothing was changed"
    return 0
  fi

  ask_missing_db_values
  CHANGED=1
  prepare_repositories
  write_db_parameters
  docker_login
  publish_images "$ARCHITECTURE"
  deploy_stack
  ((STACK_CHANGED)) && wait_for_functions
  show_state
  ((INVOKE_NOW)) && invoke_reporter
  say "Done"
}

# The stack's recorded parameters stay the truth: new image digests (and --arch) go through a
# stack update with the deployed template and every other parameter's deployed value, so a
# later failed deploy can never roll the functions back to older images.
update_code() {
  say "Looking up the account and the deployed stack"
  check_credentials
  ask_stack
  ask_repositories
  background template aws cloudformation get-template --stack-name "$STACK_NAME" --query TemplateBody --output text
  wait
  inspect_stack
  [[ $STACK_STATUS != NONE ]] || die "stack $STACK_NAME does not exist in $AWS_REGION: run ./deploy.sh (a full deploy) first"
  require_usable_stack
  inspect_repositories
  local name
  for name in "$EXTRACTOR_REPO" "$REPORTER_REPO"; do
    [[ -n ${REPO_URI[$name]:-} ]] || die "ECR repository $name does not exist: run ./deploy.sh (a full deploy) first"
  done
  local deployed=${STACK_PARAM[Architecture]:-x86_64} arch=${ARCHITECTURE_GIVEN:-${STACK_PARAM[Architecture]:-x86_64}}
  REPORTER_TIMEOUT=${STACK_PARAM[ReporterTimeout]:-900}
  if succeeded template && [[ $(sed -e 's/[[:space:]]*$//' "$TMP/template.out") != "$(sed -e 's/[[:space:]]*$//' "$TEMPLATE")" ]]; then
    warn "the deployed template differs from infra/template.yaml: --update-code keeps the deployed one; run ./deploy.sh (a full deploy) to apply the changes (new code may need them)"
  fi
  say "Plan$( ((DRY_RUN)) && echo ' (dry run: nothing will be changed)')"
  info "build and push both images for $(platform "$arch"), tag $IMAGE_TAG"
  info "update stack $STACK_NAME: ExtractorImageUri and ReporterImageUri$([[ $arch != "$deployed" ]] && echo ", Architecture $deployed -> $arch"); every other parameter and the template stay as deployed"
  if ((DRY_RUN)); then
    say "Dry run: nothing was changed"
    return 0
  fi
  CHANGED=1
  docker_login
  publish_images "$arch"
  local key parameters=() since
  parameters=("ParameterKey=ExtractorImageUri,ParameterValue=${IMAGE[extractor]}"
    "ParameterKey=ReporterImageUri,ParameterValue=${IMAGE[reporter]}"
    "ParameterKey=Architecture,ParameterValue=$arch")
  for key in "${!STACK_PARAM[@]}"; do
    case $key in ExtractorImageUri | ReporterImageUri | Architecture) continue ;; esac
    parameters+=("ParameterKey=$key,UsePreviousValue=true")
  done
  since=$(latest_event)
  say "Updating stack $STACK_NAME with the new image digests"
  if ! aws cloudformation update-stack --stack-name "$STACK_NAME" --use-previous-template \
    --capabilities CAPABILITY_IAM --parameters "${parameters[@]}" >/dev/null 2>"$TMP/update.err"; then
    if grep -q 'No updates are to be performed' "$TMP/update.err"; then
      info "both functions already run these images"
    else
      die "cannot update stack $STACK_NAME: $(grep -v '^[[:space:]]*$' "$TMP/update.err" | tail -n 1)"
    fi
  else
    aws cloudformation wait stack-update-complete --stack-name "$STACK_NAME" ||
      explain_failed_stack "$since" "the code update"
    wait_for_functions
  fi
  show_state
  ((INVOKE_NOW)) && invoke_reporter
  say "Done"
}

# A failed day's message holds the original event: Lambda's destination record has it as
# requestPayload; a schedule's dead letter is the event itself. Only the fields the reporter
# reads are taken, each checked, and a new event is built from them; anything else stays in
# the queue for a person to read. Prints the event, or nothing.
replay_event() {
  local body=$1 event="" time="" day="" resend=""
  if [[ $body =~ \"requestPayload\"[[:space:]]*:[[:space:]]*(\{[^{}]*\}) ]]; then
    event=${BASH_REMATCH[1]}
  elif [[ $body =~ ^[[:space:]]*(\{[^{}]*\})[[:space:]]*$ ]]; then
    event=${BASH_REMATCH[1]}
  fi
  [[ -n $event ]] || return 0
  if [[ $event =~ \"reportDate\"[[:space:]]*:[[:space:]]*\"([0-9]{4}-[0-9]{2}-[0-9]{2})\" ]]; then
    day=${BASH_REMATCH[1]}
  elif [[ $event =~ \"scheduledTime\"[[:space:]]*:[[:space:]]*\"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+(Z|[+-][0-9]{2}:?[0-9]{2}))\" ]]; then
    time=${BASH_REMATCH[1]}
  else
    return 0
  fi
  [[ ! $event =~ \"resend\"[[:space:]]*:[[:space:]]*true ]] || resend=', "resend": true'
  if [[ -n $day ]]; then
    printf '{"reportDate": "%s"%s}' "$day" "$resend"
  else
    printf '{"scheduledTime": "%s"%s}' "$time" "$resend"
  fi
}

# Re-sends the failed days kept in the two queues, one message at a time: the reporter runs
# synchronously with the day's original event; the message is deleted only after the reporter
# answered statusCode 200 ("sent", or "already-sent" when an earlier attempt had got through).
replay_failures() {
  say "Looking up the account and the stack's failure queues"
  check_credentials
  ask_stack
  wait
  inspect_stack
  [[ $STACK_STATUS != NONE ]] || die "stack $STACK_NAME does not exist in $AWS_REGION: nothing to replay"
  [[ -n ${RESOURCE[ReportFailureQueue]:-} ]] ||
    die "stack $STACK_NAME has no failure queue (deployed before it had one?): run ./deploy.sh first"
  REPORTER_FUNCTION=${RESOURCE[ReporterFunction]:-$REPORTER_FUNCTION}
  local timeout=${STACK_PARAM[ReporterTimeout]:-900} queue url line id handle body event error
  local sent=0 failed=0 kept=0 left=()
  ((DRY_RUN)) && say "Plan (dry run: nothing will be invoked or deleted)"
  for queue in ReportFailureQueue ScheduleDeadLetterQueue; do
    url=${RESOURCE[$queue]:-}
    [[ -n $url ]] || continue
    say "Reading $queue ($url)"
    while true; do
      # The message stays invisible to others while the reporter runs, and longer than that.
      aws sqs receive-message --queue-url "$url" --max-number-of-messages 1 --wait-time-seconds 1 \
        --visibility-timeout "$((DRY_RUN ? 300 : timeout + 60))" --output text \
        --query 'Messages[0].[MessageId, ReceiptHandle, Body]' >"$TMP/message.out" 2>"$TMP/message.err" ||
        die "cannot read $queue: $(grep -v '^[[:space:]]*$' "$TMP/message.err" | tail -n 1)"
      IFS=$'\t' read -r id handle line <"$TMP/message.out" || true
      [[ -n $id && $id != None ]] || break
      body=$line$'\n'$(tail -n +2 "$TMP/message.out")
      event=$(replay_event "$body")
      if [[ -z $event ]]; then
        info "message $id: no reportDate or scheduledTime to re-send: left in the queue (read it: README, Troubleshooting)"
        kept=$((kept + 1))
        left+=("$url $handle")
        continue
      fi
      if ((DRY_RUN)); then
        info "message $id: would re-send $event"
        left+=("$url $handle")
        continue
      fi
      if ! error=$(invoke_function "$REPORTER_FUNCTION" "$event" "$timeout" 2>"$TMP/invoke.err"); then
        info "message $id ($event): cannot invoke $REPORTER_FUNCTION ($(grep -v '^[[:space:]]*$' "$TMP/invoke.err" | tail -n 1)): left in the queue"
        failed=$((failed + 1))
        left+=("$url $handle")
        continue
      fi
      if [[ -n $error && $error != None ]] || ! grep -Eq '"statusCode"[[:space:]]*:[[:space:]]*200' "$TMP/result.json"; then
        info "message $id ($event): the reporter failed again: $(head -c 400 "$TMP/result.json"): left in the queue"
        failed=$((failed + 1))
        left+=("$url $handle")
        continue
      fi
      aws sqs delete-message --queue-url "$url" --receipt-handle "$handle" ||
        die "message $id was re-sent but cannot be deleted from $queue: delete it by hand (its day is sent: a replay would answer already-sent)"
      info "message $id ($event): $(grep -Eo '"delivery"[[:space:]]*:[[:space:]]*"[a-z-]+"' "$TMP/result.json" || echo '"statusCode": 200'); deleted from the queue"
      sent=$((sent + 1))
    done
  done
  # What stays in a queue is visible again at once, for the next replay or a person to read.
  for line in "${left[@]}"; do
    read -r url handle <<<"$line"
    aws sqs change-message-visibility --queue-url "$url" --receipt-handle "$handle" --visibility-timeout 0 ||
      warn "a message kept in $url stays hidden until its visibility timeout ends"
  done
  ((DRY_RUN)) && {
    say "Dry run: nothing was changed"
    return 0
  }
  say "Re-sent $sent day(s); $failed failed again, $kept could not be replayed (all still in their queue)"
  ((failed == 0)) || die "$failed day(s) failed again: the reporter's error above names the cause (README, Troubleshooting); they stay in the queue for the next ./deploy.sh --replay-failures"
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
  case $STACK_STATUS in
    DELETE_IN_PROGRESS) ;;
    *_IN_PROGRESS) die "stack $STACK_NAME is busy ($STACK_STATUS): wait for it to finish, then retry" ;;
  esac
  if [[ -n $RETAIN && $STACK_STATUS != DELETE_FAILED ]]; then
    die "--retain-resources only applies to a stack whose deletion failed (DELETE_FAILED); $STACK_NAME is $STACK_STATUS"
  fi
  say "Plan$( ((DRY_RUN)) && echo ' (dry run: nothing will be changed)')"
  case $STACK_STATUS in
    NONE) info "stack $STACK_NAME: does not exist" ;;
    DELETE_IN_PROGRESS) info "stack $STACK_NAME: already being deleted; wait for it" ;;
    DELETE_FAILED)
      print_failed_events
      info "stack $STACK_NAME: its deletion failed (above); delete it again$([[ -n $RETAIN ]] && echo ", leaving ${RETAIN//,/, } behind for you to delete by hand")"
      ;;
    *) info "stack $STACK_NAME: delete (functions, roles it made, topics, the delivery table, queues, schedule, alarms, LambdaSG and its DatabaseSG rule, log groups)" ;;
  esac
  [[ $STACK_STATUS == NONE ]] || warn_failed_days_lost
  if ((PURGE)); then
    if ((${#REPO_URI[@]})); then info "ECR ${!REPO_URI[*]}: delete, with their images"; fi
    info "SSM parameters under $SSM_PREFIX (${DB_KEYS[*]}): delete"
    check_purge_is_ours
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
  [[ $STACK_STATUS == NONE ]] || delete_stack
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

# The failure queues go with the stack: say so while they hold a day that was never sent.
warn_failed_days_lost() {
  read_stack_resources || return 0
  local queue count
  ask_waiting_days
  wait
  for queue in ReportFailureQueue ScheduleDeadLetterQueue; do
    [[ -n ${RESOURCE[$queue]:-} ]] || continue
    count=$(waiting_days "$queue") || count="?"
    [[ ! $count =~ ^[1-9][0-9]*$ ]] ||
      warn "$queue holds $count failed day(s) that were never sent: they are lost with the stack (./deploy.sh --replay-failures re-sends them first)"
  done
}

# --purge deletes parameters and repositories by name: never those another stack deploys from.
check_purge_is_ours() {
  local others
  others=$(aws cloudformation describe-stacks --output text --query \
    "Stacks[?StackName!='$STACK_NAME' && (Parameters[?ParameterKey=='SsmPrefix' && ParameterValue=='$SSM_PREFIX'] || Parameters[?ParameterKey=='ExtractorImageUri' && contains(ParameterValue, '/$EXTRACTOR_REPO@')])].StackName" \
    2>/dev/null || true)
  [[ -z $others || $others == None ]] ||
    die "--purge would delete what stack(s) ${others//$'\t'/, } use (SSM prefix $SSM_PREFIX or ECR $EXTRACTOR_REPO): destroy without --purge, or destroy those first"
}

# Deletes the stack, or resumes a deletion that failed, and follows it: a VPC function's
# network interfaces commonly hold the extractor, LambdaSG and its rule for 20 to 40 minutes.
delete_stack() {
  local args=() status reason_line waited=0 seen=""
  if [[ $STACK_STATUS != DELETE_IN_PROGRESS ]]; then
    if [[ -n $RETAIN ]]; then
      IFS=, read -r -a args <<<"$RETAIN"
      args=(--retain-resources "${args[@]}")
    fi
    say "Deleting stack $STACK_NAME$([[ $STACK_STATUS == DELETE_FAILED ]] && echo ' (resuming the deletion that failed)')"
    aws cloudformation delete-stack --stack-name "$STACK_NAME" "${args[@]}" 2>"$TMP/delete.err" ||
      die "cannot delete stack $STACK_NAME: $(grep -v '^[[:space:]]*$' "$TMP/delete.err" | tail -n 1)"
  fi
  info "waiting for CloudFormation: Lambda releases the extractor's network interfaces before the function, LambdaSG and its DatabaseSG rule can go, commonly 20 to 40 minutes (Ctrl-C stops watching, not the deletion; ./deploy.sh --destroy picks it up again)"
  while true; do
    status=$(aws cloudformation describe-stacks --stack-name "$STACK_NAME" --query 'Stacks[0].StackStatus' \
      --output text 2>"$TMP/status.err") || {
      grep -q 'does not exist' "$TMP/status.err" ||
        die "cannot follow the deletion of $STACK_NAME: $(grep -v '^[[:space:]]*$' "$TMP/status.err" | tail -n 1)"
      status=DELETE_COMPLETE
    }
    case $status in
      DELETE_COMPLETE)
        info "stack $STACK_NAME deleted"
        return 0
        ;;
      DELETE_FAILED)
        print_failed_events
        die "stack $STACK_NAME could not be deleted (DELETE_FAILED; the first failure above says why). If Lambda was still releasing the extractor's network interfaces, wait a few minutes and run ./deploy.sh --destroy again: it resumes. If a resource cannot be deleted (e.g. removed or changed by hand), ./deploy.sh --destroy --retain-resources LOGICAL_ID[,LOGICAL_ID] deletes the stack without it; then delete that resource yourself"
        ;;
    esac
    reason_line=$(aws cloudformation describe-stack-resources --stack-name "$STACK_NAME" --output text \
      --query "StackResources[?ResourceStatus=='DELETE_IN_PROGRESS'].LogicalResourceId" 2>/dev/null || true)
    if [[ $reason_line != "$seen" ]]; then
      seen=$reason_line
      if [[ $reason_line == *ExtractorFunction* || $reason_line == *LambdaSG* ]]; then
        info "waiting: Lambda is releasing the extractor's network interfaces (usually 20 to 40 minutes; nothing to do but wait)"
      elif [[ -n $reason_line && $reason_line != None ]]; then
        info "waiting: deleting ${reason_line//$'\t'/, }"
      fi
    fi
    ((waited < 5400)) || die "stack $STACK_NAME is still being deleted after 90 minutes: follow it with 'aws cloudformation describe-stack-events --stack-name $STACK_NAME'"
    sleep "$POLL_SECONDS"
    waited=$((waited + POLL_SECONDS))
  done
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
    replay) replay_failures ;;
    destroy) destroy ;;
  esac
}

main "$@"
