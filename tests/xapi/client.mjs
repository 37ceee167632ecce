// A third-party xAPI client (@xapi/xapi, pinned in package-lock.json) driving the hub's LRS,
// for tests/api/xapi.rs. Reads XAPI_ENDPOINT (".../xapi/"), XAPI_KEY and XAPI_SECRET, runs
// a round trip and prints what it saw as one JSON object; the Rust test asserts on it.
import { createHash } from "node:crypto";
import XAPI from "@xapi/xapi";

const settings = {
  endpoint: process.env.XAPI_ENDPOINT,
  auth: XAPI.toBasicAuth(process.env.XAPI_KEY, process.env.XAPI_SECRET),
  version: "1.0.3",
};
const xapi = new XAPI(settings);
// The library's default adapter (axios) replaces the multipart/mixed Content-Type the library
// sets for attachments with the one axios derives from the body (a Blob without a type), which
// an LRS must refuse; its own `fetch` adapter sends the header as the library built it.
const withAttachments = new XAPI({ ...settings, adapter: "fetch" });
const actor = { objectType: "Agent", name: "Ada", mbox: "mailto:ada@client.test" };
const statement = (verb, n) => ({
  actor,
  verb,
  object: {
    objectType: "Activity",
    id: `http://client.test/lesson/${n}`,
    definition: { name: { "en-US": `Lesson ${n}` } },
  },
  result: { score: { scaled: 0.5 }, completion: true, duration: XAPI.calculateISO8601Duration(new Date(0), new Date(90000)) },
});
const status = async (promise) => {
  try {
    await promise;
    return "ok";
  } catch (error) {
    return error.response ? error.response.status : String(error);
  }
};

const seen = {};
seen.about = (await xapi.getAbout()).data;
seen.single = (await xapi.sendStatement({ statement: statement(XAPI.Verbs.INITIALIZED, 0) })).data;
seen.batch = (
  await xapi.sendStatements({
    statements: [1, 2, 3, 4].map((n) => statement(XAPI.Verbs.COMPLETED, n)),
  })
).data;
const read = (await xapi.getStatement({ statementId: seen.single[0] })).data;
seen.read = { id: read.id, verb: read.verb.id, name: read.object.definition.name["en-US"], authority: !!read.authority };
const page = (await xapi.getStatements({ agent: actor, verb: XAPI.Verbs.COMPLETED.id, limit: 3 })).data;
seen.first_page = page.statements.map((s) => s.id);
seen.more = page.more;
seen.second_page = page.more ? (await xapi.getMoreStatements({ more: page.more })).data.statements.map((s) => s.id) : [];
await xapi.voidStatement({ actor, statementId: seen.batch[0] });
seen.voided = (await xapi.getVoidedStatement({ voidedStatementId: seen.batch[0] })).data.id;
seen.void_read = await status(xapi.getStatement({ statementId: seen.batch[0] }));
seen.after_voiding = (await xapi.getStatements({ agent: actor, verb: XAPI.Verbs.COMPLETED.id })).data.statements.length;
seen.malformed = await status(xapi.sendStatement({ statement: { actor: { mbox: "ada@client.test" }, verb: XAPI.Verbs.COMPLETED, object: { id: "http://client.test/x" } } }));
// One statement with one attachment (the library's multipart writer puts no line break
// between an attachment's content and the next boundary, so it cannot send two), then read
// back with `attachments=true`, which the library parses from the LRS's multipart answer.
const content = "Certificate of completion: Ada, Lesson 9";
const attachment = {
  usageType: XAPI.AttachmentUsages.CERTIFICATE_OF_COMPLETION,
  display: { "en-US": "Certificate" },
  contentType: "text/plain",
  length: Buffer.byteLength(content),
  sha2: createHash("sha256").update(content).digest("hex"),
};
seen.attached = (
  await withAttachments.sendStatement({
    statement: { ...statement(XAPI.Verbs.COMPLETED, 9), attachments: [attachment] },
    attachments: [content],
  })
).data;
const parts = (await withAttachments.getStatement({ statementId: seen.attached[0], attachments: true })).data;
seen.attached_read = {
  parts: parts.length,
  id: parts[0].id,
  sha2: parts[0].attachments[0].sha2,
  content: parts[1],
};
console.log(JSON.stringify(seen));
