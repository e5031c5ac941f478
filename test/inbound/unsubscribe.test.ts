import { describe, expect, it } from "vitest";
import { isUnsubscribeRequest, unsubscribeRequest } from "../../src/inbound/unsubscribe.js";

describe("isUnsubscribeRequest", () => {
  it.each([
    "unsubscribe", "Unsubscribe.", "UNSUBSCRIBE", "unsubscribe me", "Please unsubscribe me", "remove me", "Please remove me!",
    "stop", "STOP", "Stop.", "opt out", "désabonner", "Désabonnez-moi svp", "abmelden", "Bitte abmelden", "darme de baja",
    "afmelden", "unsubscribe me, thanks", "please stop", "  remove me from this list  ",
    // The courtesy words of every language with a request in the list.
    "Snälla avsluta prenumeration", "avregistrera, tack", "Afmeld venligst", "venligst afmeld", "afmeld, tak", "Vennligst avmeld",
    "avmeld takk", "Afmelden graag", "wypisz mnie, dziękuję", "Proszę wypisz mnie", "descadastrar, obrigada", "Per piacere cancellami",
  ])("%j is a request to leave", (text) => expect(isUnsubscribeRequest(text)).toBe(true));

  it.each([
    "Stop the press: the March issue needs the new logo.", "don't unsubscribe me", "remove", "leave", "yes", "",
    "unsubscribe\n\nAlso, where is my invoice?", `${"unsubscribe ".repeat(10)}`,
    // Courtesy alone asks for nothing.
    "tack", "snälla", "venligst", "takk, takk",
  ])("%j is not", (text) => expect(isUnsubscribeRequest(text)).toBe(false));
});

describe("unsubscribeRequest", () => {
  const base = { text: "", subject: "Re: Newsletter", attachments: 0, conversationSubject: "Newsletter" };
  it("reads the subject only when the body is empty", () => {
    expect(unsubscribeRequest({ ...base, subject: "unsubscribe" })).toBe("unsubscribe");
    expect(unsubscribeRequest({ ...base, subject: "Re: [Acme] STOP" })).toBe("STOP");
    expect(unsubscribeRequest({ ...base, subject: "unsubscribe", text: "Here is my answer." })).toBeUndefined();
  });
  it("a conversation titled \"Stop\" answered with an empty body asks nothing", () => {
    expect(unsubscribeRequest({ ...base, subject: "Re: Stop", conversationSubject: "Stop" })).toBeUndefined();
  });
  it("a message with an attachment is a message", () => {
    expect(unsubscribeRequest({ ...base, text: "stop", attachments: 1 })).toBeUndefined();
  });
});
