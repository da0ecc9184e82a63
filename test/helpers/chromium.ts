// Headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe: the
// browser reads NUL-terminated JSON commands on fd 3 and answers on fd 4), so the report's
// browser test needs no WebSocket client and no browser download: Debian's `chromium`.
// Protocol: https://chromedevtools.github.io/devtools-protocol/

import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { Readable, Writable } from "node:stream";

export const CHROMIUM_CANDIDATES = ["/usr/bin/chromium", "/usr/bin/chromium-browser"];

export function findChromium(): string | null {
  return CHROMIUM_CANDIDATES.find((p) => fs.existsSync(p)) ?? null;
}

type Json = Record<string, unknown>;
interface Pending {
  resolve(v: Json): void;
  reject(e: Error): void;
}

export interface CdpEvent {
  method: string;
  params: Json;
  sessionId?: string;
}

export class Browser {
  private nextId = 1;
  private pending = new Map<number, Pending>();
  private buffer = "";
  readonly events: CdpEvent[] = [];
  private waiters: Array<{ match: (e: CdpEvent) => boolean; resolve: (e: CdpEvent) => void }> = [];

  private constructor(
    private readonly child: ChildProcess,
    private readonly profile: string,
  ) {
    const input = child.stdio[4] as Readable;
    input.setEncoding("utf8");
    input.on("data", (chunk: string) => this.receive(chunk));
    child.on("exit", () => {
      for (const p of this.pending.values()) p.reject(new Error("chromium exited"));
      this.pending.clear();
    });
  }

  static launch(executable: string): Browser {
    const profile = fs.mkdtempSync(path.join(os.tmpdir(), "passthrough-chromium-"));
    const args = [
      "--headless",
      "--remote-debugging-pipe",
      "--disable-gpu",
      "--no-first-run",
      "--no-default-browser-check",
      "--hide-scrollbars",
      `--user-data-dir=${profile}`,
      // Root (CI, this machine) cannot use the setuid/namespace sandbox.
      ...(process.getuid?.() === 0 ? ["--no-sandbox"] : []),
      "about:blank",
    ];
    const child = spawn(executable, args, {
      stdio: ["ignore", "ignore", "ignore", "pipe", "pipe"],
    });
    return new Browser(child, profile);
  }

  private receive(chunk: string): void {
    this.buffer += chunk;
    for (let end = this.buffer.indexOf("\0"); end >= 0; end = this.buffer.indexOf("\0")) {
      const msg = JSON.parse(this.buffer.slice(0, end)) as Json;
      this.buffer = this.buffer.slice(end + 1);
      if (typeof msg.id === "number") {
        const p = this.pending.get(msg.id);
        this.pending.delete(msg.id);
        const err = msg.error as { message: string } | undefined;
        if (err) p?.reject(new Error(err.message));
        else p?.resolve((msg.result ?? {}) as Json);
      } else {
        const e = msg as unknown as CdpEvent;
        this.events.push(e);
        this.waiters = this.waiters.filter((w) => (w.match(e) ? (w.resolve(e), false) : true));
      }
    }
  }

  send(method: string, params: Json = {}, sessionId?: string): Promise<Json> {
    const id = this.nextId++;
    const out = this.child.stdio[3] as Writable;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      out.write(`${JSON.stringify({ id, method, params, sessionId })}\0`);
    });
  }

  waitFor(match: (e: CdpEvent) => boolean, timeoutMs = 60_000): Promise<CdpEvent> {
    const seen = this.events.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error("timed out waiting for chromium")), timeoutMs);
      this.waiters.push({ match, resolve: (e) => (clearTimeout(t), resolve(e)) });
    });
  }

  /** A new tab of the given size, attached, with console, log, runtime and network events on. */
  async newPage(width: number, height: number): Promise<Page> {
    const { targetId } = await this.send("Target.createTarget", { url: "about:blank" });
    const { sessionId } = await this.send("Target.attachToTarget", { targetId, flatten: true });
    const page = new Page(this, sessionId as string);
    for (const domain of ["Page", "Runtime", "Log", "Network"]) await page.send(`${domain}.enable`);
    await page.send("Emulation.setDeviceMetricsOverride", {
      width,
      height,
      deviceScaleFactor: 1,
      mobile: false,
    });
    return page;
  }

  async close(): Promise<void> {
    const exited = new Promise((r) => this.child.once("exit", r));
    await this.send("Browser.close").catch(() => undefined);
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    if (this.child.exitCode === null) this.child.kill("SIGKILL");
    fs.rmSync(this.profile, { recursive: true, force: true });
  }
}

export class Page {
  constructor(
    private readonly browser: Browser,
    readonly sessionId: string,
  ) {}

  send(method: string, params: Json = {}): Promise<Json> {
    return this.browser.send(method, params, this.sessionId);
  }

  /** Events of this tab so far. */
  events(method: string): Json[] {
    return this.browser.events
      .filter((e) => e.sessionId === this.sessionId && e.method === method)
      .map((e) => e.params);
  }

  async open(url: string): Promise<void> {
    await this.send("Page.navigate", { url });
    await this.browser.waitFor(
      (e) => e.sessionId === this.sessionId && e.method === "Page.loadEventFired",
    );
  }

  /** The value of a page expression (JSON-serialisable); a thrown error fails the call. */
  async evaluate<T>(expression: string): Promise<T> {
    const r = await this.send("Runtime.evaluate", { expression, returnByValue: true });
    if (r.exceptionDetails) throw new Error(`page: ${JSON.stringify(r.exceptionDetails)}`);
    return (r.result as { value: T }).value;
  }

  /** PNG of the viewport, or of the whole page with `full`. */
  async screenshot(full = false): Promise<Buffer> {
    const r = await this.send("Page.captureScreenshot", {
      format: "png",
      captureBeyondViewport: full,
    });
    return Buffer.from(r.data as string, "base64");
  }

  /** Console errors and warnings, uncaught exceptions and browser log errors (failed loads). */
  problems(): string[] {
    const console = this.events("Runtime.consoleAPICalled")
      .filter((p) => p.type === "error" || p.type === "warning" || p.type === "assert")
      .map((p) => `console.${String(p.type)}: ${JSON.stringify(p.args)}`);
    const thrown = this.events("Runtime.exceptionThrown").map(
      (p) => `exception: ${JSON.stringify(p.exceptionDetails)}`,
    );
    const log = this.events("Log.entryAdded")
      .map((p) => p.entry as { level: string; text: string; url?: string })
      .filter((e) => e.level === "error" || e.level === "warning")
      .map((e) => `log ${e.level}: ${e.text} ${e.url ?? ""}`);
    return [...console, ...thrown, ...log];
  }

  /** Every URL the page requested. */
  requests(): string[] {
    return this.events("Network.requestWillBeSent").map((p) => (p.request as { url: string }).url);
  }
}
