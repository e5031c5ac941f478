import { describe, expect, it } from "vitest";
import { buildConfig, loadConfig } from "../../src/config/config.js";

describe("config/postern.example.toml", () => {
  it("is valid and, but for its example domain, spells out the built-in defaults", () => {
    const example = loadConfig(new URL("../../config/postern.example.toml", import.meta.url).pathname);
    const defaults = buildConfig({ gateway: { domain: "example.test" } });
    const { source: _a, ...exampleValues } = example;
    const { source: _b, ...defaultValues } = defaults;
    expect(exampleValues).toEqual(defaultValues);
  });
});
