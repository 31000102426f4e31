/// How often a message came back unsettled, for queues that do not count (classic queues carry only a `redelivered`
/// flag; quorum queues count themselves in `x-delivery-count`). A message that crashes the worker every time it is
/// delivered must not loop forever: the worker refuses it once the count reaches the delivery limit.
///
/// Only redelivered messages are written, so the cost is nil on the normal path. Rows are forgotten after a day.
public protocol DeliveryAttemptStore: Sendable {
    /// Counts one more redelivery of `messageId` and returns how many have been counted so far (1 for the first),
    /// in one transaction, so workers sharing the store count each redelivery once.
    func recordRedelivery(messageId: String) async throws -> Int
}
