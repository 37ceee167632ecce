"""The project's own front of a local Stripe API for the tests (stdlib only).

One base URL for the Stripe client. It serves what localstripe (the stateful emulator behind
it) lacks, the way Stripe does it, and forwards every other request to localstripe unchanged:

* Idempotency-Key replay on POST: same key and same parameters answer the first answer
  again (`Idempotent-Replayed: true`); the same key with other parameters or on another
  endpoint is a 400 `idempotency_error`; a key still in flight is a 409. Keys are scoped by
  API key and `Stripe-Account`, as Stripe scopes them.
* `Stripe-Account` (Connect): recorded per request; an object created under an account
  belongs to it, and another account (or the platform) reading it gets Stripe's 404
  `resource_missing`, and lists show each account its own objects only.
* Prices (`POST /v1/prices`, `GET /v1/prices/{id}`): localstripe has the older Plans API
  only, so a recurring price is made and read as a localstripe plan of the same id and
  shown as Stripe's Price object; subscription items are sent with `price` (as Stripe's
  API now takes them), passed to localstripe as `plan`, and answered with their `price`;
  an update's `proration_behavior` is passed as localstripe's older `prorate`.
* Disputes (`GET /v1/disputes[/{id}]`, `POST /v1/disputes/{id}[/close]`) and Checkout
  Sessions (`POST/GET /v1/checkout/sessions[/{id}]`, `.../expire`), built on Stripe's own
  example objects (tests/stripe/fixtures/stripe-objects.json).
* Objects as Stripe sends them: localstripe omits fields Stripe always sends (a typed client
  such as async-stripe then cannot read a PaymentIntent, a charge or an event), so every
  forwarded answer and webhook gets them (REQUIRED below; null for the rest); a decline is a
  402 `card_error` as at Stripe.
* Webhooks: `POST /_fake/webhooks` (JSON `url`, `secret`, `events`) registers a relay at
  localstripe; each event localstripe delivers is completed, given `account` when its object
  is a connected account's, and delivered to `url` signed with `secret` at sending time.
* Test-only control endpoints under `/_fake/`: `POST /_fake/disputes` (a JSON body deep-merged
  onto the example dispute), `POST /_fake/checkout/sessions/{id}/complete` (pays the session
  with a real PaymentIntent in localstripe), `GET /_fake/requests` (every Stripe request
  received, in order), `GET /_fake/accounts` (object id -> Connect account) and
  `POST /_fake/reset` (clears the request log).

Usage: stripe_front.py UPSTREAM_URL FIXTURES_JSON. It listens on a free loopback port,
prints `READY http://127.0.0.1:PORT` and exits when its stdin closes (so it dies with the
test process that started it).
"""

import base64
import copy
import hashlib
import hmac
import http.client
import json
import os
import random
import re
import sys
import threading
import time
import traceback
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

UPSTREAM = urllib.parse.urlsplit(sys.argv[1])
with open(sys.argv[2], encoding="utf-8") as f:
    EXAMPLES = json.load(f)["resources"]

# Headers that describe one hop, not the request: never forwarded either way.
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "proxy-connection",
    "host",
    "content-length",
}

lock = threading.Lock()
state = {}
# Ids are random like Stripe's, but seeded so that a run is reproducible.
rng = random.Random(int(os.environ.get("STRIPE_FRONT_SEED", "20261204")))


def init():
    with lock:
        state.clear()
        state.update(
            requests=[],
            idempotency={},  # (api_key, account, key) -> entry
            owners={},  # object id -> Stripe-Account that created it
            disputes={},  # id -> dispute (insertion order = creation order)
            sessions={},  # id -> checkout.session
            webhooks=[],  # relay number -> {"url", "secret"} of the endpoint under test
            aside={},  # object id -> parameters localstripe refuses, as Stripe keeps them
        )


init()


def fresh_id(prefix, length=24):
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    with lock:
        return prefix + "".join(rng.choice(alphabet) for _ in range(length))


def error(status, type_, message, code=None, param=None):
    return status, {"error": {"type": type_, "code": code, "message": message, "param": param}}


def flat(pairs):
    """Form or query pairs as a JSON object: key -> value, a list when a key repeats."""
    out = {}
    for k, v in pairs:
        if k in out:
            out[k] = out[k] if isinstance(out[k], list) else [out[k]]
            out[k].append(v)
        else:
            out[k] = v
    return out


def nested(pairs):
    """Stripe's bracket keys (`line_items[0][price_data][currency]`) as nested JSON."""
    root = {}
    for key, value in pairs:
        path = [key.split("[", 1)[0]] + re.findall(r"\[([^\]]*)\]", key)
        node = root
        for i, part in enumerate(path):
            last = i == len(path) - 1
            if part == "" and not last:
                part = str(len(node))
            if last:
                if part == "":
                    node.setdefault("__list__", []).append(value)
                else:
                    node[part] = value
            else:
                node = node.setdefault(part, {})

    def listify(node):
        if not isinstance(node, dict):
            return node
        if set(node) == {"__list__"}:
            return node["__list__"]
        node = {k: listify(v) for k, v in node.items()}
        if node and all(k.isdigit() for k in node):
            return [node[k] for k in sorted(node, key=int)]
        return node

    return listify(root)


def deep_merge(base, extra):
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            deep_merge(base[k], v)
        else:
            base[k] = v
    return base


def api_key(headers):
    """The secret key from `Authorization` (Bearer, or Basic with the key as user)."""
    auth = headers.get("Authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme == "Bearer":
        key = value
    elif scheme == "Basic":
        try:
            key = base64.b64decode(value).decode().split(":")[0]
        except ValueError:
            return None
    else:
        return None
    return key if key.startswith("sk_") and len(key) > 5 else None


def visible(obj, account):
    """Whether an object (a dict with an id) is the given account's (None: the platform's)."""
    return state["owners"].get(obj.get("id")) == account


def page(items, query, url):
    """A Stripe list of `items` (newest first) filtered by created[...] and paged."""
    created = {k[8:-1]: int(v) for k, v in query.items() if k.startswith("created[")}
    tests = {
        "gt": lambda c, x: c > x,
        "gte": lambda c, x: c >= x,
        "lt": lambda c, x: c < x,
        "lte": lambda c, x: c <= x,
    }
    if "created" in query:
        items = [o for o in items if o["created"] == int(query["created"])]
    for op, x in created.items():
        if op not in tests:
            return error(400, "invalid_request_error", f"Invalid created[{op}]", param="created")
        items = [o for o in items if tests[op](o["created"], x)]
    for field in ("charge", "payment_intent", "customer"):
        if field in query:
            items = [o for o in items if o.get(field) == query[field]]
    try:
        limit = int(query.get("limit", "10"))
    except ValueError:
        limit = 0
    if not 1 <= limit <= 100:
        return error(
            400,
            "invalid_request_error",
            "Invalid integer: limit must be between 1 and 100",
            param="limit",
        )
    ids = [o["id"] for o in items]
    if "starting_after" in query:
        if query["starting_after"] not in ids:
            return error(
                400,
                "invalid_request_error",
                f"No such object: '{query['starting_after']}'",
                code="resource_missing",
                param="starting_after",
            )
        items = items[ids.index(query["starting_after"]) + 1 :]
    elif "ending_before" in query:
        if query["ending_before"] not in ids:
            return error(
                400,
                "invalid_request_error",
                f"No such object: '{query['ending_before']}'",
                code="resource_missing",
                param="ending_before",
            )
        items = items[: ids.index(query["ending_before"])][-limit:]
    return 200, {
        "object": "list",
        "data": items[:limit],
        "has_more": len(items) > limit,
        "url": url,
    }


def missing(kind, object_id):
    return error(
        404,
        "invalid_request_error",
        f"No such {kind}: '{object_id}'",
        code="resource_missing",
        param="id",
    )


# --- disputes -------------------------------------------------------------------------------


def new_dispute(body, account):
    dispute = deep_merge(copy.deepcopy(EXAMPLES["dispute"]), body)
    if not body.get("id"):
        dispute["id"] = fresh_id("dp_")
    if "created" not in body:
        dispute["created"] = int(time.time())
    with lock:
        state["disputes"][dispute["id"]] = dispute
        state["owners"][dispute["id"]] = account
    return 200, dispute


def disputes(method, parts, query, form, account):
    if method == "GET" and len(parts) == 2:
        with lock:
            # Newest first; the same second keeps the later-created one first.
            items = [d for d in reversed(state["disputes"].values()) if visible(d, account)]
        items.sort(key=lambda d: d["created"], reverse=True)
        return page(items, query, "/v1/disputes")
    dispute_id = parts[2] if len(parts) > 2 else None
    with lock:
        dispute = state["disputes"].get(dispute_id)
        if dispute is not None and not visible(dispute, account):
            dispute = None
    if dispute is None:
        return missing("dispute", dispute_id)
    if method == "GET" and len(parts) == 3:
        return 200, dispute
    if method == "POST" and len(parts) == 3:
        data = nested(form)
        with lock:
            for field in ("metadata", "evidence"):
                if isinstance(data.get(field), dict):
                    dispute[field].update(data[field])
            if "evidence" in data:
                dispute["evidence_details"]["has_evidence"] = True
                if data.get("submit") == "true":
                    dispute["evidence_details"]["submission_count"] += 1
                    dispute["status"] = "under_review"
        return 200, dispute
    if method == "POST" and parts[3:] == ["close"]:
        with lock:
            dispute["status"] = "lost"
            dispute["is_charge_refundable"] = False
        return 200, dispute
    return error(404, "invalid_request_error", f"Unrecognized request URL ({method}).")


# --- checkout sessions ----------------------------------------------------------------------


def create_session(form, account):
    data = nested(form)
    mode = data.get("mode")
    if mode not in ("payment", "setup", "subscription"):
        return error(
            400,
            "invalid_request_error",
            "Missing required param: mode." if mode is None else f"Invalid mode: {mode}",
            code="parameter_missing" if mode is None else "parameter_invalid_string",
            param="mode",
        )
    session = copy.deepcopy(EXAMPLES["checkout.session"])
    total = 0
    currency = data.get("currency")
    for i, item in enumerate(data.get("line_items") or []):
        price = item.get("price_data") if isinstance(item, dict) else None
        if not isinstance(price, dict) or "unit_amount" not in price:
            # Price objects do not exist here (neither in localstripe): say so plainly.
            return error(
                400,
                "invalid_request_error",
                "This fake serves line items with price_data[unit_amount] only.",
                code="parameter_missing",
                param=f"line_items[{i}][price_data]",
            )
        try:
            total += int(price["unit_amount"]) * int(item.get("quantity", "1"))
        except ValueError:
            return error(
                400,
                "invalid_request_error",
                "Invalid integer",
                code="parameter_invalid_integer",
                param=f"line_items[{i}][price_data][unit_amount]",
            )
        currency = currency or price.get("currency")
    session_id = fresh_id("cs_test_", 58)
    now = int(time.time())
    session.update(
        id=session_id,
        url=f"https://checkout.stripe.com/c/pay/{session_id}",
        created=now,
        expires_at=now + 24 * 3600,
        mode=mode,
        status="open",
        payment_status="unpaid",
        currency=currency.lower() if currency else None,
        amount_subtotal=total if mode == "payment" else None,
        amount_total=total if mode == "payment" else None,
        metadata=data.get("metadata") or {},
        customer=data.get("customer"),
        customer_email=data.get("customer_email"),
        client_reference_id=data.get("client_reference_id"),
        success_url=data.get("success_url"),
        cancel_url=data.get("cancel_url"),
        # Since API version 2022-08-01 the PaymentIntent exists only once the buyer pays.
        payment_intent=None,
        shipping_cost=None,
        total_details={"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        currency_conversion=None,
        livemode=False,
    )
    if data.get("customer_email") and session.get("customer_details"):
        session["customer_details"]["email"] = data["customer_email"]
    session["_payment_intent_data"] = data.get("payment_intent_data") or {}
    with lock:
        state["sessions"][session_id] = session
        state["owners"][session_id] = account
    return 200, public(session)


def public(session):
    return {k: v for k, v in session.items() if not k.startswith("_")}


def sessions(method, parts, query, form, account):
    if method == "POST" and len(parts) == 3:
        return create_session(form, account)
    if method == "GET" and len(parts) == 3:
        with lock:
            items = [public(s) for s in reversed(state["sessions"].values()) if visible(s, account)]
        items.sort(key=lambda s: s["created"], reverse=True)
        return page(items, query, "/v1/checkout/sessions")
    session_id = parts[3]
    with lock:
        session = state["sessions"].get(session_id)
        if session is not None and not visible(session, account):
            session = None
    if session is None:
        return missing("checkout.session", session_id)
    if method == "GET" and len(parts) == 4:
        return 200, public(session)
    if method == "POST" and parts[4:] == ["expire"]:
        if session["status"] != "open":
            return error(
                400,
                "invalid_request_error",
                f'Only Checkout Sessions with a status in ["open"] can be expired. '
                f'This Checkout Session has a status of "{session["status"]}".',
            )
        with lock:
            session["status"] = "expired"
        return 200, public(session)
    return error(404, "invalid_request_error", f"Unrecognized request URL ({method}).")


def complete_session(session_id, headers):
    """The buyer pays: a real PaymentIntent in localstripe (so its webhooks follow)."""
    with lock:
        session = state["sessions"].get(session_id)
    if session is None:
        return missing("checkout.session", session_id)
    if session["status"] != "open" or session["mode"] != "payment":
        return error(400, "invalid_request_error", "Only an open payment session can be paid.")
    intent = session["_payment_intent_data"]
    form = [
        ("amount", str(session["amount_total"])),
        ("currency", session["currency"] or "usd"),
        ("payment_method", "pm_card_visa"),
        ("confirm", "true"),
    ]
    if session["customer"]:
        form.append(("customer", session["customer"]))
    for k, v in (intent.get("metadata") or session["metadata"] or {}).items():
        form.append((f"metadata[{k}]", v))
    auth = headers.get("Authorization") or "Bearer sk_test_stripe_front"
    status, _, body = upstream(
        "POST",
        "/v1/payment_intents",
        urllib.parse.urlencode(form).encode(),
        {"Authorization": auth, "Content-Type": "application/x-www-form-urlencoded"},
    )
    if status != 200:
        return status, json.loads(body)
    payment_intent = json.loads(body)
    with lock:
        session.update(
            status="complete", payment_status="paid", payment_intent=payment_intent["id"]
        )
        state["owners"][payment_intent["id"]] = state["owners"].get(session_id)
    return 200, public(session)


# --- webhooks -------------------------------------------------------------------------------

# localstripe delivers each event to the front (signed with this secret, which nobody
# checks), and the front delivers it on, completed like every answer and signed again with
# the endpoint's own secret: so the code under test receives the objects it reads elsewhere.
RELAY_SECRET = "whsec_stripe_front_relay"
FRONT = {}


def register_webhook(raw):
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        body = None
    if (
        not isinstance(body, dict)
        or not str(body.get("url", "")).startswith("http")
        or not str(body.get("secret", ""))
    ):
        return error(400, "invalid_request_error", "url (http...) and secret are required")
    with lock:
        endpoints = state.setdefault("webhooks", [])
        number = len(endpoints)
        endpoints.append({"url": body["url"], "secret": body["secret"]})
    form = [("url", f"{FRONT['base']}/_fake/relay/{number}"), ("secret", RELAY_SECRET)]
    form += [("events[]", e) for e in body.get("events") or []]
    status, _, answer = upstream(
        "POST",
        f"/_config/webhooks/relay_{number}",
        urllib.parse.urlencode(form).encode(),
        {"Content-Type": "application/x-www-form-urlencoded"},
    )
    if status != 200:
        return status, {"error": {"type": "api_error", "message": answer.decode()}}
    return 200, {"id": f"we_relay_{number}", "url": body["url"]}


def relay(number, raw):
    with lock:
        endpoint = (state.get("webhooks") or [None] * (number + 1))[number]
    if endpoint is None:
        return error(404, "invalid_request_error", "no such webhook endpoint")
    event = put_back(complete(json.loads(raw)))
    obj = (event.get("data") or {}).get("object") or {}
    with lock:
        # Connect: an event about a connected account's object names the account.
        event["account"] = state["owners"].get(obj.get("id"))
    if event["account"] is None:
        del event["account"]
    payload = json.dumps(event, indent=2, sort_keys=True).encode()
    timestamp = int(time.time())
    signature = hmac.new(
        endpoint["secret"].encode(), b"%d.%s" % (timestamp, payload), hashlib.sha256
    ).hexdigest()
    target = urllib.parse.urlsplit(endpoint["url"])
    conn = http.client.HTTPConnection(target.hostname, target.port or 80, timeout=30)
    try:
        conn.request(
            "POST",
            target.path + (f"?{target.query}" if target.query else ""),
            body=payload,
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "Stripe-Signature": f"t={timestamp},v1={signature}",
            },
        )
        status = conn.getresponse().status
    except OSError as e:
        return 502, {"delivered": False, "error": str(e)}
    finally:
        conn.close()
    return 200, {"delivered": True, "status": status}


# --- parameters localstripe refuses -----------------------------------------------------------

# Parameters Stripe accepts on a resource that localstripe answers 400 "Unexpected …" to:
# the front takes them out of the form before forwarding, keeps them per object and puts
# them back on the object in every answer and webhook, as Stripe would.
ASIDE = {"payment_intents": ("description",)}


def set_aside(path, raw):
    """The form without the parameters localstripe refuses on this path, and those."""
    parts = path.strip("/").split("/")
    names = ASIDE.get(parts[1]) if len(parts) >= 2 and parts[0] == "v1" else None
    if not names or len(parts) > 3:
        return raw, {}
    pairs = urllib.parse.parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)
    kept = {k: v for k, v in pairs if k in names}
    rest = [(k, v) for k, v in pairs if k not in names]
    return urllib.parse.urlencode(rest).encode(), kept


# List filters Stripe has that localstripe refuses on a path: the front takes them out of
# the query and applies them to the answer's `data` itself.
CREATED_FILTERS = {"/v1/balance_transactions"}
CREATED_OPS = {
    "created[gte]": lambda c, v: c >= v,
    "created[gt]": lambda c, v: c > v,
    "created[lte]": lambda c, v: c <= v,
    "created[lt]": lambda c, v: c < v,
}


def take_created_filters(path, query):
    """The query without `created[…]` where localstripe refuses it, and those filters."""
    if path not in CREATED_FILTERS:
        return query, []
    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
    taken = [(k, int(v)) for k, v in pairs if k in CREATED_OPS and v.lstrip("-").isdigit()]
    rest = [(k, v) for k, v in pairs if k not in CREATED_OPS]
    return urllib.parse.urlencode(rest), taken


def apply_created_filters(body, taken):
    if not taken:
        return body
    try:
        data = json.loads(body)
    except ValueError:
        return body
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        data["data"] = [
            o
            for o in data["data"]
            if isinstance(o, dict)
            and all(CREATED_OPS[k](o.get("created", 0), v) for k, v in taken)
        ]
    return (json.dumps(data, indent=2) + "\n").encode()


def put_back(value):
    """Every object (at any depth) given the parameters the front kept for its id."""
    if isinstance(value, list):
        return [put_back(v) for v in value]
    if not isinstance(value, dict):
        return value
    value = {k: put_back(v) for k, v in value.items()}
    with lock:
        kept = state["aside"].get(value.get("id"))
    if kept:
        value.update(kept)
    return value


# --- prices (localstripe has plans) ------------------------------------------------------------


def price_of(plan):
    """A localstripe plan as Stripe's Price API shows a recurring price."""
    return {
        "id": plan.get("id"),
        "object": "price",
        "active": plan.get("active", True),
        "billing_scheme": plan.get("billing_scheme") or "per_unit",
        "created": plan.get("created"),
        "currency": plan.get("currency"),
        "livemode": False,
        "lookup_key": None,
        "metadata": plan.get("metadata") or {},
        "nickname": plan.get("nickname"),
        "product": plan.get("product"),
        "recurring": {
            "interval": plan.get("interval"),
            "interval_count": plan.get("interval_count") or 1,
            "usage_type": plan.get("usage_type") or "licensed",
            "meter": None,
            "trial_period_days": plan.get("trial_period_days"),
        },
        "tax_behavior": "unspecified",
        "tiers_mode": plan.get("tiers_mode"),
        "transform_quantity": None,
        "type": "recurring",
        "unit_amount": plan.get("amount"),
        "unit_amount_decimal": str(plan.get("amount")),
    }


def prices(method, parts, form, headers):
    """`POST /v1/prices` (recurring prices only) and `GET /v1/prices/{id}`, on plans."""
    given = dict(form)
    if method == "POST" and len(parts) == 2:
        if "recurring[interval]" not in given:
            return error(400, "invalid_request_error", "only recurring prices are served here",
                         param="recurring")
        plan = [
            ("id", fresh_id("price_")),
            ("currency", given.get("currency", "")),
            ("amount", given.get("unit_amount", "")),
            ("interval", given["recurring[interval]"]),
            ("interval_count", given.get("recurring[interval_count]", "1")),
        ]
        if "product" in given:
            plan.append(("product", given["product"]))
        else:
            plan.append(("product[name]", given.get("product_data[name]", "")))
        if "nickname" in given:
            plan.append(("nickname", given["nickname"]))
        plan += [(k, v) for k, v in form if k.startswith("metadata[")]
        status, _, body = upstream(
            "POST", "/v1/plans", urllib.parse.urlencode(plan).encode(), headers
        )
    elif method == "GET" and len(parts) == 3:
        status, _, body = upstream("GET", f"/v1/plans/{parts[2]}", b"", headers)
    else:
        return error(404, "invalid_request_error", "Unrecognized request URL")
    try:
        data = json.loads(body)
    except ValueError:
        return error(502, "api_error", f"localstripe answered {status}: {body[:200]!r}")
    if status != 200:
        if status == 404:
            return missing("price", parts[2] if len(parts) > 2 else "")
        return status, data
    return 200, price_of(data)


def items_as_plans(path, raw):
    """A subscription's form as localstripe reads it: `items[i][price]` as `items[i][plan]`,
    and on an update `proration_behavior` as the older `prorate` (localstripe's update has
    only that one)."""
    if not path.startswith("/v1/subscriptions"):
        return raw
    updating = path.strip("/").count("/") == 2
    pairs = urllib.parse.parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)
    renamed = []
    for k, v in pairs:
        if updating and k == "proration_behavior":
            renamed.append(("prorate", "false" if v == "none" else "true"))
            continue
        renamed.append((re.sub(r"^(items\[\d+\])\[price\]$", r"\1[plan]", k), v))
    return urllib.parse.urlencode(renamed).encode()


def with_prices(value):
    """Every subscription item (at any depth) given its `price`, as Stripe answers now."""
    if isinstance(value, list):
        return [with_prices(v) for v in value]
    if not isinstance(value, dict):
        return value
    value = {k: with_prices(v) for k, v in value.items()}
    if value.get("object") == "subscription_item" and isinstance(value.get("plan"), dict):
        value["price"] = price_of(value["plan"])
    return value


# --- forwarding -----------------------------------------------------------------------------


def upstream(method, target, body, headers):
    conn = http.client.HTTPConnection(UPSTREAM.hostname, UPSTREAM.port, timeout=30)
    try:
        conn.request(method, target, body=body or None, headers=headers)
        response = conn.getresponse()
        payload = response.read()
        kept = [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP]
        return response.status, kept, payload
    finally:
        conn.close()


# Fields Stripe always sends (non-nullable in its API) that localstripe omits, with the value
# they have for the object localstripe describes. Any other field Stripe has and localstripe
# omits is sent as null, which is what Stripe sends for a feature not in use; Stripe's example
# values are never borrowed, as they would describe some other object.
REQUIRED = {
    "event": lambda o: {"pending_webhooks": 0},
    "payment_intent": lambda o: {
        "amount_capturable": 0,
        "amount_received": o.get("amount", 0) if o.get("status") == "succeeded" else 0,
        "confirmation_method": "automatic",
        "payment_method_types": ["card"],
    },
    "charge": lambda o: {
        "amount_captured": o.get("amount", 0) if o.get("captured") else 0,
        "billing_details": {
            "address": None,
            "email": None,
            "name": None,
            "phone": None,
            "tax_id": None,
        },
        "disputed": False,
    },
    "balance_transaction": lambda o: {
        "balance_type": "payments",
        "fee_details": [],
        "reporting_category": o.get("type") or "charge",
    },
    "invoice": lambda o: {
        "amount_overpaid": 0,
        "amount_shipping": 0,
        "automatic_tax": {
            "enabled": False,
            "liability": None,
            "status": None,
            "disabled_reason": None,
            "provider": None,
        },
        "default_tax_rates": [],
        "discounts": [],
        "issuer": {"type": "self"},
        "payment_settings": {
            "default_mandate": None,
            "payment_method_options": None,
            "payment_method_types": None,
        },
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "starting_balance": 0,
        "status_transitions": {
            "finalized_at": None,
            "marked_uncollectible_at": None,
            "paid_at": None,
            "voided_at": None,
        },
    },
}


def complete(value):
    """Gives every object localstripe describes (at any depth) the fields Stripe sends, so a
    typed Stripe client can read it: REQUIRED values, null for the rest."""
    if isinstance(value, list):
        return [complete(v) for v in value]
    if not isinstance(value, dict):
        return value
    value = {k: complete(v) for k, v in value.items()}
    kind = value.get("object")
    # (An event's `data` has a key "object" too, holding the object itself.)
    if isinstance(kind, str) and kind in EXAMPLES and kind != "dispute":
        required = REQUIRED.get(kind, lambda o: {})(value)
        for key in EXAMPLES[kind]:
            if key not in value:
                value[key] = required.get(key)
    return value


def card_error(body):
    """localstripe declines with type `invalid_request_error`; Stripe says `card_error` (and
    gives a decline_code), which is what clients branch on."""
    try:
        data = json.loads(body)
    except ValueError:
        return body
    err = data.get("error") if isinstance(data, dict) else None
    if not isinstance(err, dict) or err.get("type") != "invalid_request_error":
        return body
    err["type"] = "card_error"
    err.setdefault("decline_code", "generic_decline")
    err.setdefault("param", None)
    return (json.dumps(data, indent=2) + "\n").encode()


def completed(body):
    try:
        data = json.loads(body)
    except ValueError:
        return body
    return (json.dumps(complete(data), indent=2, sort_keys=True) + "\n").encode()


def collection_id(path):
    """`/v1/customers/cus_1/sources` -> 'cus_1' (the object a path is about), if any."""
    parts = path.strip("/").split("/")
    return parts[2] if len(parts) >= 3 and parts[0] == "v1" else None


class Front(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.guarded()

    def do_POST(self):
        self.guarded()

    def do_DELETE(self):
        self.guarded()

    def guarded(self):
        try:
            self.handle_any()
        except Exception as e:  # noqa: BLE001 (a bug here: a 500 in Stripe's shape, trace on stderr)
            traceback.print_exc()
            self.send(*error(500, "api_error", f"stripe_front: {e!r}"))

    def send(self, status, body, extra=()):
        payload = body if isinstance(body, bytes) else (json.dumps(body, indent=2) + "\n").encode()
        self.send_response(status)
        names = {k.lower() for k, _ in extra}
        if "content-type" not in names:
            self.send_header("Content-Type", "application/json")
        for k, v in extra:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def handle_any(self):
        url = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if url.path.startswith("/_fake/"):
            return self.control(url.path, raw)

        query_pairs = urllib.parse.parse_qsl(url.query, keep_blank_values=True)
        form = urllib.parse.parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)
        account = self.headers.get("Stripe-Account")
        key = self.headers.get("Idempotency-Key")
        with lock:
            state["requests"].append(
                {
                    "method": self.command,
                    "path": url.path,
                    "query": flat(query_pairs),
                    "headers": {
                        "Stripe-Account": account,
                        "Idempotency-Key": key,
                        "Stripe-Version": self.headers.get("Stripe-Version"),
                    },
                    "api_key": api_key(self.headers),
                    "form": flat(form),
                }
            )

        secret = api_key(self.headers)
        if secret is None and not url.path.startswith("/_config/"):
            # Stripe's answer to a missing or malformed key.
            return self.send(
                *error(
                    401,
                    "invalid_request_error",
                    "You did not provide an API key. You need to provide your API key in the "
                    "Authorization header, using Bearer auth.",
                )
            )

        if key is None or self.command != "POST":
            return self.answer(url, query_pairs, form, raw, account)

        scope = (secret, account, key)
        fingerprint = (self.command, url.path, sorted(form))
        with lock:
            entry = state["idempotency"].get(scope)
            if entry is None:
                entry = state["idempotency"][scope] = {"fingerprint": fingerprint, "done": None}
                first = True
            else:
                first = False
        if not first:
            if entry["fingerprint"][:2] != fingerprint[:2]:
                return self.send(
                    *error(
                        400,
                        "idempotency_error",
                        f"Keys for idempotent requests can only be used for the same endpoint "
                        f"they were first used for ({entry['fingerprint'][1]}). Try using a key "
                        f"other than '{key}' if you meant to execute a different request.",
                    ),
                    [("Idempotency-Key", key)],
                )
            if entry["fingerprint"] != fingerprint:
                return self.send(
                    *error(
                        400,
                        "idempotency_error",
                        "Keys for idempotent requests can only be used with the same parameters "
                        f"they were first used with. Try using a key other than '{key}' if you "
                        "meant to execute a different request.",
                    ),
                    [("Idempotency-Key", key)],
                )
            if entry["done"] is None:
                return self.send(
                    *error(
                        409,
                        "idempotency_error",
                        "There is currently another in-progress request using this Stripe "
                        "Idempotency-Key. Please try again later.",
                        code="idempotency_key_in_use",
                    ),
                    [("Idempotency-Key", key)],
                )
            status, headers, body = entry["done"]
            return self.send(
                status, body, headers + [("Idempotency-Key", key), ("Idempotent-Replayed", "true")]
            )

        try:
            status, headers, body = self.answer(url, query_pairs, form, raw, account, reply=False)
        except BaseException:
            with lock:
                del state["idempotency"][scope]  # nothing ran to the end: the key stays free
            raise
        with lock:
            # Stripe saves a result once the endpoint ran; a request refused before that
            # (invalid parameters, no key, rate limit) saves nothing and the key stays free.
            if status in (400, 401, 409, 429):
                del state["idempotency"][scope]
            else:
                entry["done"] = (status, headers, body)
        self.send(status, body, headers + [("Idempotency-Key", key)])

    def answer(self, url, query_pairs, form, raw, account, reply=True):
        """Serves or forwards one Stripe request; sends it, or returns it when not `reply`."""
        parts = url.path.strip("/").split("/")
        query = flat(query_pairs)
        local = None
        if parts[:2] == ["v1", "disputes"]:
            local = disputes(self.command, parts, query, form, account)
        elif parts[:3] == ["v1", "checkout", "sessions"]:
            local = sessions(self.command, parts, query, form, account)
        elif parts[:2] == ["v1", "prices"]:
            headers = {
                k: v
                for k, v in self.headers.items()
                if k.lower() not in HOP_BY_HOP and k.lower() != "content-type"
            }
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            local = prices(self.command, parts, form, headers)
        if local is not None:
            status, body = local
            result = (status, [("Request-Id", fresh_id("req_", 14))], body)
        else:
            result = self.forward(url, raw, account)
        if reply:
            status, headers, body = result
            return self.send(status, body, headers)
        return result

    def forward(self, url, raw, account):
        object_id = collection_id(url.path)
        with lock:
            foreign = (
                object_id is not None
                and object_id in state["owners"]
                and state["owners"][object_id] != account
            )
        if foreign:
            # Connect: another account's object does not exist for this one.
            kind = url.path.strip("/").split("/")[1].rstrip("s")
            status, body = missing(kind, object_id)
            return status, [], body
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        query, created_filters = take_created_filters(url.path, url.query)
        target = url.path + (f"?{query}" if query else "")
        raw, aside = set_aside(url.path, raw) if self.command == "POST" else (raw, {})
        if self.command == "POST":
            raw = items_as_plans(url.path, raw)
        status, kept, body = upstream(self.command, target, raw, headers)
        if status == 200:
            body = apply_created_filters(body, created_filters)
        if aside and status == 200:
            try:
                created = json.loads(body)
            except ValueError:
                created = None
            if isinstance(created, dict) and isinstance(created.get("id"), str):
                with lock:
                    state["aside"].setdefault(created["id"], {}).update(aside)
        if status == 200:
            try:
                body = (json.dumps(with_prices(put_back(json.loads(body))), indent=2) + "\n").encode()
            except ValueError:
                pass
        if status == 402:
            body = card_error(body)
        return status, kept, self.scope_to_account(status, completed(body), account)

    def scope_to_account(self, status, body, account):
        try:
            data = json.loads(body)
        except ValueError:
            return body
        if not isinstance(data, dict):
            return body
        with lock:
            if self.command == "POST" and status == 200 and isinstance(data.get("id"), str):
                state["owners"].setdefault(data["id"], account)
                for nested_list in ("charges", "sources", "subscriptions"):
                    inner = data.get(nested_list)
                    if isinstance(inner, dict):
                        for item in inner.get("data") or []:
                            if isinstance(item, dict) and "id" in item:
                                state["owners"].setdefault(item["id"], account)
                if isinstance(data.get("latest_charge"), str):
                    state["owners"].setdefault(data["latest_charge"], account)
                return body
            if data.get("object") == "list" and isinstance(data.get("data"), list):
                # A balance transaction belongs to the account of the charge or refund it
                # moved money for (localstripe makes them itself, never through the front).
                data["data"] = [
                    o
                    for o in data["data"]
                    if not isinstance(o, dict)
                    or state["owners"].get(
                        o.get("source") if o.get("object") == "balance_transaction" else o.get("id")
                    )
                    == account
                ]
                if "total_count" in data:
                    data["total_count"] = len(data["data"])
                return (json.dumps(data, indent=2) + "\n").encode()
        return body

    def control(self, path, raw):
        if path == "/_fake/requests" and self.command == "GET":
            with lock:
                return self.send(200, list(state["requests"]))
        if path == "/_fake/accounts" and self.command == "GET":
            with lock:
                return self.send(200, {k: v for k, v in state["owners"].items() if v is not None})
        if path == "/_fake/reset" and self.command == "POST":
            # Only the request log: objects, owners and idempotency keys live on, as they
            # would at Stripe, so a test can set up, reset, act and see only its act.
            with lock:
                state["requests"].clear()
            return self.send(200, {"reset": True})
        if path == "/_fake/disputes" and self.command == "POST":
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                body = None
            if not isinstance(body, dict):
                return self.send(*error(400, "invalid_request_error", "a JSON object is expected"))
            return self.send(*new_dispute(body, self.headers.get("Stripe-Account")))
        if path == "/_fake/webhooks" and self.command == "POST":
            return self.send(*register_webhook(raw))
        match = re.fullmatch(r"/_fake/relay/([0-9]+)", path)
        if match and self.command == "POST":
            return self.send(*relay(int(match.group(1)), raw))
        match = re.fullmatch(r"/_fake/checkout/sessions/([^/]+)/complete", path)
        if match and self.command == "POST":
            return self.send(*complete_session(match.group(1), self.headers))
        return self.send(*error(404, "invalid_request_error", f"no control endpoint {path}"))


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Front)
    server.daemon_threads = True
    FRONT["base"] = f"http://127.0.0.1:{server.server_address[1]}"
    print(f"READY http://127.0.0.1:{server.server_address[1]}", flush=True)

    def watch_stdin():
        sys.stdin.read()
        os._exit(0)

    threading.Thread(target=watch_stdin, daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
