/**
 * A delivery that can never be rendered (its post is gone, still a draft, or its recipient left
 * the conversation): retrying cannot help, so the worker records it as failed with this message.
 */
export class RenderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RenderError";
  }
}
