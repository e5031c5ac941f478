import { describe, expect, it } from "vitest";
import { threadIndexRootOr } from "../../src/domain/thread-index.js";
import {
  ancestorChain,
  boundReferences,
  isRepeatableMessageId,
  normalizedSubject,
  replySubject,
  threadingHeaders,
  type ThreadingInput,
  type ThreadPost,
} from "../../src/outbound/threading.js";

const post = (id: number, parentId: number | null = null, extra: Partial<ThreadPost> = {}): ThreadPost => ({ id, parentId, messageId: `<m${id}@x>`, ...extra });

describe("threading", () => {
  it("keeps the subject for the first post and adds one Re: after", () => {
    expect(replySubject("Lunch", true)).toBe("Lunch");
    expect(replySubject("Lunch", false)).toBe("Re: Lunch");
    expect(replySubject("Re: Lunch", false)).toBe("Re: Lunch");
    expect(replySubject("RE:Lunch", false)).toBe("RE:Lunch");
    expect(replySubject("  Lunch \n on  Friday ", false)).toBe("Re: Lunch on Friday");
  });

  it("normalizes a subject as Outlook's Thread-Topic and Gmail do: reply and forward prefixes off", () => {
    expect(normalizedSubject("Re: Fwd: RE[2]: AW: Lunch")).toBe("Lunch");
    expect(normalizedSubject("Lunch: Friday?")).toBe("Lunch: Friday?");
    expect(normalizedSubject("Re:")).toBe("Re:");
    expect(normalizedSubject("  Re:  Lunch  ")).toBe("Lunch");
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

  it("bounds References by keeping the root's ids and the newest ids", () => {
    const single = ["a", "b", "c", "d", "e", "f"].map((id) => [id]);
    expect(boundReferences(single, 10)).toEqual(["a", "b", "c", "d", "e", "f"]);
    expect(boundReferences(single, 3)).toEqual(["a", "e", "f"]);
    expect(boundReferences(single, 2)).toEqual(["a", "f"]);
    // The root posted by mail: both its ids stay, room allowing; else its first.
    const paired = [["src1", "m1"], ["m2"], ["src3", "m3"], ["m4"]];
    expect(boundReferences(paired, 4)).toEqual(["src1", "m1", "m3", "m4"]);
    expect(boundReferences(paired, 2)).toEqual(["src1", "m4"]);
    expect(boundReferences([["a"], ["a"], ["b"]], 5)).toEqual(["a", "b"]);
  });

  it("repeats only Message-IDs that are one short <…> of printable ASCII", () => {
    expect(isRepeatableMessageId("<CAF=abc+def@mail.gmail.com>")).toBe(true);
    expect(isRepeatableMessageId(`<${"x".repeat(300)}@a>`)).toBe(false);
    expect(isRepeatableMessageId("<a b@c>")).toBe(false);
    expect(isRepeatableMessageId("<a@c> <d@e>")).toBe(false);
    expect(isRepeatableMessageId("a@c")).toBe(false);
    expect(isRepeatableMessageId(null)).toBe(false);
  });
});

describe("threading headers of one copy", () => {
  const ALICE = 1;
  const BOB = 2;
  const CAROL = 3;
  const T = Date.UTC(2025, 0, 15, 9, 30);
  // Alice wrote by mail, Bob answered by mail, Carol from the command line (no original id).
  const first = post(1, null, { authorId: ALICE, sourceMessageId: "<alice-1@alice.test>", createdAt: T });
  const second = post(2, 1, { authorId: BOB, sourceMessageId: "<bob-2@bob.test>", createdAt: T + 60_000 });
  const third = post(3, 2, { authorId: CAROL, sourceMessageId: null, createdAt: T + 120_000 });
  const conversation = { subject: "Re: Lunch on Friday", threadIndex: null, createdAt: T };
  const input = (own: ThreadPost, ancestors: ThreadPost[], readerId: number, overrides: Partial<ThreadingInput> = {}): ThreadingInput => ({
    ancestors,
    own,
    at: own.createdAt!,
    reader: { userId: readerId, seesSourceOf: () => true },
    conversation,
    firstMessageId: first.messageId,
    referencesLimit: 20,
    ...overrides,
  });

  it("names each earlier post by both its ids, the reader's own original last, and answers the parent as the reader holds it", () => {
    // Bob's copy of Carol's post: Bob's own post is in his Sent folder as <bob-2@bob.test>.
    const toBob = threadingHeaders(input(third, [first, second], BOB));
    expect(toBob.references).toEqual(["<alice-1@alice.test>", "<m1@x>", "<m2@x>", "<bob-2@bob.test>"]);
    expect(toBob.inReplyTo).toBe("<bob-2@bob.test>");
    // Alice's copy: she holds Postern's copy of Bob's post, and her own first message.
    const toAlice = threadingHeaders(input(third, [first, second], ALICE));
    expect(toAlice.references).toEqual(["<m1@x>", "<alice-1@alice.test>", "<bob-2@bob.test>", "<m2@x>"]);
    expect(toAlice.inReplyTo).toBe("<m2@x>");
  });

  it("adds the post's own original id to its copies, and the first post's copies have nothing to answer", () => {
    const toCarol = threadingHeaders(input(second, [first], CAROL));
    expect(toCarol.references).toEqual(["<alice-1@alice.test>", "<m1@x>", "<bob-2@bob.test>"]);
    expect(toCarol.inReplyTo).toBe("<m1@x>");
    const firstCopy = threadingHeaders(input(first, [], BOB));
    expect(firstCopy.references).toEqual(["<alice-1@alice.test>"]);
    expect(firstCopy.inReplyTo).toBeUndefined();
  });

  it("leaves out the original ids the reader may not see, and hostile ones", () => {
    const hidden = threadingHeaders(input(third, [first, second], CAROL, { reader: { userId: CAROL, seesSourceOf: (p) => p.authorId !== BOB } }));
    expect(hidden.references).toEqual(["<alice-1@alice.test>", "<m1@x>", "<m2@x>"]);
    const hostile = post(2, 1, { authorId: BOB, sourceMessageId: `<${"x".repeat(2000)}@evil.test>`, createdAt: T + 1 });
    expect(threadingHeaders(input(third, [first, hostile], CAROL)).references).toEqual(["<alice-1@alice.test>", "<m1@x>", "<m2@x>"]);
  });

  it("gives every copy of a post one Thread-Index, extending its parent's by one level, and the subject without prefixes as Thread-Topic", () => {
    const a = threadingHeaders(input(third, [first, second], ALICE)).headers;
    const b = threadingHeaders(input(third, [first, second], BOB)).headers;
    const parent = threadingHeaders(input(second, [first], CAROL)).headers;
    const root = threadingHeaders(input(first, [], BOB)).headers;
    expect(a["Thread-Index"]).toBe(b["Thread-Index"]);
    const bytes = (h: Readonly<Record<string, string>>) => Buffer.from(h["Thread-Index"]!, "base64");
    expect(bytes(root)).toHaveLength(22);
    expect(bytes(parent)).toHaveLength(27);
    expect(bytes(a)).toHaveLength(32);
    expect(bytes(a).subarray(0, 27)).toEqual(bytes(parent));
    expect(bytes(root)).toEqual(Buffer.from(threadIndexRootOr(null, first.messageId, T), "base64"));
    expect(a["Thread-Topic"]).toBe("Lunch on Friday");
  });

  it("uses the conversation's stored root when it has one", () => {
    const stored = "AQHbjC3xv2b0c8m9R0eJ5uW3yP4tZg==";
    const headers = threadingHeaders(input(second, [first], CAROL, { conversation: { ...conversation, threadIndex: stored } })).headers;
    expect(Buffer.from(headers["Thread-Index"]!, "base64").subarray(0, 22)).toEqual(Buffer.from(stored, "base64"));
  });
});
