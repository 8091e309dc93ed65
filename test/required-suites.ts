// Suites that need a system package (SoftHSM2, PyKMIP) or the OASIS vectors: skipped with a reason on a developer's
// machine, a failure in CI (CI=true), so that CI can never go green by skipping them.
import assert from "node:assert/strict";
import { test } from "node:test";

/**
 * Returns the skip reason to give the suite (`false` when it can run). With `CI=true` and a reason, also registers a
 * failing test that names what is missing and how to install it.
 */
export function requiredSuite(suite: string, missing: string | null): string | false {
  if (!missing) return false;
  if (process.env.CI === "true") {
    test(`${suite} must run in CI`, () => {
      assert.fail(`${suite}: ${missing} — CI=true does not allow skipping it`);
    });
  }
  return `${suite}: ${missing}`;
}
