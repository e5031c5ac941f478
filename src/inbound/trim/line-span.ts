/** A range of lines, both ends inclusive. */
export interface LineSpan {
  readonly start: number;
  readonly end: number;
}
