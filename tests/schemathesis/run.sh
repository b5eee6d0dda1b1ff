#!/usr/bin/env bash
# Fuzzes the running API against its own /openapi.json with schemathesis: no answer may be a 5xx.
# Usage: tests/schemathesis/run.sh   (needs `pip install schemathesis`; builds the binary)
# Env: ST_MAX_EXAMPLES (default 30) examples per operation. The event stream never ends by
# design, so it is left out; /metrics is plain text with nothing to fuzz.
set -euo pipefail
cd "$(dirname "$0")/../.."

ST=${SCHEMATHESIS:-schemathesis}
command -v "$ST" >/dev/null || { echo "schemathesis is not installed (pip install schemathesis)" >&2; exit 1; }

SECRET=schemathesis-secret-of-a-decent-length
PORT=${ST_PORT:-18380}
DB_NAME=st.db
# shellcheck source=tests/lib/local_server.sh
source tests/lib/local_server.sh

# Something to find: two brands, a product with a line and a round.
api POST /brands '{"name":"Helinox","category":"camping"}' >/dev/null
api POST /brands '{"name":"Kith","category":"fashion"}' >/dev/null
api POST /products '{"name":"Chair One x Kith","brand_ids":[1,2],"price":189000,"stock":5}' >/dev/null
api POST /admin/products/1/subscriptions/import '{"user_ids":[1,2,3,4,5]}' >/dev/null
api POST '/products/1/notifications/re-stock?wait=true' '{"quantity":1}' >/dev/null

status=0
"$ST" run "http://127.0.0.1:$PORT/openapi.json" \
  --checks not_a_server_error \
  --header "Authorization: Bearer $ADMIN" \
  --max-examples "${ST_MAX_EXAMPLES:-30}" \
  --workers 2 \
  --phases examples,fuzzing \
  --exclude-path /metrics \
  --exclude-path /admin/events \
  --no-color || status=$?
# The buyers' operations, as a buyer.
BUYER=$(DROPLINE_JWT_SECRET=$SECRET "$BIN" token --role user --sub 3 --ttl 1h)
"$ST" run "http://127.0.0.1:$PORT/openapi.json" \
  --checks not_a_server_error \
  --header "Authorization: Bearer $BUYER" \
  --max-examples "${ST_MAX_EXAMPLES:-30}" \
  --workers 2 \
  --phases examples,fuzzing \
  --include-tag line --include-tag orders \
  --no-color || status=$?
if grep -q "panicked" "$WORK/server.log"; then
  echo "the server panicked:" >&2
  grep -B2 -A10 panicked "$WORK/server.log" >&2
  status=1
fi
exit $status
