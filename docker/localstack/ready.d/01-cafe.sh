#!/usr/bin/env bash
# LocalStack "ready" hook (mounted into /etc/localstack/init/ready.d/): creates what the
# reporter needs, as deploy.sh does in AWS: the SNS topic, the /cafe/* database parameters
# (the password as a SecureString), the DynamoDB table of deliveries (one report per day), an
# email subscription (LocalStack delivers it through SES: GET /_aws/ses) and an SQS queue
# subscribed to the topic, from which `report` reads the report back. Safe to re-run: every
# step creates what is missing and updates what is there.
#
# Settings, from the localstack service's environment (docker-compose.yml):
#   CAFE_DB_HOST, CAFE_DB_NAME, CAFE_DB_USER, CAFE_DB_PASSWORD   the database, as the extractor
#                                                               reaches it
#   CAFE_DB_SSL_MODE    /cafe/dbSslMode (default PREFERRED: the local MySQL's certificate is
#                       self-signed, so it is not verified; see README, Configuration)
#   CAFE_REPORT_EMAIL   the email subscriber (default owner@cafe.example)
#   CAFE_DELIVERY_TABLE the reporter's DELIVERY_TABLE (default cafe-sales-report-deliveries)
#   CAFE_TOPIC_NAME, CAFE_INBOX_QUEUE, CAFE_SSM_PREFIX   default SalesReportTopic,
#                                                       sales-report-inbox, /cafe
set -euo pipefail

: "${CAFE_DB_HOST:?set CAFE_DB_HOST to the database host the extractor connects to}"
: "${CAFE_DB_NAME:?set CAFE_DB_NAME to the database name}"
: "${CAFE_DB_USER:?set CAFE_DB_USER to the database user}"
: "${CAFE_DB_PASSWORD:?set CAFE_DB_PASSWORD to the database password}"
email=${CAFE_REPORT_EMAIL:-owner@cafe.example}
topic_name=${CAFE_TOPIC_NAME:-SalesReportTopic}
queue_name=${CAFE_INBOX_QUEUE:-sales-report-inbox}
prefix=${CAFE_SSM_PREFIX:-/cafe}
ssl_mode=${CAFE_DB_SSL_MODE:-PREFERRED}
table=${CAFE_DELIVERY_TABLE:-cafe-sales-report-deliveries}
# LocalStack keys resources by region and by the account the access key names ("test": the
# default account, 000000000000), so the reporter's topicARN must use the same.
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1}
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test}
export AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test}

echo "cafe: topic ${topic_name}"
topic_arn=$(awslocal sns create-topic --name "$topic_name" --query TopicArn --output text)

echo "cafe: parameters ${prefix}/dbUrl, dbName, dbUser, dbPassword, dbSslMode"
put_parameter() { # name value type
  awslocal ssm put-parameter --name "${prefix}/$1" --value "$2" --type "$3" --overwrite \
    --output text >/dev/null
}
put_parameter dbUrl "$CAFE_DB_HOST" String
put_parameter dbName "$CAFE_DB_NAME" String
put_parameter dbUser "$CAFE_DB_USER" String
put_parameter dbPassword "$CAFE_DB_PASSWORD" SecureString
put_parameter dbSslMode "$ssl_mode" String

echo "cafe: delivery table ${table}"
# As infra/template.yaml defines it: partition key id (string), TTL attribute expiration.
if ! awslocal dynamodb describe-table --table-name "$table" --output text >/dev/null 2>&1; then
  awslocal dynamodb create-table --table-name "$table" --billing-mode PAY_PER_REQUEST \
    --attribute-definitions AttributeName=id,AttributeType=S \
    --key-schema AttributeName=id,KeyType=HASH --output text >/dev/null
  awslocal dynamodb wait table-exists --table-name "$table"
fi
awslocal dynamodb update-time-to-live --table-name "$table" \
  --time-to-live-specification Enabled=true,AttributeName=expiration --output text >/dev/null 2>&1 ||
  echo "cafe: TTL on ${table} is set already"

echo "cafe: queue ${queue_name}"
queue_url=$(awslocal sqs create-queue --queue-name "$queue_name" --query QueueUrl --output text)
queue_arn=$(awslocal sqs get-queue-attributes --queue-url "$queue_url" \
  --attribute-names QueueArn --query Attributes.QueueArn --output text)
# In AWS the queue must let the topic send to it; LocalStack does not check, but keep it true.
policy=$(
  cat <<JSON
{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
"Principal":{"Service":"sns.amazonaws.com"},"Action":"sqs:SendMessage","Resource":"${queue_arn}",
"Condition":{"ArnEquals":{"aws:SourceArn":"${topic_arn}"}}}]}
JSON
)
policy=${policy//$'\n'/}
awslocal sqs set-queue-attributes --queue-url "$queue_url" \
  --attributes "{\"Policy\":\"${policy//\"/\\\"}\"}"

# One subscription per endpoint: subscribe only what the topic does not have yet.
subscribed=$(awslocal sns list-subscriptions-by-topic --topic-arn "$topic_arn" \
  --query 'Subscriptions[].[Protocol, Endpoint]' --output text)
subscribe() { # protocol endpoint
  if grep -qxF "$1"$'\t'"$2" <<<"$subscribed"; then
    echo "cafe: $1 $2 is subscribed already"
  else
    echo "cafe: subscribing $1 $2"
    awslocal sns subscribe --topic-arn "$topic_arn" --protocol "$1" \
      --notification-endpoint "$2" --output text >/dev/null
  fi
}
subscribe email "$email"
subscribe sqs "$queue_arn"

echo "cafe: ready: topicARN=${topic_arn}, DELIVERY_TABLE=${table}, inbox ${queue_url}"
