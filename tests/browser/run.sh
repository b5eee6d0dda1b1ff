#!/usr/bin/env bash
# Starts dropline (known secret, a mock receiver, a throwaway SQLite file) with a product
# and a line, runs the browser tests against its dashboard and a drop page, and stops everything.
# Usage: tests/browser/run.sh   (needs node, npm and /usr/bin/chromium)
# Env: SCREENSHOT_DIR=docs to refresh the screenshots; LINE (default 1500).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)

SECRET=browser-test-secret-of-a-decent-length
PORT=${BROWSER_PORT:-18480}
DB_NAME=browser.db
LINE=${LINE:-1500}
# shellcheck source=tests/lib/local_server.sh
source tests/lib/local_server.sh

api POST /brands '{"name":"Helinox","category":"camping"}' >/dev/null
api POST /brands '{"name":"Kith","category":"fashion"}' >/dev/null
api POST /products '{"name":"Chair One x Kith","brand_ids":[1,2],"price":189000,"stock":0,"sale_starts_at":"2026-12-14T10:00:00Z"}' >/dev/null
api POST /products '{"name":"Tactical Table x Fleece","brand_ids":[1],"price":99000,"stock":40}' >/dev/null
USERS=$(seq -s, 1001 $((1000 + LINE)))
api POST /admin/products/1/subscriptions/import "{\"user_ids\":[$USERS]}" >/dev/null
# A claim product (product 3) with a short line: each alert sets a unit aside.
api POST /products '{"name":"Cot One x Kith","brand_ids":[1,2],"price":259000,"stock":0,"alert_mode":"claim","claim_seconds":600}' >/dev/null
api POST /admin/products/3/subscriptions/import '{"user_ids":[2001,2002,2003,2004,2005]}' >/dev/null
HOLDER=$(DROPLINE_JWT_SECRET=$SECRET "$BIN" token --role user --sub 2001 --ttl 1h)
# Three buyers for the drop page (users 3001..3003).
BUYERS=$(for u in 3001 3002 3003; do DROPLINE_JWT_SECRET=$SECRET "$BIN" token --role user --sub $u --ttl 1h; done | paste -sd,)

cd tests/browser
[ -d node_modules/playwright-core ] || npm ci --no-audit --no-fund
status=0
BASE_URL="http://127.0.0.1:$PORT" ADMIN_TOKEN=$ADMIN PRODUCT_ID=1 LINE=$LINE \
CLAIM_PRODUCT_ID=3 HOLDER_TOKEN=$HOLDER BUYER_TOKENS=$BUYERS \
SCREENSHOT_DIR=${SCREENSHOT_DIR:+$ROOT/$SCREENSHOT_DIR} \
  node --test dashboard.test.mjs drop.test.mjs || status=$?
if [ $status -ne 0 ]; then
  echo "--- server log" >&2; tail -50 "$WORK/server.log" >&2
fi
exit $status
