/// Reacts to canonical events on some paths. The worker's event handler decodes each `CanonicalEvent` once and
/// hands it to the subscriber of its path; events of one ``resourceKey(for:)`` are handled one at a time, in the
/// order the broker delivered them.
///
/// Subscribers never see events this worker fired itself (ZStack's `onLocal` callbacks ran already), and must be
/// idempotent under redelivery like any handler. A thrown error is logged and counted; an event is never answered.
public protocol CanonicalEventSubscriber: Sendable {
    /// The exact `path`s handled (no globs).
    var paths: Set<String> { get }
    /// The executor key that orders this event relative to others (e.g. one key for all events that must be
    /// seen in stream order, or the VM uuid).
    func resourceKey(for event: CanonicalEvent) -> String
    /// Handles the event; the returned messages are published (and confirmed) before the event is acked.
    func handle(_ event: CanonicalEvent, context: HandlerContext) async throws -> [OutboundMessage]
}
