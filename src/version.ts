// The version of this build: package.json's, put in by the bundler (tools/build.mjs);
// "dev" when the sources run directly (tests, tsx).
declare const PASSTHROUGH_VERSION: string;
export const VERSION = typeof PASSTHROUGH_VERSION === "string" ? PASSTHROUGH_VERSION : "dev";
