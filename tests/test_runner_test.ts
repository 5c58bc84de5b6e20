import assert from "node:assert/strict";
import { isTeardownCrash, runEnd } from "../tools/test.ts";

const PASSED =
  "a ... ok (1ms)\n\n\x1b[0m\x1b[32mok\x1b[0m | 661 passed (11 steps) | 0 failed (2m0s)\n\n";
const FAILED = "a ... FAILED (1ms)\n\nFAILED | 660 passed | 1 failed (2m0s)\n";
const abort: Deno.CommandStatus = { success: false, code: 134, signal: "SIGABRT" };
const segv: Deno.CommandStatus = { success: false, code: 139, signal: "SIGSEGV" };

Deno.test("runEnd reads the final summary, colours removed", () => {
  assert.deepEqual(runEnd(PASSED), {
    summary: "ok | 661 passed (11 steps) | 0 failed (2m0s)",
    passed: 661,
    failed: 0,
  });
  assert.deepEqual(runEnd(FAILED), {
    summary: "FAILED | 660 passed | 1 failed (2m0s)",
    passed: 660,
    failed: 1,
  });
});

Deno.test("runEnd finds no summary when the output does not end with one", () => {
  assert.equal(
    runEnd("ok | 3 passed | 0 failed (1s)\nrunning 1 test from ./x_test.ts\n").summary,
    null,
  );
  assert.equal(runEnd("").summary, null);
});

Deno.test("only an abort or segfault after a summary with no failure is the teardown crash", () => {
  const ok = runEnd(PASSED);
  assert.equal(isTeardownCrash(abort, ok), true);
  assert.equal(isTeardownCrash(segv, ok), true);
  // A failed test, a crash before the summary, another signal, a plain exit code: passed through.
  assert.equal(isTeardownCrash(abort, runEnd(FAILED)), false);
  assert.equal(isTeardownCrash(abort, runEnd("running 3 tests from ./x_test.ts\n")), false);
  assert.equal(isTeardownCrash({ success: false, code: 137, signal: "SIGKILL" }, ok), false);
  assert.equal(isTeardownCrash({ success: false, code: 1, signal: null }, ok), false);
  assert.equal(isTeardownCrash(abort, runEnd("ok | 0 passed | 0 failed (1ms)\n")), false);
});

Deno.test("tools/test.ts passes the exit status of a passing, a failing and an aborted run through", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/pass_test.ts`, 'Deno.test("p", () => {});\n');
    await Deno.writeTextFile(
      `${dir}/fail_test.ts`,
      'Deno.test("f", () => { throw new Error("x"); });\n',
    );
    const run = async (file: string) => {
      const tool = new URL("../tools/test.ts", import.meta.url).pathname;
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", tool, "--no-check", "--no-lock", `${dir}/${file}`],
        stdout: "piped",
        stderr: "piped",
      }).output();
      return { code: out.code, stdout: new TextDecoder().decode(out.stdout) };
    };
    const pass = await run("pass_test.ts");
    assert.equal(pass.code, 0);
    assert.match(pass.stdout, /1 passed/);
    const fail = await run("fail_test.ts");
    assert.equal(fail.code, 1);
    assert.match(fail.stdout, /1 failed/);
    // A test file that aborts the process when it unloads, before the summary is printed.
    await Deno.writeTextFile(
      `${dir}/abort_test.ts`,
      'Deno.test("a", () => {});\nglobalThis.addEventListener("unload", () => Deno.kill(Deno.pid, "SIGABRT"));\n',
    );
    const abort = await run("abort_test.ts");
    assert.equal(abort.code, 134);
    assert.doesNotMatch(abort.stdout, /1 passed/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
