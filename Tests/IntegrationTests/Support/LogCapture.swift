import Logging
import Synchronization

/// Keeps the worker's log events (level, message, metadata rendered as text) for a test to read, while the harness's
/// logger still prints them as usual.
final class LogCapture: Sendable {
    struct Event: Sendable {
        let level: Logger.Level
        let message: String
        let metadata: [String: String]
    }

    private let events = Mutex<[Event]>([])

    /// What was logged so far, oldest first.
    var logged: [Event] { events.withLock { $0 } }

    fileprivate func record(_ event: Event) { events.withLock { $0.append(event) } }

    /// A handler that records here.
    var handler: some LogHandler { Handler(capture: self) }

    private struct Handler: LogHandler {
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let merged = metadata.merging(event.metadata ?? [:]) { $1 }
            capture.record(Event(level: event.level, message: event.message.description,
                                 metadata: merged.mapValues { "\($0)" }))
        }
    }
}
