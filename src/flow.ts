/**
 * How many items an object-mode stage buffers. Object-mode buffers count items, not bytes: with
 * tickets of 1.5 MB, 16 a stage held over 100 MB between source, flatten and sink. Four cost no
 * measurable CPU on typical tickets (30,000: 2.78 s user against 2.85 s with 16) and keep what big
 * tickets hold in flight to a few of them.
 */
export const OBJECT_HIGH_WATER_MARK = 4;
