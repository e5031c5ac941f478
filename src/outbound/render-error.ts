/**
 * A delivery that can never be rendered: retrying cannot help. `skipped` when that is nobody's
 * error (its recipient left the conversation before it went out), `failed` otherwise (its post is
 * gone or still a draft).
 */
export class RenderError extends Error {
  constructor(
    message: string,
    readonly outcome: "skipped" | "failed" = "failed",
  ) {
    super(message);
    this.name = "RenderError";
  }
}
