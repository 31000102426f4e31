import CloudBusTesting
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

    /// A handler that records here.
    var handler: RecordingLogHandler {
        RecordingLogHandler { [self] event in
            let metadata = event.metadata.mapValues { "\($0)" }
            events.withLock { $0.append(Event(level: event.level, message: event.message, metadata: metadata)) }
        }
    }
}
