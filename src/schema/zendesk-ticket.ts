/** A ticket as Zendesk sends it. Only `id` and `generated_timestamp` are relied on. */
export interface ZendeskTicket {
  id: number;
  generated_timestamp: number;
  [key: string]: unknown;
}
