// Loopback SAML 2.0 identity provider for integration tests.
//
// Usage: node server.mjs <config.json>
//
// Prints exactly one line on stdout once listening:
//   READY http://127.0.0.1:<port>
// Everything else (warnings, errors) goes to stderr.
//
// Exits on SIGTERM / SIGINT, and when stdin reaches EOF or is closed (so the
// IdP dies with the test process that spawned it with a piped stdin). Set
// SAML_IDP_IGNORE_STDIN=1 to disable the stdin watch (e.g. when started by
// hand in the background with stdin at /dev/null).
//
// SAML messages are built and signed by samlify (xml-crypto underneath,
// RSA-SHA256, exclusive c14n); incoming AuthnRequests are validated against
// the SAML 2.0 XSDs by @authenio/samlify-xmllint-wasm (libxml2 compiled to
// WebAssembly, run in a worker thread; ~0.3 s per request). The key pair and the self-signed certificate
// are made here with node:crypto only.
//
// See README.md for the config format, the endpoints, the forge switches and
// the exact user-agent sequence.

import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import {
  createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, randomUUID,
  sign as rsaSign, X509Certificate,
} from 'node:crypto';
import { inflateRawSync } from 'node:zlib';

import samlify from 'samlify';
import * as xmllintValidator from '@authenio/samlify-xmllint-wasm';
import { DOMParser, XMLSerializer } from '@xmldom/xmldom';

// stdout carries only the READY line: libraries that log with console.log /
// info / debug (the xmllint-wasm validator does, on invalid XML) go to stderr.
console.log = console.error;
console.info = console.error;
console.debug = console.error;

const log = (...args) => console.error('[saml-idp]', ...args);

function fail(msg) {
  log(`fatal: ${msg}`);
  process.exit(2);
}

const NS = {
  samlp: 'urn:oasis:names:tc:SAML:2.0:protocol',
  saml: 'urn:oasis:names:tc:SAML:2.0:assertion',
  ds: 'http://www.w3.org/2000/09/xmldsig#',
};
const STATUS_SUCCESS = 'urn:oasis:names:tc:SAML:2.0:status:Success';
const NAMEID_EMAIL = 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress';
const NAMEID_UNSPECIFIED = 'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified';
const ATTRNAME_BASIC = 'urn:oasis:names:tc:SAML:2.0:attrname-format:basic';
const SIGN_MODES = ['response', 'assertion', 'both'];

// ---------------------------------------------------------------- config ---

const configPath = process.argv[2];
if (!configPath) fail('usage: node server.mjs <config.json>');

let config;
try {
  config = JSON.parse(readFileSync(configPath, 'utf8'));
} catch (err) {
  fail(`cannot read config ${configPath}: ${err.message}`);
}

const port = Number(config.port ?? 0);
if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`invalid port ${config.port}`);

const defaultSign = config.sign ?? 'both';
if (!SIGN_MODES.includes(defaultSign)) fail(`sign must be one of ${SIGN_MODES.join(', ')}`);

const schemaValidation = config.schema_validation ?? true;
if (typeof schemaValidation !== 'boolean') fail('schema_validation must be true or false');

const ttlSeconds = Number(config.ttl_seconds ?? 300);
if (!Number.isInteger(ttlSeconds) || ttlSeconds <= 0) fail('ttl_seconds must be a positive integer');

const sps = (config.sp ?? []).map((s, i) => {
  if (typeof s.entity_id !== 'string' || !s.entity_id || typeof s.acs_url !== 'string' || !s.acs_url) {
    fail(`sp[${i}] needs entity_id and acs_url`);
  }
  if (s.sign !== undefined && !SIGN_MODES.includes(s.sign)) fail(`sp[${i}].sign must be one of ${SIGN_MODES.join(', ')}`);
  return { entity_id: s.entity_id, acs_url: s.acs_url, sign: s.sign };
});
if (sps.length === 0) fail('config needs at least one "sp" entry');
const spByEntityId = new Map(sps.map((s) => [s.entity_id, s]));

const users = config.users ?? [];
users.forEach((u, i) => {
  if (!u.login || typeof u.password !== 'string' || !u.name_id) {
    fail(`users[${i}] needs login, password and name_id`);
  }
});
const usersByLogin = new Map(users.map((u) => [String(u.login), u]));

// ------------------------------------------------------- key/certificate ---

// Minimal DER writer, enough for one self-signed X.509 v3 certificate.
function derLen(n) {
  if (n < 0x80) return Buffer.from([n]);
  const bytes = [];
  for (let v = n; v > 0; v >>= 8) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}
const der = (tag, ...parts) => {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([tag]), derLen(body.length), body]);
};
const seq = (...p) => der(0x30, ...p);
const set = (...p) => der(0x31, ...p);
const oid = (hex) => der(0x06, Buffer.from(hex, 'hex'));
const derTime = (d) => {
  const iso = d.toISOString().replace(/[-:T]/g, '').slice(0, 14); // YYYYMMDDHHMMSS
  return d.getUTCFullYear() < 2050
    ? der(0x17, Buffer.from(`${iso.slice(2)}Z`, 'ascii'))
    : der(0x18, Buffer.from(`${iso}Z`, 'ascii'));
};

function selfSignedCert(privateKey, commonName) {
  const sha256WithRSA = seq(oid('2a864886f70d01010b'), Buffer.from([0x05, 0x00]));
  const name = seq(set(seq(oid('550403'), der(0x0c, Buffer.from(commonName, 'utf8')))));
  const serial = randomBytes(16);
  serial[0] = (serial[0] & 0x7f) | 0x01; // positive, non-zero
  const now = Date.now();
  const spki = createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
  const extensions = der(0xa3, seq(
    seq(oid('551d13'), der(0x04, seq())), // basicConstraints: cA FALSE
    seq(oid('551d0f'), Buffer.from([0x01, 0x01, 0xff]), der(0x04, Buffer.from([0x03, 0x02, 0x07, 0x80]))), // keyUsage critical: digitalSignature
  ));
  const tbs = seq(
    der(0xa0, der(0x02, Buffer.from([0x02]))), // version v3
    der(0x02, serial),
    sha256WithRSA,
    name,
    seq(derTime(new Date(now - 3600_000)), derTime(new Date(now + 10 * 365 * 86400_000))),
    name,
    spki,
    extensions,
  );
  const signature = rsaSign('sha256', tbs, privateKey);
  const cert = seq(tbs, sha256WithRSA, der(0x03, Buffer.from([0x00]), signature));
  const b64 = cert.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`;
}

function makeKeyPair(commonName) {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }),
    certPem: selfSignedCert(privateKey, commonName),
  };
}

let signing;
if (config.key_pem || config.cert_pem) {
  if (!config.key_pem || !config.cert_pem) fail('key_pem and cert_pem go together');
  try {
    const cert = new X509Certificate(config.cert_pem);
    if (!cert.checkPrivateKey(createPrivateKey(config.key_pem))) fail('key_pem does not match cert_pem');
  } catch (err) {
    fail(`bad key_pem/cert_pem: ${err.message}`);
  }
  signing = { keyPem: config.key_pem, certPem: config.cert_pem };
} else {
  signing = makeKeyPair('saml-test-idp');
}
// A second, unrelated key for the forge switch `foreign_key`.
let foreignKey;
const getForeignKey = () => (foreignKey ??= makeKeyPair('saml-test-idp'));

// ------------------------------------------------------------------ html ---

const esc = (s) => String(s).replace(/[&<>"']/g, (ch) => ({
  '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
}[ch]));

function loginPage(rid, { error, spEntityId } = {}) {
  return `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Sign-in</title></head>
<body>
<h1>Sign-in${spEntityId ? ` to ${esc(spEntityId)}` : ''}</h1>
${error ? `<p class="error">${esc(error)}</p>\n` : ''}<form method="post" action="/sso/login?rid=${esc(rid)}">
<input type="text" name="login" autocomplete="username" autofocus>
<input type="password" name="password" autocomplete="current-password">
<button type="submit">Sign-in</button>
</form>
</body></html>
`;
}

function postPage(acsUrl, samlResponse, relayState) {
  return `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Signing in</title></head>
<body onload="document.forms[0].submit()">
<form method="post" action="${esc(acsUrl)}">
<input type="hidden" name="SAMLResponse" value="${esc(samlResponse)}">
${relayState !== undefined ? `<input type="hidden" name="RelayState" value="${esc(relayState)}">\n` : ''}<noscript><button type="submit">Continue</button></noscript>
</form>
</body></html>
`;
}

function send(res, status, body, type = 'text/html; charset=utf-8') {
  res.statusCode = status;
  res.setHeader('Content-Type', type);
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.end(body);
}
const sendText = (res, status, text) => send(res, status, `${text}\n`, 'text/plain; charset=utf-8');

function readBody(req, limit = 256 * 1024) {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks = [];
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > limit) {
        reject(Object.assign(new Error('request body too large'), { status: 413 }));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

// ------------------------------------------------------------------- xml ---

const xmlEsc = (s) => String(s).replace(/[&<>"]/g, (ch) => ({
  '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;',
}[ch]));
const isoNoMillis = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

const parseXml = (xml) => new DOMParser({
  errorHandler: {
    warning: () => {},
    error: (m) => { throw new Error(m); },
    fatalError: (m) => { throw new Error(m); },
  },
}).parseFromString(xml, 'text/xml');
const serializeXml = (doc) => new XMLSerializer().serializeToString(doc);
const childrenNS = (el, ns, local) => Array.from(el.childNodes)
  .filter((n) => n.nodeType === 1 && n.namespaceURI === ns && n.localName === local);

function attributeStatement(attributes) {
  const entries = Object.entries(attributes ?? {}).filter(([, v]) => v !== undefined && v !== null);
  if (entries.length === 0) return '';
  const attrs = entries.map(([name, value]) => {
    const values = (Array.isArray(value) ? value : [value])
      .map((v) => `<saml:AttributeValue xsi:type="xs:string">${xmlEsc(v)}</saml:AttributeValue>`).join('');
    return `<saml:Attribute Name="${xmlEsc(name)}" NameFormat="${ATTRNAME_BASIC}">${values}</saml:Attribute>`;
  }).join('');
  return `<saml:AttributeStatement>${attrs}</saml:AttributeStatement>`;
}

// The unsigned Response; samlify signs it afterwards (assertion first, then
// the response) following the SP entity's wantAssertionsSigned/wantMessageSigned.
function responseXml(p) {
  const assertion = p.status !== STATUS_SUCCESS ? '' : `<saml:Assertion xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ID="${p.assertionId}" Version="2.0" IssueInstant="${p.issueInstant}">`
    + `<saml:Issuer>${xmlEsc(p.issuer)}</saml:Issuer>`
    + `<saml:Subject><saml:NameID Format="${xmlEsc(p.nameIdFormat)}">${xmlEsc(p.nameId)}</saml:NameID>`
    + '<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">'
    + `<saml:SubjectConfirmationData NotOnOrAfter="${p.notOnOrAfter}" Recipient="${xmlEsc(p.recipient)}" InResponseTo="${xmlEsc(p.inResponseTo)}"/>`
    + '</saml:SubjectConfirmation></saml:Subject>'
    + `<saml:Conditions NotBefore="${p.notBefore}" NotOnOrAfter="${p.notOnOrAfter}">`
    + `<saml:AudienceRestriction><saml:Audience>${xmlEsc(p.audience)}</saml:Audience></saml:AudienceRestriction></saml:Conditions>`
    + `<saml:AuthnStatement AuthnInstant="${p.issueInstant}" SessionIndex="${p.sessionIndex}">`
    + '<saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext>'
    + '</saml:AuthnStatement>'
    + attributeStatement(p.attributes)
    + '</saml:Assertion>';
  return `<samlp:Response xmlns:samlp="${NS.samlp}" xmlns:saml="${NS.saml}" ID="${p.id}" Version="2.0" IssueInstant="${p.issueInstant}" Destination="${xmlEsc(p.destination)}" InResponseTo="${xmlEsc(p.inResponseTo)}">`
    + `<saml:Issuer>${xmlEsc(p.issuer)}</saml:Issuer>`
    + `<samlp:Status><samlp:StatusCode Value="${xmlEsc(p.status)}"/></samlp:Status>`
    + assertion
    + '</samlp:Response>';
}

// ----------------------------------------------------------------- forge ---

// One-shot switches for the NEXT response only (see README.md).
const FORGE_KEYS = new Set([
  'sign', 'unsigned', 'expired', 'not_yet_valid', 'audience', 'in_response_to', 'destination',
  'recipient', 'issuer', 'name_id', 'attributes', 'status', 'tamper', 'foreign_key', 'xsw', 'doctype',
]);
let nextForge = null;

function checkForge(f) {
  if (typeof f !== 'object' || f === null || Array.isArray(f)) throw new Error('forge body must be a JSON object');
  for (const k of Object.keys(f)) if (!FORGE_KEYS.has(k)) throw new Error(`unknown forge switch "${k}"`);
  if (f.sign !== undefined && !SIGN_MODES.includes(f.sign)) throw new Error(`sign must be one of ${SIGN_MODES.join(', ')}`);
  if (f.tamper !== undefined) {
    const t = f.tamper;
    if (typeof t !== 'object' || t === null || (t.name_id === undefined && t.attribute === undefined)) {
      throw new Error('tamper must be {"attribute": name, "value": v} or {"name_id": v}');
    }
  }
  return f;
}

function removeSignatures(root) {
  for (const sig of Array.from(root.getElementsByTagNameNS(NS.ds, 'Signature'))) sig.parentNode.removeChild(sig);
}

function setNameId(assertion, value) {
  const nameId = assertion.getElementsByTagNameNS(NS.saml, 'NameID')[0];
  if (nameId) nameId.textContent = value;
}

function setFirstAttributeValue(root, attrName, value) {
  for (const a of Array.from(root.getElementsByTagNameNS(NS.saml, 'Attribute'))) {
    if (a.getAttribute('Name') !== attrName) continue;
    const v = a.getElementsByTagNameNS(NS.saml, 'AttributeValue')[0];
    if (v) { v.textContent = value; return true; }
  }
  return false;
}

// Post-signature changes: tamper, unsigned, xsw, doctype.
function postProcess(xml, forge) {
  if (!forge.unsigned && !forge.tamper && !forge.xsw && !forge.doctype) return xml;
  let out = xml;
  if (forge.unsigned || forge.tamper || forge.xsw) {
    const doc = parseXml(xml);
    const response = doc.documentElement;
    if (forge.unsigned) removeSignatures(response);
    if (forge.tamper) {
      if (forge.tamper.name_id !== undefined) setNameId(response, String(forge.tamper.name_id));
      if (forge.tamper.attribute !== undefined
          && !setFirstAttributeValue(response, String(forge.tamper.attribute), String(forge.tamper.value ?? ''))) {
        log(`forge.tamper: no attribute "${forge.tamper.attribute}" in the response`);
      }
    }
    if (forge.xsw) {
      const evil = typeof forge.xsw === 'object' ? forge.xsw : {};
      const evilNameId = String(evil.name_id ?? 'mallory@evil.test');
      const responseSigned = childrenNS(response, NS.ds, 'Signature').length > 0;
      const assertion = childrenNS(response, NS.saml, 'Assertion')[0];
      if (responseSigned) {
        // XSW1-like: a new unsigned Response (new ID, evil assertion) wraps the
        // original signed Response inside its samlp:Extensions.
        const evilResponse = response.cloneNode(true);
        evilResponse.setAttribute('ID', `_evil-${randomUUID()}`);
        removeSignatures(evilResponse);
        const evilAssertion = childrenNS(evilResponse, NS.saml, 'Assertion')[0];
        if (evilAssertion) {
          evilAssertion.setAttribute('ID', `_evil-${randomUUID()}`);
          setNameId(evilAssertion, evilNameId);
        }
        const ext = doc.createElementNS(NS.samlp, 'samlp:Extensions');
        ext.appendChild(response.cloneNode(true));
        const issuer = childrenNS(evilResponse, NS.saml, 'Issuer')[0];
        evilResponse.insertBefore(ext, issuer ? issuer.nextSibling : evilResponse.firstChild);
        doc.replaceChild(evilResponse, response);
      } else if (assertion) {
        // XSW3-like: an unsigned evil Assertion (new ID) before the signed one.
        const evilAssertion = assertion.cloneNode(true);
        removeSignatures(evilAssertion);
        evilAssertion.setAttribute('ID', `_evil-${randomUUID()}`);
        setNameId(evilAssertion, evilNameId);
        response.insertBefore(evilAssertion, assertion);
      }
    }
    out = serializeXml(doc);
  }
  if (forge.doctype) {
    out = '<!DOCTYPE samlp:Response [<!ENTITY xxe SYSTEM "file:///etc/hostname"><!ENTITY lol "lol">]>' + out;
  }
  return out;
}

// --------------------------------------------------------------- samlify ---

// With schema_validation false, requests are only checked for well-formedness
// (no DOCTYPE) and the samlp:AuthnRequest root in handleSso: faster, laxer.
samlify.setSchemaValidator({
  validate: schemaValidation ? (xml) => xmllintValidator.validate(xml) : async () => 'SKIPPED',
});
const B = samlify.Constants.namespace.binding;

function idpEntity(baseUrl, keys) {
  return samlify.IdentityProvider({
    entityID: `${baseUrl}/metadata`,
    signingCert: keys.certPem,
    privateKey: keys.keyPem,
    wantAuthnRequestsSigned: false,
    requestSignatureAlgorithm: samlify.Constants.algorithms.signature.RSA_SHA256,
    nameIDFormat: [NAMEID_EMAIL, NAMEID_UNSPECIFIED],
    singleSignOnService: [{ Binding: B.redirect, Location: `${baseUrl}/sso` }],
  });
}

const spEntityCache = new Map();
function spEntity(sp, sign) {
  const key = `${sign}\u0000${sp.entity_id}`;
  let e = spEntityCache.get(key);
  if (!e) {
    e = samlify.ServiceProvider({
      entityID: sp.entity_id,
      authnRequestsSigned: false,
      // samlify: assertion signed iff wantAssertionsSigned; response signed iff
      // wantMessageSigned or the assertion is not signed.
      wantAssertionsSigned: sign !== 'response',
      wantMessageSigned: sign !== 'assertion',
      assertionConsumerService: [{ Binding: B.post, Location: sp.acs_url }],
    });
    spEntityCache.set(key, e);
  }
  return e;
}

// ------------------------------------------------------------- listening ---

const server = createServer();
server.on('error', (err) => fail(`listen failed: ${err.message}`));
server.listen(port, '127.0.0.1', start);

function start() {
  const baseUrl = `http://127.0.0.1:${server.address().port}`;
  const entityId = `${baseUrl}/metadata`;
  const idp = idpEntity(baseUrl, signing);
  let foreignIdp;
  const metadataXml = idp.getMetadata();

  // rid -> { sp, requestId, acsUrl, relayState, expires }
  const pending = new Map();
  const PENDING_TTL_MS = 10 * 60_000;

  async function handleSso(req, res, url) {
    if (req.method !== 'GET') return sendText(res, 405, 'method not allowed (HTTP-Redirect binding: GET)');
    const samlRequest = url.searchParams.get('SAMLRequest');
    if (!samlRequest) return sendText(res, 400, 'missing SAMLRequest');
    let requestXml;
    let requestDoc;
    try {
      requestXml = inflateRawSync(Buffer.from(samlRequest, 'base64'), { maxOutputLength: 256 * 1024 }).toString('utf8');
      requestDoc = parseXml(requestXml);
    } catch (err) {
      return sendText(res, 400, `SAMLRequest is not deflated+base64 XML: ${err.message}`);
    }
    if (/<!DOCTYPE/i.test(requestXml)) return sendText(res, 400, 'SAMLRequest must not carry a DOCTYPE');
    const root = requestDoc.documentElement;
    if (!root || root.namespaceURI !== NS.samlp || root.localName !== 'AuthnRequest') {
      return sendText(res, 400, 'SAMLRequest is not a samlp:AuthnRequest');
    }
    const spIssuer = childrenNS(root, NS.saml, 'Issuer')[0]?.textContent?.trim() ?? '';
    const sp = spByEntityId.get(spIssuer);
    if (!sp) return sendText(res, 400, `unknown service provider (Issuer "${spIssuer}")`);

    const query = Object.fromEntries(url.searchParams);
    let parsed;
    try {
      parsed = await idp.parseLoginRequest(spEntity(sp, defaultSign), 'redirect', { query, octetString: '' });
    } catch (err) {
      return sendText(res, 400, `invalid AuthnRequest: ${err?.message ?? err} (details on the IdP stderr)`);
    }
    const requestId = parsed.extract?.request?.id;
    if (!requestId) return sendText(res, 400, 'AuthnRequest has no ID');
    const requestedAcs = root.getAttribute('AssertionConsumerServiceURL');
    if (requestedAcs && requestedAcs !== sp.acs_url) {
      return sendText(res, 400, `AssertionConsumerServiceURL ${requestedAcs} is not registered for ${sp.entity_id}`);
    }
    const protocolBinding = root.getAttribute('ProtocolBinding');
    if (protocolBinding && protocolBinding !== B.post) {
      return sendText(res, 400, `unsupported ProtocolBinding ${protocolBinding} (HTTP-POST only)`);
    }

    const now = Date.now();
    for (const [k, v] of pending) if (v.expires < now) pending.delete(k);
    const rid = randomUUID();
    pending.set(rid, {
      sp,
      requestId,
      acsUrl: sp.acs_url,
      relayState: url.searchParams.get('RelayState') ?? undefined,
      expires: now + PENDING_TTL_MS,
    });
    if (process.env.SAML_IDP_DEBUG) log('AuthnRequest', requestId, 'from', sp.entity_id, '-> rid', rid);
    return send(res, 200, loginPage(rid, { spEntityId: sp.entity_id }));
  }

  async function handleLogin(req, res, url) {
    if (req.method !== 'POST') return sendText(res, 405, 'method not allowed');
    const rid = url.searchParams.get('rid') ?? '';
    const p = pending.get(rid);
    if (!p || p.expires < Date.now()) {
      pending.delete(rid);
      return sendText(res, 400, 'unknown or expired login request (start again at /sso)');
    }
    const form = new URLSearchParams(await readBody(req));
    const user = usersByLogin.get(form.get('login') ?? '');
    if (!user || user.password !== (form.get('password') ?? '')) {
      return send(res, 401, loginPage(rid, { spEntityId: p.sp.entity_id, error: 'Invalid login or password.' }));
    }
    pending.delete(rid);

    const forge = nextForge ?? {};
    nextForge = null;
    if (Object.keys(forge).length > 0) log('forging this response:', JSON.stringify(forge));

    const now = Date.now();
    const shift = forge.expired ? -20 * 60_000 : forge.not_yet_valid ? 10 * 60_000 : 0;
    const issueInstant = isoNoMillis(now + (forge.expired ? shift : 0));
    const sign = forge.sign ?? p.sp.sign ?? defaultSign;
    const params = {
      id: `_${randomUUID()}`,
      assertionId: `_${randomUUID()}`,
      sessionIndex: `_${randomUUID()}`,
      issueInstant,
      notBefore: isoNoMillis(now + shift),
      notOnOrAfter: isoNoMillis(now + shift + (forge.expired ? 10 * 60_000 : ttlSeconds * 1000)),
      issuer: forge.issuer ?? entityId,
      destination: forge.destination ?? p.acsUrl,
      recipient: forge.recipient ?? forge.destination ?? p.acsUrl,
      audience: forge.audience ?? p.sp.entity_id,
      inResponseTo: forge.in_response_to ?? p.requestId,
      nameId: forge.name_id ?? user.name_id,
      nameIdFormat: user.name_id_format ?? (String(user.name_id).includes('@') ? NAMEID_EMAIL : NAMEID_UNSPECIFIED),
      attributes: forge.attributes ?? user.attributes ?? {},
      status: forge.status ?? STATUS_SUCCESS,
    };
    let signer = idp;
    if (forge.foreign_key) signer = (foreignIdp ??= idpEntity(baseUrl, getForeignKey()));
    // An error status carries no assertion, so only the response can be signed.
    const signMode = params.status !== STATUS_SUCCESS ? 'response' : sign;

    const { context } = await signer.createLoginResponse(
      spEntity(p.sp, signMode),
      { extract: { request: { id: p.requestId } } },
      'post',
      { email: params.nameId },
      () => ({ id: params.id, context: responseXml(params) }),
    );
    let samlResponse = context;
    const transformed = postProcess(Buffer.from(context, 'base64').toString('utf8'), forge);
    samlResponse = Buffer.from(transformed, 'utf8').toString('base64');
    if (process.env.SAML_IDP_DEBUG) log('Response', params.id, 'for', p.requestId, '->', p.acsUrl);
    return send(res, 200, postPage(p.acsUrl, samlResponse, p.relayState));
  }

  async function handleForge(req, res) {
    if (req.method === 'GET') return send(res, 200, `${JSON.stringify(nextForge)}\n`, 'application/json');
    if (req.method === 'DELETE') { nextForge = null; res.statusCode = 204; return res.end(); }
    if (req.method !== 'POST') return sendText(res, 405, 'method not allowed');
    let body;
    try {
      body = checkForge(JSON.parse(await readBody(req)));
    } catch (err) {
      return sendText(res, 400, `bad forge request: ${err.message}`);
    }
    nextForge = body;
    res.statusCode = 204;
    return res.end();
  }

  server.on('request', (req, res) => {
    const url = new URL(req.url, baseUrl);
    let handler;
    switch (url.pathname) {
      case '/metadata':
        if (req.method !== 'GET') return sendText(res, 405, 'method not allowed');
        return send(res, 200, metadataXml, 'application/samlmetadata+xml; charset=utf-8');
      case '/cert.pem':
        return send(res, 200, signing.certPem, 'application/x-pem-file');
      case '/sso': handler = handleSso; break;
      case '/sso/login': handler = handleLogin; break;
      case '/forge': handler = handleForge; break;
      default: return sendText(res, 404, 'not found');
    }
    handler(req, res, url).catch((err) => {
      log('request error:', err);
      if (res.headersSent) { res.destroy(); return; }
      sendText(res, err.status ?? 500, err.message ?? String(err));
    });
  });

  process.stdout.write(`READY ${baseUrl}\n`);
}

// ------------------------------------------------------------- shutdown ---

let stopping = false;
function shutdown(reason) {
  if (stopping) return;
  stopping = true;
  log(`shutting down (${reason})`);
  server.close(() => process.exit(0));
  server.closeAllConnections?.();
  setTimeout(() => process.exit(0), 1000).unref();
}

process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));

if (process.env.SAML_IDP_IGNORE_STDIN !== '1') {
  process.stdin.on('end', () => shutdown('stdin closed'));
  process.stdin.on('close', () => shutdown('stdin closed'));
  process.stdin.on('error', () => shutdown('stdin error'));
  process.stdin.resume();
}
