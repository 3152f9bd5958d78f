/**
 * How many items an object-mode stage buffers (the ticket source included). Object-mode buffers
 * count items, not bytes: a ticket of 1.5 MB of non-ASCII text is a 2.8 MB string, and with 16 in
 * the source and 4 a stage, 28 of them (~80 MB) were in flight between source, flatten and sink.
 * One a stage leaves ~4-5 in flight; it cost no measurable CPU on typical tickets (30,000: the same
 * user+sys, best of 3, as 4 a stage and as 16 in the source).
 */
export const OBJECT_HIGH_WATER_MARK = 1;
