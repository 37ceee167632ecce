#!/usr/bin/env bash
# Smoke test of the peer on loopback: a throwaway database with the hub's layout faked in SQL
# (hub_control.tenants with 3 rows, 3 t_<hex> schemas with a few courses each), serve.sh on a
# free port, then /healthz, /courses/<id>, /courses?limit=… checked, a short timing loop, and
# everything (gunicorn, database) removed again.
#   bash bench/peer/smoke.sh [admin_url]   (default postgres://postgres@127.0.0.1:5432/postgres)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
admin="${1:-postgres://postgres@127.0.0.1:5432/postgres}"
db="peer_smoke_$$"
url="${admin%/*}/$db"
venv="$(cd "$here/.." && pwd)/.venv-peer"
log="$(mktemp)"
pid=""

cleanup() {
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  psql -q "$admin" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -f "$log"
}
trap cleanup EXIT

fail() { echo "peer smoke: FAIL: $*" >&2; echo "--- serve.sh output:" >&2; cat "$log" >&2; exit 1; }

psql -q "$admin" -c "CREATE DATABASE $db" >/dev/null
psql -q -v ON_ERROR_STOP=1 "$url" >/dev/null <<'SQL'
CREATE SCHEMA hub_control;
CREATE TABLE hub_control.tenants (
  id uuid PRIMARY KEY, slug varchar NOT NULL UNIQUE, name varchar NOT NULL,
  status varchar NOT NULL, status_reason varchar, schema_name varchar NOT NULL UNIQUE,
  cluster varchar NOT NULL DEFAULT 'primary', schema_version varchar,
  revision integer NOT NULL DEFAULT 1,
  created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL);
DO $$
DECLARE s text; slug text; i int; j int;
BEGIN
  FOR i IN 1..3 LOOP
    s := 't_' || replace(gen_random_uuid()::text, '-', '');
    slug := 'uni-' || i;
    INSERT INTO hub_control.tenants (id, slug, name, status, schema_name, created_at, updated_at)
      VALUES (gen_random_uuid(), slug, 'University ' || i, 'active', s, now(), now());
    EXECUTE format('CREATE SCHEMA %I', s);
    EXECUTE format($t$CREATE TABLE %I.courses (
      id uuid NOT NULL PRIMARY KEY, code varchar NOT NULL UNIQUE, title varchar NOT NULL,
      description text NOT NULL, status varchar NOT NULL, tags text NOT NULL,
      minimum_age integer NULL, revision integer NOT NULL,
      created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL)$t$, s);
    FOR j IN 1..(20 + i) LOOP
      EXECUTE format($t$INSERT INTO %I.courses VALUES (gen_random_uuid(), %L, %L, %L, %L, %L, %s, 1,
        now() - interval '1 day', now())$t$, s, 'C' || i || '-' || j, 'Course ' || j || ' of ' || slug,
        'About course ' || j, CASE WHEN j % 2 = 0 THEN 'published' ELSE 'draft' END,
        '["tag-' || j || '","' || slug || '"]', CASE WHEN j % 3 = 0 THEN 'NULL' ELSE '16' END);
    END LOOP;
  END LOOP;
END $$;
SQL

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
bash "$here/serve.sh" "$port" "$url" >"$log" 2>&1 &
pid=$!
for _ in $(seq 300); do
  grep -q "PEER READY" "$log" && break
  kill -0 "$pid" 2>/dev/null || fail "serve.sh exited early"
  sleep 0.1
done
grep -q "PEER READY" "$log" || fail "no PEER READY within 30 s"

base="http://127.0.0.1:$port"
code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$base/healthz")"
[[ "$code" == 200 ]] || fail "/healthz → $code"

psql -At "$url" -c "SELECT slug || ' ' || schema_name FROM hub_control.tenants ORDER BY slug" >"$log.tenants"
checked=0
while read -r slug schema; do
  host="$slug.peer.test"
  id="$(psql -At "$url" -c "SELECT id FROM $schema.courses ORDER BY id LIMIT 1 OFFSET 3")"
  one="$(curl -sf --max-time 5 -H "Host: $host" "$base/courses/$id")" || fail "GET /courses/$id on $host"
  v1="$(curl -sf --max-time 5 -H "Host: $host" "$base/v1/courses/$id")" || fail "GET /v1/courses/$id"
  [[ "$one" == "$v1" ]] || fail "/v1 path differs"
  page="$(curl -sf --max-time 5 -H "Host: $host" "$base/courses?limit=20")" || fail "GET /courses?limit=20"
  want="$(psql -At "$url" -c "SELECT json_agg(id ORDER BY id) FROM $schema.courses")"
  "$venv/bin/python" - "$id" "$one" "$page" "$want" "$slug" <<'PY' || fail "JSON check on $host"
import json, sys
id_, one, page, want, slug = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3]), json.loads(sys.argv[4]), sys.argv[5]
keys = ["id", "code", "title", "description", "status", "tags", "minimum_age", "revision", "created_at", "updated_at"]
assert list(one) == keys, list(one)
assert one["id"] == id_ and isinstance(one["tags"], list) and slug in one["tags"], one
assert one["created_at"].endswith("Z"), one["created_at"]
assert list(page) == ["items", "next_cursor"], list(page)
assert [c["id"] for c in page["items"]] == want[:20], "page is not the first 20 ids in order"
assert page["next_cursor"] is not None, "a full page with more rows must carry a cursor"
PY
  cursor="$(curl -sf --max-time 5 -H "Host: $host" "$base/courses?limit=20" | "$venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["next_cursor"])')"
  rest="$(curl -sf --max-time 5 -H "Host: $host" "$base/courses?limit=20&cursor=$cursor")"
  "$venv/bin/python" -c 'import json,sys; p=json.loads(sys.argv[1]); w=json.loads(sys.argv[2]); assert [c["id"] for c in p["items"]]==w[20:] and p["next_cursor"] is None, p' "$rest" "$want" \
    || fail "second page on $host"
  checked=$((checked + 1))
done <"$log.tenants"
rm -f "$log.tenants"
[[ "$checked" == 3 ]] || fail "checked $checked tenants, want 3"

# A course of another tenant is not visible through this tenant's host.
other="$(psql -At "$url" -c "SELECT schema_name FROM hub_control.tenants WHERE slug='uni-2'")"
foreign="$(psql -At "$url" -c "SELECT id FROM $other.courses LIMIT 1")"
code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H "Host: uni-1.peer.test" "$base/courses/$foreign")"
[[ "$code" == 404 ]] || fail "another tenant's course → $code, want 404"
code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H "Host: nobody.peer.test" "$base/courses")"
[[ "$code" == 404 ]] || fail "unknown tenant host → $code, want 404"

echo "peer smoke: 3 tenants checked on 127.0.0.1:$port"
