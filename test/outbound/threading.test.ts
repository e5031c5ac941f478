import { describe, expect, it } from "vitest";
import { ancestorChain, boundReferences, replySubject, type ThreadPost } from "../../src/outbound/threading.js";

const post = (id: number, parentId: number | null = null): ThreadPost => ({ id, parentId, messageId: `<m${id}@x>` });

describe("threading", () => {
  it("keeps the subject for the first post and adds one Re: after", () => {
    expect(replySubject("Lunch", true)).toBe("Lunch");
    expect(replySubject("Lunch", false)).toBe("Re: Lunch");
    expect(replySubject("Re: Lunch", false)).toBe("Re: Lunch");
    expect(replySubject("RE:Lunch", false)).toBe("RE:Lunch");
    expect(replySubject("  Lunch \n on  Friday ", false)).toBe("Re: Lunch on Friday");
  });

  it("follows parents, falling back to the previous post", () => {
    const earlier = [post(1), post(2, 1), post(3, 1), post(4)];
    expect(ancestorChain({ id: 5, parentId: 2 }, earlier).map((p) => p.id)).toEqual([1, 2]);
    // Post 4 has no parent: it answers post 3, which answers post 1.
    expect(ancestorChain({ id: 5, parentId: null }, earlier).map((p) => p.id)).toEqual([1, 3, 4]);
    expect(ancestorChain({ id: 1, parentId: null }, [])).toEqual([]);
  });

  it("survives a parent that is missing or points forward", () => {
    const earlier = [post(1), post(2, 99)];
    expect(ancestorChain({ id: 3, parentId: 42 }, earlier).map((p) => p.id)).toEqual([1, 2]);
  });

  it("threads past posts left out for a reader (an internal note): a missing parent falls back to the previous post shown", () => {
    // Post 2 is a note, left out of the outside person's list; post 3 answers it.
    const visible = [post(1), post(3, 2)];
    expect(ancestorChain({ id: 4, parentId: 3 }, visible).map((p) => p.id)).toEqual([1, 3]);
    expect(ancestorChain({ id: 4, parentId: 2 }, visible).map((p) => p.id)).toEqual([1, 3]);
  });

  it("bounds References by keeping the root and the newest ids", () => {
    const ids = ["a", "b", "c", "d", "e", "f"];
    expect(boundReferences(ids, 10)).toEqual(ids);
    expect(boundReferences(ids, 3)).toEqual(["a", "e", "f"]);
    expect(boundReferences(ids, 2)).toEqual(["a", "f"]);
  });
});
