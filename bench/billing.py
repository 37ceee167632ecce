#!/usr/bin/env python3
"""The billing part of `make bench` (issue 12 "Bench"; stdlib only).

bench/run.sh starts localstripe (the pinned Stripe emulator in .venv) behind the project's
own Stripe front (tests/stripe/stripe_front.py, as tests/api/stripe_fake.rs starts them), then
the gateway (release) configured with them (HUB_STRIPE_API_KEY, HUB_STRIPE_API_BASE = the
front, HUB_STRIPE_WEBHOOK_SECRETS, HUB_BILLING_POLL_MS), and runs this driver after the
learning part (or alone with BENCH_ONLY=billing). On one institution provisioned through the
public API (its Stripe account connected, BENCH_BILLING_PAYMENTS courses priced at 49.00 EUR,
one learner and one finance person signed in) it measures:

  1. Webhook replay. The learner buys every course for real (POST /v1/me/purchases with
     pm_card_visa: a customer and a confirmed PaymentIntent at Stripe on the connected
     account); no webhook endpoint is registered at localstripe, so nothing reaches the
     gateway by itself. A third of the payments are then partly refunded and a third fully
     (two refunds), directly at Stripe (as from Stripe's dashboard). From the objects Stripe
     holds, BENCH_BILLING_EVENTS (10,000; quick 1,000) deliveries are built: distinct events
     about those real objects (per payment payment_intent.created/.succeeded,
     charge.succeeded/.updated, and per refund refund.created/.updated, charge.refunded,
     charge.refund.updated; then further charge.updated/refund.updated events, round-robin,
     until there are 80 % of the deliveries) plus 20 % duplicates of them, shuffled with a
     fixed seed. Each body is signed as Stripe signs (Stripe-Signature t=…,v1=HMAC-SHA256 of
     "t.body" with the endpoint secret) by this driver just before sending (LuaJIT has no
     HMAC), and wrk (bench/wrk/stripe_webhooks.lua, one connection per thread) POSTs them to
     /v1/billing/stripe/webhook in that order, each once. Reported: the acknowledgement
     latency p50/p99 (wrk; target p99 < 50 ms), the answers (2xx, `"duplicate": true`), and
     the processing throughput: the events the inbox holds as to be applied divided by the
     time from the first delivery until GET /v1/operator/billing/events?state=pending is
     empty (each event is applied by fetching its object again from Stripe, crates/billing/
     src/sync.rs, so this includes the Stripe round trips to localstripe). Then the check:
     every event stored once and applied; and the state finance reads through the API
     (GET /v1/billing/payments: status, amount refunded, charge, card; GET
     /v1/billing/refunds: each refund's Stripe id, amount and status; the payment's
     enrollment, and the learner's GET /v1/me/enrollments) equals the state Stripe itself
     holds, read back from the front's API (the PaymentIntent, its charge, its refunds). That
     is the state applying the distinct events in order gives, since every application
     writes Stripe's current state. The state before the replay is checked against Stripe too
     and must differ (no enrollments, no refunds, no cards yet): the check can fail.
  2. History and export over BENCH_BILLING_HISTORY_ROWS (100,000; quick 5,000) payments in
     the institution: the purchases above plus rows seeded with one COPY into the tenant's
     billing_payments, shaped as a real purchase's row (description, amounts, Stripe ids of
     the same lengths, statuses mixed) with the card sealed exactly as the gateway seals it
     (AES-256-GCM under the tenant's data key, bound to the row: bench/sealing.py, the data
     key unwrapped from the key store with HUB_KEK; a real row is opened first to check it).
     wrk GETs finance's list (GET /v1/billing/payments, pages drawn from the cursors of a
     walk through all pages: unfiltered, and filtered by status=succeeded&currency=eur), each
     BENCH_RUNS x BENCH_DURATION at BENCH_BILLING_CONNECTIONS: rps, p50, p99. Then the CSV
     export (GET /v1/billing/payments/export, exportPayments) of every payment, BENCH_RUNS
     times, read as a stream end to end: seconds, bytes, rows (checked against the table),
     and the gateway's RSS sampled every 10 ms from /proc/<pid>/status during it: the peak
     growth over the RSS just before.

Results go under the key "billing" of bench/out/results.json, merged into what is there.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import os
import random
import re
import signal
import string
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

from privacy import children, client, provision, reap, sign_in, spawn  # HTTP, sign-in, wrk children
from sealing import Sealer, self_test, unwrap_data_key
from wrklib import parse_wrk, summarise_runs

ROOT = Path(__file__).resolve().parent.parent


def env(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, "")
    if value == "":
        if default is None:
            raise SystemExit(f"billing.py: {name} is not set (run through bench/run.sh / make bench)")
        return default
    return value


def env_int(name: str, default: int) -> int:
    text = env(name, str(default))
    try:
        value = int(text)
    except ValueError:
        raise SystemExit(f"billing.py: {name}={text!r} is not an integer") from None
    if value < 0:
        raise SystemExit(f"billing.py: {name} must not be negative")
    return value


QUICK = env("BENCH_QUICK", "0") not in ("0", "", "false", "no")
OUT = Path(env("BENCH_OUT", str(ROOT / "bench" / "out")))
RAW, RUN = OUT / "raw", OUT / "run"
RESULTS = OUT / "results.json"
HUB_URL = env("BENCH_HUB_URL")
HUB_PID = env_int("BENCH_HUB_PID", 0)
OPERATOR = env("BENCH_OPERATOR_TOKEN")
DB = env("BENCH_DB", "hub_bench")
KEYS_DB = env("BENCH_KEYS_DB", f"{DB}_keys")
PGHOST, PGPORT, PGUSER = env("PGHOST", "127.0.0.1"), env("PGPORT", "5432"), env("PGUSER", "postgres")
STRIPE_URL = env("BENCH_STRIPE_URL")  # the front
STRIPE_KEY = env("HUB_STRIPE_API_KEY")
SECRET = env("BENCH_STRIPE_WEBHOOK_SECRET")
KEK = bytes.fromhex(env("HUB_KEK"))
DURATION = env_int("BENCH_DURATION", 3 if QUICK else 15)
RUNS = max(1, env_int("BENCH_RUNS", 3))
THREADS = max(1, env_int("BENCH_THREADS", 2))
CONNECTIONS = max(1, env_int("BENCH_BILLING_CONNECTIONS", 16))
EVENTS = max(10, env_int("BENCH_BILLING_EVENTS", 1_000 if QUICK else 10_000))
DUPLICATE_SHARE = 0.2
PAYMENTS = max(3, env_int("BENCH_BILLING_PAYMENTS", 80 if QUICK else 800))
HISTORY_ROWS = env_int("BENCH_BILLING_HISTORY_ROWS", 5_000 if QUICK else 100_000)
SEED = env_int("BENCH_BILLING_SEED", 20261204)
PROCESS_TIMEOUT = env_int("BENCH_BILLING_PROCESS_TIMEOUT", 900 if QUICK else 3600)
PRICE = 4900
TARGET_ACK_P99_MS = 50.0
SAMPLE_S = 0.01

_url = urllib.parse.urlsplit(HUB_URL)
if _url.hostname not in ("127.0.0.1", "localhost", "::1"):
    raise SystemExit("billing.py: only a loopback gateway is allowed")
_stripe = urllib.parse.urlsplit(STRIPE_URL)
if _stripe.hostname not in ("127.0.0.1", "localhost", "::1"):
    raise SystemExit("billing.py: only a loopback Stripe (localstripe behind the front) is allowed")
if PGHOST not in ("127.0.0.1", "localhost", "::1"):
    raise SystemExit("billing.py: PGHOST must be loopback")


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] billing: {message}", file=sys.stderr, flush=True)


# --- results (merged into results.json) ----------------------------------------------------------

billing: dict = {}


def save() -> None:
    """Writes the billing figures into results.json, keeping every other key as it is there."""
    merged: dict = {}
    if RESULTS.exists():
        try:
            merged = json.loads(RESULTS.read_text(encoding="utf-8"))
        except ValueError:
            merged = {}
    merged["billing"] = billing
    tmp = RESULTS.with_suffix(".billing.tmp")
    tmp.write_text(json.dumps(merged, indent=2) + "\n", encoding="utf-8")
    tmp.replace(RESULTS)


def command(text: str) -> None:
    cmds = billing.setdefault("commands", [])
    text = text.replace(str(RUN) + "/", "<run dir>/").replace(str(ROOT) + "/", "")
    text = text.replace(HUB_URL, "http://127.0.0.1:<hub port>")
    text = re.sub(r"t_[0-9a-f]{32}", "<tenant schema>", text)
    if text not in cmds:
        cmds.append(text)


def loadavg() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def median(values: list) -> float | None:
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    mid = len(values) // 2
    return round(values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2, 3)


# --- PostgreSQL ----------------------------------------------------------------------------------


def psql(sql: str, db: str = DB, timeout: float = 600, stdin: str | None = None) -> str:
    cmd = ["psql", "-h", PGHOST, "-p", PGPORT, "-U", PGUSER, "-d", db, "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, input=stdin)
    if out.returncode != 0:
        raise RuntimeError(f"psql: {out.stderr.strip()[-1500:]}")
    return out.stdout.strip()


def tenant_schema(slug: str) -> str:
    schema = psql(f"select schema_name from hub_control.tenants where slug = '{slug}'")
    if not re.fullmatch(r"t_[0-9a-f]{32}", schema):
        raise RuntimeError(f"unexpected schema name {schema!r} for {slug}")
    return schema


# --- Stripe (the front, as Stripe's dashboard or API would be used) --------------------------------


class Stripe:
    """Form-encoded calls to the Stripe front, on the institution's connected account."""

    def __init__(self, account: str):
        u = urllib.parse.urlsplit(STRIPE_URL)
        self.host, self.port, self.account = u.hostname, u.port, account
        self.local = threading.local()

    def call(self, method: str, path: str, form: dict | None = None) -> dict:
        body = urllib.parse.urlencode(form).encode() if form else None
        headers = {"Authorization": f"Bearer {STRIPE_KEY}", "Stripe-Account": self.account}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        for attempt in (1, 2):
            conn = getattr(self.local, "conn", None)
            if conn is None:
                conn = self.local.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
            try:
                conn.request(method, path, body=body, headers=headers)
                r = conn.getresponse()
                data = r.read()
            except (ConnectionError, http.client.HTTPException, OSError):
                conn.close()
                self.local.conn = None
                if attempt == 2:
                    raise
                continue
            if r.status != 200:
                raise RuntimeError(f"Stripe {method} {path}: HTTP {r.status}: {data[:500].decode(errors='replace')}")
            return json.loads(data)
        raise AssertionError("unreachable")


def object_id(value) -> str | None:
    if isinstance(value, dict):
        return value.get("id")
    return value


# --- setup through the public API ----------------------------------------------------------------


def add_person(admin: str, username: str, address: str, roles: list[str]) -> str:
    r = client().call("POST", "/v1/people", admin, {
        "name": f"{username.capitalize()} Buyer", "username": username, "email": address, "roles": roles})
    return r.expect(201, what="POST /v1/people").json["id"]


def shop(slug: str) -> dict:
    """An institution with its Stripe account connected and PAYMENTS priced, published courses."""
    tenant_id, admin = provision(slug)
    account = "acct_1Bench" + slug.replace("-", "")[-20:]
    c = client()
    c.call("PUT", "/v1/billing/account", admin, {"stripe_account": account}).expect(200, what="PUT /v1/billing/account")

    def course(i: int) -> tuple[str, str]:
        cc = client()
        code = f"PAID-{i:05d}"
        made = cc.call("POST", "/v1/courses", admin, {"code": code, "title": f"Paid course {code}",
                                                       "status": "published"}).expect(201, what="POST /v1/courses")
        cid = made.json["id"]
        cc.call("PUT", f"/v1/courses/{cid}/price", admin, {"amount": PRICE, "currency": "eur"}).expect(
            200, what="PUT /v1/courses/{id}/price")
        return cid, f"Paid course {code}"

    with ThreadPoolExecutor(4) as pool:
        courses = list(pool.map(course, range(1, PAYMENTS + 1)))
    buyer_address, finance_address = f"buyer@{slug}.test", f"ledger@{slug}.test"
    buyer = add_person(admin, "buyer", buyer_address, ["learner"])
    add_person(admin, "ledger", finance_address, ["finance"])
    learner = sign_in(slug, admin, "buyer", buyer_address)
    finance = sign_in(slug, admin, "ledger", finance_address)
    return {"slug": slug, "tenant_id": tenant_id, "admin": admin, "account": account, "courses": courses,
            "buyer": buyer, "learner": learner, "finance": finance}


def purchases(s: dict) -> list[dict]:
    """The learner buys every course (a confirmed PaymentIntent at Stripe each)."""

    def buy(i_course: tuple[int, tuple[str, str]]) -> dict:
        i, (course_id, _) = i_course
        r = client().call("POST", "/v1/me/purchases", s["learner"],
                          {"course_id": course_id, "payment_method": "pm_card_visa"},
                          headers={"Idempotency-Key": f"bench-buy-{i}"}).expect(201, what="POST /v1/me/purchases")
        p = r.json["payment"]
        return {"payment_id": p["id"], "intent": p["stripe_payment_intent"], "course_id": course_id}

    items = list(enumerate(s["courses"]))
    bought = [buy(items[0])]  # the learner's Stripe customer is made by the first, alone
    with ThreadPoolExecutor(4) as pool:
        bought += list(pool.map(buy, items[1:]))
    return bought


# --- 1. webhook replay -----------------------------------------------------------------------------

_event_fixture: dict | None = None


def event(seq: int, kind: str, obj: dict, account: str, created: int) -> dict:
    """A Stripe event as Stripe sends it (Stripe's example event, tests/stripe/fixtures)."""
    global _event_fixture
    if _event_fixture is None:
        all_ = json.loads((ROOT / "tests/stripe/fixtures/stripe-objects.json").read_text(encoding="utf-8"))
        _event_fixture = all_["resources"]["event"]
    e = json.loads(json.dumps(_event_fixture))
    e.update({"id": f"evt_1Bench{SEED}{seq:07d}", "type": kind, "created": created, "account": account,
              "data": {"object": obj}, "livemode": False})
    e.pop("previous_attributes", None)
    if isinstance(e.get("request"), dict):
        e["request"] = {"id": None, "idempotency_key": None}
    return e


def stripe_state(stripe: Stripe, bought: list[dict]) -> dict:
    """What Stripe holds, per payment: its PaymentIntent, charge and refunds."""

    def one(b: dict) -> dict:
        intent = stripe.call("GET", f"/v1/payment_intents/{b['intent']}")
        charge_id = object_id(intent.get("latest_charge"))
        charge = stripe.call("GET", f"/v1/charges/{charge_id}") if charge_id else None
        refunds = [stripe.call("GET", f"/v1/refunds/{r}") for r in b.get("refunds", [])]
        # The card as the gateway reads it: the charge's payment_method_details, else the
        # PaymentMethod (localstripe's charges carry no details).
        card = (((charge or {}).get("payment_method_details") or {}).get("card"))
        method = object_id((charge or {}).get("payment_method")) or object_id(intent.get("payment_method"))
        if charge and not card and method:
            card = stripe.call("GET", f"/v1/payment_methods/{method}").get("card")
        return {"intent": intent, "charge": charge, "refunds": refunds, "card": card or {}}

    with ThreadPoolExecutor(4) as pool:
        return dict(zip((b["payment_id"] for b in bought), pool.map(one, bought)))


def expected_from_stripe(st: dict) -> dict:
    """Billing's record of a payment as Stripe's state says it must be (crates/billing/src/sync.rs)."""
    intent, charge = st["intent"], st["charge"]
    status = {"succeeded": "succeeded", "processing": "processing", "requires_capture": "processing",
              "canceled": "canceled"}.get(intent["status"], "requires_payment")
    refunded = (charge or {}).get("amount_refunded") or 0
    if status == "succeeded" and refunded > 0:
        status = "refunded" if refunded >= intent["amount"] else "partially_refunded"
    card = st["card"]
    return {"status": status, "amount_refunded": refunded, "stripe_charge": (charge or {}).get("id"),
            "card_last4": card.get("last4"), "enrolled": status == "succeeded",
            "refunds": sorted((r["id"], r["amount"], r["status"]) for r in st["refunds"])}


def pages(token: str, path: str, limit: int = 200) -> list[dict]:
    """Every item of a cursor-paged list."""
    items, cursor, c = [], None, client()
    while True:
        sep = "&" if "?" in path else "?"
        q = f"{path}{sep}limit={limit}" + (f"&cursor={urllib.parse.quote(cursor)}" if cursor else "")
        body = c.call("GET", q, token).expect(200, what=f"GET {path}").json
        items += body["items"]
        cursor = body.get("next_cursor")
        if not cursor:
            return items


def compare(s: dict, bought: list[dict], stripe_now: dict) -> dict:
    """The records finance reads vs Stripe's state: every difference, by payment."""
    ours = {p["id"]: p for p in pages(s["finance"], "/v1/billing/payments")}
    refunds: dict[str, list] = {}
    for r in pages(s["finance"], "/v1/billing/refunds"):
        refunds.setdefault(r["payment_id"], []).append((r.get("stripe_refund"), r["amount"], r["status"]))
    enrolled_courses = {e["course_id"] for e in pages(s["learner"], "/v1/me/enrollments")
                        if e.get("source") == "purchase" and e.get("state") == "active"}
    differences: list[str] = []
    for b in bought:
        want = expected_from_stripe(stripe_now[b["payment_id"]])
        have = ours.get(b["payment_id"])
        if have is None:
            differences.append(f"{b['payment_id']}: missing from finance's list")
            continue
        for field in ("status", "amount_refunded", "stripe_charge", "card_last4"):
            if have.get(field) != want[field]:
                differences.append(f"{b['payment_id']}: {field} {have.get(field)!r}, Stripe says {want[field]!r}")
        if bool(have.get("enrollment_id")) != want["enrolled"]:
            differences.append(f"{b['payment_id']}: enrollment {have.get('enrollment_id')!r}, expected "
                               f"{'one' if want['enrolled'] else 'none'}")
        if (b["course_id"] in enrolled_courses) != want["enrolled"]:
            differences.append(f"{b['payment_id']}: the learner's enrollments "
                               f"{'lack' if want['enrolled'] else 'hold'} course {b['course_id']}")
        if sorted(refunds.get(b["payment_id"], [])) != want["refunds"]:
            differences.append(f"{b['payment_id']}: refunds {sorted(refunds.get(b['payment_id'], []))}, "
                               f"Stripe holds {want['refunds']}")
    return {"payments_compared": len(bought), "differences": len(differences), "examples": differences[:10],
            "enrolled": len(enrolled_courses),
            "expected_enrolled": sum(expected_from_stripe(stripe_now[b["payment_id"]])["enrolled"] for b in bought)}


def build_events(s: dict, bought: list[dict], stripe_now: dict) -> list[dict]:
    """The distinct events, in Stripe's order: what happened to each object, then updates."""
    distinct = EVENTS - int(EVENTS * DUPLICATE_SHARE)
    base_time = int(time.time()) - 3600
    per_payment: list[list[tuple[str, dict]]] = []
    updates: list[list[tuple[str, dict]]] = []
    for b in bought:
        st = stripe_now[b["payment_id"]]
        intent, charge = st["intent"], st["charge"]
        earlier = dict(intent, status="requires_payment_method", latest_charge=None, amount_received=0)
        seq = [("payment_intent.created", earlier), ("payment_intent.succeeded", intent),
               ("charge.succeeded", charge), ("charge.updated", charge)]
        for r in st["refunds"]:
            seq += [("refund.created", r), ("charge.refunded", charge), ("refund.updated", r),
                    ("charge.refund.updated", r)]
        per_payment.append(seq)
        updates.append([("charge.updated", charge)] + [("refund.updated", r) for r in st["refunds"]])
    ordered = [e for seq in per_payment for e in seq]
    if len(ordered) > distinct:
        raise RuntimeError(f"{len(ordered)} events describe {len(bought)} payments, more than the {distinct} distinct "
                           "events asked for: lower BENCH_BILLING_PAYMENTS or raise BENCH_BILLING_EVENTS")
    k = 0
    while len(ordered) < distinct:  # later updates of the same objects, round-robin over payments
        u = updates[k % len(updates)]
        ordered.append(u[(k // len(updates)) % len(u)])
        k += 1
    return [event(i, kind, obj, s["account"], base_time + i * 3600 // max(1, distinct))
            for i, (kind, obj) in enumerate(ordered)]


def sign(body: str, timestamp: int) -> str:
    mac = hmac.new(SECRET.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def inbox(state: str | None = None) -> list[dict]:
    items, cursor, c = [], None, client()
    while True:
        q = "/v1/operator/billing/events?limit=200" + (f"&state={state}" if state else "") + (
            f"&cursor={urllib.parse.quote(cursor)}" if cursor else "")
        body = c.call("GET", q, OPERATOR).expect(200, what="GET /v1/operator/billing/events").json
        items += body["items"]
        cursor = body.get("next_cursor")
        if not cursor:
            return items


def pending_left() -> int:
    body = client().call("GET", "/v1/operator/billing/events?state=pending&limit=1", OPERATOR).expect(
        200, what="GET /v1/operator/billing/events?state=pending").json
    return len(body["items"])


def webhooks(s: dict) -> None:
    part: dict = {"payments": PAYMENTS, "deliveries": EVENTS, "duplicate_share": DUPLICATE_SHARE, "seed": SEED,
                  "connections": CONNECTIONS, "load_before": loadavg()}
    billing["webhooks"] = part
    stripe = Stripe(s["account"])
    log(f"webhooks: {PAYMENTS} purchases through POST /v1/me/purchases (a confirmed PaymentIntent at Stripe each)")
    started = time.perf_counter()
    bought = purchases(s)
    part["purchase_s"] = round(time.perf_counter() - started, 1)
    s["bought"] = bought
    log(f"  {len(bought)} purchases in {part['purchase_s']} s; refunds at Stripe: a third partly, a third fully")

    def refund(ib: tuple[int, dict]) -> int:
        i, b = ib
        if i % 3 == 0:
            return 0
        intent = stripe.call("GET", f"/v1/payment_intents/{b['intent']}")
        charge = object_id(intent.get("latest_charge"))
        amounts = [1500] if i % 3 == 1 else [1500, PRICE - 1500]
        for n, amount in enumerate(amounts):
            made = stripe.call("POST", "/v1/refunds", {"charge": charge, "amount": str(amount),
                                                      "metadata[bench]": f"refund {n + 1} of payment {i}"})
            b.setdefault("refunds", []).append(made["id"])
        return len(amounts)

    with ThreadPoolExecutor(4) as pool:
        part["stripe_refunds"] = sum(pool.map(refund, enumerate(bought)))
    stripe_now = stripe_state(stripe, bought)
    before = compare(s, bought, stripe_now)
    part["before_replay"] = {"differences_from_stripe": before["differences"], "examples": before["examples"][:3]}
    if before["differences"] == 0:
        raise RuntimeError("before any event the records already equal Stripe's: the check could not fail")
    log(f"  before the replay: {before['differences']} differences from Stripe (expected: nothing applied yet)")

    events = build_events(s, bought, stripe_now)
    distinct = len(events)
    rng = random.Random(SEED)
    dups = [events[i] for i in sorted(rng.sample(range(distinct), EVENTS - distinct))]
    sends = events + dups
    rng.shuffle(sends)
    bodies = [json.dumps(e, separators=(",", ":")) for e in sends]
    kinds: dict[str, int] = {}
    for e in events:
        kinds[e["type"]] = kinds.get(e["type"], 0) + 1
    part.update({"distinct_events": distinct, "duplicates_sent": len(dups), "event_types": kinds,
                 "objects": {"payment_intents": len(bought), "charges": len(bought),
                             "refunds": sum(len(v["refunds"]) for v in stripe_now.values())},
                 "body_bytes_avg": round(sum(map(len, bodies)) / len(bodies))})
    save()

    wrk_threads = min(CONNECTIONS, len(bodies))
    file = RUN / "webhooks.tsv"
    done = RUN / "webhooks.done"
    for old in RUN.glob("webhooks.done.*"):
        old.unlink()
    now = int(time.time())
    file.write_text("".join(f"{sign(b, now)}\t{b}\n" for b in bodies), encoding="utf-8")
    cmd = ["wrk", "-t", str(wrk_threads), "-c", str(wrk_threads), "-d", "3600s", "--latency", "--timeout", "30s",
           "-s", str(ROOT / "bench/wrk/stripe_webhooks.lua"), HUB_URL]
    extra = {"BENCH_WEBHOOK_FILE": str(file), "BENCH_WEBHOOK_DONE": str(done),
             "BENCH_WEBHOOK_THREADS": str(wrk_threads)}
    command(f"BENCH_WEBHOOK_FILE=<signed deliveries, one per line> BENCH_WEBHOOK_DONE=<marker prefix> "
            f"BENCH_WEBHOOK_THREADS={wrk_threads} " + " ".join(cmd)
            + "   # one connection per thread, every line once; SIGINT once every thread is done")
    log(f"  sending {len(bodies):,} signed deliveries ({distinct:,} distinct events, {len(dups):,} duplicates) "
        f"with wrk at {wrk_threads} connections")
    sent_at = time.perf_counter()
    proc = spawn(cmd, extra, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    acked_at = None
    drained_at = None
    last_log = sent_at
    while True:
        now_p = time.perf_counter()
        if acked_at is None:
            if len(list(RUN.glob("webhooks.done.*"))) >= wrk_threads:
                acked_at = now_p
            elif proc.poll() is not None:
                raise RuntimeError("wrk exited before sending every delivery:\n" + (proc.stdout.read() or "")[-2000:])
        if acked_at is not None and pending_left() == 0:
            drained_at = time.perf_counter()
            break
        if now_p - sent_at > PROCESS_TIMEOUT:
            raise RuntimeError(f"events still pending after {PROCESS_TIMEOUT} s")
        if now_p - last_log > 15:
            log(f"  {'all acknowledged; ' if acked_at else ''}waiting for the inbox to drain ({now_p - sent_at:.0f} s)")
            last_log = now_p
        time.sleep(0.2)
    out = reap(proc, signal.SIGINT)
    (RAW / "billing-webhooks.txt").write_text(out, encoding="utf-8")
    r = parse_wrk(out)
    data = json.loads(next(line for line in out.splitlines() if line.startswith("BENCH_JSON "))[11:])
    states: dict[str, int] = {}
    stored = inbox()
    for e in stored:
        states[e["state"]] = states.get(e["state"], 0) + 1
    ours = [e for e in stored if e["event_id"].startswith(f"evt_1Bench{SEED}")]
    handled = len(ours)  # every type sent is one billing acts on: each was stored `pending`
    ack_s = acked_at - sent_at
    process_s = drained_at - sent_at
    part["ack"] = {"requests": r["requests"], "ok": data.get("ok"), "non_2xx": data.get("non_2xx"),
                   "errors": r["errors"], "error_detail": r["error_detail"], "duplicate_answers": data.get("duplicate"),
                   "filler_requests": data.get("filler"), "p50_ms": r["p50_ms"], "p90_ms": r["p90_ms"],
                   "p99_ms": r["p99_ms"], "max_ms": r["max_ms"], "seconds": round(ack_s, 2),
                   "deliveries_per_s": round(EVENTS / ack_s, 1)}
    part["processing"] = {"events_to_apply": handled, "seconds_from_first_delivery": round(process_s, 2),
                          "events_per_s": round(handled / process_s, 1) if process_s > 0 else None,
                          "after_last_ack_s": round(drained_at - acked_at, 2)}
    part["inbox_states"] = states
    part["inbox_rows_of_this_run"] = len(ours)
    part["attempts_above_one"] = sum(1 for e in ours if (e.get("attempts") or 0) > 1)
    log(f"  acknowledged {r['requests']:,} in {ack_s:.1f} s: p50 {r['p50_ms']:.2f} ms p99 {r['p99_ms']:.2f} ms; "
        f"{data.get('duplicate')} duplicate answers; inbox drained after {process_s:.1f} s "
        f"({part['processing']['events_per_s']} events/s); states {states}")

    log("  checking the records against Stripe's state")
    stripe_after = stripe_state(stripe, bought)
    after = compare(s, bought, stripe_after)
    checks = {
        "every delivery sent once and answered 2xx": data.get("ok") == EVENTS and data.get("sent") == EVENTS
        and not data.get("filler") and not r["errors"],
        "duplicates acknowledged as duplicates": data.get("duplicate") == len(dups),
        "one inbox row per distinct event": len(ours) == distinct,
        "every event applied": all(e["state"] == "applied" for e in ours),
        "records equal Stripe's state": after["differences"] == 0,
        "learner enrolled in exactly the unrefunded purchases": after["enrolled"] == after["expected_enrolled"],
    }
    part["check"] = dict(after, checks=checks, ok=all(checks.values()),
                         compared_with="Stripe's own state (the front's API: PaymentIntent, charge, refunds), which "
                                       "is what applying the distinct events in order gives: each application "
                                       "writes Stripe's current state (crates/billing/src/sync.rs)")
    part["load_after"] = loadavg()
    save()
    if len(ours) != distinct:
        stored_ids = {e["event_id"] for e in ours}
        part["check"]["events_not_stored"] = [e["id"] for e in events if e["id"] not in stored_ids][:20]
        save()
    failed = [name for name, ok in checks.items() if not ok]
    if failed:
        raise RuntimeError(f"webhook replay check failed: {failed}; {after['examples'][:3]}")
    log(f"  check passed: {after['payments_compared']} payments, {after['enrolled']} enrollments equal Stripe's state")


# --- 2. history and export -------------------------------------------------------------------------


def uuid7(ms: int, rng: random.Random) -> uuid.UUID:
    rand = rng.getrandbits(74)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | (rand >> 62) << 64 | 0b10 << 62 | (rand & ((1 << 62) - 1))
    return uuid.UUID(int=value)


def data_sealer(tenant: str) -> Sealer:
    table = psql("select table_schema || '.' || table_name from information_schema.tables "
                 "where table_name = 'tenant_keys' order by table_schema limit 1", db=KEYS_DB)
    row = psql(f"select version, encode(wrapped_key, 'hex') from {table} where tenant_id = '{tenant}' "
               "and purpose = 'data' order by (state = 'active') desc, version desc limit 1", db=KEYS_DB)
    version, wrapped = row.split("|")
    tid = uuid.UUID(tenant)
    return Sealer(tid, int(version), unwrap_data_key(KEK, tid, int(version), bytes.fromhex(wrapped)))


def rss_kb(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def seed_history(s: dict, schema: str) -> dict:
    have = int(psql(f"select count(*) from {schema}.billing_payments"))
    want = max(HISTORY_ROWS - have, 0)
    shape: dict = {"rows_before": have, "seeded": want}
    self_test()
    sealer = data_sealer(s["tenant_id"])
    real = psql(f"select id, encode(card_sealed, 'hex'), description, stripe_payment_intent, stripe_charge "
                f"from {schema}.billing_payments where card_sealed is not null limit 1")
    if not real:
        raise RuntimeError("no purchase with a sealed card to copy the shape of")
    rid, sealed_hex, _description, intent, charge = real.split("|")
    plain = sealer.open("billing_payments", "card", uuid.UUID(rid), bytes.fromhex(sealed_hex))
    card = json.loads(plain)
    shape.update({"card_sealed_bytes_real": len(sealed_hex) // 2, "card_plaintext_fields": sorted(card),
                  "intent_id_len": len(intent), "charge_id_len": len(charge or "")})
    log(f"  a real row's card opens with the key-store key ({len(sealed_hex) // 2} B sealed, fields {sorted(card)})")
    rng = random.Random(SEED + 1)
    alnum = string.ascii_letters + string.digits
    courses = s["courses"]
    now_ms = int(time.time() * 1000)
    year_ms = 365 * 86400 * 1000
    statuses = ["succeeded"] * 16 + ["partially_refunded"] * 2 + ["refunded", "requires_payment"]
    brands = [("visa", "4242"), ("mastercard", "4444"), ("amex", "8431"), ("visa", "1881")]
    started = time.perf_counter()
    lines = []
    sealed_len = 0
    for i in range(want):
        ms = now_ms - year_ms + (i * year_ms) // max(want, 1)
        pid = uuid7(ms, rng)
        created = datetime.fromtimestamp(ms / 1000, timezone.utc).isoformat()
        course_id, title = courses[rng.randrange(len(courses))]
        status = statuses[rng.randrange(len(statuses))]
        currency = "eur" if rng.random() < 0.9 else "gbp"
        refunded = {"partially_refunded": 1500, "refunded": PRICE}.get(status, 0)
        paid = status != "requires_payment"
        brand, last4 = brands[rng.randrange(len(brands))]
        card_json = json.dumps({"brand": brand, "last4": last4, "exp_month": rng.randint(1, 12),
                                "exp_year": rng.randint(2027, 2032)}, separators=(",", ":")).encode()
        sealed = sealer.seal("billing_payments", "card", pid, card_json) if paid else None
        sealed_len += len(sealed or b"")
        pi = "pi_" + "".join(rng.choices(alnum, k=len(intent) - 3))
        ch = ("ch_" + "".join(rng.choices(alnum, k=max(len(charge or "") - 3, 24)))) if paid else ""
        enrollment = str(uuid.UUID(int=rng.getrandbits(128), version=4)) if status == "succeeded" else ""
        lines.append(",".join([
            str(pid), s["buyer"], course_id, f'"{title}"', str(PRICE), currency, status, str(refunded), pi, ch,
            ("\\x" + sealed.hex()) if sealed else "", enrollment, created if status == "succeeded" else "", "",
            created, created]))
    shape["card_sealed_bytes_seeded_avg"] = round(sealed_len / max(1, sum(1 for _ in lines)), 1)
    cols = ("id, person_id, course_id, description, amount, currency, status, amount_refunded, stripe_payment_intent, "
            "stripe_charge, card_sealed, enrollment_id, fulfilled_at, pseudonymised_at, created_at, updated_at")
    psql(f"copy {schema}.billing_payments ({cols}) from stdin with (format csv)", stdin="\n".join(lines) + "\n",
         timeout=1800)
    psql(f"analyze {schema}.billing_payments")
    shape["seed_s"] = round(time.perf_counter() - started, 1)
    shape["rows"] = int(psql(f"select count(*) from {schema}.billing_payments"))
    command(f"psql -d {DB} -c 'copy <tenant schema>.billing_payments (...) from stdin with (format csv)'   "
            "# the seeded rows, cards sealed by bench/sealing.py")
    log(f"  seeded {want:,} rows in {shape['seed_s']} s: the table holds {shape['rows']:,}")
    return shape


def wrk_paths(label: str, token: str, paths: list[str]) -> dict:
    file = RUN / f"billing-{label}.paths"
    file.write_text("\n".join(paths) + "\n", encoding="utf-8")
    cmd = ["wrk", "-t", str(min(THREADS, CONNECTIONS)), "-c", str(CONNECTIONS), "-d", f"{DURATION}s", "--latency",
           "--timeout", "30s", "-s", str(ROOT / "bench/wrk/get_paths.lua"), HUB_URL]
    extra = {"BENCH_PATHS_FILE": str(file), "BENCH_GET_TOKEN": token, "BENCH_GET_LABEL": label,
             "BENCH_SEED": str(SEED)}
    command(f"BENCH_PATHS_FILE=<{len(paths)} pages of {label}> BENCH_GET_TOKEN=<finance session> "
            f"BENCH_GET_LABEL={label} " + " ".join(cmd))
    runs = []
    for i in range(1, RUNS + 1):
        proc = spawn(cmd, dict(extra, BENCH_SEED=str(SEED + i)), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                     text=True)
        out = reap(proc, timeout=DURATION + 90)
        (RAW / f"billing-{label}-r{i}.txt").write_text(out, encoding="utf-8")
        r = parse_wrk(out)
        log(f"  {label} r{i}: {r['rps']:.0f} req/s p50 {r['p50_ms']:.2f} ms p99 {r['p99_ms']:.2f} ms"
            + (f", {r['non_2xx']} non-2xx" if r["non_2xx"] else ""))
        runs.append(r)
    return dict(summarise_runs([r for r in runs if r["requests"]]), non_2xx=sum(r["non_2xx"] or 0 for r in runs),
                runs_p99_ms=[r["p99_ms"] for r in runs], pages=len(paths))


def cursors(token: str, query: str, limit: int) -> tuple[list[str], int]:
    """Every page's path of a walk through the list (first page included) and the rows seen."""
    paths, cursor, c, seen = [], None, client(), 0
    while True:
        path = f"/v1/billing/payments?{query}{'&' if query else ''}limit={limit}" + (
            f"&cursor={urllib.parse.quote(cursor)}" if cursor else "")
        paths.append(path)
        body = c.call("GET", path, token).expect(200, what="GET /v1/billing/payments").json
        seen += len(body["items"])
        cursor = body.get("next_cursor")
        if not cursor:
            return paths, seen


def export_once(token: str, query: str) -> dict:
    samples: list[int] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            v = rss_kb(HUB_PID)
            if v is not None:
                samples.append(v)
            time.sleep(SAMPLE_S)

    base = rss_kb(HUB_PID)
    t = threading.Thread(target=sample, daemon=True)
    conn = http.client.HTTPConnection(_url.hostname, _url.port, timeout=600)
    t.start()
    started = time.perf_counter()
    conn.request("GET", f"/v1/billing/payments/export{'?' + query if query else ''}",
                 headers={"Authorization": f"Bearer {token}", "Accept": "text/csv"})
    resp = conn.getresponse()
    first = None
    size = 0
    newlines = 0
    ids: set[bytes] = set()
    tail = b""
    while True:
        chunk = resp.read1(1 << 16)
        if not chunk:
            break
        if first is None:
            first = time.perf_counter() - started
        size += len(chunk)
        newlines += chunk.count(b"\n")
        data = tail + chunk
        parts = data.split(b"\n")
        tail = parts.pop()
        for line in parts:
            ids.add(line.split(b",", 1)[0])
    total = time.perf_counter() - started
    stop.set()
    t.join()
    conn.close()
    if tail:
        ids.add(tail.split(b",", 1)[0])
        newlines += 1
    ids.discard(b"payment_id")
    peak = max(samples) if samples else None
    return {"status": resp.status, "seconds": round(total, 3), "ttfb_s": round(first or 0, 3), "bytes": size,
            "rows": newlines - 1, "distinct_ids": len(ids), "rss_before_mib": round((base or 0) / 1024, 1),
            "rss_peak_mib": round((peak or 0) / 1024, 1),
            "rss_growth_mib": round(((peak or 0) - (base or 0)) / 1024, 1), "samples": len(samples),
            "rows_per_s": round((newlines - 1) / total) if total > 0 else None}


def history(s: dict, schema: str) -> None:
    part: dict = {"target_rows": HISTORY_ROWS, "connections": CONNECTIONS, "runs": RUNS, "duration_s": DURATION}
    billing["history"] = part
    log(f"history: {HISTORY_ROWS:,} payments in the institution")
    part["seed"] = seed_history(s, schema)
    save()
    token = s["finance"]
    total = part["seed"]["rows"]
    filtered = int(psql(f"select count(*) from {schema}.billing_payments where status = 'succeeded' and currency = 'eur'"))
    lists = {}
    for label, query in (("list", ""), ("list_succeeded_eur", "status=succeeded&currency=eur")):
        paths, seen = cursors(token, query, 200)
        want = total if not query else filtered
        if seen != want:
            raise RuntimeError(f"walking {label} saw {seen} payments, the table holds {want}")
        # The pages a client reads: 50 a page (the default), from every cursor of the walk.
        lists[label] = [p.replace("limit=200", "limit=50") for p in paths]
        part[f"{label}_walk"] = {"pages_of_200": len(paths), "rows": seen}
    part["load_before"] = loadavg()
    for label, paths in lists.items():
        log(f"  wrk {label}: {len(paths)} pages of 50, {RUNS} x {DURATION} s at {CONNECTIONS} connections")
        part[label] = wrk_paths(label, token, paths)
        save()
    runs = []
    for i in range(1, RUNS + 1):
        e = export_once(token, "")
        log(f"  export r{i}: {e['rows']:,} rows, {e['bytes']:,} B in {e['seconds']:.2f} s (first byte "
            f"{e['ttfb_s']:.3f} s); RSS {e['rss_before_mib']} → peak {e['rss_peak_mib']} MiB (+{e['rss_growth_mib']})")
        if e["status"] != 200 or e["rows"] != total or e["distinct_ids"] != total:
            raise RuntimeError(f"export r{i}: HTTP {e['status']}, {e['rows']} rows ({e['distinct_ids']} distinct ids), "
                               f"the table holds {total}")
        runs.append(e)
    command("GET /v1/billing/payments/export (finance session), read as a stream; RSS of the gateway from "
            "/proc/<pid>/status every 10 ms")
    part["export"] = {"runs": runs, "seconds": median([r["seconds"] for r in runs]),
                      "ttfb_s": median([r["ttfb_s"] for r in runs]), "bytes": runs[0]["bytes"], "rows": runs[0]["rows"],
                      "rows_checked": total, "rss_growth_mib_max": max(r["rss_growth_mib"] for r in runs),
                      "rss_growth_mib_median": median([r["rss_growth_mib"] for r in runs])}
    part["load_after"] = loadavg()
    save()


# --- main -----------------------------------------------------------------------------------------


def on_signal(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main() -> int:
    for d in (OUT, RAW, RUN):
        d.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, on_signal)
    started = time.time()
    try:
        from bench import machine  # the scale part's description of the machine (same keys)
        mach = machine()
    except (Exception, SystemExit) as error:  # noqa: BLE001 - the figures matter more than the description
        mach = {"load_average_at_start": os.getloadavg()[0], "cores": os.cpu_count(), "error": str(error)}
    mach["bench_nice"] = env("BENCH_NICE", "") or None
    mach["nproc"] = int(subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip() or 0)
    try:
        mach["localstripe"] = subprocess.run([str(ROOT / ".venv/bin/pip"), "show", "localstripe"], capture_output=True,
                                             text=True).stdout.split("Version: ", 1)[1].split()[0]
    except (OSError, IndexError):
        mach["localstripe"] = None
    billing.clear()
    billing.update({
        "status": "running", "quick": QUICK, "profile": env("BENCH_PROFILE", "release"),
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": mach, "load_before": loadavg(),
        "config": {"duration_s": DURATION, "runs": RUNS, "connections": CONNECTIONS, "events": EVENTS,
                   "duplicate_share": DUPLICATE_SHARE, "payments": PAYMENTS, "history_rows": HISTORY_ROWS,
                   "seed": SEED, "billing_poll_ms": env("HUB_BILLING_POLL_MS", "default")},
        "targets_from_issue": {"webhook_ack_p99_ms": TARGET_ACK_P99_MS},
    })
    for line in env("BENCH_SETUP_COMMANDS", "").splitlines():  # how run.sh set up the gateway and Stripe
        if line.strip():
            command(line)
    log(f"load average at start {billing['load_before']}")
    save()
    code = 0
    try:
        slug = f"billing-{int(time.time())}"
        log(f"provisioning {slug}: Stripe account connected, {PAYMENTS} priced courses, a learner and finance")
        s = shop(slug)
        billing["tenant"] = slug
        webhooks(s)
        history(s, tenant_schema(slug))
        billing["status"] = "complete"
    except KeyboardInterrupt as why:
        billing["status"] = f"aborted: {why}"
        code = 130
    except Exception as error:  # noqa: BLE001 - recorded in the results, then fail
        billing["status"] = f"failed: {type(error).__name__}: {error}"
        log(f"FAILED: {error}")
        code = 1
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for proc in list(children):
            reap(proc, signal.SIGTERM, timeout=15)
        billing["load_after"] = loadavg()
        billing["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        billing["elapsed_s"] = round(time.time() - started, 1)
        save()
    return code


if __name__ == "__main__":
    sys.exit(main())
