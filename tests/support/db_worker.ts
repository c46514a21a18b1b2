// A second "service instance" for concurrency tests: a separate process on the same database, because
// bun:sqlite blocks its thread while waiting for a lock (two connections in one process would deadlock,
// which real instances — separate processes — never do). Prints one JSON line with the results.
import { MikroSiteActivations } from "../../src/adapters/db/licensing_repos.ts";
import { openDatabase, type DatabaseTarget } from "../../src/adapters/db/orm.ts";
import { DbThrottle } from "../../src/adapters/db/support_repos.ts";

type Job =
  | { op: "activate"; target: DatabaseTarget; licenseId: number; hosts: string[]; maxSites: number; now: string }
  | { op: "throttle"; target: DatabaseTarget; bucket: string; times: number; windowMs: number; now: string };

const job = JSON.parse(process.argv[2]) as Job;
const db = await openDatabase(job.target, { migrate: false });
try {
  const now = new Date(job.now);
  if (job.op === "activate") {
    const sites = new MikroSiteActivations(db);
    const results = await Promise.all(job.hosts.map((h) => sites.activate(job.licenseId, h, job.maxSites, now)));
    console.log(JSON.stringify(results.map((r) => r.kind)));
  } else {
    const throttle = new DbThrottle(db);
    const results = await Promise.all(Array.from({ length: job.times }, () => throttle.hit(job.bucket, job.windowMs, now)));
    console.log(JSON.stringify(results.map((r) => r.hits)));
  }
} finally {
  await db.close();
}
