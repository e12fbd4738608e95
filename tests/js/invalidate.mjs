// The AWS SDK for JavaScript v3 against an invalidator endpoint.
//
// Usage: node invalidate.mjs ENDPOINT ACCESS_KEY_ID SECRET DISTRIBUTION_ID
//
// Creates invalidations, reads one back, lists them with the paginator, waits for completion
// with the waiter, provokes NoSuchInvalidation and prints one JSON summary on stdout.
// Exit code 0 when every call behaved as the SDK expects, 1 otherwise (the summary still
// prints, with "error" set).
import {
  CloudFrontClient,
  CreateInvalidationCommand,
  GetInvalidationCommand,
  NoSuchInvalidation,
  paginateListInvalidations,
  waitUntilInvalidationCompleted,
} from "@aws-sdk/client-cloudfront";

const [endpoint, accessKeyId, secretAccessKey, distributionId] = process.argv.slice(2);
if (!distributionId) {
  console.error("usage: node invalidate.mjs ENDPOINT ACCESS_KEY_ID SECRET DISTRIBUTION_ID");
  process.exit(2);
}

const client = new CloudFrontClient({
  endpoint,
  region: "ap-southeast-2",
  credentials: { accessKeyId, secretAccessKey },
  maxAttempts: 1,
});

// Record what the SDK puts on the wire for CreateInvalidation (after signing).
const sent = {};
client.middlewareStack.add(
  (next) => async (args) => {
    const req = args.request;
    if (req && req.method === "POST" && sent.contentType === undefined) {
      const headers = Object.fromEntries(
        Object.entries(req.headers).map(([k, v]) => [k.toLowerCase(), v]),
      );
      sent.contentType = headers["content-type"] ?? null;
      sent.contentSha256 = headers["x-amz-content-sha256"] ?? null;
      sent.authorization = (headers["authorization"] ?? "").split(" ")[0];
      sent.bodyStart = String(req.body ?? "").slice(0, 40);
    }
    return next(args);
  },
  { step: "deserialize", name: "recordRequest", priority: "low" },
);

const summary = { sent };
const stamp = `js-${Date.now()}`;

try {
  const ids = [];
  for (const [i, paths] of [["/js/a.jpg", "/js/b c.png"], ["/js/*"], ["/js/ü.txt"]].entries()) {
    const out = await client.send(
      new CreateInvalidationCommand({
        DistributionId: distributionId,
        InvalidationBatch: {
          CallerReference: `${stamp}-${i}`,
          Paths: { Quantity: paths.length, Items: paths },
        },
      }),
    );
    if (i === 0) {
      summary.created = {
        httpStatus: out.$metadata.httpStatusCode,
        location: out.Location,
        id: out.Invalidation.Id,
        status: out.Invalidation.Status,
        createTime: out.Invalidation.CreateTime.toISOString(),
        requestId: out.$metadata.requestId ?? null,
      };
    }
    ids.push(out.Invalidation.Id);
  }
  summary.createdIds = ids;

  const got = await client.send(
    new GetInvalidationCommand({ DistributionId: distributionId, Id: ids[0] }),
  );
  summary.got = {
    id: got.Invalidation.Id,
    status: got.Invalidation.Status,
    callerReference: got.Invalidation.InvalidationBatch.CallerReference,
    paths: got.Invalidation.InvalidationBatch.Paths.Items,
    quantity: got.Invalidation.InvalidationBatch.Paths.Quantity,
  };

  const pages = [];
  for await (const page of paginateListInvalidations(
    { client, pageSize: 2 },
    { DistributionId: distributionId },
  )) {
    const list = page.InvalidationList;
    pages.push({
      quantity: list.Quantity,
      isTruncated: list.IsTruncated,
      nextMarker: list.NextMarker ?? null,
      ids: (list.Items ?? []).map((s) => s.Id),
    });
  }
  summary.pages = pages;

  const waited = await waitUntilInvalidationCompleted(
    { client, maxWaitTime: 30, minDelay: 1, maxDelay: 2 },
    { DistributionId: distributionId, Id: ids[ids.length - 1] },
  );
  summary.waiter = waited.state;

  try {
    await client.send(
      new GetInvalidationCommand({ DistributionId: distributionId, Id: "INOSUCHINVALID" }),
    );
    summary.missing = { name: "none" };
  } catch (err) {
    summary.missing = {
      name: err.name,
      isNoSuchInvalidation: err instanceof NoSuchInvalidation,
      httpStatus: err.$metadata?.httpStatusCode ?? null,
      message: err.message,
    };
  }
} catch (err) {
  summary.error = `${err.name}: ${err.message}`;
}

console.log(JSON.stringify(summary));
process.exit(summary.error ? 1 : 0);
