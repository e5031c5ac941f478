import { type ChildNode, type Document, type Element, type ParentNode, hasChildren, isTag, isText } from "domhandler";
import { DomUtils, parseDocument } from "htmlparser2";

/**
 * The author's HTML as a tree, for cutting quoted messages and signatures out of it. Every walk
 * here is iterative: a message of ten thousand nested <div>s must not exhaust the stack.
 */

/**
 * Deeper than this, the HTML is not worked on as a tree (serializing it recurses): the copies then
 * carry the text only. Real mail nests a few dozen levels; the quote chains that go deeper are cut.
 */
export const MAX_TREE_DEPTH = 400;

export function parseHtml(html: string): Document {
  return parseDocument(html, { decodeEntities: true, lowerCaseTags: true, lowerCaseAttributeNames: true });
}

/**
 * Pre-order, document order. `prune(element)` is asked once the element has been yielded: true
 * leaves out what is inside it, so a consumer that just took an element whole need not read it.
 */
export function* walk(root: ParentNode, prune?: (element: Element) => boolean): Generator<ChildNode> {
  const stack: ChildNode[] = [...root.children].reverse();
  while (stack.length > 0) {
    const node = stack.pop() as ChildNode;
    yield node;
    if (isTag(node) && prune?.(node)) continue;
    if (hasChildren(node)) for (let i = node.children.length - 1; i >= 0; i--) stack.push(node.children[i] as ChildNode);
  }
}

export function treeDepth(root: ParentNode): number {
  let deepest = 0;
  const stack: [ChildNode, number][] = root.children.map((child) => [child, 1]);
  while (stack.length > 0) {
    const [node, depth] = stack.pop() as [ChildNode, number];
    if (depth > deepest) deepest = depth;
    if (deepest > MAX_TREE_DEPTH) return deepest;
    if (hasChildren(node)) for (const child of node.children) stack.push([child as ChildNode, depth + 1]);
  }
  return deepest;
}

/** The first characters of a subtree's text: enough to recognise a marker without reading a whole quote. */
export function leadingText(root: ChildNode, max: number): string {
  if (isText(root)) return root.data.slice(0, max);
  if (!hasChildren(root)) return "";
  let text = "";
  for (const node of walk(root)) {
    if (!isText(node)) continue;
    text += node.data;
    if (text.length >= max) return text.slice(0, max);
  }
  return text;
}

export function hasClass(element: Element, name: string): boolean {
  const classes = element.attribs["class"];
  return classes !== undefined && classes.split(/\s+/).includes(name);
}

export function remove(node: ChildNode): void {
  DomUtils.removeElement(node);
}

/** The node and the nodes after it in document order, outermost first: what removeFromHere would take. */
export function fromHere(node: ChildNode): ChildNode[] {
  const nodes: ChildNode[] = [node];
  for (let current: ChildNode = node; ; current = current.parent as Element) {
    for (let next = current.next; next; next = next.next) nodes.push(next);
    if (!current.parent || current.parent.type === "root") return nodes;
  }
}

/** Removes the node and everything after it in document order (the rest is quoted); returns what went, in order. */
export function removeFromHere(node: ChildNode): ChildNode[] {
  const removed: ChildNode[] = [node];
  let current: ChildNode = node;
  for (;;) {
    while (current.next) {
      removed.push(current.next);
      remove(current.next);
    }
    const parent = current.parent;
    if (current === node) remove(current);
    if (!parent || parent.type === "root") return removed;
    // The ancestor stays (it holds what came before); only what follows it goes.
    current = parent as Element;
  }
}

/** Whether a subtree shows anything: text, or an image. Stops at the first sign. */
function showsSomething(node: ChildNode): boolean {
  if (isText(node)) return node.data.trim() !== "";
  if (!isTag(node)) return false;
  if (node.name === "img" || node.name === "hr") return true;
  for (const inner of walk(node)) {
    if (isText(inner) ? inner.data.trim() !== "" : isTag(inner) && (inner.name === "img" || inner.name === "hr")) return true;
  }
  return false;
}

/**
 * Drops the blank lines and empty blocks left at the start and the end once a quote or a
 * signature was cut (Gmail's "<div><br></div>" lines), down a bounded number of levels.
 */
export function pruneBlankEdges(root: ParentNode): void {
  for (const end of ["first", "last"] as const) {
    let parent: ParentNode = root;
    for (let level = 0; level < 50; level++) {
      const edge = (): ChildNode | undefined => (end === "first" ? parent.children[0] : parent.children[parent.children.length - 1]) as ChildNode | undefined;
      let node = edge();
      while (node && !showsSomething(node)) {
        remove(node);
        node = edge();
      }
      if (!node || !isTag(node)) break;
      parent = node;
    }
  }
}

export function serialize(root: ParentNode): string {
  return DomUtils.getInnerHTML(root, { decodeEntities: true, encodeEntities: "utf8" });
}
